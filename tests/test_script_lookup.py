"""How a WSGIScriptAlias[Match] URL finds its script: a file target is stat'ed once (its
r->finfo is filled at translate_name, the rest of the URL is the path info), so Apache's
directory walk does not stat "script/rest" and lstat every directory of the path; a directory
target is walked as mod_alias walks a ScriptAlias. Symlink options keep their meaning."""
import os
import shutil

import pytest

from harness import serve, syscalls_during

CONF = """
<Directory />
    Options FollowSymLinks
</Directory>
<Directory "@APPS@/nofsl">
    Options None
</Directory>
WSGIScriptAlias /file @APPS@/real/app.wsgi
WSGIScriptAlias /fsl-dir @APPS@/fsl/dirlink/app.wsgi
WSGIScriptAlias /fsl-file @APPS@/fsl/filelink.wsgi
WSGIScriptAlias /fsl-real @APPS@/fsl/deep/er/app.wsgi
WSGIScriptAlias /nofsl-dir @APPS@/nofsl/dirlink/app.wsgi
WSGIScriptAlias /nofsl-file @APPS@/nofsl/filelink.wsgi
WSGIScriptAlias /missing @APPS@/real/missing.wsgi
WSGIScriptAlias /dirslash/ @APPS@/real/
WSGIScriptAlias /dir @APPS@/real
WSGIScriptAliasMatch ^/rx @APPS@/real/app.wsgi
"""


def prepare(a):
    apps = a.apps
    for d in ("real", "fsl/deep/er", "nofsl"):
        os.makedirs(os.path.join(apps, d), exist_ok=True)
    for dst in ("real/app.wsgi", "fsl/deep/er/app.wsgi"):
        shutil.copy(os.path.join(apps, "environ.wsgi"), os.path.join(apps, dst))
    for where in ("fsl", "nofsl"):
        os.symlink("../real", os.path.join(apps, where, "dirlink"))
        os.symlink("../real/app.wsgi", os.path.join(apps, where, "filelink.wsgi"))


srv = serve("lookup", CONF, prepare=prepare)


def env(srv, path):
    r = srv.get(path)
    assert r.status == 200, (path, r.status, r.body[:300])
    return r.json()


@pytest.mark.parametrize("path,script_name,path_info", [
    ("/file", "/file", ""),
    ("/file/", "/file", "/"),
    ("/file/a/b", "/file", "/a/b"),
    ("/file/a/b/", "/file", "/a/b/"),
    ("/file/caf%C3%A9/x%20y", "/file", "/caf\u00e9/x y"),
    ("/fsl-dir/p", "/fsl-dir", "/p"),
    ("/fsl-file/p/q", "/fsl-file", "/p/q"),
    ("/fsl-real/p", "/fsl-real", "/p"),
    ("/dirslash/app.wsgi/x/y", "/dirslash/app.wsgi", "/x/y"),
    ("/dir/app.wsgi/x", "/dir/app.wsgi", "/x"),
    ("/dir/app.wsgi", "/dir/app.wsgi", ""),
    ("/rx/a", "/rx", "/a"),
])
def test_script_name_and_path_info(srv, path, script_name, path_info):
    e = env(srv, path)
    assert e["SCRIPT_NAME"] == script_name, (path, e["SCRIPT_NAME"])
    # PATH_INFO is WSGI's latin-1 view of the bytes.
    assert e["PATH_INFO"].encode("latin-1").decode("utf-8") == path_info, (path, e["PATH_INFO"])
    assert e["SCRIPT_FILENAME"].endswith("/app.wsgi") or e["SCRIPT_FILENAME"].endswith("filelink.wsgi")


def test_script_filename_is_the_file_not_the_url(srv):
    assert env(srv, "/file/a/b")["SCRIPT_FILENAME"] == srv.apps + "/real/app.wsgi"
    assert env(srv, "/dir/app.wsgi/x")["SCRIPT_FILENAME"] == srv.apps + "/real/app.wsgi"
    assert env(srv, "/fsl-file/x")["SCRIPT_FILENAME"] == srv.apps + "/fsl/filelink.wsgi"


def test_regex_rest_not_at_a_slash_is_not_path_info(srv):
    """^/rx matches /rxfoo too: "foo" would extend the file's name, so it is not found (as
    before), never run with PATH_INFO "foo"."""
    r = srv.get("/rxfoo")
    assert r.status == 404, (r.status, r.body[:200])


def test_missing_script_is_404(srv):
    for path in ("/missing", "/missing/x", "/dir/nothere.wsgi/x"):
        r = srv.get(path)
        assert r.status == 404, (path, r.status)


def test_symlinks_refused_without_follow_symlinks(srv):
    """`Options None`: a symlink on the script's path is refused
    (403), whether it is a directory or the file itself; `Options FollowSymLinks` serves it."""
    for path in ("/nofsl-dir/x", "/nofsl-file/x", "/nofsl-file"):
        r = srv.get(path)
        assert r.status == 403, (path, r.status, r.body[:200])
    assert "symbolic link not allowed" in srv.log_tail(40).lower()
    for path in ("/fsl-dir/x", "/fsl-file/x"):
        assert srv.get(path).status == 200, path


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")
def test_file_target_is_stated_once(srv):
    """With FollowSymLinks, a request for a file alias stats the script once, in Apache's
    child at translate_name: no stat of "script/rest", no lstat of the directories above it,
    and the reload check (embedded, or in the daemon process) uses that stat's time."""
    spawner = srv.spawner_pid()
    pids = [p for p in srv.child_pids() if p != spawner] + (srv.daemon_pids() if spawner else [])
    env(srv, "/fsl-real/warm/up")

    def go():
        assert env(srv, "/fsl-real/p/q")["PATH_INFO"] == "/p/q"
    trace = syscalls_during(pids, "%stat,%fstat", go)
    ours = [line for line in trace.splitlines() if srv.root in line]
    assert len(ours) == 1 and "/deep/er/app.wsgi\"" in ours[0], ours
