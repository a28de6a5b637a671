"""A daemon process holds only what its own group needs (root only: /proc/PID/mem).

With mod_ssl loaded before mod_wsgi_rs (Debian's order) and serving a virtual host from a key
file, one of the RSA key's primes is in the Apache parent's memory (checked: the test can find
it there), but in no daemon process's memory, whatever its user; and a daemon's descriptors
are stdin/stdout/stderr and its own group's socket, nothing of Apache's or of other groups'."""
import os
import re
import ssl
import subprocess
import urllib.request

import pytest

from daemon_util import OTHER_OPTS, wait_for
from harness import IS_ROOT, Apache, free_port

pytestmark = [pytest.mark.daemon,
              pytest.mark.skipif(not IS_ROOT, reason="reading another process's memory needs root")]


def make_key(d):
    key, cert = os.path.join(d, "key.pem"), os.path.join(d, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-subj", "/CN=127.0.0.1", "-days", "2"],
                   check=True, capture_output=True)
    text = subprocess.run(["openssl", "rsa", "-in", key, "-noout", "-text"], check=True,
                          capture_output=True, text=True).stdout
    m = re.search(r"prime1:\s*\n((?:\s+[0-9a-f:]+\n)+)", text)
    prime = int(re.sub(r"[\s:]", "", m.group(1)), 16)
    return key, cert, prime


def needles(prime):
    be = prime.to_bytes((prime.bit_length() + 7) // 8, "big")
    le = be[::-1]  # OpenSSL's BIGNUM limbs on little-endian machines
    # 32 bytes from the middle of each representation: no false match by chance.
    mid = len(be) // 2
    return [be[mid:mid + 32], le[mid:mid + 32]]


def memory_contains(pid, pats):
    """True if any of `pats` is in a readable mapping of `pid`."""
    found = False
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            addr, perms = line.split()[:2]
            if not perms.startswith("r") or "[vsyscall]" in line or "[vvar]" in line:
                continue
            lo, hi = (int(x, 16) for x in addr.split("-"))
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except (OSError, ValueError, OverflowError):
                continue
            if any(p in data for p in pats):
                found = True
                break
    return found


def unix_socket_inodes(listening=False):
    """inode -> path of every bound Unix socket (/proc/net/unix; an accepted connection shows
    its listener's path); `listening`: only listening sockets (flag __SO_ACCEPTCON)."""
    out = {}
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            parts = line.split()
            if len(parts) >= 8 and (not listening or int(parts[3], 16) & 0x10000):
                out[parts[6]] = parts[7]
    return out


@pytest.fixture(scope="module")
def tls():
    tmp = __import__("tempfile").mkdtemp(prefix="wsgi_rs-tls-", dir="/tmp")
    key, cert, prime = make_key(tmp)
    port = free_port()
    conf = f"""
Listen 127.0.0.1:{port}
WSGIDaemonProcess tenant processes=2 threads=2 {OTHER_OPTS} display-name=%{{GROUP}}
WSGIDaemonProcess neighbour processes=1 threads=2 display-name=%{{GROUP}}
WSGIScriptAlias /n @APPS@/daemon.wsgi process-group=neighbour
<VirtualHost 127.0.0.1:{port}>
    SSLEngine on
    SSLCertificateFile {cert}
    SSLCertificateKeyFile {key}
    WSGIScriptAlias /d @APPS@/daemon.wsgi process-group=tenant
</VirtualHost>
"""
    with Apache("isolation", conf, modules=["socache_shmcb", "ssl"]) as a:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/d/pid", context=ctx, timeout=10) as r:
            import json
            pid = json.loads(r.read())["pid"]
        yield a, prime, pid
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)


def test_key_is_in_apache_parent_but_in_no_daemon(tls):
    a, prime, served_by = tls
    pats = needles(prime)
    # Positive control: the search finds the key where mod_ssl keeps it.
    assert memory_contains(a.proc.pid, pats), "the test cannot find the key in the Apache parent"
    daemons = wait_for(lambda: len(a.daemon_pids()) == 3 and a.daemon_pids(), 20, "3 daemon processes")
    assert served_by in daemons, daemons
    for pid in daemons + [a.spawner_pid()]:
        assert not memory_contains(pid, pats), f"the site's private key is readable in process {pid}"


def test_daemon_descriptors_are_only_its_own(tls):
    a, _, _ = tls
    sockets = unix_socket_inodes()
    listeners = unix_socket_inodes(listening=True)
    seen_paths = set()
    for pid in wait_for(lambda: len(a.daemon_pids()) == 3 and a.daemon_pids(), 20, "3 daemons"):
        fds = {}
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                fds[int(fd)] = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                pass
        socks = {fd: t for fd, t in fds.items() if t.startswith("socket:")}
        # Its own epoll instance (the workers wait on it: core/src/daemon/conns.rs).
        epolls = {fd for fd, t in fds.items() if t == "anon_inode:[eventpoll]"}
        others = {fd: t for fd, t in fds.items() if fd not in socks and fd not in epolls}
        assert set(others) <= {0, 1, 2}, (pid, fds)
        assert len(epolls) == 1, (pid, fds)
        assert fds[2] == a.log_path, (pid, fds)
        # The listening socket, plus the connections Apache children keep open to it between
        # requests (wire protocol v2): all of them on the group's own socket path.
        paths = {sockets.get(t[len("socket:["):-1]) for t in socks.values()}
        listening = [t for t in socks.values() if t[len("socket:["):-1] in listeners]
        assert len(listening) == 1, (pid, fds)
        assert len(paths) == 1, (pid, paths)
        path = paths.pop()
        assert path and path.startswith(os.path.join(a.root, "run", "wsgi-rs.")), (pid, path)
        seen_paths.add(path)
    # The two groups listen on two different sockets; nobody holds the other's.
    assert len(seen_paths) == 2, seen_paths
