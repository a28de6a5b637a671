"""Persistent connections to daemon groups (wire protocol v2): an Apache child keeps its
connection to a daemon process open between requests (src/daemon/pool.rs), the daemon parks
it between requests (core/src/daemon/conns.rs), and a daemon process that goes away
(maximum-requests, SIGUSR1, kill -9) loses no request: a request sent on an idle connection
the daemon closed unread goes on a new one (RWSGI0180), never twice to the app.

Clients here use HTTP keep-alive, so each client's requests go through the same Apache worker
threads back to back, on pooled daemon connections."""
import os
import re
import signal
import threading
import time

import pytest

from client import build_request, connect, read_one
from daemon_util import pid_alive, wait_for
from harness import Apache

pytestmark = pytest.mark.daemon

CLIENTS = 8
TIME_LIMIT = float(os.environ.get("WSGI_RS_PERSIST_SECONDS", "25"))
MIN_RECYCLES = 20

APP = r'''
import os

PAD = b"0123456789abcdef" * 64  # 1 KiB: a cut body cannot pass for a whole one


def application(environ, start_response):
    token = environ.get("QUERY_STRING", "").encode()
    n = int(environ.get("CONTENT_LENGTH") or 0)
    sent = environ["wsgi.input"].read(n) if n else b""
    body = (b"token=" + token + b" pid=" + str(os.getpid()).encode() + b"\n" + PAD + token
            + b"\n" + sent)
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
'''

PAD = b"0123456789abcdef" * 64
BODY_RE = re.compile(rb"token=([0-9a-z-]+) pid=(\d+)\n")

CONF = """
WSGIDaemonProcess hundred processes=2 threads=4 maximum-requests=100 display-name=%{GROUP}
WSGIDaemonProcess steady processes=1 threads=2 display-name=%{GROUP}
WSGIScriptAlias /hundred @APPS@/persist.wsgi process-group=hundred
WSGIScriptAlias /steady @APPS@/persist.wsgi process-group=steady
"""


def check(resp, token, sent=b""):
    """None if `resp` is the exact answer for `token` (and the body `sent`), else what is wrong."""
    if resp.status != 200:
        return f"status {resp.status}: {resp.body[:200]!r}"
    m = BODY_RE.match(resp.body)
    if not m or m.group(1).decode() != token:
        return f"wrong body head {resp.body[:80]!r}"
    t = token.encode()
    want = b"token=" + t + b" pid=" + m.group(2) + b"\n" + PAD + t + b"\n" + sent
    if resp.body != want:
        return f"body differs ({len(resp.body)} bytes, complete={resp.complete})"
    return None


class KeepAlive:
    """One HTTP/1.1 keep-alive connection to Apache (reopened if Apache closes it)."""

    def __init__(self, port):
        self.port, self.sock = port, None

    def request(self, path, body=b""):
        for attempt in (1, 2):
            if self.sock is None:
                self.sock = connect(self.port, timeout=30)
            head, body_bytes = build_request("POST" if body else "GET", path, body=body, close=False)
            try:
                self.sock.sendall(head + body_bytes)
                r = read_one(self.sock)
            except (OSError, ValueError):
                # Apache closed the kept-alive connection before reading this request (its
                # keep-alive timeout): only then is resending the client's business.
                self.close()
                if attempt == 2:
                    raise
                continue
            if (r.header("Connection") or "").lower() == "close":
                self.close()
            return r

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def started(apache, group, since):
    rx = re.compile(rf"RWSGI0100: Daemon process '{group}' ")
    return sum(1 for l in apache.log_since(since).splitlines() if rx.search(l))


@pytest.fixture(scope="module")
def srv():
    with Apache("daemon-persist", CONF, loglevel="info", files={"apps/persist.wsgi": APP}) as a:
        yield a


def test_recycling_with_persistent_connections_loses_nothing(srv):
    """maximum-requests=100 under 8 keep-alive clients (GETs and POSTs with a body the app
    reads): every answer exact, no 5xx, no relay error, no resend of a request the daemon
    may have read (RWSGI0125), and the pooled connections were in use (RWSGI0180: a
    recycled process's idle connections were refused unread and their requests resent)."""
    warm = KeepAlive(srv.port)
    assert check(warm.request("/hundred/warm?w"), "w") is None
    warm.close()
    mark = srv.log_mark()
    ok, bad, pids = [0], [], set()
    lock = threading.Lock()
    stop = threading.Event()

    def client(i):
        conn, n = KeepAlive(srv.port), 0
        while not stop.is_set():
            n += 1
            token = f"c{i}-{n}"
            sent = (token.encode() + b":") * (n % 3 * 700) if n % 2 else b""
            try:
                r = conn.request(f"/hundred/x?{token}", body=sent)
                problem = check(r, token, sent)
            except Exception as e:  # noqa: BLE001 - a failure like any other
                problem, r = f"exception {e!r}", None
                conn.close()
            with lock:
                if problem:
                    bad.append((token, problem))
                else:
                    ok[0] += 1
                    pids.add(int(BODY_RE.match(r.body).group(2)))
        conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(CLIENTS)]
    t0 = time.time()
    for t in threads:
        t.start()
    while time.time() - t0 < TIME_LIMIT and started(srv, "hundred", mark) < 4 * MIN_RECYCLES:
        time.sleep(0.25)
        with lock:
            if len(bad) > 20:
                break
    stop.set()
    for t in threads:
        t.join(40)
    elapsed = time.time() - t0
    log = srv.log_since(mark)
    recycled = started(srv, "hundred", mark)
    print(f"\n{recycled} processes started, {len(pids)} pids served, {ok[0]} ok, {len(bad)} bad "
          f"in {elapsed:.1f} s; {log.count('RWSGI0180')} requests resent after an idle "
          f"connection was closed")
    relay_errors = [l for l in log.splitlines() if re.search(r"RWSGI011[0136]|RWSGI0125", l)]
    assert not bad, f"{len(bad)} of {ok[0] + len(bad)} failed; first: {bad[:10]}\n" + "\n".join(relay_errors[:10])
    assert not relay_errors, "\n".join(relay_errors[:10])
    assert recycled >= MIN_RECYCLES, f"only {recycled} processes recycled in {elapsed:.1f} s"
    assert ok[0] >= 100 * MIN_RECYCLES
    assert re.search(r"RWSGI0180: Idle connection to WSGI daemon process 'hundred' .*closed by the "
                     r"daemon before it read the request", log), log[-3000:]
    assert not re.search(r"RWSGI0106", log), "a recycled process stopped with requests running"
    access = open(os.path.join(srv.root, "logs", "access_log")).read()
    assert not re.search(r'" 5\d\d ', access)


def socket_fds(pid):
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return n


def steady_pid(srv, conn):
    r = conn.request("/steady/p?p")
    assert check(r, "p") is None, r.body[:200]
    return int(BODY_RE.match(r.body).group(2))


def test_connections_stay_open_between_requests(srv):
    """After sequential requests the daemon process holds, besides its listening socket, the
    connections the Apache children keep open to it (at most one per child here: one request
    at a time); one request at a time never needs more, so 30 requests reuse them."""
    conn = KeepAlive(srv.port)
    pid = steady_pid(srv, conn)
    for i in range(30):
        assert steady_pid(srv, conn) == pid
    held = socket_fds(pid)
    # 1 listener + 1 or 2 pooled connections (one per Apache child that served a request).
    assert 2 <= held <= 3, held
    conn.close()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGUSR1], ids=["kill-9", "usr1"])
def test_daemon_gone_between_requests_loses_nothing(srv, sig):
    """The daemon process behind the idle pooled connections dies (kill -9) or restarts
    gracefully (SIGUSR1) between two requests: the next requests are answered by its
    replacement, each once; a request on a dead idle connection is resent (RWSGI0180)."""
    conn = KeepAlive(srv.port)
    pid = steady_pid(srv, conn)
    steady_pid(srv, conn)
    mark = srv.log_mark()
    os.kill(pid, sig)
    # Gone or a zombie (pid_alive reads /proc, so a process reaped meanwhile counts as gone).
    wait_for(lambda: not pid_alive(pid), 20, f"daemon process {pid} to exit")
    for i in range(6):
        r = conn.request(f"/steady/after?a{i}")
        assert check(r, f"a{i}") is None, (r.status, r.body[:200])
        assert int(BODY_RE.match(r.body).group(2)) != pid
    log = srv.log_since(mark)
    assert "RWSGI0180" in log, log[-3000:]
    assert not re.search(r"RWSGI011[013]|RWSGI0125", log), log[-3000:]
    conn.close()
