"""The Debian package (`make deb`, scripts/build-deb.sh): its fields, files and maintainer scripts,
and, as root, a round trip on this machine: `dpkg -i`, the module enabled by postinst, `a2enmod`,
`apache2ctl configtest`, a request served by a separate Apache that loads the installed module
through the system's load file, `a2dismod`, `dpkg -r` (nothing of the package left but its
conffiles), `dpkg -P` (conffiles and a2enmod state gone). The machine is restored in `finally`
and compared with a snapshot of /etc/apache2 and /var/lib/apache2 taken before.

Never touches the system's apache2 service: the round trip is skipped when the service runs and
invoke-rc.d would let postinst restart it, when mod_wsgi's package is installed (we would have to
remove it), or when this package is already installed (a user's install)."""
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest

from harness import MODULE_SO, REPO_DIR, Apache

pytestmark = [
    pytest.mark.embedded_only,
    pytest.mark.event_only(reason="the package round trip runs once, in the embedded pass"),
]

PKG = "libapache2-mod-wsgi-rs"
MODULE = "/usr/lib/apache2/modules/mod_wsgi_rs.so"
LOAD = "/etc/apache2/mods-available/wsgi_rs.load"
CONF = "/etc/apache2/mods-available/wsgi_rs.conf"
CONFFILES = {LOAD, CONF}
ENABLED = ("/etc/apache2/mods-enabled/wsgi_rs.load", "/etc/apache2/mods-enabled/wsgi_rs.conf")
SNAPSHOT_DIRS = ("/etc/apache2", "/var/lib/apache2", "/usr/lib/apache2/modules")
EXPRESS = os.environ.get("WSGI_EXPRESS", os.path.join(REPO_DIR, "target/release/wsgi-express"))
ENV = {"LANG": "C", "LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}

needs_dpkg = pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="dpkg-deb not available")


def run(*cmd, check=True, timeout=120):
    p = subprocess.run(list(cmd), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    out = p.stdout.decode("utf-8", "replace")
    if check:
        assert p.returncode == 0, f"{' '.join(cmd)} -> {p.returncode}\n{out}"
    return p.returncode, out


def dpkg(*args):
    """dpkg ARGS, waiting (up to 2 min) while another dpkg/apt holds the lock."""
    deadline = time.time() + 120
    while True:
        rc, out = run("dpkg", *args, check=False, timeout=300)
        if rc == 0 or "lock" not in out or time.time() > deadline:
            assert rc == 0, f"dpkg {' '.join(args)} -> {rc}\n{out}"
            return out
        time.sleep(2)


def pkg_status(name):
    """dpkg's status word for `name` ("installed", "config-files", ...) or "not-installed"."""
    rc, out = run("dpkg-query", "-W", "-f", "${db:Status-Status}", name, check=False)
    return out.strip() if rc == 0 and out.strip() else "not-installed"


def cargo_version():
    text = open(os.path.join(REPO_DIR, "Cargo.toml")).read()
    pkg = text.split("[package]", 1)[1].split("\n[", 1)[0]
    return re.search(r'^version\s*=\s*"([^"]+)"', pkg, re.M).group(1)


def apache_mmn():
    text = open("/usr/include/apache2/ap_mmn.h").read()
    return re.search(r"#define MODULE_MAGIC_NUMBER_MAJOR\s+(\d+)", text).group(1)


def libpython_package():
    """The Debian package of the libpython the built module links (ldd)."""
    _, out = run("ldd", MODULE_SO)
    path = re.search(r"libpython3\.\d+\.so\S*\s+=>\s+(\S+)", out).group(1)
    _, owner = run("dpkg", "-S", os.path.realpath(path))
    return owner.split(":")[0]


@pytest.fixture(scope="module")
def deb():
    """The .deb built by scripts/build-deb.sh (what `make deb` runs after `make build`)."""
    if not shutil.which("dpkg-deb"):
        pytest.skip("dpkg-deb not available")
    out_dir = tempfile.mkdtemp(prefix="wsgi_rs-deb-", dir="/tmp")
    os.chmod(out_dir, 0o755)
    env = dict(os.environ, SO=MODULE_SO, OUT=out_dir)
    p = subprocess.run([os.path.join(REPO_DIR, "scripts/build-deb.sh")], env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    path = p.stdout.strip().splitlines()[-1]
    assert os.path.isfile(path), p.stdout + p.stderr
    yield path, p.stderr
    shutil.rmtree(out_dir, ignore_errors=True)


def field(deb_path, name):
    return run("dpkg-deb", "-f", deb_path, name)[1].strip()


def member(deb_path, path):
    """A file's bytes from the package's data archive."""
    p = subprocess.run(f"dpkg-deb --fsys-tarfile '{deb_path}' | tar -xO '.{path}'", shell=True,
                       capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


@needs_dpkg
def test_control_fields(deb):
    path, log = deb
    version = cargo_version()
    arch = run("dpkg", "--print-architecture")[1].strip()
    assert os.path.basename(path) == f"{PKG}_{version}-1_{arch}.deb"
    assert field(path, "Package") == PKG
    assert field(path, "Version") == f"{version}-1"
    assert field(path, "Architecture") == arch
    assert field(path, "Section") == "httpd"
    depends = [d.strip() for d in field(path, "Depends").split(",")]
    assert f"apache2-api-{apache_mmn()}" in depends
    lib = libpython_package()
    assert any(d.split()[0] == lib for d in depends), depends
    for rel in ("Conflicts", "Replaces"):
        assert "libapache2-mod-wsgi-py3" in [c.strip() for c in field(path, rel).split(",")]
    assert field(path, "Provides") == ""  # not httpd-wsgi3: our LoadModule name differs
    # every dependency is satisfied on this machine (apt would install the same set)
    for dep in depends:
        name = dep.split()[0]
        if name.startswith("apache2-api-"):
            _, prov = run("dpkg-query", "-W", "-f", "${Provides}", "apache2-bin")
            assert name in prov
        else:
            assert pkg_status(name) == "installed", dep
    # Installed-Size: within 10 % + 16 KiB of the unpacked files
    _, listing = run("dpkg-deb", "-c", path)
    total = sum(int(l.split()[2]) for l in listing.splitlines() if l.startswith("-"))
    assert abs(int(field(path, "Installed-Size")) - total / 1024) <= total / 1024 / 10 + 16


@needs_dpkg
def test_contents(deb):
    path, log = deb
    _, listing = run("dpkg-deb", "-c", path)
    files = {l.split()[-1].lstrip(".") for l in listing.splitlines() if l.startswith("-")}
    expected = {MODULE, LOAD, CONF, f"/usr/share/doc/{PKG}/copyright",
                f"/usr/share/doc/{PKG}/README.md.gz", f"/usr/share/doc/{PKG}/changelog.Debian.gz",
                f"/usr/share/doc/{PKG}/examples/wsgi_rs.conf"}
    assert expected <= files, expected - files
    # wsgi-express is packaged exactly when it has been built
    assert ("/usr/bin/wsgi-express" in files) == os.path.isfile(EXPRESS), (files, log)
    assert not [f for f in files if not f.startswith(("/usr/", "/etc/apache2/mods-available/"))]
    for l in listing.splitlines():
        assert " root/root " in l, l
    assert member(path, LOAD).decode() == f"LoadModule wsgi_rs_module {MODULE}\n"
    with open(os.path.join(REPO_DIR, "conf-examples/wsgi_rs.conf"), "rb") as f:
        assert member(path, CONF) == f.read()
    so = member(path, MODULE)
    assert so[:4] == b"\x7fELF"
    with tempfile.NamedTemporaryFile(suffix=".so") as t:
        t.write(so)
        t.flush()
        _, syms = run("nm", "-D", "--defined-only", t.name)
        assert re.search(r"\bwsgi_rs_module$", syms, re.M), "module symbol missing"
        _, sections = run("readelf", "-S", t.name)
        assert ".debug_info" not in sections  # stripped as dh_strip does
    copyright = member(path, f"/usr/share/doc/{PKG}/copyright").decode()
    assert copyright.startswith("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/")
    assert "License: Apache-2.0" in copyright


@needs_dpkg
def test_conffiles_and_maintainer_scripts(deb):
    path, _ = deb
    ctl = tempfile.mkdtemp(prefix="wsgi_rs-debctl-")
    try:
        run("dpkg-deb", "-e", path, ctl)
        assert set(open(os.path.join(ctl, "conffiles")).read().split()) == CONFFILES
        md5 = {}
        for line in open(os.path.join(ctl, "md5sums")):
            digest, name = line.split(None, 1)
            md5["/" + name.strip()] = digest
        assert MODULE in md5 and not CONFFILES & set(md5)
        assert md5[MODULE] == hashlib.md5(member(path, MODULE)).hexdigest()
        scripts = {}
        for name in ("postinst", "prerm", "postrm"):
            p = os.path.join(ctl, name)
            assert os.stat(p).st_mode & 0o111, name
            run("sh", "-n", p)
            scripts[name] = open(p).read()
        # dh_apache2's module snippets: enable in postinst, disable on remove, purge state on purge
        assert re.search(r"apache2_invoke enmod \$conf", scripts["postinst"])
        assert "for conf in wsgi_rs ;" in scripts["postinst"]
        assert re.search(r'if \[ "\$1" = "remove" \] \|\| \[ "\$1" = "deconfigure" \]',
                         scripts["prerm"])
        assert "apache2_invoke dismod $conf" in scripts["prerm"]
        assert re.search(r'if \[ "\$1" = "purge" \]', scripts["postrm"])
        assert "apache2_invoke dismod $conf" in scripts["postrm"]
        for s in scripts.values():
            assert ". /usr/share/apache2/apache2-maintscript-helper" in s
            assert "rm " not in s  # user configuration is dpkg's business (conffiles)
    finally:
        shutil.rmtree(ctl, ignore_errors=True)


# ----- the round trip (root) ------------------------------------------------------------------

def snapshot():
    """path -> (kind, link target or mode+digest) for everything under SNAPSHOT_DIRS."""
    out = {}
    for top in SNAPSHOT_DIRS:
        for d, dirs, files in os.walk(top):
            out[d] = ("dir", oct(os.stat(d).st_mode))
            for f in dirs + files:
                p = os.path.join(d, f)
                if os.path.islink(p):
                    out[p] = ("link", os.readlink(p))
                elif os.path.isfile(p):
                    with open(p, "rb") as fh:
                        out[p] = ("file", oct(os.stat(p).st_mode),
                                  hashlib.sha256(fh.read()).hexdigest())
    return out


def new_state_dirs(now, before):
    """Empty directories under /var/lib/apache2 that appeared since `before`. a2dismod run by
    prerm (`a2dismod -m`) creates module/disabled_by_maint/ for its state file; the purge removes
    the file but, as for every module package, not the directory."""
    return sorted(p for p, v in now.items()
                  if p not in before and v[0] == "dir" and p.startswith("/var/lib/apache2/")
                  and not os.listdir(p))


def assert_restored(before):
    now = snapshot()
    extra = set(new_state_dirs(now, before))
    assert {p: v for p, v in now.items() if p not in extra} == before


def system_apache_running():
    """The apache2 service's own parent process is alive (its pid file from envvars)."""
    for pidfile in ("/run/apache2/apache2.pid", "/var/run/apache2/apache2.pid"):
        try:
            pid = int(open(pidfile).read().strip())
            os.kill(pid, 0)
            return True
        except (OSError, ValueError):
            continue
    return False


def restart_allowed():
    """invoke-rc.d would act on apache2 (no policy-rc.d forbidding it)."""
    if not shutil.which("invoke-rc.d"):
        return False
    rc, _ = run("invoke-rc.d", "--query", "apache2", "restart", check=False)
    return rc in (104, 105, 106)  # allowed / unknown / allowed with fallback


def round_trip_skip_reason(deb_path):
    if os.geteuid() != 0:
        return "dpkg -i needs root"
    for tool in ("dpkg", "a2enmod", "a2dismod", "a2query", "apache2ctl"):
        if not shutil.which(tool, path=ENV["PATH"]):
            return f"{tool} not available"
    if not os.path.exists("/usr/share/apache2/apache2-maintscript-helper"):
        return "apache2-maintscript-helper missing (apache2 package not installed)"
    for other in ("libapache2-mod-wsgi-py3", "libapache2-mod-wsgi"):
        if pkg_status(other) != "not-installed":
            return f"{other} is installed here: the package conflicts with it, and this test " \
                   "does not remove a user's package"
    if pkg_status(PKG) != "not-installed":
        return f"{PKG} is already installed here (not ours to remove)"
    _, listing = run("dpkg-deb", "-c", deb_path)
    for l in listing.splitlines():
        p = l.split()[-1].lstrip(".")
        if not l.startswith("d") and os.path.lexists(p):
            return f"{p} exists (make install?): dpkg would overwrite it, and remove it with the package"
    if system_apache_running() and restart_allowed():
        return "the apache2 service runs and postinst would restart it"
    rc, out = run("apache2ctl", "configtest", check=False)
    if rc != 0:
        return f"the system's Apache configuration fails configtest already:\n{out}"
    return None


APP = """\
import sys
def application(environ, start_response):
    body = ("deb %s %s" % ("@TOKEN@", environ.get("mod_wsgi.version"))).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
"""


def serve_installed(token):
    """A separate Apache (own -f config, free port) that loads the module through the system's
    mods-enabled files (the installed load file and conf), not the built one."""
    a = Apache("deb", "WSGIScriptAlias /deb @APPS@/deb.wsgi\n",
               files={"apps/deb.wsgi": APP.replace("@TOKEN@", token)})
    os.remove(os.path.join(a.root, "modules", "mod_wsgi_rs.so"))
    with open(a.conf) as f:
        text = f.read()
    own = re.search(r'^LoadModule wsgi_rs_module "[^"]+"$', text, re.M)
    assert own, text
    text = text.replace(own.group(0), "\n".join(f"Include {p}" for p in ENABLED))
    with open(a.conf, "w") as f:
        f.write(text)
    return a


def mapped_module(apache):
    """The mod_wsgi_rs.so paths mapped by the Apache's children."""
    paths = set()
    for pid in apache.child_pids():
        try:
            with open(f"/proc/{pid}/maps") as f:
                paths |= {l.split()[-1] for l in f if "mod_wsgi_rs" in l}
        except OSError:
            pass
    return paths


def deb_paths(deb_path):
    """Every path (files and directories) in the package's data archive."""
    _, listing = run("dpkg-deb", "-c", deb_path)
    paths = {l.split()[-1].lstrip(".").rstrip("/") for l in listing.splitlines()}
    return {p for p in paths if p}


def leftovers(added):
    """Paths the package added (absent before install) that still exist, conffiles aside."""
    return sorted(p for p in added if p not in CONFFILES and os.path.lexists(p))


@needs_dpkg
def test_install_round_trip(deb):
    reason = round_trip_skip_reason(deb[0])
    if reason:
        pytest.skip(reason)
    path, _ = deb
    before = snapshot()
    added = {p for p in deb_paths(path) if not os.path.lexists(p)}
    assert MODULE in added and f"/usr/share/doc/{PKG}" in added
    try:
        # install: postinst enables the module (dh_apache2's default for module packages)
        dpkg("-i", path)
        assert pkg_status(PKG) == "installed"
        for p in ENABLED:
            assert os.path.islink(p), p
            assert os.path.realpath(p) == os.path.join("/etc/apache2/mods-available",
                                                       os.path.basename(p))
        assert run("a2query", "-m", "wsgi_rs")[1].startswith("wsgi_rs (enabled by maintainer")
        listed = {l for l in dpkg("-L", PKG).splitlines() if l.startswith("/") and l != "/."}
        assert listed == deb_paths(path)
        assert all(os.path.lexists(p) for p in listed)

        run("a2enmod", "wsgi_rs")
        _, out = run("apache2ctl", "configtest")
        assert "Syntax OK" in out
        _, mods = run("apache2ctl", "-M")
        assert re.search(r"^\s*wsgi_rs_module \(shared\)$", mods, re.M), mods

        # a request through a separate Apache using the installed module and load file
        token = uuid.uuid4().hex
        with serve_installed(token) as a:
            r = a.get("/deb")
            assert r.status == 200, r.body
            assert r.body.startswith(f"deb {token} (".encode()), r.body
            assert mapped_module(a) == {MODULE}

        # disable, remove: every file of the package goes except the conffiles
        run("a2dismod", "wsgi_rs")
        assert not any(os.path.lexists(p) for p in ENABLED)
        dpkg("-r", PKG)
        assert pkg_status(PKG) == "config-files"
        assert leftovers(added) == []
        assert not os.path.exists(MODULE)
        assert all(os.path.isfile(p) for p in CONFFILES)
        # purge: the conffiles and the a2enmod state go too
        dpkg("-P", PKG)
        assert pkg_status(PKG) == "not-installed"
        assert not any(os.path.lexists(p) for p in CONFFILES)
        assert_restored(before)

        # again without a2dismod: prerm disables the module itself on remove
        dpkg("-i", path)
        assert all(os.path.islink(p) for p in ENABLED)
        dpkg("-r", PKG)
        assert not any(os.path.lexists(p) for p in ENABLED)
        assert all(os.path.isfile(p) for p in CONFFILES)
        dpkg("-P", PKG)
        assert_restored(before)
    finally:
        restore(before)
    assert snapshot() == before


def restore(before):
    """Put the machine back as it was: purge the package, drop what a2enmod/a2dismod left."""
    if pkg_status(PKG) != "not-installed":
        run("a2dismod", "-q", "-f", "wsgi_rs", check=False)
        run("dpkg", "-P", PKG, check=False, timeout=300)
    for top in ("/etc/apache2/mods-enabled", "/var/lib/apache2"):
        for d, _, files in os.walk(top):  # `files` includes (dangling) symlinks
            for f in files:
                p = os.path.join(d, f)
                if re.match(r"wsgi_rs(\.|$)", f) and p not in before:
                    os.remove(p)
    for d in reversed(new_state_dirs(snapshot(), before)):
        os.rmdir(d)


# ----- why the package conflicts with libapache2-mod-wsgi-py3 ----------------------------------

def mod_wsgi_so():
    """mod_wsgi's module from a pip install (MOD_WSGI_SO, or a venv under /opt or the test venv),
    built for the Python the module links."""
    import glob
    import sysconfig
    if os.environ.get("MOD_WSGI_SO"):
        return os.environ["MOD_WSGI_SO"]
    tag = "py%d%d" % tuple(int(x) for x in sysconfig.get_python_version().split("."))
    for pattern in ("/opt/*/lib/python3*/site-packages/mod_wsgi/server/mod_wsgi-%s*.so",
                    "/tmp/mod_wsgi_rs-venv/lib/python3*/site-packages/mod_wsgi/server/mod_wsgi-%s*.so"):
        found = sorted(glob.glob(pattern % tag))
        if found:
            return found[0]
    return None


def test_both_modules_loaded():
    """mod_wsgi and mod_wsgi_rs both enabled (wsgi.load sorts before wsgi_rs.load): Apache accepts
    the configuration, but the WSGI* directives go to one module and the other cannot start its
    Python in the same process. This is why the package Conflicts with libapache2-mod-wsgi-py3."""
    so = mod_wsgi_so()
    if not so:
        pytest.skip("no mod_wsgi .so from pip here (set MOD_WSGI_SO)")
    app = ('def application(environ, start_response):\n'
           '    start_response("200 OK", [("Content-Type", "text/plain")])\n'
           '    return [repr(environ.get("mod_wsgi.mod_wsgi_rs_version")).encode()]\n')
    a = Apache("deb-both", "WSGIScriptAlias /both @APPS@/both.wsgi\n", files={"apps/both.wsgi": app})
    shutil.copy(so, os.path.join(a.root, "modules", "mod_wsgi.so"))
    os.chmod(os.path.join(a.root, "modules", "mod_wsgi.so"), 0o644)
    with open(a.conf) as f:
        text = f.read()
    own = re.search(r'^LoadModule wsgi_rs_module "[^"]+"$', text, re.M).group(0)
    text = text.replace(own, f'LoadModule wsgi_module "{a.root}/modules/mod_wsgi.so"\n{own}')
    with open(a.conf, "w") as f:
        f.write(text)
    rc, out = a.configtest()
    assert rc == 0 and "Syntax OK" in out, out  # Apache does not refuse the pair
    with a:
        r = a.get("/both")
        assert r.status == 200, r.body
        assert r.body == b"None", r.body  # served by mod_wsgi: no mod_wsgi_rs key
        a.wait_log(r"RWSGI0002: Python initialisation failed", timeout=20)


@pytest.mark.parametrize("name,ours", [("mod_wsgi.c", False), ("wsgi_module", False),
                                       ("mod_wsgi_rs.c", True), ("wsgi_rs_module", True)])
def test_ifmodule_names(name, ours):
    """<IfModule> blocks written for mod_wsgi do not see this module, which is why the package
    does not Provide httpd-wsgi3 (its users' configuration would be skipped silently)."""
    from harness import configtest
    rc, out = configtest(f"<IfModule {name}>\nBogusDirectiveXyz\n</IfModule>\n", name="deb-ifmodule")
    assert (rc != 0 and "BogusDirectiveXyz" in out) == ours, out
