"""A small raw-socket HTTP/1.1 client: exact control over request bytes (%-escapes, repeated and
odd headers, chunked uploads) and exact view of the response (chunk framing, cut connections)."""
import json
import socket
import threading
import time


def _b(x):
    return x if isinstance(x, bytes) else x.encode("latin-1")


class Response:
    def __init__(self, status, reason, headers, body, complete, chunked, raw):
        self.status = status
        self.reason = reason
        self.headers = headers      # [(name, value)] as latin-1 str, in order
        self.body = body            # bytes (de-chunked)
        self.complete = complete    # framing complete: last-chunk seen / Content-Length reached
        self.chunked = chunked
        self.raw = raw

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return f"<Response {self.status} {self.reason!r} {len(self.body)} bytes>"


def build_request(method, path, headers=(), body=b"", version="HTTP/1.1", chunked=None,
                  close=True, host=True):
    """Request head + body as bytes. `chunked` = chunk size to send the body chunked."""
    lines = [_b(method) + b" " + _b(path) + b" " + _b(version)]
    names = {(_b(k).lower()) for k, _ in headers}
    if host and b"host" not in names:
        lines.append(b"Host: " + _b(host if isinstance(host, (str, bytes)) else "127.0.0.1"))
    for k, v in headers:
        lines.append(_b(k) + b": " + _b(v))
    body = _b(body)
    if chunked:
        lines.append(b"Transfer-Encoding: chunked")
        out = bytearray()
        for i in range(0, len(body), chunked):
            piece = body[i:i + chunked]
            out += b"%x\r\n" % len(piece) + piece + b"\r\n"
        out += b"0\r\n\r\n"
        body = bytes(out)
    elif (body or method in ("POST", "PUT")) and b"content-length" not in names:
        lines.append(b"Content-Length: %d" % len(body))
    if close and b"connection" not in names:
        lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n", body


def connect(port, timeout=30):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _send_background(sock, data):
    """Send a big body from a thread so a server that answers early cannot deadlock us."""
    err = []

    def run():
        try:
            sock.sendall(data)
        except OSError as e:
            err.append(e)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, err


def post_expect_continue(port, path, body, timeout=10):
    """POST with `Expect: 100-continue`: asserts the interim 100 arrives before the body is
    sent, then returns the final response."""
    s = connect(port, timeout=timeout)
    try:
        head, _ = build_request("POST", path,
                                [("Expect", "100-continue"), ("Content-Length", str(len(body)))],
                                host=f"127.0.0.1:{port}")
        s.sendall(head)
        interim = s.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim
        s.sendall(body)
        return parse_response(recv_all(s))
    finally:
        s.close()


def recv_all(sock):
    chunks = []
    while True:
        try:
            d = sock.recv(1 << 16)
        except ConnectionResetError:
            break
        if not d:
            break
        chunks.append(d)
    return b"".join(chunks)


def http_request(port, method, path, headers=(), body=b"", timeout=30, chunked=None,
                 version="HTTP/1.1", raw_request=None):
    if raw_request is not None:
        head, payload = _b(raw_request), b""
    else:
        head, payload = build_request(method, path, headers, body, version, chunked,
                                      host=f"127.0.0.1:{port}")
    s = connect(port, timeout)
    try:
        if len(payload) > 65536:
            s.sendall(head)
            t, _ = _send_background(s, payload)
        else:
            try:
                s.sendall(head + payload)
            except OSError:
                pass
            t = None
        data = recv_all(s)
        if t:
            t.join(timeout)
    finally:
        s.close()
    return parse_response(data, head_request=(method == "HEAD"))


def read_one(sock, head_request=False):
    """Read exactly one response from a kept-alive connection."""
    buf = b""
    while True:
        try:
            status, reason, headers, rest = parse_head(buf)
            break
        except ValueError:
            d = sock.recv(65536)
            if not d:
                raise
            buf += d
    hd = {k.lower(): v for k, v in headers}
    if head_request or status in (204, 304):
        return Response(status, reason, headers, b"", True, False, buf)
    if "chunked" in hd.get("transfer-encoding", "").lower():
        while True:
            body, complete = dechunk(rest)
            if complete and rest.endswith(b"\r\n\r\n"):
                return Response(status, reason, headers, body, True, True, buf)
            d = sock.recv(65536)
            if not d:
                return Response(status, reason, headers, body, False, True, buf)
            rest += d
    n = int(hd.get("content-length", "0"))
    while len(rest) < n:
        d = sock.recv(65536)
        if not d:
            break
        rest += d
    return Response(status, reason, headers, rest[:n], len(rest) >= n, False, buf)


def parse_head(data):
    """-> (status, reason, headers, rest) for the first non-1xx response in data."""
    while True:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            raise ValueError(f"incomplete response head: {data[:500]!r}")
        lines = data[:end].split(b"\r\n")
        parts = lines[0].decode("latin-1").split(" ", 2)
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers = []
        for l in lines[1:]:
            k, _, v = l.decode("latin-1").partition(":")
            headers.append((k.strip(), v.strip()))
        data = data[end + 4:]
        if 100 <= status < 200:
            continue
        return status, reason, headers, data


def dechunk(data):
    """-> (body, complete). complete is False when the terminating 0-chunk never came."""
    out = bytearray()
    pos = 0
    while True:
        nl = data.find(b"\r\n", pos)
        if nl < 0:
            return bytes(out), False
        size = int(data[pos:nl].split(b";")[0] or b"0", 16)
        if size == 0:
            return bytes(out), True
        start = nl + 2
        if len(data) < start + size:
            out += data[start:]
            return bytes(out), False
        out += data[start:start + size]
        pos = start + size + 2


def parse_response(data, head_request=False):
    if not data:
        return Response(0, "connection closed without response", [], b"", False, False, data)
    status, reason, headers, rest = parse_head(data)
    hd = {k.lower(): v for k, v in headers}
    chunked = "chunked" in hd.get("transfer-encoding", "").lower()
    if head_request or status in (204, 304):
        body, complete = rest, True
    elif chunked:
        body, complete = dechunk(rest)
    elif "content-length" in hd:
        n = int(hd["content-length"])
        body, complete = rest, len(rest) == n
    else:
        body, complete = rest, True
    return Response(status, reason, headers, body, complete, chunked, data)


class Stream:
    """Send a request and read the response incrementally, timestamping body pieces."""

    def __init__(self, port, path, method="GET", headers=(), timeout=30):
        self.t0 = time.monotonic()
        self.t0_wall = time.time()  # the same instant on the wall clock (vs app timestamps)
        self.sock = connect(port, timeout)
        head, body = build_request(method, path, headers, host=f"127.0.0.1:{port}")
        self.sock.sendall(head + body)
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise ValueError(f"closed before head: {self.buf!r}")
            self.buf += d
        self.t_head = time.monotonic() - self.t0
        self.status, self.reason, self.headers, self.buf = parse_head(self.buf)
        self.chunked = any(k.lower() == "transfer-encoding" and "chunked" in v.lower()
                           for k, v in self.headers)

    def pieces(self):
        """Yield (seconds since request, bytes) as body data arrives (chunk framing removed
        when chunked); ends at the last-chunk or when the server closes."""
        raw = self.buf
        self.buf = b""
        done = False
        pending = bytearray()
        while not done:
            if raw:
                if self.chunked:
                    pending += raw
                    body = bytearray()
                    while True:
                        nl = pending.find(b"\r\n")
                        if nl < 0:
                            break
                        size = int(bytes(pending[:nl]).split(b";")[0] or b"0", 16)
                        if size == 0:
                            done = True
                            break
                        if len(pending) < nl + 2 + size + 2:
                            break
                        body += pending[nl + 2:nl + 2 + size]
                        del pending[:nl + 2 + size + 2]
                    if body:
                        yield time.monotonic() - self.t0, bytes(body)
                else:
                    yield time.monotonic() - self.t0, raw
            if done:
                break
            try:
                raw = self.sock.recv(65536)
            except ConnectionResetError:
                raw = b""
            if not raw:
                self.cut = self.chunked and not done
                return
        self.cut = False

    def close(self):
        self.sock.close()
