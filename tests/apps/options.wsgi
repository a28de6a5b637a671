"""Probes for the WSGIDaemonProcess options (test_daemon_options.py), dispatched on the last
segment of PATH_INFO. Every JSON answer carries the serving process's pid.

/info     {"pid", "uid", "gid", "groups", "cwd", "umask", "priority", "rlimit_data", "rlimit_as",
           "env" (LANG, LC_ALL, LC_CTYPE, PYTHON_EGG_CACHE, HOME), "locale_all", "locale_ctype",
           "utf8_mode", "fs_encoding", "preferred_encoding", "process_group"}
/create   ?name=N: create STATE/N with open(..., 0o666) (the umask decides), answer its mode
/alloc    ?n=BYTES: allocate (and touch) a bytearray of n bytes, answer its length
/header   ?n=N: answer with an "X-Big" header of N bytes ("0123456789" repeated)
/big      ?n=BYTES: one body item of n bytes (a fixed pseudo-random pattern, see pattern())
/file     ?name=N: STATE/N through wsgi.file_wrapper (Content-Length = file size)
/sleep    ?s=SECONDS[&mark=N]: create STATE/N (the request is running), sleep, answer like /info
"""
import hashlib
import json
import locale
import os
import sys
import time
from urllib.parse import parse_qs


def pattern(n):
    """n bytes of a deterministic, compressible but not trivially repeating pattern."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b"%d" % (i % 64)).hexdigest().encode() * 4
        i += 1
    return bytes(out[:n])


def state_dir(environ):
    # The harness stages apps/ and state/ side by side in the server root.
    return os.path.join(os.path.dirname(os.path.dirname(environ["SCRIPT_FILENAME"])), "state")


def umask():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return None


def info(environ):
    import resource
    return {
        "pid": os.getpid(),
        "uid": os.getuid(),
        "gid": os.getgid(),
        "groups": sorted(os.getgroups()),
        "cwd": os.getcwd(),
        "umask": umask(),
        "priority": os.getpriority(os.PRIO_PROCESS, 0),
        "rlimit_data": list(resource.getrlimit(resource.RLIMIT_DATA)),
        "rlimit_as": list(resource.getrlimit(resource.RLIMIT_AS)),
        "env": {k: os.environ.get(k) for k in ("LANG", "LC_ALL", "LC_CTYPE", "PYTHON_EGG_CACHE",
                                               "HOME")},
        "locale_all": locale.setlocale(locale.LC_ALL),
        "locale_ctype": locale.setlocale(locale.LC_CTYPE),
        "utf8_mode": sys.flags.utf8_mode,
        "fs_encoding": sys.getfilesystemencoding(),
        "preferred_encoding": locale.getpreferredencoding(False),
        "process_group": environ.get("mod_wsgi.process_group"),
    }


def as_json(start_response, obj, status="200 OK"):
    body = json.dumps(obj).encode()
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body)))])
    return [body]


def application(environ, start_response):
    path = "/" + environ.get("PATH_INFO", "").rsplit("/", 1)[-1]
    q = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if path in ("/", "/info"):
        return as_json(start_response, info(environ))
    if path == "/create":
        name = os.path.basename(q["name"])
        p = os.path.join(state_dir(environ), name)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        os.close(fd)
        return as_json(start_response, {"pid": os.getpid(), "path": p,
                                        "mode": os.stat(p).st_mode & 0o7777})
    if path == "/alloc":
        n = int(q["n"])
        buf = bytearray(n)
        for i in range(0, n, 1 << 20):  # touch it: really in memory
            buf[i] = 1
        return as_json(start_response, {"pid": os.getpid(), "len": len(buf)})
    if path == "/header":
        n = int(q["n"])
        value = ("0123456789" * (n // 10 + 1))[:n]
        body = json.dumps({"pid": os.getpid(), "n": n}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("X-Big", value),
                                  ("Content-Length", str(len(body)))])
        return [body]
    if path == "/big":
        body = pattern(int(q["n"]))
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("X-Pid", str(os.getpid()))])
        return [body]
    if path == "/file":
        p = os.path.join(state_dir(environ), os.path.basename(q["name"]))
        f = open(p, "rb")
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(os.path.getsize(p))),
                                  ("X-Pid", str(os.getpid()))])
        return environ["wsgi.file_wrapper"](f, 65536)
    if path == "/sleep":
        if "mark" in q:
            open(os.path.join(state_dir(environ), os.path.basename(q["mark"])), "w").close()
        time.sleep(float(q.get("s", "1")))
        return as_json(start_response, info(environ))
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"unknown"]
