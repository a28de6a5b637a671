"""Responses no application can forge (both modes): the Content-Length parser, hop-by-hop
headers and 1xx statuses refused, a short body closes the connection, a long one is cut, and an
error before anything was sent is a clean 500 while one after is a visible cut."""
import re
import socket

import pytest

from client import connect, parse_head, read_one, recv_all
from harness import serve

CONF = """
WSGIScriptAlias /f @APPS@/framing.wsgi
"""

srv = serve("framing", CONF)

HOP = ["Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "TE",
       "Trailer", "Transfer-Encoding", "Upgrade"]


def raw(srv, path, method="GET", extra=b""):
    """Sends one keep-alive request (plus `extra` pipelined bytes); returns all bytes received
    until the server closes the connection, or None if it kept it open past 3 s."""
    s = connect(srv.port, timeout=3)
    try:
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode() + extra)
        data = b""
        while True:
            try:
                d = s.recv(65536)
            except socket.timeout:
                return None, data
            except ConnectionResetError:
                return data, data
            if not d:
                return data, data
            data += d
    finally:
        s.close()


def assert_500_naming(srv, mark, path, needle):
    r = srv.get(path)
    assert r.status == 500, (path, r.status, r.body[:200])
    assert b"streamed-body" not in r.body and b"HTTP/1.1 200" not in r.body
    srv.wait_line(r"RWSGI0021", re.escape(needle), since=mark)


@pytest.mark.parametrize("value", [
    "9223372036854775808", "18446744073709551616", "-1", "+5", "1 2", "0x10", "", "12a"])
def test_bad_content_length_is_500_naming_value(srv, value):
    mark = srv.log_mark()
    from urllib.parse import quote
    assert_500_naming(srv, mark, "/f/cl?v=" + quote(value),
                      f'invalid Content-Length header value "{value}"')


def test_max_content_length_value_accepted_then_cut(srv):
    # i64::MAX is a valid length: sent as such, and the 13-byte body is a truncation.
    closed, data = raw(srv, "/f/cl?v=9223372036854775807")
    assert closed is not None, "connection left open after a short body"
    status, _, headers, rest = parse_head(data)
    assert status == 200
    assert dict((k.lower(), v) for k, v in headers)["content-length"] == "9223372036854775807"
    assert rest == b"streamed-body"


def test_two_different_content_lengths_500(srv):
    mark = srv.log_mark()
    assert_500_naming(srv, mark, "/f/cl2?v=6", "two different Content-Length headers (5 and 6)")


def test_repeated_same_content_length_accepted(srv):
    r = srv.get("/f/cl2?v=5")
    assert r.status == 200 and r.body == b"12345"
    assert r.header_all("Content-Length") == ["5"]


@pytest.mark.parametrize("header", HOP)
def test_hop_by_hop_header_refused(srv, header):
    mark = srv.log_mark()
    # A second request pipelined behind: the smuggled bytes must not answer it.
    closed, data = raw(srv, f"/f/hop?h={header}", extra=b"GET /f/ok HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert closed is not None
    status, _, headers, rest = parse_head(data)
    assert status == 500
    assert b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi" not in data
    assert "chunked" not in [v for _, v in headers]
    # Apache closes the connection after a 500: the pipelined request is never answered by
    # anything the application wrote.
    assert data.count(b"HTTP/1.1 ") == 1
    srv.wait_line(r"RWSGI0021", f'hop-by-hop header "{header}"', since=mark)


@pytest.mark.parametrize("status", ["100 Continue", "101 Switching Protocols", "103 Early Hints"])
def test_informational_status_refused(srv, status):
    mark = srv.log_mark()
    from urllib.parse import quote
    assert_500_naming(srv, mark, "/f/status?s=" + quote(status), "informational (1xx)")


@pytest.mark.parametrize("kind", ["gen", "list"])
def test_short_body_closes_connection(srv, kind):
    mark = srv.log_mark()
    closed, data = raw(srv, f"/f/short?kind={kind}", extra=b"GET /f/ok HTTP/1.1\r\nHost: t\r\n\r\n")
    assert closed is not None, "connection left open after a body shorter than Content-Length"
    status, _, headers, rest = parse_head(data)
    assert status == 200
    assert dict((k.lower(), v) for k, v in headers)["content-length"] == "100"
    # The client sees exactly the 10 bytes and the close, never the pipelined response.
    assert rest == b"0123456789"
    srv.wait_line(r"RWSGI0027: .*ended after 10 of the 100 bytes", since=mark)


def test_head_with_get_content_length_is_not_truncation(srv):
    mark = srv.log_mark()
    s = connect(srv.port, timeout=5)
    try:
        for _ in range(2):
            s.sendall(b"HEAD /f/short_head HTTP/1.1\r\nHost: t\r\n\r\n")
            r = read_one(s, head_request=True)
            assert r.status == 200 and r.header("Content-Length") == "100"
        s.sendall(b"GET /f/short_head HTTP/1.1\r\nHost: t\r\n\r\n")
        r = read_one(s)
        assert r.body == b"x" * 100
    finally:
        s.close()
    assert "RWSGI0027" not in srv.log_since(mark)


def test_304_with_content_length_is_not_truncation(srv):
    mark = srv.log_mark()
    s = connect(srv.port, timeout=5)
    try:
        s.sendall(b"GET /f/not_modified HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_one(s).status == 304
        s.sendall(b"GET /f/ok HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_one(s).body == b"ok"
    finally:
        s.close()
    assert "RWSGI0027" not in srv.log_since(mark)


def test_long_body_cut_at_content_length(srv):
    s = connect(srv.port, timeout=5)
    try:
        s.sendall(b"GET /f/long HTTP/1.1\r\nHost: t\r\n\r\n")
        r = read_one(s)
        assert r.status == 200 and r.body == b"12345"
        # The connection is still in sync: the next response is the next request's.
        s.sendall(b"GET /f/ok HTTP/1.1\r\nHost: t\r\n\r\n")
        r2 = read_one(s)
        assert (r2.status, r2.body) == (200, b"ok")
    finally:
        s.close()


def test_bad_item_in_list_is_clean_500(srv):
    mark = srv.log_mark()
    r = srv.get("/f/mixed_list")
    assert r.status == 500 and r.complete
    assert b"bytes-first" not in r.body
    srv.wait_line(r"RWSGI0023: Exception occurred processing", since=mark)
    srv.wait_line(r"RWSGI0021", "value of type str found", since=mark)
    text = srv.log_since(mark)
    assert "RWSGI0024" not in text and "after the response headers" not in text


def test_bad_item_after_streamed_chunk_cuts(srv):
    mark = srv.log_mark()
    closed, data = raw(srv, "/f/mixed_gen")
    assert closed is not None
    status, _, headers, rest = parse_head(data)
    assert status == 200
    assert b"bytes-first;" in rest
    assert not rest.endswith(b"0\r\n\r\n"), "cut response must not end with the last chunk"
    srv.wait_line(r"RWSGI0024: Exception occurred after the response headers", since=mark)
