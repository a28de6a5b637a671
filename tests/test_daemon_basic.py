"""Daemon mode as a user sees it: the processes (`ps`: user, group, display-name, parent), the
group sockets (owner, mode), which process serves a request, the daemon environ
(`mod_wsgi.process_group`, `server_pid`, queue/daemon start, multiprocess/multithread),
WSGIImportScript and process-group= + application-group= preloading, `%{ENV:VAR}` group
selection, WSGIRestrictProcess, and several processes and threads serving in parallel."""
import os
import re
import stat
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from codes import ANY
from daemon_util import (APACHE_GID, APACHE_UID, OTHER_GID, OTHER_GROUP, OTHER_OPTS, OTHER_UID,
                         OTHER_USER, ps, socket_files, wait_for)
from harness import IS_ROOT, MODULE_TAG, Apache, proc_cmdline, proc_status, serve, venv_dir

pytestmark = pytest.mark.daemon

CONF = f"""
WSGIDaemonProcess alpha processes=2 threads=4 display-name=%{{GROUP}} {OTHER_OPTS}
WSGIDaemonProcess beta threads=1 lang=C.UTF-8
WSGIImportScript @APPS@/import_marker.py process-group=alpha application-group=%{{GLOBAL}}

WSGIScriptAlias /alpha @APPS@/daemon.wsgi process-group=alpha
WSGIScriptAlias /beta @APPS@/daemon.wsgi
<Location /beta>
    WSGIProcessGroup beta
</Location>
WSGIScriptAlias /embedded @APPS@/daemon.wsgi
WSGIScriptAlias /secret @APPS@/secret.wsgi process-group=alpha
WSGIScriptAlias /preloaded @APPS@/preloaded.wsgi process-group=beta application-group=%{{GLOBAL}}

WSGIScriptAlias /pick @APPS@/daemon.wsgi
<Location /pick>
    WSGIProcessGroup %{{ENV:PICK}}
</Location>
<Location /pick/alpha>
    SetEnv PICK alpha
</Location>
<Location /pick/beta>
    SetEnv PICK beta
</Location>

WSGIScriptAlias /rw @APPS@/daemon.wsgi
<Location /rw>
    WSGIProcessGroup %{{ENV:PICK}}
</Location>
RewriteEngine On
RewriteRule ^/rw/(alpha|beta)/ - [E=PICK:$1]

WSGIScriptAlias /restricted @APPS@/daemon.wsgi
<Location /restricted>
    WSGIRestrictProcess beta
    WSGIProcessGroup %{{ENV:PICK}}
</Location>
<Location /restricted/alpha>
    SetEnv PICK alpha
</Location>
<Location /restricted/beta>
    SetEnv PICK beta
</Location>
"""



@pytest.fixture(scope="module")
def srv():
    a = Apache("daemon-basic", CONF, modules=("rewrite",), files={"apps/preloaded.wsgi": ("copy", "daemon.wsgi"),
                                            "apps/secret.wsgi": ("copy", "daemon.wsgi")})
    os.chmod(os.path.join(a.apps, "secret.wsgi"), 0o600)  # root's: alpha (nobody) cannot read it
    with a:
        yield a


def started(srv, group, n):
    """Wait until `n` processes of `group` logged RWSGI0100; return their pids."""
    def pids():
        lines = [l for l in srv.error_log().splitlines()
                 if f"RWSGI0100: Daemon process '{group}'" in l]
        return lines if len(lines) >= n else None
    lines = wait_for(pids, 15, f"{n} started processes of {group}")
    return sorted(int(l.split("(pid ")[1].split(",")[0]) for l in lines)


def get_json(srv, path, **kw):
    r = srv.get(path, **kw)
    assert r.status == 200, (path, r.status, r.body[:300])
    return r.json()


# Runs first: nothing has been requested from alpha yet.
def test_import_script_runs_at_daemon_start(srv):
    pids = started(srv, "alpha", 2)
    for pid in pids:
        marker = os.path.join(srv.state, f"import-{pid}")
        wait_for(lambda: os.path.exists(marker), 10, f"{marker} (WSGIImportScript)")
        srv.wait_line(rf"\[pid {pid}:", "IMPORT-SCRIPT-RAN", timeout=5)
        srv.wait_line(rf"\[pid {pid}:", "RWSGI0051", r"import_marker\.py", timeout=5)
    assert not os.path.exists(os.path.join(srv.state, "import-" + str(started(srv, "beta", 1)[0])))
    assert "/alpha" not in open(os.path.join(srv.root, "logs", "access_log")).read()


def test_alias_with_both_groups_preloads(srv):
    (pid,) = started(srv, "beta", 1)
    srv.wait_line(rf"\[pid {pid}:", "RWSGI0051", r"preloaded\.wsgi", timeout=10)
    before = time.time()
    j = get_json(srv, "/preloaded/pid")
    assert j["pid"] == pid
    assert j["loaded_at"] < before, "the script was imported by the request, not preloaded"


@pytest.mark.smoke
def test_processes_user_group_and_display_name(srv):
    pids = started(srv, "alpha", 2)
    shown = srv.daemon_pids(title="(wsgi:alpha)")
    assert shown == pids, (shown, pids)
    for pid in pids:
        st = proc_status(pid)
        # Forked by the spawner, a clean exec of Apache's binary that is the parent's child.
        assert st["PPid"] == srv.spawner_pid(), "daemon processes are children of the spawner"
        assert proc_status(st["PPid"])["PPid"] == srv.proc.pid
        assert st["Uid"] == [OTHER_UID] * 4 and st["Gid"] == [OTHER_GID] * 4, st
        assert proc_cmdline(pid) == "(wsgi:alpha)"
        user, group, args = ps(pid).split(None, 2)
        assert args == "(wsgi:alpha)"
        if IS_ROOT:
            assert (user, group) == (OTHER_USER, OTHER_GROUP)
    (beta,) = started(srv, "beta", 1)
    st = proc_status(beta)
    assert st["Uid"] == [APACHE_UID] * 4 and st["Gid"] == [APACHE_GID] * 4, st
    assert "(wsgi:" not in proc_cmdline(beta)  # no display-name: Apache's command line


@pytest.mark.smoke
def test_group_sockets_owner_and_mode(srv):
    socks = socket_files(srv)
    assert [os.path.basename(s).rsplit(".", 2)[1] for s in socks] == ["0", "1"], socks
    for s in socks:
        st = os.stat(s)
        assert stat.S_ISSOCK(st.st_mode)
        # Only the owner may connect (the module creates it srwx------).
        assert st.st_mode & 0o077 == 0 and st.st_mode & 0o600 == 0o600, stat.filemode(st.st_mode)
        assert st.st_uid == APACHE_UID, (s, st.st_uid)


@pytest.mark.smoke
def test_requests_are_served_by_daemon_processes(srv):
    alpha = started(srv, "alpha", 2)
    apache_children = set(srv.child_pids()) - set(srv.daemon_pids())
    seen = set()
    for i in range(12):
        j = get_json(srv, f"/alpha/pid?i={i}")
        seen.add(j["pid"])
        assert int(j["server_pid"]) in apache_children, "server_pid: the forwarding Apache child"
        assert int(j["server_pid"]) != j["pid"]
        assert j["ppid"] == srv.spawner_pid()
    assert seen <= set(alpha), (seen, alpha)
    e = get_json(srv, "/embedded/pid")
    assert e["pid"] in apache_children and e["pid"] == int(e["server_pid"])
    assert e["process_group"] == ""


def test_daemon_environ(srv):
    before = time.time()
    a = get_json(srv, "/alpha/pid")
    after = time.time()
    assert a["process_group"] == "alpha"
    assert a["application_group"] == ""
    assert a["multiprocess"] is True and a["multithread"] is True  # processes=2 threads=4
    rs, qs, ds, app = (a["request_start"], a["queue_start"], a["daemon_start"],
                       a["application_start"])
    assert before - 1 <= rs <= qs <= ds <= app <= after + 1, (rs, qs, ds, app)
    assert a["cwd"] == srv.apps  # home=
    assert a["mod_wsgi_module"] == {"process_group": "alpha", "application_group": "",
                                    "maximum_processes": 2, "threads_per_process": 4}
    b = get_json(srv, "/beta/pid")
    assert b["process_group"] == "beta"
    assert b["multiprocess"] is False and b["multithread"] is False  # no processes=, threads=1
    assert b["lang"] == "C.UTF-8"
    assert b["uid"] == APACHE_UID
    assert b["mod_wsgi_module"]["process_group"] == "beta"
    assert b["mod_wsgi_module"]["threads_per_process"] == 1


def test_env_variable_selects_group(srv):
    assert get_json(srv, "/pick/alpha/pid")["process_group"] == "alpha"
    b = get_json(srv, "/pick/beta/pid")
    assert b["process_group"] == "beta" and b["env_pick"] == "beta"
    e = get_json(srv, "/pick/none/pid")  # PICK unset: embedded
    assert e["process_group"] == ""
    assert e["pid"] == int(e["server_pid"])


def test_rewrite_rule_env_selects_group(srv):
    """%{ENV:PICK} set by mod_rewrite's [E=] (not SetEnv) is read per request too."""
    a = get_json(srv, "/rw/alpha/pid")
    assert a["process_group"] == "alpha" and a["env_pick"] == "alpha"
    assert get_json(srv, "/rw/beta/pid")["process_group"] == "beta"
    e = get_json(srv, "/rw/other/pid")  # no rule matched: PICK unset, embedded
    assert e["process_group"] == "" and e["pid"] == int(e["server_pid"])


def test_restrict_process(srv):
    mark = srv.log_mark()
    r = srv.get("/restricted/alpha/pid")
    assert r.status == 500
    srv.wait_line("RWSGI0119", "alpha", since=mark)
    assert get_json(srv, "/restricted/beta/pid")["process_group"] == "beta"
    # PICK unset: %{ENV:PICK} is empty, which means embedded mode; the list does not name
    # %{GLOBAL}, so that is refused too (as mod_wsgi: an empty variable cannot escape the list).
    mark = srv.log_mark()
    r = srv.get("/restricted/pid")
    assert r.status == 500, (r.status, r.body[:300])
    srv.wait_line("RWSGI0119", r"Embedded mode", r"WSGIRestrictProcess beta\)", since=mark)


def test_processes_and_threads_serve_in_parallel(srv):
    alpha = started(srv, "alpha", 2)
    get_json(srv, "/alpha/pid")
    t0 = time.monotonic()
    with ThreadPoolExecutor(8) as ex:
        rs = list(ex.map(lambda i: get_json(srv, f"/alpha/sleep?s=1&i={i}"), range(8)))
    elapsed = time.monotonic() - t0
    assert elapsed < 2.5, f"8 requests of 1 s on 2 processes x 4 threads took {elapsed:.1f}s"
    assert {r["pid"] for r in rs} == set(alpha), "both processes serve"


def test_single_thread_group_serialises(srv):
    get_json(srv, "/beta/pid")
    t0 = time.monotonic()
    with ThreadPoolExecutor(2) as ex:
        list(ex.map(lambda i: get_json(srv, f"/beta/sleep?s=0.7&i={i}"), range(2)))
    assert time.monotonic() - t0 >= 1.3, "threads=1 ran two requests at once"


def test_wsgi_errors_from_daemon_reach_error_log(srv):
    mark = srv.log_mark()
    j = get_json(srv, "/alpha/errors?m=xyz123")
    line = srv.wait_line("DAEMON-ERRORS-LINE xyz123", since=mark)
    assert f"[pid {j['pid']}:" in line
    assert "[client 127.0.0.1:" in line, line


@pytest.mark.skipif(not IS_ROOT, reason="needs a daemon user other than the file's owner")
def test_script_unreadable_by_daemon_user_500(srv):
    """The Apache child can stat the script, the daemon's user (nobody) cannot read it."""
    mark = srv.log_mark()
    assert srv.get("/secret/pid").status == 500
    srv.wait_line("RWSGI0020", r"secret\.wsgi", since=mark)
    srv.wait_line("RWSGI0021", "PermissionError", since=mark)
    assert srv.get("/alpha/pid").status == 200


# ----- Python settings per group -------------------------------------------------------------

PYTHON = """
WSGIPythonHome "@VENV@"
WSGIPythonOptimize 1
WSGIDaemonProcess inherits threads=2
WSGIDaemonProcess own threads=2 python-home=/usr python-path=@APPS@/pylib1:@APPS@/pylib2
WSGIScriptAlias /inherits @APPS@/pyinfo.wsgi process-group=inherits
WSGIScriptAlias /own @APPS@/pyinfo.wsgi process-group=own
"""

python = serve("daemon-python", PYTHON)


def test_python_home_default_and_per_group(python):
    """WSGIPythonHome is the default python-home of daemon groups; python-home= and
    python-path= (with .pth files) are per group; WSGIPythonOptimize applies to all."""
    venv = os.path.realpath(venv_dir())
    j = python.get("/inherits?mod=probe_one").json()
    assert os.path.realpath(j["prefix"]) == venv
    assert j["imports"]["probe_one"].startswith("raised ModuleNotFoundError")
    assert j["optimize"] == 1
    j = python.get("/own?mod=probe_one&mod=probe_two&mod=probe_pth").json()
    assert j["prefix"] == "/usr" and j["prefix"] == j["base_prefix"]
    assert j["imports"]["probe_one"] == python.apps + "/pylib1/probe_one.py"
    assert j["imports"]["probe_two"] == python.apps + "/pylib2/probe_two.py"
    assert j["imports"]["probe_pth"] == python.apps + "/pylib2/extra_site/probe_pth.py"
    assert j["optimize"] == 1


def test_every_module_log_line_has_a_code(srv):
    """Runs last in this file: every line the module wrote so far carries a stable code."""
    lines = [l for l in srv.error_log().splitlines() if MODULE_TAG in l]
    missing = [l for l in lines if not re.search(ANY, l)]
    assert not missing, "\n".join(missing[:20])
