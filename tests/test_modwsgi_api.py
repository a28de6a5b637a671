"""The `mod_wsgi` module's Python API (mod_wsgi 6): subscribe_events (request_started,
response_started, request_finished with timings, request_exception, process_stopping),
subscribe_shutdown, request_data(), active_requests, start_recording_metrics /
request_metrics / process_metrics, server_metrics (WSGIServerMetrics), LogHandler and the
companion `apache` module. Runs in the embedded pass, the daemon pass (WSGI_RS_MODE=daemon)
and under prefork; every check is made in the main interpreter and in a named application
group (a sub-interpreter, whose subscribers must see only its own requests)."""
import glob
import json
import os
import threading
import time

import pytest

from codes import code
from harness import DAEMON, PREFORK, Apache, serve

CONF = """
WSGIScriptAlias /ev @APPS@/events_api.wsgi
WSGIScriptAlias /evg @APPS@/events_api.wsgi application-group=named
"""

srv = serve("modwsgi_api", CONF)


def events(apache, tag, want=None, timeout=10.0):
    """The events recorded for `tag` (JSON lines), waiting until `want` names have arrived."""
    path = os.path.join(apache.state, f"ev-{tag}.log")
    deadline = time.time() + timeout
    while True:
        try:
            with open(path) as f:
                got = [json.loads(line) for line in f if line.strip()]
        except FileNotFoundError:
            got = []
        if want is None or [e["event"] for e in got] == want or time.time() > deadline:
            return got
        time.sleep(0.05)


def get_json(apache, path, **kw):
    r = apache.get(path, **kw)
    assert r.status == 200, (path, r.status, r.body[:400], apache.log_tail(20))
    return json.loads(r.body)


ORDER = ["request_started", "response_started", "request_finished"]


@pytest.mark.parametrize("prefix,group", [("/ev", ""), ("/evg", "named")])
def test_events_in_order_with_timings_and_request_data(srv, prefix, group):
    tag = f"order{prefix.strip('/')}"
    body = get_json(srv, f"{prefix}/x?tag={tag}")
    # The subscriber's request_started annotation is visible to the app, and vice versa below.
    assert body["data"] == {"tag": tag, "set_by_subscriber": "started", "app": "touched"}
    assert body["in_active"] is True
    assert body["seen"] == "yes"
    assert body["group"] == group
    evs = events(srv, tag, ORDER)
    assert [e["event"] for e in evs] == ORDER, evs
    # Callbacks ran in the interpreter that registered them (and only there: one each).
    assert {e["group_at_callback"] for e in evs} == {group}
    started, response, finished = evs
    for k in ("request_id", "thread_id", "request_data", "request_environ", "application_object",
              "callable_object", "server_pid", "request_start", "queue_start", "daemon_start",
              "application_start"):
        assert k in started["keys"], (k, started["keys"])
    assert started["callable_object"] == "application"
    assert started["thread_id"] >= 1
    assert response["status"] == "200 OK"
    assert set(response["keys"]) >= {"request_id", "request_data", "response_status",
                                     "response_headers", "exception_info"}
    for k in ("application_time", "application_finish", "input_reads", "input_length",
              "input_time", "output_writes", "output_length", "output_time", "status",
              "cpu_user_time", "cpu_system_time", "cpu_time", "gil_wait_time", "gil_wait_count"):
        assert k in finished["keys"], (k, finished["keys"])
    assert finished["status"] == 200
    assert finished["request_id"] == started["request_id"]
    assert 0 <= finished["application_time"] < 30
    assert finished["application_finish"] >= finished["application_start"] >= finished["request_start"] > 0
    assert finished["cpu_time"] >= finished["cpu_user_time"] >= 0
    assert finished["output_length"] == len(json.dumps(body).encode()) or finished["output_length"] > 50
    assert finished["output_writes"] >= 1
    # request_data at the end holds both the subscriber's and the app's keys.
    assert finished["data"] == {"tag": tag, "set_by_subscriber": "started", "app": "touched"}


def test_input_counted_and_middleware_replaced(srv):
    payload = b"x" * 70000
    r = srv.post("/ev/post?tag=post&wrap=1", payload, headers=[("Content-Type", "application/octet-stream")])
    assert r.status == 200, r.body[:300]
    body = json.loads(r.body)
    assert body["read"] == len(payload)
    # A request_started subscriber returning {"application_object": wrapper} wraps the app.
    assert body["wrapped"] == "yes"
    fin = events(srv, "post", ORDER)[-1]
    assert fin["event"] == "request_finished"
    assert fin["input_length"] == len(payload)
    assert fin["input_reads"] >= 1


@pytest.mark.parametrize("prefix,group", [("/ev", ""), ("/evg", "named")])
def test_exception_event(srv, prefix, group):
    tag = f"boom{prefix.strip('/')}"
    mark = srv.log_mark()
    r = srv.get(f"{prefix}/boom?tag={tag}")
    assert r.status == 500
    srv.wait_log(code("app_exception"), since=mark)
    evs = events(srv, tag, ["request_started", "request_exception", "request_finished"])
    names = [e["event"] for e in evs]
    assert names == ["request_started", "request_exception", "request_finished"], evs
    assert evs[1]["exception"] == "ValueError: boom for the events test"
    assert "exception_info" in evs[1]["keys"]
    assert evs[2]["status"] == 500
    assert {e["group_at_callback"] for e in evs} == {group}


def test_metrics_keys_and_counts_increase(srv):
    # A first call drains the window so far; then 5 requests, then the next window has them.
    m0 = get_json(srv, "/ev/metrics")
    assert m0["request"] is not None and m0["process"] is not None
    for i in range(5):
        get_json(srv, f"/ev/m{i}")
    if PREFORK:
        pytest.skip("prefork: the requests spread over several children (per-process metrics)")
    m1 = get_json(srv, "/ev/metrics")
    rq, pr = m1["request"], m1["process"]
    for k in ("pid", "start_time", "stop_time", "sample_period", "request_count",
              "request_throughput", "request_threads_maximum", "request_threads_started",
              "request_threads_active", "capacity_utilization", "request_threads_completed",
              "request_threads_busy_time", "request_threads_cpu_time",
              "request_threads_current_elapsed", "request_threads_max_duration",
              "server_time", "queue_time", "daemon_time", "application_time", "request_time",
              "input_read_time", "output_write_time", "server_time_buckets",
              "application_time_buckets", "application_time_min_us", "application_time_max_us",
              "gil_wait_time", "gil_wait_count", "input_bytes", "input_reads", "output_bytes",
              "output_writes", "status_1xx", "status_2xx", "status_3xx", "status_4xx",
              "status_5xx", "cpu_user_utilization", "cpu_system_utilization", "cpu_utilization",
              "memory_rss", "memory_max_rss"):
        assert k in rq, k
    # The 5 requests and the first /metrics call (it finished after its own drain).
    assert rq["request_count"] >= 5, rq["request_count"]
    assert rq["status_2xx"] >= 5
    assert sum(rq[f"status_{c}xx"] for c in range(1, 6)) == rq["request_count"]
    assert len(rq["application_time_buckets"]) == 65
    assert sum(rq["application_time_buckets"]) == rq["request_count"]
    assert sum(rq["request_threads_completed"]) == rq["request_count"]
    assert len(rq["request_threads_completed"]) == rq["request_threads_maximum"]
    assert 0 <= rq["capacity_utilization"] <= 1.5
    assert rq["memory_rss"] > 1 << 20
    if DAEMON:
        assert rq["queue_time"] is not None and rq["daemon_time"] is not None
    else:
        assert rq["queue_time"] is None and rq["daemon_time"] is None
    for k in ("pid", "restart_time", "current_time", "running_time", "request_count",
              "request_busy_time", "request_threads", "active_requests", "cpu_user_time",
              "cpu_system_time", "cpu_time", "memory_rss", "memory_max_rss", "threads"):
        assert k in pr, k
    assert pr["request_count"] >= m0["process"]["request_count"] + 5
    assert pr["active_requests"] >= 1  # this /metrics request itself
    assert sum(t["request_count"] for t in pr["threads"]) >= 5
    assert pr["pid"] == rq["pid"]


def test_server_metrics_off_by_default(srv):
    assert get_json(srv, "/ev/server")["server"] is None


def test_apache_module_and_log_handler(srv):
    mark = srv.log_mark()
    body = get_json(srv, "/ev/apache?tag=loghandler")
    assert body["version"][0] == 2 and body["version"][1] == 4
    assert body["description"].startswith("Apache/2.4")
    assert body["mpm_name"] == ("prefork" if PREFORK else "event")
    assert body["build_date"]
    assert body["threads_per_process"] >= 1 and body["maximum_processes"] >= 1
    # The record's level is kept ([wsgi_rs:warn]) and the request's client decoration added.
    line = srv.wait_line(code("log_handler") + r": events_api warning from LogHandler tag=loghandler",
                        since=mark)
    assert ":warn]" in line, line
    assert "[client 127.0.0.1" in line, line
    info = srv.wait_line(code("log_handler") + r": events_api info from LogHandler", since=mark)
    assert ":info]" in info, info


def test_request_data_outside_a_request_and_subscriber_errors():
    app = r'''
import threading
import mod_wsgi

@mod_wsgi.subscribe_events
def bad(name, **event):
    if name == "request_started":
        raise KeyError("subscriber failure")

def application(environ, start_response):
    data = mod_wsgi.request_data()
    data["n"] = 1
    outside = []

    def other_thread():
        try:
            mod_wsgi.request_data()
            outside.append("no error")
        except RuntimeError:
            outside.append("RuntimeError")
    t = threading.Thread(target=other_thread)
    t.start()
    t.join()
    body = (outside[0] + " " + str(mod_wsgi.request_data() is data)).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
'''
    with Apache("modwsgi_api_err", "WSGIScriptAlias /e @APPS@/err.wsgi",
                files={"apps/err.wsgi": app}) as a:
        mark = a.log_mark()
        r = a.get("/e")
        # request_data() is bound to the request's thread; a failing subscriber is logged and
        # the request still runs.
        assert r.status == 200 and r.body == b"RuntimeError True", r.body
        a.wait_log(code("subscriber_raised") + r": Exception in mod_wsgi event subscriber 'bad' for event 'request_started'", since=mark)
        a.wait_log(code("subscriber_raised") + r": KeyError: 'subscriber failure'", since=mark)


def test_process_stopping_on_stop():
    """process_stopping and subscribe_shutdown callbacks run once per process and interpreter
    when Apache stops (embedded: reason "", daemon: "shutdown_signal")."""
    if PREFORK:
        pytest.skip("prefork children exit inside the MPM's SIGTERM handler, where no Python may "
                    "run: no process_stopping there (README, Differences from mod_wsgi)")
    with Apache("modwsgi_api_stop", CONF) as a:
        get_json(a, "/ev/warm?tag=warm1")
        get_json(a, "/evg/warm?tag=warm2")
        # Let the worker finish with the connection first: an ungraceful stop that catches a
        # worker releasing its connection can crash the child in httpd's own
        # close_worker_sockets() race (tests/httpd_race.py), and then nothing is finalised.
        time.sleep(0.3)
        a.stop()
        want = "shutdown_signal" if DAEMON else ""
        for kind in ("stop", "shutdown"):
            for grp in ("GLOBAL", "named"):
                files = glob.glob(os.path.join(a.state, f"ev-{kind}-*-{grp}.log"))
                if not files:
                    print(a.error_log())  # shown in full with the failure
                assert files, (kind, grp, os.listdir(a.state))
                for path in files:
                    with open(path) as f:
                        lines = [json.loads(line) for line in f]
                    assert len(lines) == 1, lines  # once per process
                    assert lines[0]["event"] == "process_stopping"
                    assert lines[0]["reason"] == want
                    assert lines[0]["group_at_callback"] == ("" if grp == "GLOBAL" else grp)


@pytest.mark.daemon
def test_daemon_maximum_requests_reason_and_server_metrics_gate():
    conf = """
WSGIServerMetrics On
WSGIDaemonProcess evd processes=1 threads=2 maximum-requests=3
WSGIScriptAlias /ev @APPS@/events_api.wsgi process-group=evd
WSGIScriptAlias /emb @APPS@/events_api.wsgi process-group=%{GLOBAL}
"""
    with Apache("modwsgi_api_maxreq", conf) as a:
        first = get_json(a, "/ev/a?tag=mr")["pid"]
        # server_metrics() in a daemon process: the scoreboard is not there (None).
        assert get_json(a, "/ev/server")["server"] is None
        get_json(a, "/ev/b")
        # The third request recycles the process.
        get_json(a, "/ev/c")
        deadline = time.time() + 20
        files = []
        while time.time() < deadline and not files:
            files = glob.glob(os.path.join(a.state, f"ev-stop-{first}-GLOBAL.log"))
            time.sleep(0.1)
        assert files, os.listdir(a.state)
        with open(files[0]) as f:
            assert json.loads(f.readline())["reason"] == "maximum_requests"
        # Embedded, WSGIServerMetrics On: the scoreboard of this Apache.
        sm = get_json(a, "/emb/server")["server"]
        assert sm is not None
        assert sm["server_limit"] >= 1 and sm["thread_limit"] >= 1
        assert sm["running_time"] >= 0
        procs = [p for p in sm["processes"] if p["pid"]]
        assert procs, sm["processes"][:2]
        letters = {w["status"] for p in procs for w in p["workers"]}
        # This request's own worker is writing its reply ("W").
        assert "W" in letters, letters
        assert all(len(s) == 1 for s in letters)


@pytest.mark.embedded_only
def test_concurrent_requests_are_all_active():
    """active_requests holds every running request (several threads at once)."""
    if PREFORK:
        pytest.skip("one request per prefork child")
    app = r'''
import threading, time, json, mod_wsgi
barrier = threading.Barrier(3, timeout=20)

def application(environ, start_response):
    active = mod_wsgi.active_requests
    if environ["PATH_INFO"] == "/warm":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"warm"]
    barrier.wait()
    n = len(active)
    barrier.wait()
    body = json.dumps({"n": n}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
'''
    with Apache("modwsgi_api_active", "WSGIScriptAlias /a @APPS@/act.wsgi",
                files={"apps/act.wsgi": app}) as a:
        # The first look at active_requests turns tracking on (for later requests).
        assert a.get("/a/warm").body == b"warm"
        out = []

        def one():
            r = a.get("/a", timeout=60)
            out.append(json.loads(r.body)["n"] if r.status == 200 else r.status)
        ts = [threading.Thread(target=one) for _ in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        assert out == [3, 3, 3], out
