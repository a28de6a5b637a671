"""Helpers for the daemon-mode tests (test_daemon_*.py): who runs Apache's children, what `ps`
shows, the group sockets, a load generator, and raw frames for the daemon socket."""
import glob
import grp
import itertools
import json
import os
import re
import pwd
import struct
import subprocess
import threading
import time

from harness import IS_ROOT, RUN_USER

# Apache's User/Group: what daemon processes run as unless user=/group= say otherwise.
APACHE_UID = pwd.getpwnam(RUN_USER).pw_uid if IS_ROOT else os.getuid()
APACHE_GID = grp.getgrnam(RUN_USER).gr_gid if IS_ROOT else os.getgid()

# As root the tests give some groups user=nobody group=nogroup (home= too: nobody's home,
# /nonexistent, cannot be the working directory; mod_wsgi refuses to start there as well).
if IS_ROOT:
    OTHER_USER, OTHER_GROUP = "nobody", "nogroup"
    OTHER_UID, OTHER_GID = pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid
    OTHER_OPTS = "user=nobody group=nogroup home=@APPS@"
else:
    OTHER_USER = OTHER_GROUP = None
    OTHER_UID, OTHER_GID = os.getuid(), os.getgid()
    OTHER_OPTS = "home=@APPS@"


def ps(pid, fields="user=,group=,args="):
    """`ps -o FIELDS -p PID` output (stripped), "" if the process is gone."""
    p = subprocess.run(["ps", "-o", fields, "-p", str(pid)], capture_output=True, text=True)
    return p.stdout.strip()


def pid_alive(pid):
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def socket_files(apache, prefix=None):
    """The daemon sockets of `apache`'s parent: <prefix>.<parent pid>.<group index>.sock."""
    prefix = prefix or os.path.join(apache.root, "run", "wsgi-rs")
    return sorted(glob.glob(f"{prefix}.{apache.proc.pid}.*.sock"))


def wait_for(cond, timeout, what, interval=0.05):
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Load:
    """`threads` clients requesting `path` in a loop until stop(); every request is recorded as
    (t_start, t_end, status, pid or None, error) with time.time() stamps. Every request uses a
    new connection (Connection: close), so a client never has to retry a dropped keep-alive.

    Each request carries a unique `tok=` query parameter, and a 200 counts as good only when its
    body is the probe's JSON (a "pid" and the "query" echoing that token): an empty, cut or
    foreign 200 body is a failure whose error says what was wrong."""

    def __init__(self, apache, path, threads=4, timeout=20):
        self.apache, self.path, self.timeout = apache, path, timeout
        self.records = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.counter = itertools.count()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    @staticmethod
    def check_body(body, token):
        """(pid, None) for the probe's JSON echoing `token`, else (None, what was wrong)."""
        try:
            obj = json.loads(body)
        except ValueError:
            return None, f"200 with a non-JSON body ({len(body)} bytes): {body[:80]!r}"
        if not isinstance(obj, dict) or not isinstance(obj.get("pid"), int):
            return None, f"200 without a pid: {body[:80]!r}"
        if f"tok={token}" not in (obj.get("query") or "").split("&"):
            return None, f"200 answering another request (query {obj.get('query')!r}, want tok={token})"
        return obj["pid"], None

    def _run(self):
        while not self.stopping.is_set():
            token = f"{os.getpid()}-{next(self.counter)}"
            sep = "&" if "?" in self.path else "?"
            t0 = time.time()
            status, pid, err = 0, None, None
            try:
                r = self.apache.get(f"{self.path}{sep}tok={token}", timeout=self.timeout)
                status = r.status
                if status == 200:
                    pid, err = self.check_body(r.body, token)
            except Exception as e:  # noqa: BLE001 - recorded, the test decides
                err = repr(e)
            with self.lock:
                self.records.append((t0, time.time(), status, pid, err))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(self.timeout + 5)

    def __exit__(self, *exc):
        self.stop()

    def failures(self):
        """Requests that did not get a good 200 (another status, a bad body, or no answer)."""
        return [r for r in self.records if r[2] != 200 or r[4] is not None]


# ----- raw frames for the daemon socket (wire protocol v2) -------------------------------------
# core/src/wire/frame.rs VERSION (v2: several requests per connection).
WIRE_VERSION = 2
T_REQUEST_HEAD = 0x01


def frame(kind, payload):
    return struct.pack(">BI", kind, len(payload)) + payload


def request_head(token=b"\0" * 32, env=(), meta=()):
    """A well-formed RequestHead frame: u16 version 2, 32-byte token, env pairs, meta pairs."""
    def pairs(items):
        out = struct.pack(">I", len(items))
        for k, v in items:
            out += struct.pack(">I", len(k)) + k + struct.pack(">I", len(v)) + v
        return out
    return frame(T_REQUEST_HEAD, struct.pack(">H", WIRE_VERSION) + token + pairs(list(env))
                 + pairs(list(meta)))


# RWSGI0100 start lines: (group, pid, socket path).
STARTED = re.compile(r"RWSGI0100: Daemon process '([^']+)' #\d+ started \(pid (\d+),.* socket '([^']+)'")


def pids_of(srv, group, since=0):
    """PIDs of `group`'s processes started (RWSGI0100) after log offset `since`."""
    return [int(m.group(2)) for m in STARTED.finditer(srv.log_since(since)) if m.group(1) == group]
