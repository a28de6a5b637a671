"""wsgi.file_wrapper in daemon mode: the daemon passes the file's descriptor to the Apache child
(ResponseFile frame + SCM_RIGHTS), which serves it as a file bucket like a static file.
Byte identity for sizes, offsets, block sizes, Content-Length shorter than the file, with
WSGIEnableSendfile Off and On, HEAD and HTTP/2; proof that the descriptor path is taken (one
RWSGI0186 debug line per file); files the Apache child cannot reopen (mode 0, or readable by the
daemon's user only) copied from the passed descriptor (RWSGI0187); a file truncated while it is
relayed (cut, no hang); and forged ResponseFile frames from hostile daemon code (bad or missing
descriptor, range past the end, before the head, beyond Content-Length): 500/502 or a clipped
body, never a hang, and the server keeps serving."""
import hashlib
import os
import random
import re
import time

import pytest

from client import connect, parse_head, parse_response
from harness import IS_ROOT, RUN_USER, serve

pytestmark = pytest.mark.daemon

MiB = 1024 * 1024
SIZES = {"fd-1.bin": 1, "fd-small.bin": 4095, "fd-64k.bin": 64 * 1024 + 1,
         "fd-1m.bin": MiB + 3, "fd-5m.bin": 5 * MiB + 7, "fd-8m.bin": 8 * MiB}
FILES = {n: random.Random(i).randbytes(s) for i, (n, s) in enumerate(SIZES.items())}

# As root the daemon runs as nobody, so a file it creates with mode 0600 is readable by the
# daemon's user only (Apache's children are www-data).
USER = "user=nobody group=nogroup" if IS_ROOT else ""

CONF = f"""
LoadModule http2_module /usr/lib/apache2/modules/mod_http2.so
Protocols h2c http/1.1
H2CopyFiles Off
EnableSendfile On
LogLevel info wsgi_rs:debug
WSGIDaemonProcess fdp processes=1 threads=4 {USER}
WSGIProcessGroup fdp
WSGIDaemonProcess fdforge processes=1 threads=1 {USER}
WSGIScriptAlias /ff @APPS@/fdpass.wsgi process-group=fdforge
WSGIScriptAlias /fd @APPS@/fdpass.wsgi
WSGIScriptAlias /sf @APPS@/fdpass.wsgi
<Location /sf>
    WSGIEnableSendfile On
</Location>
WSGIScriptAlias /eo @APPS@/fdpass.wsgi
<Location /eo>
    WSGIErrorOverride On
</Location>
ErrorDocument 404 "apache-404-page"
"""

srv = serve("daemon-fdpass", CONF, files={f"apps/{k}": v for k, v in FILES.items()})

SENT = r"RWSGI0186: Sent {} bytes of a file passed by WSGI daemon process 'fdp' as a file bucket"


def sha(b):
    return hashlib.sha256(b).hexdigest()


def sent_lines(srv, mark):
    return re.findall(r"RWSGI0186: Sent (\d+) bytes", srv.log_since(mark))


@pytest.mark.parametrize("prefix", ["/fd", "/sf"])
@pytest.mark.parametrize("name,query", [
    ("fd-1.bin", ""),
    ("fd-small.bin", ""),
    ("fd-small.bin", "&offset=4000"),
    ("fd-64k.bin", "&blksize=1000"),
    ("fd-1m.bin", ""),
    ("fd-1m.bin", "&offset=65535&blksize=65536"),
    ("fd-5m.bin", "&offset=1"),
])
def test_byte_identity_through_the_descriptor(srv, prefix, name, query):
    data = FILES[name]
    offset = int(re.search(r"offset=(\d+)", query).group(1)) if "offset" in query else 0
    want = data[offset:]
    mark = srv.log_mark()
    r = srv.get(f"{prefix}/file?name={name}{query}")
    assert r.status == 200 and r.complete
    assert r.header("Content-Length") == str(len(want))
    assert len(r.body) == len(want) and sha(r.body) == sha(want)
    # The descriptor path, not chunks through the daemon socket.
    srv.wait_line(SENT.format(len(want)), since=mark)
    assert sent_lines(srv, mark) == [str(len(want))]


def test_every_file_response_takes_the_descriptor_path(srv):
    mark = srv.log_mark()
    for i in range(6):
        r = srv.get(f"/fd/file?name=fd-64k.bin&offset={i}")
        assert r.status == 200 and r.body == FILES["fd-64k.bin"][i:]
    srv.wait_line(SENT.format(64 * 1024 + 1 - 5), since=mark)
    assert sorted(map(int, sent_lines(srv, mark))) == sorted(64 * 1024 + 1 - i for i in range(6))
    assert "RWSGI0187" not in srv.log_since(mark)


@pytest.mark.parametrize("prefix", ["/fd", "/sf"])
def test_content_length_shorter_than_the_file(srv, prefix):
    mark = srv.log_mark()
    r = srv.get(f"{prefix}/file?name=fd-1m.bin&offset=10&cl=1000")
    assert r.status == 200 and r.complete
    assert r.header("Content-Length") == "1000" and r.body == FILES["fd-1m.bin"][10:1010]
    srv.wait_line(SENT.format(1000), since=mark)
    assert "RWSGI0124" not in srv.log_since(mark)


@pytest.mark.parametrize("prefix", ["/fd", "/sf"])
def test_head_keeps_the_connection_in_step(srv, prefix):
    """HEAD: the head with the file's length, no body, and the next request on the same
    connection is answered properly (no stray file bytes in between)."""
    s = connect(srv.port, timeout=20)
    try:
        s.sendall(f"HEAD {prefix}/file?name=fd-1m.bin HTTP/1.1\r\nHost: t\r\n\r\n"
                  f"GET {prefix}/file?name=fd-small.bin HTTP/1.1\r\nHost: t\r\n"
                  "Connection: close\r\n\r\n".encode())
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    finally:
        s.close()
    head_end = data.index(b"\r\n\r\n") + 4
    status, _, headers, _ = parse_head(data[:head_end])
    assert status == 200 and dict((k.lower(), v) for k, v in headers).get("content-length") == str(MiB + 3)
    rest = data[head_end:]
    assert rest.startswith(b"HTTP/1.1 200 "), rest[:200]
    r = parse_response(rest)
    assert r.body == FILES["fd-small.bin"]


def test_error_override_drops_the_file(srv):
    """WSGIErrorOverride On: the file of a 404 is not relayed, Apache's error document is
    sent; a 200 on the same path is served from the descriptor."""
    mark = srv.log_mark()
    r = srv.get("/eo/file?name=fd-1m.bin&status=404+Not+Found")
    assert r.status == 404 and b"apache-404-page" in r.body
    assert FILES["fd-1m.bin"][:64] not in r.body
    r = srv.get("/eo/file?name=fd-small.bin")
    assert r.status == 200 and r.body == FILES["fd-small.bin"]
    srv.wait_line(SENT.format(4095), since=mark)
    assert sent_lines(srv, mark) == ["4095"]


def test_http2_streams(srv):
    from test_http2 import h2_get_all
    names = ["fd-1m.bin", "fd-5m.bin", "fd-small.bin", "fd-64k.bin"] * 3
    mark = srv.log_mark()
    res = h2_get_all(srv.port, [f"/fd/file?name={n}&offset={i}" for i, n in enumerate(names)])
    for i, (n, r) in enumerate(zip(names, res)):
        assert r.status == 200 and r.ended and r.reset is None, (n, i, r.status, r.reset)
        assert r.length == len(FILES[n][i:]) and r.hash.hexdigest() == sha(FILES[n][i:]), (n, i)
    srv.wait_line(r"RWSGI0186: ", since=mark)
    assert len(sent_lines(srv, mark)) == len(names)


def test_file_this_user_cannot_reopen_is_copied(srv):
    """Mode 0: the Apache child cannot reopen it through /proc/self/fd (as the daemon's user
    could not either), so it copies the bytes from the passed descriptor."""
    mark = srv.log_mark()
    r = srv.get("/fd/private?name=fd-5m.bin&mode=0")
    assert r.status == 200 and r.complete and sha(r.body) == sha(FILES["fd-5m.bin"])
    srv.wait_line(r"RWSGI0187: Cannot reopen the file passed by WSGI daemon process 'fdp'",
                  rf"copying its {5 * MiB + 7} bytes", since=mark)
    assert "RWSGI0186" not in srv.log_since(mark)


@pytest.mark.skipif(not IS_ROOT, reason="the daemon's user differs from Apache's only as root")
def test_file_readable_by_the_daemon_user_only(srv):
    import pwd
    mark = srv.log_mark()
    r = srv.get("/fd/private?name=fd-1m.bin&mode=0600&offset=0")
    assert r.status == 200 and r.complete and sha(r.body) == sha(FILES["fd-1m.bin"])
    owner = int(r.header("X-Owner-Uid"))
    assert owner == pwd.getpwnam("nobody").pw_uid != pwd.getpwnam(RUN_USER).pw_uid
    srv.wait_line(r"RWSGI0187: ", rf"copying its {MiB + 3} bytes", since=mark)


@pytest.mark.parametrize("prefix", ["/fd", "/sf"])
def test_file_truncated_while_relayed_is_cut_without_hang(srv, prefix):
    """The file-like's close() truncates the file to 1 MiB right after the daemon handed it
    over; the client reads only after a pause, so the Apache child is mid-file (or has not
    looked at it yet). The response is cut or refused, never complete, never hanging."""
    mark = srv.log_mark()
    s = connect(srv.port, timeout=30)
    try:
        s.sendall(f"GET {prefix}/truncate?name=fd-8m.bin&at={MiB} HTTP/1.1\r\nHost: t\r\n"
                  "Connection: close\r\n\r\n".encode())
        time.sleep(1.5)
        data = b""
        t0 = time.time()
        while True:
            d = s.recv(1 << 20)
            if not d:
                break
            data += d
        assert time.time() - t0 < 25
    finally:
        s.close()
    status, _, headers, body = parse_head(data)
    if status == 200:
        assert dict((k.lower(), v) for k, v in headers).get("content-length") == str(8 * MiB)
        assert len(body) < 8 * MiB, "a truncated file was relayed whole"
        # What lay before the cut is intact. (Past it, sendfile racing with the truncation
        # may read holes, which tmpfs sends as zeros: the file changed under the reader, as it
        # would for a static file.)
        keep = min(len(body), MiB)
        assert body[:keep] == FILES["fd-8m.bin"][:keep]
    else:
        assert status in (500, 502), data[:300]
        srv.wait_line(r"RWSGI0185: Cannot relay the file passed by WSGI daemon process 'fdp'",
                      r"truncated", since=mark)
    r = srv.get("/fd/file?name=fd-small.bin")
    assert r.status == 200 and r.body == FILES["fd-small.bin"]


def fetch(srv, path):
    s = connect(srv.port, timeout=10)
    data = b""
    try:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        while True:
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                break
            if not d:
                break
            data += d
    finally:
        s.close()
    return data


BAD_FILE = "RWSGI0185: Cannot relay the file passed by WSGI daemon process 'fdforge'"
MALFORMED = "RWSGI0113: Malformed response from WSGI daemon process 'fdforge'"


@pytest.mark.parametrize("kind,rule,needle", [
    ("no_fd", MALFORMED, "ResponseFile frame without a descriptor"),
    ("pipe", BAD_FILE, "not a regular file"),
    ("past_end", BAD_FILE, r"bytes 0\.\.4105 announced, the file has 4095 bytes"),
    ("offset_past_end", BAD_FILE, r"bytes 4095\.\.4105 announced, the file has 4095 bytes"),
    ("empty_range", MALFORMED, "empty file range"),
    ("before_head", MALFORMED, "response body before the response head"),
])
def test_forged_response_file_is_refused(srv, kind, rule, needle):
    mark = srv.log_mark()
    data = fetch(srv, f"/ff/{kind}")
    status, _, _, body = parse_head(data)
    # Nothing of the file reached the client: an error answer (500 once the forged head was
    # taken, 502 before it).
    assert status in (500, 502), data[:300]
    assert FILES["fd-small.bin"][:64] not in data and b"x" * 64 not in data
    srv.wait_line(re.escape(rule), needle, since=mark)
    r = srv.get("/fd/file?name=fd-small.bin")
    assert r.status == 200 and r.body == FILES["fd-small.bin"]


def test_stray_descriptors_are_bounded(srv):
    """Descriptors passed with frames that claim none (here with Flush frames) are kept only
    up to 4: then the conversation is refused, so a daemon cannot fill the Apache child's
    descriptor table."""
    mark = srv.log_mark()
    data = fetch(srv, "/ff/stray_fds")
    status, _, headers, body = parse_head(data)
    assert FILES["fd-small.bin"][:64] not in data
    assert status in (200, 500) and len(body) < 4095, (status, len(body))
    srv.wait_line(r"RWSGI0111: Error reading the response from WSGI daemon process 'fdforge'",
                  "descriptors passed that no frame claims", since=mark)
    r = srv.get("/fd/file?name=fd-small.bin")
    assert r.status == 200 and r.body == FILES["fd-small.bin"]


def test_forged_file_beyond_content_length_is_clipped(srv):
    mark = srv.log_mark()
    r = parse_response(fetch(srv, "/ff/beyond_cl"))
    assert r.status == 200 and r.body == FILES["fd-small.bin"][:100]
    srv.wait_line(r"RWSGI0124: WSGI daemon process 'fdforge' sent 3995 bytes beyond its Content-Length 100", since=mark)


@pytest.mark.parametrize("kind,want", [
    ("valid", FILES["fd-small.bin"][5:]),
    ("two_fds", FILES["fd-small.bin"]),
])
def test_forged_but_valid_response_file_is_served(srv, kind, want):
    r = parse_response(fetch(srv, f"/ff/{kind}"))
    assert r.status == 200 and r.body == want
