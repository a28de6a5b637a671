"""Start-up problems Python settings can cause: logged with their code once, and the server keeps
answering (a 500 naming the problem where Python is missing, the app where it is not).

RWSGI0002/0015: Python cannot start in an Apache child (WSGIPythonHome without a Python);
RWSGI0004: a WSGIPythonWarnings entry Python rejects; RWSGI0101/0102: Python cannot start in a
daemon process (python-home= without a Python)."""
import pytest

from codes import code
from daemon_util import wait_for
from harness import Apache

# An empty directory as the Python home: Py_InitializeFromConfig fails (no standard library).
NO_PYTHON = "@ROOT@/htdocs"


@pytest.mark.embedded_only
def test_embedded_python_fails_to_start():
    conf = f"WSGIPythonHome {NO_PYTHON}\nWSGIScriptAlias /app @APPS@/environ.wsgi\n"
    with Apache("nopython", conf) as a:
        r = a.get("/app/x")
        assert r.status == 500, (r.status, r.body[:200])
        assert b"PATH_INFO" not in r.body
        a.wait_line(code("python_start_failed"), r"Python initialisation failed in Apache child pid \d+")
        a.wait_line(code("python_unavailable"), r"environ\.wsgi")


@pytest.mark.embedded_only
def test_invalid_python_warnings_entry_logged_app_served():
    conf = ("WSGIPythonWarnings ignore::NoSuchWarningClass\n"
            "WSGIPythonWarnings ignore::DeprecationWarning\n"
            "WSGIScriptAlias /app @APPS@/environ.wsgi\n")
    with Apache("badwarn", conf) as a:
        r = a.get("/app/x")
        assert r.status == 200 and r.json()["PATH_INFO"] == "/x", (r.status, r.body[:200])
        a.wait_line(code("bad_warnings_entry"), r"ignore::NoSuchWarningClass")
        assert "ignore::DeprecationWarning'" not in a.error_log()


@pytest.mark.daemon
def test_daemon_python_fails_to_start():
    conf = (f"WSGIDaemonProcess nopy python-home={NO_PYTHON} socket-timeout=2\n"
            "WSGIDaemonProcess ok threads=2\n"
            "WSGIScriptAlias /bad @APPS@/daemon.wsgi process-group=nopy\n"
            "WSGIScriptAlias /ok @APPS@/daemon.wsgi process-group=ok\n")
    with Apache("daemon-nopython", conf) as a:
        a.wait_line(code("daemon_python_failed"), "Python initialisation failed", timeout=10)
        a.wait_line(code("daemon_cannot_start"), "'nopy'", timeout=10)
        r = a.get("/ok/pid")
        assert r.status == 200 and r.json()["process_group"] == "ok", (r.status, r.body[:200])
        r = a.get("/bad/pid", timeout=15)
        # The parent's socket takes the connection but no process of the group ever reads it
        # (as with mod_wsgi): socket-timeout=2 expires -> 504 (RWSGI0116).
        assert r.status == 504, (r.status, r.body[:200])
        a.wait_line(code("socket_timeout"), "'nopy'")
        assert b'"pid"' not in r.body
