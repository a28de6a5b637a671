"""Directives in their mod_wsgi contexts: WSGIScriptAlias options, WSGIScriptAliasMatch,
AddHandler/SetHandler wsgi-script, WSGICallableObject, WSGIApplicationGroup %{GLOBAL},
the .htaccess classes of WSGIErrorOverride, WSGIIgnoreActivity (FileInfo), WSGIPassApacheRequest
and WSGIHandlerScript (not in .htaccess, as mod_wsgi's code),
WSGIPassAuthorization, WSGIMapHEADToGET, WSGIChunkedRequest, and the server-only
WSGIPythonPath, WSGIPythonOptimize, WSGIRestrictStdout, WSGIRestrictSignal."""
import base64
import hashlib

import pytest

from codes import code
from harness import DAEMON, PREFORK, serve

AUTH = """
    AuthType Basic
    AuthName "wsgi test"
    AuthBasicProvider file
    AuthUserFile "@ROOT@/htpasswd"
    Require valid-user"""

CONF = f"""
WSGIScriptAlias /cb-opt @APPS@/environ.wsgi callable-object=other
WSGIScriptAlias /cb-missing @APPS@/environ.wsgi callable-object=nope
WSGIScriptAlias /cb-loc @APPS@/environ.wsgi
<Location /cb-loc>
    WSGICallableObject alt
</Location>
WSGIScriptAlias /cb-dir @APPS@/cbdir/env.wsgi
<Directory "@APPS@/cbdir">
    WSGICallableObject other
</Directory>
WSGIScriptAlias /cb-ht @APPS@/htdir/env.wsgi
<Directory "@APPS@/htdir">
    AllowOverride FileInfo
</Directory>

WSGIScriptAlias /ht-auth @APPS@/htauth/env.wsgi
<Directory "@APPS@/htauth">
    AllowOverride FileInfo
</Directory>
WSGIScriptAlias /ht-denied @APPS@/htdenied/env.wsgi
<Directory "@APPS@/htdenied">
    AllowOverride AuthConfig
</Directory>
WSGIScriptAlias /ht-group @APPS@/htgroup/env.wsgi
<Directory "@APPS@/htgroup">
    AllowOverride All
</Directory>
WSGIScriptAlias /ht-apreq @APPS@/htapreq/env.wsgi
<Directory "@APPS@/htapreq">
    AllowOverride All
</Directory>
WSGIScriptAlias /ht-hscript @APPS@/hthscript/env.wsgi
<Directory "@APPS@/hthscript">
    AllowOverride All
</Directory>

WSGIScriptAlias /pg-opt @APPS@/environ.wsgi process-group=%{{GLOBAL}}
WSGIScriptAlias /pg-loc @APPS@/environ.wsgi
<Location /pg-loc>
    WSGIProcessGroup %{{GLOBAL}}
</Location>

WSGIScriptAlias /grp-opt @APPS@/environ.wsgi application-group=%{{GLOBAL}}
WSGIScriptAlias /grp-loc @APPS@/environ.wsgi
<Location /grp-loc>
    WSGIApplicationGroup %{{GLOBAL}}
</Location>

WSGIScriptAlias /auth-opt @APPS@/environ.wsgi pass-authorization=On
WSGIScriptAlias /auth-loc @APPS@/environ.wsgi
<Location /auth-loc>
    WSGIPassAuthorization On
</Location>
WSGIScriptAlias /auth-basic @APPS@/environ.wsgi
<Location /auth-basic>{AUTH}
</Location>
WSGIScriptAlias /auth-basic-pass @APPS@/environ.wsgi
<Location /auth-basic-pass>{AUTH}
    WSGIPassAuthorization On
</Location>

WSGIScriptAliasMatch ^/match/([a-z]+) @APPS@/match/$1.wsgi
WSGIScriptAliasMatch ^/mcb/([a-z]+) @APPS@/match/$1.wsgi callable-object=alt

Alias /h-ok "@APPS@/hok"
<Directory "@APPS@/hok">
    Options +ExecCGI
    AddHandler wsgi-script .wsgi
</Directory>
Alias /h-noexec "@APPS@/hnoexec"
<Directory "@APPS@/hnoexec">
    AddHandler wsgi-script .wsgi
</Directory>
Alias /h-set "@APPS@/hset"
<Directory "@APPS@/hset">
    Options ExecCGI
    SetHandler wsgi-script
</Directory>
Alias /h-mime "@APPS@/hmime"
<Directory "@APPS@/hmime">
    Options ExecCGI
    AddHandler application/x-httpd-wsgi .py
</Directory>

WSGIScriptAlias /head-auto @APPS@/environ.wsgi
WSGIScriptAlias /head-auto-deflate @APPS@/environ.wsgi
<Location /head-auto-deflate>
    SetOutputFilter DEFLATE
</Location>
WSGIScriptAlias /head-on @APPS@/environ.wsgi
<Location /head-on>
    WSGIMapHEADToGET On
</Location>
WSGIScriptAlias /head-off @APPS@/environ.wsgi
<Location /head-off>
    WSGIMapHEADToGET Off
    SetOutputFilter DEFLATE
</Location>

WSGIScriptAlias /py @APPS@/pyinfo.wsgi

WSGIScriptAlias /chunk-dir @APPS@/chdir/input.wsgi
<Directory "@APPS@/chdir">
    WSGIChunkedRequest On
</Directory>
WSGIScriptAlias /chunk-off @APPS@/input.wsgi
<Location /chunk-off>
    WSGIChunkedRequest Off
</Location>
"""


def htpasswd(user, password):
    digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
    return f"{user}:{{SHA}}{digest}\n"


ENV = ("copy", "environ.wsgi")
FILES = {
    "htpasswd": htpasswd("alice", "s3cret"),
    "apps/cbdir/env.wsgi": ENV,
    "apps/htdir/env.wsgi": ENV,
    "apps/htdir/.htaccess": "WSGICallableObject alt\n",
    "apps/htauth/env.wsgi": ENV,
    "apps/htauth/.htaccess": ("WSGIPassAuthorization On\nWSGIMapHEADToGET On\n"
                              "WSGIErrorOverride On\nWSGIIgnoreActivity On\n"),
    "apps/htdenied/env.wsgi": ENV,
    "apps/htdenied/.htaccess": "WSGICallableObject alt\n",
    "apps/htgroup/env.wsgi": ENV,
    "apps/htgroup/.htaccess": "WSGIApplicationGroup %{GLOBAL}\n",
    "apps/htapreq/env.wsgi": ENV,
    "apps/htapreq/.htaccess": "WSGIPassApacheRequest On\n",
    "apps/hthscript/env.wsgi": ENV,
    "apps/hthscript/.htaccess": "WSGIHandlerScript h /tmp/h.wsgi\n",
    "apps/match/one.wsgi": ENV,
    "apps/match/two.wsgi": ENV,
    "apps/hok/env.wsgi": ENV,
    "apps/hok/data.txt": "static text\n",
    "apps/hnoexec/env.wsgi": ENV,
    "apps/hset/env.wsgi": ENV,
    "apps/hmime/env.py": ENV,
    "apps/chdir/input.wsgi": ("copy", "input.wsgi"),
}

srv = serve("directives", CONF, files=FILES)

BASIC_OK = "Basic " + base64.b64encode(b"alice:s3cret").decode()
BASIC_BAD = "Basic " + base64.b64encode(b"alice:wrong").decode()


def env(srv, path, headers=(), method="GET"):
    r = srv.request(method, path, headers)
    assert r.status == 200, (r.status, r.body[:300])
    return r


# ----- callables -------------------------------------------------------------------------

@pytest.mark.smoke
@pytest.mark.parametrize("path,name", [("/cb-opt", "other"), ("/cb-loc", "alt"),
                                       ("/cb-dir", "other"), ("/cb-ht", "alt"),
                                       ("/grp-opt", "application")])
def test_callable_object(srv, path, name):
    r = env(srv, path + "/x")
    assert r.header("X-Callable") == name
    assert r.json()["mod_wsgi.callable_object"] == name


def test_callable_object_missing_500(srv):
    mark = srv.log_mark()
    assert srv.get("/cb-missing").status == 500
    srv.wait_line(code("no_callable"), "nope", since=mark)


# ----- .htaccess (AllowOverride FileInfo) -----------------------------------------------------

def test_htaccess_fileinfo_directives(srv):
    """FileInfo directives in .htaccess, among them WSGIErrorOverride and WSGIIgnoreActivity
    (a directive not allowed there would make the request a 500)."""
    r = env(srv, "/ht-auth", [("Authorization", "Bearer ht")])
    assert r.json()["HTTP_AUTHORIZATION"] == "Bearer ht"
    r = srv.request("HEAD", "/ht-auth")
    assert r.status == 200 and r.header("X-Request-Method") == "GET"


@pytest.mark.parametrize("path,directive", [("/ht-denied", "WSGICallableObject"),
                                            ("/ht-group", "WSGIApplicationGroup"),
                                            ("/ht-apreq", "WSGIPassApacheRequest"),
                                            ("/ht-hscript", "WSGIHandlerScript")])
def test_htaccess_directive_not_allowed(srv, path, directive):
    mark = srv.log_mark()
    assert srv.get(path).status == 500
    srv.wait_line(r"\.htaccess", directive, since=mark)


# ----- process group %{GLOBAL} = embedded ----------------------------------------------------

@pytest.mark.parametrize("path", ["/pg-opt", "/pg-loc"])
def test_process_group_global_is_embedded(srv, path):
    e = env(srv, path).json()
    assert e["mod_wsgi.process_group"] == ""


# ----- application group -------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/grp-opt", "/grp-loc"])
def test_application_group_global(srv, path):
    assert env(srv, path).json()["mod_wsgi.application_group"] == ""


# ----- authorization -------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/auth-opt", "/auth-loc"])
def test_pass_authorization(srv, path):
    e = env(srv, path, [("Authorization", "Bearer tok-123")]).json()
    assert e["HTTP_AUTHORIZATION"] == "Bearer tok-123"


def test_authorization_not_passed_elsewhere(srv):
    e = env(srv, "/grp-loc", [("Authorization", "Bearer tok-123")]).json()
    assert "HTTP_AUTHORIZATION" not in e


def test_basic_auth_sets_remote_user(srv):
    assert srv.get("/auth-basic").status == 401
    assert srv.get("/auth-basic", [("Authorization", BASIC_BAD)]).status == 401
    e = env(srv, "/auth-basic", [("Authorization", BASIC_OK)]).json()
    assert e["REMOTE_USER"] == "alice"
    assert e["AUTH_TYPE"] == "Basic"
    assert "HTTP_AUTHORIZATION" not in e


def test_basic_auth_with_pass_authorization(srv):
    e = env(srv, "/auth-basic-pass", [("Authorization", BASIC_OK)]).json()
    assert e["REMOTE_USER"] == "alice"
    assert e["HTTP_AUTHORIZATION"] == BASIC_OK


# ----- WSGIScriptAliasMatch ------------------------------------------------------------------

@pytest.mark.parametrize("path,script,sn,pi", [
    ("/match/one/extra/x", "one", "/match/one", "/extra/x"),
    ("/match/two", "two", "/match/two", ""),
])
def test_script_alias_match(srv, path, script, sn, pi):
    e = env(srv, path).json()
    assert e["SCRIPT_FILENAME"] == f"{srv.apps}/match/{script}.wsgi"
    assert (e["SCRIPT_NAME"], e["PATH_INFO"]) == (sn, pi)


def test_script_alias_match_options(srv):
    r = env(srv, "/mcb/one/y")
    assert r.header("X-Callable") == "alt"


def test_script_alias_match_missing_target_404(srv):
    assert srv.get("/match/three").status == 404


# ----- handlers ------------------------------------------------------------------------------

@pytest.mark.smoke
def test_add_handler_with_exec_cgi(srv):
    e = env(srv, "/h-ok/env.wsgi/more?q=1").json()
    assert e["SCRIPT_NAME"] == "/h-ok/env.wsgi"
    assert e["PATH_INFO"] == "/more"
    assert e["SCRIPT_FILENAME"] == srv.apps + "/hok/env.wsgi"


def test_add_handler_leaves_other_files_static(srv):
    r = srv.get("/h-ok/data.txt")
    assert r.status == 200 and r.body == b"static text\n"


@pytest.mark.smoke
def test_handler_without_exec_cgi_403(srv):
    mark = srv.log_mark()
    assert srv.get("/h-noexec/env.wsgi").status == 403
    srv.wait_log(code("exec_cgi_off"), since=mark)


def test_set_handler(srv):
    e = env(srv, "/h-set/env.wsgi/p").json()
    assert (e["SCRIPT_NAME"], e["PATH_INFO"]) == ("/h-set/env.wsgi", "/p")


def test_mime_style_handler_name(srv):
    e = env(srv, "/h-mime/env.py").json()
    assert e["SCRIPT_FILENAME"] == srv.apps + "/hmime/env.py"
    assert e["mod_wsgi.request_handler"] == "application/x-httpd-wsgi"  # r->handler, as mod_wsgi


# ----- WSGIMapHEADToGET ------------------------------------------------------------------------

@pytest.mark.parametrize("path,seen", [("/head-auto", "HEAD"), ("/head-auto-deflate", "GET"),
                                       ("/head-on", "GET"), ("/head-off", "HEAD")])
def test_map_head_to_get(srv, path, seen):
    r = srv.request("HEAD", path, [("Accept-Encoding", "gzip")])
    assert r.status == 200
    assert r.header("X-Request-Method") == seen
    assert r.raw.endswith(b"\r\n\r\n")
    assert env(srv, path).header("X-Request-Method") == "GET"


# ----- WSGIChunkedRequest --------------------------------------------------------------------

def test_chunked_request_in_directory_context(srv):
    r = srv.post("/chunk-dir?mode=read", b"abc" * 1000, chunked=100)
    assert r.status == 200 and r.json()["length"] == 3000


def test_chunked_request_off_411(srv):
    assert srv.post("/chunk-off?mode=read", b"abc", chunked=1).status == 411


# ----- server-scope interpreter directives ------------------------------------------------------

RESTRICTED = """
WSGIRestrictStdout On
WSGIRestrictSignal Off
WSGIPythonOptimize 1
WSGIPythonPath "@APPS@/pylib1:@APPS@/pylib2"
<VirtualHost 127.0.0.1:@PORT@>
    ServerName default.test
    WSGIScriptAlias /log @APPS@/logging.wsgi
    WSGIScriptAlias /py @APPS@/pyinfo.wsgi
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName vhost.test
    WSGIScriptAlias /py @APPS@/environ.wsgi callable-object=other
    WSGIPassAuthorization On
</VirtualHost>
"""

restricted = serve("restricted", RESTRICTED)


def test_python_path_and_pth_files(restricted):
    r = restricted.get("/py?mod=probe_one&mod=probe_two&mod=probe_pth")
    imports = r.json()["imports"]
    assert imports["probe_one"] == restricted.apps + "/pylib1/probe_one.py"
    assert imports["probe_two"] == restricted.apps + "/pylib2/probe_two.py"
    assert imports["probe_pth"] == restricted.apps + "/pylib2/extra_site/probe_pth.py"


def test_python_optimize(restricted):
    j = restricted.get("/py").json()
    assert j["optimize"] == 1
    assert j["debug"] is False and j["asserts"] is False


def test_python_defaults(srv):
    j = srv.get("/py?mod=probe_one").json()
    assert j["optimize"] == 0 and j["debug"] is True and j["asserts"] is True
    assert j["imports"]["probe_one"].startswith("raised ModuleNotFoundError")


def test_restrict_stdout_on(restricted):
    r = restricted.get("/log/stdout?m=x")
    j = r.json()
    assert j["stdout"].startswith("raised "), j
    assert j["stderr"] == "ok"


def test_restrict_signal_off(restricted):
    # Off: signal.signal() is not intercepted; CPython refuses it off the main thread. A prefork
    # child runs the app on its main thread, so there the handler is installed (replacing
    # Apache's own, as with mod_wsgi: the reason the default is On).
    j = restricted.get("/log/signal").json()
    if PREFORK and not DAEMON:
        assert j == {"result": "returned", "installed": True}, j
    else:
        assert j["result"] == "raised ValueError", j
        assert j["installed"] is False


def test_virtual_host_context(restricted):
    r = restricted.get("/py/v", [("Host", "vhost.test"), ("Authorization", "Bearer v")])
    assert r.status == 200
    assert r.header("X-Callable") == "other"
    e = r.json()
    assert e["SERVER_NAME"] == "vhost.test"
    assert e["HTTP_AUTHORIZATION"] == "Bearer v"
    j = restricted.get("/py").json()  # default vhost serves pyinfo
    assert "optimize" in j
