"""WSGIDispatchScript of test_dispatch_script.py: the groups and callable come from the query
string (pg=, ag=, call=) or the X-Group header; raise=1 and bad=1 are the failure cases."""
from urllib.parse import parse_qs


def _q(environ):
    return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}


def process_group(environ):
    q = _q(environ)
    if "raise" in q:
        raise RuntimeError("dispatch boom")
    if "pg" in q:
        return q["pg"]
    return environ.get("HTTP_X_GROUP")


def application_group(environ):
    q = _q(environ)
    if "bad" in q:
        return 42
    return q.get("ag")


def callable_object(environ):
    return _q(environ).get("call")
