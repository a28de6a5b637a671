"""Bodies through a daemon process group: streaming (the first chunk arrives before the last is
produced), 10 MiB uploads (Content-Length and chunked) and downloads checksummed,
wsgi.file_wrapper byte identity, 100-continue, and a client that leaves mid-stream."""
import hashlib
import os
import random
import re
import shutil
import subprocess
import time

import pytest

from client import Stream, post_expect_continue
from daemon_util import socket_files
from harness import serve

pytestmark = pytest.mark.daemon

DATA = random.Random(7).randbytes(3 * 1024 * 1024 + 17)
MIB10 = random.Random(8).randbytes(10 * 1024 * 1024 - 3)

CONF = """
WSGIDaemonProcess io processes=1 threads=8 display-name=%{GROUP}
WSGIProcessGroup io
WSGIScriptAlias /d @APPS@/daemon.wsgi
WSGIScriptAlias /r @APPS@/response.wsgi
WSGIScriptAlias /input @APPS@/input.wsgi
WSGIScriptAlias /chunked @APPS@/input.wsgi
<Location /chunked>
    WSGIChunkedRequest On
</Location>
"""

srv = serve("daemon-io", CONF, files={"apps/data.bin": DATA})


def sha(b):
    return hashlib.sha256(b).hexdigest()


def served_by_daemon(srv):
    r = srv.get("/d/pid")
    assert r.status == 200 and r.json()["process_group"] == "io"


@pytest.mark.smoke
def test_streaming_first_chunk_before_last_is_produced(srv):
    served_by_daemon(srv)
    st = Stream(srv.port, "/d/stream?n=3&delay=0.8")
    try:
        pieces = list(st.pieces())
    finally:
        st.close()
    assert st.status == 200
    body = b"".join(p for _, p in pieces)
    lines = body.decode().splitlines()
    assert [l.split()[0] for l in lines] == ["chunk-0", "chunk-1", "chunk-2"], lines
    produced_last = float(lines[-1].split()[1])
    first_arrival = st.t0_wall + pieces[0][0]
    assert pieces[0][1].startswith(b"chunk-0")
    assert first_arrival < produced_last - 1.0, "chunk-0 was held back until the end"
    assert pieces[0][0] < 0.6


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["read", "readn&n=65536", "readline"])
def test_10mib_upload(srv, mode):
    r = srv.post(f"/input?mode={mode}", MIB10)
    assert r.status == 200, r.body[:300]
    j = r.json()
    assert j["length"] == len(MIB10) and j["sha256"] == sha(MIB10)


@pytest.mark.slow
def test_10mib_chunked_upload(srv):
    r = srv.post("/chunked?mode=read", MIB10, chunked=100_000)
    assert r.status == 200, r.body[:300]
    j = r.json()
    assert j["length"] == len(MIB10) and j["sha256"] == sha(MIB10)


@pytest.mark.slow
def test_10mib_download(srv):
    size = 10 * 1024 * 1024 + 5
    r = srv.get(f"/r/big_list?size={size}")
    block = bytes(range(256)) * 256
    expect = (block * (size // len(block) + 1))[:size]
    assert r.status == 200 and r.complete
    assert len(r.body) == size and sha(r.body) == sha(expect)


@pytest.mark.skipif(shutil.which("ss") is None, reason="ss (iproute2) not installed")
def test_daemon_side_send_buffer_is_widened(srv):
    """The daemon asks for a 1 MiB send buffer on each connection from an Apache child (a
    streamed response then wakes the Apache child less often): the kernel's buffer for the
    daemon's end (the one named by the socket path) is above the system default, whatever
    net.core.wmem_max allows."""
    served_by_daemon(srv)
    with open("/proc/sys/net/core/wmem_default") as f:
        default = int(f.read())
    (path,) = socket_files(srv)
    out = subprocess.run(["ss", "-x", "-m", "state", "established"], capture_output=True, text=True).stdout
    tb = [int(m) for line in out.replace("\n\t", " ").splitlines() if path in line
          for m in re.findall(r"\btb(\d+)", line)]
    assert tb, out[-2000:]
    assert all(t > default for t in tb), (tb, default)


@pytest.mark.parametrize("query,expect", [
    ("name=data.bin", DATA),
    ("name=data.bin&offset=1000", DATA[1000:]),
    ("name=data.bin&blksize=1000", DATA),
])
def test_file_wrapper_byte_identity(srv, query, expect):
    r = srv.get(f"/r/file?{query}")
    assert r.status == 200 and r.complete
    assert r.header("Content-Length") == str(len(expect))
    assert sha(r.body) == sha(expect)


@pytest.mark.parametrize("kind", ["file_bytesio", "file_readonly"])
def test_file_wrapper_non_file_objects(srv, kind):
    r = srv.get(f"/r/{kind}?name=data.bin&blksize=65536")
    assert r.status == 200 and r.complete and sha(r.body) == sha(DATA)


def test_expect_100_continue(srv):
    body = b"continued-body"
    r = post_expect_continue(srv.port, "/input?mode=read", body)
    assert r.status == 200 and r.json()["sha256"] == sha(body)


def test_client_leaving_mid_stream_stops_the_app(srv):
    ident = f"leave-{time.monotonic_ns()}"
    st = Stream(srv.port, f"/r/close?id={ident}&kind=slow")
    for _ in st.pieces():
        break
    st.close()
    path = os.path.join(srv.state, "close-" + ident)
    deadline = time.time() + 12
    while not os.path.exists(path):
        assert time.time() < deadline, "close() never called after the client left"
        time.sleep(0.05)
    time.sleep(0.3)
    lines = open(path).read().splitlines()
    assert len(lines) == 1
    assert int(lines[0].split()[2]) < 150, f"the app kept running after the client left: {lines}"
    served_by_daemon(srv)
