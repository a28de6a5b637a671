"""Daemon groups chosen per request from the virtual host: `WSGIProcessGroup %{SERVER}` (the
request's ServerName) and `%{HOST}` (the Host the client sent), `process-group=` likewise, with
mod_wsgi's port rule (`name:port` unless the port is 80 or 443; the port is Apache's
`ap_get_server_port`, so a Host header without a port means 80). A computed name with no group
visible from that virtual host gives 500 and RWSGI0118 naming it."""
import pytest

from harness import serve

pytestmark = pytest.mark.daemon

SERVER = """
WSGIProcessGroup %{SERVER}
<VirtualHost 127.0.0.1:@PORT@>
    ServerName a.test
    WSGIDaemonProcess a.test:@PORT@ threads=2
    WSGIScriptAlias / @APPS@/daemon.wsgi
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName b.test
    WSGIDaemonProcess b.test:@PORT@ threads=2
    WSGIScriptAlias / @APPS@/daemon.wsgi
    WSGIScriptAlias /opt @APPS@/daemon.wsgi process-group=%{SERVER}
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName c.test
    WSGIScriptAlias / @APPS@/daemon.wsgi
</VirtualHost>
"""

HOST = """
<VirtualHost 127.0.0.1:@PORT@>
    ServerName a.test
    ServerAlias x.a.test z.test
    WSGIDaemonProcess a.test:@PORT@ threads=2
    WSGIDaemonProcess x.a.test:@PORT@ threads=2
    WSGIDaemonProcess x.a.test threads=1
    WSGIScriptAlias / @APPS@/daemon.wsgi process-group=%{HOST}
    WSGIScriptAlias /dir @APPS@/daemon.wsgi
    <Location /dir>
        WSGIProcessGroup %{HOST}
    </Location>
</VirtualHost>
"""

per_server = serve("pg-server", SERVER)
per_host = serve("pg-host", HOST)


def _pid(a, host, path="/pid", port=True):
    r = a.get(path, [("Host", f"{host}:{a.port}" if port else host)])
    assert r.status == 200, (host, r.status, r.body[:300])
    return r.json()


def test_server_selects_group_per_virtual_host(per_server):
    port = per_server.port
    seen = {}
    for _ in range(3):
        for host in ("a.test", "b.test"):
            info = _pid(per_server, host)
            assert info["process_group"] == f"{host}:{port}", info
            seen.setdefault(host, set()).add(info["pid"])
    assert seen["a.test"].isdisjoint(seen["b.test"]), seen
    assert len(seen["a.test"]) == 1 and len(seen["b.test"]) == 1, seen
    daemon_pids = set(per_server.daemon_pids())
    assert seen["a.test"] | seen["b.test"] <= daemon_pids, (seen, daemon_pids)
    # The alias option form resolves the same way.
    assert _pid(per_server, "b.test", "/opt/pid")["process_group"] == f"b.test:{port}"


def test_server_without_group_is_500(per_server):
    mark = per_server.log_mark()
    r = per_server.get("/pid", [("Host", f"c.test:{per_server.port}")])
    assert r.status == 500
    per_server.wait_line("RWSGI0118", f"'c.test:{per_server.port}'", since=mark)
    assert _pid(per_server, "a.test")["process_group"] == f"a.test:{per_server.port}"


def test_host_selects_group_from_host_header(per_host):
    port = per_host.port
    a = _pid(per_host, "a.test")
    x = _pid(per_host, "x.a.test")
    assert a["process_group"] == f"a.test:{port}" and x["process_group"] == f"x.a.test:{port}"
    assert a["pid"] != x["pid"]
    assert _pid(per_host, "x.a.test", "/dir/pid")["process_group"] == f"x.a.test:{port}"
    # No port in the Host header: port 80 for Apache, so no port in the name.
    bare = _pid(per_host, "x.a.test", port=False)
    assert bare["process_group"] == "x.a.test" and bare["pid"] != x["pid"]


def test_host_without_group_is_500(per_host):
    mark = per_host.log_mark()
    r = per_host.get("/pid", [("Host", f"z.test:{per_host.port}")])
    assert r.status == 500
    per_host.wait_line("RWSGI0118", f"'z.test:{per_host.port}'", since=mark)
