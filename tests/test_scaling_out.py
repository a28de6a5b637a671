"""Scaling out (docs/scaling-out.md): the example of conf-examples/balancer/ run as it is. Two
Apache + mod_wsgi_rs nodes (node.conf, the app in a daemon group) behind a front Apache with
mod_proxy_balancer and mod_proxy_hcheck (front.conf, no mod_wsgi_rs), each a separate Apache on
its own loopback port; the sessions of app.wsgi live in an SQLite file in a directory both nodes
share. Checked: the load is spread over both nodes (served by each node's daemon processes,
client address passed through); a node stopped with `-k graceful-stop` under load costs no
request at all; a node stopped with `-k stop` under load costs at most the requests it was
running at that moment, and every request started after it is gone succeeds on the other node;
a session continues, count by count, on the other node when its node goes down.

Marked `embedded_only`: the nodes bring their own daemon group, so one pass covers them."""
import http.client
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections import Counter

import pytest

from harness import (APACHE_BIN, MODULES_DIR, MPM, MPM_CONF, REPO_DIR, RUN_USER, IS_ROOT,
                     Apache, BASE_CONF)

pytestmark = pytest.mark.embedded_only

EXAMPLE = os.path.join(REPO_DIR, "conf-examples", "balancer")
FRONT_MODULES = ["proxy", "proxy_http", "proxy_balancer", "lbmethod_byrequests", "slotmem_shm",
                 "proxy_hcheck"]
CLIENT_ADDR = "127.0.0.2"  # the clients' source address: nodes must see it (X-Forwarded-For)


class Front(Apache):
    """The balancer: the harness's base configuration without mod_wsgi_rs (and without the
    WSGI_RS_MODE=daemon group), plus the proxy modules, then front.conf."""

    def write_conf(self, snippet):
        mods = "\n".join(f'LoadModule {m}_module "{MODULES_DIR}/mod_{m}.so"'
                         for m in ["mpm_" + MPM, "authz_core", "authz_host", "mime", "alias",
                                   "dir", *FRONT_MODULES])
        base = "\n".join(l for l in BASE_CONF.splitlines() if "@MODNAME@" not in l)
        user = f"User {RUN_USER}\nGroup {RUN_USER}" if IS_ROOT else ""
        text = (base.replace("@MODULES@", mods).replace("@USER@", user)
                .replace("@LOGLEVEL@", self.loglevel).replace("@MPMCONF@", MPM_CONF[MPM]))
        text += "\n# ---- front ----\n" + snippet + "\n"
        with open(self.conf, "w") as f:
            f.write(self.subst(text))


def http_get(port, path, cookie=None, timeout=30, headers=None, source=CLIENT_ADDR):
    """One GET on a new connection from `source`: (status, headers dict, body bytes)."""
    headers = dict(headers or {})
    if cookie:
        headers["Cookie"] = cookie
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                   source_address=(source, 0))
    try:
        c.request("GET", path, headers=headers)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


class Cluster:
    """Two nodes and the front, built from the example files; the session database in a
    directory under /tmp every node's daemon user can write (777: as root they run as
    www-data)."""

    def __init__(self, n=2):
        self.shared = tempfile.mkdtemp(prefix="wsgi_rs-shared-", dir="/tmp")
        os.chmod(self.shared, 0o777)
        self.db = os.path.join(self.shared, "sessions.sqlite3")
        self.nodes = []
        for i in range(1, n + 1):
            snippet = (f"Define NODE_ID node{i}\nDefine APP_DIR @ROOT@/app\n"
                       f"Define SESSION_DB {self.db}\nDefine FRONT_ADDR 127.0.0.1\n"
                       "Include @ROOT@/conf/node.conf\n")
            self.nodes.append(Apache(f"node{i}", snippet, files={
                "conf/node.conf": ("copy", os.path.join(EXAMPLE, "node.conf")),
                "app/app.wsgi": ("copy", os.path.join(EXAMPLE, "app.wsgi"))}))
        self.front = None

    def start(self):
        for node in self.nodes:
            node.start()
        for node in self.nodes:  # the daemon processes answer before the balancer sees them
            wait_for(lambda: http_get(node.port, "/healthz", timeout=10)[0] == 200, 30,
                     f"{node.name} serving")
        defines = "".join(f"Define NODE{i} 127.0.0.1:{n.port}\n"
                          for i, n in enumerate(self.nodes, 1))
        self.front = Front("front", defines + "Include @ROOT@/conf/front.conf\n", files={
            "conf/front.conf": ("copy", os.path.join(EXAMPLE, "front.conf"))})
        self.front.start()
        return self

    def close(self):
        for a in ([self.front] if self.front else []) + self.nodes:
            a.stop()
            a.cleanup()
        shutil.rmtree(self.shared, ignore_errors=True)

    def member_state(self, node):
        """The front's view of `node` from the balancer-manager page: its Status cell."""
        page = self.front.url("/balancer-manager")
        status, _, body = http_get(self.front.port, "/balancer-manager", timeout=10,
                                   source="127.0.0.1",  # the page is local only
                                   headers={"Referer": page})  # else AH10187 every time
        assert status == 200, body[:300]
        html = body.decode("utf-8", "replace")
        url = f"http://127.0.0.1:{node.port}"
        m = re.search(re.escape(url) + r"</a></td>(.*?)</tr>", html, re.S)
        assert m, f"{url} not on the balancer-manager page:\n{html[:3000]}"
        cells = re.findall(r"<td>(.*?)</td>", m.group(1), re.S)
        # Columns after the worker URL: Route, RouteRedir, Factor, Set, Status, ...
        return next(c for c in cells if re.search(r"\b(Ok|Err|Dis|Stby|Drn|HcFl)\b", c))


def wait_for(cond, timeout, what, interval=0.1):
    deadline = time.time() + timeout
    while True:
        try:
            v = cond()
        except OSError:
            v = None
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def cluster():
    c = Cluster()
    try:
        yield c.start()
    finally:
        c.close()


class Load:
    """`threads` clients requesting `path` through the front in a loop until stop(); each
    request recorded as (t_start, t_end, status, node, error, reused). A new connection per
    request, or with `keepalive` one connection per client for as long as the front keeps it
    (`reused`: the request was not the first on its connection; a new one after a failure)."""

    def __init__(self, port, path, threads=4, keepalive=False):
        self.port, self.path, self.keepalive = port, path, keepalive
        self.records = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self):
        conn, used = None, 0
        while not self.stopping.is_set():
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30,
                                                  source_address=(CLIENT_ADDR, 0))
                used = 0
            t0 = time.time()
            status, node, err, reused = 0, None, None, used > 0
            try:
                conn.request("GET", self.path,
                             headers={} if self.keepalive else {"Connection": "close"})
                r = conn.getresponse()
                status, body = r.status, r.read()
                used += 1
                if status == 200:
                    node = json.loads(body)["node"]
                else:
                    err = body[:200]
                if not self.keepalive or r.will_close:
                    conn.close()
                    conn = None
            except Exception as e:  # noqa: BLE001 - recorded, the test decides
                err = repr(e)
                conn.close()
                conn = None
            with self.lock:
                self.records.append((t0, time.time(), status, node, err, reused))
        if conn is not None:
            conn.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for t in self.threads:
            t.join(40)

    def failures(self):
        return [r for r in self.records if r[2] != 200 or r[4]]


def stop_node(node, how):
    """`apache2 -f CONF -k how`; returns the time its parent (and so its listener) was gone."""
    p = subprocess.run([APACHE_BIN, "-f", node.conf, "-k", how], env=node.env(),
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    node.proc.wait(timeout=60)
    gone = time.time()
    node.stop()  # bookkeeping only: the process has exited (and its group with it)
    return gone


def test_load_spread_over_the_nodes(cluster):
    n1, n2 = cluster.nodes
    served = Counter()
    pids = {n.name: set() for n in cluster.nodes}
    lock = threading.Lock()

    def client(k):
        for _ in range(k):
            status, _, body = http_get(cluster.front.port, "/node")
            assert status == 200, body
            obj = json.loads(body)
            with lock:
                served[obj["node"]] += 1
                pids[obj["node"]].add(obj["pid"])

    threads = [threading.Thread(target=client, args=(50,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sum(served.values()) == 200, served
    # byrequests takes turns: a fair share is about 100 each; allow a wide margin.
    assert served["node1"] >= 60 and served["node2"] >= 60, served
    # Served by each node's own daemon processes (not by the Apache children, not by the other).
    for node in (n1, n2):
        daemons = set(node.daemon_pids())
        assert daemons and pids[node.name] <= daemons, (node.name, pids[node.name], daemons)
    # The nodes see the client's address, passed on by the front in X-Forwarded-For and
    # trusted from the front only (WSGITrustedProxies): a forged X-Forwarded-For is ignored,
    # through the front and sent to a node directly.
    for port in (cluster.front.port, n1.port):
        for forged in ({}, {"X-Forwarded-For": "10.9.9.9"}):
            status, _, body = http_get(port, "/node", headers=forged)
            assert status == 200 and json.loads(body)["client"] == CLIENT_ADDR, (port, body)
    print(f"\nscaling-out: 200 requests, 4 clients: {dict(served)}")


THREADS = 4


@pytest.mark.parametrize("how,keepalive", [("graceful-stop", False), ("stop", False),
                                           ("stop", True)],
                         ids=["graceful-stop", "stop", "stop-keepalive-clients"])
def test_node_stopped_under_load(cluster, how, keepalive):
    n1, n2 = cluster.nodes
    # Requests of 0.2 s: node1 always has some running when it is told to stop.
    with Load(cluster.front.port, "/node?wait=0.2", THREADS, keepalive) as load:
        wait_for(lambda: Counter(r[3] for r in load.records).get("node1", 0) >= 10, 60,
                 "node1 serving under load")
        t_stop = time.time()
        t_gone = stop_node(n1, how)
        # Refused connections put it in error state; the health check (hcinterval=1,
        # hcfails=1) would too.
        wait_for(lambda: re.search(r"Err|HcFl", cluster.member_state(n1)), 30,
                 "node1 marked down")
        t_marked = time.time()
        state = cluster.member_state(n1)
        wait_for(lambda: sum(1 for r in load.records if r[0] > t_marked) >= 60, 90,
                 "60 requests after node1 was marked down")
    recs = load.records
    fails = load.failures()
    after_gone = [r for r in recs if r[0] > t_gone]
    # Requests running when the stop began, and which node they were on: those that failed
    # have no node; they can only have been on node1 (node2 was never stopped).
    running = [r for r in recs if r[0] < t_stop < r[1]]
    print(f"\nscaling-out -k {how}{' (keep-alive clients)' if keepalive else ''}: "
          f"{len(recs)} requests, {len(fails)} failed "
          f"({Counter(r[2] or r[4].split('(')[0] for r in fails)}), {len(running)} running at "
          f"the stop ({Counter(r[3] for r in running)}), stop took {t_gone - t_stop:.2f} s, "
          f"marked down ({state!r}) {t_marked - t_gone:.2f} s after; node1 served "
          f"{sum(1 for r in recs if r[3] == 'node1')}, node2 {sum(1 for r in recs if r[3] == 'node2')}")
    # Requests started once the node was gone: all good, all from node2.
    assert len(after_gone) >= 60
    bad = [r for r in after_gone if r[2] != 200 or r[3] != "node2"]
    assert not bad, bad[:5]
    if how == "graceful-stop":
        # Draining: the requests node1 was running finish there, refused connections fail over:
        # nothing fails in the whole run.
        assert not fails, fails[:10]
        assert any(r[3] == "node1" for r in running), running
        return
    # A hard stop cuts what node1 was running (the front cannot replay a request the node may
    # have acted on) and what it accepted while it was stopping (its listener stays open until
    # its parent exits). Only requests in flight during the stop may fail, never with a 503 (a
    # refused connection fails over).
    assert fails, "the hard stop cut no request: the test did not stop node1 under load"
    # (Which of them fail depends on how long the stop takes on a loaded machine: the requests
    # running at its start, or only those node1 accepted while stopping.)
    assert all(r[0] < t_gone and r[1] > t_stop for r in fails), fails
    for r in fails:
        if r[5]:
            # On a client connection that carried a request before, the front closes it
            # without an answer (AH01104), so that the client may retry an idempotent request.
            assert r[2] == 0 and "RemoteDisconnected" in r[4], r
        else:
            # On a new connection the client gets a 502.
            assert r[2] == 502, r
    if keepalive:
        assert any(r[5] for r in fails), fails
    # node2 kept serving throughout and is still fine.
    status, _, body = http_get(cluster.front.port, "/node")
    assert status == 200 and json.loads(body)["node"] == "node2"
    assert "Ok" in cluster.member_state(n2)


def test_session_continues_on_the_other_node(cluster):
    n1, n2 = cluster.nodes
    status, headers, body = http_get(cluster.front.port, "/")
    assert status == 200, body
    m = re.match(r"sid=([0-9a-f]{32});", headers.get("set-cookie", ""))
    assert m, headers
    cookie = f"sid={m.group(1)}"
    seen = [json.loads(body)]
    for _ in range(7):
        status, headers, body = http_get(cluster.front.port, "/", cookie=cookie)
        assert status == 200 and "set-cookie" not in headers, (status, headers, body)
        seen.append(json.loads(body))
    # One session, counted 1..8, by both nodes (the balancer takes turns; nothing is sticky).
    assert [s["count"] for s in seen] == list(range(1, 9)), seen
    assert {s["sid"] for s in seen} == {m.group(1)}
    assert {s["node"] for s in seen} == {"node1", "node2"}, seen

    stop_node(n1, "stop")
    wait_for(lambda: re.search(r"Err|HcFl", cluster.member_state(n1)), 30, "node1 marked down")
    for want in range(9, 15):
        status, headers, body = http_get(cluster.front.port, "/", cookie=cookie)
        assert status == 200, body
        s = json.loads(body)
        assert (s["node"], s["sid"], s["count"]) == ("node2", m.group(1), want), s
    # The count lives in the shared database, not in a node.
    db = sqlite3.connect(cluster.db)
    try:
        assert db.execute("SELECT count FROM sessions WHERE sid = ?",
                          (m.group(1),)).fetchall() == [(14,)]
    finally:
        db.close()


def test_health_check_takes_a_node_out_and_back(cluster):
    n1, n2 = cluster.nodes
    assert "Ok" in cluster.member_state(n1)
    mark = cluster.front.log_mark()
    # No client request meets the stopped node: mod_proxy_hcheck's probe of /healthz fails
    # (hcinterval=1, hcfails=1) and takes it out.
    stop_node(n1, "stop")
    wait_for(lambda: "HcFl" in cluster.member_state(n1), 20, "node1 failing its health check")
    cluster.front.wait_log(r"AH03303: .*Health check DISABLING http://127\.0\.0\.1:%d" % n1.port,
                           since=mark, timeout=5)
    for _ in range(10):
        status, _, body = http_get(cluster.front.port, "/node")
        assert status == 200 and json.loads(body)["node"] == "node2", body
    # The node comes back: two good checks (hcpasses=2) put it back in the rotation.
    mark = cluster.front.log_mark()
    n1.start()
    cluster.front.wait_log(r"AH03302: .*Health check ENABLING http://127\.0\.0\.1:%d" % n1.port,
                           since=mark, timeout=30)
    wait_for(lambda: "HcFl" not in cluster.member_state(n1)
             and "Err" not in cluster.member_state(n1), 30, "node1 passing its health check")
    served = Counter(json.loads(http_get(cluster.front.port, "/node")[2])["node"]
                     for _ in range(20))
    assert served["node1"] >= 5 and served["node2"] >= 5, served
