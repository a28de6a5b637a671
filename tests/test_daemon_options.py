"""Each WSGIDaemonProcess option shown to take effect, next to a control group without it:
umask=, socket-user=, supplementary-groups=, memory-limit= / virtual-memory-limit= (limits, and
an allocation beyond the limit is a 500 while the process keeps serving), cpu-priority=,
python-eggs=, header-buffer-size= (RWSGI0122), response-buffer-size= (flushes seen as deflate
sync points), WSGIEnableSendfile On/Off (file_wrapper bodies byte-exact), lang= / locale= and
the UTF-8 mode without them (Apache's locale left alone), RWSGI0107 (user without a home), and a
request still running when graceful-timeout expires (502, RWSGI0106).

Already covered elsewhere, not repeated here: the start-up back-off (RWSGI0108, 1, 2, 4 s) in
test_daemon_hardening.py; WSGIPythonEggs without a group option in test_python_settings.py."""
import gzip
import hashlib
import os
import shutil
import re
import signal
import stat
import threading
import time

import pytest

from daemon_util import APACHE_GID, APACHE_UID, STARTED, pid_alive, pids_of, wait_for
from harness import IS_ROOT, Apache, serve, syscalls_during

pytestmark = pytest.mark.daemon

VM_LIMIT = 1 << 30            # virtual-memory-limit= (RLIMIT_AS), bytes
DATA_LIMIT = 3 << 29          # memory-limit= (RLIMIT_DATA), bytes: 1.5 GiB
EGGS = "/tmp/wsgi-rs-group-eggs"
# Groups that exist on Debian and that Apache's User (www-data) is not a member of.
EXTRA_GROUPS = ("adm", "staff")

# `tuned` carries every option; `plain` is the control (umask=0022 is its only option).
ROOT_ONLY = """
WSGIDaemonProcess sockuser processes=1 threads=1 socket-user=nobody
WSGIDaemonProcess nohome processes=1 threads=1 user=nobody group=nogroup
WSGIScriptAlias /sockuser @APPS@/options.wsgi process-group=sockuser
WSGIScriptAlias /nohome @APPS@/options.wsgi process-group=nohome
""" if IS_ROOT else ""

CONF = f"""
WSGIDaemonProcess tuned processes=1 threads=2 umask=0077 cpu-priority=5 \\
    memory-limit={DATA_LIMIT} virtual-memory-limit={VM_LIMIT} python-eggs={EGGS} \\
    lang=C.UTF-8 locale=C.UTF-8 header-buffer-size=8192 response-buffer-size=65536 \\
    supplementary-groups={",".join(EXTRA_GROUPS)}
WSGIDaemonProcess plain processes=1 threads=2 umask=0022
WSGIDaemonProcess brief processes=1 threads=2 graceful-timeout=1
WSGIScriptAlias /tuned @APPS@/options.wsgi process-group=tuned
WSGIScriptAlias /plain @APPS@/options.wsgi process-group=plain
WSGIScriptAlias /brief @APPS@/options.wsgi process-group=brief
WSGIScriptAlias /embedded @APPS@/options.wsgi
{ROOT_ONLY}
<LocationMatch "^/(tuned|plain)/gz/">
    SetOutputFilter DEFLATE
</LocationMatch>
# wsgi.file_wrapper: kernel sendfile allowed (Apache's EnableSendfile too) or not.
<Location /embedded/sf/>
    EnableSendfile On
    WSGIEnableSendfile On
</Location>
<Location /embedded/nosf/>
    EnableSendfile On
    WSGIEnableSendfile Off
</Location>
<Location /plain/sf/>
    EnableSendfile On
    WSGIEnableSendfile On
</Location>
"""

srv = serve("daemon-options", CONF)


def info(srv, group):
    r = srv.get(f"/{group}/info")
    assert r.status == 200, (group, r.status, r.body[:300])
    j = r.json()
    assert j["process_group"] == ("" if group == "embedded" else group), j
    return j


def socket_of(srv, group):
    wait_for(lambda: pids_of(srv, group), 10, f"{group} started")
    for m in STARTED.finditer(srv.error_log()):
        if m.group(1) == group:
            return m.group(3)
    raise AssertionError(f"no RWSGI0100 line for {group}")


def test_umask(srv):
    tag = f"{os.getpid()}-{time.time_ns()}"
    r = srv.get(f"/tuned/create?name=umask077-{tag}")
    assert r.status == 200, r.body[:300]
    j = r.json()
    assert j["mode"] == 0o600, oct(j["mode"])
    assert stat.S_IMODE(os.stat(j["path"]).st_mode) == 0o600
    r = srv.get(f"/plain/create?name=umask022-{tag}")
    assert r.status == 200, r.body[:300]
    j = r.json()
    assert j["mode"] == 0o644, oct(j["mode"])
    assert info(srv, "tuned")["umask"] == 0o077 and info(srv, "plain")["umask"] == 0o022


@pytest.mark.skipif(not IS_ROOT, reason="socket-user= is applied only when Apache starts as root")
def test_socket_user(srv):
    nobody = 65534
    sock = socket_of(srv, "sockuser")
    assert os.stat(sock).st_uid == nobody, (sock, os.stat(sock).st_uid)
    assert os.stat(sock).st_mode & 0o077 == 0, stat.filemode(os.stat(sock).st_mode)
    plain = socket_of(srv, "plain")
    assert os.stat(plain).st_uid == APACHE_UID, (plain, os.stat(plain).st_uid)
    # Apache's children (www-data) may not connect to a socket only nobody may open.
    mark = srv.log_mark()
    r = srv.get("/sockuser/info")
    assert r.status == 503, (r.status, r.body[:200])
    srv.wait_line("RWSGI0110", "'sockuser'", re.escape(sock), "Permission denied", since=mark)


@pytest.mark.skipif(not IS_ROOT, reason="supplementary-groups= is applied only as root")
def test_supplementary_groups(srv):
    import grp
    extra = {grp.getgrnam(g).gr_gid for g in EXTRA_GROUPS}
    j = info(srv, "tuned")
    assert extra <= set(j["groups"]), (j["groups"], extra)
    assert (j["uid"], j["gid"]) == (APACHE_UID, APACHE_GID)
    # The primary group (here Apache's Group: no group= given) stays in the list.
    assert APACHE_GID in j["groups"], (j["groups"], APACHE_GID)
    control = info(srv, "plain")
    assert not extra & set(control["groups"]), control["groups"]


def test_memory_limits(srv):
    j = info(srv, "tuned")
    assert j["rlimit_as"] == [VM_LIMIT, VM_LIMIT], j["rlimit_as"]
    assert j["rlimit_data"] == [DATA_LIMIT, DATA_LIMIT], j["rlimit_data"]
    c = info(srv, "plain")
    assert c["rlimit_as"] == c["rlimit_data"] == [-1, -1], c  # RLIM_INFINITY
    pid = j["pid"]
    mark = srv.log_mark()
    # The whole limit at once cannot fit beside what the process already maps.
    r = srv.get(f"/tuned/alloc?n={VM_LIMIT}")
    assert r.status == 500, (r.status, r.body[:200])
    srv.wait_line(r"\[pid %d:" % pid, "RWSGI0021", "MemoryError", since=mark)
    # The same process keeps serving, and can still allocate well under the limit.
    r = srv.get(f"/tuned/alloc?n={64 << 20}")
    assert r.status == 200, (r.status, r.body[:200])
    assert r.json() == {"pid": pid, "len": 64 << 20}


def test_cpu_priority(srv):
    assert info(srv, "tuned")["priority"] == 5
    assert info(srv, "plain")["priority"] == os.getpriority(os.PRIO_PROCESS, 0)


def test_python_eggs(srv):
    assert info(srv, "tuned")["env"]["PYTHON_EGG_CACHE"] == EGGS
    assert info(srv, "plain")["env"]["PYTHON_EGG_CACHE"] is None


def test_python_eggs_overrides_server_wide_setting():
    conf = f"""
WSGIPythonEggs /tmp/wsgi-rs-server-eggs
WSGIDaemonProcess own processes=1 threads=1 python-eggs={EGGS}
WSGIDaemonProcess inherit processes=1 threads=1
WSGIScriptAlias /own @APPS@/options.wsgi process-group=own
WSGIScriptAlias /inherit @APPS@/options.wsgi process-group=inherit
"""
    with Apache("daemon-eggs", conf) as a:
        assert info(a, "inherit")["env"]["PYTHON_EGG_CACHE"] == "/tmp/wsgi-rs-server-eggs"
        assert info(a, "own")["env"]["PYTHON_EGG_CACHE"] == EGGS


def test_header_buffer_size(srv):
    # Name + value + 2 (": ") is what is measured against the limit.
    r = srv.get("/tuned/header?n=8000")
    assert r.status == 200, (r.status, r.body[:200])
    assert r.header("X-Big") == ("0123456789" * 800), len(r.header("X-Big") or "")
    assert r.json()["n"] == 8000
    mark = srv.log_mark()
    r = srv.get("/tuned/header?n=9000")
    assert r.status == 500, (r.status, r.body[:200])
    assert r.header("X-Big") is None
    srv.wait_line("RWSGI0122", "'X-Big'", "'tuned'", "9007 bytes", "header-buffer-size=8192",
                  since=mark)
    # The control group (default 32768) passes the same header intact.
    mark = srv.log_mark()
    r = srv.get("/plain/header?n=9000")
    assert r.status == 200, (r.status, r.body[:200])
    assert r.header("X-Big") == "0123456789" * 900
    assert "RWSGI0122" not in srv.log_since(mark)


def _pattern(n):
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b"%d" % (i % 64)).hexdigest().encode() * 4
        i += 1
    return bytes(out[:n])


BIG = 5 << 20


def test_response_buffer_size(srv):
    """README: the Apache child flushes to the client at least every N bytes. One 5 MiB body
    item arrives from the daemon without a flush inside it; with response-buffer-size=65536 the
    Apache child flushes every 64 KiB or so, and each FLUSH makes mod_deflate emit a sync point
    (an empty stored block, 00 00 ff ff); with the default 8 MiB there is none before the end."""
    want = hashlib.sha256(_pattern(BIG)).hexdigest()
    syncs = {}
    for group in ("tuned", "plain"):
        r = srv.get(f"/{group}/big?n={BIG}")
        assert r.status == 200 and len(r.body) == BIG, (group, r.status, len(r.body))
        assert hashlib.sha256(r.body).hexdigest() == want, group
        r = srv.get(f"/{group}/gz/big?n={BIG}", headers=[("Accept-Encoding", "gzip")])
        assert r.status == 200 and r.header("Content-Encoding") == "gzip", (group, r.status)
        assert hashlib.sha256(gzip.decompress(r.body)).hexdigest() == want, group
        syncs[group] = r.body.count(b"\x00\x00\xff\xff")
    print("deflate sync points:", syncs)
    assert syncs["tuned"] >= 5 * 1024 // 64 // 2, syncs   # at least one every 128 KiB
    assert syncs["plain"] <= 2, syncs


@pytest.fixture(scope="module")
def big_file(srv):
    data = os.urandom(3 << 20) + b"END-OF-FILE"
    path = os.path.join(srv.state, "sendfile.bin")
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)
    return hashlib.sha256(data).hexdigest(), len(data)


@pytest.mark.parametrize("where", ["embedded/sf", "embedded/nosf", "plain/sf", "plain"])
def test_sendfile_file_wrapper_byte_exact(srv, big_file, where):
    """WSGIEnableSendfile On/Off (with Apache's EnableSendfile On): file_wrapper bodies are
    byte-exact either way, embedded and through a daemon (which always streams the file with
    sendfile to its socket)."""
    digest, size = big_file
    for _ in range(2):
        r = srv.get(f"/{where}/file?name=sendfile.bin")
        assert r.status == 200, (r.status, r.body[:200])
        assert r.header("Content-Length") == str(size)
        assert len(r.body) == size and hashlib.sha256(r.body).hexdigest() == digest, where


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")
def test_sendfile_used_only_when_enabled(srv, big_file):
    """WSGIEnableSendfile On: Apache sends a file_wrapper file with the kernel's sendfile();
    Off: it never does (the body is read and written instead)."""
    digest, size = big_file
    spawner = srv.spawner_pid()
    children = [p for p in srv.child_pids() if p != spawner]

    def fetch(where):
        def go():
            r = srv.get(f"/{where}/file?name=sendfile.bin")
            assert r.status == 200 and hashlib.sha256(r.body).hexdigest() == digest, where
        return go
    assert "sendfile(" in syscalls_during(children, "sendfile", fetch("embedded/sf"))
    assert "sendfile(" not in syscalls_during(children, "sendfile", fetch("embedded/nosf"))


def test_lang_and_locale_set_the_environment(srv):
    t = info(srv, "tuned")
    assert t["env"]["LANG"] == "C.UTF-8" and t["env"]["LC_ALL"] == "C.UTF-8", t["env"]
    p = info(srv, "plain")
    # Apache's environment (the harness starts it with LANG=C), unchanged.
    assert p["env"]["LANG"] == "C" and p["env"]["LC_ALL"] is None, p["env"]


def test_locale_sets_the_daemon_process_locale(srv):
    assert info(srv, "tuned")["locale_all"] == "C.UTF-8"


def test_utf8_mode_and_apaches_locale_left_alone(srv):
    """README: Python runs in UTF-8 mode and never changes Apache's process locale (LANG=C is
    left alone): no C-locale coercion (which would setenv LC_CTYPE and setlocale C.UTF-8)."""
    for group in ("plain", "embedded"):
        j = info(srv, group)
        assert j["env"]["LANG"] == "C", (group, j["env"])
        assert j["utf8_mode"] == 1, (group, j)
        assert j["fs_encoding"] == "utf-8" and j["preferred_encoding"] == "utf-8", (group, j)
        assert j["locale_ctype"] == "C" and j["locale_all"] == "C", (group, j)
        assert j["env"]["LC_CTYPE"] is None, (group, j["env"])


@pytest.mark.skipif(not IS_ROOT, reason="user= is applied only when Apache starts as root")
def test_user_without_home_runs_in_root_dir(srv):
    (pid,) = wait_for(lambda: pids_of(srv, "nohome"), 10, "nohome started")
    line = srv.wait_line(r"\[pid %d:" % pid, "RWSGI0107", "'nohome'", "'/nonexistent'")
    assert "using '/'" in line, line
    j = info(srv, "nohome")
    assert j["pid"] == pid and j["cwd"] == "/" and j["uid"] == 65534, j
    assert j["env"]["HOME"] == "/nonexistent", j["env"]
    # Groups with home= (or Apache's User, no user=) do not warn.
    assert len(re.findall(r"RWSGI0107", srv.error_log())) == 1


def test_request_cut_after_graceful_timeout(srv):
    """graceful-timeout=1: a process asked to restart (SIGUSR1) while a request runs stops one
    second later; the request gets 502 and RWSGI0106 names the group."""
    pid = info(srv, "brief")["pid"]
    mark = srv.log_mark()
    running = os.path.join(srv.state, f"brief-running-{time.time_ns()}")
    result = {}

    def long_request():
        r = srv.get(f"/brief/sleep?s=20&mark={os.path.basename(running)}", timeout=30)
        result.update(status=r.status, body=r.body, at=time.monotonic())

    t = threading.Thread(target=long_request)
    t.start()
    wait_for(lambda: os.path.exists(running), 10, "the long request to run in the daemon")
    signalled = time.monotonic()
    os.kill(pid, signal.SIGUSR1)
    t.join(15)
    assert result.get("status") == 502, result
    # Cut after the 1 s graceful time (the default 15 s would outlast t.join above).
    assert 0.8 <= result["at"] - signalled < 8, result["at"] - signalled
    srv.wait_line("RWSGI0103", "'brief'", rf"pid {pid}\)", "SIGUSR1", since=mark)
    srv.wait_line("RWSGI0106", "'brief'", rf"pid {pid}\)", r"1 request\(s\) still running",
                  since=mark)
    srv.wait_line("RWSGI0111", "'brief'", since=mark)
    wait_for(lambda: not pid_alive(pid), 10, "the old process to exit")
    (new,) = wait_for(lambda: pids_of(srv, "brief", since=mark), 10, "a replacement")
    assert info(srv, "brief")["pid"] == new != pid
