"""sys.stdout, sys.stderr and wsgi.errors go to the error log line by line; signal.signal() is
ignored and logged under WSGIRestrictSignal On (the default)."""
import re
import uuid

import pytest

from codes import ANY, code
from harness import MODULE_TAG, serve

CONF = """
WSGIScriptAlias /log @APPS@/logging.wsgi
"""

srv = serve("logging", CONF)

LINE_START = re.compile(r"^\[[A-Z][a-z]{2} ")


def own_line(srv, mark, text, kind="stderr_line"):
    """The single log line holding `text`; it must be a proper Apache log line carrying the code
    of `kind` (stdout_line or stderr_line)."""
    srv.wait_log(re.escape(text), since=mark)
    lines = [l for l in srv.log_since(mark).splitlines() if text in l]
    assert len(lines) == 1, lines
    assert LINE_START.match(lines[0]), lines[0]
    assert lines[0].rstrip().endswith(text), lines[0]
    assert re.search(code(kind), lines[0]), (kind, lines[0])
    return lines[0]


@pytest.mark.smoke
def test_print_to_stdout_and_stderr(srv):
    m = uuid.uuid4().hex
    mark = srv.log_mark()
    r = srv.get(f"/log/print?m={m}")
    assert r.status == 200
    own_line(srv, mark, f"STDOUT-LINE {m}", "stdout_line")
    own_line(srv, mark, f"STDERR-LINE {m}")
    own_line(srv, mark, f"MULTI-A {m}", "stdout_line")
    own_line(srv, mark, f"MULTI-B {m}", "stdout_line")


@pytest.mark.smoke
def test_wsgi_errors_line_by_line(srv):
    m = uuid.uuid4().hex
    mark = srv.log_mark()
    assert srv.get(f"/log/errors?m={m}").status == 200
    for t in ("ERRORS-1", "ERRORS-2", "WRITELINES-1", "WRITELINES-2", "PRINT-TO-ERRORS"):
        line = own_line(srv, mark, f"{t} {m}")
        assert "[client 127.0.0.1:" in line, line


def test_wsgi_errors_partial_line_flushed_at_request_end(srv):
    m = uuid.uuid4().hex
    mark = srv.log_mark()
    assert srv.get(f"/log/partial?m={m}").status == 200
    own_line(srv, mark, f"PARTIAL-LINE {m}")


def test_stdout_allowed_by_default(srv):
    m = uuid.uuid4().hex
    mark = srv.log_mark()
    r = srv.get(f"/log/stdout?m={m}")
    assert r.json() == {"stdout": "ok", "stderr": "ok"}
    own_line(srv, mark, f"RESTRICT-PROBE-stdout {m}", "stdout_line")


def test_signal_registration_ignored_and_logged(srv):
    mark = srv.log_mark()
    r = srv.get("/log/signal")
    assert r.json() == {"result": "returned", "installed": False}
    lines = srv.wait_log_lines(code("signal_ignored"), since=mark)
    assert any(re.search(r"(?i)signal", l) for l in lines), lines


def test_every_module_log_line_has_a_code(srv):
    """Runs last in this file: every line the module wrote so far carries a stable code."""
    lines = [l for l in srv.error_log().splitlines() if MODULE_TAG in l]
    assert lines
    missing = [l for l in lines if not re.search(ANY, l)]
    assert not missing, "\n".join(missing[:20])
