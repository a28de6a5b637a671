"""A WSGIHandlerScript: mod_wsgi calls its `handle_request` (a fixed name) for every request
whose Apache handler names it; SCRIPT_FILENAME is the requested file, which it serves."""
import json
import os


def handle_request(environ, start_response):
    path = environ["SCRIPT_FILENAME"]
    if not os.path.isfile(path):
        body = b"handler: no such file"
        start_response("404 Not Found", [("Content-Type", "text/plain"),
                                         ("Content-Length", str(len(body)))])
        return [body]
    with open(path, "rb") as f:
        content = f.read().decode("utf-8")
    keys = ("SCRIPT_FILENAME", "SCRIPT_NAME", "PATH_INFO", "mod_wsgi.handler_script",
            "mod_wsgi.request_handler", "mod_wsgi.callable_object", "mod_wsgi.process_group",
            "mod_wsgi.application_group", "HTTP_AUTHORIZATION")
    out = {k: environ[k] for k in keys if k in environ}
    out["content"] = content
    out["pid"] = os.getpid()
    out["handler_file"] = __file__
    body = json.dumps(out, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def application(environ, start_response):
    """Not the handler script's callable: reaching this is a failure."""
    body = b"wrong callable: application"
    start_response("418 I'm a teapot", [("Content-Type", "text/plain"),
                                        ("Content-Length", str(len(body)))])
    return [body]
