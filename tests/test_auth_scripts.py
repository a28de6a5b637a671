"""Auth scripts (mod_wsgi's access-control mechanisms), run in the Apache child whatever serves
the application: `WSGIAuthUserScript` as authn provider `wsgi` (Basic: check_password right,
wrong, raising, None, a wrong type, a canonical user name; Digest through get_realm_hash with a
real digest client), `WSGIAuthGroupScript` as authz provider `wsgi-group`, `WSGIAccessScript`
denying by client address, the cut-down auth environ (no SetEnv, no Authorization, no
wsgi.input; mod_ssl callables without mod_ssl), a script in a named application group kept
apart from %{GLOBAL}, the application in a daemon group (also under WSGIRestrictEmbedded On),
and Django's own `django.contrib.auth.handlers.modwsgi` against an sqlite user table."""
import base64
import json
import os
import re
import socket
import subprocess
import urllib.error
import urllib.request

import pytest

from client import build_request, parse_response, recv_all
from harness import DAEMON, PREFORK, Apache, rewrite, serve, venv_dir

BASIC = """
    AuthType Basic
    AuthName "wsgi-basic"
    AuthBasicProvider wsgi
    WSGIAuthUserScript @APPS@/auth/users.py
"""

CONF = f"""
WSGIDaemonProcess authd threads=4
Alias /ht/ "@ROOT@/htdocs/ht/"
WSGIScriptAlias / @APPS@/auth/app.wsgi
<Location /basic>
{BASIC}
    # SetEnvIf runs before the auth phases (SetEnv only in fixups, after them).
    SetEnvIf Request_URI . AUTH_SECRET_ENV=from-setenvif
    Require valid-user
</Location>
<Location /digest>
    AuthType Digest
    AuthName "wsgi-digest"
    AuthDigestProvider wsgi
    WSGIAuthUserScript @APPS@/auth/users.py
    Require valid-user
</Location>
<Location /editors>
{BASIC}
    WSGIAuthGroupScript @APPS@/auth/users.py
    WSGIGroupAuthoritative Off
    Require wsgi-group editors "night shift"
</Location>
<Location /access>
    WSGIAccessScript @APPS@/auth/access.py
</Location>
<Location /named>
    AuthType Basic
    AuthName "named"
    AuthBasicProvider wsgi
    WSGIAuthUserScript @APPS@/auth/where.py application-group=authgrp
    Require valid-user
</Location>
<Location /global>
    AuthType Basic
    AuthName "global"
    AuthBasicProvider wsgi
    WSGIAuthUserScript @APPS@/auth/where.py
    Require valid-user
</Location>
<Location /daemon>
    WSGIProcessGroup authd
{BASIC}
    Require valid-user
</Location>
<Location /missing>
    AuthType Basic
    AuthName "missing"
    AuthBasicProvider wsgi
    WSGIAuthUserScript @STATE@/no-such-auth.py
    Require valid-user
</Location>
<Location /reload>
    AuthType Basic
    AuthName "reload"
    AuthBasicProvider wsgi
    WSGIAuthUserScript @STATE@/reload_auth.py
    Require valid-user
</Location>
<AuthnProviderAlias wsgi aliased>
    WSGIAuthUserScript @APPS@/auth/where.py application-group=aliasgrp
</AuthnProviderAlias>
<Location /aliased>
    AuthType Basic
    AuthName "aliased"
    AuthBasicProvider aliased
    Require valid-user
</Location>
<Directory "@ROOT@/htdocs/ht">
    AllowOverride AuthConfig
</Directory>
<Location /nogroupscript>
{BASIC}
    Require wsgi-group editors
</Location>
<Location /nouserscript>
    AuthType Basic
    AuthName "none"
    AuthBasicProvider wsgi
    Require valid-user
</Location>
"""

HTACCESS = """AuthType Basic
AuthName "static"
AuthBasicProvider wsgi
WSGIAuthUserScript @APPS@/auth/users.py
Require valid-user
"""

srv = serve("auth-scripts", CONF, modules=("auth_digest",),
            prepare=lambda a: (a.put("htdocs/ht/.htaccess", a.subst(HTACCESS)),
                               a.put("htdocs/ht/page.txt", "static page\n")))


def basic(user, password):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [("Authorization", f"Basic {token}")]


def get_json(a, path, headers=()):
    r = a.get(path, headers)
    assert r.status == 200, (path, r.status, r.body[:300])
    return r.json()


def test_basic_right_password(srv):
    j = get_json(srv, "/basic/x", basic("spy", "secret"))
    assert j["user"] == "spy" and j["auth_type"] == "Basic"
    assert j["authorization"] is False  # not passed to the application
    line = srv.wait_line(r"AUTHNOTE check_password user=spy", since=0)
    assert re.search(r"RWSGI0030", line)


@pytest.mark.parametrize("user,password", [("spy", "wrong"), ("nobody", "x")],
                         ids=["wrong-password", "no-such-user"])
def test_basic_refused_401(srv, user, password):
    mark = srv.log_mark()
    r = srv.get("/basic/x", basic(user, password))
    assert r.status == 401, (r.status, r.body[:200])
    assert "Basic realm=\"wsgi-basic\"" in (r.header("WWW-Authenticate") or "")
    srv.wait_line(rf"AUTHNOTE check_password user={user}", since=mark)
    # Apache's own line tells the two answers apart: False is a password mismatch, None an
    # unknown user (AH01617 / AH01618).
    srv.wait_line(r"AH01617" if user == "spy" else r"AH01618", since=mark)


def test_basic_concurrent_right_and_wrong(srv):
    """8 clients x 25 requests, right and wrong passwords interleaved across the worker
    threads (and named-group requests between them): every answer is the right one."""
    from concurrent.futures import ThreadPoolExecutor

    def one(i):
        if i % 5 == 4:
            r = srv.get("/named/x", basic(f"n{i}", "pw"))
            return r.status == 200 and r.json()["user"] == f"n{i}"
        good = i % 2 == 0
        r = srv.get("/basic/x", basic("spy", "secret" if good else f"bad{i}"))
        return (r.status == 200 and r.json()["user"] == "spy") if good else r.status == 401

    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(one, range(200)))
    assert all(results), [i for i, ok in enumerate(results) if not ok]


def test_basic_raising_script_500_with_traceback(srv):
    mark = srv.log_mark()
    r = srv.get("/basic/x", basic("boom", "x"))
    assert r.status == 500, (r.status, r.body[:200])
    srv.wait_line(r"RWSGI0132", r"check_password\(\)", r"WSGIAuthUserScript", since=mark)
    srv.wait_line(r"RWSGI0021", r"RuntimeError: auth boom", since=mark)


def test_basic_wrong_type_500(srv):
    mark = srv.log_mark()
    r = srv.get("/basic/x", basic("weird", "x"))
    assert r.status == 500
    srv.wait_line(r"RWSGI0133", r"check_password\(\)", r"'int'", since=mark)


def test_basic_user_name_returned_replaces_user(srv):
    assert get_json(srv, "/basic/x", basic("alias", "x"))["user"] == "canonical"
    assert srv.get("/basic/x", basic("alias", "y")).status == 401


def test_auth_environ(srv):
    mark = srv.log_mark()
    get_json(srv, "/basic/sub/path?q=1", basic("envdump", "x") + [("X-Probe", "probe-value")])
    line = srv.wait_line(r"AUTHENV ", since=mark)
    env = json.loads(line.split("AUTHENV ", 1)[1])
    keys, values = set(env["keys"]), env["values"]
    assert values["REQUEST_METHOD"] == "GET" and values["QUERY_STRING"] == "q=1"
    assert values["REQUEST_URI"] == "/basic/sub/path?q=1"
    assert values["HTTP_X_PROBE"] == "probe-value"
    assert values["REMOTE_ADDR"] == "127.0.0.1" and values["SERVER_PORT"] == str(srv.port)
    assert values["mod_wsgi.application_group"] == "" and values["mod_wsgi.process_group"] == ""
    assert {"wsgi.errors", "mod_ssl.is_https", "mod_ssl.var_lookup", "mod_wsgi.version",
            "apache.version"} <= keys
    # Cut down: no body, no credentials, no SetEnv variables (.htaccess could set them).
    assert "wsgi.input" not in keys and "HTTP_AUTHORIZATION" not in keys
    assert "AUTH_SECRET_ENV" not in keys
    assert get_json(srv, "/basic/x", basic("spy", "secret"))["secret_env"] == "from-setenvif"
    # No mod_ssl loaded: not https, no SSL variables.
    assert env["is_https"] == 0 and env["ssl_protocol"] is None and env["ssl_bytes"] is None
    assert env["apache_version"][0] == 2


def _digest_get(a, path, user, password):
    mgr = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    mgr.add_password(None, a.url("/"), user, password)
    opener = urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(mgr))
    try:
        with opener.open(a.url(path), timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, None


def test_digest_right_and_wrong(srv):
    mark = srv.log_mark()
    status, j = _digest_get(srv, "/digest/x", "ed", "edpass")
    assert status == 200 and j["user"] == "ed" and j["auth_type"] == "Digest"
    srv.wait_line(r"AUTHNOTE get_realm_hash user=ed realm=wsgi-digest", since=mark)
    assert _digest_get(srv, "/digest/x", "ed", "nope")[0] == 401
    assert _digest_get(srv, "/digest/x", "nobody", "x")[0] == 401


def test_digest_raising_500(srv):
    mark = srv.log_mark()
    assert _digest_get(srv, "/digest/x", "boom", "x")[0] == 500
    srv.wait_line(r"RWSGI0132", r"get_realm_hash\(\)", since=mark)
    srv.wait_line(r"RWSGI0021", r"RuntimeError: digest boom", since=mark)


def test_require_wsgi_group(srv):
    j = get_json(srv, "/editors/x", basic("ed", "edpass"))
    assert j["user"] == "ed"
    # A quoted group name on the Require line; groups_for_user may return any iterable.
    assert get_json(srv, "/editors/x", basic("nina", "ninapass"))["user"] == "nina"
    mark = srv.log_mark()
    r = srv.get("/editors/x", basic("spy", "secret"))
    assert r.status == 401
    srv.wait_line(r"RWSGI0135", r"user 'spy'", r"designated groups", since=mark)
    mark = srv.log_mark()
    assert srv.get("/editors/x", basic("bob", "bobpass")).status == 401
    srv.wait_line(r"RWSGI0135", r"user 'bob'", r"any groups", since=mark)


@pytest.mark.parametrize("ask,code,pattern", [
    ("raise", "RWSGI0132", r"groups_for_user\(\)"),
    ("int", "RWSGI0133", r"groups_for_user\(\).*'int'"),
])
def test_group_script_failure_denies(srv, ask, code, pattern):
    mark = srv.log_mark()
    r = srv.get("/editors/x", basic("spy", "secret") + [("X-Groups", ask)])
    assert r.status == 401, r.status
    srv.wait_line(code, pattern, since=mark)
    if ask == "raise":
        srv.wait_line(r"RWSGI0021", r"LookupError: groups boom", since=mark)


def _get_from(a, source_ip, path, headers=()):
    head, _ = build_request("GET", path, headers, b"", "HTTP/1.1", None, host=f"127.0.0.1:{a.port}")
    s = socket.create_connection(("127.0.0.1", a.port), timeout=30, source_address=(source_ip, 0))
    try:
        s.sendall(head)
        return parse_response(recv_all(s))
    finally:
        s.close()


def test_access_script_by_address(srv):
    assert get_json(srv, "/access/x")["user"] is None
    mark = srv.log_mark()
    r = _get_from(srv, "127.0.0.2", "/access/x")
    assert r.status == 403, r.status
    srv.wait_line(r"ACCESSNOTE host=127\.0\.0\.2", since=mark)
    srv.wait_line(r"RWSGI0134", r"Client denied", since=mark)
    # None declines: the other access rules (Require all granted here) decide.
    assert _get_from(srv, "127.0.0.2", "/access/x", [("X-Access", "none")]).status == 200


@pytest.mark.parametrize("ask,code", [("raise", "RWSGI0132"), ("weird", "RWSGI0133")])
def test_access_script_failure_denies(srv, ask, code):
    mark = srv.log_mark()
    r = srv.get("/access/x", [("X-Access", ask)])
    assert r.status == 403, r.status
    srv.wait_line(code, r"allow_access\(\)", since=mark)


def test_named_group_isolated_from_global(srv):
    get_json(srv, "/x")  # the application marks the main interpreter
    mark = srv.log_mark()
    assert get_json(srv, "/named/x", basic("u", "pw"))["user"] == "u"
    named = srv.wait_line(r"WHERENOTE group='authgrp'", since=mark)
    assert "environ_group='authgrp'" in named and "app_marker=False" in named
    mark = srv.log_mark()
    assert get_json(srv, "/global/x", basic("u", "pw"))["user"] == "u"
    glob = srv.wait_line(r"WHERENOTE group=''", since=mark)
    assert "environ_group=''" in glob
    # The application marked the main interpreter of the process that served it: not this
    # one in daemon mode, maybe another child under prefork.
    if not DAEMON and not PREFORK:
        assert "app_marker=True" in glob
    assert srv.get("/named/x", basic("u", "bad")).status == 401


def test_auth_runs_in_apache_child_when_app_is_in_daemon(srv):
    mark = srv.log_mark()
    j = get_json(srv, "/daemon/x", basic("spy", "secret"))
    assert j["user"] == "spy" and j["pid"] in srv.daemon_pids()
    line = srv.wait_line(r"AUTHNOTE check_password user=spy", since=mark)
    auth_pid = int(re.search(r"pid=(\d+)", line).group(1))
    assert auth_pid in srv.child_pids() and auth_pid not in srv.daemon_pids()


def test_provider_alias(srv):
    """mod_wsgi's documented <AuthnProviderAlias wsgi name> form: the alias's own
    WSGIAuthUserScript (and its application group) apply."""
    mark = srv.log_mark()
    assert get_json(srv, "/aliased/x", basic("u", "pw"))["user"] == "u"
    srv.wait_line(r"WHERENOTE group='aliasgrp'", since=mark)
    assert srv.get("/aliased/x", basic("u", "bad")).status == 401


def test_htaccess_protects_static_file(srv):
    """WSGIAuthUserScript in .htaccess (AllowOverride AuthConfig) guards what Apache serves
    itself, not only WSGI applications."""
    assert srv.get("/ht/page.txt").status == 401
    r = srv.get("/ht/page.txt", basic("spy", "secret"))
    assert r.status == 200 and r.body == b"static page\n"
    assert srv.get("/ht/page.txt", basic("spy", "wrong")).status == 401


def test_missing_script_500(srv):
    mark = srv.log_mark()
    r = srv.get("/missing/x", basic("spy", "secret"))
    assert r.status == 500
    srv.wait_line(r"RWSGI0130", r"no-such-auth\.py", since=mark)


def test_provider_without_script_500(srv):
    mark = srv.log_mark()
    assert srv.get("/nouserscript/x", basic("spy", "secret")).status == 500
    srv.wait_line(r"RWSGI0136", r"WSGIAuthUserScript", since=mark)


def test_group_provider_without_script_denies(srv):
    mark = srv.log_mark()
    assert srv.get("/nogroupscript/x", basic("ed", "edpass")).status == 401
    srv.wait_line(r"RWSGI0136", r"WSGIAuthGroupScript", since=mark)


def test_script_without_function(srv):
    """The script at /reload first lacks check_password (500, RWSGI0131), then gains it:
    auth scripts reload like WSGI scripts (WSGIScriptReloading On)."""
    path = os.path.join(srv.state, "reload_auth.py")
    srv.put(path, "def get_realm_hash(environ, user, realm):\n    return None\n")
    mark = srv.log_mark()
    assert srv.get("/reload/x", basic("spy", "secret")).status == 500
    srv.wait_line(r"RWSGI0131", r"check_password", since=mark)
    rewrite(path, "def check_password(environ, user, password):\n    return password == 'ok'\n")
    assert get_json(srv, "/reload/x", basic("spy", "ok"))["user"] == "spy"
    assert srv.get("/reload/x", basic("spy", "no")).status == 401


RESTRICTED = f"""
WSGIRestrictEmbedded On
WSGIDaemonProcess authr threads=2
WSGIScriptAlias / @APPS@/auth/app.wsgi process-group=authr
<Location /basic>
{BASIC}
    Require valid-user
</Location>
"""


def test_restrict_embedded_still_runs_auth_in_child():
    """WSGIRestrictEmbedded On refuses embedded applications, but Python still starts in the
    Apache children for the auth scripts (as mod_wsgi)."""
    with Apache("auth-restricted", RESTRICTED) as a:
        mark = a.log_mark()
        j = get_json(a, "/basic/x", basic("spy", "secret"))
        assert j["user"] == "spy" and j["pid"] in a.daemon_pids()
        line = a.wait_line(r"AUTHNOTE check_password user=spy", since=mark)
        assert int(re.search(r"pid=(\d+)", line).group(1)) in a.child_pids()
        assert a.get("/basic/x", basic("spy", "bad")).status == 401



RESTRICTED_HTACCESS_ONLY = """
WSGIRestrictEmbedded On
<Directory "@ROOT@/htdocs/ht">
    AllowOverride AuthConfig
</Directory>
"""


def test_restrict_embedded_htaccess_only_script_never_grants():
    """Auth scripts named only in .htaccess do not start Python in the children (as mod_wsgi):
    under WSGIRestrictEmbedded On their provider cannot run, and the request is refused."""
    def prep(a):
        a.put("htdocs/ht/.htaccess", a.subst(HTACCESS))
        a.put("htdocs/ht/page.txt", "static page\n")
    with Apache("auth-restricted-ht", RESTRICTED_HTACCESS_ONLY, prepare=prep) as a:
        mark = a.log_mark()
        r = a.get("/ht/page.txt", basic("spy", "secret"))
        assert r.status == 500 and b"static page" not in r.body
        a.wait_line(r"RWSGI0136", r"Python is not available", since=mark)

# ---- Django's handler -----------------------------------------------------------------------

DJANGO_SETTINGS = """
SECRET_KEY = "auth-test-not-secret"
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": %r}}
USE_TZ = True
# A fast hasher: the test is about the handler, not about PBKDF2 on a busy machine.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
"""

DJANGO_SETUP = """
import django
django.setup()
from django.core.management import call_command
from django.contrib.auth.models import Group, User
call_command("migrate", verbosity=0)
alice = User.objects.create_user("alice", password="alice-pw")
alice.groups.add(Group.objects.create(name="editors"))
User.objects.create_user("carol", password="carol-pw")
User.objects.create_user("dave", password="dave-pw", is_active=False)
"""

DJANGO_CONF = """
WSGIPythonHome "@VENV@"
WSGIScriptAlias / @APPS@/auth/app.wsgi
<Location /dj>
    AuthType Basic
    AuthName "django"
    AuthBasicProvider wsgi
    WSGIAuthUserScript @APPS@/auth/django_auth.wsgi
    Require valid-user
</Location>
<Location /djeditors>
    AuthType Basic
    AuthName "django"
    AuthBasicProvider wsgi
    WSGIAuthUserScript @APPS@/auth/django_auth.wsgi
    WSGIAuthGroupScript @APPS@/auth/django_auth.wsgi
    Require wsgi-group editors
</Location>
"""


def _django_prepare(a):
    site = os.path.join(a.apps, "auth", "djsite")
    os.makedirs(site, exist_ok=True)
    db = os.path.join(a.state, "auth.sqlite3")
    with open(os.path.join(site, "authsettings.py"), "w") as f:
        f.write(DJANGO_SETTINGS % db)
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="authsettings", PYTHONPATH=site)
    subprocess.run([os.path.join(venv_dir(), "bin", "python"), "-c", DJANGO_SETUP],
                   env=env, check=True, timeout=300)


@pytest.fixture(scope="module")
def django_srv():
    with Apache("auth-django", DJANGO_CONF, prepare=_django_prepare) as a:
        yield a


@pytest.mark.slow
def test_django_check_password(django_srv):
    a = django_srv
    assert get_json(a, "/dj/x", basic("alice", "alice-pw"))["user"] == "alice"
    mark = a.log_mark()
    assert a.get("/dj/x", basic("alice", "wrong")).status == 401
    a.wait_line(r"AH01617", r"alice", since=mark)  # False: password mismatch
    mark = a.log_mark()
    assert a.get("/dj/x", basic("nobody", "x")).status == 401
    a.wait_line(r"AH01618", r"nobody", since=mark)  # None: no such user
    assert a.get("/dj/x", basic("dave", "dave-pw")).status == 401  # inactive


@pytest.mark.slow
def test_django_groups_for_user(django_srv):
    a = django_srv
    assert get_json(a, "/djeditors/x", basic("alice", "alice-pw"))["user"] == "alice"
    mark = a.log_mark()
    assert a.get("/djeditors/x", basic("carol", "carol-pw")).status == 401
    a.wait_line(r"RWSGI0135", r"user 'carol'", since=mark)
    assert "RWSGI0132" not in a.error_log() and "Traceback" not in a.error_log()



# ---- mod_ssl ---------------------------------------------------------------------------------

def _auth_env(a, mark):
    line = a.wait_line(r"AUTHENV ", since=mark)
    return json.loads(line.split("AUTHENV ", 1)[1])


def test_mod_ssl_callables_over_tls(tmp_path):
    """With mod_ssl loaded: `mod_ssl.is_https()` and `mod_ssl.var_lookup()` answer from
    mod_ssl's optional functions, over TLS and over plain HTTP on the same server."""
    import ssl
    d = tmp_path / "tls"
    d.mkdir()
    key, cert = str(d / "key.pem"), str(d / "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-subj", "/CN=127.0.0.1", "-days", "2"],
                   check=True, capture_output=True)
    from harness import free_port
    port = free_port()
    conf = f"""
Listen 127.0.0.1:{port}
WSGIScriptAlias / @APPS@/auth/app.wsgi
<Location /basic>
{BASIC}
    Require valid-user
</Location>
<VirtualHost 127.0.0.1:{port}>
    SSLEngine on
    SSLCertificateFile {cert}
    SSLCertificateKeyFile {key}
    WSGIScriptAlias / @APPS@/auth/app.wsgi
</VirtualHost>
"""
    with Apache("auth-ssl", conf, modules=["socache_shmcb", "ssl"]) as a:
        mark = a.log_mark()
        get_json(a, "/basic/x", basic("envdump", "x"))
        plain = _auth_env(a, mark)
        # mod_ssl answers for a plain connection too: '' for unset variables, HTTPS 'off'.
        assert plain["is_https"] == 0 and plain["ssl_protocol"] == "" and plain["ssl_bytes"] == "off"
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        mark = a.log_mark()
        req = urllib.request.Request(f"https://127.0.0.1:{port}/basic/x",
                                     headers=dict(basic("envdump", "x")))
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            assert json.loads(r.read())["user"] == "envdump"
        tls = _auth_env(a, mark)
        assert tls["is_https"] == 1, tls
        assert tls["ssl_protocol"].startswith("TLSv"), tls
        assert tls["ssl_bytes"] == "on", tls  # a bytes name works too
