"""WSGIDispatchScript with application-group=: names the interpreter it runs in."""
import mod_wsgi


def application_group(environ):
    return "ran-in-" + (mod_wsgi.application_group or "main")
