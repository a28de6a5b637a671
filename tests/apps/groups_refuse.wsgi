"""Stands in for a single-phase-init C extension (numpy's core, for one) that refuses to load in
a sub-interpreter (test_app_groups.py): in a named application group, importing this script
raises the ImportError such a module raises; in the main interpreter it serves."""
import mod_wsgi

if mod_wsgi.application_group:
    raise ImportError("module fake_ext does not support loading in subinterpreters")


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"loaded in the main interpreter"]
