"""Applications that try to frame HTTP themselves (issue: responses no application can forge).
Dispatched on PATH_INFO; each misbehaves in one way a real app could."""
from urllib.parse import parse_qs

SMUGGLED = b"0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"


def gen(*items):
    for i in items:
        yield i


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}
    if path == "/ok":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]
    if path == "/cl":
        # Content-Length given verbatim by the test, body as a generator (streamed).
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", q["v"])])
        return gen(b"streamed-body")
    if path == "/cl2":
        start_response("200 OK", [("Content-Length", "5"), ("Content-Length", q.get("v", "6"))])
        return [b"12345"]
    if path == "/hop":
        # A hop-by-hop header named by the test; the body tries to smuggle a second response.
        start_response("200 OK", [("Content-Type", "text/plain"), (q["h"], q.get("v", "chunked"))])
        return [SMUGGLED]
    if path == "/status":
        start_response(q["s"], [("Content-Type", "text/plain")])
        return [b"informational?"]
    if path == "/short":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "100")])
        body = b"0123456789"
        return gen(body) if q.get("kind") == "gen" else [body]
    if path == "/short_head":
        # What frameworks do for HEAD: the GET's Content-Length, no body. Not a truncation.
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "100")])
        return [b""] if environ["REQUEST_METHOD"] == "HEAD" else [b"x" * 100]
    if path == "/not_modified":
        start_response("304 Not Modified", [("Content-Length", "100")])
        return []
    if path == "/long":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return gen(b"12345", b"-and-more-than-declared")
    if path == "/mixed_list":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"bytes-first;", "then a str"]
    if path == "/mixed_gen":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return gen(b"bytes-first;", "then a str")
    raise ValueError(f"unknown path {path!r}")
