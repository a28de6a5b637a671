"""wsgi.file_wrapper under mod_http2 (h2c with prior knowledge, `H2CopyFiles Off`) and, for
comparison, HTTP/1.1 on the same server: many concurrent multi-MiB file responses (whole files,
from an offset, cut short by the app's Content-Length), every body checked by sha256.

Under HTTP/2 a request runs on a secondary connection whose output goes into a bucket beam; with
H2CopyFiles Off a file bucket is set aside into the beam as it is (not read, not counted against
the beam's buffer), and the main connection reads it later, after the handler has returned and
Python has closed the file. The files differ in content, so a read on a closed (or reused)
descriptor shows up as a wrong hash, a short body or a reset stream, not only as an error."""
import hashlib
import http.client
import random
import socket
import threading

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest

from harness import serve

MiB = 1024 * 1024
FILES = {
    "h2a.bin": random.Random(1).randbytes(3 * MiB + 17),
    "h2b.bin": random.Random(2).randbytes(5 * MiB + 1),
    "h2c.bin": random.Random(3).randbytes(1 * MiB + 333),
    "h2d.bin": random.Random(4).randbytes(4 * MiB - 5),
}

# Serves every request of a file from one descriptor opened once per process, through a
# file-like that reads with pread() and never closes it (a cache of open files, say): the file
# offset of that descriptor is shared by every request in flight.
SHARED_APP = """
import os
from urllib.parse import parse_qs

FDS = {}


class SharedFd:
    def __init__(self, fd, off):
        self.fd, self.off = fd, off

    def fileno(self):
        return self.fd

    def tell(self):
        return self.off

    def seek(self, pos, whence=0):
        self.off = pos
        return pos

    def read(self, n=-1):
        if n is None or n < 0:
            n = os.fstat(self.fd).st_size
        data = os.pread(self.fd, n, self.off)
        self.off += len(data)
        return data


def locked_copy(environ, name):
    # A copy of `name` opened and then made unopenable (mode 0, unlinked): the module cannot
    # reopen it through /proc/self/fd and must fall back to copying.
    state = os.path.join(os.path.dirname(os.path.dirname(environ["SCRIPT_FILENAME"])), "state")
    path = os.path.join(state, "locked-%d-%d" % (os.getpid(), id(environ)))
    with open(name, "rb") as src, open(path, "wb") as dst:
        dst.write(src.read())
    f = open(path, "rb")
    os.chmod(path, 0)
    os.unlink(path)
    return f


def application(environ, start_response):
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    name = os.path.join(os.path.dirname(environ["SCRIPT_FILENAME"]), q["name"])
    if "locked" in q:
        f = locked_copy(environ, name)
        f.seek(int(q.get("offset", "0")))
        headers = [("Content-Type", "application/octet-stream")]
        if "cl" in q:
            headers.append(("Content-Length", q["cl"]))
        start_response("200 OK", headers)
        return environ["wsgi.file_wrapper"](f, 65536)
    if name not in FDS:
        fd = os.open(name, os.O_RDONLY)
        if FDS.setdefault(name, fd) != fd:
            os.close(fd)
    headers = [("Content-Type", "application/octet-stream")]
    if "cl" in q:
        headers.append(("Content-Length", q["cl"]))
    start_response("200 OK", headers)
    return environ["wsgi.file_wrapper"](SharedFd(FDS[name], int(q.get("offset", "0"))), 65536)
"""

CONF = """
LoadModule http2_module /usr/lib/apache2/modules/mod_http2.so
Protocols h2c http/1.1
H2CopyFiles Off
WSGIScriptAlias /r @APPS@/response.wsgi
WSGIScriptAlias /shared @APPS@/h2shared.wsgi
"""

srv = serve("http2", CONF, files={**{f"apps/{k}": v for k, v in FILES.items()},
                                  "apps/h2shared.wsgi": SHARED_APP})

CONNECTIONS = 8
STREAMS = 20  # per connection, all opened at once (Apache allows 100 by default)


def cases(n, seed, prefix="/r/file"):
    """`n` (path, expected body) pairs: whole files, offsets, app Content-Length shorter than
    the file, and both together, over the four files in a shuffled order. `prefix` ends with
    the path or with "&" (then it already holds the start of the query)."""
    rnd = random.Random(seed)
    if not prefix.endswith("&"):
        prefix += "?"
    out = []
    for i in range(n):
        name = rnd.choice(sorted(FILES))
        data = FILES[name]
        kind = i % 4
        if kind == 0:
            out.append((f"{prefix}name={name}", data))
        elif kind == 1:
            off = rnd.randrange(1, len(data) // 2)
            out.append((f"{prefix}name={name}&offset={off}", data[off:]))
        elif kind == 2:
            cl = rnd.randrange(1, len(data) - 1)
            out.append((f"{prefix}name={name}&cl={cl}", data[:cl]))
        else:
            off = rnd.randrange(1, len(data) // 2)
            cl = rnd.randrange(1, len(data) - off)
            out.append((f"{prefix}name={name}&offset={off}&cl={cl}", data[off:off + cl]))
    rnd.shuffle(out)
    return out


def sha(b):
    return hashlib.sha256(b).hexdigest()


class H2Result:
    def __init__(self):
        self.status = None
        self.headers = {}
        self.hash = hashlib.sha256()
        self.length = 0
        self.ended = False
        self.reset = None


def h2_get_all(port, paths, timeout=60):
    """GET every path on one h2c connection (prior knowledge), all streams open at once.
    Returns [H2Result] in the order of `paths`; bodies are hashed as they arrive."""
    config = h2.config.H2Configuration(client_side=True, header_encoding="latin-1")
    conn = h2.connection.H2Connection(config=config)
    conn.initiate_connection()
    conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1,
                          h2.settings.SettingCodes.MAX_FRAME_SIZE: 2**20})
    conn.increment_flow_control_window(2**30)
    results = {}
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        for path in paths:
            sid = conn.get_next_available_stream_id()
            conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"),
                                    (":authority", f"127.0.0.1:{port}"), (":path", path)],
                              end_stream=True)
            results[sid] = H2Result()
        sock.sendall(conn.data_to_send())
        open_ = set(results)
        while open_:
            data = sock.recv(1 << 20)
            if not data:
                break
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived):
                    res = results[ev.stream_id]
                    res.headers = {k.lower(): v for k, v in ev.headers}
                    res.status = int(res.headers[":status"])
                elif isinstance(ev, h2.events.DataReceived):
                    res = results[ev.stream_id]
                    res.hash.update(ev.data)
                    res.length += len(ev.data)
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    results[ev.stream_id].ended = True
                    open_.discard(ev.stream_id)
                elif isinstance(ev, h2.events.StreamReset):
                    results[ev.stream_id].reset = ev.error_code
                    open_.discard(ev.stream_id)
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    open_.clear()
            out = conn.data_to_send()
            if out:
                sock.sendall(out)
        try:
            conn.close_connection()
            sock.sendall(conn.data_to_send())
        except OSError:
            pass
    return [results[sid] for sid in sorted(results)]


def run_parallel(fn, jobs):
    """fn(job) for every job, one thread each; returns the results in order (re-raises)."""
    out = [None] * len(jobs)
    errors = []

    def run(i):
        try:
            out[i] = fn(jobs[i])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    if errors:
        raise errors[0]
    assert all(not t.is_alive() for t in threads), "client threads still running"
    return out


def check(results, expected, what):
    bad = []
    for (path, body), res in zip(expected, results):
        if res.status != 200 or not res.ended or res.reset is not None:
            bad.append(f"{path}: status={res.status} ended={res.ended} reset={res.reset} "
                       f"got {res.length} of {len(body)} bytes")
        elif res.length != len(body) or res.hash.hexdigest() != sha(body):
            bad.append(f"{path}: {res.length} bytes (want {len(body)}), sha256 "
                       f"{res.hash.hexdigest()[:16]} (want {sha(body)[:16]})")
    assert not bad, f"{len(bad)} of {len(expected)} {what} bodies wrong:\n" + "\n".join(bad[:20])


def test_h2c_is_spoken(srv):
    """The server really answers HTTP/2 (prior knowledge) for a WSGI app."""
    (res,) = h2_get_all(srv.port, ["/r/list"])
    assert res.status == 200 and res.ended and res.length == 6
    assert res.hash.hexdigest() == sha(b"abbccc")


@pytest.mark.slow
def test_h2_file_wrapper_concurrent_streams(srv):
    """8 h2c connections x 20 concurrent streams of 1-5 MiB file_wrapper bodies."""
    jobs = [cases(STREAMS, seed=c) for c in range(CONNECTIONS)]
    results = run_parallel(lambda job: h2_get_all(srv.port, [p for p, _ in job]), jobs)
    for job, res in zip(jobs, results):
        check(res, job, "HTTP/2")


@pytest.mark.slow
def test_h2_file_wrapper_repeated_rounds(srv):
    """Several rounds on fresh connections, so descriptors are opened and closed (and their
    numbers reused by the next requests' files) while earlier streams are still being sent."""
    for rnd in range(3):
        jobs = [cases(STREAMS, seed=100 + 10 * rnd + c) for c in range(CONNECTIONS // 2)]
        results = run_parallel(lambda job: h2_get_all(srv.port, [p for p, _ in job]), jobs)
        for job, res in zip(jobs, results):
            check(res, job, f"HTTP/2 round {rnd}")


@pytest.mark.slow
def test_h2_file_wrapper_shared_descriptor(srv):
    """8 h2c connections x 20 streams served from one descriptor per file that the app keeps
    open: each file bucket needs a file offset of its own (a dup() would share the app's)."""
    jobs = [cases(STREAMS, seed=500 + c, prefix="/shared") for c in range(CONNECTIONS)]
    results = run_parallel(lambda job: h2_get_all(srv.port, [p for p, _ in job]), jobs)
    for job, res in zip(jobs, results):
        check(res, job, "HTTP/2 shared-descriptor")


def test_h2_file_wrapper_unopenable_file_is_copied(srv):
    """A file the module cannot reopen (mode 0, unlinked after the app opened it) still goes out
    whole over HTTP/2: copied through read() instead of a file bucket. 2 x 8 streams."""
    jobs = [cases(8, seed=700 + c, prefix="/shared?locked=1&") for c in range(2)]
    results = run_parallel(lambda job: h2_get_all(srv.port, [p for p, _ in job]), jobs)
    for job, res in zip(jobs, results):
        check(res, job, "HTTP/2 unopenable-file")


class H1Result(H2Result):
    pass


def h1_get_all(port, paths, timeout=60):
    """The same requests over one HTTP/1.1 keep-alive connection, one after the other."""
    out = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        for path in paths:
            conn.request("GET", path)
            resp = conn.getresponse()
            res = H1Result()
            res.status = resp.status
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                res.hash.update(chunk)
                res.length += len(chunk)
            res.ended = True
            out.append(res)
    finally:
        conn.close()
    return out


@pytest.mark.slow
@pytest.mark.parametrize("prefix", ["/r/file", "/shared", "/shared?locked=1&"])
def test_http11_file_wrapper_concurrent_connections(srv, prefix):
    """Comparison: 8 HTTP/1.1 keep-alive connections x 20 requests, same mix and checks."""
    jobs = [cases(STREAMS, seed=1000 + c, prefix=prefix) for c in range(CONNECTIONS)]
    results = run_parallel(lambda job: h1_get_all(srv.port, [p for p, _ in job]), jobs)
    for job, res in zip(jobs, results):
        check(res, job, "HTTP/1.1")
