"""Probes for the Apache child life cycle (test_lifecycle.py). Every answer is JSON with the pid.

/sleep   ?s=SECONDS: time.sleep (the GIL is released while it waits)
Every answer also echoes QUERY_STRING as "query" (the load generator checks its token).
/busy    ?s=SECONDS: a pure-Python loop that holds the GIL the whole time
An atexit handler writes <state dir>/atexit.<pid> when Python is finalised in this process.
"""
import atexit
import json
import os
import time
from urllib.parse import parse_qs

STATE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "state")


def _at_exit():
    with open(os.path.join(STATE, f"atexit.{os.getpid()}"), "w") as f:
        f.write("finalised\n")


atexit.register(_at_exit)


def application(environ, start_response):
    q = parse_qs(environ.get("QUERY_STRING", ""))
    s = float(q.get("s", ["0"])[0])
    what = environ.get("PATH_INFO", "").rsplit("/", 1)[-1]
    if what == "busy":
        end = time.monotonic() + s
        n = 0
        while time.monotonic() < end:
            n += 1
    elif what == "sleep":
        time.sleep(s)
    body = json.dumps({"pid": os.getpid(), "query": environ.get("QUERY_STRING", "")}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
