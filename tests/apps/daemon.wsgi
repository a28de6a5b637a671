"""Daemon-mode probes, dispatched on the last segment of PATH_INFO. Every JSON answer says which process served it.

/pid      {"pid", "ppid", "uid", "gid", "euid", "egid", "process_group", "server_pid", ...}
/sleep    ?s=SECONDS: sleep, then answer like /pid (for timeouts and in-flight requests)
/stream   ?n=N&delay=S: N chunks "chunk-i\\n", S seconds apart (timestamps in the body)
/exit     os._exit(3) before any response (the daemon dies mid-request)
/exit_after_head   send one chunk, then os._exit(3)
/raise    raise RuntimeError("DAEMON-RAISE-MARKER")
/errors   ?m=MARK: one line to wsgi.errors
"""
import json
import os
import sys
import time
from urllib.parse import parse_qs

LOADED_AT = time.time()


def module_info():
    """The built-in `mod_wsgi` module's view of this process (None when it is absent)."""
    try:
        import mod_wsgi
    except ImportError:
        return None
    return {k: getattr(mod_wsgi, k, None) for k in (
        "process_group", "application_group", "maximum_processes", "threads_per_process")}


def info(environ):
    return {
        "mod_wsgi_module": module_info(),
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "uid": os.getuid(),
        "gid": os.getgid(),
        "euid": os.geteuid(),
        "egid": os.getegid(),
        "groups": sorted(os.getgroups()),
        "cwd": os.getcwd(),
        "process_group": environ.get("mod_wsgi.process_group"),
        "application_group": environ.get("mod_wsgi.application_group"),
        "server_pid": environ.get("mod_wsgi.server_pid"),
        "multiprocess": environ.get("wsgi.multiprocess"),
        "multithread": environ.get("wsgi.multithread"),
        "request_start": environ.get("mod_wsgi.request_start"),
        "queue_start": environ.get("mod_wsgi.queue_start"),
        "daemon_start": environ.get("mod_wsgi.daemon_start"),
        "application_start": environ.get("mod_wsgi.application_start"),
        "loaded_at": LOADED_AT,
        "module": __name__,
        "env_pick": environ.get("PICK"),
        "sys_path": sys.path,
        "lang": os.environ.get("LANG"),
        "query": environ.get("QUERY_STRING", ""),
    }


def as_json(start_response, obj, status="200 OK"):
    body = json.dumps(obj).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
    return [body]


def application(environ, start_response):
    path = "/" + environ.get("PATH_INFO", "").rsplit("/", 1)[-1]
    q = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if path in ("/", "/pid"):
        return as_json(start_response, info(environ))
    if path == "/sleep":
        t0 = time.time()
        time.sleep(float(q.get("s", "1")))
        out = info(environ)
        out["slept_from"] = t0
        return as_json(start_response, out)
    if path == "/hold_gil":
        # libc sleep() called through PyDLL keeps the GIL: the interpreter is wedged for s
        # seconds, which is what deadlock-timeout must detect.
        import ctypes
        ctypes.PyDLL("libc.so.6").sleep(int(q.get("s", "5")))
        return as_json(start_response, info(environ))
    if path == "/stream":
        n, delay = int(q.get("n", "3")), float(q.get("delay", "0.5"))

        def gen():
            for i in range(n):
                if i:
                    time.sleep(delay)
                yield f"chunk-{i} {time.time():.3f}\n".encode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return gen()
    if path == "/exit":
        os._exit(3)
    if path == "/exit_after_head":
        def gen():
            yield b"first-chunk;"
            time.sleep(0.3)
            os._exit(3)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return gen()
    if path == "/raise":
        raise RuntimeError("DAEMON-RAISE-MARKER")
    if path == "/errors":
        environ["wsgi.errors"].write(f"DAEMON-ERRORS-LINE {q.get('m', '')}\n")
        return as_json(start_response, info(environ))
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"unknown"]
