"""WSGITrustedProxies / WSGITrustedProxyHeaders (both modes: the Apache child rewrites the environ
once and a daemon receives the result), `SetEnv HTTPS`, `CGIPassAuth On`.

The peer address is chosen by the client: 127.0.0.1, 127.0.0.2 (any 127/8 source reaches the
loopback listener) or ::1 (Apache also listens on [::1] when the machine has IPv6). Every check
reads the environ the application saw, from the response body."""
import socket

import pytest

from client import build_request, parse_response, recv_all
from harness import DAEMON, Apache, free_port, serve


def _have_ipv6():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


HAVE_V6 = _have_ipv6()

# name -> the headers one <Location> trusts; together they cover all 15 headers.
SETS = {
    "a": ["X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Server", "X-Forwarded-Port", "X-Script-Name",
          "X-Forwarded-Proto"],
    "b": ["X-Real-IP", "X-Host", "X-Forwarded-Script-Name", "X-Forwarded-SSL"],
    "c": ["X-Client-IP", "X-Scheme"],
    "d": ["X-Forwarded-Scheme"],
    "e": ["X-Forwarded-HTTPS"],
    "f": ["X-HTTPS"],
}

# header -> (category, the variable it sets, the value sent, what that variable becomes)
HEADERS = {
    "X-Forwarded-For": ("client", "REMOTE_ADDR", "203.0.113.9", "203.0.113.9"),
    "X-Client-IP": ("client", "REMOTE_ADDR", "203.0.113.10", "203.0.113.10"),
    "X-Real-IP": ("client", "REMOTE_ADDR", "203.0.113.11", "203.0.113.11"),
    "X-Forwarded-Host": ("host", "HTTP_HOST", "www.example.com", "www.example.com"),
    "X-Host": ("host", "HTTP_HOST", "alt.example.com:8443", "alt.example.com:8443"),
    "X-Forwarded-Server": ("server", "SERVER_NAME", "front.example.com", "front.example.com"),
    "X-Forwarded-Port": ("port", "SERVER_PORT", "443", "443"),
    "X-Script-Name": ("script", "SCRIPT_NAME", "/mounted", "/mounted"),
    "X-Forwarded-Script-Name": ("script", "SCRIPT_NAME", "/mounted2", "/mounted2"),
    "X-Forwarded-Proto": ("scheme", "wsgi.url_scheme", "https", "https"),
    "X-Forwarded-Scheme": ("scheme", "wsgi.url_scheme", "HTTPS", "https"),
    "X-Scheme": ("scheme", "wsgi.url_scheme", "https", "https"),
    "X-Forwarded-HTTPS": ("scheme", "wsgi.url_scheme", "on", "https"),
    "X-Forwarded-SSL": ("scheme", "wsgi.url_scheme", "On", "https"),
    "X-HTTPS": ("scheme", "wsgi.url_scheme", "1", "https"),
}


def cgi(name):
    return "HTTP_" + name.upper().replace("-", "_")


def _locations():
    out = []
    for prefix, proxies in (("t", "127.0.0.1 ::1"), ("u", "10.0.0.1 2001:db8::1 127.0.0.2")):
        for name, headers in SETS.items():
            out.append(f"<Location /{prefix}/{name}>\n    WSGITrustedProxies {proxies}\n"
                       f"    WSGITrustedProxyHeaders {' '.join(headers)}\n</Location>")
    return "\n".join(out)


CONF = f"""
{"Listen [::1]:@PORT@" if HAVE_V6 else ""}
WSGIScriptAlias /t @APPS@/environ.wsgi
WSGIScriptAlias /u @APPS@/environ.wsgi
WSGIScriptAlias /hop @APPS@/environ.wsgi
WSGIScriptAlias /cidr @APPS@/environ.wsgi
WSGIScriptAlias /open @APPS@/environ.wsgi
WSGIScriptAlias /split @APPS@/environ.wsgi
WSGIScriptAlias /scheme @APPS@/environ.wsgi
WSGIScriptAlias /auth @APPS@/environ.wsgi
WSGIScriptAlias /plain @APPS@/environ.wsgi
WSGIScriptAlias /ht @APPS@/htp/env.wsgi
{_locations()}
<Location /hop>
    WSGITrustedProxies 127.0.0.1 ::1
    WSGITrustedProxies 10.0.0.0/8 2001:db8::/32
    WSGITrustedProxyHeaders X-Forwarded-For
</Location>
<Location /cidr>
    WSGITrustedProxies 127.0.0.0/31 ::/127
    WSGITrustedProxyHeaders X-Real-IP
</Location>
<Location /open>
    WSGITrustedProxyHeaders X-Forwarded-For X-Forwarded-Proto
</Location>
# Headers at server level, proxies in a Location: both apply there.
WSGITrustedProxyHeaders X-Forwarded-Host
<Location /split/in>
    WSGITrustedProxies 127.0.0.1
</Location>
<Location /scheme/on>
    SetEnv HTTPS on
</Location>
<Location /scheme/upper>
    SetEnv HTTPS ON
</Location>
<Location /scheme/one>
    SetEnvIf Request_URI "^/scheme/one" HTTPS=1
</Location>
<Location /scheme/yes>
    SetEnv HTTPS yes
</Location>
<Location /scheme/proxy>
    SetEnv HTTPS on
    WSGITrustedProxies 127.0.0.1 ::1
    WSGITrustedProxyHeaders X-Forwarded-Proto
</Location>
<Location /auth/cgi>
    CGIPassAuth On
</Location>
<Location /auth/wsgi>
    WSGIPassAuthorization On
</Location>
<Directory "@APPS@/htp">
    AllowOverride FileInfo
</Directory>
"""

srv = serve("proxies", CONF, files={
    "apps/htp/env.wsgi": ("copy", "environ.wsgi"),
    "apps/htp/.htaccess": "WSGITrustedProxies 127.0.0.1\nWSGITrustedProxyHeaders X-Real-IP\n",
})


def get(srv, path, headers=(), peer="127.0.0.1", host=None):
    """GET `path` from the peer address `peer`; the environ the application saw."""
    if ":" in peer:
        if not HAVE_V6:
            pytest.skip("no IPv6 on this machine")
        s = socket.socket(socket.AF_INET6)
        s.bind((peer, 0))
        s.settimeout(30)
        s.connect(("::1", srv.port))
    else:
        s = socket.socket()
        s.bind((peer, 0))
        s.settimeout(30)
        s.connect(("127.0.0.1", srv.port))
    try:
        head, _ = build_request("GET", path, headers, host=host or f"127.0.0.1:{srv.port}")
        s.sendall(head)
        r = parse_response(recv_all(s))
    finally:
        s.close()
    assert r.status == 200, (r.status, r.body[:300])
    return r.json()


ALL_SPOOFED = [(h, v[2]) for h, v in HEADERS.items()]
PEERS = ["127.0.0.1", "::1"]


def untouched(srv, peer, path_script):
    """The variables no proxy header changed."""
    return {
        "REMOTE_ADDR": peer,
        "HTTP_HOST": f"127.0.0.1:{srv.port}",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": str(srv.port),
        "SCRIPT_NAME": path_script,
        "wsgi.url_scheme": "http",
    }


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("name", sorted(SETS))
def test_untrusted_peer_gets_every_synonym_stripped(srv, name, peer):
    """A peer not in WSGITrustedProxies: nothing is rewritten, and every header of each
    configured category is gone, configured or not (CVE-2022-2255); headers of the other
    categories pass as ordinary headers."""
    e = get(srv, f"/u/{name}/x", ALL_SPOOFED, peer=peer)
    categories = {HEADERS[h][0] for h in SETS[name]}
    for var, want in untouched(srv, peer, "/u").items():
        assert e[var] == want, (var, e[var])
    for h, (cat, _, sent, _) in HEADERS.items():
        if cat in categories:
            assert cgi(h) not in e, f"{h} passed from an untrusted peer"
        else:
            assert e[cgi(h)] == sent, h
    assert "mod_wsgi.mount_point" not in e
    assert e["mod_wsgi.script_name"] == "/u"
    assert "HTTPS" not in e


@pytest.mark.parametrize("peer", PEERS)
@pytest.mark.parametrize("name", sorted(SETS))
def test_trusted_peer_headers_honoured(srv, name, peer):
    """A trusted peer: each configured header sets its variable and stays; its synonyms go."""
    e = get(srv, f"/t/{name}/x", ALL_SPOOFED, peer=peer)
    configured = SETS[name]
    categories = {HEADERS[h][0] for h in configured}
    for h in configured:
        _, var, sent, want = HEADERS[h]
        assert e[var] == want, (h, var, e[var])
        assert e[cgi(h)] == sent, h
    for h, (cat, _, sent, _) in HEADERS.items():
        if h in configured:
            continue
        if cat in categories:
            assert cgi(h) not in e, f"{h}: synonym of a trusted header kept"
        else:
            assert e[cgi(h)] == sent, h
    if "client" not in categories:
        assert e["REMOTE_ADDR"] == peer
    if "scheme" not in categories:
        assert e["wsgi.url_scheme"] == "http"
    if "script" in categories:
        assert e["mod_wsgi.script_name"] == "/t"
        assert e["mod_wsgi.mount_point"] == e["SCRIPT_NAME"]
        assert e["PATH_INFO"] == f"/{name}/x"
    else:
        assert e["SCRIPT_NAME"] == "/t" and "mod_wsgi.mount_point" not in e
    assert "HTTPS" not in e


@pytest.mark.parametrize("peer", PEERS)
def test_scheme_http_from_trusted_proxy(srv, peer):
    e = get(srv, "/t/a", [("X-Forwarded-Proto", "http")], peer=peer)
    assert e["wsgi.url_scheme"] == "http"
    e = get(srv, "/t/e", [("X-Forwarded-HTTPS", "off")], peer=peer)
    assert e["wsgi.url_scheme"] == "http"
    # Absent header: the connection decides (plain HTTP here).
    e = get(srv, "/t/a", [], peer=peer)
    assert e["wsgi.url_scheme"] == "http" and e["REMOTE_ADDR"] == peer


def test_multi_hop_forwarded_for(srv):
    """X-Forwarded-For is walked right to left through trusted hops (10/8 here): REMOTE_ADDR is
    the first untrusted address; the spoofed part left of it is dropped from the header."""
    xff = "6.6.6.6, 198.51.100.7, 203.0.113.9, 10.1.2.3, 10.9.9.9"
    e = get(srv, "/hop", [("X-Forwarded-For", xff)])
    assert e["REMOTE_ADDR"] == "203.0.113.9"
    assert e["HTTP_X_FORWARDED_FOR"] == "203.0.113.9, 10.1.2.3, 10.9.9.9"
    # Empty list elements and blanks are skipped.
    e = get(srv, "/hop", [("X-Forwarded-For", " , 203.0.113.9 ,, 10.1.2.3 ,")])
    assert e["REMOTE_ADDR"] == "203.0.113.9"
    assert e["HTTP_X_FORWARDED_FOR"] == "203.0.113.9, 10.1.2.3"
    # Every hop trusted: the leftmost.
    e = get(srv, "/hop", [("X-Forwarded-For", "10.0.0.7, 10.0.0.8")])
    assert e["REMOTE_ADDR"] == "10.0.0.7"
    # The rightmost entry untrusted: it is the client, and all the header keeps.
    e = get(srv, "/hop", [("X-Forwarded-For", "10.0.0.7, 6.6.6.6, 203.0.113.9")])
    assert e["REMOTE_ADDR"] == "203.0.113.9" and e["HTTP_X_FORWARDED_FOR"] == "203.0.113.9"
    # A peer outside the list: the header is dropped.
    e = get(srv, "/hop", [("X-Forwarded-For", xff)], peer="127.0.0.2")
    assert e["REMOTE_ADDR"] == "127.0.0.2" and "HTTP_X_FORWARDED_FOR" not in e


def test_multi_hop_forwarded_for_ipv6(srv):
    xff = "2001:db9::66, 2001:db9::5, 2001:db8::7, 10.1.1.1"
    e = get(srv, "/hop", [("X-Forwarded-For", xff)], peer="::1")
    assert e["REMOTE_ADDR"] == "2001:db9::5"
    assert e["HTTP_X_FORWARDED_FOR"] == "2001:db9::5, 2001:db8::7, 10.1.1.1"


@pytest.mark.parametrize("peer,trusted", [("127.0.0.1", True), ("127.0.0.2", False), ("::1", True)])
def test_cidr_ranges(srv, peer, trusted):
    """127.0.0.0/31 holds 127.0.0.1 but not 127.0.0.2; ::/127 holds ::1."""
    e = get(srv, "/cidr", [("X-Real-IP", "203.0.113.5")], peer=peer)
    if trusted:
        assert e["REMOTE_ADDR"] == "203.0.113.5" and e["HTTP_X_REAL_IP"] == "203.0.113.5"
    else:
        assert e["REMOTE_ADDR"] == peer and "HTTP_X_REAL_IP" not in e


def test_no_trusted_proxies_trusts_every_peer(srv):
    """Headers without WSGITrustedProxies (mod_wsgi): every peer is trusted; X-Forwarded-For's
    first element is the client and the header is passed as sent."""
    e = get(srv, "/open", [("X-Forwarded-For", "203.0.113.9, 10.0.0.1"), ("X-Forwarded-Proto", "https"),
                           ("X-Forwarded-SSL", "off")], peer="127.0.0.2")
    assert e["REMOTE_ADDR"] == "203.0.113.9"
    assert e["HTTP_X_FORWARDED_FOR"] == "203.0.113.9, 10.0.0.1"
    assert e["wsgi.url_scheme"] == "https"
    assert "HTTP_X_FORWARDED_SSL" not in e


def test_server_headers_with_location_proxies(srv):
    """WSGITrustedProxyHeaders at server level applies everywhere; the proxies of a Location
    apply there: trusted inside (127.0.0.1), everyone trusted elsewhere (no proxies)."""
    h = [("X-Forwarded-Host", "www.example.com"), ("X-Host", "spoof.example")]
    e = get(srv, "/split/in", h)
    assert e["HTTP_HOST"] == "www.example.com" and "HTTP_X_HOST" not in e
    e = get(srv, "/split/in", h, peer="127.0.0.2")
    assert e["HTTP_HOST"] == f"127.0.0.1:{srv.port}"
    assert "HTTP_X_FORWARDED_HOST" not in e and "HTTP_X_HOST" not in e
    e = get(srv, "/plain", h, peer="127.0.0.2")
    assert e["HTTP_HOST"] == "www.example.com"


def test_htaccess(srv):
    """FileInfo overrides: the directives work in .htaccess."""
    h = [("X-Real-IP", "203.0.113.77"), ("X-Client-IP", "6.6.6.6")]
    e = get(srv, "/ht", h)
    assert e["REMOTE_ADDR"] == "203.0.113.77" and "HTTP_X_CLIENT_IP" not in e
    e = get(srv, "/ht", h, peer="127.0.0.2")
    assert e["REMOTE_ADDR"] == "127.0.0.2" and "HTTP_X_REAL_IP" not in e


def test_without_directives_headers_pass_untouched(srv):
    e = get(srv, "/plain", ALL_SPOOFED)
    # /plain is under the server-level X-Forwarded-Host (every peer trusted): host category only.
    assert e["REMOTE_ADDR"] == "127.0.0.1" and e["wsgi.url_scheme"] == "http"
    for h, (cat, _, sent, _) in HEADERS.items():
        if cat != "host":
            assert e[cgi(h)] == sent, h


@pytest.mark.parametrize("path,scheme", [
    ("/scheme/on", "https"),
    ("/scheme/upper", "https"),
    ("/scheme/one", "https"),
    ("/scheme/yes", "http"),   # mod_wsgi reads only On (any case) and 1
    ("/plain", "http"),
])
def test_setenv_https(srv, path, scheme):
    e = get(srv, path)
    assert e["wsgi.url_scheme"] == scheme
    assert "HTTPS" not in e
    assert e["REQUEST_SCHEME"] == "http"  # Apache's own view of the connection


def test_trusted_scheme_header_beats_setenv_https(srv):
    assert get(srv, "/scheme/proxy", [("X-Forwarded-Proto", "http")])["wsgi.url_scheme"] == "http"
    assert get(srv, "/scheme/proxy")["wsgi.url_scheme"] == "https"
    # Untrusted peer: the header is ignored (and dropped), SetEnv decides.
    e = get(srv, "/scheme/proxy", [("X-Forwarded-Proto", "http")], peer="127.0.0.2")
    assert e["wsgi.url_scheme"] == "https" and "HTTP_X_FORWARDED_PROTO" not in e


AUTH = [("Authorization", "Bearer tok-1"), ("Proxy-Authorization", "Basic eDp5")]


def test_cgi_pass_auth(srv):
    """CGIPassAuth On exposes both authorization headers (as Apache's CGI and mod_wsgi);
    WSGIPassAuthorization On only Authorization; neither: none."""
    e = get(srv, "/auth/cgi", AUTH)
    assert e["HTTP_AUTHORIZATION"] == "Bearer tok-1"
    assert e["HTTP_PROXY_AUTHORIZATION"] == "Basic eDp5"
    e = get(srv, "/auth/wsgi", AUTH)
    assert e["HTTP_AUTHORIZATION"] == "Bearer tok-1"
    assert "HTTP_PROXY_AUTHORIZATION" not in e
    e = get(srv, "/auth/none", AUTH)
    assert "HTTP_AUTHORIZATION" not in e and "HTTP_PROXY_AUTHORIZATION" not in e


def test_daemon_sees_the_rewrite(srv):
    """Daemon pass: the values above come from the daemon process (its pid is not the Apache
    child's), so the rewrite travelled with the request."""
    e = get(srv, "/t/a", [("X-Forwarded-For", "203.0.113.9")])
    assert e["REMOTE_ADDR"] == "203.0.113.9"
    assert (e["mod_wsgi.process_group"] != "") == DAEMON


@pytest.fixture(scope="module")
def tls():
    """Apache terminating TLS itself (mod_ssl) on a second port, as in a proxy → TLS → Apache
    set-up."""
    import shutil
    import ssl
    import subprocess
    import tempfile
    if not shutil.which("openssl"):
        pytest.skip("no openssl binary")
    tmp = tempfile.mkdtemp(prefix="wsgi_rs-proxytls-", dir="/tmp")
    key, cert = f"{tmp}/key.pem", f"{tmp}/cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-subj", "/CN=127.0.0.1", "-days", "2"], check=True, capture_output=True)
    port = free_port()
    conf = f"""
Listen 127.0.0.1:{port}
<VirtualHost 127.0.0.1:{port}>
    SSLEngine on
    SSLCertificateFile {cert}
    SSLCertificateKeyFile {key}
    WSGIScriptAlias /tls @APPS@/environ.wsgi
    WSGIScriptAlias /proxied @APPS@/environ.wsgi
    <Location /proxied>
        WSGITrustedProxies 127.0.0.1
        WSGITrustedProxyHeaders X-Forwarded-Proto
    </Location>
    <Location /tls/off>
        SetEnv HTTPS off
    </Location>
</VirtualHost>
"""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with Apache("proxytls", conf, modules=["socache_shmcb", "ssl"]) as a:
            yield port, ctx
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def tls_get(tls, path, headers=(), peer="127.0.0.1"):
    port, ctx = tls
    raw = socket.socket()
    raw.bind((peer, 0))
    raw.settimeout(30)
    raw.connect(("127.0.0.1", port))
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        head, _ = build_request("GET", path, headers, host=f"127.0.0.1:{port}")
        s.sendall(head)
        r = parse_response(recv_all(s))
    assert r.status == 200, (r.status, r.body[:300])
    return r.json()


def test_tls_connection_scheme(tls):
    e = tls_get(tls, "/tls/x")
    assert e["wsgi.url_scheme"] == "https" and e["REQUEST_SCHEME"] == "https" and "HTTPS" not in e
    # SetEnv HTTPS off does not hide the connection's TLS (mod_wsgi asks mod_ssl afterwards).
    assert tls_get(tls, "/tls/off")["wsgi.url_scheme"] == "https"


def test_trusted_scheme_header_beats_tls(tls):
    """mod_wsgi 6.0: a trusted proxy's scheme header wins over Apache's own TLS connection
    (a proxy that got the client over plain HTTP and speaks TLS to Apache)."""
    e = tls_get(tls, "/proxied", [("X-Forwarded-Proto", "http")])
    assert e["wsgi.url_scheme"] == "http" and e["HTTP_X_FORWARDED_PROTO"] == "http"
    assert tls_get(tls, "/proxied")["wsgi.url_scheme"] == "https"
    # From an untrusted peer the header is dropped and the connection decides.
    e = tls_get(tls, "/proxied", [("X-Forwarded-Proto", "http")], peer="127.0.0.2")
    assert e["wsgi.url_scheme"] == "https" and "HTTP_X_FORWARDED_PROTO" not in e
