"""Failure cases: each gives mod_wsgi's status, a coded log line with the traceback, and the server
keeps serving. After the response head is sent, an exception cuts the connection."""
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from codes import ANY, code
from harness import MODULE_TAG, serve

CONF = """
WSGIScriptAlias /err @APPS@/errors.wsgi
WSGIScriptAlias /missing @APPS@/does_not_exist.wsgi
WSGIScriptAlias /syntax @APPS@/syntax_error.wsgi
WSGIScriptAlias /nocallable @APPS@/no_callable.wsgi
WSGIScriptAlias /importerror @APPS@/import_error.wsgi
WSGIScriptAlias /noinfo @APPS@/environ.wsgi
<Location /noinfo>
    AcceptPathInfo Off
</Location>
"""

srv = serve("errors", CONF)

LINE_START = re.compile(r"^\[[A-Z][a-z]{2} ")  # every log line starts with Apache's timestamp


def fails(srv, path, status, code_name, *patterns):
    """Request `path`, expect `status`, a log line with the event's code and each regex in
    `patterns` somewhere in the log after the request. Returns (response, new log text)."""
    mark = srv.log_mark()
    r = srv.get(path)
    assert r.status == status, (r.status, r.body[:300])
    srv.wait_log(code(code_name), since=mark)
    for p in patterns:
        srv.wait_log(p, since=mark)
    ok = srv.get("/err/ok")
    assert ok.status == 200 and ok.body == b"ok", "server stopped serving"
    return r, srv.log_since(mark)


@pytest.mark.smoke
def test_missing_script_404(srv):
    fails(srv, "/missing", 404, "script_not_found")
    srv.wait_line(code("script_not_found"), re.escape("does_not_exist.wsgi"))


def test_syntax_error_500(srv):
    fails(srv, "/syntax", 500, "script_load_failed", r"SyntaxError", r"syntax_error\.wsgi")
    # not cached as a success: the next request fails the same way
    fails(srv, "/syntax", 500, "script_load_failed", r"SyntaxError")


def test_import_time_exception_500(srv):
    fails(srv, "/importerror", 500, "script_load_failed", r"ImportError: IMPORT-TIME-MARKER",
          r"Traceback \(most recent call last\)")


def test_missing_callable_500(srv):
    _, log = fails(srv, "/nocallable", 500, "no_callable", r"no_callable\.wsgi")
    assert "application" in log


@pytest.mark.smoke
def test_exception_before_start_response_500(srv):
    r, log = fails(srv, "/err/raise_before", 500, "app_exception",
                   r"Traceback \(most recent call last\)", r"RuntimeError: BEFORE-HEADERS-MARKER",
                   r"errors\.wsgi")
    assert b"BEFORE-HEADERS-MARKER" not in r.body, "traceback leaked to the client"
    assert b"Internal Server Error" in r.body


def test_traceback_is_logged_line_by_line(srv):
    mark = srv.log_mark()
    assert srv.get("/err/raise_before").status == 500
    srv.wait_log(r"RuntimeError: BEFORE-HEADERS-MARKER", since=mark)
    lines = srv.log_since(mark).splitlines()
    tb = [l for l in lines if "Traceback (most recent call last)" in l]
    msg = [l for l in lines if "RuntimeError: BEFORE-HEADERS-MARKER" in l]
    assert tb and msg
    assert all(LINE_START.match(l) for l in lines if l.strip()), "\n".join(lines)
    frame = [l for l in lines if re.search(r'File ".*errors\.wsgi", line \d+', l)]
    assert frame, "traceback frame lines are not in the log"


def test_exception_after_start_response_before_output_500(srv):
    fails(srv, "/err/raise_after_sr", 500, "app_exception", r"AFTER-START-RESPONSE-MARKER")


def test_exception_in_first_next_500(srv):
    fails(srv, "/err/raise_in_first_next", 500, "app_exception", r"LookupError: FIRST-NEXT-MARKER")


@pytest.mark.smoke
def test_exception_after_headers_cuts_connection(srv):
    mark = srv.log_mark()
    r = srv.get("/err/raise_after")
    assert r.status == 200
    assert r.body == b"first-chunk;"
    assert r.chunked and not r.complete, "response must be cut, not terminated normally"
    srv.wait_log(r"ValueError: AFTER-HEADERS-MARKER", since=mark)
    srv.wait_log(code("exception_after_headers"), since=mark)
    assert srv.get("/err/ok").status == 200


def test_non_bytes_body_500(srv):
    fails(srv, "/err/str_body", 500, "bad_response", r"TypeError")


def test_none_returned_500(srv):
    fails(srv, "/err/none", 500, "bad_response", r"TypeError")


def test_output_without_start_response_500(srv):
    fails(srv, "/err/no_start_response", 500, "bad_response", r"start_response")


def test_exception_in_close_is_logged(srv):
    mark = srv.log_mark()
    r = srv.get("/err/close_raises")
    assert r.status == 200 and r.body == b"body-before-close-error"
    srv.wait_log(r"RuntimeError: CLOSE-RAISES-MARKER", since=mark)
    srv.wait_log(code("close_exception"), since=mark)


def test_accept_path_info_off_404(srv):
    r = srv.get("/noinfo")
    assert r.status == 200 and r.json()["PATH_INFO"] == "", (r.status, r.body[:200])
    fails(srv, "/noinfo/extra", 404, "path_info_refused", r"AcceptPathInfo off .*environ\.wsgi")


def test_still_serving_concurrently(srv):
    with ThreadPoolExecutor(10) as ex:
        rs = list(ex.map(lambda i: srv.get(f"/err/ok?i={i}"), range(40)))
    assert all(r.status == 200 and r.body == b"ok" for r in rs)


def test_every_module_log_line_has_a_code(srv):
    """Runs last in this file: every line the module wrote so far carries a stable code."""
    lines = [l for l in srv.error_log().splitlines() if MODULE_TAG in l]
    assert lines
    missing = [l for l in lines if not re.search(ANY, l)]
    assert not missing, "\n".join(missing[:20])

