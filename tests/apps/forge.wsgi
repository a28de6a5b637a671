"""Daemon-mode only: code in a daemon process that writes raw protocol frames on its own
connection to the Apache child, as a hostile tenant could. The Apache child must check them as
it checks start_response. PATH_INFO names the forgery."""
import os
import socket
import struct

T_HEAD, T_CHUNK, T_FLUSH, T_END = 0x10, 0x11, 0x12, 0x13


def frame(kind, payload=b""):
    return struct.pack(">BI", kind, len(payload)) + payload


def head(code, status, headers):
    p = struct.pack(">H", code) + struct.pack(">I", len(status)) + status
    p += struct.pack(">I", len(headers))
    for k, v in headers:
        p += struct.pack(">I", len(k)) + k + struct.pack(">I", len(v)) + v
    return frame(T_HEAD, p)


def connection_to_apache(environ):
    """This request's connection: the Unix stream socket whose peer is the Apache child."""
    apache_pid = int(environ["mod_wsgi.server_pid"])
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            s = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            if s.family == socket.AF_UNIX and s.type == socket.SOCK_STREAM:
                cred = s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
                if struct.unpack("3i", cred)[0] == apache_pid:
                    return s
        except OSError:
            pass
        s.close()
    raise RuntimeError("no connection to the Apache child found")


FORGERIES = {
    "crlf_value": [head(200, b"200 OK", [(b"X-A", b"v\r\nSet-Cookie: stolen=1")]),
                   frame(T_CHUNK, b"forged"), frame(T_END)],
    "nul_name": [head(200, b"200 OK", [(b"X\0A", b"v")]), frame(T_CHUNK, b"forged"), frame(T_END)],
    "transfer_encoding": [head(200, b"200 OK", [(b"Transfer-Encoding", b"chunked")]),
                          frame(T_CHUNK, b"0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"),
                          frame(T_END)],
    "connection": [head(200, b"200 OK", [(b"Connection", b"keep-alive")]), frame(T_CHUNK, b"forged"),
                   frame(T_END)],
    "cl_overflow": [head(200, b"200 OK", [(b"Content-Length", b"9223372036854775808")]),
                    frame(T_CHUNK, b"forged"), frame(T_END)],
    "cl_two": [head(200, b"200 OK", [(b"Content-Length", b"6"), (b"Content-Length", b"60")]),
               frame(T_CHUNK, b"forged"), frame(T_END)],
    "status_crlf": [head(200, b"200 OK\r\nX-Injected: 1", []), frame(T_CHUNK, b"forged"), frame(T_END)],
    "status_1xx": [head(100, b"100 Continue", []), frame(T_CHUNK, b"forged"), frame(T_END)],
    "code_mismatch": [head(200, b"404 Not Found", []), frame(T_CHUNK, b"forged"), frame(T_END)],
    "body_first": [frame(T_CHUNK, b"HTTP/1.1 200 OK\r\n\r\nforged"), frame(T_END)],
    "end_first": [frame(T_END)],
    "excess": [head(200, b"200 OK", [(b"Content-Length", b"6")]),
               frame(T_CHUNK, b"forged-and-then-a-smuggled-response"), frame(T_FLUSH), frame(T_END)],
    "short": [head(200, b"200 OK", [(b"Content-Length", b"100")]), frame(T_CHUNK, b"forged"),
              frame(T_FLUSH), frame(T_END)],
    "valid": [head(200, b"200 OK", [(b"Content-Type", b"text/plain"), (b"Content-Length", b"6")]),
              frame(T_CHUNK, b"forged"), frame(T_END)],
}


def application(environ, start_response):
    kind = environ["PATH_INFO"].strip("/")
    s = connection_to_apache(environ)
    try:
        s.sendall(b"".join(FORGERIES[kind]))
        # End the connection for writing and reading: what was sent stays readable by the
        # Apache child, and the daemon's own frames, written after this returns, go nowhere
        # (the Apache child keeps connections open between requests, so waiting for it to
        # close this one would wait for ever; its next request on it is refused unread and
        # goes on a new connection).
        s.shutdown(socket.SHUT_RDWR)
    finally:
        s.close()
    start_response("500 Never Seen", [])
    return [b"the daemon's own response must not reach the client"]
