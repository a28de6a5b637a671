"""Start a real apache2 with the built module on a free loopback port.

Everything Apache's workers read (the module, the fixture apps, generated files) is copied into a
world-readable temp dir, because the repo may live under a private directory and, as root, the
workers run as www-data.  Config snippets use @ROOT@, @APPS@, @STATE@, @VENV@, @PORT@ placeholders.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(TESTS_DIR)
APPS_SRC = os.path.join(TESTS_DIR, "apps")
MODULES_DIR = "/usr/lib/apache2/modules"
APACHE_BIN = os.environ.get("APACHE2", "/usr/sbin/apache2")
MODULE_SO = os.environ.get(
    "MOD_WSGI_RS_SO", os.path.join(REPO_DIR, "target", "release", "libmod_wsgi_rs.so"))
# Only for checking the tests themselves against the original mod_wsgi (wsgi_module).
MODULE_NAME = os.environ.get("WSGI_RS_MODULE_NAME", "wsgi_rs_module")
MODULE_TAG = "[" + MODULE_NAME[:-len("_module")] + ":"  # e.g. "[wsgi_rs:" in error_log lines
IS_ROOT = os.geteuid() == 0
RUN_USER = "www-data"

# WSGI_RS_MODE=daemon: every Apache of the suite also gets a daemon process group that serves
# everything at server level (see daemon_lines()), so the WSGI contract tests run against
# daemon mode unchanged. Tests marked `embedded_only` or `daemon` are skipped then.
MODE = os.environ.get("WSGI_RS_MODE", "embedded").strip().lower() or "embedded"
if MODE not in ("embedded", "daemon"):
    raise SystemExit(f"WSGI_RS_MODE must be 'embedded' or 'daemon', not {MODE!r}")
DAEMON = MODE == "daemon"
DAEMON_GROUP = "wsgitest"

# WSGI_RS_MPM=prefork: every Apache of the suite runs the prefork MPM (single-threaded children,
# several of them) instead of event (one child with 25 threads). Tests marked `event_only` are
# skipped then; `make test-integration` runs the embedded tests a second time this way.
MPM = os.environ.get("WSGI_RS_MPM", "event").strip().lower() or "event"
if MPM not in ("event", "prefork"):
    raise SystemExit(f"WSGI_RS_MPM must be 'event' or 'prefork', not {MPM!r}")
PREFORK = MPM == "prefork"

# Worker settings per MPM. prefork: 5 children at start (the 2-core test machine pays one Python
# start-up per child) and up to 25, like event's 25 threads, for the tests that run requests in
# parallel; idle children above 10 are reaped.
MPM_CONF = {
    "event": """\
StartServers 1
ServerLimit 1
ThreadLimit 25
ThreadsPerChild 25
MaxRequestWorkers 25
MinSpareThreads 5
MaxSpareThreads 25""",
    "prefork": """\
StartServers 5
MinSpareServers 5
MaxSpareServers 10
ServerLimit 25
MaxRequestWorkers 25""",
}

STD_MODULES = [
    f"mpm_{MPM}", "authz_core", "authz_host", "mime", "env", "setenvif", "headers", "filter",
    "deflate", "auth_basic", "authn_core", "authn_file", "authz_user", "alias", "dir",
]

# Lines that mean an Apache child died, Rust panicked (RWSGI0040: caught internal error), or a
# daemon process died of SIGILL/SIGABRT/SIGBUS/SIGFPE/SIGSEGV (RWSGI0104 gives the number only;
# the tests' own daemon exits use status 3 and SIGKILL): never acceptable.
CRASH_RE = re.compile(r"exit signal|Segmentation fault|panicked at|core dumped|RWSGI0040"
                      r"|RWSGI0104: .*signal (4|6|7|8|11)\b")


def venv_dir():
    v = os.environ.get("WSGI_RS_VENV")
    if v:
        return v
    if sys.prefix != sys.base_prefix:
        return sys.prefix
    return "/tmp/mod_wsgi_rs-venv"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_world_readable(path, writable=()):
    """chmod dirs 755 and files 644 (keeping the x bit); paths in `writable` get 777/666."""
    for dirpath, dirnames, filenames in os.walk(path):
        os.chmod(dirpath, 0o777 if dirpath in writable else 0o755)
        for f in filenames:
            p = os.path.join(dirpath, f)
            if os.path.islink(p):
                continue
            exe = os.stat(p).st_mode & 0o100
            mode = 0o666 if (p in writable or dirpath in writable) else 0o644
            os.chmod(p, mode | (0o111 if exe else 0))


BASE_CONF = """\
ServerRoot "@ROOT@"
Listen 127.0.0.1:@PORT@
ServerName 127.0.0.1
ServerAdmin admin@example.test
PidFile "@ROOT@/run/httpd.pid"
DefaultRuntimeDir "@ROOT@/run"
ErrorLog "@ROOT@/logs/error_log"
LogLevel @LOGLEVEL@
LogFormat "%h \\"%r\\" %>s %b %D" brief
CustomLog "@ROOT@/logs/access_log" brief
@MODULES@
LoadModule @MODNAME@ "@ROOT@/modules/mod_wsgi_rs.so"
TypesConfig /etc/mime.types
@USER@
Timeout 30
KeepAlive On
KeepAliveTimeout 5
@MPMCONF@
DocumentRoot "@ROOT@/htdocs"
<Directory />
    Options None
    AllowOverride None
    Require all denied
</Directory>
<Directory "@ROOT@/htdocs">
    Require all granted
</Directory>
<Directory "@APPS@">
    Require all granted
</Directory>
"""


def _directive_arg(snippet, name):
    """The argument of a server-level `name` directive in `snippet` (quotes removed), or None."""
    m = re.search(r"^[ \t]*" + name + r"[ \t]+(\"[^\"]*\"|\S+)", snippet, re.M | re.I)
    return m.group(1).strip('"') if m else None


def daemon_lines(snippet):
    """WSGI_RS_MODE=daemon: the group every request of the suite is sent to. In daemon mode the
    group's python-home/python-path apply (WSGIPythonPath is not used by daemon processes), so
    WSGIPythonHome/WSGIPythonPath of the snippet are mirrored as options."""
    opts = [f"WSGIDaemonProcess {DAEMON_GROUP}", "processes=1", "threads=25"]
    home = _directive_arg(snippet, "WSGIPythonHome")
    if home:
        opts.append(f"python-home={home}")
    path = _directive_arg(snippet, "WSGIPythonPath")
    if path:
        opts.append(f"python-path={path}")
    return ("\n# ---- WSGI_RS_MODE=daemon ----\n" + " ".join(opts) + "\n"
            f"WSGIProcessGroup {DAEMON_GROUP}\n")


class Apache:
    """One httpd instance. Use as a context manager, or call start()/stop()."""

    running = []  # instances currently started (for the crash check in conftest)

    def __init__(self, name, snippet="", loglevel="info", files=None, prepare=None, modules=()):
        """`files`: {relative path in stage: bytes/str content, or ("copy", src path)}.
        `prepare(apache)`: called after staging and before permissions are fixed up.
        `modules`: more Apache modules, loaded before ours (e.g. "ssl", as Debian orders them)."""
        self.name = name
        self.extra_modules = list(modules)
        self.port = free_port()
        self.root = tempfile.mkdtemp(prefix=f"wsgi_rs-{name}-", dir="/tmp")
        self.apps = os.path.join(self.root, "apps")
        self.state = os.path.join(self.root, "state")
        self.conf = os.path.join(self.root, "conf", "httpd.conf")
        self.log_path = os.path.join(self.root, "logs", "error_log")
        self.startup_log = os.path.join(self.root, "logs", "startup.log")
        self.proc = None
        self.loglevel = loglevel
        for d in ("conf", "logs", "run", "htdocs", "modules", "state"):
            os.makedirs(os.path.join(self.root, d))
        if os.path.exists(MODULE_SO):
            shutil.copy(MODULE_SO, os.path.join(self.root, "modules", "mod_wsgi_rs.so"))
        shutil.copytree(APPS_SRC, self.apps,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for rel, content in (files or {}).items():
            self.put(rel, content)
        if prepare:
            prepare(self)
        self.write_conf(snippet)
        make_world_readable(self.root, writable=(self.state,))
        # The logs dir must be writable by the parent only; keep it 755.

    # ----- staging -------------------------------------------------------------------
    def subst(self, text):
        for k, v in (("@ROOT@", self.root), ("@APPS@", self.apps), ("@STATE@", self.state),
                     ("@VENV@", venv_dir()), ("@PORT@", str(self.port))):
            text = text.replace(k, v)
        return text

    def put(self, rel, content):
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if isinstance(content, tuple) and content[0] == "copy":
            shutil.copy(content[1] if os.path.isabs(content[1])
                        else os.path.join(APPS_SRC, content[1]), path)
        else:
            data = content.encode() if isinstance(content, str) else content
            with open(path, "wb") as f:
                f.write(data)
        os.chmod(path, 0o644)
        return path

    def write_conf(self, snippet):
        mods = "\n".join(
            f'LoadModule {m}_module "{MODULES_DIR}/mod_{m}.so"' for m in STD_MODULES + self.extra_modules)
        user = f"User {RUN_USER}\nGroup {RUN_USER}" if IS_ROOT else ""
        text = (BASE_CONF.replace("@MODULES@", mods).replace("@USER@", user)
                .replace("@MODNAME@", MODULE_NAME).replace("@LOGLEVEL@", self.loglevel)
                .replace("@MPMCONF@", MPM_CONF[MPM]))
        if DAEMON:
            text += daemon_lines(snippet)
        text += "\n# ---- test snippet ----\n" + snippet + "\n"
        with open(self.conf, "w") as f:
            f.write(self.subst(text))

    # ----- lifecycle -----------------------------------------------------------------
    @staticmethod
    def env():
        return {"LANG": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}

    def configtest(self):
        p = subprocess.run([APACHE_BIN, "-f", self.conf, "-t"], env=self.env(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        return p.returncode, p.stdout.decode("utf-8", "replace")

    def start(self, timeout=15):
        if not os.path.exists(MODULE_SO):
            raise AssertionError(f"module not built: {MODULE_SO} (set MOD_WSGI_RS_SO)")
        for attempt in range(3):
            try:
                return self._start(timeout)
            except AssertionError:
                with open(self.startup_log, "rb") as f:
                    taken = b"Address already in use" in f.read()
                if not taken or attempt == 2:
                    raise
                old = self.port  # another process took the port between probe and bind
                self.port = free_port()
                with open(self.conf) as f:
                    text = f.read().replace(f":{old}", f":{self.port}")
                with open(self.conf, "w") as f:
                    f.write(text)

    def _start(self, timeout):
        out = open(self.startup_log, "wb")
        self.proc = subprocess.Popen([APACHE_BIN, "-f", self.conf, "-DFOREGROUND"],
                                     env=self.env(), stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"apache2 exited with {self.proc.returncode} at start-up\n"
                    + self.diagnostics())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            self.stop()
            raise AssertionError("apache2 did not accept connections in time\n"
                                 + self.diagnostics())
        Apache.running.append(self)
        return self

    def stop(self):
        if self in Apache.running:
            Apache.running.remove(self)
        if self.proc is None:
            return
        pgid = self.proc.pid  # start_new_session: Apache leads its own process group
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(pgid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        # Children of our own Apache that outlived it (daemon processes exit once they see
        # their parent gone; zombies waiting for init to reap them do not count).
        for _ in range(50):
            if not group_alive(pgid):
                break
            time.sleep(0.1)
        else:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc = None

    def cleanup(self):
        if os.environ.get("WSGI_RS_KEEP"):
            print(f"keeping {self.root}", file=sys.stderr)
            return
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc):
        self.stop()
        self.cleanup()

    def child_pids(self, parent=None):
        """PIDs whose parent is `parent` (default: the Apache parent)."""
        parent = parent or (self.proc.pid if self.proc else None)
        pids = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    st = f.read()
            except OSError:
                continue
            fields = st.rsplit(")", 1)[1].split()
            if parent and int(fields[1]) == parent:  # ppid
                pids.append(int(d))
        return pids

    # ----- daemon processes ------------------------------------------------------------
    def spawner_pid(self):
        """The spawner: the child of the Apache parent daemon processes are forked from."""
        for pid in self.child_pids():
            if proc_cmdline(pid) == "(wsgi-rs:spawner)":
                return pid
        return None

    def daemon_pids(self, title=None):
        """PIDs of this Apache's daemon processes: children of its spawner with a `wsgi-N`
        worker thread (optionally only those whose /proc cmdline contains `title`)."""
        out = []
        sp = self.spawner_pid()
        kids = self.child_pids(sp) if sp else []
        for pid in kids:
            try:
                comms = [open(f"/proc/{pid}/task/{t}/comm").read().strip()
                         for t in os.listdir(f"/proc/{pid}/task")]
            except OSError:
                continue
            if any(c.startswith("wsgi-") for c in comms):
                if title is None or title in proc_cmdline(pid):
                    out.append(pid)
        return sorted(out)

    def settle_daemons(self, group=None, processes=1, timeout=10.0):
        """Wait until no recycling of `group`'s processes is under way: every process that
        logged RWSGI0103 (shutting down) was seen gone by the parent (RWSGI0104) and every
        process started (RWSGI0100) is one of `processes` live slots. A short pause first lets
        the daemon's monitor (10 checks a second) notice a pending recycle."""
        group = group or DAEMON_GROUP
        q = re.escape(group)
        rx_down = re.compile(rf"RWSGI0103: Daemon process '{q}'")
        rx_gone = re.compile(rf"RWSGI0104: Daemon process '{q}'.*restarting")
        rx_up = re.compile(rf"RWSGI0100: Daemon process '{q}'")
        time.sleep(0.3)
        deadline = time.time() + timeout
        while True:
            lines = self.error_log().splitlines()
            down = sum(1 for l in lines if rx_down.search(l))
            gone = sum(1 for l in lines if rx_gone.search(l))
            up = sum(1 for l in lines if rx_up.search(l))
            if down <= gone and up >= processes + gone:
                return
            if time.time() > deadline:
                raise AssertionError(f"daemon group {group!r} did not settle in {timeout}s "
                                     f"(shutting down {down}, replaced {gone}, started {up})\n"
                                     + self.log_tail(40))
            time.sleep(0.1)

    # ----- logs ----------------------------------------------------------------------
    def error_log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_mark(self):
        try:
            return os.path.getsize(self.log_path)
        except FileNotFoundError:
            return 0

    def log_since(self, mark):
        with open(self.log_path, "rb") as f:
            f.seek(mark)
            return f.read().decode("utf-8", "replace")

    def wait_log(self, pattern, since=0, timeout=5.0, flags=0):
        """Wait until regex `pattern` matches the log text after `since`; return the match."""
        rx = re.compile(pattern, flags)
        deadline = time.time() + timeout
        while True:
            text = self.log_since(since)
            m = rx.search(text)
            if m:
                return m
            if time.time() > deadline:
                raise AssertionError(
                    f"log pattern {pattern!r} not found within {timeout}s; log since mark:\n"
                    + text[-6000:])
            time.sleep(0.1)

    def wait_log_lines(self, pattern, since=0, timeout=5.0):
        """Wait for a log *line* matching `pattern`; return the list of matching lines."""
        rx = re.compile(pattern)
        self.wait_log(pattern, since, timeout, re.M)
        return [l for l in self.log_since(since).splitlines() if rx.search(l)]

    def wait_line(self, *patterns, since=0, timeout=5.0):
        """Wait for one log line matching every regex in `patterns` (in any order)."""
        rxs = [re.compile(p) for p in patterns]
        deadline = time.time() + timeout
        while True:
            for line in self.log_since(since).splitlines():
                if all(r.search(line) for r in rxs):
                    return line
            if time.time() > deadline:
                raise AssertionError(f"no log line matching all of {patterns!r} within "
                                     f"{timeout}s; log since mark:\n"
                                     + self.log_since(since)[-6000:])
            time.sleep(0.1)

    def log_tail(self, n=80):
        return "\n".join(self.error_log().splitlines()[-n:])

    def diagnostics(self):
        parts = [f"conf: {self.conf}"]
        try:
            with open(self.startup_log, "rb") as f:
                parts.append("--- apache2 stdout/stderr ---\n" + f.read().decode("utf-8", "replace"))
        except OSError:
            pass
        parts.append("--- error_log tail ---\n" + self.log_tail())
        return "\n".join(parts)

    # ----- HTTP ----------------------------------------------------------------------
    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def request(self, method, path, headers=(), body=b"", timeout=30, **kw):
        from client import http_request
        return http_request(self.port, method, path, headers, body, timeout=timeout, **kw)

    def get(self, path, headers=(), **kw):
        return self.request("GET", path, headers, **kw)

    def post(self, path, body, headers=(), **kw):
        return self.request("POST", path, headers, body, **kw)


def group_alive(pgid):
    """True while a process of process group `pgid` exists and is not a zombie."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def proc_cmdline(pid):
    """What `ps -o args` shows for `pid` (NULs as spaces), "" if it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def proc_status(pid):
    """/proc/PID/status as a dict (Uid/Gid: the four ids as ints), {} if it is gone."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k] = v.strip()
    except OSError:
        return {}
    for k in ("Uid", "Gid"):
        out[k] = [int(x) for x in out[k].split()]
    out["PPid"] = int(out["PPid"])
    return out


def configtest(snippet, name="configtest"):
    """Write a full config with `snippet` and run `apache2 -t` on it: (rc, output)."""
    a = Apache(name, snippet)
    try:
        return a.configtest()
    finally:
        a.cleanup()


def serve(name, snippet, **kw):
    """Module-scoped server fixture factory: `srv = serve("environ", CONF)` in a test file."""
    import pytest

    @pytest.fixture(scope="module")
    def _srv():
        with Apache(name, snippet, **kw) as a:
            yield a
    return _srv


def rewrite(path, text):
    """Replace a script's text and move its mtime forward (what WSGIScriptReloading sees)."""
    old = os.stat(path).st_mtime
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    os.utime(path, (old + 10, old + 10))


def syscalls_during(pids, call, action):
    """Runs `action()` while strace watches every thread of `pids` for `call`; the trace text."""
    tids = ",".join(t for pid in pids for t in os.listdir(f"/proc/{pid}/task"))
    out = os.path.join(tempfile.mkdtemp(prefix="wsgi-rs-strace-"), "trace")
    st = subprocess.Popen(["strace", "-f", "-qq", "-e", f"trace={call}", "-o", out, "-p", tids],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)  # attached
    if st.poll() is not None:
        import pytest
        pytest.skip(f"strace cannot attach: {st.stderr.read().decode()[:200]}")
    try:
        action()
        time.sleep(0.2)
    finally:
        st.terminate()
        st.wait(10)
    with open(out) as f:
        text = f.read()
    shutil.rmtree(os.path.dirname(out), ignore_errors=True)
    return text
