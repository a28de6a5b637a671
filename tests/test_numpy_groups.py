"""numpy, an extension module whose C core refuses to load twice in one process (a second
interpreter gets "cannot load module more than once per process"): preloaded in %{GLOBAL}, it
serves there, and a named application group that imports it gets a 500, the traceback and
RWSGI0025 naming the group and %{GLOBAL}. Embedded (each child preloads) and in a daemon group
(each daemon process preloads). Needs numpy in the test venv (tests/requirements.txt)."""
import re

import pytest

from codes import code
from harness import serve

pytest.importorskip("numpy")

ROUTES = """
WSGIScriptAlias /np-global @APPS@/numpy_sum.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /np-named @APPS@/numpy_sum.wsgi application-group=numeric
"""

EMBEDDED = """
WSGIPythonHome "@VENV@"
WSGIImportScript @APPS@/numpy_sum.wsgi process-group=%{GLOBAL} application-group=%{GLOBAL}
""" + ROUTES

DAEMON_CONF = """
WSGIDaemonProcess np processes=1 threads=4 python-home=@VENV@
WSGIProcessGroup np
WSGIImportScript @APPS@/numpy_sum.wsgi process-group=np application-group=%{GLOBAL}
""" + ROUTES

emb = serve("numpy-embedded", EMBEDDED)
dmn = serve("numpy-daemon", DAEMON_CONF)


def _check(a):
    ok = a.get("/np-global")
    assert ok.status == 200 and re.fullmatch(rb"numpy [0-9.]+ sum 45", ok.body), ok.body
    mark = a.log_mark()
    bad = a.get("/np-named")
    assert bad.status == 500 and b"sum" not in bad.body
    line = a.wait_line(code("subinterp_refused"), "application group 'numeric'",
                       re.escape("%{GLOBAL}"), since=mark)
    assert "numpy_sum.wsgi" in line
    a.wait_line(code("traceback_line"), "once per process", since=mark)
    again = a.get("/np-global")
    assert again.status == 200 and again.body == ok.body, "the main interpreter still serves"


@pytest.mark.embedded_only
def test_numpy_serves_in_global_and_fails_clearly_in_a_named_group(emb):
    _check(emb)


@pytest.mark.daemon
def test_numpy_in_a_daemon_group(dmn):
    _check(dmn)


NAMED_FIRST = """
WSGIPythonHome "@VENV@"
""" + ROUTES

named_first = serve("numpy-named-first", NAMED_FIRST)


@pytest.mark.embedded_only
@pytest.mark.event_only("one child serves both requests")
def test_named_group_first_then_global_is_explained(named_first):
    """The other order: a named group imports numpy first (numpy warns and serves there), then
    the main interpreter cannot load it; RWSGI0025 says a sub-interpreter loaded it first."""
    first = named_first.get("/np-named")
    assert first.status == 200 and first.body.endswith(b"sum 45"), first.body
    mark = named_first.log_mark()
    bad = named_first.get("/np-global")
    assert bad.status == 500
    named_first.wait_line(code("subinterp_refused"), "in the main interpreter",
                          "loaded first", re.escape("%{GLOBAL}"), since=mark)
