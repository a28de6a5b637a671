"""Embedded preloading: `WSGIImportScript ... process-group=%{GLOBAL}` and a `WSGIScriptAlias`
with `process-group=%{GLOBAL}` and a literal `application-group=` import the script into every
Apache child at child_init (in the named group's interpreter), before any request; a request
then finds it loaded (no RWSGI0050)."""
import os
import time

import pytest

from harness import serve

pytestmark = pytest.mark.embedded_only

CONF = """
WSGIImportScript @APPS@/embedded_preload.py process-group=%{GLOBAL} application-group=pre
WSGIScriptAlias /app @APPS@/embedded_preload.py process-group=%{GLOBAL} application-group=%{GLOBAL}
"""

srv = serve("embedded-preload", CONF)


def _imports(a, pid):
    try:
        with open(os.path.join(a.state, f"preload-{pid}")) as f:
            return sorted(f.read().split())
    except FileNotFoundError:
        return None


def _children_preloaded(a, timeout=15.0):
    deadline = time.time() + timeout
    while True:
        kids = a.child_pids()
        seen = {pid: _imports(a, pid) for pid in kids}
        if kids and all(v is not None and len(v) == 2 for v in seen.values()):
            return seen
        assert time.time() < deadline, f"children not preloaded: {seen}"
        time.sleep(0.1)


def test_every_child_imports_at_start(srv):
    seen = _children_preloaded(srv)
    for pid, groups in seen.items():
        assert groups == ["group=", "group=pre"], (pid, groups)
        srv.wait_line(rf"\[pid {pid}:", "RWSGI0051", r"embedded_preload\.py", "application group 'pre'")
        srv.wait_line(rf"\[pid {pid}:", "RWSGI0051", r"embedded_preload\.py", "main interpreter")


def test_first_request_does_not_import_again(srv):
    _children_preloaded(srv)
    mark = srv.log_mark()
    for _ in range(5):
        r = srv.get("/app")
        assert r.status == 200, r.body[:300]
        j = r.json()
        assert j["group"] == ""
        assert _imports(srv, j["pid"]) == ["group=", "group=pre"]
    assert "RWSGI0050" not in srv.log_since(mark), srv.log_since(mark)
