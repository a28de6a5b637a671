"""Application-group isolation probe (test_app_groups.py), served as several scripts (copies
named a.wsgi, b.wsgi...; NAME is the file name). At import it claims process-wide Python state
for itself: groupmod.OWNER (a module found through WSGIPythonPath / python-path=),
os.environ['DJANGO_SETTINGS_MODULE'] and a sys.path entry. Every request reports whether the
claims still hold and numbers itself with groupmod.COUNTER (per interpreter)."""
import json
import os
import sys

import groupmod

NAME = os.path.splitext(os.path.basename(__file__))[0]
groupmod.OWNER = NAME
os.environ["DJANGO_SETTINGS_MODULE"] = f"site_{NAME}.settings"
sys.path.insert(0, f"/nonexistent/{NAME}")


def application(environ, start_response):
    with groupmod.LOCK:
        groupmod.COUNTER += 1
        n = groupmod.COUNTER
    others = [p for p in sys.path if p.startswith("/nonexistent/") and p != f"/nonexistent/{NAME}"]
    body = json.dumps({
        "name": NAME, "owner": groupmod.OWNER, "others": others, "count": n, "pid": os.getpid(),
        "settings": os.environ.get("DJANGO_SETTINGS_MODULE"),
        "group": environ["mod_wsgi.application_group"],
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
