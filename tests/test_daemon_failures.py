"""Daemon-mode failures as the client and the error log show them, and that the group keeps
serving afterwards: kill -9 under load, request-timeout, queue-timeout, socket-timeout, a
script that fails to import, an application exception, a daemon that dies before / after the
response head, and hostile connections straight to the group socket."""
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from daemon_util import STARTED, Load, frame, pids_of, request_head, wait_for
from codes import ANY
from client import recv_all
from harness import IS_ROOT, MODULE_TAG, serve

pytestmark = pytest.mark.daemon

CONF = """
WSGIDaemonProcess victim processes=1 threads=8 display-name=%{GROUP}
WSGIDaemonProcess slow processes=2 threads=2 request-timeout=2 graceful-timeout=1 display-name=%{GROUP}
WSGIDaemonProcess queue processes=1 threads=1 queue-timeout=1 display-name=%{GROUP}
WSGIDaemonProcess sockto threads=2 socket-timeout=1 display-name=%{GROUP}
WSGIDaemonProcess app threads=4 display-name=%{GROUP}
WSGIDaemonProcess mortal threads=2 display-name=%{GROUP}
WSGIScriptAlias /victim @APPS@/daemon.wsgi process-group=victim
WSGIScriptAlias /slow @APPS@/daemon.wsgi process-group=slow
WSGIScriptAlias /queue @APPS@/daemon.wsgi process-group=queue
WSGIScriptAlias /sockto @APPS@/daemon.wsgi process-group=sockto
WSGIScriptAlias /app @APPS@/daemon.wsgi process-group=app
WSGIScriptAlias /importerror @APPS@/import_error.wsgi process-group=app
WSGIScriptAlias /syntax @APPS@/syntax_error.wsgi process-group=app
WSGIScriptAlias /mortal @APPS@/daemon.wsgi process-group=mortal
"""

srv = serve("daemon-failures", CONF)

def socket_of(srv, group):
    for m in STARTED.finditer(srv.error_log()):
        if m.group(1) == group:
            return m.group(3)
    raise AssertionError(f"no RWSGI0100 line for {group}")


def pid_json(srv, path, **kw):
    r = srv.get(path, **kw)
    assert r.status == 200, (path, r.status, r.body[:300])
    return r.json()["pid"]


def test_kill_9_under_load(srv):
    old = pid_json(srv, "/victim/pid")
    mark = srv.log_mark()
    with Load(srv, "/victim/sleep?s=0.05", threads=4) as load:
        time.sleep(1.0)
        t_kill = time.time()
        os.kill(old, signal.SIGKILL)
        srv.wait_line("RWSGI0104", "'victim'", rf"pid {old}\)", r"signal 9\b", "restarting",
                      since=mark, timeout=5)
        new = wait_for(lambda: pids_of(srv, "victim", mark), 10, "a new victim process")[0]
        t_restarted = time.time()
        wait_for(lambda: any(r[3] == new for r in list(load.records)), 10,
                 "a request served by the new process")
        time.sleep(0.5)
    assert new != old
    served_by = {r[3] for r in load.records if r[2] == 200}
    assert old in served_by and new in served_by
    bad = load.failures()
    # Only requests already running in the killed process may fail (4 clients: at most 4).
    assert len(bad) <= 4, bad
    assert all(r[0] < t_kill for r in bad), ("a request started after the kill failed", bad)
    assert all(r[2] == 502 for r in bad), bad
    assert not [r for r in bad if r[0] >= t_restarted]
    if bad:
        srv.wait_log("RWSGI0111", since=mark)
    assert len([r for r in load.records if r[0] > t_kill and r[2] == 200]) > 10


def test_request_timeout_504_and_group_keeps_serving(srv):
    pids = set()
    for _ in range(6):
        pids.add(pid_json(srv, "/slow/pid"))
    mark = srv.log_mark()
    result = {}

    def stuck():
        t0 = time.monotonic()
        r = srv.get("/slow/sleep?s=30", timeout=15)
        result.update(status=r.status, elapsed=time.monotonic() - t0)

    t = threading.Thread(target=stuck)
    t.start()
    time.sleep(0.3)
    with Load(srv, "/slow/sleep?s=0.05", threads=2) as load:
        t.join(10)
        wait_for(lambda: pids_of(srv, "slow", mark), 8, "the replacement process")
        time.sleep(0.5)
    assert result.get("status") == 504, result
    assert 1.8 <= result["elapsed"] <= 4.0, result
    line = srv.wait_line("RWSGI0115", "'slow'", "request-timeout", since=mark)
    victim = int(re.search(r"\(pid (\d+)\)", line).group(1))
    srv.wait_line("RWSGI0103", "'slow'", rf"pid {victim}\)", "request-timeout", since=mark)
    srv.wait_line("RWSGI0104", "'slow'", rf"pid {victim}\)", "restarting", since=mark)
    assert load.records and not load.failures(), load.failures()
    served = {r[3] for r in load.records}
    assert served - {victim}, "the other process served during the shutdown"


def occupied_then_get(srv, hold):
    """One request holds the group's only thread for `hold` s; another arrives 0.4 s in.
    Returns (the second response, how long it waited, the first request's status)."""
    first = {}

    def occupy():
        first["status"] = srv.get(f"/queue/sleep?s={hold}").status

    t = threading.Thread(target=occupy)
    t.start()
    time.sleep(0.4)
    t0 = time.monotonic()
    r = srv.get("/queue/pid")
    waited = time.monotonic() - t0
    t.join(10)
    assert first.get("status") == 200, "the request holding the thread completes"
    return r, waited


def test_queue_timeout_504(srv):
    pid_json(srv, "/queue/pid")
    mark = srv.log_mark()
    r, waited = occupied_then_get(srv, 2.5)
    assert r.status == 504, (r.status, r.body[:200])
    # queue-timeout=1 is checked when a thread takes the request (as mod_wsgi does): here when
    # the busy thread frees up, 2.1 s after the request arrived.
    assert 1.9 <= waited < 3.0, waited
    srv.wait_line("RWSGI0114", "'queue'", r"\[client 127\.0\.0\.1:\d+\]", since=mark)
    assert srv.get("/queue/pid").status == 200


def test_queue_wait_under_timeout_served(srv):
    """Control: a request that waited 0.5 s (< queue-timeout=1) is served."""
    pid_json(srv, "/queue/pid")
    mark = srv.log_mark()
    r, waited = occupied_then_get(srv, 0.9)
    assert r.status == 200, (r.status, r.body[:200])
    assert 0.4 <= waited < 1.0, waited
    assert "RWSGI0114" not in srv.log_since(mark)


def test_socket_timeout_504(srv):
    pid = pid_json(srv, "/sockto/pid")
    mark = srv.log_mark()
    t0 = time.monotonic()
    r = srv.get("/sockto/sleep?s=3")
    elapsed = time.monotonic() - t0
    assert r.status == 504, (r.status, r.body[:200])
    assert 0.8 <= elapsed <= 2.5, elapsed
    srv.wait_line("RWSGI0116", "'sockto'", since=mark)
    assert pid_json(srv, "/sockto/pid") == pid


@pytest.mark.parametrize("path,marker", [("/importerror", r"ImportError: IMPORT-TIME-MARKER"),
                                         ("/syntax", r"SyntaxError")])
def test_script_import_failure_500(srv, path, marker):
    pid = pid_json(srv, "/app/pid")
    mark = srv.log_mark()
    r = srv.get(path)
    assert r.status == 500
    assert b"IMPORT-TIME-MARKER" not in r.body
    srv.wait_line("RWSGI0020", rf"\[pid {pid}:", since=mark)
    srv.wait_line("RWSGI0021", rf"\[pid {pid}:", marker, since=mark)
    if "Import" in marker:
        srv.wait_line("RWSGI0021", r"Traceback \(most recent call last\)", since=mark)
    assert pid_json(srv, "/app/pid") == pid, "the good app of the group still serves"


def test_app_exception_500_with_traceback(srv):
    pid = pid_json(srv, "/app/pid")
    mark = srv.log_mark()
    r = srv.get("/app/raise")
    assert r.status == 500
    assert b"DAEMON-RAISE-MARKER" not in r.body
    line = srv.wait_line("RWSGI0021", "RuntimeError: DAEMON-RAISE-MARKER", since=mark)
    assert f"[pid {pid}:" in line
    assert re.search(r"\[client 127\.0\.0\.1:\d+\]", line), line
    frames = [l for l in srv.log_since(mark).splitlines()
              if "RWSGI0021" in l and re.search(r'File ".*daemon\.wsgi", line \d+', l)]
    assert frames
    assert pid_json(srv, "/app/pid") == pid


def test_daemon_dies_before_head_502(srv):
    old = pid_json(srv, "/mortal/pid")
    mark = srv.log_mark()
    r = srv.get("/mortal/exit")
    assert r.status == 502, (r.status, r.body[:200])
    srv.wait_line("RWSGI0111", "'mortal'", since=mark)
    line = srv.wait_line("RWSGI0104", "'mortal'", rf"pid {old}\)", "restarting", since=mark,
                         timeout=5)
    assert re.search(r"status[^;]*\b3\b", line), line  # os._exit(3)
    assert "terminated by signal" not in line, "an exit status reported as a signal: " + line
    new = pid_json(srv, "/mortal/pid")
    assert new != old


def test_daemon_dies_after_head_cuts_response(srv):
    pid_json(srv, "/mortal/pid")
    mark = srv.log_mark()
    r = srv.get("/mortal/exit_after_head")
    assert r.status == 200
    assert r.body == b"first-chunk;"
    assert r.chunked and not r.complete, "the response must be cut, not ended normally"
    srv.wait_line("RWSGI0111", "'mortal'", since=mark)
    wait_for(lambda: srv.get("/mortal/pid").status == 200, 10, "mortal serving again")


def raw_exchange(path, data, timeout=5):
    """Send `data` to the Unix socket `path`; return what comes back before the daemon closes."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(data)
        return recv_all(s)
    finally:
        s.close()


HOSTILE = [
    ("unknown-frame-type", frame(0x7F, b""), "RWSGI0113"),
    ("body-before-head", frame(0x02, b"xyz"), "RWSGI0113"),
    ("huge-length", b"\x01\xff\xff\xff\xff", "RWSGI0113"),
    ("bad-version", frame(0x01, b"\x00\x09" + b"\0" * 32 + b"\0" * 8), "RWSGI0113"),
    ("bad-token", request_head(b"\0" * 32), "RWSGI0112"),
    ("bad-token-with-env", request_head(os.urandom(32), env=[(b"REQUEST_METHOD", b"GET")],
                                        meta=[(b"script", b"/etc/passwd"),
                                              (b"callable", b"application")]), "RWSGI0112"),
]


@pytest.mark.parametrize("data,code", [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile_connection_refused(srv, data, code):
    pid = pid_json(srv, "/app/pid")
    path = socket_of(srv, "app")
    mark = srv.log_mark()
    assert raw_exchange(path, data) == b"", "no response to a refused connection"
    srv.wait_line(code, "'app'", since=mark)
    assert pid_json(srv, "/app/pid") == pid, "the daemon keeps serving"


def test_truncated_head_then_close(srv):
    pid = pid_json(srv, "/app/pid")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(socket_of(srv, "app"))
    s.sendall(request_head()[:20])
    s.close()
    time.sleep(0.3)
    assert pid_json(srv, "/app/pid") == pid


@pytest.mark.skipif(not IS_ROOT, reason="needs root to run a client as another user")
def test_other_users_cannot_connect(srv):
    code = ("import socket, sys\ns = socket.socket(socket.AF_UNIX)\n"
            "try:\n    s.connect(sys.argv[1])\nexcept PermissionError:\n    sys.exit(13)\n")
    p = subprocess.run(["runuser", "-u", "nobody", "--", "/usr/bin/python3", "-c", code,
                        socket_of(srv, "app")], capture_output=True, text=True, timeout=20)
    assert p.returncode == 13, (p.returncode, p.stderr)


def test_every_module_log_line_has_a_code(srv):
    """Runs last in this file: every line the module wrote so far carries a stable code."""
    lines = [l for l in srv.error_log().splitlines() if MODULE_TAG in l]
    missing = [l for l in lines if not re.search(ANY, l)]
    assert not missing, "\n".join(missing[:20])
