"""Prints at import (test_vhosts.py): served under a.test, it is first imported during a
request, so the line belongs to that request's virtual host; preloaded by WSGIImportScript
(as `print_startup.wsgi`) it is imported at child start, outside any request. NAME is the file
name."""
import json
import os

NAME = os.path.splitext(os.path.basename(__file__))[0]
print(f"{NAME} imported pid={os.getpid()}")


def application(environ, start_response):
    body = json.dumps({"name": NAME, "pid": os.getpid()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
