# The sample application `make run` serves.
import sys


def application(environ, start_response):
    body = (
        "Hello from mod_wsgi_rs!\n"
        f"Python {sys.version.split()[0]}, {environ['REQUEST_METHOD']} "
        f"SCRIPT_NAME={environ['SCRIPT_NAME']!r} PATH_INFO={environ['PATH_INFO']!r}\n"
    ).encode()
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"),
                              ("Content-Length", str(len(body)))])
    return [body]
