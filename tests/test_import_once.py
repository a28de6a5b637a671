"""A WSGI script is imported once per process, under a per-script lock: concurrent first requests
wait for the one import and use its module; a changed script (WSGIScriptReloading On) is
re-imported once, the concurrent requests getting the old or the new module, never an error; a
failing import fails every request that waited for it, and the next request tries again.

The scripts' module code appends "<pid> <version>" to a counter file in the server's state
directory (writable by Apache's user) and sleeps 0.5 s, so eight requests sent together all find
the script not loaded yet. Imports are counted per pid: under prefork (WSGI_RS_MPM=prefork) each
child imports once; in daemon mode (WSGI_RS_MODE=daemon, one process with 25 threads) a changed
script also recycles the process, whose replacement imports afresh."""
import collections
import os
import re
import threading
import time

import pytest

from codes import code
from harness import DAEMON, rewrite, serve

SCRIPT = '''
import os
import time

VERSION = "{version}"
with open({counter!r}, "a") as f:
    f.write("%d %s\\n" % (os.getpid(), VERSION))
time.sleep(0.5)
{tail}

def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [VERSION.encode()]
'''

CONF = """
WSGIScriptAlias /first @APPS@/first.wsgi
WSGIScriptAlias /changed @APPS@/changed.wsgi
WSGIScriptAlias /failing @APPS@/failing.wsgi
WSGIScriptAlias /other @APPS@/other.wsgi
"""

srv = serve("import_once", CONF)

N = 8


@pytest.fixture(autouse=True)
def _settled(srv):
    """Daemon mode: start each test with no process recycling under way."""
    if DAEMON:
        srv.settle_daemons()


def put_script(srv, name, version, tail=""):
    """Write apps/NAME.wsgi counting its imports in state/NAME.imports; return the counter path."""
    counter = os.path.join(srv.state, name + ".imports")
    text = SCRIPT.format(version=version, counter=counter, tail=tail)
    path = os.path.join(srv.apps, name + ".wsgi")
    if os.path.exists(path):
        rewrite(path, text)
    else:
        srv.put(f"apps/{name}.wsgi", text)
    return counter


def imports(counter, skip=0):
    """The (pid, version) lines of a counter file, from line `skip` on."""
    try:
        with open(counter) as f:
            return [tuple(l.split()) for l in f.read().splitlines()[skip:]]
    except FileNotFoundError:
        return []


def concurrently(srv, path, n=N):
    """Send `n` GETs of `path` at once; return the responses."""
    barrier = threading.Barrier(n)
    out = [None] * n

    def one(i):
        barrier.wait()
        out[i] = srv.get(path)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def assert_once_per_pid(lines):
    per_pid = collections.Counter(pid for pid, _ in lines)
    assert lines and max(per_pid.values()) == 1, f"module code ran more than once in a process: {lines}"


def loaded_lines(srv, script, since):
    rx = re.compile(code("script_loaded") + r".*" + re.escape(script))
    return [l for l in srv.log_since(since).splitlines() if rx.search(l)]


def test_concurrent_first_requests_import_once(srv):
    mark = srv.log_mark()
    counter = put_script(srv, "first", "v1")
    rs = concurrently(srv, "/first")
    assert [(r.status, r.text) for r in rs] == [(200, "v1")] * N
    lines = imports(counter)
    assert_once_per_pid(lines)
    script = os.path.join(srv.apps, "first.wsgi")
    assert len(loaded_lines(srv, script, mark)) == len(lines), srv.log_since(mark)
    # Loaded: later requests use the module, no import.
    assert srv.get("/first").text == "v1"
    assert imports(counter) == lines


def test_changed_script_reimported_once(srv):
    counter = put_script(srv, "changed", "v1")
    assert srv.get("/changed").text == "v1"
    if DAEMON:  # the first import of a script recycles nothing; settle anyway
        srv.settle_daemons()
    before = len(imports(counter))
    mark = srv.log_mark()
    put_script(srv, "changed", "v2")  # new text, mtime moved forward
    rs = concurrently(srv, "/changed")
    bad = [(r.status, r.text) for r in rs if r.status != 200 or r.text not in ("v1", "v2")]
    assert not bad, bad
    assert "v2" in [r.text for r in rs]
    lines = imports(counter, before)
    assert_once_per_pid(lines)
    assert all(v == "v2" for _, v in lines), lines
    script = os.path.join(srv.apps, "changed.wsgi")
    assert len(loaded_lines(srv, script, mark)) == len(lines), srv.log_since(mark)


def test_failed_import_fails_waiters_then_retries(srv):
    counter = put_script(srv, "failing", "v1", tail='raise RuntimeError("import failed on purpose")')
    mark = srv.log_mark()
    rs = concurrently(srv, "/failing")
    assert [r.status for r in rs] == [500] * N
    lines = imports(counter)
    assert_once_per_pid(lines)
    # Every request that waited for the failed import reports it.
    srv.wait_log_lines(code("script_load_failed"), since=mark)
    failed = [l for l in srv.log_since(mark).splitlines() if re.search(code("script_load_failed"), l)]
    assert len(failed) == N, failed
    # The next request imports again.
    assert srv.get("/failing").status == 500
    assert len(imports(counter)) == len(lines) + 1


@pytest.mark.event_only("threads in one process")
def test_import_does_not_block_other_scripts(srv):
    """While one script's module code runs, a request for another (loaded) script is served."""
    put_script(srv, "other", "o1")
    assert srv.get("/other").text == "o1"
    put_script(srv, "first", "v3", tail="time.sleep(1.5)")  # /first changed: its re-import takes 2 s
    results = {}

    def slow():
        results["first"] = srv.get("/first")
    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.3)  # the re-import of first.wsgi is under way
    start = time.monotonic()
    r = srv.get("/other")
    elapsed = time.monotonic() - start
    t.join(30)
    assert r.status == 200 and r.text == "o1"
    assert results["first"].status == 200 and results["first"].text == "v3"
    assert elapsed < 1.0, f"/other waited {elapsed:.2f}s for another script's import"
