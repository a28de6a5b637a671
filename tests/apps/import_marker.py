"""Imported by WSGIImportScript when a daemon process starts: leaves state/import-<pid> behind and
a line in the error log, before any request reaches the process."""
import os
import sys
import time

STATE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "state")
with open(os.path.join(STATE, "import-%d" % os.getpid()), "w") as f:
    f.write("%.6f\n" % time.time())
print("IMPORT-SCRIPT-RAN pid=%d" % os.getpid(), file=sys.stderr)


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"import marker"]
