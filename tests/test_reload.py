"""WSGIScriptReloading: a changed script (newer mtime) is re-imported on the next request; with
reloading Off the loaded module stays. Module state survives between unchanged requests.

In daemon mode (WSGI_RS_MODE=daemon) a changed script also recycles the daemon process after the
request that saw the change (RWSGI0103 "a WSGI script changed"), so module state starts afresh
once the replacement process serves; the tests wait for that where they count. Under prefork
(WSGI_RS_MPM=prefork) the server keeps a single child, so every request sees the same module."""
import os

import pytest

from codes import code
from harness import DAEMON, PREFORK, rewrite, serve

SCRIPT = '''
VERSION = "{version}"
COUNT = [0]


def application(environ, start_response):
    COUNT[0] += 1
    body = ("%s %d" % (VERSION, COUNT[0])).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
'''

CONF = """
WSGIScriptAlias /reload @APPS@/reload.wsgi
WSGIScriptAlias /noreload @APPS@/noreload.wsgi
<Location /noreload>
    WSGIScriptReloading Off
</Location>
"""
if PREFORK:  # module state is per process: one child serves every request
    CONF += "StartServers 1\nMinSpareServers 1\nMaxSpareServers 1\nMaxRequestWorkers 1\n"

srv = serve("reload", CONF, files={"apps/reload.wsgi": SCRIPT.format(version="v1"),
                                   "apps/noreload.wsgi": SCRIPT.format(version="v1")})


@pytest.fixture(autouse=True)
def _settled(srv):
    """Daemon mode: start each test with no process recycling under way."""
    if DAEMON:
        srv.settle_daemons()


def body(srv, path):
    r = srv.get(path)
    assert r.status == 200, (r.status, r.body[:200])
    return r.text


@pytest.mark.smoke
def test_changed_script_is_reimported(srv):
    path = os.path.join(srv.apps, "reload.wsgi")
    assert body(srv, "/reload") == "v1 1"
    assert body(srv, "/reload") == "v1 2"  # not re-imported while unchanged
    rewrite(path, SCRIPT.format(version="v2"))
    assert body(srv, "/reload") == "v2 1"
    if DAEMON:  # the change recycles the process: the replacement imports v2 afresh
        srv.settle_daemons()
        assert body(srv, "/reload") == "v2 1"
    assert body(srv, "/reload") == "v2 2"


def test_touch_alone_triggers_reimport(srv):
    path = os.path.join(srv.apps, "reload.wsgi")
    n1 = int(body(srv, "/reload").split()[1])
    n2 = int(body(srv, "/reload").split()[1])
    assert n2 == n1 + 1
    st = os.stat(path)
    os.utime(path, (st.st_atime, st.st_mtime + 10))
    assert body(srv, "/reload").endswith(" 1")


def test_a_millisecond_change_is_seen_and_unchanged_is_not_reloaded(srv):
    """The stamp is kept to the microsecond (what Apache's stat of the request's file gives):
    a change of one millisecond within the same second re-imports, and requests in between
    (whose stamps come from Apache's stat, or the daemon's) never re-import an unchanged
    script."""
    path = os.path.join(srv.apps, "reload.wsgi")
    body(srv, "/reload")
    if DAEMON:
        srv.settle_daemons()
    n1 = int(body(srv, "/reload").split()[1])
    for i in range(5):
        assert int(body(srv, "/reload").split()[1]) == n1 + 1 + i
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert body(srv, "/reload").endswith(" 1")


def test_reload_recovers_from_broken_script(srv):
    path = os.path.join(srv.apps, "reload.wsgi")
    body(srv, "/reload")
    mark = srv.log_mark()
    rewrite(path, "def application(environ, start_response:\n")
    assert srv.get("/reload").status == 500
    srv.wait_log(code("script_load_failed"), since=mark)
    rewrite(path, SCRIPT.format(version="v3"))
    assert body(srv, "/reload") == "v3 1"


def test_reloading_off_keeps_loaded_module(srv):
    path = os.path.join(srv.apps, "noreload.wsgi")
    assert body(srv, "/noreload") == "v1 1"
    rewrite(path, SCRIPT.format(version="v2"))
    assert body(srv, "/noreload") == "v1 2"
