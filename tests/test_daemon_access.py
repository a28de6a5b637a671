"""Who may run what: WSGIRestrictEmbedded On (no Python in Apache's children; embedded requests
get 500), a daemon group whose socket is gone (503 after connect-timeout) or cannot be reached
by Apache's user (WSGISocketPrefix in a private directory: 503), and WSGISocketPrefix itself."""
import os
import signal
import socket
import time

import pytest

from daemon_util import socket_files, wait_for
from harness import IS_ROOT, Apache, serve

pytestmark = pytest.mark.daemon

RESTRICTED = """
WSGIRestrictEmbedded On
WSGIDaemonProcess only threads=2
WSGIScriptAlias /daemon @APPS@/daemon.wsgi process-group=only
WSGIScriptAlias /embedded @APPS@/daemon.wsgi
"""

restricted = serve("daemon-restrict-embedded", RESTRICTED)


@pytest.mark.smoke
def _gone(pid):
    """The process has exited (reaped, or a zombie); it may vanish while /proc is read."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def test_restrict_embedded(restricted):
    mark = restricted.log_mark()
    r = restricted.get("/embedded/pid")
    assert r.status == 500
    restricted.wait_line("RWSGI0016", "WSGIRestrictEmbedded", since=mark)
    r = restricted.get("/daemon/pid")
    assert r.status == 200 and r.json()["process_group"] == "only"
    log = restricted.error_log()
    assert "RWSGI0001" not in log, "Python was started in an Apache child"
    assert "RWSGI0100: Daemon process 'only'" in log


GROUP = """
WSGIDaemonProcess lonely threads=2 connect-timeout=2
WSGIScriptAlias /g @APPS@/daemon.wsgi process-group=lonely
"""


def dead_socket(path):
    """A socket file nobody listens on: connect() gets ECONNREFUSED."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()
    os.chmod(path, 0o777)


@pytest.mark.parametrize("how", ["removed", "nobody-listening"])
def test_socket_gone_503_after_connect_timeout(how):
    with Apache(f"daemon-nosocket-{how}", GROUP) as a:
        assert a.get("/g/pid").status == 200
        (sock,) = socket_files(a)
        os.unlink(sock)
        if how == "nobody-listening":
            dead_socket(sock)
        # The Apache child keeps its connection to the daemon open between requests, and that
        # one would still reach it: end the daemon process (its replacement listens on the
        # socket's old, now unreachable, descriptor) so the next request needs a new one.
        pids = a.daemon_pids()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        wait_for(lambda: all(_gone(p) for p in pids), 10, "the daemon process killed")
        mark = a.log_mark()
        t0 = time.monotonic()
        r = a.get("/g/pid")
        elapsed = time.monotonic() - t0
        assert r.status == 503, (r.status, r.body[:200])
        assert 1.5 <= elapsed <= 5, f"503 after {elapsed:.1f}s (retried for connect-timeout=2)"
        line = a.wait_line("RWSGI0110", "'lonely'", since=mark)
        assert sock in line, line


PRIVATE = """
WSGISocketPrefix private/wsgi
WSGIDaemonProcess locked threads=2
WSGIScriptAlias /g @APPS@/daemon.wsgi process-group=locked
"""


def test_socket_prefix_relative_to_server_root():
    with Apache("daemon-prefix", PRIVATE, prepare=lambda a: os.makedirs(
            os.path.join(a.root, "private"))) as a:
        assert a.get("/g/pid").status == 200
        socks = socket_files(a, os.path.join(a.root, "private", "wsgi"))
        assert len(socks) == 1, os.listdir(os.path.join(a.root, "private"))
        assert not socket_files(a)  # nothing at the default place


def test_socket_unreachable_for_apache_user_503():
    """The socket lies in a directory Apache's user cannot traverse: the parent creates it (as
    root), the children cannot connect. Unprivileged, the directory is closed after start-up."""
    a = Apache("daemon-private", PRIVATE,
               prepare=lambda a: os.makedirs(os.path.join(a.root, "private")))
    private = os.path.join(a.root, "private")
    try:
        if IS_ROOT:
            os.chmod(private, 0o700)  # root's; Apache's children run as www-data
        a.start()
        if not IS_ROOT:
            os.chmod(private, 0o000)
        mark = a.log_mark()
        r = a.get("/g/pid")
        assert r.status == 503, (r.status, r.body[:200])
        line = a.wait_line("RWSGI0110", "'locked'", since=mark)
        assert "ermission denied" in line, line
    finally:
        os.chmod(private, 0o755)
        a.stop()
        a.cleanup()


VHOSTS = """
WSGIDaemonProcess shared threads=2
<VirtualHost 127.0.0.1:@PORT@>
    ServerName 127.0.0.1
    WSGIScriptAlias /pick @APPS@/daemon.wsgi
    WSGIScriptAlias / @APPS@/daemon.wsgi process-group=shared
    <Location /pick>
        WSGIProcessGroup %{ENV:PICK}
    </Location>
    <Location /pick/vown>
        SetEnv PICK vown
    </Location>
    <Location /pick/nosuch>
        SetEnv PICK nosuch
    </Location>
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName v.test
    WSGIDaemonProcess vown threads=2
    WSGIProcessGroup vown
    WSGIScriptAlias / @APPS@/daemon.wsgi
</VirtualHost>
"""

vhosts = serve("daemon-vhosts", VHOSTS)


def test_virtual_host_groups(vhosts):
    r = vhosts.get("/pid")
    assert r.status == 200 and r.json()["process_group"] == "shared"
    r = vhosts.get("/pid", [("Host", "v.test")])
    assert r.status == 200 and r.json()["process_group"] == "vown"


@pytest.mark.parametrize("path,message", [
    ("/pick/vown/pid", r"'vown' is defined in another virtual host"),
    ("/pick/nosuch/pid", r"No WSGI daemon process group called 'nosuch'"),
], ids=["other-vhost", "undefined"])
def test_env_selected_group_checked_at_request_time(vhosts, path, message):
    """%{ENV:...} is only known per request: a group of another virtual host or no group at
    all gives 500 and RWSGI0118."""
    mark = vhosts.log_mark()
    assert vhosts.get(path).status == 500
    vhosts.wait_line("RWSGI0118", message, since=mark)
    assert vhosts.get("/pid").status == 200
