"""The daemon watchdogs that replace a process: startup-timeout (the WSGI script keeps failing
to import) and deadlock-timeout (the Python GIL cannot be taken)."""
import time

import pytest

from daemon_util import pids_of, wait_for
from harness import serve

pytestmark = pytest.mark.daemon

CONF = """
WSGIDaemonProcess boot processes=1 threads=2 startup-timeout=1 display-name=%{GROUP}
WSGIDaemonProcess wedge processes=1 threads=2 deadlock-timeout=2 display-name=%{GROUP}
WSGIScriptAlias /boot @APPS@/import_error.wsgi process-group=boot
WSGIScriptAlias /wedge @APPS@/daemon.wsgi process-group=wedge
"""

srv = serve("daemon-watchdogs", CONF)

def test_startup_timeout_replaces_a_process_whose_script_keeps_failing(srv):
    wait_for(lambda: pids_of(srv, "boot"), 10, "the boot group")
    (first,) = pids_of(srv, "boot")
    mark = srv.log_mark()
    assert srv.get("/boot").status == 500
    line = srv.wait_line("RWSGI0103", "'boot'", rf"pid {first}\)", "startup-timeout", since=mark, timeout=10)
    assert line
    srv.wait_line("RWSGI0104", "'boot'", rf"pid {first}\)", "restarting", since=mark, timeout=10)
    wait_for(lambda: pids_of(srv, "boot", mark), 10, "the replacement process")


def test_deadlock_timeout_replaces_a_wedged_process(srv):
    wait_for(lambda: pids_of(srv, "wedge"), 10, "the wedge group")
    (first,) = pids_of(srv, "wedge")
    mark = srv.log_mark()
    t0 = time.monotonic()
    r = srv.get("/wedge/hold_gil?s=20", timeout=15)
    elapsed = time.monotonic() - t0
    # The process is replaced long before the 20 s wedge ends; the client sees it die (502).
    assert r.status == 502, r.status
    assert elapsed < 8, elapsed
    srv.wait_line("RWSGI0103", "'wedge'", rf"pid {first}\)", "deadlock-timeout", since=mark, timeout=5)
    wait_for(lambda: pids_of(srv, "wedge", mark), 10, "the replacement process")
    assert srv.get("/wedge/pid").status == 200
