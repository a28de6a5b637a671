"""Faults around the daemon machinery, each logged with its own code while Apache keeps serving:
the client dropping a request body half-way while it is proxied to a daemon (RWSGI0117), the
spawner killed (RWSGI0109, a new spawner and new daemon processes), a socket prefix in a
directory that does not exist (Apache does not start: RWSGI0120)."""
import re
import socket
import time

import pytest

from codes import code
from daemon_util import pid_alive, wait_for
from harness import Apache

pytestmark = pytest.mark.daemon

CONF = """
WSGIDaemonProcess faults threads=4
WSGIScriptAlias /in @APPS@/input.wsgi process-group=faults
WSGIScriptAlias /d @APPS@/daemon.wsgi process-group=faults
"""


def test_client_drops_body_while_proxied():
    with Apache("daemon-faults-body", CONF) as a:
        assert a.post("/in?mode=read", b"warm-up").status == 200
        mark = a.log_mark()
        s = socket.create_connection(("127.0.0.1", a.port))
        s.sendall(b"POST /in?mode=read HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
                  + b"a" * 5000)
        time.sleep(0.3)
        s.close()
        a.wait_line(code("body_read_failed"), r"\[client 127\.0\.0\.1:\d+\]", since=mark,
                    timeout=10)
        r = a.post("/in?mode=read", b"after")
        assert r.status == 200 and r.json()["length"] == 5, (r.status, r.body[:200])


def test_spawner_killed_is_replaced():
    with Apache("daemon-faults-spawner", CONF) as a:
        old_daemon = a.get("/d/pid").json()["pid"]
        spawner = wait_for(a.spawner_pid, 5, "the spawner")
        mark = a.log_mark()
        import os
        import signal
        os.kill(spawner, signal.SIGKILL)
        a.wait_line(code("spawner_died"), rf"\(pid {spawner}\)", "starting a new one", since=mark,
                    timeout=10)
        new_spawner = wait_for(lambda: (p := a.spawner_pid()) and p != spawner and p, 10,
                               "a new spawner")
        # The old daemon processes follow their spawner; the new spawner starts new ones.
        wait_for(lambda: not pid_alive(old_daemon), 10, "the old daemon process to exit")
        r = wait_for(lambda: (r := a.get("/d/pid")).status == 200 and r, 15, "a new daemon")
        assert r.json()["pid"] not in (old_daemon, spawner, new_spawner)


@pytest.mark.event_only(reason="start-up check, the same under every MPM")
def test_socket_prefix_in_missing_directory_fails_start():
    conf = "WSGISocketPrefix @ROOT@/no-such-dir/wsgi\n" + CONF
    a = Apache("daemon-faults-prefix", conf)
    try:
        with pytest.raises(AssertionError, match="exited with"):
            a.start()
        with open(a.startup_log) as f:
            out = f.read()
        out += a.error_log()
        assert "no-such-dir" in out, out[-2000:]
        assert code("socket_create_failed").replace("\\", "") in out or "RWSGI0120" in out, out[-2000:]
    finally:
        a.stop()
        a.cleanup()


def test_worker_thread_that_cannot_start_is_logged():
    """stack-size=400 MB under virtual-memory-limit=1 GB: the first worker threads fit, the
    later ones cannot be created (RWSGI0105, one line each), and the process serves with the
    threads it has."""
    conf = ("WSGIDaemonProcess tight threads=4 stack-size=400000000 "
            "virtual-memory-limit=1000000000\n"
            "WSGIScriptAlias /t @APPS@/daemon.wsgi process-group=tight\n")
    with Apache("daemon-faults-threads", conf) as a:
        line = a.wait_line(code("thread_start_failed"), "'tight'", "worker thread", timeout=10)
        assert "worker thread 0" not in line, line
        # The start line counts the threads that really started.
        failed = len(re.findall(r"RWSGI0105: Daemon process 'tight'", a.error_log()))
        started = a.wait_line("RWSGI0100", "'tight'")
        assert f", {4 - failed} threads," in started, (failed, started)
        r = a.get("/t/pid")
        assert r.status == 200 and r.json()["process_group"] == "tight", (r.status, r.body[:200])


def test_missing_locale_warned_and_served():
    """locale= naming a locale the system lacks: RWSGI0126 naming it, LC_ALL still exported, the
    process locale stays C, and the group serves."""
    conf = ("WSGIDaemonProcess noloc threads=2 locale=xx_NOPE.UTF-8\n"
            "WSGIScriptAlias /n @APPS@/options.wsgi process-group=noloc\n")
    with Apache("daemon-faults-locale", conf) as a:
        r = a.get("/n/info")
        assert r.status == 200, (r.status, r.body[:200])
        a.wait_line(code("locale_missing"), "'noloc'", r"xx_NOPE\.UTF-8")
        assert r.json()["env"]["LC_ALL"] == "xx_NOPE.UTF-8", r.json()["env"]
        assert r.json()["locale_all"] == "C", r.json()["locale_all"]
