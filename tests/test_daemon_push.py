"""The first window of a request body with a Content-Length goes to the daemon with the request
head (src/daemon/client.rs `push_window`, core/src/daemon/meta.rs `Pushed`): a body up to
64 KiB costs no `BodyRequest` round trip, a slow uploader holds no daemon thread while it sends
it, bodies across the window's edge arrive whole (chunked ones are pulled, as before),
`Expect: 100-continue` still waits for the application, and a request whose pushed body the
daemon read is never sent twice. (A duplex client that sends its chunked body only after it
saw output: tests/test_daemon_options2.py.)"""
import hashlib
import os
import signal
import socket
import threading
import time

import pytest

from client import build_request, connect, parse_response, read_one, recv_all
from harness import Apache

pytestmark = pytest.mark.daemon

WINDOW = 64 * 1024

APP = r'''
import hashlib
import json
import os
import time


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    qs = dict(p.split("=", 1) for p in environ.get("QUERY_STRING", "").split("&") if "=" in p)
    if path == "/echo":
        step = int(qs.get("step", "0"))
        inp = environ["wsgi.input"]
        if step:
            parts = []
            while True:
                piece = inp.read(step)
                if not piece:
                    break
                parts.append(piece)
            data = b"".join(parts)
        else:
            data = inp.read()
        out = json.dumps({"len": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                          "pid": os.getpid()}).encode()
    elif path == "/ping":
        out = b"pong"
    elif path == "/refuse":
        # Refuses without reading the body.
        start_response("413 Request Entity Too Large", [("Content-Type", "text/plain")])
        return [b"too large"]
    elif path == "/once":
        # Records that it ran, then sleeps without reading the body.
        with open(os.path.join(qs["dir"], "ran-" + qs["id"]), "a") as f:
            f.write("%d\n" % os.getpid())
        time.sleep(float(qs.get("s", "3")))
        out = b"slept"
    else:
        out = b"?"
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(out)))])
    return [out]
'''

CONF = """
WSGIChunkedRequest On
WSGIDaemonProcess push processes=1 threads=1 display-name=%{GROUP}
WSGIDaemonProcess twice processes=1 threads=2 display-name=%{GROUP}
WSGIScriptAlias /push @APPS@/push.wsgi process-group=push
WSGIScriptAlias /twice @APPS@/push.wsgi process-group=twice
"""


@pytest.fixture(scope="module")
def srv():
    with Apache("daemon-push", CONF, loglevel="info", files={"apps/push.wsgi": APP}) as a:
        # The state directory is writable by Apache's user (www-data when run as root).
        a.drop = a.state
        yield a


def post(port, path, body, chunked=None, headers=(), timeout=30):
    s = connect(port, timeout=timeout)
    try:
        head, data = build_request("POST", path, list(headers), body=body, chunked=chunked)
        s.sendall(head + data)
        return read_one(s)
    finally:
        s.close()


def sha(b):
    return hashlib.sha256(b).hexdigest()


@pytest.mark.parametrize("size", [1, 1000, WINDOW - 1, WINDOW, WINDOW + 1, 3 * WINDOW + 7])
@pytest.mark.parametrize("framing", ["length", "chunked"])
@pytest.mark.parametrize("step", [0, 1000])
def test_bodies_across_the_window_arrive_whole(srv, size, framing, step):
    """Bodies below, at and above the pushed window, sent with a Content-Length or chunked,
    read whole or in 1000-byte pieces: the application sees exactly the bytes sent."""
    body = bytes((i * 7 + size) % 251 for i in range(size))
    r = post(srv.port, f"/push/echo?step={step}", body,
             chunked=(9000 if framing == "chunked" else None))
    assert r.status == 200, r.body[:300]
    got = r.json()
    assert (got["len"], got["sha256"]) == (size, sha(body))


def test_empty_chunked_body(srv):
    r = post(srv.port, "/push/echo", b"", chunked=100)
    assert r.status == 200 and r.json()["len"] == 0, r.body[:300]


def test_slow_uploader_holds_no_daemon_thread(srv):
    """A client that sends half its (small) body and stalls does not hold the group's only
    daemon thread: the Apache child reads the window before it takes a daemon connection, so
    another request is served meanwhile; the stalled one completes once the rest arrives."""
    body = b"s" * 2000
    s = connect(srv.port, timeout=30)
    try:
        head, data = build_request("POST", "/push/echo", body=body)
        s.sendall(head + data[:1000])
        time.sleep(0.5)
        t0 = time.time()
        s2 = connect(srv.port, timeout=20)
        try:
            head2, _ = build_request("GET", "/push/ping")
            s2.sendall(head2)
            r2 = read_one(s2)
        finally:
            s2.close()
        waited = time.time() - t0
        assert r2.status == 200 and r2.body == b"pong", r2.body[:200]
        assert waited < 3.0, f"the GET waited {waited:.1f} s behind a stalled upload"
        s.sendall(data[1000:])
        r = read_one(s)
        assert r.status == 200 and r.json()["sha256"] == sha(body), r.body[:200]
    finally:
        s.close()


def test_expect_continue_waits_for_the_application(srv):
    """`Expect: 100-continue`: nothing of the body is pushed, so an application that refuses
    without reading answers at once with no `100 Continue` first (and one that reads gets the
    body after the interim response: tests/test_daemon_io.py)."""
    s = connect(srv.port, timeout=10)
    try:
        head, _ = build_request("POST", "/push/refuse",
                                [("Expect", "100-continue"), ("Content-Length", "5000")])
        s.sendall(head)
        first = s.recv(65536)
        assert first.startswith(b"HTTP/1.1 413 "), first[:200]
        r = parse_response(first + recv_all(s))
        assert r.body == b"too large"
    finally:
        s.close()


def test_killed_daemon_never_runs_a_pushed_request_twice(srv):
    """The daemon reads the pushed body before the application starts, so a daemon killed while
    the application runs (not reading the body) leaves nothing unread: the client gets 502 and
    the request is not sent again (an unread pushed body would look like an unread request)."""
    ident = f"k{time.monotonic_ns()}"
    out = {}

    def run():
        out["r"] = post(srv.port, f"/twice/once?dir={srv.drop}&id={ident}&s=5", b"b" * 5000)

    t = threading.Thread(target=run)
    t.start()
    ran = os.path.join(srv.drop, "ran-" + ident)
    deadline = time.time() + 15
    while not os.path.exists(ran) or not open(ran).read().strip():
        assert time.time() < deadline, "the request never started"
        time.sleep(0.05)
    pid = int(open(ran).read().split()[0])
    mark = srv.log_mark()
    os.kill(pid, signal.SIGKILL)
    t.join(30)
    assert out["r"].status == 502, (out["r"].status, out["r"].body[:200])
    time.sleep(0.5)
    assert open(ran).read().split() == [str(pid)], "the request ran twice"
    log = srv.log_since(mark)
    assert "RWSGI0125" not in log and "RWSGI0180" not in log, log[-2000:]
    # The replacement serves.
    deadline = time.time() + 20
    while True:
        r = post(srv.port, "/twice/echo", b"after")
        if r.status == 200:
            break
        assert time.time() < deadline, r.status
        time.sleep(0.2)
    assert r.json()["sha256"] == sha(b"after") and r.json()["pid"] != pid
