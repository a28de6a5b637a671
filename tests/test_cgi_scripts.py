"""WSGICGIScript On (our extension): legacy CGI scripts run in a single-threaded daemon process
without a fork per request. os.environ/sys.stdin in, CGI headers and body out (Status:,
Location: alone -> 302), sys.exit(0) is a normal end, an exception a 500 with its traceback,
output without a header block a 500 (RWSGI0128), os.environ restored after each request, one
process for every request; refused (RWSGI0127) in a multithreaded process."""
import os
import re

import pytest

from codes import CODES
from harness import PREFORK, rewrite, serve

pytestmark = pytest.mark.daemon

CONF = """
WSGIDaemonProcess cgi threads=1 processes=1
WSGIDaemonProcess cgimt threads=4 processes=1
WSGIScriptAlias /old @APPS@/legacy.cgi.py process-group=cgi
WSGIScriptAlias /env @APPS@/legacy_env.cgi.py process-group=cgi
WSGIScriptAlias /mt @APPS@/legacy.cgi.py process-group=cgimt
WSGIScriptAlias /emb @APPS@/legacy.cgi.py
WSGIScriptAlias /plain @APPS@/legacy.cgi.py process-group=cgi
<Location /old>
    WSGICGIScript On
</Location>
<Location /env>
    WSGICGIScript On
</Location>
<Location /mt>
    WSGICGIScript On
</Location>
<Location /emb>
    WSGICGIScript On
</Location>
Alias /ht @APPS@/ht
<Directory "@APPS@/ht">
    AllowOverride FileInfo
    Options +ExecCGI
    AddHandler wsgi-script .py
    WSGIProcessGroup cgi
</Directory>
"""

FILES = {
    "apps/ht/.htaccess": "WSGICGIScript On\n",
    "apps/ht/legacy.py": ("copy", "legacy.cgi.py"),
    "apps/ht/changing.py": 'print("Content-Type: text/plain")\nprint()\nprint("version one")\n',
}

srv = serve("cgi-scripts", CONF, files=FILES)


def fields(r):
    return dict(line.split("=", 1) for line in r.body.decode().splitlines() if "=" in line)


def test_environ_stdin_headers_and_body(srv):
    r = srv.post("/old?a=1&b=2", b"posted=data&x=y", [("X-Test", "hello"),
                                                    ("Content-Type", "application/x-www-form-urlencoded")])
    assert r.status == 200, r.body[:500]
    assert r.header("X-Legacy") == "yes"
    assert r.header("Content-Type") == "text/plain; charset=utf-8"
    f = fields(r)
    assert f["query"] == "a=1&b=2"
    assert f["x-test"] == "hello"
    assert f["method"] == "POST"
    assert f["gateway"] == "CGI/1.1"
    assert f["name"] == "__main__"
    assert f["body"] == "posted=data&x=y"
    assert int(f["pid"]) in srv.daemon_pids()


def test_status_header(srv):
    r = srv.get("/old?mode=404")
    assert r.status == 404 and b"no such thing" in r.body
    assert r.header("Status") is None


def test_location_only_is_a_redirect(srv):
    r = srv.get("/old?mode=redirect")
    assert r.status == 302
    assert r.header("Location").endswith("/elsewhere")


def test_sys_exit_after_output(srv):
    r = srv.get("/old?mode=exit")
    assert r.status == 200
    assert r.body == b"before exit\n"


def test_binary_output_through_buffer(srv):
    r = srv.get("/old?mode=binary")
    assert r.status == 200 and r.body == bytes(range(256))
    assert r.header("Content-Type") == "application/octet-stream"


def test_exception_is_500_with_traceback(srv):
    mark = srv.log_mark()
    r = srv.get("/old?mode=raise")
    assert r.status == 500
    srv.wait_line(CODES["app_exception"], r"legacy\.cgi\.py", since=mark)
    srv.wait_line(CODES["traceback_line"], "ValueError: legacy script failure marker", since=mark)
    # The process still serves, with its stdout back in place.
    assert srv.get("/old").status == 200


def test_no_header_block_is_500(srv):
    mark = srv.log_mark()
    r = srv.get("/old?mode=noheaders")
    assert r.status == 500
    srv.wait_line("RWSGI0128", "no header block", r"legacy\.cgi\.py", since=mark)


def test_one_process_no_fork(srv):
    pids = set()
    for i in range(20):
        r = srv.get(f"/old?n={i}")
        assert r.status == 200, r.body[:300]
        assert fields(r)["query"] == f"n={i}"
        pids.add(int(fields(r)["pid"]))
    assert len(pids) == 1 and pids <= set(srv.daemon_pids())


def test_environ_restored_between_requests(srv):
    r = srv.get("/old", [("X-Test", "first-request-only")])
    assert fields(r)["x-test"] == "first-request-only"
    r2 = srv.get("/env")
    assert r2.status == 200, r2.body[:300]
    f = fields(r2)
    assert f["pid"] == fields(r)["pid"]
    assert f["x-test"] == "None"
    assert f["leak"] == "None"
    assert f["path"] == "True"  # the process's own environment is still there


def test_refused_in_a_multithreaded_daemon(srv):
    mark = srv.log_mark()
    r = srv.get("/mt")
    assert r.status == 500
    srv.wait_line("RWSGI0127", "threads=1", r"legacy\.cgi\.py", since=mark)


@pytest.mark.skipif(PREFORK, reason="embedded mode is single-threaded under prefork")
def test_refused_embedded_under_event(srv):
    mark = srv.log_mark()
    r = srv.get("/emb")
    assert r.status == 500
    srv.wait_line("RWSGI0127", since=mark)


def test_off_by_default(srv):
    # Without WSGICGIScript the same file is a WSGI script with no `application`.
    mark = srv.log_mark()
    assert srv.get("/plain").status == 500
    srv.wait_line(CODES["no_callable"], since=mark)
    assert not re.search("RWSGI0127|RWSGI0128", srv.log_since(mark))


def test_htaccess_and_addhandler(srv):
    r = srv.get("/ht/legacy.py?from=htaccess")
    assert r.status == 200, r.body[:300]
    assert fields(r)["query"] == "from=htaccess" and int(fields(r)["pid"]) in srv.daemon_pids()


def test_changed_script_is_compiled_again(srv):
    assert srv.get("/ht/changing.py").body == b"version one\n"
    assert srv.get("/ht/changing.py").body == b"version one\n"
    rewrite(os.path.join(srv.apps, "ht", "changing.py"),
            'print("Content-Type: text/plain")\nprint()\nprint("version two")\n')
    assert srv.get("/ht/changing.py").body == b"version two\n"
