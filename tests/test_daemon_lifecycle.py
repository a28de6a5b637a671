"""Daemon process lifecycle: recycling by maximum-requests, restart-interval and
inactivity-timeout (a new pid serves, no request fails), script reloading in daemon mode, a
graceful restart of Apache under load (no request lost), and `apache2 -k stop` (no daemon
process and no socket file left)."""
import os
import subprocess
import threading
import time

import pytest

from daemon_util import STARTED, Load, pid_alive, pids_of, socket_files, wait_for
from harness import APACHE_BIN, Apache, rewrite, serve

pytestmark = pytest.mark.daemon

SCRIPT = '''
import os
VERSION = "{version}"
COUNT = [0]


def application(environ, start_response):
    COUNT[0] += 1
    body = ("%s %d %d" % (VERSION, COUNT[0], os.getpid())).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
'''

CONF = """
WSGIDaemonProcess maxreq processes=1 threads=4 maximum-requests=50 display-name=%{GROUP}
WSGIDaemonProcess interval processes=1 threads=2 restart-interval=2 display-name=%{GROUP}
WSGIDaemonProcess idle processes=1 threads=2 inactivity-timeout=2 display-name=%{GROUP}
WSGIDaemonProcess reload threads=2 display-name=%{GROUP}
WSGIScriptAlias /maxreq @APPS@/daemon.wsgi process-group=maxreq
WSGIScriptAlias /interval @APPS@/daemon.wsgi process-group=interval
WSGIScriptAlias /idle @APPS@/daemon.wsgi process-group=idle
WSGIScriptAlias /reload @APPS@/reload.wsgi process-group=reload
WSGIScriptAlias /noreload @APPS@/noreload.wsgi process-group=reload
<Location /noreload>
    WSGIScriptReloading Off
</Location>
"""

srv = serve("daemon-lifecycle", CONF, files={"apps/reload.wsgi": SCRIPT.format(version="v1"),
                                             "apps/noreload.wsgi": SCRIPT.format(version="v1")})



def pid_json(srv, path):
    r = srv.get(path)
    assert r.status == 200, (path, r.status, r.body[:300])
    return r.json()["pid"]


def test_maximum_requests_recycles(srv):
    mark = srv.log_mark()
    first = pid_json(srv, "/maxreq/pid")
    with Load(srv, "/maxreq/pid", threads=3) as load:
        wait_for(lambda: len({r[3] for r in list(load.records) if r[3]}) >= 2, 20,
                 "a second pid serving /maxreq")
        time.sleep(0.3)
    assert not load.failures(), load.failures()[:5]
    pids = [r[3] for r in sorted(load.records)]
    assert pids[0] == first
    srv.wait_line("RWSGI0103", "'maxreq'", rf"pid {first}\)", "maximum-requests reached",
                  since=mark)
    served_by_first = 1 + pids.count(first)
    assert 50 <= served_by_first <= 50 + 4, served_by_first  # at most one per thread more


def test_restart_interval_and_inactivity_timeout(srv):
    mark = srv.log_mark()
    t0 = time.time()
    interval_pid = pid_json(srv, "/interval/pid")
    idle_pid = pid_json(srv, "/idle/pid")
    # restart-interval: recycled even while busy with (short) requests.
    seen = {interval_pid}
    while time.time() - t0 < 6 and len(seen) < 2:
        seen.add(pid_json(srv, "/interval/pid"))
        time.sleep(0.1)
    assert len(seen) >= 2, "restart-interval=2 did not replace the process within 6 s"
    srv.wait_line("RWSGI0103", "'interval'", "restart-interval expired", since=mark)
    # inactivity-timeout: after 2 s without requests (the loop above took >= 2 s).
    srv.wait_line("RWSGI0103", "'idle'", rf"pid {idle_pid}\)", "inactivity-timeout expired",
                  since=mark, timeout=5)
    wait_for(lambda: any(g == "idle" for g, *_ in STARTED.findall(srv.log_since(mark))), 5,
             "the replacement idle process")
    assert pid_json(srv, "/idle/pid") != idle_pid


def body(srv, path):
    r = srv.get(path)
    assert r.status == 200, (r.status, r.body[:200])
    version, count, pid = r.text.split()
    return version, int(count), int(pid)


def test_script_reloading_restarts_process(srv):
    path = os.path.join(srv.apps, "reload.wsgi")
    v, n, pid = body(srv, "/reload")
    assert body(srv, "/reload")[1:] == (n + 1, pid)
    mark = srv.log_mark()
    rewrite(path, SCRIPT.format(version="v2"))
    v2 = body(srv, "/reload")
    assert v2[0] == "v2", "the request that sees the change runs the new code"
    srv.wait_line("RWSGI0103", "'reload'", rf"pid {pid}\)", "script changed", since=mark)
    srv.settle_daemons("reload")
    after = body(srv, "/reload")
    assert after[0] == "v2" and after[2] != pid, after
    assert body(srv, "/reload")[1:] == (after[1] + 1, after[2])


def test_reloading_off_in_daemon_mode(srv):
    srv.settle_daemons("reload")
    v, n, pid = body(srv, "/noreload")
    rewrite(os.path.join(srv.apps, "noreload.wsgi"), SCRIPT.format(version="v2"))
    time.sleep(0.3)
    assert body(srv, "/noreload") == ("v1", n + 1, pid)


# ----- Apache graceful restart and stop (own instances) ---------------------------------------

# ServerLimit 2: room in the scoreboard for the new generation's Apache child while the old one
# finishes a request (the suite's base config allows a single child).
GROUP_CONF = """
ServerLimit 2
WSGIDaemonProcess g1 processes=2 threads=4 display-name=%{GROUP}
WSGIScriptAlias /g @APPS@/daemon.wsgi process-group=g1
"""


def apachectl(apache, action):
    p = subprocess.run([APACHE_BIN, "-f", apache.conf, "-k", action], env=Apache.env(),
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, (action, p.stdout, p.stderr)


def test_graceful_restart_under_load_loses_nothing():
    """4 clients loop over `-k graceful`; each request is a new connection (no keep-alive), so
    no client retries anything: every request must succeed, including one that runs in an old
    daemon process while the restart happens."""
    with Apache("daemon-graceful", GROUP_CONF) as a:
        for _ in range(10):
            pid_json(a, "/g/sleep?s=0.01")
        # The old generation: both processes of g1 (requests alone may all reach one of them).
        before = set(wait_for(lambda: (lambda p: p if len(p) == 2 else None)(pids_of(a, "g1")), 10,
                              "both g1 processes started"))
        mark = a.log_mark()
        long_running = {}

        def long_request():  # in flight in an old daemon across the graceful restart
            r = a.get("/g/sleep?s=1.5")
            long_running.update(status=r.status, pid=r.json()["pid"] if r.status == 200 else 0)

        with Load(a, "/g/sleep?s=0.05", threads=4) as load:
            time.sleep(1.0)
            t = threading.Thread(target=long_request)
            t.start()
            time.sleep(0.3)
            apachectl(a, "graceful")
            a.wait_log(r"AH00493|SIGUSR1 received", since=mark, timeout=5)
            wait_for(lambda: len(STARTED.findall(a.log_since(mark))) >= 2, 10,
                     "the daemon processes of the new generation")
            time.sleep(2.5)
        t.join(10)
        bad = load.failures()
        assert not bad, f"{len(bad)} of {len(load.records)} requests failed: {bad[:5]}"
        assert long_running.get("status") == 200, long_running
        assert long_running["pid"] in before
        after = {r[3] for r in load.records if r[0] > time.time() - 1.0}
        assert after and not (after & before), "the new generation's daemons serve"
        assert len(socket_files(a)) == 1


@pytest.mark.parametrize("action", ["graceful", "restart"])
def test_restart_replaces_daemon_processes(action):
    """After `-k graceful` / `-k restart` the previous generation's daemon processes exit
    (SIGTERM, then SIGKILL after 3 s): `ps` shows the configured number of processes, not
    one more set per restart."""
    with Apache(f"daemon-{action}", GROUP_CONF) as a:
        pid_json(a, "/g/pid")
        old = wait_for(lambda: (lambda p: p if len(p) == 2 else None)(a.daemon_pids("(wsgi:g1)")),
                       10, "2 daemon processes")
        mark = a.log_mark()
        apachectl(a, action)
        wait_for(lambda: len(STARTED.findall(a.log_since(mark))) >= 2, 10,
                 "the daemon processes of the new generation")
        try:
            wait_for(lambda: not any(pid_alive(p) for p in old), 5,
                     "the old generation's daemon processes to exit")
        except AssertionError:
            raise AssertionError(
                f"after -k {action} the old daemon processes {old} still run beside "
                f"{sorted(set(a.daemon_pids('(wsgi:g1)')) - set(old))}") from None
        assert len(a.daemon_pids("(wsgi:g1)")) == 2
        assert pid_json(a, "/g/pid") not in old


def test_stop_leaves_no_daemon_and_no_socket():
    a = Apache("daemon-stop", GROUP_CONF)
    try:
        a.start()
        pid_json(a, "/g/pid")
        wait_for(lambda: len(a.daemon_pids("(wsgi:g1)")) == 2, 10, "2 daemon processes")
        daemons = a.daemon_pids("(wsgi:g1)")
        socks = socket_files(a)
        assert len(socks) == 1
        apachectl(a, "stop")
        a.proc.wait(timeout=20)
        wait_for(lambda: not any(pid_alive(p) for p in daemons), 5, "daemon processes to exit")
        assert not [s for s in socks if os.path.exists(s)], "socket file left behind"
        a.stop()
    finally:
        a.stop()
        a.cleanup()
