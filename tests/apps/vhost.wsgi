"""Virtual-host / shared-hosting probe (test_vhosts.py, test_shared_hosting.py), served as
copies named after their site (site_a.wsgi, api.wsgi, ...; NAME is the file name). At import it
sets a module global from NAME in a shared module (`vhostmod`, created on first import in each
interpreter), so two scripts that share an interpreter would see each other's claim.
Query: `err=TEXT` writes TEXT to wsgi.errors; `stderr=TEXT` prints it to sys.stderr;
`print=TEXT` prints it to sys.stdout; `partial=TEXT` writes it to sys.stdout without a newline
(nor flush); `thread=TEXT` prints it from another thread (joined before the response);
`fd2=TEXT` writes it straight to file descriptor 2 (as C code would); `boom=TEXT` raises
RuntimeError(TEXT);
`read=PATH` tries to read PATH (the outcome is in "read")."""
import json
import os
import sys
import threading
import types
from urllib.parse import parse_qs

NAME = os.path.splitext(os.path.basename(__file__))[0]
shared = sys.modules.get("vhostmod")
if shared is None:
    shared = sys.modules["vhostmod"] = types.ModuleType("vhostmod")
    shared.OWNER = None
    shared.SEEN = []
shared.OWNER = NAME
shared.SEEN.append(NAME)


def application(environ, start_response):
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if "err" in q:
        environ["wsgi.errors"].write(f"{q['err']}\n")
        environ["wsgi.errors"].flush()
    if "stderr" in q:
        print(q["stderr"], file=sys.stderr, flush=True)
    if "print" in q:
        print(q["print"])
    if "thread" in q:
        t = threading.Thread(target=print, args=(q["thread"],))
        t.start()
        t.join()
    if "partial" in q:
        sys.stdout.write(q["partial"])
    if "fd2" in q:
        os.write(2, f"{q['fd2']}\n".encode())
    if "boom" in q:
        raise RuntimeError(q["boom"])
    out = {
        "name": NAME, "owner": shared.OWNER, "seen": list(shared.SEEN),
        "script_name": environ.get("SCRIPT_NAME"), "path_info": environ.get("PATH_INFO"),
        "host": environ.get("HTTP_HOST"), "server_name": environ.get("SERVER_NAME"),
        "server_port": environ.get("SERVER_PORT"),
        "group": environ.get("mod_wsgi.application_group"),
        "process_group": environ.get("mod_wsgi.process_group"),
        "uid": os.getuid(), "euid": os.geteuid(), "pid": os.getpid(),
    }
    if "read" in q:
        try:
            with open(q["read"]) as f:
                out["read"] = "ok:" + f.read()
        except OSError as e:
            out["read"] = f"{type(e).__name__}: {e.strerror}"
    body = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
