"""WSGIAuthUserScript / WSGIAuthGroupScript of the auth tests: a small user table, and users
whose names ask for the failures the tests check."""
import hashlib
import json
import os

USERS = {"spy": "secret", "ed": "edpass", "bob": "bobpass", "nina": "ninapass"}
GROUPS = {"ed": ["editors", b"staff"], "spy": ["spies"], "bob": []}


def _note(environ, what):
    environ["wsgi.errors"].write("AUTHNOTE %s pid=%d\n" % (what, os.getpid()))


def _dump(environ):
    ssl_https = environ["mod_ssl.is_https"]()
    ssl_proto = environ["mod_ssl.var_lookup"]("SSL_PROTOCOL")
    ssl_bytes = environ["mod_ssl.var_lookup"](b"HTTPS")
    shown = {
        "keys": sorted(k for k in environ if isinstance(k, str)),
        "is_https": ssl_https,
        "ssl_protocol": ssl_proto,
        "ssl_bytes": ssl_bytes,
        "values": {k: environ.get(k) for k in (
            "REQUEST_METHOD", "REQUEST_URI", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING",
            "HTTP_X_PROBE", "REMOTE_ADDR", "SERVER_PORT", "mod_wsgi.application_group",
            "mod_wsgi.process_group")},
        "apache_version": list(environ["apache.version"]),
    }
    environ["wsgi.errors"].write("AUTHENV " + json.dumps(shown) + "\n")


def check_password(environ, user, password):
    _note(environ, "check_password user=%s" % user)
    if user == "boom":
        raise RuntimeError("auth boom")
    if user == "weird":
        return 42
    if user == "alias":
        return "canonical" if password == "x" else False
    if user == "envdump":
        _dump(environ)
        return True
    if user not in USERS:
        return None
    return USERS[user] == password


def get_realm_hash(environ, user, realm):
    _note(environ, "get_realm_hash user=%s realm=%s" % (user, realm))
    if user == "boom":
        raise RuntimeError("digest boom")
    if user not in USERS:
        return None
    return hashlib.md5(("%s:%s:%s" % (user, realm, USERS[user])).encode()).hexdigest()


def groups_for_user(environ, user):
    _note(environ, "groups_for_user user=%s" % user)
    if user == "spy" and environ.get("HTTP_X_GROUPS") == "raise":
        raise LookupError("groups boom")
    if user == "spy" and environ.get("HTTP_X_GROUPS") == "int":
        return 7
    if user == "nina":
        return (g for g in ["night shift"])  # any iterable will do
    return GROUPS.get(user, [])
