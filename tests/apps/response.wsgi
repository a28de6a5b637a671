"""Response-side behaviour, dispatched on PATH_INFO: list/generator/write() output, streaming,
Content-Length truncation, status passthrough, start_response validation and exc_info rules,
wsgi.file_wrapper, and close() tracking (one line appended to state/close-<id> per close())."""
import io
import os
import sys
import time
from urllib.parse import parse_qs


def state_dir(environ):
    return os.path.join(os.path.dirname(environ["SCRIPT_FILENAME"]), "..", "state")


def record_close(environ, ident, info=""):
    with open(os.path.join(state_dir(environ), "close-" + ident), "a") as f:
        f.write(f"closed {info}\n")


class Tracked:
    """An iterable with close(), delegating iteration to a generator."""

    def __init__(self, environ, ident, gen):
        self.environ, self.ident, self.gen, self.count = environ, ident, gen, 0

    def __iter__(self):
        for item in self.gen:
            self.count += 1
            yield item

    def close(self):
        record_close(self.environ, self.ident, f"after {self.count} items")


# Every ClosingFile stays referenced here: only the server's close() call can record a close
# (an io.BytesIO would also be closed by the garbage collector, hiding a missing call).
KEPT_FILES = []


class ClosingFile:
    """A file-like object with read() and close() and no finaliser."""

    def __init__(self, data, environ, ident):
        self.f = io.BytesIO(data)
        self.environ, self.ident = environ, ident
        KEPT_FILES.append(self)
        del KEPT_FILES[:-50]

    def read(self, n=-1):
        return self.f.read(n)

    def close(self):
        record_close(self.environ, self.ident, "filelike")


class ReadOnly:
    """A file-like object with read() only: no fileno, no close."""

    def __init__(self, data):
        self.f = io.BytesIO(data)

    def read(self, n=-1):
        return self.f.read(n)


SR_CASES = {
    # name: (status, headers)
    "ok": ("200 OK", [("X-Ok", "1")]),
    "status_no_reason": ("200", [("X-Ok", "1")]),
    "status_bytes": (b"200 OK", []),
    "status_two_digits": ("20 OK", []),
    "status_four_digits": ("2000 OK", []),
    "status_letters": ("abc OK", []),
    "status_no_space": ("200OK", []),
    "status_crlf": ("200 OK\r\nX-Injected: 1", []),
    "status_control": ("200 O\x01K", []),
    "status_non_latin1": ("200 \u20ac", []),
    "headers_tuple": ("200 OK", (("X-A", "1"),)),
    "header_not_tuple": ("200 OK", [["X-A", "1"]]),
    "header_three_items": ("200 OK", [("X-A", "1", "2")]),
    "name_bytes": ("200 OK", [(b"X-A", "1")]),
    "value_bytes": ("200 OK", [("X-A", b"1")]),
    "value_int": ("200 OK", [("X-A", 1)]),
    "name_empty": ("200 OK", [("", "1")]),
    "name_space": ("200 OK", [("X A", "1")]),
    "name_control": ("200 OK", [("X-\x01A", "1")]),
    "name_newline": ("200 OK", [("X-A\r\nX-Injected", "1")]),
    "value_crlf": ("200 OK", [("X-A", "1\r\nX-Injected: 1")]),
    "value_lf": ("200 OK", [("X-A", "1\nX-Injected: 1")]),
    "value_cr": ("200 OK", [("X-A", "1\rX-Injected: 1")]),
    "value_non_latin1": ("200 OK", [("X-A", "\u20ac")]),
    "value_latin1": ("200 OK", [("X-A", "caf\xe9")]),
}


def sr_case(environ, start_response, case):
    status, headers = SR_CASES[case]
    try:
        start_response(status, headers)
    except Exception as e:
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Rejected", "1")],
                       sys.exc_info())
        base = ("TypeError" if isinstance(e, TypeError) else
                "ValueError" if isinstance(e, ValueError) else "other")
        return [f"raised {base} {type(e).__name__}: {e}".encode("utf-8", "replace")]
    return [b"accepted"]


def stream(environ, start_response, q):
    n, delay = int(q.get("n", "3")), float(q.get("delay", "0.5"))
    start_response("200 OK", [("Content-Type", "text/plain")])
    for i in range(n):
        if i:
            time.sleep(delay)
        yield f"chunk-{i}\n".encode()


class ClosingList(list):
    """A list subclass with close(): a plain list has none, a subclass may."""

    def close(self):
        record_close(self.environ, self.ident, "list")


class ClosingTuple(tuple):
    def close(self):
        record_close(self.environ, self.ident, "tuple")


def close_app(environ, start_response, q):
    ident, kind = q["id"], q.get("kind", "normal")
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    if kind in ("list_subclass", "tuple_subclass"):
        it = (ClosingList if kind == "list_subclass" else ClosingTuple)([b"one", b"two"])
        it.environ, it.ident = environ, ident
        return it

    def gen():
        if kind == "normal":
            yield b"one"
            yield b"two"
        elif kind == "raise_after_first":
            yield b"first"
            raise ValueError("CLOSE-TEST raise after first chunk")
        elif kind == "raise_before_first":
            raise ValueError("CLOSE-TEST raise before first chunk")
            yield b""
        elif kind == "write":
            write(b"written-")
            yield b"yielded"
        elif kind == "empty":
            return
        elif kind == "slow":
            for i in range(200):
                yield b"x" * 16384
                time.sleep(0.05)
        elif kind == "exc_info_after":
            yield b"first"
            try:
                raise KeyError("CLOSE-TEST exc_info after headers")
            except KeyError:
                start_response("500 Error", [], sys.exc_info())
            yield b"never"
    return Tracked(environ, ident, gen())


def file_app(environ, start_response, q, path):
    name = os.path.join(os.path.dirname(environ["SCRIPT_FILENAME"]), q.get("name", "data.bin"))
    blksize = int(q.get("blksize", "8192"))
    headers = [("Content-Type", "application/octet-stream")]
    if path == "/file":
        f = open(name, "rb")
        if "offset" in q:
            f.seek(int(q["offset"]))
    else:
        with open(name, "rb") as fh:
            data = fh.read()
        if path == "/file_bytesio":
            f = io.BytesIO(data)
        elif path == "/file_readonly":
            f = ReadOnly(data)
        elif path == "/file_closing":
            f = ClosingFile(data, environ, q["id"])
    if "cl" in q:
        headers.append(("Content-Length", q["cl"]))
    start_response("200 OK", headers)
    return environ["wsgi.file_wrapper"](f, blksize)


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    text = [("Content-Type", "text/plain")]
    if path == "/list":
        start_response("200 OK", text)
        return [b"a", b"bb", b"", b"ccc"]
    if path == "/empty":
        start_response("200 OK", text)
        return []
    if path == "/big_list":
        size = int(q["size"])
        block = bytes(range(256)) * 256
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [block[: min(len(block), size - i)] for i in range(0, size, len(block))]
    if path == "/stream":
        return stream(environ, start_response, q)
    if path == "/write":
        write = start_response("200 OK", text)
        write(b"w1-")
        write(b"w2-")
        return [b"it1-", b"it2"]
    if path == "/write_stream":
        write = start_response("200 OK", text)
        write(b"first\n")
        time.sleep(float(q.get("delay", "1.5")))
        return [b"second\n"]
    if path == "/write_str":
        write = start_response("200 OK", text)
        try:
            write("a str")
        except TypeError:
            return [b"raised TypeError"]
        return [b"accepted"]
    if path == "/cl_truncate":
        start_response("200 OK", text + [("Content-Length", "5")])
        return [b"0123", b"456789"]
    if path == "/cl_truncate_gen":
        start_response("200 OK", text + [("Content-Length", "5")])
        return (c for c in [b"012", b"3456", b"789"])
    if path == "/status":
        start_response(q["s"], text)
        return [b"status body"]
    if path == "/cookies":
        start_response("200 OK", text + [("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2; Path=/"),
                                         ("X-Multi", "one"), ("X-Multi", "two")])
        return [b"cookies"]
    if path == "/head":
        body = b"head-body-0123456789"
        start_response("200 OK", text + [("X-Method", environ["REQUEST_METHOD"]),
                                         ("Content-Length", str(len(body)))])
        return [body]
    if path == "/sr":
        return sr_case(environ, start_response, q["case"])
    if path == "/exc_info_replace":
        start_response("200 OK", [("X-First", "1")])
        try:
            raise ValueError("replaced")
        except ValueError:
            start_response("500 Replaced", text + [("X-Second", "1")], sys.exc_info())
        return [b"replaced body"]
    if path == "/restart_after_output":
        write = start_response("200 OK", text)
        write(b"sent;")
        try:
            start_response("200 OK", text)
        except Exception as e:
            return [f"raised {type(e).__name__}".encode()]
        return [b"accepted"]
    if path == "/exc_info_after":
        def gen():
            yield b"first;"
            try:
                raise KeyError("EXCINFO-AFTER-HEADERS-MARKER")
            except KeyError:
                start_response("500 Error", text, sys.exc_info())
            yield b"never"
        start_response("200 OK", text)
        return gen()
    if path == "/close":
        return close_app(environ, start_response, q)
    if path.startswith("/file"):
        return file_app(environ, start_response, q, path)
    start_response("404 Not Found", text)
    return [b"no such test path " + path.encode("latin-1")]
