"""Preloaded into Apache's children (embedded WSGIImportScript / process-group=%{GLOBAL}): each
import appends its interpreter's application group to state/preload-<pid>."""
import json
import os

try:
    import mod_wsgi
    GROUP = mod_wsgi.application_group
except ImportError:
    GROUP = "?"

STATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "state")
with open(os.path.join(STATE, "preload-%d" % os.getpid()), "a") as f:
    f.write("group=%s\n" % GROUP)


def application(environ, start_response):
    body = json.dumps({"pid": os.getpid(), "group": GROUP}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
