"""Response side: list/generator/write() output, per-chunk streaming (time to first byte),
Content-Length truncation, HEAD, status and header passthrough, start_response validation,
exc_info rules, wsgi.file_wrapper byte identity, close() called exactly once."""
import hashlib
import http.client
import os
import random
import re
import time

import pytest

from client import Stream, build_request, connect, read_one, recv_all, parse_response
from codes import code
from harness import serve

DATA = random.Random(99).randbytes(3 * 1024 * 1024 + 17)

CONF = """
WSGIScriptAlias /r @APPS@/response.wsgi
"""

srv = serve("response", CONF, files={"apps/data.bin": DATA})


def sha(b):
    return hashlib.sha256(b).hexdigest()


@pytest.mark.smoke
def test_list_output(srv):
    r = srv.get("/r/list")
    assert r.status == 200
    assert r.body == b"abbccc"
    assert r.header("Content-Type") == "text/plain"


def test_empty_list_output(srv):
    r = srv.get("/r/empty")
    assert r.status == 200 and r.complete
    assert r.body == b""


@pytest.mark.slow
def test_big_list_output(srv):
    size = 5 * 1024 * 1024 + 3
    r = srv.get(f"/r/big_list?size={size}")
    block = bytes(range(256)) * 256
    expect = (block * (size // len(block) + 1))[:size]
    assert r.status == 200 and r.complete
    assert sha(r.body) == sha(expect)


def test_keepalive_across_streamed_responses(srv):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        socks = set()
        for i in range(3):
            conn.request("GET", "/r/stream?n=3&delay=0")
            resp = conn.getresponse()
            assert resp.status == 200
            assert resp.read() == b"chunk-0\nchunk-1\nchunk-2\n"
            socks.add(id(conn.sock))
        assert len(socks) == 1
    finally:
        conn.close()


@pytest.mark.smoke
def test_generator_streams_each_chunk(srv):
    srv.get("/r/stream?n=1&delay=0")  # warm: the script is imported
    st = Stream(srv.port, "/r/stream?n=3&delay=0.8")
    try:
        pieces = list(st.pieces())
    finally:
        st.close()
    assert st.status == 200
    assert b"".join(p for _, p in pieces) == b"chunk-0\nchunk-1\nchunk-2\n"
    times = {}
    for t, p in pieces:
        for i in range(3):
            if f"chunk-{i}".encode() in p:
                times.setdefault(i, t)
    assert times[0] < 0.6, f"first chunk after {times[0]:.2f}s: not flushed"
    assert times[1] - times[0] > 0.5 and times[2] - times[1] > 0.5, times


def test_concurrent_requests_run_in_parallel(srv):
    """10 requests that each sleep 1 s in the app finish together: the GIL is not held while
    an app blocks, and requests are not serialised."""
    from concurrent.futures import ThreadPoolExecutor
    srv.get("/r/list")
    t0 = time.monotonic()
    with ThreadPoolExecutor(10) as ex:
        rs = list(ex.map(lambda i: srv.get(f"/r/stream?n=2&delay=1.0&i={i}"), range(10)))
    elapsed = time.monotonic() - t0
    assert all(r.status == 200 and r.body == b"chunk-0\nchunk-1\n" for r in rs)
    assert elapsed < 4.0, f"10 parallel 1 s requests took {elapsed:.1f}s"


def test_write_callable_streams(srv):
    srv.get("/r/list")
    st = Stream(srv.port, "/r/write_stream?delay=1.2")
    try:
        pieces = list(st.pieces())
    finally:
        st.close()
    assert b"".join(p for _, p in pieces) == b"first\nsecond\n"
    assert pieces[0][1].startswith(b"first") and pieces[0][0] < 0.8, pieces
    assert pieces[-1][0] > 1.1


def test_write_callable_then_iterable(srv):
    r = srv.get("/r/write")
    assert r.status == 200 and r.body == b"w1-w2-it1-it2"


def test_write_rejects_str(srv):
    assert srv.get("/r/write_str").body == b"raised TypeError"


@pytest.mark.parametrize("path", ["/r/cl_truncate", "/r/cl_truncate_gen"])
def test_content_length_truncates(srv, path):
    r = srv.get(path)
    assert r.status == 200
    assert r.header("Content-Length") == "5"
    head_end = r.raw.index(b"\r\n\r\n") + 4
    assert r.raw[head_end:] == b"01234"


def test_content_length_truncation_keeps_connection_sane(srv):
    s = connect(srv.port, timeout=10)
    try:
        h = f"127.0.0.1:{srv.port}"
        s.sendall(build_request("GET", "/r/cl_truncate", close=False, host=h)[0])
        r1 = read_one(s)
        s.sendall(build_request("GET", "/r/list", host=h)[0])
        r2 = parse_response(recv_all(s))
    finally:
        s.close()
    assert r1.body == b"01234"
    assert r2.status == 200 and r2.body == b"abbccc"


@pytest.mark.smoke
def test_head_request(srv):
    r = srv.request("HEAD", "/r/head")
    assert r.status == 200
    assert r.header("X-Method") == "HEAD"
    assert r.header("Content-Length") == "20"
    assert r.raw.endswith(b"\r\n\r\n")  # no body bytes at all


@pytest.mark.parametrize("status", ["404 Custom Not Found", "201 Created", "418 I'm a teapot",
                                    "299 Whatever Reason", "503 Busy Now", "200 Fine"])
def test_status_line_passthrough(srv, status):
    r = srv.get("/r/status?s=" + status.replace(" ", "+").replace("'", "%27"))
    code_, reason = status.split(" ", 1)
    assert r.status == int(code_)
    assert r.reason == reason
    assert r.body == b"status body"


def test_204_has_no_body(srv):
    r = srv.get("/r/status?s=204+No+Content")
    assert r.status == 204
    assert r.raw.endswith(b"\r\n\r\n")


def test_repeated_response_headers(srv):
    r = srv.get("/r/cookies")
    assert r.header_all("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]
    multi = r.header_all("X-Multi")
    assert multi in (["one", "two"], ["one, two"])


REJECTED = {
    "status_bytes": "TypeError", "status_two_digits": "ValueError",
    "status_four_digits": "ValueError", "status_letters": "ValueError",
    "status_no_space": "ValueError", "status_crlf": "ValueError",
    "status_control": "ValueError", "status_non_latin1": "ValueError",
    "headers_tuple": "TypeError", "header_not_tuple": "TypeError",
    "header_three_items": None, "name_bytes": "TypeError", "value_bytes": "TypeError",
    "value_int": "TypeError", "name_empty": "ValueError", "name_space": "ValueError",
    "name_control": "ValueError", "name_newline": "ValueError", "value_crlf": "ValueError",
    "value_lf": "ValueError", "value_cr": "ValueError", "value_non_latin1": "ValueError",
}


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_start_response_rejects(srv, case):
    r = srv.get(f"/r/sr?case={case}")
    assert r.status == 200, r.body[:300]
    assert r.header("X-Rejected") == "1", r.body
    expected = REJECTED[case]
    assert r.text.startswith(f"raised {expected or ''}"), r.text
    if expected is None:
        assert r.text.split()[1] in ("TypeError", "ValueError"), r.text
    assert r.header("X-Injected") is None
    assert b"X-Injected" not in r.raw.split(b"\r\n\r\n")[0]


@pytest.mark.parametrize("case", ["ok", "status_no_reason", "value_latin1"])
def test_start_response_accepts(srv, case):
    r = srv.get(f"/r/sr?case={case}")
    assert r.status == 200 and r.body == b"accepted", r.body
    if case == "value_latin1":
        assert b"\r\nX-A: caf\xe9\r\n" in r.raw


def test_exc_info_before_output_replaces_response(srv):
    r = srv.get("/r/exc_info_replace")
    assert r.status == 500 and r.reason == "Replaced"
    assert r.header("X-Second") == "1"
    assert r.header("X-First") is None
    assert r.body == b"replaced body"


def test_start_response_after_output_without_exc_info_raises(srv):
    r = srv.get("/r/restart_after_output")
    assert r.status == 200
    assert r.body.startswith(b"sent;raised "), r.body


def test_exc_info_after_output_reraises_and_cuts(srv):
    mark = srv.log_mark()
    r = srv.get("/r/exc_info_after")
    assert r.status == 200
    assert r.body.startswith(b"first;")
    assert b"never" not in r.body
    assert r.chunked and not r.complete, "response must be cut, not terminated normally"
    srv.wait_log(r"EXCINFO-AFTER-HEADERS-MARKER", since=mark)
    srv.wait_log(code("exception_after_headers"), since=mark)


# ----- wsgi.file_wrapper ----------------------------------------------------------------

@pytest.mark.smoke
def test_file_wrapper_regular_file(srv):
    mark = srv.log_mark()
    r = srv.get("/r/file?name=data.bin")
    assert r.status == 200 and r.complete
    assert r.header("Content-Length") == str(len(DATA))
    assert sha(r.body) == sha(DATA)
    time.sleep(0.3)  # the handler's own log lines, if any, are written by now
    # A file sent whole is not mistaken for a client that left.
    assert not re.search(code("client_gone"), srv.log_since(mark)), srv.log_since(mark)[-500:]


def test_file_wrapper_from_offset(srv):
    r = srv.get("/r/file?name=data.bin&offset=1000")
    assert r.header("Content-Length") == str(len(DATA) - 1000)
    assert sha(r.body) == sha(DATA[1000:])


def test_file_wrapper_small_blksize(srv):
    r = srv.get("/r/file?name=data.bin&blksize=1000")
    assert sha(r.body) == sha(DATA)


def test_file_wrapper_app_content_length_wins(srv):
    r = srv.get("/r/file?name=data.bin&cl=100")
    assert r.header("Content-Length") == "100"
    assert r.raw[r.raw.index(b"\r\n\r\n") + 4:] == DATA[:100]


@pytest.mark.parametrize("kind", ["file_bytesio", "file_readonly"])
def test_file_wrapper_non_file_objects(srv, kind):
    r = srv.get(f"/r/{kind}?name=data.bin&blksize=65536")
    assert r.status == 200 and r.complete
    assert sha(r.body) == sha(DATA)


def test_file_wrapper_head(srv):
    r = srv.request("HEAD", "/r/file?name=data.bin")
    assert r.status == 200
    assert r.header("Content-Length") == str(len(DATA))
    assert r.raw.endswith(b"\r\n\r\n")


# ----- close() exactly once ---------------------------------------------------------------

def wait_closed(srv, ident, timeout=10):
    path = os.path.join(srv.state, "close-" + ident)
    deadline = time.time() + timeout
    while not os.path.exists(path):
        assert time.time() < deadline, f"close() never called for {ident}\n" + srv.log_tail(30)
        time.sleep(0.05)
    time.sleep(0.5)  # a second close() would land by now
    with open(path) as f:
        return f.read().splitlines()


CLOSE_CASES = {
    # kind: (status, body, complete)
    "normal": (200, b"onetwo", True),
    "write": (200, b"written-yielded", True),
    "empty": (200, b"", True),
    "raise_before_first": (500, None, True),
    "raise_after_first": (200, b"first", False),
    "exc_info_after": (200, b"first", False),
    # A plain list or tuple has no close(); a subclass of one may (it is called).
    "list_subclass": (200, b"onetwo", True),
    "tuple_subclass": (200, b"onetwo", True),
}


@pytest.mark.parametrize("kind", sorted(CLOSE_CASES))
def test_close_called_once(srv, kind):
    ident = f"{kind}-{time.monotonic_ns()}"
    r = srv.get(f"/r/close?id={ident}&kind={kind}")
    status, body, complete = CLOSE_CASES[kind]
    assert r.status == status
    if body is not None:
        assert r.body == body
    assert r.complete == complete
    assert len(wait_closed(srv, ident)) == 1


def test_close_called_once_on_head(srv):
    ident = f"head-{time.monotonic_ns()}"
    r = srv.request("HEAD", f"/r/close?id={ident}&kind=normal")
    assert r.status == 200
    assert len(wait_closed(srv, ident)) == 1


def test_close_called_once_on_client_disconnect(srv):
    ident = f"disconnect-{time.monotonic_ns()}"
    mark = srv.log_mark()
    st = Stream(srv.port, f"/r/close?id={ident}&kind=slow")
    for _ in st.pieces():
        break
    st.close()
    lines = wait_closed(srv, ident, timeout=12)
    srv.wait_line(code("client_gone"), r"\[client 127\.0\.0\.1:\d+\]", since=mark)
    assert len(lines) == 1
    items = int(lines[0].split()[2])
    # The client left after the first item: the next writes fail (about 3 items here, 0.05 s
    # apart); 20 items is one second of the app running for nobody.
    assert items < 20, f"app kept running after the client left: {lines[0]}"


def test_file_wrapper_closes_filelike_once(srv):
    ident = f"filelike-{time.monotonic_ns()}"
    r = srv.get(f"/r/file_closing?name=data.bin&id={ident}")
    assert sha(r.body) == sha(DATA)
    assert wait_closed(srv, ident) == ["closed filelike"]
