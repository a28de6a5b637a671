"""WSGIAccessScript of the auth tests: only 127.0.0.1 gets in; a header asks for the other
answers."""


def allow_access(environ, host):
    environ["wsgi.errors"].write("ACCESSNOTE host=%s\n" % host)
    ask = environ.get("HTTP_X_ACCESS")
    if ask == "raise":
        raise ValueError("access boom")
    if ask == "weird":
        return "yes"
    if ask == "none":
        return None
    return host == "127.0.0.1"
