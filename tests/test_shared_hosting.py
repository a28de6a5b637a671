"""Shared hosting: users' directories with `AllowOverride FileInfo` + `Options ExecCGI`, where a
user's own `.htaccess` (`AddHandler wsgi-script .wsgi`) runs their script, each in its own
application group under `WSGIApplicationGroup %{RESOURCE}`; as root, per-user daemon groups
picked with `WSGIProcessGroup %{ENV:WSGI_USER}` (SetEnvIf, or RewriteRule [E=]) run each user's
code as that user, who cannot read the other's private file. The users own their directories,
`.htaccess` files and scripts (not root, not Apache's User), and redeploy a script as
themselves: the next request runs the new code, in their daemon group and embedded. A user's
.htaccess that sets WSGI_USER to the other user's group, or clears it, is refused by the
per-directory WSGIRestrictProcess (RWSGI0119).

Sub-interpreter life cycle: three named groups across 10 graceful restarts (no crash, the
parent's and the children's RSS do not keep growing), and a daemon group recycled by
maximum-requests=20 while 3 groups share 200 requests (every body right)."""
import os
import pwd
import re
import subprocess
import threading
import time

import pytest

from harness import APACHE_BIN, CRASH_RE, DAEMON, IS_ROOT, PREFORK, RUN_USER, Apache

APP = ("copy", "vhost.wsgi")
HTACCESS = "AddHandler wsgi-script .wsgi\n"
USERS = ("u1", "u2")


def user_files():
    files = {}
    for u in USERS:
        files[f"users/{u}/public_html/.htaccess"] = HTACCESS
        # Same module (vhostmod) claimed by both users' scripts: only separate interpreters
        # keep each user's claim.
        files[f"users/{u}/public_html/site_{u}.wsgi"] = APP
        # A script its user redeploys (test_htaccess_deployment_by_its_owner*).
        files[f"users/{u}/public_html/deploy_{u}.wsgi"] = deploy_script(u, 1)
        # .htaccess files that try to leave the user's daemon group (another user's group,
        # or none: embedded), refused by WSGIRestrictProcess. (A per-directory SetEnvIf runs
        # after the server's and replaces its value; SetEnv/UnsetEnv could not.)
        other = USERS[1 - USERS.index(u)]
        files[f"users/{u}/public_html/escape/.htaccess"] = (
            HTACCESS + f"SetEnvIf Request_URI . WSGI_USER={other}\n")
        files[f"users/{u}/public_html/escape/site_{u}.wsgi"] = APP
        files[f"users/{u}/public_html/embed/.htaccess"] = HTACCESS + "SetEnvIf Request_URI . !WSGI_USER\n"
        files[f"users/{u}/public_html/embed/site_{u}.wsgi"] = APP
        files[f"users/{u}/private.txt"] = f"secret of {u}\n"
    return files


def deploy_script(u, version):
    return f"""import os


def application(environ, start_response):
    body = "{u} v{version} uid=%d group=%s" % (os.getuid(), environ["mod_wsgi.process_group"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body.encode()]
"""


# Each user's public_html, where their own .htaccess may add handlers.
USER_DIRS = """
<Directory "@ROOT@/users">
    AllowOverride FileInfo
    Options ExecCGI
    Require all granted
</Directory>
Alias /~u1 "@ROOT@/users/u1/public_html"
Alias /~u2 "@ROOT@/users/u2/public_html"
"""

SHARED = """
WSGIApplicationGroup %{RESOURCE}
""" + USER_DIRS + """# Control: the same scripts in the main interpreter.
Alias /global/u1 "@ROOT@/users/u1/public_html"
Alias /global/u2 "@ROOT@/users/u2/public_html"
<Location /global>
    WSGIApplicationGroup %{GLOBAL}
</Location>
"""


@pytest.fixture(scope="module")
def shared():
    with Apache("shared", SHARED, files=user_files()) as a:
        yield a


def get_json(a, path, host=None):
    r = a.get(path, [("Host", host)] if host else ())
    assert r.status == 200, (path, r.status, r.body[:500])
    return r.json()


@pytest.mark.smoke
def test_htaccess_addhandler_runs_users_script(shared):
    """The user's .htaccess maps .wsgi to the handler; SCRIPT_NAME is the file's URL."""
    for u in USERS:
        j = get_json(shared, f"/~{u}/site_{u}.wsgi/p")
        assert (j["name"], j["script_name"], j["path_info"]) == (f"site_{u}", f"/~{u}/site_{u}.wsgi", "/p")


def test_resource_groups_keep_users_apart(shared):
    """%{RESOURCE}: each user's script has its own interpreter (host|SCRIPT_NAME), so its claim
    on the shared module survives the other user's import; under %{GLOBAL} (control) the
    second import overwrites the first's."""
    host = f"127.0.0.1:{shared.port}"
    for _ in range(3):
        for u in USERS:
            j = get_json(shared, f"/~{u}/site_{u}.wsgi", host)
            assert j["owner"] == f"site_{u}" and set(j["seen"]) == {f"site_{u}"}, j
            assert j["group"] == f"{host}|/~{u}/site_{u}.wsgi"
    if PREFORK:
        return  # the control needs both imports in one process
    a = get_json(shared, "/global/u1/site_u1.wsgi")
    b = get_json(shared, "/global/u2/site_u2.wsgi")
    assert a["group"] == b["group"] == ""
    assert b["owner"] == "site_u2" and set(b["seen"]) >= {"site_u1", "site_u2"}
    assert get_json(shared, "/global/u1/site_u1.wsgi")["owner"] == "site_u2"


# ----- per-user daemon groups (root) ----------------------------------------------------------

SYS_USERS = ("wsgirs-u1", "wsgirs-u2")


@pytest.fixture(scope="module")
def sys_users():
    """wsgirs-u1/wsgirs-u2 (created if missing, removed afterwards)."""
    for name in SYS_USERS:
        try:
            pwd.getpwnam(name)
        except KeyError:
            subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                            "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
                           check=True, capture_output=True)
    yield {name: pwd.getpwnam(name) for name in SYS_USERS}
    for name in SYS_USERS:
        subprocess.run(["userdel", name], capture_output=True)


PER_USER = """
WSGIDaemonProcess u1 user=wsgirs-u1 group=wsgirs-u1 threads=2 home=@ROOT@/users/u1
WSGIDaemonProcess u2 user=wsgirs-u2 group=wsgirs-u2 threads=2 home=@ROOT@/users/u2
WSGIApplicationGroup %{RESOURCE}
""" + USER_DIRS + """SetEnvIf Request_URI ^/~u1/ WSGI_USER=u1
RewriteEngine On
RewriteRule ^/~u2/ - [E=WSGI_USER:u2]
WSGIProcessGroup %{ENV:WSGI_USER}
# A user's .htaccess may set WSGI_USER (SetEnv, UnsetEnv): only their own group is allowed.
<Directory "@ROOT@/users/u1/public_html">
    WSGIRestrictProcess u1
</Directory>
<Directory "@ROOT@/users/u2/public_html">
    WSGIRestrictProcess u2
</Directory>
"""


def chown_tree(top, pw):
    for dirpath, _dirs, names in os.walk(top):
        for p in [dirpath] + [os.path.join(dirpath, n) for n in names]:
            os.chown(p, pw.pw_uid, pw.pw_gid)


@pytest.fixture(scope="module")
def per_user(sys_users):
    a = Apache("shared-users", PER_USER, files=user_files(), modules=("rewrite",))
    try:
        for u in USERS:
            # Everything in the user's directory is theirs, as on a shared host: the directory,
            # public_html, .htaccess and scripts (world-readable, for Apache's User), and
            # private.txt (mode 600).
            pw = sys_users[f"wsgirs-{u}"]
            home = os.path.join(a.root, "users", u)
            chown_tree(home, pw)
            os.chmod(os.path.join(home, "private.txt"), 0o600)
        with a:
            yield a, sys_users
    finally:
        a.cleanup()


@pytest.mark.daemon
@pytest.mark.skipif(not IS_ROOT, reason="user= needs root")
@pytest.mark.skipif(DAEMON, reason="WSGI_RS_MODE=daemon: own daemon config")
def test_per_user_daemon_groups(per_user):
    """Each user's script runs in their group, as their uid, in its own %{RESOURCE} group; it
    reads its own private file and gets PermissionError on the other's."""
    a, users = per_user
    for u, other in (("u1", "u2"), ("u2", "u1")):
        uid = users[f"wsgirs-{u}"].pw_uid
        own = os.path.join(a.root, "users", u, "private.txt")
        theirs = os.path.join(a.root, "users", other, "private.txt")
        j = get_json(a, f"/~{u}/site_{u}.wsgi?read={own}")
        assert (j["process_group"], j["uid"], j["euid"]) == (u, uid, uid), j
        assert j["group"].endswith(f"|/~{u}/site_{u}.wsgi") and j["owner"] == f"site_{u}"
        assert j["read"] == f"ok:secret of {u}\n"
        j = get_json(a, f"/~{u}/site_{u}.wsgi?read={theirs}")
        assert j["read"].startswith("PermissionError"), j


def as_user(pw, code, *args):
    """Runs Python `code` as the user `pw` (their uid, gid and no other group)."""
    p = subprocess.run(["/usr/bin/python3", "-c", code, *args], user=pw.pw_uid, group=pw.pw_gid,
                       extra_groups=[], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr


REDEPLOY = """import os, sys
path, text = sys.argv[1], sys.argv[2]
old = os.stat(path).st_mtime
with open(path + ".new", "w") as f:
    f.write(text)
os.utime(path + ".new", (old + 10, old + 10))
os.rename(path + ".new", path)
"""


def check_owner_deployment(a, u, pw, path, uid, group):
    """`u` owns their public_html, .htaccess and scripts; `path` serves deploy_{u}.wsgi, which
    runs as `uid` in process group `group`; after the user redeploys it (a new version written
    as them, renamed over the old one) the next request runs the new code."""
    script = os.path.join(a.root, "users", u, "public_html", f"deploy_{u}.wsgi")
    for p in (script, os.path.dirname(script), os.path.join(os.path.dirname(script), ".htaccess")):
        assert os.stat(p).st_uid == pw.pw_uid, p
    for version in (1, 2):
        if version == 2:
            as_user(pw, REDEPLOY, script, deploy_script(u, 2))
            assert os.stat(script).st_uid == pw.pw_uid
        r = a.get(path)
        assert (r.status, r.text) == (200, f"{u} v{version} uid={uid} group={group}"), \
            (path, r.status, r.body[:300])


@pytest.mark.daemon
@pytest.mark.skipif(not IS_ROOT, reason="files owned by other users need root")
@pytest.mark.skipif(DAEMON, reason="WSGI_RS_MODE=daemon: own daemon config")
def test_htaccess_deployment_by_its_owner(per_user):
    """Files owned by the user (not root, not Apache's User): their .htaccess handler runs
    their script in their daemon group as them, and a redeploy is served next."""
    a, users = per_user
    for u in USERS:
        pw = users[f"wsgirs-{u}"]
        check_owner_deployment(a, u, pw, f"/~{u}/deploy_{u}.wsgi", pw.pw_uid, u)


@pytest.mark.embedded_only
@pytest.mark.skipif(not IS_ROOT, reason="files owned by other users need root")
def test_htaccess_deployment_by_its_owner_embedded(shared, sys_users):
    """As above in embedded mode (no daemon group): the user's files run in Apache's children
    as Apache's User."""
    pw = sys_users["wsgirs-u1"]
    chown_tree(os.path.join(shared.root, "users", "u1"), pw)
    check_owner_deployment(shared, "u1", pw, "/~u1/deploy_u1.wsgi", pwd.getpwnam(RUN_USER).pw_uid, "")


@pytest.mark.daemon
@pytest.mark.skipif(not IS_ROOT, reason="user= needs root")
@pytest.mark.skipif(DAEMON, reason="WSGI_RS_MODE=daemon: own daemon config")
def test_htaccess_cannot_leave_the_users_group(per_user):
    """A user's .htaccess that sets WSGI_USER to the other user's group, or unsets it (empty
    %{ENV:WSGI_USER}: embedded mode, in Apache's children), gets 500 and RWSGI0119 from the
    per-directory WSGIRestrictProcess; their script never runs elsewhere."""
    a, _users = per_user
    for u, other in (("u1", "u2"), ("u2", "u1")):
        mark = a.log_mark()
        r = a.get(f"/~{u}/escape/site_{u}.wsgi")
        assert r.status == 500, (u, r.status, r.body[:300])
        a.wait_line("RWSGI0119", f"'{other}' is not allowed here", f"WSGIRestrictProcess {u}", since=mark)
        mark = a.log_mark()
        r = a.get(f"/~{u}/embed/site_{u}.wsgi")
        assert r.status == 500, (u, r.status, r.body[:300])
        a.wait_line("RWSGI0119", "Embedded mode", f"WSGIRestrictProcess {u}", since=mark)
        assert get_json(a, f"/~{u}/site_{u}.wsgi")["process_group"] == u


# ----- sub-interpreter life cycle -------------------------------------------------------------

LIFE = """
WSGIScriptAlias /g1 @APPS@/g1.wsgi application-group=one
WSGIScriptAlias /g2 @APPS@/g2.wsgi application-group=two
WSGIScriptAlias /g3 @APPS@/g3.wsgi application-group=three
"""
LIFE_FILES = {f"apps/g{i}.wsgi": APP for i in (1, 2, 3)}
GROUPS = {"g1": "one", "g2": "two", "g3": "three"}


def vm_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def check_groups(a, rounds=2):
    for _ in range(rounds):
        for path, group in GROUPS.items():
            j = get_json(a, f"/{path}")
            assert (j["name"], j["group"], j["owner"]) == (path, group, path), j


@pytest.mark.embedded_only
def test_graceful_restarts_with_groups_do_not_grow():
    """10 `-k graceful` with requests to 3 named groups in between: no crash line; the parent's
    VmRSS after cycle 10 is within 20% of after cycle 2, and so is the children's mean."""
    rss = {}
    with Apache("shared-life", LIFE, files=LIFE_FILES) as a:
        check_groups(a)
        for cycle in range(1, 11):
            old = set(a.child_pids())
            mark = a.log_mark()
            p = subprocess.run([APACHE_BIN, "-f", a.conf, "-k", "graceful"], env=Apache.env(),
                               capture_output=True, text=True, timeout=30)
            assert p.returncode == 0, (p.stdout, p.stderr)
            a.wait_log(r"resuming normal operations", since=mark, timeout=15)
            deadline = time.time() + 15
            while set(a.child_pids()) & old or not a.child_pids():
                assert time.time() < deadline, "old generation did not leave"
                time.sleep(0.05)
            check_groups(a)
            if cycle in (2, 10):
                kids = a.child_pids()
                rss[cycle] = (vm_rss_kb(a.proc.pid),
                              sum(vm_rss_kb(k) for k in kids) / len(kids))
        bad = [l for l in a.error_log().splitlines() if CRASH_RE.search(l)]
        assert not bad, "\n".join(bad)
        # Ending the sub-interpreters raised nothing (prefork: threading._shutdown() used to
        # fail its main-thread assertion there, skipping the joins and atexit handlers).
        bad = [l for l in a.error_log().splitlines()
               if "Traceback" in l or "Exception ignored" in l]
        assert not bad, "\n".join(bad[:10])
    (p2, c2), (p10, c10) = rss[2], rss[10]
    assert p10 <= p2 * 1.2, f"parent VmRSS grew: {p2} kB after cycle 2, {p10} kB after 10"
    assert c10 <= c2 * 1.2, f"children's VmRSS grew: {c2:.0f} kB after cycle 2, {c10:.0f} after 10"


RECYCLE = """
WSGIDaemonProcess recyc processes=1 threads=4 maximum-requests=20 home=@APPS@
WSGIProcessGroup recyc
""" + LIFE


@pytest.mark.daemon
@pytest.mark.skipif(DAEMON, reason="WSGI_RS_MODE=daemon: own daemon config")
def test_daemon_recycled_with_three_groups():
    """200 requests from 4 clients over 3 groups of a maximum-requests=20 group: every answer
    is a 200 from the right script in the right group; ~10 recycles, no crash."""
    results, lock = [], threading.Lock()
    paths = [f"/g{1 + i % 3}" for i in range(200)]
    with Apache("shared-recycle", RECYCLE, files=LIFE_FILES) as a:
        def client(k):
            for path in paths[k::4]:
                try:
                    r = a.get(path)
                    out = (path, r.status, r.json() if r.status == 200 else r.body[:200])
                except Exception as e:  # noqa: BLE001 - recorded below
                    out = (path, 0, repr(e))
                with lock:
                    results.append(out)
        ts = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        log = a.error_log()
    assert len(results) == 200
    bad = [r for r in results if r[1] != 200 or (r[2]["name"], r[2]["group"], r[2]["owner"])
           != (r[0][1:], GROUPS[r[0][1:]], r[0][1:]) or r[2]["process_group"] != "recyc"]
    assert not bad, bad[:5]
    started = len(re.findall(r"RWSGI0100: Daemon process 'recyc'", log))
    assert started >= 5, f"only {started} daemon processes started: maximum-requests not seen"
    assert len({r[2]["pid"] for r in results}) >= 5
    crashes = [l for l in log.splitlines() if CRASH_RE.search(l)]
    assert not crashes, "\n".join(crashes)
