"""Interpreter settings made by the server-wide WSGIPython*/WSGIRestrict*/WSGISwitchInterval
directives, as JSON."""
import json
import os
import sys


def application(environ, start_response):
    try:
        sys.stdin.read()
        stdin = "readable"
    except OSError as e:
        stdin = f"raised OSError: {e}"
    res = {
        "hash_abc": hash("abc"),
        "dont_write_bytecode": sys.dont_write_bytecode,
        "warnoptions": sys.warnoptions,
        "switch_interval": sys.getswitchinterval(),
        "egg_cache": os.environ.get("PYTHON_EGG_CACHE"),
        "stdin": stdin,
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(res).encode()]
