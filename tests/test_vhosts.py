"""Applications mounted per <VirtualHost>: name-based vhosts on one port (the Host header picks
the app), a vhost on a second `Listen` port, nested mounts in one vhost (`/api` and `/`: the
longer alias wins, SCRIPT_NAME `/api` vs ''), and each vhost's own `ErrorLog` receiving its own
apps' wsgi.errors lines, tracebacks and what their request threads print (and no other vhost's;
other threads and WSGIImportScript preloads print to the main log). The embedded server also runs in
the daemon pass (WSGI_RS_MODE=daemon: everything through the server-level group); the daemon
variant defines a group inside each vhost, whose processes log to that vhost's ErrorLog (also
after `apache2 -k graceful`, and to a piped `ErrorLog`), plus a vhost served by a server-level
group, which logs to the main error_log as under mod_wsgi."""
import os
import re
import subprocess
import time

import pytest

from client import http_request
from daemon_util import wait_for
from harness import APACHE_BIN, DAEMON, Apache, free_port

APP = ("copy", "vhost.wsgi")
FILES = {f"apps/{n}.wsgi": APP for n in ("site_a", "api_a", "site_b", "site_c", "site_d")}
FILES.update({f"apps/{n}.wsgi": ("copy", "print_import.wsgi") for n in ("print_a", "print_startup")})


def vhosts_conf(port2, daemon):
    """Three vhosts: a.test (default of the main port; /api and / mounts), b.test on the main
    port, c.test on `port2`. With `daemon`, each vhost defines and uses its own group, and a
    fourth, d.test (main port, its own ErrorLog), uses the group `vsrv` defined at server
    level; without, every Apache child preloads print_startup.wsgi (WSGIImportScript). a.test
    mounts print_a.wsgi at /printer. c.test logs at `LogLevel warn` (the server at info)."""
    def grp(name):
        return (f"    WSGIDaemonProcess {name} threads=4 home=@APPS@\n"
                f"    WSGIProcessGroup {name}\n") if daemon else ""
    server_level = ("WSGIImportScript @APPS@/print_startup.wsgi process-group=%{GLOBAL} "
                    "application-group=%{GLOBAL}\n") if not daemon else """
WSGIDaemonProcess vsrv threads=4 home=@APPS@
<VirtualHost 127.0.0.1:@PORT@>
    ServerName d.test
    ErrorLog "@ROOT@/logs/d_error_log"
    WSGIProcessGroup vsrv
    WSGIScriptAlias / @APPS@/site_d.wsgi
</VirtualHost>
"""
    return f"""
Listen 127.0.0.1:{port2}
<VirtualHost 127.0.0.1:@PORT@>
    ServerName a.test
    ErrorLog "@ROOT@/logs/a_error_log"
{grp("va")}    WSGIScriptAlias /api @APPS@/api_a.wsgi
    WSGIScriptAlias /printer @APPS@/print_a.wsgi
    WSGIScriptAlias / @APPS@/site_a.wsgi
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName b.test
    ErrorLog "@ROOT@/logs/b_error_log"
{grp("vb")}    WSGIScriptAlias / @APPS@/site_b.wsgi
</VirtualHost>
<VirtualHost 127.0.0.1:{port2}>
    ServerName c.test
    ErrorLog "@ROOT@/logs/c_error_log"
    LogLevel warn
{grp("vc")}    WSGIScriptAlias / @APPS@/site_c.wsgi
</VirtualHost>
{server_level}"""


class VServer:
    """An Apache with vhosts_conf(); `port2` follows a port change made by a retried start."""

    def __init__(self, name, daemon, extra=""):
        self.port2 = free_port()
        self.a = Apache(name, extra + vhosts_conf(self.port2, daemon), files=FILES)

    def get(self, host, path, port=None):
        r = http_request(port or self.a.port, "GET", path, [("Host", host)])
        return r

    def json(self, host, path, port=None):
        r = self.get(host, path, port)
        assert r.status == 200, (host, path, r.status, r.body[:500])
        return r.json()

    def vlog(self, site):
        try:
            with open(os.path.join(self.a.root, "logs", f"{site}_error_log"), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_vlog(self, site, needle, timeout=5.0):
        deadline = time.time() + timeout
        while needle not in self.vlog(site):
            if time.time() > deadline:
                raise AssertionError(f"{needle!r} not in {site}_error_log within {timeout}s:\n"
                                     + self.vlog(site)[-3000:])
            time.sleep(0.05)


def _server(name, daemon):
    v = VServer(name, daemon)
    with v.a:
        yield v


@pytest.fixture(scope="module")
def emb():
    """Embedded mode (or, in the daemon pass, the suite's server-level group)."""
    yield from _server("vhosts", False)


@pytest.fixture(scope="module")
def dmn():
    """Daemon mode: a group defined inside each vhost."""
    if DAEMON:
        pytest.skip("WSGI_RS_MODE=daemon: own daemon config")
    yield from _server("vhosts-daemon", True)


@pytest.fixture(params=["embedded", "daemon"])
def v(request):
    return request.getfixturevalue("emb" if request.param == "embedded" else "dmn")


def test_name_based_vhosts_one_port(v):
    """Same port, the Host header decides; an unknown Host gets the first vhost (a.test)."""
    a = v.json("a.test", "/x")
    b = v.json("b.test", "/x")
    assert (a["name"], a["server_name"]) == ("site_a", "a.test")
    assert (b["name"], b["server_name"]) == ("site_b", "b.test")
    assert v.json("unknown.test", "/x")["name"] == "site_a"
    # b.test has no /api mount: its root app gets the whole path.
    bb = v.json("b.test", "/api/x")
    assert (bb["name"], bb["script_name"], bb["path_info"]) == ("site_b", "", "/api/x")
    if v.a.name == "vhosts-daemon":
        assert (a["process_group"], b["process_group"]) == ("va", "vb")


def test_vhost_on_second_port(v):
    """A vhost on a second Listen port answers there, whatever Host says; the main port never
    serves it."""
    c = v.json(f"c.test:{v.port2}", "/y", port=v.port2)
    assert (c["name"], c["server_port"]) == ("site_c", str(v.port2))
    # Without a port in Host, SERVER_PORT is the vhost's ServerName port, else 80 (Apache's
    # ap_get_server_port, UseCanonicalPhysicalPort Off), as under mod_wsgi and CGI.
    assert v.json("c.test", "/y", port=v.port2)["server_port"] == "80"
    assert v.json("a.test", "/y", port=v.port2)["name"] == "site_c"
    assert v.json("c.test", "/y")["name"] == "site_a"
    if v.a.name == "vhosts-daemon":
        assert c["process_group"] == "vc"


@pytest.mark.parametrize("path,name,script_name,path_info", [
    ("/api/x", "api_a", "/api", "/x"),
    ("/api", "api_a", "/api", ""),
    ("/x", "site_a", "", "/x"),
    ("/apix", "site_a", "", "/apix"),  # an alias matches whole path segments only
    ("/", "site_a", "", "/"),
])
def test_nested_mounts(v, path, name, script_name, path_info):
    j = v.json("a.test", path)
    assert (j["name"], j["script_name"], j["path_info"]) == (name, script_name, path_info)


def check_vhost_error_logs(v, daemon=False):
    """a.test's and b.test's apps write to wsgi.errors (and, with `daemon`, print to sys.stderr
    and write to descriptor 2 directly) and raise: each vhost's ErrorLog gets its own lines, the
    module's RWSGI0023 line naming its script and the traceback, and none of the other vhost's;
    the server's main error_log gets none of them."""
    tag = f"{v.a.name}-{time.time_ns()}"
    before = {site: len(v.vlog(site)) for site in "ab"}
    main_before = len(v.a.error_log())
    sites = (("a", "A", "a.test", "/api/x", "api_a", "site_a"), ("b", "B", "b.test", "/x", "site_b", "site_b"))
    for _site, own, host, path, name, _ in sites:
        extra = f"&stderr=std{own}-{tag}&fd2=fd{own}-{tag}" if daemon else ""
        assert v.json(host, f"{path}?err=err{own}-{tag}{extra}")["name"] == name
    for _site, own, host, _path, _name, _ in sites:
        r = v.get(host, f"/x?boom=boom{own}-{tag}")
        assert r.status == 500 and b"Internal Server Error" in r.body, (r.status, r.body[:300])
    needles = ("err", "RuntimeError: boom") + (("std", "fd") if daemon else ())
    for site, own, _host, _path, _name, boom_script in sites:
        for n in needles:
            v.wait_vlog(site, f"{n}{own}-{tag}")
        new = v.vlog(site)[before[site]:]
        assert "Traceback (most recent call last)" in new
        assert f"RWSGI0023: Exception occurred processing WSGI script '{v.a.apps}/{boom_script}.wsgi'" in new, new
    time.sleep(0.2)
    for site, other in (("a", "B"), ("b", "A")):
        leaked = [n for n in needles if f"{n}{other}-{tag}" in v.vlog(site)]
        assert not leaked, f"{site}_error_log got the other vhost's lines {leaked}"
    main = v.a.error_log()[main_before:]
    assert f"-{tag}" not in main, "vhost app output reached the server's main error_log:\n" + main
    assert "RWSGI0023" not in main and "RWSGI0030" not in main, main


@pytest.mark.embedded_only  # daemon pass: the suite's group is defined at server level
def test_vhost_error_logs(emb):
    """wsgi.errors lines and a traceback from a.test's apps land in a_error_log, b.test's in
    b_error_log, neither in the other's log nor in the server's main error_log."""
    check_vhost_error_logs(emb)


def test_vhost_error_logs_daemon_group(dmn):
    """As above, with each vhost's own daemon group (defined inside the <VirtualHost>): the
    group's processes have that vhost's ErrorLog as stderr, so sys.stderr and raw writes to
    descriptor 2 land there too."""
    check_vhost_error_logs(dmn, daemon=True)


CLIENT = r"\[client 127\.0\.0\.1:\d+\] "


def check_print_routing(v, daemon=False):
    """a.test's and b.test's apps print to sys.stdout and sys.stderr, leave a partial stdout
    line at the end of the request, and print from a thread they start. What the request's own
    thread writes is in its vhost's ErrorLog with Apache's `[client …]` decoration (the partial
    line too, at the end of the request), never in the other vhost's log nor in the main
    error_log. The other thread's line: embedded, in the main error_log (it runs no request, as
    under mod_wsgi); daemon, in the group's log, which is the vhost's."""
    tag = f"{v.a.name}-{time.time_ns()}"
    main_before = len(v.a.error_log())
    sites = (("a", "A", "a.test", "/api/x"), ("b", "B", "b.test", "/x"))
    for _site, own, host, path in sites:
        q = f"print=out{own}-{tag}&stderr=std{own}-{tag}&partial=part{own}-{tag}&thread=thr{own}-{tag}"
        assert v.json(host, f"{path}?{q}")["host"] == host
    for site, own, _host, _path in sites:
        for code, n in (("RWSGI0031", "out"), ("RWSGI0030", "std"), ("RWSGI0031", "part")):
            v.wait_vlog(site, f"{code}: {n}{own}-{tag}")
            assert re.search(f"{CLIENT}{code}: {n}{own}-{tag}$", v.vlog(site), re.M), (n, v.vlog(site)[-2000:])
        if daemon:
            v.wait_vlog(site, f"RWSGI0031: thr{own}-{tag}")
        else:
            v.a.wait_log(re.escape(f"RWSGI0031: thr{own}-{tag}"), since=main_before)
    time.sleep(0.2)
    for site, own, other in (("a", "A", "B"), ("b", "B", "A")):
        log = v.vlog(site)
        assert f"-{tag}" not in log.replace(f"{own}-{tag}", ""), f"{site}_error_log got the other vhost's lines"
        if not daemon:
            assert f"thr{own}-{tag}" not in log, f"a thread without a request logged to {site}_error_log"
    main = v.a.error_log()[main_before:]
    leaked = [n for n in ("out", "std", "part") + (("thr",) if daemon else ()) if f"{n}A-{tag}" in main or f"{n}B-{tag}" in main]
    assert not leaked, f"request output {leaked} reached the main error_log:\n" + main[-3000:]
    if not daemon:
        # The thread's line carries no client: it is not about a request.
        line = next(ln for ln in main.splitlines() if f"thrA-{tag}" in ln)
        assert "[client " not in line, line


@pytest.mark.embedded_only  # daemon pass: the suite's group is defined at server level
def test_print_goes_to_the_request_vhost_log(emb):
    check_print_routing(emb)


def test_print_goes_to_the_vhost_log_daemon_group(dmn):
    check_print_routing(dmn, daemon=True)


@pytest.mark.embedded_only
def test_print_at_import(emb):
    """print() at import: print_a.wsgi, first imported by a request to a.test (in each child),
    logs to a_error_log with the request's client; print_startup.wsgi, preloaded into every
    child by WSGIImportScript before any request, logs to the main error_log."""
    pid = emb.json("a.test", "/printer")["pid"]
    emb.wait_vlog("a", f"RWSGI0031: print_a imported pid={pid}")
    assert re.search(f"{CLIENT}RWSGI0031: print_a imported pid={pid}$", emb.vlog("a"), re.M), emb.vlog("a")[-2000:]
    main = emb.a.error_log()
    assert "print_a imported" not in main
    # The child that served the request preloaded print_startup.wsgi when it started.
    emb.a.wait_log(re.escape(f"RWSGI0031: print_startup imported pid={pid}"))
    line = next(ln for ln in emb.a.error_log().splitlines() if f"print_startup imported pid={pid}" in ln)
    assert "[client " not in line, line
    assert all("print_startup" not in emb.vlog(site) for site in "abc")


def daemon_started(log, group):
    return log.count(f"RWSGI0100: Daemon process '{group}' ")


def test_daemon_group_process_lines_in_vhost_log(dmn):
    """The module's own lines of a vhost's daemon process (RWSGI0100 at start, with its group
    name) are in that vhost's ErrorLog, not the main one; those of the server-level group
    `vsrv` are in the main error_log, not in d.test's log. A vhost group's process logs with
    its vhost's LogLevel, as mod_wsgi's: c.test's `LogLevel warn` keeps its info lines
    (RWSGI0100, RWSGI0050) out of both logs, while its errors reach c_error_log."""
    for site, group in (("a", "va"), ("b", "vb")):
        dmn.wait_vlog(site, f"RWSGI0100: Daemon process '{group}' ")
    dmn.a.wait_log(r"RWSGI0100: Daemon process 'vsrv' ")
    tag = f"c-{time.time_ns()}"
    c = dmn.json(f"c.test:{dmn.port2}", f"/y?err=errC-{tag}", port=dmn.port2)
    assert c["process_group"] == "vc"
    dmn.wait_vlog("c", f"RWSGI0030: errC-{tag}")
    main = dmn.a.error_log()
    for group in ("va", "vb", "vc"):
        assert daemon_started(main, group) == 0, f"group {group}'s start line in the main error_log"
    assert daemon_started(dmn.vlog("a"), "vb") == 0 and daemon_started(dmn.vlog("b"), "va") == 0
    assert daemon_started(dmn.vlog("d"), "vsrv") == 0
    assert not re.search(r"\[\w+:info\]", dmn.vlog("c")), dmn.vlog("c")
    assert f"errC-{tag}" not in main


def proc_fds(pid):
    fds = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            fds[int(fd)] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            pass
    return fds


def test_vhost_group_descriptors(dmn):
    """A vhost group's process has that vhost's ErrorLog as stderr (descriptor 2) and holds no
    other file (no other vhost's log, no copy of its own); the server-level group's has the
    main error_log. The spawner holds the logs of the vhosts that define groups (a, b, c), not
    d.test's (its group is server-level) nor the access log."""
    logs = os.path.join(dmn.a.root, "logs")
    for host, site in (("a.test", "a"), ("b.test", "b"), ("d.test", None)):
        pid = dmn.json(host, "/x")["pid"]
        fds = proc_fds(pid)
        assert fds[2] == (os.path.join(logs, f"{site}_error_log") if site else dmn.a.log_path), (host, fds)
        # Sockets (its listener, connections Apache keeps open to it) and its epoll instance.
        assert {fd for fd, t in fds.items()
                if not t.startswith("socket:") and t != "anon_inode:[eventpoll]"} <= {0, 1, 2}, (host, fds)
    # (stdin/stdout are the harness's; stdout is its startup.log.)
    held = {t for fd, t in proc_fds(dmn.a.spawner_pid()).items() if fd > 1 and t.startswith(logs)}
    assert held == {dmn.a.log_path} | {os.path.join(logs, f"{x}_error_log") for x in "abc"}, held


def check_server_level_group(v):
    """d.test has its own ErrorLog but runs in `vsrv`, a group defined at server level: as
    under mod_wsgi, the group's output goes to the main error_log (the group serves no single
    virtual host), never to d_error_log."""
    tag = f"srv-{time.time_ns()}"
    j = v.json("d.test", f"/x?err=errD-{tag}&stderr=stdD-{tag}&fd2=fdD-{tag}")
    assert (j["name"], j["process_group"]) == ("site_d", "vsrv")
    r = v.get("d.test", f"/x?boom=boomD-{tag}")
    assert r.status == 500 and b"Internal Server Error" in r.body
    for n in ("errD", "stdD", "fdD", "RuntimeError: boomD"):
        v.a.wait_log(re.escape(f"{n}-{tag}"))
    assert f"RWSGI0023: Exception occurred processing WSGI script '{v.a.apps}/site_d.wsgi'" in v.a.error_log()
    time.sleep(0.2)
    assert f"-{tag}" not in v.vlog("d") + v.vlog("a") + v.vlog("b"), "a server-level group logged to a vhost log"


def test_server_level_group_logs_to_main_error_log(dmn):
    check_server_level_group(dmn)


def apachectl(apache, action):
    p = subprocess.run([APACHE_BIN, "-f", apache.conf, "-k", action], env=Apache.env(),
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, (action, p.stdout, p.stderr)


@pytest.mark.daemon
def test_vhost_error_logs_daemon_group_after_graceful():
    """`apache2 -k graceful` reopens every log and starts a new generation of daemon processes:
    they get the reopened vhost logs (twice, so a second generation works too), and the
    server-level group still logs to the main error_log."""
    v = VServer("vhosts-graceful", True, extra="ServerLimit 2\n")
    with v.a:
        old = {h: v.json(h, "/x")["pid"] for h in ("a.test", "b.test", "d.test")}
        for round_ in (1, 2):
            starts = {site: daemon_started(v.vlog(site), g) for site, g in (("a", "va"), ("b", "vb"))}
            main_starts = daemon_started(v.a.error_log(), "vsrv")
            apachectl(v.a, "graceful")
            for site, g in (("a", "va"), ("b", "vb")):
                wait_for(lambda: daemon_started(v.vlog(site), g) > starts[site], 15,
                         f"group {g}'s new process in {site}_error_log (graceful {round_})")
            wait_for(lambda: daemon_started(v.a.error_log(), "vsrv") > main_starts, 15,
                     f"group vsrv's new process in the main error_log (graceful {round_})")
            new = wait_for(lambda: (lambda p: p if not set(p.values()) & set(old.values()) else None)(
                {h: v.json(h, "/x")["pid"] for h in old}), 15, "requests served by the new daemons")
            check_vhost_error_logs(v, daemon=True)
            check_server_level_group(v)
            old = new


PIPED_CONF = """
ServerLimit 2
<VirtualHost 127.0.0.1:@PORT@>
    ServerName p.test
    ErrorLog "|/bin/sh -c 'exec cat >> @ROOT@/logs/p_error_log'"
    WSGIDaemonProcess vp threads=2 home=@APPS@
    WSGIProcessGroup vp
    WSGIScriptAlias / @APPS@/site_p.wsgi
</VirtualHost>
"""


@pytest.mark.daemon
def test_piped_vhost_error_log_daemon_group():
    """A vhost's piped ErrorLog (`|command`): the group's processes write into the pipe Apache
    opened, before and after `-k graceful` (which starts a new logger and a new pipe)."""
    a = Apache("vhosts-piped", PIPED_CONF, files={"apps/site_p.wsgi": APP})
    plog = os.path.join(a.root, "logs", "p_error_log")

    def read():
        try:
            with open(plog, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def pid():
        return http_request(a.port, "GET", "/x", [("Host", "p.test")]).json()["pid"]

    with a:
        old = None
        for round_ in range(2):
            if old is not None:  # served by the new generation's process from here on
                wait_for(lambda: pid() != old, 15, "a request served by vp's new process")
            tag = f"piped-{round_}-{time.time_ns()}"
            r = http_request(a.port, "GET", f"/x?err=errP-{tag}&fd2=fdP-{tag}", [("Host", "p.test")])
            assert r.status == 200 and r.json()["process_group"] == "vp"
            wait_for(lambda: f"errP-{tag}" in read() and f"fdP-{tag}" in read(), 10,
                     f"the lines of round {round_} in the piped log")
            assert f"-{tag}" not in a.error_log()
            if round_ == 0:
                old = r.json()["pid"]
                starts = daemon_started(read(), "vp")
                apachectl(a, "graceful")
                wait_for(lambda: daemon_started(read(), "vp") > starts, 15, "vp's new process")
