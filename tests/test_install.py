"""`make install` lays the module out the Debian way, so `a2enmod wsgi_rs` works."""
import os
import subprocess
import tempfile

import pytest

pytestmark = pytest.mark.event_only(reason="no Apache runs: nothing depends on the MPM")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def apxs(var):
    return subprocess.run(["apxs", "-q", var], capture_output=True, text=True, check=True).stdout.strip()


def test_make_install_layout():
    so = os.environ.get("MOD_WSGI_RS_SO", os.path.join(REPO, "target/release/libmod_wsgi_rs.so"))
    with tempfile.TemporaryDirectory() as dest:
        express = os.environ.get("WSGI_EXPRESS", os.path.join(REPO, "target/release/wsgi-express"))
        r = subprocess.run(["make", "-s", "-C", REPO, "install-files", f"DESTDIR={dest}", f"SO={so}",
                            f"EXPRESS={express}", "BINDIR=/usr/local/bin"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        libexec, sysconf = apxs("LIBEXECDIR"), apxs("SYSCONFDIR")
        module = dest + libexec + "/mod_wsgi_rs.so"
        assert os.path.isfile(module)
        with open(module, "rb") as a, open(so, "rb") as b:
            assert a.read() == b.read()
        with open(dest + sysconf + "/mods-available/wsgi_rs.load") as f:
            assert f.read().strip() == f"LoadModule wsgi_rs_module {libexec}/mod_wsgi_rs.so"
        with open(dest + sysconf + "/mods-available/wsgi_rs.conf") as f:
            conf = f.read()
        assert "<IfModule wsgi_rs_module>" in conf
        installed = dest + "/usr/local/bin/wsgi-express"
        assert os.access(installed, os.X_OK)
        with open(installed, "rb") as a, open(express, "rb") as b:
            assert a.read() == b.read()
