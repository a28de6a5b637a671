"""The WSGI environ: CGI keys, header rules, SCRIPT_NAME/PATH_INFO split, wsgi.* and mod_wsgi.*."""
import os
import re
import subprocess
import time

import pytest

from client import build_request, connect, parse_response, recv_all
from codes import code
from harness import APACHE_BIN, DAEMON, DAEMON_GROUP, PREFORK, serve

CONF = """
WSGIScriptAlias /app @APPS@/environ.wsgi
WSGIScriptAlias /d/ @APPS@/envdir/
WSGIScriptAlias /café @APPS@/environ.wsgi
WSGIScriptAlias / @APPS@/environ.wsgi
SetEnv MY_SETENV hello-setenv
SetEnvIf User-Agent "^probe-agent" UA_MATCHED=yes
AllowEncodedSlashes NoDecode
"""

# The crate's version (Cargo.toml), which mod_wsgi.mod_wsgi_rs_version reports.
with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "Cargo.toml")) as _f:
    CARGO_VERSION = re.search(r'^version = "([^"]+)"', _f.read(), re.M).group(1)

srv = serve("environ", CONF, files={"apps/envdir/env.wsgi": ("copy", "environ.wsgi")})


def env(srv, path="/app/x", headers=(), method="GET", body=b""):
    r = srv.request(method, path, headers, body)
    assert r.status == 200, (r.status, r.body[:500])
    return r.json()


@pytest.mark.smoke
def test_cgi_keys(srv):
    e = env(srv, "/app/x/y?a=1&b=%20")
    assert e["REQUEST_METHOD"] == "GET"
    assert e["QUERY_STRING"] == "a=1&b=%20"
    assert e["REQUEST_URI"] == "/app/x/y?a=1&b=%20"
    assert e["SCRIPT_NAME"] == "/app"
    assert e["PATH_INFO"] == "/x/y"
    assert e["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert e["SERVER_NAME"] == "127.0.0.1"
    assert e["SERVER_PORT"] == str(srv.port)
    assert e["SERVER_ADDR"] == "127.0.0.1"
    assert e["SERVER_ADMIN"] == "admin@example.test"
    assert e["SERVER_SOFTWARE"].startswith("Apache/2.4")
    assert e["REMOTE_ADDR"] == "127.0.0.1"
    assert e["REQUEST_SCHEME"] == "http"
    assert e["SCRIPT_FILENAME"] == srv.apps + "/environ.wsgi"
    assert e["DOCUMENT_ROOT"] == srv.root + "/htdocs"
    assert e["CONTEXT_DOCUMENT_ROOT"] == srv.root + "/htdocs"
    assert e["CONTEXT_PREFIX"] == ""
    assert e["HTTP_HOST"] == f"127.0.0.1:{srv.port}"


def test_all_cgi_values_are_str(srv):
    e = env(srv, "/app/x?q=1", headers=[("X-Thing", "v")])
    not_str = {k: t for k, t in e["_value_types"].items() if "." not in k and t != "str"}
    assert not not_str


def test_remote_port_is_client_port(srv):
    s = connect(srv.port)
    try:
        head, _ = build_request("GET", "/app/p", host=f"127.0.0.1:{srv.port}")
        s.sendall(head)
        r = parse_response(recv_all(s))
        local_port = s.getsockname()[1]
    finally:
        s.close()
    assert r.json()["REMOTE_PORT"] == str(local_port)


def test_query_string_raw_bytes_kept(srv):
    e = env(srv, b"/app/x?q=caf\xc3\xa9&r=%C3%A9")
    assert e["QUERY_STRING"] == "q=caf\xc3\xa9&r=%C3%A9"


def test_query_string_empty_when_absent(srv):
    e = env(srv, "/app/x")
    assert e["QUERY_STRING"] == ""


def test_http10_protocol(srv):
    r = srv.request("GET", "/app/v", version="HTTP/1.0")
    assert r.status == 200
    assert r.json()["SERVER_PROTOCOL"] == "HTTP/1.0"


def test_deliberately_absent_keys(srv):
    e = env(srv, "/app/x")
    for k in ("HTTPS", "PATH", "PATH_TRANSLATED", "GATEWAY_INTERFACE", "SERVER_SIGNATURE",
              "REMOTE_HOST", "REMOTE_IDENT", "CONTENT_TYPE", "CONTENT_LENGTH"):
        assert k not in e, k
    assert not [k for k in e["_value_types"] if k.startswith("mod_wsgi.x-")]


def test_wsgi_keys(srv):
    e = env(srv, "/app/x")
    assert e["wsgi.version"] == [1, 0]
    assert e["wsgi.url_scheme"] == "http"
    assert e["wsgi.multithread"] is (DAEMON or not PREFORK)  # event: 25 threads; prefork: 1
    assert isinstance(e["wsgi.multiprocess"], bool)
    assert e["wsgi.run_once"] is False
    assert e["wsgi.input_terminated"] is True
    assert e["_input_api"] and e["_errors_api"] and e["_file_wrapper_callable"]
    for k in ("wsgi.input", "wsgi.errors", "wsgi.file_wrapper"):
        assert k in e["_value_types"], k


def test_apache_version(srv):
    out = subprocess.run([APACHE_BIN, "-v"], capture_output=True, text=True).stdout
    ver = [int(x) for x in re.search(r"Apache/(\d+)\.(\d+)\.(\d+)", out).groups()]
    assert env(srv)["apache.version"] == ver


def test_mod_wsgi_keys(srv):
    before = time.time()
    e = env(srv, "/app/a/b")
    after = time.time()
    assert e["mod_wsgi.process_group"] == (DAEMON_GROUP if DAEMON else "")
    assert e["mod_wsgi.callable_object"] == "application"
    assert e["mod_wsgi.handler_script"] == ""
    assert e["mod_wsgi.request_handler"] == "wsgi-script"
    assert e["mod_wsgi.script_name"] == "/app"
    assert e["mod_wsgi.path_info"] == "/a/b"
    assert e["mod_wsgi.listener_host"] == "127.0.0.1"
    assert e["mod_wsgi.listener_port"] == str(srv.port)
    assert isinstance(e["mod_wsgi.thread_id"], int)
    # README: the mod_wsgi version emulated, in the environ and the mod_wsgi module; ours apart.
    assert e["mod_wsgi.version"] == [6, 1, 1]
    assert e["_mod_wsgi_attrs"] == {"version": [6, 1, 1], "mod_wsgi_rs_version": CARGO_VERSION}
    rs, app = e["mod_wsgi.request_start"], e["mod_wsgi.application_start"]
    assert isinstance(rs, float) and isinstance(app, float)
    assert before - 1 <= rs <= app <= after + 1
    qs, ds = e["mod_wsgi.queue_start"], e["mod_wsgi.daemon_start"]
    assert isinstance(qs, float) and isinstance(ds, float)
    if DAEMON:  # Apache child connected to the daemon, then a daemon thread took it
        assert rs <= qs <= ds <= app, (rs, qs, ds, app)
    else:
        assert qs == 0.0 and ds == 0.0
    assert isinstance(e["mod_wsgi.request_id"], str) and e["mod_wsgi.request_id"]
    assert env(srv)["mod_wsgi.request_id"] != e["mod_wsgi.request_id"]


def test_default_application_group_is_global(srv):
    # Deliberate difference from mod_wsgi (docs/architecture.md §1, docs/migration.md): default group is %{GLOBAL}.
    assert env(srv)["mod_wsgi.application_group"] == ""


def test_server_pid_is_apache_child(srv):
    pid = int(env(srv)["mod_wsgi.server_pid"])
    assert pid != srv.proc.pid
    assert pid in srv.child_pids()
    assert pid not in srv.daemon_pids()  # daemon mode: the forwarding child, not the daemon


def test_script_file_global(srv):
    e = env(srv)
    assert e["_file"] == e["SCRIPT_FILENAME"]


@pytest.mark.smoke
def test_http_headers(srv):
    e = env(srv, headers=[("X-Custom-Thing", "v1"), ("User-Agent", "ua/1"), ("Accept", "*/*"),
                          ("X-Empty", "")])
    assert e["HTTP_X_CUSTOM_THING"] == "v1"
    assert e["HTTP_X_EMPTY"] == ""
    assert e["HTTP_USER_AGENT"] == "ua/1"
    assert e["HTTP_ACCEPT"] == "*/*"


def test_repeated_header_merged(srv):
    e = env(srv, headers=[("X-Multi", "a"), ("X-Multi", "b"), ("x-multi", "c")])
    assert e["HTTP_X_MULTI"] == "a, b, c"


def test_header_with_underscore_dropped(srv):
    e = env(srv, headers=[("X_Spoof", "evil"), ("X-Spoof", "good"), ("X_Only", "x")])
    assert e["HTTP_X_SPOOF"] == "good"
    assert "HTTP_X_ONLY" not in e


def test_header_with_other_chars_dropped(srv):
    e = env(srv, headers=[("X.Dot", "1"), ("X~Tilde", "1"), ("X-Ok9", "1")])
    assert e["HTTP_X_OK9"] == "1"
    assert not [k for k in e if k.startswith("HTTP_X_DOT") or k.startswith("HTTP_X_TILDE")]


def test_proxy_header_never_exposed(srv):
    e = env(srv, headers=[("Proxy", "http://evil.example:3128")])
    assert "HTTP_PROXY" not in e


def test_authorization_hidden_by_default(srv):
    e = env(srv, headers=[("Authorization", "Basic dXNlcjpwdw=="),
                          ("Proxy-Authorization", "Basic eDp5")])
    assert "HTTP_AUTHORIZATION" not in e
    assert "HTTP_PROXY_AUTHORIZATION" not in e


def test_content_type_and_length(srv):
    e = env(srv, "/app/post", method="POST", body=b"hello",
            headers=[("Content-Type", "text/x-test; charset=utf-8")])
    assert e["CONTENT_TYPE"] == "text/x-test; charset=utf-8"
    assert e["CONTENT_LENGTH"] == "5"
    assert "HTTP_CONTENT_TYPE" not in e and "HTTP_CONTENT_LENGTH" not in e
    assert e["REQUEST_METHOD"] == "POST"


def test_header_values_decoded_latin1(srv):
    e = env(srv, headers=[("X-Latin", b"caf\xe9"), ("X-Utf8", "café".encode())])
    assert e["HTTP_X_LATIN"] == "caf\xe9"
    assert e["HTTP_X_UTF8"] == "caf\xc3\xa9"  # PEP 3333: bytes as Latin-1, not UTF-8


def test_setenv_and_setenvif(srv):
    e = env(srv, headers=[("User-Agent", "probe-agent/2")])
    assert e["MY_SETENV"] == "hello-setenv"
    assert e["UA_MATCHED"] == "yes"
    assert "UA_MATCHED" not in env(srv, headers=[("User-Agent", "other")])


SPLITS = [
    # request path, SCRIPT_NAME, PATH_INFO, REQUEST_URI (None = same as path)
    ("/app/x/y", "/app", "/x/y", None),
    ("/app", "/app", "", None),
    ("/app/", "/app", "/", None),
    ("/app//x//y", "/app", "/x/y", None),
    ("//app//x", "/app", "/x", None),
    ("/application", "", "/application", None),
    ("/", "", "/", None),
    ("/foo/bar", "", "/foo/bar", None),
    ("/foo/bar?x=1", "", "/foo/bar", None),
    ("/app/caf%C3%A9/%20x", "/app", "/caf\xc3\xa9/ x", None),
    ("/app/%7Euser/a%2Bb", "/app", "/~user/a+b", None),
    ("/app/caf\xc3\xa9", "/app", "/caf\xc3\xa9", None),  # raw UTF-8 bytes in the request line
    ("/caf%C3%A9/x", "/caf\xc3\xa9", "/x", None),
    ("/d/env.wsgi/extra/more", "/d/env.wsgi", "/extra/more", None),
    ("/d/env.wsgi", "/d/env.wsgi", "", None),
]


@pytest.mark.parametrize("path,script_name,path_info,uri", SPLITS)
def test_script_name_path_info_split(srv, path, script_name, path_info, uri):
    e = env(srv, path)
    assert (e["SCRIPT_NAME"], e["PATH_INFO"]) == (script_name, path_info)
    assert e["REQUEST_URI"] == (uri or path)
    assert e["mod_wsgi.script_name"] == script_name
    assert e["mod_wsgi.path_info"] == path_info


def test_directory_target_file(srv):
    e = env(srv, "/d/env.wsgi/x")
    assert e["SCRIPT_FILENAME"] == srv.apps + "/envdir/env.wsgi"


def test_directory_itself_is_403(srv):
    mark = srv.log_mark()
    r = srv.get("/d/")
    assert r.status == 403
    srv.wait_log(code("directory_as_script") + r".*", since=mark)


def test_missing_script_in_directory_target_is_404(srv):
    mark = srv.log_mark()
    r = srv.get("/d/nope.wsgi")
    assert r.status == 404
    srv.wait_line(code("script_not_found"), r"nope\.wsgi", since=mark)


def test_encoded_slash_kept_in_path_info(srv):
    """AllowEncodedSlashes NoDecode: Apache leaves %2F encoded; the module splits SCRIPT_NAME and
    PATH_INFO on real slashes only and passes the %2F through as Apache kept it (mod_wsgi too)."""
    e = env(srv, "/app/a%2Fb/c%20d")
    assert e["SCRIPT_NAME"] == "/app"
    assert e["PATH_INFO"] == "/a%2Fb/c d"
    assert e["REQUEST_URI"] == "/app/a%2Fb/c%20d"


