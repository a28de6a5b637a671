"""The `wsgi-status` handler (our extension): per daemon group, processes, busy and idle
threads, requests served, restarts with their reasons and recent 5xx responses, as HTML and as
JSON (`?json`), read from the groups' status boards (so any Apache child answers the same),
and protected by `Require` like mod_status."""
import json
import threading
import time

import pytest

from harness import Apache

pytestmark = pytest.mark.daemon

APP = r'''
import time

def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/slow":
        time.sleep(float(environ.get("QUERY_STRING") or "2"))
    if path == "/unavailable":
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
        return [b"down"]
    if path == "/raise":
        raise RuntimeError("status test failure")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
'''

CONF = """
WSGIDaemonProcess st processes=2 threads=4 display-name=%{GROUP}
WSGIDaemonProcess rec processes=1 threads=1 maximum-requests=2 display-name=%{GROUP}
WSGIScriptAlias /st @APPS@/status_app.wsgi process-group=st
WSGIScriptAlias /rec @APPS@/status_app.wsgi process-group=rec
<Location /wsgi-status>
    SetHandler wsgi-status
    Require local
</Location>
<Location /wsgi-status-private>
    SetHandler wsgi-status
    Require ip 192.0.2.1
</Location>
"""


@pytest.fixture(scope="module")
def srv():
    with Apache("status_handler", CONF, files={"apps/status_app.wsgi": APP}) as a:
        a.settle_daemons("st", processes=2)
        yield a


def status(a):
    r = a.get("/wsgi-status?json")
    assert r.status == 200, (r.status, r.body[:300])
    assert r.header("content-type").startswith("application/json")
    doc = json.loads(r.body)
    return {g["name"]: g for g in doc["groups"]}


def wait_status(a, cond, timeout=20.0):
    deadline = time.time() + timeout
    while True:
        s = status(a)
        if cond(s) or time.time() > deadline:
            return s
        time.sleep(0.1)


def test_json_and_html_under_load(srv):
    before = status(srv)["st"]
    assert before["processes"] == 2 and before["threads"] == 4 and before["available"] is True
    assert before["running"] == 2, before
    assert len(before["process_list"]) == 2
    results = []

    def slow():
        results.append(srv.get("/st/slow?3", timeout=60).status)
    ts = [threading.Thread(target=slow) for _ in range(5)]
    for t in ts:
        t.start()
    try:
        during = wait_status(srv, lambda s: s["st"]["busy"] >= 3)["st"]
        assert during["busy"] >= 3, during
        assert during["idle"] == 8 - during["busy"], during
        assert sum(p["busy"] for p in during["process_list"]) == during["busy"]
        page = srv.get("/wsgi-status")
        assert page.status == 200
        assert page.header("content-type").startswith("text/html")
        html = page.body.decode()
        assert "<h2>Group st</h2>" in html and "<h2>Group rec</h2>" in html
        assert "busy</b>" in html and "requests served" in html
    finally:
        for t in ts:
            t.join(60)
    assert results == [200] * 5
    after = wait_status(srv, lambda s: s["st"]["busy"] == 0)["st"]
    assert after["busy"] == 0
    assert after["requests"] >= before["requests"] + 5, (before["requests"], after["requests"])


def test_requests_counter_and_recent_5xx(srv):
    n0 = status(srv)["st"]["requests"]
    for _ in range(4):
        assert srv.get("/st/ok").status == 200
    assert srv.get("/st/unavailable").status == 503
    assert srv.get("/st/raise").status == 500
    s = wait_status(srv, lambda s: s["st"]["requests"] >= n0 + 6)["st"]
    assert s["requests"] >= n0 + 6
    assert s["errors_5xx"] >= 2, s
    recent = sorted(e["status"] for p in s["process_list"] for e in p["recent_5xx"])
    assert 503 in recent and 500 in recent, recent


def test_restart_reason_after_maximum_requests(srv):
    for _ in range(3):
        assert srv.get("/rec/ok").status == 200
    s = wait_status(srv, lambda s: s["rec"]["restarts"] >= 1 and s["rec"]["running"] == 1)["rec"]
    assert s["restarts"] >= 1, s
    reasons = [r["reason"] for r in s["process_list"][0]["recent_restarts"]]
    assert reasons and reasons[0] == "maximum_requests", reasons
    assert s["process_list"][0]["recent_restarts"][0]["status"] == 0
    # Requests of the process before the restart still count for the group.
    assert s["requests"] >= 3
    html = srv.get("/wsgi-status").body.decode()
    assert "maximum_requests (" in html


def test_killed_process_shows_as_died(srv):
    pids = srv.daemon_pids("(wsgi:rec)")
    assert pids
    before = status(srv)["rec"]["restarts"]
    import os
    import signal
    os.kill(pids[0], signal.SIGKILL)
    s = wait_status(srv, lambda s: s["rec"]["restarts"] > before and s["rec"]["running"] == 1)["rec"]
    latest = s["process_list"][0]["recent_restarts"][0]
    assert latest["reason"] == "died" and latest["status"] == 9, latest


def test_require_denies_other_access(srv):
    r = srv.get("/wsgi-status-private?json")
    assert r.status == 403
    assert b"groups" not in r.body


def test_no_daemon_groups():
    with Apache("status_none", "<Location /s>\nSetHandler wsgi-status\n</Location>") as a:
        r = a.get("/s?json")
        assert r.status == 200
        assert json.loads(r.body) == {"time": json.loads(r.body)["time"], "groups": []}
        assert b"No WSGIDaemonProcess group" in a.get("/s").body
