"""Embedded mode across Apache's own life cycle, under load: `-k graceful` loses no request,
`-k stop` fails only the requests it cuts, and neither leaves a crash, a child Apache had to
SIGKILL, or a process behind. Run under both MPMs (WSGI_RS_MPM=prefork: the children exit
from a signal handler on stop, see src/embedded/lifecycle.rs).

Contract for atexit handlers (WSGIDestroyInterpreter On, the default): a child that exits
normally (graceful restart, idle child reaped, MaxConnectionsPerChild, any stop under event)
finalises Python and runs them; a prefork child killed by SIGTERM/SIGHUP (`-k stop`,
`-k restart`) exits from inside the signal handler, where Python cannot run, and skips them.

The ungraceful stops (`-k restart`, `-k stop`) keep the children's cores: under event, httpd's own
`close_worker_sockets()` race can kill the stopping child with SIGSEGV now and then, with or
without this module; `clean_log` excuses that crash only when the core proves it
(tests/httpd_race.py). Any other crash fails."""
import glob
import os
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest

from daemon_util import Load, pid_alive, wait_for
from harness import APACHE_BIN, CRASH_RE, PREFORK, Apache, group_alive
from httpd_race import CORE_CONF, SEGV_RE, core_dumps, excused, excused_pids

pytestmark = pytest.mark.embedded_only

CONF = """
WSGIScriptAlias /l @APPS@/lifecycle.wsgi
"""

# Apache had to force a child out, or gave up on it (mpm_common.c, ap_reclaim_child_processes).
FORCED_RE = re.compile(r"AH0004[5-7]|still did not exit|could not make child process")


def apachectl(apache, action):
    p = subprocess.run([APACHE_BIN, "-f", apache.conf, "-k", action], env=Apache.env(),
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, (action, p.stdout, p.stderr)


def atexit_pids(apache):
    return {int(p.rsplit(".", 1)[1]) for p in glob.glob(os.path.join(apache.state, "atexit.*"))}


def served_pids(load):
    return {r[3] for r in load.records if r[3]}


def clean_log(apache):
    bad = [l for l in apache.error_log().splitlines()
           if (CRASH_RE.search(l) or FORCED_RE.search(l)) and not excused(apache, l)]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("path", ["/l/sleep?s=0.05", "/l/busy?s=0.05"])
def test_graceful_under_load_loses_nothing(path):
    """Two graceful restarts while 4 clients loop (a new connection per request): every request
    succeeds; the old children finish their requests, finalise Python (atexit runs) and exit."""
    with Apache("life-graceful", CONF) as a:
        with Load(a, path, threads=4) as load:
            time.sleep(1.0)
            apachectl(a, "graceful")
            time.sleep(1.5)
            old = served_pids(load)
            apachectl(a, "graceful")
            time.sleep(2.0)
        bad = load.failures()
        assert not bad, f"{len(bad)} of {len(load.records)} requests failed: {bad[:5]}"
        gen1 = {p for p in old if p in served_pids(load)}
        wait_for(lambda: not [p for p in gen1 if os.path.exists(f"/proc/{p}/stat")
                              and p in a.child_pids()], 10, "old children to exit")
        # An old child that served requests finalised Python on its way out.
        first = {r[3] for r in load.records[:20] if r[3]}
        wait_for(lambda: first <= atexit_pids(a), 10,
                 f"atexit in the first generation's children {first} (ran: {atexit_pids(a)})")
        clean_log(a)


@pytest.mark.parametrize("path", ["/l/sleep?s=0.3", "/l/busy?s=0.3"])
def test_stop_under_load_is_clean(path):
    """`-k stop` while 4 clients loop: only requests still open when the stop was issued may
    fail; Apache exits promptly (no child needs SIGKILL) and leaves no process behind."""
    a = Apache("life-stop", CONF + CORE_CONF)
    try:
        with core_dumps():
            a.start()
        with Load(a, path, threads=4, timeout=10) as load:
            time.sleep(1.5)
            children = set(a.child_pids())
            t_stop = time.time()
            apachectl(a, "stop")
            a.proc.wait(timeout=20)
            took = time.time() - t_stop
            load.stop()
        pgid = a.proc.pid
        assert not group_alive(pgid), "an Apache child outlived its parent"
        early = [r for r in load.failures() if r[1] < t_stop]
        assert not early, f"requests failed before the stop: {early[:5]}"
        assert [r for r in load.records if r[2] == 200], "no request succeeded"
        assert took < 3.0, f"apache2 -k stop took {took:.1f}s"
        clean_log(a)
        ran = atexit_pids(a) & children
        if PREFORK:
            # Killed from a signal handler: Python is left alone (no atexit), see module doc.
            assert not ran, ran
        else:
            # A child killed by httpd's own stop race (see the module doc) finalised nothing.
            assert ran or children <= excused_pids(a), "event: the child finalised Python on stop"
    finally:
        a.stop()
        a.cleanup()


def test_restart_under_load_recovers():
    """`-k restart` (SIGHUP: children are killed, not drained) while 4 clients loop on a request
    that holds the GIL: only requests open around the restart may fail, the new generation
    serves, and no child needed a SIGKILL."""
    with core_dumps(), Apache("life-restart", CONF + CORE_CONF) as a:
        with Load(a, "/l/busy?s=0.2", threads=4, timeout=10) as load:
            time.sleep(1.0)
            t_restart = time.time()
            apachectl(a, "restart")
            a.wait_log(r"AH00171|SIGHUP received", timeout=10)
            time.sleep(3.0)
        cut = [r for r in load.failures() if not (r[0] < t_restart + 2.0 and r[1] > t_restart)]
        assert not cut, f"requests failed away from the restart: {cut[:5]}"
        assert [r for r in load.records if r[2] == 200 and r[0] > t_restart + 2.0], \
            "the new generation serves"
        clean_log(a)


@pytest.mark.parametrize("destroy", ["On", "Off"])
def test_destroy_interpreter_decides_atexit(destroy):
    """WSGIDestroyInterpreter On: an Apache child leaving normally (graceful-stop, both MPMs) and
    a daemon process stopping finalise Python, so atexit handlers run; Off: neither finalises and
    no atexit handler runs."""
    conf = CONF + f"""WSGIDestroyInterpreter {destroy}
WSGIDaemonProcess fin threads=2
WSGIScriptAlias /d @APPS@/lifecycle.wsgi process-group=fin
"""
    with Apache(f"life-destroy-{destroy.lower()}", conf) as a:
        children = {a.get(f"/l/sleep?s=0&i={i}").json()["pid"] for i in range(10)}
        daemon = a.get("/d/sleep?s=0").json()["pid"]
        assert daemon not in children
        apachectl(a, "graceful-stop")
        a.proc.wait(timeout=30)
        wait_for(lambda: not [p for p in children | {daemon} if pid_alive(p)], 15,
                 "the children and the daemon process to exit")
        ran = atexit_pids(a)
        if destroy == "On":
            assert children | {daemon} <= ran, (children, daemon, ran)
        else:
            assert not ran & (children | {daemon}), (children, daemon, ran)
        clean_log(a)


SLOW_EXIT_APP = r"""
import atexit, os, time

STATE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "state")
DELAY = [0.0]


def _slow_exit():
    time.sleep(DELAY[0])
    with open(os.path.join(STATE, f"atexit.{os.getpid()}"), "w") as f:
        f.write("finalised\n")


atexit.register(_slow_exit)


def application(environ, start_response):
    # ?DELAY[,SLEEP]: the atexit handler's delay, this request's own duration.
    q = (environ["QUERY_STRING"] or "0").split(",")
    DELAY[0] = float(q[0])
    if len(q) > 1:
        time.sleep(float(q[1]))
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
"""


def stop_with_slow_atexit(name, delay, busy=0.0):
    """Starts Apache with one child whose atexit handler sleeps `delay` seconds, stops it with
    `-k stop` (with a request of `busy` seconds under way, if not 0) and returns (apache, child
    pid, seconds the stop took)."""
    a = Apache(name, "StartServers 1\nWSGIScriptAlias /x @APPS@/slow_exit.wsgi\n",
               files={"apps/slow_exit.wsgi": SLOW_EXIT_APP})
    a.start()
    pid = int(a.get(f"/x?{delay}").body)
    # The worker lets go of that connection first (httpd's own stop race, see the module doc).
    time.sleep(0.3)
    if busy:
        threading.Thread(target=lambda: a.get(f"/x?{delay},{busy}", timeout=10), daemon=True).start()
        time.sleep(0.2)
    t_stop = time.time()
    apachectl(a, "stop")
    a.proc.wait(timeout=20)
    return a, pid, time.time() - t_stop


@pytest.mark.parametrize("delay,busy", [(0.5, 0.0), (0.6, 0.3)], ids=["idle", "request-under-way"])
def test_event_stop_finalises_in_full(delay, busy):
    """Under event the parent SIGTERMs its children 16 ms after asking them to stop (then at 3,
    5 and 7 s, and SIGKILLs at 9 s). A finalisation longer than that (atexit handlers, Django
    closing its connections, process_stopping subscribers) must still run to its end, also when
    a request was still running when the stop came: the SIGTERMs do not end an event child, only
    the pipe of death does."""
    if PREFORK:
        pytest.skip("prefork: -k stop kills children inside the SIGTERM handler (module doc)")
    a, pid, took = stop_with_slow_atexit(f"life-atexit-{int(busy * 10)}", delay, busy)
    try:
        assert pid in atexit_pids(a), f"the {delay} s atexit handler was cut short"
        assert took < 3.0, f"apache2 -k stop took {took:.1f}s"
        clean_log(a)
    finally:
        a.stop()
        a.cleanup()


def test_only_the_httpd_race_is_excused():
    """`clean_log` excuses a child's SIGSEGV only when its core shows httpd's own
    close_worker_sockets() fault: a child killed by SIGSEGV anywhere else (here by kill(2),
    idle) is still a crash, core or not."""
    with open("/proc/sys/kernel/core_pattern") as f:
        if f.read().startswith("|"):
            pytest.skip("core_pattern pipes cores to a program: no core in CoreDumpDirectory")
    if not shutil.which("gdb"):
        pytest.skip("gdb is not installed")
    with core_dumps(), Apache("life-segv", CONF + CORE_CONF) as a:
        assert a.get("/l/sleep?s=0").json()["pid"]
        child = a.child_pids()[0]
        os.kill(child, signal.SIGSEGV)
        line = a.wait_log(rf".*AH0005[12]: child pid {child} exit signal Segmentation fault.*",
                          timeout=20).group(0)
        assert SEGV_RE.search(line)
        wait_for(lambda: glob.glob(os.path.join(a.state, "core*")), 30, "the child's core")
        assert not excused(a, line)
        with pytest.raises(AssertionError, match=f"child pid {child} exit signal"):
            clean_log(a)
