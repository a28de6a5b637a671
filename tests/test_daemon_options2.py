"""The WSGIDaemonProcess options added last, each shown to take effect next to a control:
switch-interval= (over WSGISwitchInterval), interrupt-timeout= (mod_wsgi.RequestTimeout lands in
a stuck request, which answers 504 while the process survives; a request that cannot unwind is
abandoned and the process replaced), eviction-timeout= (SIGUSR1 waits for it, not for
graceful-timeout), cpu-time-limit= (RLIMIT_CPU; a busy loop gets the process replaced),
response-socket-timeout= (a client that stops reading releases the daemon thread),
response-flush-delay= (flushes coalesced, seen as deflate sync points), script-user= /
script-group= (403, RWSGI0160), and threads=0 service scripts (SystemExit on SIGTERM, restarted,
requests refused with RWSGI0166)."""
import gzip
import os
import re
import signal
import socket
import threading
import time

import pytest

from daemon_util import pid_alive, pids_of, wait_for
from harness import serve

pytestmark = pytest.mark.daemon

UID, GID = os.getuid(), os.getgid()

CONF = f"""
WSGISwitchInterval 0.01
WSGIDaemonProcess sw processes=1 threads=1 switch-interval=0.025
WSGIDaemonProcess nosw processes=1 threads=1
WSGIDaemonProcess intr processes=1 threads=2 request-timeout=2 interrupt-timeout=6 \\
    graceful-timeout=1
WSGIDaemonProcess evict processes=1 threads=2 graceful-timeout=1 eviction-timeout=30
WSGIDaemonProcess cpu processes=1 threads=2 cpu-time-limit=2 graceful-timeout=1 \\
    shutdown-timeout=1
WSGIDaemonProcess rst processes=1 threads=1 response-socket-timeout=2
WSGIDaemonProcess fd0 processes=1 threads=1 response-flush-delay=0
WSGIDaemonProcess fd500 processes=1 threads=1 response-flush-delay=500
WSGIDaemonProcess own processes=1 threads=1 script-user=#{UID}
WSGIDaemonProcess other processes=1 threads=1 script-user=#{UID + 1}
WSGIDaemonProcess owngroup processes=1 threads=1 script-group=#{GID}
WSGIDaemonProcess svc processes=1 threads=0
WSGIImportScript @APPS@/service.py process-group=svc application-group=%{{GLOBAL}}
"""
for g in ("sw", "nosw", "intr", "evict", "cpu", "rst", "fd0", "fd500", "own", "other", "owngroup",
          "svc"):
    CONF += f"WSGIScriptAlias /{g} @APPS@/options2.wsgi process-group={g}\n"
# The same group, requests in a named application group (a sub-interpreter).
CONF += "WSGIScriptAlias /intrsub @APPS@/options2.wsgi process-group=intr\n"
CONF += """
<Location /intrsub>
    WSGIApplicationGroup sub
</Location>
<LocationMatch "^/(fd0|fd500|rst)/gz/">
    SetOutputFilter DEFLATE
</LocationMatch>
<Location /fd500/duplex>
    WSGIChunkedRequest On
</Location>
"""

srv = serve("daemon-options2", CONF)


def info(srv, group):
    r = srv.get(f"/{group}/info")
    assert r.status == 200, (group, r.status, r.body[:300])
    return r.json()


def test_switch_interval(srv):
    # The group's option wins over the server-wide directive, which the other group keeps.
    assert info(srv, "sw")["switch_interval"] == pytest.approx(0.025)
    assert info(srv, "nosw")["switch_interval"] == pytest.approx(0.01)


def test_interrupt_timeout_unwinds_the_request_and_the_process_survives(srv):
    pid = info(srv, "intr")["pid"]
    mark = srv.log_mark()
    tag = f"a{time.time_ns()}"
    t0 = time.monotonic()
    r = srv.get(f"/intr/stuck?s=60&tag={tag}", timeout=40)
    took = time.monotonic() - t0
    assert r.status == 504, (r.status, r.body[:200])
    # request-timeout=2, then the exception lands within a 0.1 s sleep: before the 8 s at which
    # interrupt-timeout would give up on it (and answer 504 itself).
    assert took < 7.5, took
    assert os.path.exists(os.path.join(srv.state, f"caught-{tag}"))
    srv.wait_line("RWSGI0161", "'intr'", rf"pid {pid}\b", "request-timeout=2 s",
                  "interrupt-timeout=6 s", since=mark)
    srv.wait_line("RWSGI0030", f"caught RequestTimeout tag={tag} pid={pid}", since=mark)
    srv.wait_line("RWSGI0162", "options2.wsgi", "answering 504", "the thread recovered",
                  since=mark)
    # The same process serves on: no recycling, no 504 from the monitor.
    assert info(srv, "intr")["pid"] == pid
    time.sleep(1.5)
    log = srv.log_since(mark)
    assert not re.search(r"RWSGI0103: Daemon process 'intr'", log), log[-3000:]
    assert "RWSGI0115" not in log, log[-3000:]
    # A request after it is not hit by a stale interruption.
    r = srv.get("/intr/stuck?s=1&tag=after", timeout=20)
    assert (r.status, r.body) == (200, b"not interrupted"), r.status


def test_interrupt_timeout_in_a_named_application_group(srv):
    """The exception is injected into the thread's state in the request's sub-interpreter (and
    is that interpreter's class, the one the application catches)."""
    pid = info(srv, "intr")["pid"]
    mark = srv.log_mark()
    r = srv.get("/intrsub/stuck?s=60&tag=sub", timeout=40)
    assert r.status == 504, (r.status, r.body[:200])
    assert os.path.exists(os.path.join(srv.state, "caught-sub"))
    srv.wait_line("RWSGI0161", "'intr'", rf"pid {pid}\b", "application group 'sub'", since=mark)
    srv.wait_line("RWSGI0162", "answering 504", since=mark)
    assert info(srv, "intr")["pid"] == pid
    # The main interpreter's requests on the same threads are not disturbed.
    r = srv.get("/intr/stuck?s=1&tag=main-after", timeout=20)
    assert (r.status, r.body) == (200, b"not interrupted"), r.status


def test_interrupt_timeout_expires_in_a_blocking_call_and_the_process_is_replaced(srv):
    """The exception is queued while the thread sleeps in one C call: it cannot land, so after
    interrupt-timeout the monitor answers 504 and replaces the process, as without it."""
    pid = info(srv, "intr")["pid"]
    mark = srv.log_mark()
    t0 = time.monotonic()
    r = srv.get("/intr/block?s=25", timeout=40)
    took = time.monotonic() - t0
    assert r.status == 504, (r.status, r.body[:200])
    # request-timeout 2 s + interrupt-timeout 6 s, not the 25 s sleep.
    assert 7.0 <= took < 20, took
    srv.wait_line("RWSGI0161", "'intr'", rf"pid {pid}\b", since=mark)
    srv.wait_line("RWSGI0115", "'intr'", rf"pid {pid}\)",
                  "did not unwind within interrupt-timeout=6 s", since=mark)
    srv.wait_line("RWSGI0103", "'intr'", rf"pid {pid}\)", "request-timeout", since=mark)
    (new,) = wait_for(lambda: pids_of(srv, "intr", since=mark), 15, "a replacement")
    assert new != pid
    wait_for(lambda: info(srv, "intr")["pid"] == new, 10, "the replacement to serve")


def test_interrupt_timeout_without_the_class_abandons_the_request(srv):
    """An application that deleted mod_wsgi.RequestTimeout: nothing can be injected (RWSGI0164)
    and the request is abandoned when interrupt-timeout runs out."""
    pid = info(srv, "intr")["pid"]
    mark = srv.log_mark()
    r = srv.get("/intr/stuck?s=25&tag=sabotage&sabotage=1", timeout=40)
    assert r.status == 504, (r.status, r.body[:200])
    srv.wait_line("RWSGI0164", "'intr'", rf"pid {pid}\b", "RequestTimeout is missing", since=mark)
    srv.wait_line("RWSGI0115", "'intr'", rf"pid {pid}\)", "did not unwind", since=mark)
    assert not os.path.exists(os.path.join(srv.state, "caught-sabotage"))
    (new,) = wait_for(lambda: pids_of(srv, "intr", since=mark), 15, "a replacement")
    wait_for(lambda: info(srv, "intr")["pid"] == new, 10, "the replacement to serve")


def test_eviction_timeout_gives_sigusr1_its_own_grace(srv):
    """graceful-timeout=1 would cut a 4 s request a second after SIGUSR1 (test_daemon_options:
    test_request_cut_after_graceful_timeout); eviction-timeout=30 lets it finish."""
    pid = info(srv, "evict")["pid"]
    mark = srv.log_mark()
    result = {}

    running = os.path.join(srv.state, f"evict-running-{time.time_ns()}")

    def slow():
        r = srv.get(f"/evict/slow?s=4&mark={os.path.basename(running)}", timeout=40)
        result.update(status=r.status, body=r.body)

    t = threading.Thread(target=slow)
    t.start()
    wait_for(lambda: os.path.exists(running), 10, "the request to run in the daemon")
    os.kill(pid, signal.SIGUSR1)
    t.join(30)
    assert result.get("status") == 200, result
    assert result["body"] and b'"slept": 4' in result["body"] and str(pid).encode() in result["body"]
    srv.wait_line("RWSGI0103", "'evict'", rf"pid {pid}\)", "SIGUSR1", since=mark)
    assert "RWSGI0106" not in srv.log_since(mark)
    (new,) = wait_for(lambda: pids_of(srv, "evict", since=mark), 15, "a replacement")
    assert new != pid


def test_cpu_time_limit_replaces_a_busy_process(srv):
    j = info(srv, "cpu")
    pid = j["pid"]
    # Soft limit 2 s; hard limit 1 s + shutdown-timeout above it (mod_wsgi's rule).
    assert j["rlimit_cpu"] == [2, 4], j
    assert info(srv, "nosw")["rlimit_cpu"] == [-1, -1]
    mark = srv.log_mark()
    r = srv.get("/cpu/burn?s=60", timeout=90)
    # The process stopped under the busy request (graceful-timeout=1): it never completes.
    assert r.status != 200, (r.status, r.body[:200])
    srv.wait_line("RWSGI0103", "'cpu'", rf"pid {pid}\)", "cpu-time-limit reached", since=mark,
                  timeout=30)
    (new,) = wait_for(lambda: pids_of(srv, "cpu", since=mark), 30, "a replacement")
    assert new != pid
    assert info(srv, "cpu")["pid"] == new
    wait_for(lambda: not pid_alive(pid), 10, "the old process to exit")


def test_response_socket_timeout_releases_the_daemon_thread(srv):
    """A client that sends a request for 256 MiB and never reads: after response-socket-timeout
    (2 s; Apache's Timeout is 30 s) the Apache child gives up writing, cuts the response and
    closes the daemon connection, so the group's only thread serves the next request."""
    mark = srv.log_mark()
    s = socket.create_connection(("127.0.0.1", srv.port))
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /rst/big?mb=256 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        t0 = time.monotonic()
        srv.wait_line("RWSGI0163", "'rst'", "for 2 s", since=mark, timeout=25)
        assert time.monotonic() - t0 < 25
        # threads=1: this needs the thread the stalled response held.
        t1 = time.monotonic()
        assert info(srv, "rst")["pid"] > 0
        assert time.monotonic() - t1 < 15
    finally:
        s.close()


def _sync_points(srv, group):
    r = srv.get(f"/{group}/gz/stream?n=20&gap=40", headers=[("Accept-Encoding", "gzip")],
                timeout=30)
    assert r.status == 200 and r.header("Content-Encoding") == "gzip", (group, r.status)
    body = gzip.decompress(r.body)
    assert body == b"".join((b"%03d" % i) * 33 + b"\n" for i in range(20)), group
    return r.body.count(b"\x00\x00\xff\xff")


def test_response_flush_delay(srv):
    """A generator yielding every 40 ms: with response-flush-delay=0 each pause flushes (a
    deflate sync point each); with 500 ms the Apache child keeps waiting for more and never
    flushes before the end."""
    every = _sync_points(srv, "fd0")
    coalesced = _sync_points(srv, "fd500")
    print("deflate sync points:", every, coalesced)
    assert every >= 15, every
    assert coalesced <= 2, coalesced


def test_response_flush_delay_flushes_before_reading_the_request(srv):
    """Output followed by a read of the request body is flushed before the Apache child waits
    for the client, even with a long delay: a client that sends its body only after seeing the
    output is not deadlocked."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        s.sendall(b"POST /fd500/duplex HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                  b"Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n")
        got = b""
        while b"ready" not in got:
            data = s.recv(4096)  # times out (10 s) if the output is held back
            assert data, got
            got += data
        s.sendall(b"5\r\nhello\r\n0\r\n\r\n")
        while b"got hello" not in got:
            data = s.recv(4096)
            assert data, got
            got += data
    finally:
        s.close()
    assert got.startswith(b"HTTP/1.1 200"), got[:100]


def test_script_user_and_script_group(srv):
    script = os.path.join(srv.apps, "options2.wsgi")
    assert info(srv, "own")["pid"] > 0
    assert info(srv, "owngroup")["pid"] > 0
    mark = srv.log_mark()
    r = srv.get("/other/info")
    assert r.status == 403, (r.status, r.body[:200])
    srv.wait_line("RWSGI0160", "'other'", "options2.wsgi",
                  rf"owned by uid {UID}, not uid {UID + 1} required by script-user=", since=mark)
    try:
        os.chmod(script, 0o664)
        mark = srv.log_mark()
        r = srv.get("/own/info")
        assert r.status == 403, (r.status, r.body[:200])
        srv.wait_line("RWSGI0160", "'own'", r"writable by group or others \(mode 0664\)",
                      since=mark)
        # script-group= trusts the group: group-writable is fine, world-writable is not.
        assert info(srv, "owngroup")["pid"] > 0
        os.chmod(script, 0o666)
        mark = srv.log_mark()
        assert srv.get("/owngroup/info").status == 403
        srv.wait_line("RWSGI0160", "'owngroup'", r"writable by others \(mode 0666\)", since=mark)
        # The directory counts too.
        os.chmod(script, 0o644)
        os.chmod(srv.apps, 0o775)
        mark = srv.log_mark()
        assert srv.get("/own/info").status == 403
        srv.wait_line("RWSGI0160", "'own'", "directory of the WSGI script file is writable",
                      since=mark)
    finally:
        os.chmod(script, 0o644)
        os.chmod(srv.apps, 0o755)
    assert info(srv, "own")["pid"] > 0


def _service_pids(srv, suffix):
    return sorted(int(f.split("-")[1].split(".")[0]) for f in os.listdir(srv.state)
                  if f.startswith("service-") and f.endswith(suffix))


def test_threads_0_service_script(srv):
    (pid,) = wait_for(lambda: _service_pids(srv, ".start"), 20, "the service script to run")
    assert pid_alive(pid)
    srv.wait_line("RWSGI0100", "'svc'", rf"pid {pid},", "threads=0", since=0)
    # No request is served by such a group.
    mark = srv.log_mark()
    r = srv.get("/svc/info")
    assert r.status == 500, (r.status, r.body[:200])
    srv.wait_line("RWSGI0166", "'svc'", "threads=0", since=mark)
    # SIGTERM raises SystemExit in the script (its finally block runs); the process ends and a
    # new one starts the script again.
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: pid in _service_pids(srv, ".stop"), 15, "the script's finally block")
    srv.wait_line("RWSGI0165", "'svc'", rf"pid {pid}\)", "SystemExit", since=mark, timeout=15)
    new = wait_for(lambda: [p for p in _service_pids(srv, ".start") if p != pid], 20,
                   "the service script to run again")
    assert pid_alive(new[0]) and not pid_alive(pid)
