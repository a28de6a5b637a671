"""The application behind the WSGIDispatchScript tests: says where it ran and which callable."""
import json
import os


def _answer(environ, start_response, name):
    body = json.dumps({
        "pid": os.getpid(),
        "callable": name,
        "process_group": environ.get("mod_wsgi.process_group"),
        "application_group": environ.get("mod_wsgi.application_group"),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]


def application(environ, start_response):
    return _answer(environ, start_response, "application")


def alt(environ, start_response):
    return _answer(environ, start_response, "alt")
