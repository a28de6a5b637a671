"""Recycling under load: daemon processes replaced after every request (maximum-requests=1) or
every few requests / every second (maximum-requests=5, restart-interval=1) while 8 clients
hammer the group. Each client request is a new connection (no keep-alive) with a unique token;
every answer must be 200 with exactly the body the app computes for that token: no 5xx, no cut
or mixed-up body, no crash line, however often a worker accepts a connection just as its process
decides to stop or finalises Python.

The numbers (processes recycled, requests, seconds) are printed (`-s`) and bounded: the test
stops at RECYCLES processes started or after TIME_LIMIT seconds, and requires MIN_RECYCLES."""
import os
import re
import select
import socket
import threading
import time

import pytest

from client import http_request
from daemon_util import APACHE_UID, socket_files
from harness import Apache

pytestmark = pytest.mark.daemon

# Processes to recycle per group (a 2-core machine recycles about 25 a second).
RECYCLES = int(os.environ.get("WSGI_RS_RECYCLES", "1000"))
MIN_RECYCLES = int(os.environ.get("WSGI_RS_MIN_RECYCLES", str(RECYCLES // 2)))
TIME_LIMIT = float(os.environ.get("WSGI_RS_RECYCLE_SECONDS", "55"))
CLIENTS = 8

APP = r'''
import os

PAD = b"0123456789abcdef" * 64  # 1 KiB: a cut body cannot pass for a whole one


def application(environ, start_response):
    token = environ.get("QUERY_STRING", "").encode()
    body = b"token=" + token + b" pid=" + str(os.getpid()).encode() + b"\n" + PAD + token + b"\n"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
'''

PAD = b"0123456789abcdef" * 64
BODY_RE = re.compile(rb"token=([0-9a-z-]+) pid=(\d+)\n")

CONF = """
WSGIDaemonProcess once processes=2 threads=4 maximum-requests=1 display-name=%{GROUP}
WSGIDaemonProcess few processes=2 threads=4 maximum-requests=5 restart-interval=1 display-name=%{GROUP}
WSGIScriptAlias /once @APPS@/recycle.wsgi process-group=once
WSGIScriptAlias /few @APPS@/recycle.wsgi process-group=few
"""


def expected_body(token, pid):
    t = token.encode()
    return b"token=" + t + b" pid=" + str(pid).encode() + b"\n" + PAD + t + b"\n"


def check(resp, token):
    """None if `resp` is the exact answer for `token`, else a description of what is wrong."""
    if resp.status != 200:
        return f"status {resp.status}: {resp.body[:200]!r}"
    m = BODY_RE.match(resp.body)
    if not m or m.group(1).decode() != token:
        return f"wrong body head {resp.body[:80]!r}"
    if resp.body != expected_body(token, int(m.group(2))):
        return f"body differs ({len(resp.body)} bytes, complete={resp.complete})"
    return None


class Hammer:
    """CLIENTS threads requesting `path?token` on new connections until stop()."""

    def __init__(self, apache, path):
        self.apache, self.path = apache, path
        self.ok = 0
        self.bad = []       # (token, problem)
        self.pids = set()
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(CLIENTS)]

    def _run(self, i):
        n = 0
        while not self.stopping.is_set():
            n += 1
            token = f"c{i}-{n}"
            try:
                r = http_request(self.apache.port, "GET", f"{self.path}?{token}", timeout=30)
                problem = check(r, token)
            except Exception as e:  # noqa: BLE001 - a failure like any other
                problem, r = f"exception {e!r}", None
            with self.lock:
                if problem:
                    self.bad.append((token, problem))
                else:
                    self.ok += 1
                    self.pids.add(int(BODY_RE.match(r.body).group(2)))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for t in self.threads:
            t.join(40)


def started(apache, group, since):
    rx = re.compile(rf"RWSGI0100: Daemon process '{group}' ")
    return sum(1 for l in apache.log_since(since).splitlines() if rx.search(l))


@pytest.fixture(scope="module")
def srv():
    with Apache("daemon-recycle", CONF, loglevel="info", files={"apps/recycle.wsgi": APP}) as a:
        yield a


@pytest.mark.parametrize("group", ["once", "few"])
def test_recycling_under_load_loses_nothing(srv, group):
    # Warm up: both processes of the group answer.
    r = http_request(srv.port, "GET", f"/{group}/warm?w", timeout=30)
    assert check(r, "w") is None, r.body[:200]
    mark = srv.log_mark()
    t0 = time.time()
    with Hammer(srv, f"/{group}/x") as h:
        while time.time() - t0 < TIME_LIMIT and started(srv, group, mark) < RECYCLES:
            time.sleep(0.25)
            with h.lock:
                if len(h.bad) > 50:
                    break
    elapsed = time.time() - t0
    log = srv.log_since(mark)
    recycled = started(srv, group, mark)
    requests = h.ok + len(h.bad)
    print(f"\n[{group}] {recycled} processes started, {len(h.pids)} distinct pids served, "
          f"{requests} requests ({h.ok} ok, {len(h.bad)} bad) in {elapsed:.1f} s")
    relay_errors = [l for l in log.splitlines() if re.search(r"RWSGI011[013]", l)]
    assert not h.bad, (f"{len(h.bad)} of {requests} requests failed; first: {h.bad[:10]}\n"
                       + "\n".join(relay_errors[:10]))
    assert not relay_errors, "\n".join(relay_errors[:10])
    # No request had to be resent either (RWSGI0125 would hide a dropped connection).
    assert "RWSGI0125" not in log, [l for l in log.splitlines() if "RWSGI0125" in l][:5]
    assert recycled >= MIN_RECYCLES, f"only {recycled} processes recycled in {elapsed:.1f} s"
    assert not re.search(r"RWSGI0106", log), "a recycled process stopped with requests running"
    # 5xx in the access log too (the clients saw none, but be exact).
    access = open(os.path.join(srv.root, "logs", "access_log")).read()
    assert not re.search(r'" 5\d\d ', access), [l for l in access.splitlines()
                                               if re.search(r'" 5\d\d ', l)][:5]


# ----- the Apache child's resend rule (RWSGI0125), with a stand-in at the socket path ------------

def _pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class StandIn:
    """Listens at a group's socket path (the real socket moved aside: the daemons keep their
    listening descriptor). The first connection gets `first(conn)`, every later one is relayed
    to the real socket."""

    def __init__(self, path, first):
        self.path, self.real, self.first = path, path + ".real", first
        self.connections = 0
        self.relayed = []
        os.rename(path, self.real)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chown(path, APACHE_UID, -1)
        os.chmod(path, 0o600)
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            self.connections += 1
            if self.connections == 1:
                self.first(conn)
                continue
            up = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            up.connect(self.real)
            self.relayed += [conn, up]
            threading.Thread(target=_pipe, args=(conn, up), daemon=True).start()
            threading.Thread(target=_pipe, args=(up, conn), daemon=True).start()

    def close(self):
        self.stopping.set()
        self.thread.join(5)
        self.sock.close()
        # The Apache child keeps connections open between requests: end the relayed ones, as
        # a daemon process that goes away does (it closes them; the relay would only half-close
        # them), so none of them outlives the stand-in.
        for s in self.relayed:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        os.unlink(self.path)
        os.rename(self.real, self.path)


def close_unread(conn):
    """Close once the request head is there, without reading it: the peer sees ECONNRESET."""
    select.select([conn], [], [], 5)
    time.sleep(0.05)
    conn.close()


def close_after_reading(conn):
    """Read the request head, then close: the request might have run; never resent."""
    select.select([conn], [], [], 5)
    time.sleep(0.05)
    conn.recv(1 << 20)
    conn.close()


@pytest.mark.parametrize("first,resent", [(close_unread, True), (close_after_reading, False)],
                         ids=["unread-resent", "read-not-resent"])
def test_resend_only_an_unread_request(srv, first, resent):
    r = http_request(srv.port, "GET", "/once/warm?w", timeout=30)
    assert check(r, "w") is None
    path = socket_files(srv)[0]  # group index 0: 'once'
    mark = srv.log_mark()
    stand_in = StandIn(path, first)
    try:
        r = http_request(srv.port, "GET", "/once/x?resend", timeout=30)
    finally:
        stand_in.close()
    log = srv.log_since(mark)
    if resent:
        assert check(r, "resend") is None, (r.status, r.body[:200])
        assert stand_in.connections == 2
        assert re.search(r"RWSGI0125: .*'once'.*without reading the request.*attempt 2 of 3", log), log
    else:
        assert r.status == 502, r.status
        assert stand_in.connections == 1
        assert "RWSGI0125" not in log and "RWSGI0111" in log, log
