"""`wsgi-express` end to end, with a real Apache: start-server serves a script (daemon mode, the
safe timeouts), a Flask app, a Django project as a module with static files served by Apache,
HTTPS and HTTP/2 (ALPN) with a self-signed certificate, embedded mode, a static site; SIGTERM
and Ctrl-C stop everything (no process, no socket left); setup-server's config and apachectl;
module-config / module-location / install-module; and the one-line errors for a busy port, a
missing script, an unreadable virtualenv and bad options.

wsgi-express writes its own httpd.conf, so these tests do not use the harness's Apache (nor its
daemon/prefork variants): the file runs in the embedded pass only."""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

from client import http_request
from harness import (APACHE_BIN, APPS_SRC, IS_ROOT, MODULE_SO, REPO_DIR, RUN_USER, free_port,
                     make_world_readable, proc_cmdline, proc_status, venv_dir)

pytestmark = [pytest.mark.embedded_only,
              pytest.mark.event_only(reason="wsgi-express always configures the event MPM")]

EXPRESS = os.environ.get("WSGI_EXPRESS", os.path.join(REPO_DIR, "target", "release", "wsgi-express"))

APP = r"""
import json, os, sys


def application(environ, start_response):
    body = json.dumps({
        "hello": "from wsgi-express",
        "pid": os.getpid(), "uid": os.getuid(), "cwd": os.getcwd(),
        "scheme": environ["wsgi.url_scheme"], "protocol": environ["SERVER_PROTOCOL"],
        "group": environ.get("mod_wsgi.process_group"), "prefix": sys.prefix,
        "script_name": environ["SCRIPT_NAME"], "path_info": environ["PATH_INFO"],
        "version": VERSION,
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
"""


def app_source(version=1):
    return APP + f"\nVERSION = {version}\n"


def run_user_uid():
    if not IS_ROOT:
        return os.getuid()
    import pwd
    return pwd.getpwnam(RUN_USER).pw_uid


@pytest.fixture
def stage():
    """A world-readable directory with a copy of the fixture apps (the run user must read it)."""
    d = tempfile.mkdtemp(prefix="wsgi_rs-express-", dir="/tmp")
    shutil.copytree(APPS_SRC, os.path.join(d, "apps"),
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    with open(os.path.join(d, "app.wsgi"), "w") as f:
        f.write(app_source())
    os.makedirs(os.path.join(d, "state"))
    make_world_readable(d, writable=(os.path.join(d, "state"),))
    yield d
    if not os.environ.get("WSGI_RS_KEEP"):
        shutil.rmtree(d, ignore_errors=True)


def env(**extra):
    e = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp",
         "WSGI_EXPRESS_MODULE": MODULE_SO}
    e.update(extra)
    return e


def run_express(*args, cwd=None, timeout=60, **extra_env):
    """wsgi-express run to completion: (returncode, stdout, stderr)."""
    assert os.path.exists(EXPRESS), f"wsgi-express not built: {EXPRESS} (make build)"
    p = subprocess.run([EXPRESS, *args], cwd=cwd, env=env(**extra_env), capture_output=True,
                       text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def descendants(pid):
    """Every process below `pid` (children, grandchildren...)."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_status(int(d))
            if st:
                kids.setdefault(st["PPid"], []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def alive(pid):
    st = proc_status(pid)
    return bool(st) and not st.get("State", "").startswith("Z")


class Express:
    """One `wsgi-express start-server` in the background, in its own session (a terminal's
    Ctrl-C is a SIGINT to the process group: see ctrl_c())."""

    def __init__(self, stage, *args, cwd=None, port=None, **extra_env):
        self.stage = stage
        self.port = port or free_port()
        self.root = os.path.join(stage, "server-root")
        self.args = ["start-server", *args, "--port", str(self.port), "--server-root", self.root]
        self.out_path = os.path.join(stage, "express.out")
        self.err_path = os.path.join(stage, "express.err")
        self.cwd = cwd or stage
        self.extra_env = extra_env
        self.proc = None

    def start(self, timeout=90, path="/"):
        assert os.path.exists(EXPRESS), f"wsgi-express not built: {EXPRESS} (make build)"
        self.out = open(self.out_path, "ab")
        self.err = open(self.err_path, "ab")
        self.proc = subprocess.Popen([EXPRESS, *self.args], cwd=self.cwd,
                                     env=env(**self.extra_env), stdout=self.out,
                                     stderr=self.err, start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"wsgi-express exited ({self.proc.returncode}):\n"
                                     + self.stderr())
            try:
                r = http_request(self.port, "GET", path, timeout=10)
                if r.status < 500:
                    return self
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError("wsgi-express did not answer in time:\n" + self.stderr())

    def stderr(self):
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def stdout(self):
        with open(self.out_path, errors="replace") as f:
            return f.read()

    def get(self, path, **kw):
        return http_request(self.port, "GET", path, **kw)

    def apache_pid(self):
        with open(os.path.join(self.root, "httpd.pid")) as f:
            return int(f.read().strip())

    def conf(self):
        with open(os.path.join(self.root, "httpd.conf")) as f:
            return f.read()

    def ctrl_c(self):
        """What a terminal's Ctrl-C does: SIGINT to wsgi-express's process group."""
        os.killpg(self.proc.pid, signal.SIGINT)

    def wait(self, timeout=60):
        try:
            return self.proc.wait(timeout)
        finally:
            self.out.close()
            self.err.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def __enter__(self):
        return self if self.proc else self.start()

    def __exit__(self, *exc):
        self.stop()


def assert_stops_clean(x, stop):
    """`stop(x)` ends wsgi-express with status 0, and Apache, its children and the daemon
    processes are gone, and no socket or pid file is left in the server root."""
    parent = x.apache_pid()
    pids = [parent] + descendants(parent)
    assert len(pids) >= 3, f"Apache parent, worker child, spawner/daemon expected: {pids}"
    stop(x)
    rc = x.wait(60)
    assert rc == 0, x.stderr()
    deadline = time.time() + 10
    while time.time() < deadline and any(alive(p) for p in pids):
        time.sleep(0.2)
    left = [p for p in pids if alive(p)]
    assert not left, f"processes left after stop: {left}"
    files = os.listdir(x.root)
    assert not [f for f in files if f.endswith(".sock")], files
    assert "httpd.pid" not in files, files
    assert "stopped" in x.stderr().splitlines()[-1]


# ----- start-server ----------------------------------------------------------------------------


@pytest.mark.smoke
def test_hello_in_daemon_mode_then_sigterm_stops_everything(stage):
    x = Express(stage, os.path.join(stage, "app.wsgi"), "--access-log")
    with x:
        r = x.get("/some/path?q=1")
        assert r.status == 200, r.body
        j = r.json()
        assert j["hello"] == "from wsgi-express"
        assert j["path_info"] == "/some/path" and j["script_name"] == ""
        # Daemon mode: the daemon group, not an Apache worker, as the run user.
        assert j["group"] == "express"
        assert j["pid"] in descendants(x.apache_pid())
        assert proc_cmdline(j["pid"]) == "(wsgi:express)"
        assert j["uid"] == run_user_uid()
        # The working directory defaults to where wsgi-express was started.
        assert os.path.realpath(j["cwd"]) == os.path.realpath(stage)
        conf = x.conf()
        assert "WSGIRestrictEmbedded On" in conf
        for opt in ("queue-timeout=45", "socket-timeout=60", "connect-timeout=15",
                    "request-timeout=60", "startup-timeout=15", "deadlock-timeout=60",
                    "graceful-timeout=15", "shutdown-timeout=5", "threads=5"):
            assert opt in conf, opt
        # Logs go to the terminal: the access log to stdout, Apache's notices to stderr.
        deadline = time.time() + 10
        while "GET /some/path?q=1" not in x.stdout() and time.time() < deadline:
            time.sleep(0.2)
        assert '"GET /some/path?q=1 HTTP/1.1" 200' in x.stdout()
        assert "resuming normal operations" in x.stderr()
        assert_stops_clean(x, lambda x: x.proc.send_signal(signal.SIGTERM))


def test_ctrl_c_stops_everything(stage):
    x = Express(stage, "app.wsgi", "--processes", "2", "--threads", "3")
    with x:
        assert x.get("/").json()["hello"] == "from wsgi-express"
        assert "processes=2" in x.conf() and "threads=3" in x.conf()
        assert_stops_clean(x, Express.ctrl_c)


def test_logs_reach_a_socket_as_under_systemd(stage):
    """stdout and stderr are sockets (journald gives services that): Apache cannot reopen them
    as /dev/stdout and /dev/stderr, so wsgi-express relays its logs."""
    out_a, out_b = socket.socketpair()
    err_a, err_b = socket.socketpair()
    port = free_port()
    p = subprocess.Popen([EXPRESS, "start-server", "app.wsgi", "--access-log", "--port", str(port),
                          "--server-root", os.path.join(stage, "server-root")],
                         cwd=stage, env=env(), stdout=out_b.fileno(), stderr=err_b.fileno(),
                         start_new_session=True)
    out_b.close()
    err_b.close()
    try:
        deadline = time.time() + 90
        while True:
            assert p.poll() is None, err_a.recv(65536).decode(errors="replace")
            try:
                if http_request(port, "GET", "/via-socket", timeout=10).status == 200:
                    break
            except OSError:
                pass
            assert time.time() < deadline, "no answer"
            time.sleep(0.3)
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(60) == 0

    def drain(s):
        s.settimeout(10)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        return data.decode(errors="replace")
    out, err = drain(out_a), drain(err_a)
    assert '"GET /via-socket HTTP/1.1" 200' in out
    assert "resuming normal operations" in err and "caught SIGTERM" in err
    assert err.rstrip().endswith("wsgi-express: stopped")


def test_flask_app_under_a_mount_point(stage):
    flask_dir = os.path.join(stage, "apps", "flask_app")
    x = Express(stage, "flask_site.wsgi", "--python-home", venv_dir(), "--mount-point", "/flask",
                cwd=flask_dir)
    with x.start(path="/flask/"):
        r = x.get("/flask/")
        assert r.status == 200 and r.body == b"hello from flask"
        j = x.get("/flask/json?a=1").json()
        assert j["script_root"] == "/flask" and j["path"] == "/json" and j["args"] == {"a": "1"}
        info = x.get("/flask/info").json()
        assert os.path.realpath(info["prefix"]) == os.path.realpath(venv_dir())
        # Outside the mount point: Apache's own answer (no DocumentRoot is granted).
        assert x.get("/").status == 403


@pytest.mark.slow
def test_django_as_a_module_with_static_files_from_apache(stage):
    site = os.path.join(stage, "apps", "django_site")
    static = os.path.join(site, "static")
    os.makedirs(static)
    css = b"body { color: #123456; } /* served by Apache */\n"
    with open(os.path.join(static, "site.css"), "wb") as f:
        f.write(css)
    make_world_readable(static)
    # The venv comes from $VIRTUAL_ENV (an activated venv), not from --python-home.
    x = Express(stage, "--application-type", "module", "testsite.wsgi",
                "--url-alias", "/static", "./static", cwd=site,
                VIRTUAL_ENV=venv_dir(), DJANGO_TEST_STATE=os.path.join(stage, "state"))
    with x.start(path="/hello/"):
        r = x.get("/hello/")
        assert r.status == 200, r.body[:500]
        j = r.json()
        assert j["path"] == "/hello/" and j["reverse"] == "/form/"
        assert os.path.realpath(j["prefix"]) == os.path.realpath(venv_dir())
        form = x.get("/form/")
        assert form.status == 200 and b"csrfmiddlewaretoken" in form.body
        s = x.get("/static/site.css")
        assert s.status == 200 and s.body == css
        assert s.header("Content-Type").startswith("text/css")
        # A file Apache served: ETag and Last-Modified, which the Django views do not send.
        assert s.header("ETag") and s.header("Last-Modified")
        assert x.get("/hello/").header("ETag") is None
        with open(os.path.join(x.root, "wsgi-module.wsgi")) as f:
            assert 'import_module("testsite.wsgi")' in f.read()


def make_certificate(d):
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                        "/CN=localhost", "-days", "2", "-keyout", key, "-out", cert],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return cert, key


def tls_connect(port, alpn):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(alpn)
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    return ctx.wrap_socket(sock, server_hostname="localhost")


def https_get(port, path):
    with tls_connect(port, ["http/1.1"]) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


def h2_get(port, path):
    import h2.config
    import h2.connection
    import h2.events
    with tls_connect(port, ["h2", "http/1.1"]) as s:
        assert s.selected_alpn_protocol() == "h2"
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                     header_encoding="utf-8"))
        conn.initiate_connection()
        conn.send_headers(1, [(":method", "GET"), (":scheme", "https"),
                              (":authority", f"localhost:{port}"), (":path", path)],
                          end_stream=True)
        s.sendall(conn.data_to_send())
        headers, body, done = {}, b"", False
        while not done:
            data = s.recv(65536)
            if not data:
                break
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    headers = dict(ev.headers)
                elif isinstance(ev, h2.events.DataReceived):
                    body += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                    done = True
            s.sendall(conn.data_to_send())
    return headers, body


def test_https_and_http2_with_a_self_signed_certificate(stage):
    cert, key = make_certificate(stage)
    https_port = free_port()
    x = Express(stage, "app.wsgi", "--https-port", str(https_port), "--ssl-certificate-file",
                cert, "--ssl-certificate-key-file", key, "--enable-http2")
    with x:
        assert x.get("/").json()["scheme"] == "http"
        head, body = https_get(https_port, "/tls")
        assert head.startswith("HTTP/1.1 200"), head
        j = json.loads(body)
        assert j["scheme"] == "https" and j["path_info"] == "/tls" and j["group"] == "express"
        headers, body = h2_get(https_port, "/over-h2")
        assert headers[":status"] == "200", headers
        j = json.loads(body)
        assert j["protocol"] == "HTTP/2.0" and j["scheme"] == "https"
        assert j["path_info"] == "/over-h2"


def test_embedded_mode(stage):
    x = Express(stage, "app.wsgi", "--embedded-mode")
    with x:
        j = x.get("/").json()
        assert j["group"] == ""
        assert j["pid"] in descendants(x.apache_pid())
        assert "WSGIDaemonProcess" not in x.conf()
        assert "WSGIRestrictEmbedded" not in x.conf()


def test_static_application_type(stage):
    site = os.path.join(stage, "site")
    os.makedirs(site)
    with open(os.path.join(site, "index.html"), "w") as f:
        f.write("<p>static site</p>\n")
    make_world_readable(site)
    with Express(stage, "--application-type", "static", site) as x:
        r = x.get("/")
        assert r.status == 200 and r.body == b"<p>static site</p>\n"
        assert "wsgi_rs_module" not in x.conf()


def test_reload_on_changes(stage):
    script = os.path.join(stage, "app.wsgi")
    with Express(stage, script, "--reload-on-changes") as x:
        assert x.get("/").json()["version"] == 1
        old = os.stat(script).st_mtime
        with open(script, "w") as f:
            f.write(app_source(2))
        os.utime(script, (old + 10, old + 10))
        deadline = time.time() + 30
        while time.time() < deadline:
            r = x.get("/")
            if r.status == 200 and r.json()["version"] == 2:
                break
            time.sleep(0.3)
        assert x.get("/").json()["version"] == 2


# ----- setup-server and the module commands ----------------------------------------------------


def test_setup_server_writes_a_config_and_apachectl_that_work(stage):
    root = os.path.join(stage, "server-root")
    port = free_port()
    rc, out, err = run_express("setup-server", "app.wsgi", "--port", str(port),
                               "--server-root", root, cwd=stage)
    assert rc == 0, err
    conf = os.path.join(root, "httpd.conf")
    assert out.strip() == conf
    ctl = os.path.join(root, "apachectl")
    p = subprocess.run([ctl, "configtest"], capture_output=True, text=True, timeout=60, env=env())
    assert p.returncode == 0 and "Syntax OK" in p.stderr, p.stderr
    p = subprocess.run([ctl, "start"], capture_output=True, text=True, timeout=60, env=env())
    assert p.returncode == 0, p.stderr
    try:
        deadline = time.time() + 60
        while True:
            try:
                r = http_request(port, "GET", "/", timeout=10)
                if r.status == 200:
                    break
            except OSError:
                pass
            assert time.time() < deadline, "apachectl start: no answer"
            time.sleep(0.3)
        assert r.json()["group"] == "express"
    finally:
        subprocess.run([ctl, "stop"], capture_output=True, timeout=60, env=env())
        deadline = time.time() + 30
        while os.path.exists(os.path.join(root, "httpd.pid")) and time.time() < deadline:
            time.sleep(0.2)
    assert not os.path.exists(os.path.join(root, "httpd.pid"))
    # Detached from the terminal, Apache logs into the server root.
    with open(os.path.join(root, "error_log")) as f:
        assert "resuming normal operations" in f.read()


def test_start_server_setup_only_starts_nothing(stage):
    root = os.path.join(stage, "server-root")
    rc, out, err = run_express("start-server", "app.wsgi", "--setup-only", "--server-root", root,
                               cwd=stage)
    assert rc == 0, err
    assert os.path.exists(os.path.join(root, "apachectl"))
    assert not os.path.exists(os.path.join(root, "httpd.pid"))


def test_module_config_lines_load(stage):
    rc, out, err = run_express("module-config", VIRTUAL_ENV=venv_dir())
    assert rc == 0, err
    assert out.splitlines() == [f'LoadModule wsgi_rs_module "{MODULE_SO}"',
                                f'WSGIPythonHome "{venv_dir()}"']
    rc, plain, err = run_express("module-config")
    assert plain.splitlines() == out.splitlines()[:1]
    conf = os.path.join(stage, "t.conf")
    with open(conf, "w") as f:
        f.write(f"ServerRoot {stage}\nListen 127.0.0.1:{free_port()}\nServerName localhost\n"
                "LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so\n"
                "LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so\n"
                f"PidFile {stage}/t.pid\nErrorLog /dev/stderr\n" + out)
    p = subprocess.run([APACHE_BIN, "-t", "-f", conf], capture_output=True, text=True, timeout=60,
                       env=env())
    assert p.returncode == 0, p.stderr


def test_module_location_and_install_module(stage):
    rc, out, err = run_express("module-location")
    assert rc == 0 and out.strip() == MODULE_SO, err
    dest = os.path.join(stage, "modules")
    os.makedirs(dest)
    rc, out, err = run_express("install-module", "--modules-directory", dest)
    assert rc == 0, err
    installed = os.path.join(dest, "mod_wsgi_rs.so")
    with open(installed, "rb") as a, open(MODULE_SO, "rb") as b:
        assert a.read() == b.read()
    assert out.splitlines() == [f'LoadModule wsgi_rs_module "{installed}"']
    rc, out, err = run_express("install-module", "--modules-directory", dest + "/missing")
    assert rc == 1 and err.strip().count("\n") == 0 and "does not exist" in err


# ----- errors: one clear line, nonzero status, no Apache --------------------------------------


def one_line_error(rc, err, *needles):
    assert rc != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("wsgi-express: error: "), lines
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def test_port_in_use(stage):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        rc, out, err = run_express("start-server", "app.wsgi", "--port", str(port),
                                   "--server-root", os.path.join(stage, "r"), cwd=stage)
    one_line_error(rc, err, f"--port {port}", "already in use")
    assert not os.path.exists(os.path.join(stage, "r"))


def test_https_port_in_use(stage):
    cert, key = make_certificate(stage)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        rc, out, err = run_express("start-server", "app.wsgi", "--port", str(free_port()),
                                   "--https-port", str(port), "--ssl-certificate-file", cert,
                                   "--ssl-certificate-key-file", key, cwd=stage)
    one_line_error(rc, err, f"--https-port {port}", "already in use")


def test_missing_script(stage):
    rc, out, err = run_express("start-server", "nope.wsgi", "--port", str(free_port()), cwd=stage)
    one_line_error(rc, err, os.path.join(stage, "nope.wsgi"), "does not exist")


def test_unreadable_or_missing_venv(stage):
    venv = os.path.join(stage, "venv")
    os.makedirs(os.path.join(venv, "lib"))
    open(os.path.join(venv, "pyvenv.cfg"), "w").close()
    os.chmod(venv, 0)
    try:
        rc, out, err = run_express("start-server", "app.wsgi", "--port", str(free_port()),
                                   "--python-home", venv, cwd=stage)
        who = f"user {RUN_USER}" if IS_ROOT else "this user"
        one_line_error(rc, err, f"--python-home {venv} is not readable by {who}")
    finally:
        os.chmod(venv, 0o755)
    rc, out, err = run_express("start-server", "app.wsgi", "--port", str(free_port()), cwd=stage,
                               VIRTUAL_ENV=os.path.join(stage, "no-venv"))
    one_line_error(rc, err, "($VIRTUAL_ENV)", "no such directory")
    rc, out, err = run_express("start-server", "app.wsgi", "--port", str(free_port()), cwd=stage,
                               VIRTUAL_ENV=stage)
    one_line_error(rc, err, "not a virtualenv")
    # A venv of another Python version than the module's.
    with open(os.path.join(venv, "pyvenv.cfg"), "w") as f:
        f.write("home = /usr/bin\nversion = 3.99.1\n")
    rc, out, err = run_express("start-server", "app.wsgi", "--port", str(free_port()), cwd=stage,
                               VIRTUAL_ENV=venv)
    one_line_error(rc, err, f"python home ($VIRTUAL_ENV) {venv} is Python 3.99, but the module",
                   "is built for Python 3.")


def test_unknown_module_name_and_bad_values(stage):
    rc, out, err = run_express("start-server", "--application-type", "module", "my-site/wsgi.py",
                               cwd=stage)
    one_line_error(rc, err, "not a Python module name")
    rc, out, err = run_express("start-server", "app.wsgi", "--mount-point", "app", cwd=stage)
    one_line_error(rc, err, "--mount-point app: must start with /")
    rc, out, err = run_express("start-server", "app.wsgi", "--url-alias", "/s", "./none",
                               cwd=stage)
    one_line_error(rc, err, "--url-alias /s", "no such file or directory")
    if not IS_ROOT:
        rc, out, err = run_express("start-server", "app.wsgi", "--user", "nobody", cwd=stage)
        one_line_error(rc, err, "--user/--group need root")
    else:
        rc, out, err = run_express("start-server", "app.wsgi", "--user", "root", cwd=stage)
        one_line_error(rc, err, "refusing to run the application as root")
        rc, out, err = run_express("start-server", "app.wsgi", "--user", "no-such-user-x",
                                   cwd=stage)
        one_line_error(rc, err, "--user no-such-user-x: no such user")


@pytest.mark.parametrize("args, needle", [
    (["start-server", "app.wsgi", "--no-such-option"], "unexpected argument '--no-such-option'"),
    (["start-server", "app.wsgi", "--processes", "0"], "invalid value '0' for '--processes <N>'"),
    (["start-server", "app.wsgi", "--port", "http"], "invalid value 'http' for '--port <N>'"),
    (["start-server", "app.wsgi", "--https-port", "8443"], "--ssl-certificate-file"),
    (["start-server"], "<TARGET>"),
    (["no-such-command"], "unrecognized subcommand 'no-such-command'"),
])
def test_bad_arguments_give_a_short_usage_error(stage, args, needle):
    rc, out, err = run_express(*args, cwd=stage)
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert lines[0].startswith("error: ") and needle in err, err
    assert len(lines) <= 8, err
    assert "Usage: wsgi-express" in err or "For more information, try '--help'" in err


def test_help_lists_the_options_grouped_with_defaults():
    rc, out, err = run_express("start-server", "--help")
    assert rc == 0, err
    for heading in ("Application:", "Server:", "Processes:", "Python:", "Logging:",
                    "HTTPS and HTTP/2:"):
        assert f"\n{heading}\n" in out, heading
    for opt in ("--port", "--host", "--processes", "--threads", "--user", "--group",
                "--python-home", "--python-path", "--working-directory", "--url-alias",
                "--mount-point", "--application-type", "--callable-object",
                "--maximum-requests", "--request-timeout", "--reload-on-changes", "--access-log",
                "--log-level", "--embedded-mode", "--server-root", "--setup-only",
                "--https-port", "--ssl-certificate-file", "--ssl-certificate-key-file",
                "--enable-http2"):
        assert f"      {opt} " in out or f"      {opt}\n" in out, opt
    assert "[default: 8000]" in out and "[default: 127.0.0.1]" in out and "[default: 5]" in out
