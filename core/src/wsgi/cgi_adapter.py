# The legacy CGI adapter (WSGICGIScript On), loaded once per interpreter by core/src/wsgi/cgi.rs
# as the module `_mod_wsgi_rs_cgi`. `application_for(path, reload)` gives a WSGI application that
# runs the CGI script `path` (compiled once, again when it changes and `reload` is true) in this
# process: os.environ, sys.stdin, sys.stdout, sys.argv and the working directory are swapped for
# the request and restored afterwards. The caller makes sure requests are serialised (one thread).
import http.client
import io
import os
import sys


class CGIHeaderError(Exception):
    """The script's output has no valid CGI header block (logged by cgi.rs with its own code)."""


# The process environment before any CGI request: each request starts from it.
_BASE_ENVIRON = dict(os.environ)
# path -> (mtime_ns, size, code object)
_CODE = {}


def _code(path, reload):
    entry = _CODE.get(path)
    if entry is not None and not reload:
        return entry[2]
    st = os.stat(path)
    if entry is not None and entry[0] == st.st_mtime_ns and entry[1] == st.st_size:
        return entry[2]
    with open(path, "rb") as f:
        source = f.read()
    code = compile(source, path, "exec", dont_inherit=True)
    _CODE[path] = (st.st_mtime_ns, st.st_size, code)
    return code


class _Capture(io.BytesIO):
    """The captured sys.stdout bytes; a script closing sys.stdout does not lose them."""

    def close(self):
        pass


class _InputRaw(io.RawIOBase):
    """wsgi.input as a raw binary stream, for the buffered/text sys.stdin."""

    def __init__(self, source):
        self._source = source

    def readable(self):
        return True

    def readinto(self, b):
        data = self._source.read(len(b))
        n = len(data)
        b[:n] = data
        return n


def _parse(output, path):
    """(status, headers, body) from the captured output."""
    headers = []
    pos = 0
    while True:
        nl = output.find(b"\n", pos)
        if nl < 0:
            raise CGIHeaderError(
                f"CGI script '{path}' produced no header block (no blank line after the headers)")
        line = output[pos:nl]
        pos = nl + 1
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            break
        name, sep, value = line.partition(b":")
        if not sep or not name.strip():
            raise CGIHeaderError(
                f"CGI script '{path}' produced no header block (not a header line: {line[:80]!r})")
        headers.append((name.strip().decode("latin-1"), value.strip().decode("latin-1")))
    body = output[pos:]
    status = None
    out = []
    for name, value in headers:
        if name.lower() == "status":
            status = value
        else:
            out.append((name, value))
    names = {n.lower() for n, _ in out}
    if status is None:
        status = "302 Found" if "location" in names and "content-type" not in names else "200 OK"
    elif " " not in status:
        try:
            status = f"{status} {http.client.responses.get(int(status), 'Unknown')}"
        except ValueError:
            pass
    if "content-type" not in names and "location" not in names:
        raise CGIHeaderError(
            f"CGI script '{path}' produced no header block (neither Content-Type nor Location)")
    return status, out, body


def application_for(path, reload):
    path = os.fsdecode(path)
    code = _code(path, reload)

    def application(environ, start_response):
        saved = (sys.stdin, sys.stdout, sys.argv)
        try:
            saved_cwd = os.getcwd()
        except OSError:
            saved_cwd = None
        buf = _Capture()
        out = io.TextIOWrapper(buf, encoding="utf-8", errors="surrogateescape", write_through=True)
        stdin = io.TextIOWrapper(io.BufferedReader(_InputRaw(environ["wsgi.input"])),
                                 encoding="utf-8", errors="surrogateescape")
        request_env = dict(_BASE_ENVIRON)
        for k, v in environ.items():
            if isinstance(v, str) and "." not in k and "\0" not in k and "\0" not in v and "=" not in k:
                request_env[k] = v
        request_env.setdefault("GATEWAY_INTERFACE", "CGI/1.1")
        try:
            os.environ.clear()
            os.environ.update(request_env)
            sys.stdin, sys.stdout, sys.argv = stdin, out, [path]
            try:
                os.chdir(os.path.dirname(path) or ".")
            except OSError:
                pass
            namespace = {"__name__": "__main__", "__file__": path, "__builtins__": __builtins__}
            try:
                exec(code, namespace)
            except SystemExit as e:
                if e.code not in (None, 0):
                    raise RuntimeError(f"CGI script '{path}' exited with status {e.code!r}") from None
            try:
                out.flush()
            except ValueError:  # the script closed sys.stdout
                pass
            output = buf.getvalue()
        finally:
            sys.stdin, sys.stdout, sys.argv = saved
            os.environ.clear()
            os.environ.update(_BASE_ENVIRON)
            if saved_cwd is not None:
                try:
                    os.chdir(saved_cwd)
                except OSError:
                    pass
        status, headers, body = _parse(output, path)
        start_response(status, headers)
        return [body]

    return application
