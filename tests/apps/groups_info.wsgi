"""Which interpreter runs a request (test_app_groups.py). MARK is random per import, so two
interpreters (or two processes) never share it; `modules` is id(sys.modules). At import it
prints a line (sys.stdout goes to the error log in every interpreter) and registers an atexit
handler that writes <state dir>/atexit.<group or GLOBAL>.<pid>."""
import atexit
import json
import os
import sys
import uuid

import mod_wsgi

MARK = uuid.uuid4().hex
GROUP = mod_wsgi.application_group
STATE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "state")
print(f"groups_info imported into group {GROUP!r} mark {MARK}")


def _at_exit():
    with open(os.path.join(STATE, f"atexit.{GROUP or 'GLOBAL'}.{os.getpid()}"), "w") as f:
        f.write("finalised\n")


atexit.register(_at_exit)


def application(environ, start_response):
    body = json.dumps({
        "mark": MARK, "modules": id(sys.modules), "pid": os.getpid(),
        "group": environ["mod_wsgi.application_group"], "module_group": mod_wsgi.application_group,
        "process_group": mod_wsgi.process_group,
        "grouplib_on_path": any(p.rstrip("/").endswith("/grouplib") for p in sys.path),
        "stdout_redirected": type(sys.stdout).__name__ != "TextIOWrapper",
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
