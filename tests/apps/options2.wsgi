"""Probes for the daemon options of test_daemon_options2.py, dispatched on the last segment of
PATH_INFO. JSON answers carry the serving process's pid.

/info    {"pid", "switch_interval", "rlimit_cpu"}
/stuck   ?s=SECONDS&tag=T: run for up to s seconds in 0.1 s sleeps (Python runs between them, so
         an injected mod_wsgi.RequestTimeout lands within 0.1 s); when it lands, log
         "caught RequestTimeout tag=T" to wsgi.errors, create STATE/caught-T and re-raise.
         Finishing the loop answers 200 "not interrupted". &sabotage=1 first deletes
         mod_wsgi.RequestTimeout from the interpreter's mod_wsgi module.
/block   ?s=SECONDS: one time.sleep(s) (a C call: an injection waits until it returns)
/burn    ?s=SECONDS: a busy loop (CPU time) for up to s wall seconds
/slow    ?s=SECONDS[&mark=N]: create STATE/N (running), sleep, answer {"pid", "slept"}
/big     ?mb=N: a generator of N 1 MiB chunks
/stream  ?n=N&gap=MS: a generator of N 100-byte chunks, MS milliseconds apart
/duplex  yields "ready", then reads the whole request body and yields "got BODY"
"""
import json
import os
import sys
import time
from urllib.parse import parse_qs


def state_dir(environ):
    return os.path.join(os.path.dirname(os.path.dirname(environ["SCRIPT_FILENAME"])), "state")


def answer(start_response, obj, status="200 OK"):
    body = json.dumps(obj).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
    return [body]


def application(environ, start_response):
    import mod_wsgi
    import resource
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    what = environ.get("PATH_INFO", "").rstrip("/").rsplit("/", 1)[-1]
    if what == "info":
        return answer(start_response, {"pid": os.getpid(),
                                       "switch_interval": sys.getswitchinterval(),
                                       "rlimit_cpu": list(resource.getrlimit(resource.RLIMIT_CPU))})
    if what == "stuck":
        tag = q.get("tag", "")
        end = time.time() + float(q.get("s", "60"))
        timeout_class = mod_wsgi.RequestTimeout
        if q.get("sabotage"):
            del mod_wsgi.RequestTimeout  # the injection then has nothing to raise
        try:
            while time.time() < end:
                time.sleep(0.1)
        except timeout_class:
            environ["wsgi.errors"].write(f"caught RequestTimeout tag={tag} pid={os.getpid()}\n")
            environ["wsgi.errors"].flush()
            open(os.path.join(state_dir(environ), f"caught-{tag}"), "w").close()
            raise
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"not interrupted"]
    if what == "block":
        time.sleep(float(q.get("s", "60")))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"block returned"]
    if what == "burn":
        end = time.time() + float(q.get("s", "30"))
        n = 0
        while time.time() < end:
            n += 1
        return answer(start_response, {"pid": os.getpid(), "loops": n})
    if what == "slow":
        if q.get("mark"):
            open(os.path.join(state_dir(environ), q["mark"]), "w").close()
        s = float(q.get("s", "1"))
        time.sleep(s)
        return answer(start_response, {"pid": os.getpid(), "slept": s})
    if what == "big":
        chunk = b"x" * (1 << 20)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])

        def gen():
            for _ in range(int(q.get("mb", "64"))):
                yield chunk
        return gen()
    if what == "stream":
        n, gap = int(q.get("n", "10")), float(q.get("gap", "20")) / 1000

        def stream():
            for i in range(n):
                if i:
                    time.sleep(gap)
                yield (b"%03d" % i) * 33 + b"\n"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return stream()
    if what == "duplex":
        def duplex():
            yield b"ready\n"
            yield b"got " + environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return duplex()
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"unknown probe"]
