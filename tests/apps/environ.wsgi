"""Dumps the environ as JSON: every key whose value is str/int/float/bool/tuple, plus what the
wsgi.* objects look like. Several callables (for callable-object= / WSGICallableObject tests)."""
import json
import sys

SIMPLE = (str, int, float, bool)


def dump(environ, start_response, callable_name):
    out = {}
    for k, v in environ.items():
        if isinstance(v, SIMPLE):
            out[k] = v
        elif isinstance(v, tuple):
            out[k] = list(v)
    out["_value_types"] = {k: type(v).__name__ for k, v in environ.items()}
    inp, err = environ.get("wsgi.input"), environ.get("wsgi.errors")
    out["_input_api"] = all(hasattr(inp, m) for m in ("read", "readline", "readlines", "__iter__"))
    out["_errors_api"] = all(hasattr(err, m) for m in ("write", "writelines", "flush"))
    out["_file_wrapper_callable"] = callable(environ.get("wsgi.file_wrapper"))
    out["_file"] = globals().get("__file__")
    out["_module_name"] = __name__
    out["_callable"] = callable_name
    out["_python"] = list(sys.version_info[:2])
    import mod_wsgi
    out["_mod_wsgi_attrs"] = {"version": list(mod_wsgi.version),
                              "mod_wsgi_rs_version": mod_wsgi.mod_wsgi_rs_version}
    body = json.dumps(out, sort_keys=True).encode("ascii")
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body))),
                              ("X-Request-Method", environ["REQUEST_METHOD"]),
                              ("X-Callable", callable_name)])
    return [body]


def application(environ, start_response):
    return dump(environ, start_response, "application")


def other(environ, start_response):
    return dump(environ, start_response, "other")


def alt(environ, start_response):
    return dump(environ, start_response, "alt")
