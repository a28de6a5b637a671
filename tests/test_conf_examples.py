"""Every example in conf-examples/ loads: each *.conf passes `apache2 -t` as written, with only
its site paths (/srv, /home), its ports, its users (the test's run user) and its certificate
moved to the test's own; embedded.conf, daemon.conf and https-http2.conf (TLS, HTTP/2 through
ALPN) also serve conf-examples/hello.wsgi. conf-examples/balancer/ is run by
test_scaling_out.py. Embedded pass only: the examples choose their own modes."""
import os
import re
import socket
import ssl
import subprocess

import pytest

from harness import IS_ROOT, REPO_DIR, RUN_USER, Apache, free_port

pytestmark = [pytest.mark.embedded_only, pytest.mark.event_only("configuration as written")]

EXAMPLES = os.path.join(REPO_DIR, "conf-examples")
NAMES = sorted(f for f in os.listdir(EXAMPLES) if f.endswith(".conf"))
# What the examples use beyond the harness's modules (Debian enables these with a2enmod).
MODULES = ("ssl", "socache_shmcb", "http2", "rewrite", "auth_digest", "authz_groupfile")
HELLO = open(os.path.join(EXAMPLES, "hello.wsgi")).read()


def adapt(text, tls_port):
    """The example as a test snippet: the harness loads the module and listens on @PORT@."""
    out = ["Define APACHE_LOG_DIR @ROOT@/logs", "Define APACHE_RUN_DIR @ROOT@/run"]
    for line in text.splitlines():
        if re.match(r"\s*LoadModule wsgi_rs_module\b", line) or re.match(r"\s*Listen\b", line):
            continue
        line = line.replace("*:443", f"127.0.0.1:{tls_port}").replace("*:80", "127.0.0.1:@PORT@")
        line = re.sub(r"(?<![\w@])/(srv|home)/", r"@ROOT@/\1/", line)
        line = re.sub(r"(python-home=|WSGIPythonHome\s+)\S+", r"\1@VENV@", line)
        line = line.replace("/etc/ssl/certs/www.example.com.pem", "@ROOT@/tls/cert.pem")
        line = line.replace("/etc/ssl/private/www.example.com.key", "@ROOT@/tls/key.pem")
        users = f"user={RUN_USER} group={RUN_USER}" if IS_ROOT else ""
        line = re.sub(r"\buser=\S+(\s+group=\S+)?", users, line)
        out.append(line)
    if "SSLEngine" in text:
        out.insert(0, f"Listen 127.0.0.1:{tls_port}")
    return "\n".join(out) + "\n"


def tls_files(a):
    os.makedirs(os.path.join(a.root, "tls"), exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=www.example.com", "-keyout", os.path.join(a.root, "tls/key.pem"),
                    "-out", os.path.join(a.root, "tls/cert.pem")],
                   check=True, capture_output=True)


def site(a):
    """hello.wsgi wherever an example mounts app.wsgi."""
    for d in ("site", "shop"):
        a.put(f"srv/{d}/app.wsgi", HELLO)
    tls_files(a)


def example(name, tls_port):
    with open(os.path.join(EXAMPLES, name)) as f:
        return adapt(f.read(), tls_port)


@pytest.mark.parametrize("name", NAMES)
def test_example_passes_configtest(name):
    a = Apache("example-" + name[:-5], example(name, free_port()), modules=MODULES, prepare=site)
    try:
        rc, out = a.configtest()
        assert rc == 0 and "Syntax OK" in out, f"{name}:\n{out}"
    finally:
        a.cleanup()


def _expect_hello(body):
    assert body.startswith(b"Hello from mod_wsgi_rs!\n"), body
    assert b"GET SCRIPT_NAME='' PATH_INFO='/x'" in body, body


@pytest.mark.parametrize("name", ["embedded.conf", "daemon.conf"])
def test_example_serves(name):
    with Apache("serve-" + name[:-5], example(name, free_port()), modules=MODULES, prepare=site) as a:
        r = a.get("/x")
        assert r.status == 200, (r.status, a.log_tail())
        _expect_hello(r.body)
        if name == "daemon.conf":
            assert a.daemon_pids(), "served by the example's daemon group"


def _tls(port, alpn):
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.set_alpn_protocols(alpn)
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30),
                        server_hostname="www.example.com")
    return s


def test_https_http2_example_serves_over_tls_and_offers_h2():
    tls_port = free_port()
    with Apache("serve-https", example("https-http2.conf", tls_port), modules=MODULES,
                prepare=site) as a:
        with _tls(tls_port, ["h2", "http/1.1"]) as s:
            assert s.selected_alpn_protocol() == "h2", "HTTP/2 offered through ALPN"
        with _tls(tls_port, ["http/1.1"]) as s:
            s.sendall(b"GET /x HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        _expect_hello(body)
        plain = a.get("/x")
        assert plain.status == 301, plain.status
        assert plain.header("location") == "https://www.example.com/x"
