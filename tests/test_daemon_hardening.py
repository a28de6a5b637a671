"""Daemon processes that hold only what they need and behave under signals: they die with their
Apache parent (even during a slow start-up), take the groups of `user=#uid` (not Apache's),
restart gracefully on SIGUSR1, back off more and more while failing at start-up, and refuse a
socket directory other users could write."""
import grp
import os
import pwd
import re
import signal
import subprocess
import threading
import time

import pytest

from daemon_util import STARTED, pid_alive, pids_of, wait_for
from harness import IS_ROOT, Apache, configtest, proc_cmdline, proc_status, serve

pytestmark = pytest.mark.daemon


def children_titled(parent, title):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and proc_status(int(d)).get("PPid") == parent and title in proc_cmdline(int(d)):
            out.append(int(d))
    return out


def test_daemon_exits_when_parent_dies_during_slow_startup():
    conf = """
WSGIDaemonProcess slowstart processes=1 threads=2 display-name=%{GROUP}
WSGIImportScript @APPS@/slow_import.py process-group=slowstart application-group=%{GLOBAL}
"""
    a = Apache("parent-death", conf)
    try:
        a.start()
        parent = a.proc.pid
        spawner = wait_for(lambda: children_titled(parent, "(wsgi-rs:spawner)"), 5, "the spawner")[0]
        pid = wait_for(lambda: children_titled(spawner, "(wsgi:slowstart)"), 5, "the daemon process")[0]
        time.sleep(0.5)  # inside the 5 s preload now
        assert "RWSGI0100" not in a.error_log()
        os.kill(parent, signal.SIGKILL)
        a.proc.wait(timeout=5)
        wait_for(lambda: not pid_alive(pid), 4, f"daemon {pid} to exit after Apache died")
        wait_for(lambda: not pid_alive(spawner), 4, "the spawner to exit after Apache died")
    finally:
        a.stop()
        a.cleanup()


def test_daemon_exits_when_parent_dies_while_serving():
    conf = """
WSGIDaemonProcess orphan processes=1 threads=2 display-name=%{GROUP}
WSGIScriptAlias /d @APPS@/daemon.wsgi process-group=orphan
"""
    a = Apache("parent-death2", conf)
    try:
        a.start()
        r = a.get("/d/pid")
        assert r.status == 200
        pid = r.json()["pid"]
        os.kill(a.proc.pid, signal.SIGKILL)
        a.proc.wait(timeout=5)
        wait_for(lambda: not pid_alive(pid), 5, f"daemon {pid} to exit after its parent died")
    finally:
        a.stop()
        a.cleanup()


GRACE_CONF = """
WSGIDaemonProcess usr1 processes=1 threads=4 graceful-timeout=10 display-name=%{GROUP}
WSGIScriptAlias /d @APPS@/daemon.wsgi process-group=usr1
"""

srv = serve("daemon-hardening", GRACE_CONF)


def test_sigusr1_is_graceful_restart(srv):
    r = srv.get("/d/pid")
    old = r.json()["pid"]
    mark = srv.log_mark()
    results = []
    t = threading.Thread(target=lambda: results.append(srv.get("/d/sleep?s=1.5")))
    t.start()
    time.sleep(0.5)  # the request is running
    os.kill(old, signal.SIGUSR1)
    t.join(15)
    assert results and results[0].status == 200, results
    assert results[0].json()["pid"] == old  # finished by the process that was asked to restart
    srv.wait_line(r"RWSGI0103: Daemon process 'usr1' \(pid %d\) shutting down: SIGUSR1" % old, since=mark)
    wait_for(lambda: not pid_alive(old), 10, "the old process to exit")
    new = wait_for(lambda: pids_of(srv, "usr1", since=mark), 10, "a replacement process")[0]
    assert new != old
    r = srv.get("/d/pid")
    assert r.status == 200 and r.json()["pid"] == new


def test_failing_group_backs_off_more_and_more():
    conf = """
WSGIDaemonProcess broken processes=1 threads=1 home=/nonexistent/wsgi-rs-home
"""
    a = Apache("backoff", conf)
    try:
        a.start()
        a.wait_log(r"RWSGI0108: Daemon process group 'broken' is failing repeatedly", timeout=15)
        text = a.error_log()
        waits = [int(x) for x in re.findall(r"RWSGI0104: Daemon process 'broken' .*restarting it in (\d+) s", text)]
        assert waits[:3] == [1, 2, 4], waits
        assert "chdir to home='/nonexistent/wsgi-rs-home'" in text
        assert re.search(r"failing repeatedly at start-up \(3 times in a row, last exit status or signal 100\).*Next attempt in 4 s", text)
    finally:
        a.stop()
        a.cleanup()


@pytest.mark.parametrize("mode,ok", [(0o777, False), (0o775, False), (0o1777, True), (0o755, True)])
def test_socket_prefix_directory_must_not_be_writable_by_others(tmp_path, mode, ok):
    d = tmp_path / "socks"
    d.mkdir()
    os.chmod(d, mode)
    rc, out = configtest(f"WSGISocketPrefix {d}/wsgi\nWSGIDaemonProcess g1 threads=1\n")
    if ok:
        assert rc == 0, out
    else:
        assert rc != 0
        assert "WSGISocketPrefix" in out and "writable by other users" in out and str(d) in out


@pytest.mark.skipif(not IS_ROOT, reason="user= needs root")
def test_numeric_user_gets_its_own_groups_not_apaches():
    # A user with a supplementary group Apache's User does not have.
    subprocess.run(["groupadd", "-f", "wsgirs-extra"], check=True)
    try:
        pwd.getpwnam("wsgirs-tenant")
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        "-G", "wsgirs-extra", "wsgirs-tenant"], check=True)
    uid = pwd.getpwnam("wsgirs-tenant").pw_uid
    extra = grp.getgrnam("wsgirs-extra").gr_gid
    conf = f"""
WSGIDaemonProcess tenant processes=1 threads=2 user=#{uid} home=@APPS@
WSGIDaemonProcess ghost processes=1 threads=2 user=#54321 group=#54321 home=@APPS@
WSGIScriptAlias /t @APPS@/daemon.wsgi process-group=tenant
WSGIScriptAlias /g @APPS@/daemon.wsgi process-group=ghost
"""
    with Apache("numeric-user", conf) as a:
        r = a.get("/t/pid")
        assert r.status == 200
        st = proc_status(r.json()["pid"])
        groups = {int(x) for x in st["Groups"].split()}
        assert st["Uid"][0] == uid and extra in groups, st
        r = a.get("/g/pid")
        assert r.status == 200
        st = proc_status(r.json()["pid"])
        assert st["Uid"][0] == 54321 and st["Groups"].split() == ["54321"], st
