"""A real numpy application (test_numpy_groups.py): numpy's C core refuses a second load in one
process, so it serves in the interpreter that imported numpy first and fails in any other."""
import numpy


def application(environ, start_response):
    body = f"numpy {numpy.__version__} sum {int(numpy.arange(10).sum())}".encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
