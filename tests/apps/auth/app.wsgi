"""The application behind the auth tests: what Apache established (REMOTE_USER, AUTH_TYPE) and
which process served it."""
import json
import os
import sys


def application(environ, start_response):
    sys._auth_app_marker = True  # seen by auth scripts sharing this interpreter
    body = json.dumps({
        "user": environ.get("REMOTE_USER"),
        "auth_type": environ.get("AUTH_TYPE"),
        "pid": os.getpid(),
        "authorization": "HTTP_AUTHORIZATION" in environ,
        "group": environ.get("mod_wsgi.application_group"),
        "secret_env": environ.get("AUTH_SECRET_ENV"),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
