"""Application groups (WSGIApplicationGroup, application-group=): each named group runs in a
sub-interpreter of its own, created on first use, one per group per process; %{GLOBAL} (the
default) is the main interpreter. Runs in the embedded pass, the daemon pass (the group is
resolved in the Apache child and travels with the request) and under prefork."""
import glob
import json
import os
import re
import subprocess
import threading
import time

import pytest

from client import build_request, connect, read_one
from codes import CODES, code
from harness import APACHE_BIN, DAEMON, Apache, serve

STATE_APP = ("copy", "groups_state.wsgi")

CONF = """
WSGIPythonPath @APPS@/grouplib
WSGIScriptAlias /a @APPS@/a.wsgi application-group=alpha
WSGIScriptAlias /b @APPS@/b.wsgi application-group=beta
WSGIScriptAlias /global @APPS@/groups_info.wsgi
WSGIScriptAlias /named @APPS@/groups_info.wsgi application-group=alpha
WSGIScriptAlias /res1 @APPS@/groups_info.wsgi application-group=%{RESOURCE}
WSGIScriptAlias /res2 @APPS@/groups_info.wsgi application-group=%{RESOURCE}
WSGIScriptAlias /host @APPS@/groups_info.wsgi application-group=%{HOST}
WSGIScriptAlias /server @APPS@/groups_info.wsgi
<Location /server>
    WSGIApplicationGroup %{SERVER}
</Location>
WSGIScriptAlias /env @APPS@/groups_info.wsgi
<Location /env>
    SetEnv AG from-env
    WSGIApplicationGroup %{ENV:AG}
</Location>
WSGIScriptAlias /refuse @APPS@/groups_refuse.wsgi application-group=refusing
WSGIScriptAlias /refuse-global @APPS@/groups_refuse.wsgi
WSGIScriptAlias /plain-import-error @APPS@/import_error.wsgi application-group=alpha
"""

srv = serve("appgroups", CONF, files={"apps/a.wsgi": STATE_APP, "apps/b.wsgi": STATE_APP})


class KeepAlive:
    """Requests on one kept-alive connection (so under prefork they reach one child),
    reconnecting when Apache closes it (MaxKeepAliveRequests)."""

    def __init__(self, apache):
        self.apache, self.sock = apache, None

    def get(self, path, headers=()):
        for attempt in range(2):
            if self.sock is None:
                self.sock = connect(self.apache.port)
            head, _ = build_request("GET", path, headers, close=False,
                                    host=f"127.0.0.1:{self.apache.port}")
            try:
                self.sock.sendall(head)
                r = read_one(self.sock)
            except (OSError, ValueError):
                self.close()
                if attempt:
                    raise
                continue
            if r.header("connection") and "close" in r.header("connection").lower():
                self.close()
            return r
        raise AssertionError("unreachable")

    def json(self, path, headers=()):
        r = self.get(path, headers)
        assert r.status == 200, (path, r.status, r.body[:500])
        return json.loads(r.body)

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


@pytest.fixture
def ka(srv):
    k = KeepAlive(srv)
    yield k
    k.close()


def test_named_groups_keep_conflicting_state_apart_under_load(srv):
    """Two scripts that claim the same module global, os.environ key and sys.path in two named
    groups: 8 threads x 50 requests alternating between them, every body checked (each sees
    only its own claims), and each interpreter's counter numbers its own requests 1..N with no
    gap (a shared interpreter would interleave the two counts)."""
    seen, errors = [], []
    lock = threading.Lock()

    def worker(i):
        k = KeepAlive(srv)
        try:
            for j in range(50):
                name = "a" if (i + j) % 2 else "b"
                r = k.get(f"/{name}")
                if r.status != 200:
                    errors.append((name, r.status, r.body[:300]))
                    continue
                d = json.loads(r.body)
                with lock:
                    seen.append((name, d))
        finally:
            k.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:5]
    assert len(seen) == 400
    counts = {}
    for name, d in seen:
        assert d["name"] == name and d["owner"] == name, d
        assert d["settings"] == f"site_{name}.settings", d
        assert d["others"] == [], d
        assert d["group"] == {"a": "alpha", "b": "beta"}[name], d
        counts.setdefault((d["pid"], name), []).append(d["count"])
    for (pid, name), ns in counts.items():
        assert sorted(ns) == list(range(1, len(ns) + 1)), (pid, name, sorted(ns)[:20])


def test_resource_gives_each_script_its_own_interpreter(ka):
    """%{RESOURCE} is `host:port|SCRIPT_NAME`: /res1 and /res2 (the same file) get two
    interpreters, each always the same one, and neither is the main interpreter."""
    port = ka.apache.port
    r1 = [ka.json("/res1") for _ in range(5)]
    r2 = [ka.json("/res2") for _ in range(5)]
    g = ka.json("/global")
    assert len({d["pid"] for d in r1 + r2 + [g]}) == 1, "one connection, one process"
    assert len({d["mark"] for d in r1}) == 1 and len({d["mark"] for d in r2}) == 1
    assert r1[0]["mark"] != r2[0]["mark"] != g["mark"] != r1[0]["mark"]
    assert len({r1[0]["modules"], r2[0]["modules"], g["modules"]}) == 3
    assert r1[0]["group"] == f"127.0.0.1:{port}|/res1"
    assert r2[0]["group"] == f"127.0.0.1:{port}|/res2"
    assert g["group"] == "" and g["module_group"] == ""


def test_same_named_group_is_one_interpreter_for_many_scripts(ka):
    """Two URLs naming the same group share its interpreter (a.wsgi and groups_info.wsgi both in
    alpha); the main interpreter is another."""
    a = ka.json("/named")
    again = ka.json("/named")
    assert a["mark"] == again["mark"]
    assert a["group"] == a["module_group"] == "alpha"
    assert a["modules"] != ka.json("/global")["modules"]


def test_mod_wsgi_module_and_environ_name_the_group(ka):
    """`mod_wsgi.application_group` (environ and module) is the resolved group; the module also
    carries the process group; stdout is redirected and WSGIPythonPath applies in the group."""
    d = ka.json("/named")
    assert d["group"] == d["module_group"] == "alpha"
    assert d["process_group"] == ("wsgitest" if DAEMON else "")
    assert d["grouplib_on_path"] and d["stdout_redirected"]
    g = ka.json("/global")
    assert g["grouplib_on_path"] and g["stdout_redirected"]


def test_server_host_and_env_forms(ka):
    """%{SERVER} is ServerName:port, %{HOST} the Host the client sent (two Host headers, two
    groups and interpreters), %{ENV:var} a request variable (SetEnv)."""
    port = ka.apache.port
    s = ka.json("/server")
    assert s["group"] == f"127.0.0.1:{port}"
    h1 = ka.json("/host", [("Host", f"one.example:{port}")])
    h2 = ka.json("/host", [("Host", f"two.example:{port}")])
    assert h1["group"] == f"one.example:{port}" and h2["group"] == f"two.example:{port}"
    assert h1["mark"] != h2["mark"]
    assert ka.json("/host", [("Host", f"one.example:{port}")])["mark"] == h1["mark"]
    e = ka.json("/env")
    assert e["group"] == e["module_group"] == "from-env"


def test_group_creation_and_stdout_are_logged(srv, ka):
    """Each sub-interpreter is announced once per process (RWSGI0052), and what its scripts
    print goes to the error log like the main interpreter's."""
    d = ka.json("/env")
    srv.wait_line(code("group_created"), "application group 'from-env'", rf"process {d['pid']}\b")
    srv.wait_line(code("stdout_line"), "groups_info imported into group 'from-env' mark " + d["mark"])
    srv.wait_line(code("script_loaded"), "groups_info.wsgi", "into application group 'from-env'")
    mark = srv.log_mark()
    assert ka.json("/env")["mark"] == d["mark"]
    time.sleep(0.3)
    assert not re.search(r"RWSGI0052: .*'from-env'", srv.log_since(mark)), "created only once"


def test_extension_refusing_sub_interpreters(srv, ka):
    """An ImportError saying sub-interpreters are not supported, in a named group: 500, the
    traceback, and a line naming the group and %{GLOBAL} (RWSGI0025). The same script serves in
    the main interpreter."""
    mark = srv.log_mark()
    r = ka.get("/refuse")
    assert r.status == 500
    line = srv.wait_line(code("subinterp_refused"), "application group 'refusing'",
                         re.escape("%{GLOBAL}"), since=mark)
    assert "groups_refuse.wsgi" in line
    srv.wait_line(code("traceback_line"), "does not support loading in subinterpreters", since=mark)
    g = ka.get("/refuse-global")
    assert g.status == 200 and g.body == b"loaded in the main interpreter"


def test_plain_import_error_in_a_group_has_no_global_hint(srv, ka):
    """An ImportError that is not about sub-interpreters is a plain script failure in a group
    too: 500 and the traceback, without RWSGI0025's advice to move to %{GLOBAL}."""
    mark = srv.log_mark()
    assert ka.get("/plain-import-error").status == 500
    srv.wait_line(code("traceback_line"), "IMPORT-TIME-MARKER", since=mark)
    time.sleep(0.3)
    assert CODES["subinterp_refused"] not in srv.log_since(mark)


def _time(k, path, n):
    t = time.perf_counter()
    for _ in range(n):
        r = k.get(path)
        assert r.status == 200
    return time.perf_counter() - t


def test_named_group_costs_about_the_same_as_global(srv, capsys):
    """After warm-up, 2000 sequential keep-alive requests to a named group cost about what they
    cost in the main interpreter (thread states are kept, interpreters not made per request).
    Best of 5 interleaved rounds each, so a busy machine hits both alike; bound < 2x (a new
    interpreter or module import per request costs far more)."""
    k = KeepAlive(srv)
    try:
        for _ in range(50):
            k.get("/named"), k.get("/global")
        best = {}
        for _ in range(5):
            for path in ("/global", "/named"):
                t = _time(k, path, 400) * 2.5  # per 1000
                best[path] = min(best.get(path, t), t)
    finally:
        k.close()
    ratio = best["/named"] / best["/global"]
    with capsys.disabled():
        print(f"\n[app groups] 5 x 400 keep-alive requests each: global {best['/global'] * 1000:.0f} ms, "
              f"named {best['/named'] * 1000:.0f} ms per 1000, ratio {ratio:.2f}")
    assert ratio < 2.0, best


def _apachectl(apache, action):
    p = subprocess.run([APACHE_BIN, "-f", apache.conf, "-k", action], env=Apache.env(),
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, (action, p.stdout, p.stderr)


def test_atexit_in_sub_interpreters_runs_at_graceful_stop():
    """WSGIDestroyInterpreter On (the default): at a graceful stop every sub-interpreter is ended
    (its atexit handlers run) before the main interpreter is finalised, in each process."""
    conf = """
WSGIScriptAlias /global @APPS@/groups_info.wsgi
WSGIScriptAlias /one @APPS@/groups_info.wsgi application-group=one
WSGIScriptAlias /two @APPS@/groups_info.wsgi application-group=two
"""
    with Apache("appgroups-atexit", conf) as a:
        k = KeepAlive(a)
        try:
            pids = {k.json(p)["pid"] for p in ("/global", "/one", "/two")}
        finally:
            k.close()
        assert len(pids) == 1
        pid = pids.pop()
        _apachectl(a, "graceful-stop")
        a.proc.wait(timeout=30)
        deadline = time.time() + 15
        want = {f"atexit.{g}.{pid}" for g in ("GLOBAL", "one", "two")}
        while time.time() < deadline:
            ran = {os.path.basename(p) for p in glob.glob(os.path.join(a.state, "atexit.*"))}
            if want <= ran:
                break
            time.sleep(0.2)
        assert want <= ran, (want, ran, a.log_tail())
        assert not re.search(r"Fatal Python error|remaining subinterpreters", a.error_log())


@pytest.mark.daemon
def test_daemon_preloads_into_the_named_group():
    """Daemon mode: WSGIImportScript (and an alias naming both groups literally) preload the
    script into the named group's interpreter when the process starts; the requests for that
    group then use the preloaded module."""
    conf = """
WSGIDaemonProcess pre threads=2
WSGIImportScript @APPS@/groups_info.wsgi process-group=pre application-group=early
WSGIScriptAlias /early @APPS@/groups_info.wsgi process-group=pre application-group=early
WSGIScriptAlias /main @APPS@/groups_info.wsgi process-group=pre application-group=%{GLOBAL}
"""
    with Apache("appgroups-preload", conf) as a:
        a.wait_line("RWSGI0051", "groups_info.wsgi", "into application group 'early'", timeout=15)
        a.wait_line("RWSGI0051", "groups_info.wsgi", "into the main interpreter", timeout=15)
        printed = a.wait_line(code("stdout_line"), "imported into group 'early' mark")
        mark = printed.rsplit(" ", 1)[1]
        k = KeepAlive(a)
        try:
            d = k.json("/early")
            m = k.json("/main")
        finally:
            k.close()
        assert d["mark"] == mark and d["group"] == "early" and d["process_group"] == "pre", d
        assert m["group"] == "" and m["mark"] != mark and m["pid"] == d["pid"]
