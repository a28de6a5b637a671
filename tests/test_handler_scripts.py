"""Handlers and responses (mod_wsgi's WSGIHandlerScript, WSGIErrorOverride, WSGIPassApacheRequest,
WSGIIgnoreActivity):

- `WSGIHandlerScript name path [options]` + `AddHandler name .ext` / `SetHandler name`: the
  script's `handle_request` runs for matching files, SCRIPT_FILENAME being the requested file,
  in embedded mode and in a daemon group (process-group=); options and an inner <Directory>
  definition of the same name;
- `WSGIErrorOverride On`: a daemon's 4xx/5xx response body is replaced by Apache's error
  document (`ErrorDocument 404 /errors/404.html`, served statically); no effect in embedded mode;
- `WSGIPassApacheRequest On`: an unnamed `apache.request_rec` capsule holding the request_rec
  (read back through it) in embedded mode, absent in daemon mode;
- `WSGIIgnoreActivity On`: such requests alone let a daemon reach its inactivity-timeout (its
  pid changes), while ordinary requests at the same pace keep it alive."""
import json
import time

import pytest

from harness import DAEMON, DAEMON_GROUP, serve

HANDLERS = "@APPS@/handlers"

CONF = f"""
WSGIDaemonProcess hs processes=1 threads=4
WSGIHandlerScript wsgi-emb {HANDLERS}/handler.wsgi process-group=%{{GLOBAL}}
WSGIHandlerScript wsgi-dmn {HANDLERS}/handler.wsgi process-group=hs
WSGIHandlerScript wsgi-plain {HANDLERS}/handler.wsgi
WSGIHandlerScript wsgi-grp {HANDLERS}/handler.wsgi application-group=hgroup process-group=%{{GLOBAL}}
WSGIHandlerScript wsgi-auth {HANDLERS}/handler.wsgi pass-authorization=On
WSGIHandlerScript Wsgi-Mixed {HANDLERS}/handler.wsgi process-group=%{{GLOBAL}}
Alias /files "@APPS@/files"
<Directory "@APPS@/files">
    AddHandler wsgi-emb .emb
    AddHandler wsgi-dmn .dmn
    AddHandler wsgi-plain .res
    AddHandler wsgi-grp .grp
    AddHandler wsgi-auth .auth
    AddHandler Wsgi-Mixed .mix
</Directory>
<Directory "@APPS@/files/sub">
    WSGIHandlerScript wsgi-plain {HANDLERS}/other.wsgi
</Directory>
<Directory "@APPS@/files/cgi">
    WSGICGIScript On
</Directory>
<Location /set>
    SetHandler wsgi-emb
</Location>

ErrorDocument 404 /errors/404.html
Alias /errors "@APPS@/errordocs"
WSGIDaemonProcess eo processes=1 threads=4
WSGIScriptAlias /override {HANDLERS}/errors.wsgi process-group=eo
WSGIScriptAlias /no-override {HANDLERS}/errors.wsgi process-group=eo
WSGIScriptAlias /emb-override {HANDLERS}/errors.wsgi process-group=%{{GLOBAL}}
<Location /override>
    WSGIErrorOverride On
</Location>
<Location /emb-override>
    WSGIErrorOverride On
</Location>

WSGIScriptAlias /rec-emb {HANDLERS}/capsule.wsgi process-group=%{{GLOBAL}}
WSGIScriptAlias /rec-dmn {HANDLERS}/capsule.wsgi process-group=hs
WSGIScriptAlias /rec-off {HANDLERS}/capsule.wsgi process-group=%{{GLOBAL}}
<LocationMatch "^/rec-(emb|dmn)">
    WSGIPassApacheRequest On
</LocationMatch>
"""

ERROR_PAGE = "<html><body><h1>custom 404 page</h1></body></html>\n"

FILES = {
    "apps/files/page.emb": "embedded page\n",
    "apps/files/page.dmn": "daemon page\n",
    "apps/files/page.res": "plain page\n",
    "apps/files/page.grp": "group page\n",
    "apps/files/page.auth": "auth page\n",
    "apps/files/page.mix": "mixed case page\n",
    "apps/files/static.txt": "static text\n",
    "apps/files/sub/inner.res": "inner page\n",
    "apps/files/cgi/page.emb": "not a cgi script\n",
    "apps/errordocs/404.html": ERROR_PAGE,
}

srv = serve("handler_scripts", CONF, files=FILES)


def get_json(srv, path, headers=()):
    r = srv.get(path, headers)
    assert r.status == 200, (r.status, r.body[:300])
    return r.json()


# ----- WSGIHandlerScript ------------------------------------------------------------------

@pytest.mark.parametrize("ext,handler,group", [
    ("emb", "wsgi-emb", ""),
    ("dmn", "wsgi-dmn", "hs"),
    ("res", "wsgi-plain", DAEMON_GROUP if DAEMON else ""),
])
def test_handler_script_by_extension(srv, ext, handler, group):
    """The handler script's handle_request (not `application`) runs for the matching file:
    SCRIPT_FILENAME is that file, mod_wsgi.handler_script the script, request_handler the name;
    embedded (process-group=%{GLOBAL}), in a daemon group, and as WSGIProcessGroup says."""
    e = get_json(srv, f"/files/page.{ext}")
    assert e["SCRIPT_FILENAME"] == f"{srv.apps}/files/page.{ext}"
    assert e["SCRIPT_NAME"] == f"/files/page.{ext}" and e["PATH_INFO"] == ""
    assert e["content"] == {"emb": "embedded page\n", "dmn": "daemon page\n",
                            "res": "plain page\n"}[ext]
    assert e["mod_wsgi.handler_script"] == f"{srv.apps}/handlers/handler.wsgi"
    assert e["handler_file"] == e["mod_wsgi.handler_script"]
    assert e["mod_wsgi.request_handler"] == handler
    assert e["mod_wsgi.callable_object"] == "handle_request"
    assert e["mod_wsgi.process_group"] == group


def test_handler_script_runs_in_its_daemon_group(srv):
    """process-group=hs: another process than the embedded handler's."""
    emb, dmn = get_json(srv, "/files/page.emb"), get_json(srv, "/files/page.dmn")
    assert dmn["pid"] != emb["pid"]
    assert dmn["pid"] in srv.daemon_pids()


def test_other_files_stay_static(srv):
    r = srv.get("/files/static.txt")
    assert r.status == 200 and r.body == b"static text\n"


def test_set_handler_and_missing_file(srv):
    """SetHandler: every URL below goes to the handler, even one naming no file (mod_wsgi makes
    no file check for handler scripts: the script decides)."""
    r = srv.get("/set/nothing/here")
    assert r.status == 404 and r.body == b"handler: no such file"


def test_handler_script_options(srv):
    e = get_json(srv, "/files/page.grp")
    assert e["mod_wsgi.application_group"] == "hgroup" and e["content"] == "group page\n"
    e = get_json(srv, "/files/page.auth", [("Authorization", "Bearer hs-1")])
    assert e["HTTP_AUTHORIZATION"] == "Bearer hs-1"
    e = get_json(srv, "/files/page.res", [("Authorization", "Bearer hs-1")])
    assert "HTTP_AUTHORIZATION" not in e


def test_handler_name_matches_case_insensitively(srv):
    """AddHandler lower-cases the name it sets: a mixed-case WSGIHandlerScript name still
    matches (the file must not be served as static text instead)."""
    e = get_json(srv, "/files/page.mix")
    assert e["content"] == "mixed case page\n"
    assert e["mod_wsgi.request_handler"] == "wsgi-mixed"


def test_cgi_script_setting_does_not_apply_to_handler_scripts(srv):
    """WSGICGIScript On marks the scripts mapped here as CGI scripts; a handler script still
    runs as a WSGI script (its handle_request), the file being only what it serves."""
    e = get_json(srv, "/files/cgi/page.emb")
    assert e["content"] == "not a cgi script\n"


def test_inner_directory_definition_wins(srv):
    e = get_json(srv, "/files/sub/inner.res")
    assert e["handler"] == "other"
    assert e["SCRIPT_FILENAME"] == f"{srv.apps}/files/sub/inner.res"
    assert e["mod_wsgi.handler_script"] == f"{srv.apps}/handlers/other.wsgi"
    # Outside that directory the server-level definition still applies.
    assert get_json(srv, "/files/page.res")["mod_wsgi.handler_script"].endswith("/handler.wsgi")


# ----- WSGIErrorOverride ------------------------------------------------------------------

@pytest.mark.daemon
@pytest.mark.parametrize("query", ["status=404", "status=404&size=3000000"])
def test_error_override_uses_error_document(srv, query):
    """Daemon mode: the app's 404 body (and header) is dropped, Apache serves ErrorDocument."""
    r = srv.get(f"/override?{query}")
    assert r.status == 404, (r.status, r.body[:200])
    assert r.text == ERROR_PAGE
    assert r.header("X-App") is None
    assert b"app body" not in r.body and b"xxxx" not in r.body


@pytest.mark.daemon
def test_error_override_500_gets_apache_default_page(srv):
    r = srv.get("/override?status=500")
    assert r.status == 500
    assert b"app body" not in r.body and b"Internal Server Error" in r.body
    assert r.header("X-App") is None


@pytest.mark.daemon
def test_error_override_401_keeps_www_authenticate(srv):
    """Only WWW-Authenticate survives (mod_wsgi keeps it in err_headers_out): a 401 still asks
    for credentials; the app's other headers and its body are gone."""
    r = srv.get("/override?status=401")
    assert r.status == 401
    assert r.header("WWW-Authenticate") == 'Basic realm="app"'
    assert r.header("X-App") is None and r.header("Set-Cookie") is None
    assert b"app body" not in r.body
    r = srv.get("/no-override?status=401")
    assert r.status == 401 and r.body == b"app body 401"
    assert r.header("Set-Cookie") == "session=gone"


@pytest.mark.daemon
@pytest.mark.parametrize("status", [200, 302])
def test_error_override_leaves_other_statuses(srv, status):
    r = srv.get(f"/override?status={status}")
    assert r.status == status and r.body == f"app body {status}".encode()
    assert r.header("X-App") == "yes"


@pytest.mark.daemon
def test_error_override_off_keeps_app_body(srv):
    r = srv.get("/no-override?status=404")
    assert r.status == 404 and r.body == b"app body 404"
    assert r.header("X-App") == "yes"


@pytest.mark.daemon
def test_error_override_no_effect_in_embedded_mode(srv):
    """As mod_wsgi: the directive only applies to daemon-mode responses."""
    r = srv.get("/emb-override?status=404")
    assert r.status == 404 and r.body == b"app body 404"


@pytest.mark.daemon
def test_error_override_keeps_the_daemon_usable(srv):
    """The dropped body was read to its end: the next requests on the group are served."""
    for _ in range(3):
        assert srv.get("/override?status=404&size=200000").text == ERROR_PAGE
        assert srv.get("/override?status=200").body == b"app body 200"


# ----- WSGIPassApacheRequest --------------------------------------------------------------

def test_pass_apache_request_embedded_capsule(srv):
    e = get_json(srv, "/rec-emb?x=1")
    assert e["present"] is True
    assert e["type"] == "PyCapsule"
    assert e["name"] is None and e["valid_unnamed"] is True  # mod_wsgi: PyCapsule_New(r, 0, 0)
    assert e["the_request"] == "GET /rec-emb?x=1 HTTP/1.1"


def test_pass_apache_request_absent_in_daemon_mode(srv):
    assert get_json(srv, "/rec-dmn") == {"present": False}


def test_pass_apache_request_off_by_default(srv):
    assert get_json(srv, "/rec-off") == {"present": False}


# ----- WSGIIgnoreActivity ------------------------------------------------------------------

IDLE_CONF = f"""
WSGIDaemonProcess idle processes=1 threads=4 inactivity-timeout=3
WSGIScriptAlias /busy {HANDLERS}/pid.wsgi process-group=idle
WSGIScriptAlias /health {HANDLERS}/pid.wsgi process-group=idle
<Location /health>
    WSGIIgnoreActivity On
</Location>
"""

idle = serve("ignore_activity", IDLE_CONF)

PACE = 0.3  # seconds between requests: 10 x shorter than inactivity-timeout=3


def pids_while_polling(srv, path, seconds, stop_on_change=False):
    first = srv.get("/busy", timeout=60)
    assert first.status == 200
    seen = [int(first.body)]
    end = time.time() + seconds
    while time.time() < end:
        time.sleep(PACE)
        r = srv.get(path, timeout=60)
        assert r.status == 200, (r.status, r.body[:200])
        seen.append(int(r.body))
        if stop_on_change and seen[-1] != seen[0]:
            break
    return seen


@pytest.mark.daemon
def test_ordinary_requests_keep_the_daemon(idle):
    idle.settle_daemons("idle")
    mark = idle.log_mark()
    seen = pids_while_polling(idle, "/busy", 9)
    assert len(set(seen)) == 1, seen
    assert "inactivity-timeout" not in idle.log_since(mark)


@pytest.mark.daemon
def test_ignored_requests_let_inactivity_timeout_fire(idle):
    idle.settle_daemons("idle")
    mark = idle.log_mark()
    seen = pids_while_polling(idle, "/health", 20, stop_on_change=True)
    assert seen[-1] != seen[0], f"no restart in 20 s of /health requests: {seen}"
    idle.wait_line(r"RWSGI0103: Daemon process 'idle'", r"inactivity-timeout", since=mark)
