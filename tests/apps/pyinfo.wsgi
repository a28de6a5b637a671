"""Interpreter facts: optimisation level, sys.path, sys.prefix, importability of ?mod= names."""
import json
import sys
from urllib.parse import parse_qs


def application(environ, start_response):
    q = parse_qs(environ.get("QUERY_STRING", ""))
    try:
        assert False
        asserts = False
    except AssertionError:
        asserts = True
    imports = {}
    for name in q.get("mod", []):
        try:
            mod = __import__(name)
            imports[name] = getattr(mod, "__file__", None) or "builtin"
        except Exception as e:
            imports[name] = f"raised {type(e).__name__}: {e}"
    res = {"optimize": sys.flags.optimize, "debug": __debug__, "asserts": asserts,
           "prefix": sys.prefix, "base_prefix": sys.base_prefix, "path": sys.path,
           "version": list(sys.version_info[:3]), "imports": imports,
           "application_group": environ.get("mod_wsgi.application_group")}
    body = json.dumps(res).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
