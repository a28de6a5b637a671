"""Recognising one known httpd crash (not ours) from a core dump, so tests that stop Apache
children ungracefully under load can tell it apart from a crash of the module.

The race (Apache 2.4 event MPM, still in httpd trunk): on `-k restart` / `-k stop` the child's
main thread runs `signal_threads(ST_UNGRACEFUL)`, whose `close_worker_sockets()` reads each
worker's current socket from a plain array and closes it, with no synchronisation with the
worker. A worker that finishes a connection at that moment has already released the
connection's transaction pool (once stopping began the MPM destroys those pools and unmaps their
memory, and the listener frees the idle ones) when it clears its slot, so the main thread reads
an unmapped `apr_socket_t` and the child dies of SIGSEGV in `apr_os_sock_get()`, called from
mod_mpm_event's `close_socket_nonblocking()`. It reproduces with plain Apache and no
mod_wsgi_rs loaded (ab on a static file with `-k restart` in a loop: a crash every few dozen
restarts on a 2-core machine); a module cannot prevent it. Only that exact signature is
excused: a core of the crashed child whose *main thread* faulted in `apr_os_sock_get` called
from the MPM. Without a core (limit 0, a piped core_pattern) or without gdb, nothing is."""
import contextlib
import glob
import os
import re
import resource
import shutil
import subprocess

from harness import APACHE_BIN

# Apache's line for a child killed by SIGSEGV (AH00051 adds "possible coredump in DIR").
SEGV_RE = re.compile(r"AH0005[12]: child pid (\d+) exit signal Segmentation fault \(11\)")

# For the test snippet: cores of the children go to the state directory (writable by the user
# the children run as), named by the kernel's core_pattern.
CORE_CONF = "CoreDumpDirectory @STATE@\n"


@contextlib.contextmanager
def core_dumps():
    """Raises this process's core size limit while it runs (an Apache started inside inherits
    it; Apache itself makes its children dumpable once CoreDumpDirectory is set)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_CORE, (soft, hard))


def main_thread_stack(core, pid):
    """The frames of thread LWP `pid` (a process's main thread) in `core`, from gdb; [] when
    gdb is missing or the core has no such thread."""
    gdb = shutil.which("gdb")
    if not gdb:
        return []
    out = subprocess.run([gdb, "-batch", "-nx", "-ex", "thread apply all bt 12", APACHE_BIN, core],
                         capture_output=True, text=True, timeout=300).stdout
    for block in re.split(r"\n(?=Thread \d+ )", out):
        if re.match(rf"Thread \d+ \(Thread 0x[0-9a-f]+ \(LWP {pid}\)", block):
            return re.findall(r"^#\d+\s+(.*)$", block, re.M)
    return []


def is_close_worker_sockets_fault(frames):
    """A fault in apr_os_sock_get called straight from the MPM (Apache's own fatal-signal
    handler may sit above it: `kill`, `<signal handler called>`)."""
    for i, f in enumerate(frames[:-1]):
        if re.search(r"\bapr_os_sock_get \(", f):
            return re.search(r"/mod_mpm_(event|worker)\.so$", frames[i + 1]) is not None
    return False


def excused_pids(apache):
    """The children whose SIGSEGV in the error log is [`excused`]."""
    return {int(SEGV_RE.search(l).group(1)) for l in apache.error_log().splitlines() if excused(apache, l)}


def excused(apache, line):
    """Whether error-log `line` reports the httpd race above, proven by the child's core in
    the state directory. Prints what it excused."""
    m = SEGV_RE.search(line)
    if not m:
        return False
    pid = m.group(1)
    for core in glob.glob(os.path.join(apache.state, "core*")):
        if is_close_worker_sockets_fault(main_thread_stack(core, pid)):
            print(f"excused (httpd close_worker_sockets race, see tests/httpd_race.py): {line}")
            return True
    return False
