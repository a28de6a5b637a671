"""The Apache child re-checks what a daemon process sends (daemon code is less trusted than
Apache): a forged response head is a 502 with RWSGI0123, a body before the head or an end
without one is a 502, and the body never runs past or short of its Content-Length unseen."""
import re

import pytest

from client import connect, parse_head, read_one
from harness import serve

pytestmark = pytest.mark.daemon

CONF = """
WSGIDaemonProcess forge processes=1 threads=1
WSGIScriptAlias /forge @APPS@/forge.wsgi process-group=forge
"""

srv = serve("daemon-forge", CONF)


def fetch(srv, kind, extra=b"", keepalive=False):
    """All bytes received for one keep-alive request (plus pipelined `extra`), until the server
    closes or 3 s pass (then `closed` is False)."""
    s = connect(srv.port, timeout=3)
    data, closed = b"", True
    try:
        conn = "" if keepalive else "Connection: close\r\n"
        s.sendall(f"GET /forge/{kind} HTTP/1.1\r\nHost: t\r\n{conn}\r\n".encode() + extra)
        while True:
            try:
                d = s.recv(65536)
            except TimeoutError:
                closed = False
                break
            except ConnectionResetError:
                break
            if not d:
                break
            data += d
    finally:
        s.close()
    return data, closed


HEAD_RULE = "RWSGI0123: Invalid response head from WSGI daemon process 'forge'"
ORDER_RULE = "RWSGI0113: "


@pytest.mark.parametrize("kind,rule,needle", [
    ("crlf_value", HEAD_RULE, "control character"),
    ("nul_name", HEAD_RULE, "invalid character"),
    ("transfer_encoding", HEAD_RULE, 'hop-by-hop header "Transfer-Encoding"'),
    ("connection", HEAD_RULE, 'hop-by-hop header "Connection"'),
    ("cl_overflow", HEAD_RULE, 'invalid Content-Length header value "9223372036854775808"'),
    ("cl_two", HEAD_RULE, "two different Content-Length headers (6 and 60)"),
    ("status_crlf", HEAD_RULE, "control character"),
    ("status_1xx", HEAD_RULE, "informational (1xx)"),
    ("code_mismatch", HEAD_RULE, "code 200 does not match status line code 404"),
    ("body_first", ORDER_RULE, "response body before the response head"),
    ("end_first", ORDER_RULE, "ended a response it never started"),
])
def test_forged_response_is_502(srv, kind, rule, needle):
    mark = srv.log_mark()
    data, _ = fetch(srv, kind)
    status, _, _, _ = parse_head(data)
    assert status == 502
    assert b"forged" not in data and b"stolen" not in data and b"X-Injected" not in data
    assert b"Content-Length: 2\r\n\r\nhi" not in data
    srv.wait_line(re.escape(rule), re.escape(needle), since=mark)


def test_body_beyond_content_length_dropped(srv):
    mark = srv.log_mark()
    s = connect(srv.port, timeout=5)
    try:
        s.sendall(b"GET /forge/excess HTTP/1.1\r\nHost: t\r\n\r\n")
        r = read_one(s)
        assert (r.status, r.body) == (200, b"forged")
        s.sendall(b"GET /forge/valid HTTP/1.1\r\nHost: t\r\n\r\n")
        # Whatever follows on the connection is the next request's genuine response.
        r2 = read_one(s)
        assert (r2.status, r2.body) == (200, b"forged")
        assert b"smuggled" not in r.raw + r2.raw
    finally:
        s.close()
    srv.wait_line(r"RWSGI0124: .*sent 29 bytes beyond its Content-Length 6", since=mark)


def test_body_short_of_content_length_closes(srv):
    mark = srv.log_mark()
    data, closed = fetch(srv, "short", extra=b"GET /forge/valid HTTP/1.1\r\nHost: t\r\n\r\n",
                          keepalive=True)
    assert closed, "connection left open after a body shorter than its Content-Length"
    status, _, headers, body = parse_head(data)
    assert status == 200 and body == b"forged"
    srv.wait_line(r"RWSGI0124: .*ended after 6 of the 100 bytes", since=mark)


def test_valid_raw_head_passes(srv):
    data, _ = fetch(srv, "valid", extra=b"")
    status, _, headers, body = parse_head(data)
    assert status == 200 and body.startswith(b"forged")
