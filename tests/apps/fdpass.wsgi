"""Daemon mode: wsgi.file_wrapper responses whose file the daemon passes to the Apache child as a
descriptor (tests/test_daemon_fdpass.py), and forged ResponseFile frames (0x16) written on the
daemon's own connection to the Apache child, as hostile code in a daemon process could.

/file?name=N&offset=O&blksize=B&cl=L   apps/N from O through file_wrapper (&status=S: that status)
/private?name=N&mode=0600               a copy of apps/N this process creates with `mode` (owned
                                        by the daemon's user), served through file_wrapper
/truncate?name=N&at=A                   a copy of apps/N, truncated to A bytes by the file-like's
                                        close() (right after the daemon handed the file over)
/ff/KIND (SCRIPT_NAME /ff)              raw frames, see forge() (a group of one thread: the
                                        daemon then has no other connection to the child)
/pid                                    this process's id and user id"""
import json
import os
import socket
import struct
import threading
from urllib.parse import parse_qs

HERE = os.path.dirname(os.path.abspath(__file__))
STATE = os.path.join(os.path.dirname(HERE), "state")


def copy_of(name, mode=0o644):
    path = os.path.join(STATE, "copy-%d-%d" % (os.getpid(), threading.get_ident()))
    with open(os.path.join(HERE, name), "rb") as src, open(path, "wb") as dst:
        dst.write(src.read())
    os.chmod(path, mode)
    return path


class Truncating:
    """A file whose close() truncates it first: file_wrapper closes it once the response was
    handed over, while the Apache child may still be reading it."""

    def __init__(self, path, at):
        self.f, self.path, self.at = open(path, "rb"), path, at

    def fileno(self):
        return self.f.fileno()

    def tell(self):
        return self.f.tell()

    def seek(self, *a):
        return self.f.seek(*a)

    def read(self, n=-1):
        return self.f.read(n)

    def close(self):
        os.truncate(self.path, self.at)
        self.f.close()
        os.unlink(self.path)


# ---- forgeries ------------------------------------------------------------------------------
T_HEAD, T_CHUNK, T_FLUSH, T_END, T_FILE = 0x10, 0x11, 0x12, 0x13, 0x16


def frame(kind, payload=b""):
    return struct.pack(">BI", kind, len(payload)) + payload


def head(cl=None):
    headers = [(b"Content-Type", b"application/octet-stream")]
    if cl is not None:
        headers.append((b"Content-Length", str(cl).encode()))
    p = struct.pack(">H", 200) + struct.pack(">I", 6) + b"200 OK" + struct.pack(">I", len(headers))
    for k, v in headers:
        p += struct.pack(">I", len(k)) + k + struct.pack(">I", len(v)) + v
    return frame(T_HEAD, p)


def file_frame(offset, length):
    return frame(T_FILE, struct.pack(">QQ", offset, length))


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


def forge(environ, kind):
    """[(bytes, [descriptors])] to send with sendmsg, one message each."""
    data = os.path.join(HERE, "fd-small.bin")
    size = os.path.getsize(data)
    f = os.open(data, os.O_RDONLY)
    if kind == "no_fd":  # a ResponseFile whose descriptor never came
        return [(head(size) + file_frame(0, size) + frame(T_END), [])]
    if kind == "pipe":  # not a regular file
        r, w = os.pipe()
        os.write(w, b"x" * size)
        return [(head(size) + file_frame(0, size) + frame(T_END), [r])]
    if kind == "past_end":  # more bytes than the file has
        return [(head(size + 10) + file_frame(0, size + 10) + frame(T_END), [f])]
    if kind == "offset_past_end":
        return [(head(10) + file_frame(size, 10) + frame(T_END), [f])]
    if kind == "empty_range":  # len 0: malformed
        return [(head(0) + file_frame(0, 0) + frame(T_END), [f])]
    if kind == "before_head":
        return [(file_frame(0, size) + frame(T_END), [f])]
    if kind == "beyond_cl":  # more than the declared Content-Length: clipped
        return [(head(100), []), (file_frame(0, size), [f]), (frame(T_END), [])]
    if kind == "two_fds":  # a spare descriptor: served from the first, the other closed
        return [(head(size), []), (file_frame(0, size), [f, os.open(data, os.O_RDONLY)]),
                (frame(T_END), [])]
    if kind == "stray_fds":  # descriptors no frame claims, one per message: refused at 5
        return ([(head(size), [])] + [(frame(T_FLUSH), [os.dup(f)]) for _ in range(6)]
                + [(file_frame(0, size), [f]), (frame(T_END), [])])
    if kind == "valid":  # a well-formed ResponseFile: served
        return [(head(size - 5), []), (file_frame(5, size - 5), [f]), (frame(T_END), [])]
    raise KeyError(kind)


def forged(environ, start_response, kind):
    s = connection_to_apache(environ)
    try:
        for data, fds in forge(environ, kind):
            if fds:
                socket.send_fds(s, [data], fds)
            else:
                s.sendall(data)
        # As tests/apps/forge.wsgi: what was sent stays readable, the daemon's own frames go
        # nowhere.
        s.shutdown(socket.SHUT_RDWR)
    finally:
        s.close()
    start_response("500 Never Seen", [])
    return [b"the daemon's own response must not reach the client"]


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if environ.get("SCRIPT_NAME") == "/ff":
        return forged(environ, start_response, path.strip("/"))
    if path == "/pid":
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps({"pid": os.getpid(), "uid": os.getuid()}).encode()]
    name = q.get("name", "fd-small.bin")
    headers = [("Content-Type", "application/octet-stream")]
    if "cl" in q:
        headers.append(("Content-Length", q["cl"]))
    if path == "/file":
        f = open(os.path.join(HERE, name), "rb")
        f.seek(int(q.get("offset", "0")))
    elif path == "/private":
        p = copy_of(name)
        f = open(p, "rb")
        os.chmod(p, int(q.get("mode", "0600"), 8))
        os.unlink(p)
        headers.append(("X-Owner-Uid", str(os.getuid())))
    elif path == "/truncate":
        f = Truncating(copy_of(name), int(q.get("at", "0")))
    else:
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no such path"]
    start_response(q.get("status", "200 OK"), headers)
    return environ["wsgi.file_wrapper"](f, int(q.get("blksize", "8192")))
