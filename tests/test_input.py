"""wsgi.input: read patterns over Content-Length and chunked bodies (checksummed), 411 for chunked
bodies when WSGIChunkedRequest is Off, 100-continue, truncated bodies, unread bodies."""
import hashlib
import random
import socket
import time

import pytest

from client import build_request, connect, post_expect_continue, read_one, recv_all, parse_response
from codes import code
from harness import serve

CONF = """
WSGIScriptAlias /input @APPS@/input.wsgi
WSGIScriptAlias /chunked @APPS@/input.wsgi
<Location /chunked>
    WSGIChunkedRequest On
</Location>
WSGIScriptAlias /limited @APPS@/input.wsgi
<Location /limited>
    LimitRequestBody 1000
</Location>
"""

srv = serve("input", CONF)

RNG = random.Random(1234)
BODIES = {
    "empty": b"",
    "one": b"x",
    "lines": b"".join(b"line %d of the body\n" % i for i in range(2000)) + b"tail without newline",
    "binary": RNG.randbytes(300_000),
}
MIB10 = RNG.randbytes(10 * 1024 * 1024 - 3)  # not a multiple of any read size

MODES = ["read", "read_neg", "readn&n=1000", "readn&n=65536", "read_cl", "readline",
         "readline_n&n=7", "readlines", "readlines_hint&n=100", "iter", "read0"]


def check(r, body):
    assert r.status == 200, (r.status, r.body[:300])
    j = r.json()
    assert "error" not in j, j["error"]
    assert j["length"] == len(body)
    assert j["sha256"] == hashlib.sha256(body).hexdigest()
    if "after_eof" in j:
        assert j["after_eof"] == ["", "", ""]
    return j


@pytest.mark.smoke
@pytest.mark.parametrize("name", sorted(BODIES))
@pytest.mark.parametrize("mode", MODES)
def test_read_patterns_content_length(srv, mode, name):
    body = BODIES[name]
    j = check(srv.post(f"/input?mode={mode}", body), body)
    assert j["content_length"] == str(len(body))
    if mode.startswith("readline_n"):
        assert j["max_line"] <= 7
    if mode == "readline" and name == "lines":
        assert j["unterminated"] == 1
    if mode in ("readlines", "iter") and name == "lines":
        assert j["lines"] == 2001
    if mode == "read0":
        assert j["read0"] == ""


def test_read_one_byte_at_a_time(srv):
    body = BODIES["lines"][:5000]
    j = check(srv.post("/input?mode=readn&n=1", body), body)
    assert j["calls"] == len(body) + 1


@pytest.mark.smoke
def test_chunked_body_small(srv):
    body = BODIES["lines"]
    j = check(srv.post("/chunked?mode=read", body, chunked=777), body)
    assert j["content_length"] is None
    assert j["transfer_encoding"] == "chunked"


@pytest.mark.parametrize("mode", ["readn&n=4096", "readline", "iter", "readlines"])
def test_chunked_read_patterns(srv, mode):
    body = BODIES["lines"]
    check(srv.post(f"/chunked?mode={mode}", body, chunked=1000), body)


def test_chunked_empty_body(srv):
    check(srv.post("/chunked?mode=read", b"", chunked=100), b"")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["read", "readn&n=65536", "readn&n=1000", "readline", "iter",
                                  "readlines"])
def test_10mib_content_length(srv, mode):
    check(srv.post(f"/input?mode={mode}", MIB10), MIB10)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["read", "readn&n=65536", "readline"])
def test_10mib_chunked(srv, mode):
    check(srv.post(f"/chunked?mode={mode}", MIB10, chunked=100_000), MIB10)


@pytest.mark.smoke
def test_chunked_refused_by_default_411(srv):
    mark = srv.log_mark()
    r = srv.post("/input?mode=read", b"hello", chunked=2)
    assert r.status == 411
    srv.wait_log(code("chunked_refused"), since=mark)
    assert srv.post("/input?mode=read", b"hello").status == 200


@pytest.mark.parametrize("cl", ["abc", "-5", "1x"])
def test_malformed_content_length_400(srv, cl):
    """Apache answers 400 before the handler; the app never sees the request (no JSON answer),
    and the next request on a new connection is served by the app with its whole body."""
    r = srv.request("POST", "/input?mode=read", [("Content-Length", cl)], b"")
    assert r.status == 400
    assert b"sha256" not in r.body
    check(srv.post("/input?mode=read", b"after-" + cl.encode()), b"after-" + cl.encode())


def test_limit_request_body_413(srv):
    assert srv.post("/limited?mode=read", b"a" * 2000).status == 413
    check(srv.post("/limited?mode=read", b"a" * 500), b"a" * 500)


def test_expect_100_continue(srv):
    body = b"continued-body"
    r = post_expect_continue(srv.port, "/input?mode=read", body)
    check(r, body)


def test_unread_body_keeps_connection_usable(srv):
    s = connect(srv.port, timeout=10)
    try:
        head, body = build_request("POST", "/input?mode=ignore", body=BODIES["binary"],
                                   close=False, host=f"127.0.0.1:{srv.port}")
        s.sendall(head + body)
        r1 = read_one(s)
        assert r1.status == 200 and r1.json()["length"] == 0
        head, body = build_request("POST", "/input?mode=read", body=b"second",
                                   host=f"127.0.0.1:{srv.port}")
        s.sendall(head + body)
        r2 = parse_response(recv_all(s))
    finally:
        s.close()
    check(r2, b"second")


def test_truncated_body_raises_oserror(srv):
    mark = srv.log_mark()
    s = connect(srv.port, timeout=10)
    try:
        head, _ = build_request("POST", "/input?mode=read", [("Content-Length", "100000")],
                                host=f"127.0.0.1:{srv.port}")
        s.sendall(head + b"only-a-little")
        time.sleep(0.2)
        s.shutdown(socket.SHUT_WR)
        recv_all(s)
    finally:
        s.close()
    srv.wait_log(r"INPUT-ERROR OSError", since=mark)
    check(srv.post("/input?mode=read", b"after"), b"after")
