"""The benchmark's application (bench/run.sh), the same for every row that runs Python:
GET /hello -> 13 bytes of text; POST /echo -> the request body, read whole, sent back;
GET /big -> 1 MiB from a generator of 16 x 64 KiB; GET /file -> the same 1 MiB file through
wsgi.file_wrapper (htdocs/data.bin beside this script, the file the static row serves), or in
64 KiB reads where the server has no file_wrapper (granian)."""
import os

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "htdocs", "data.bin")
CHUNK = bytes(range(256)) * 256  # 64 KiB; 16 of them are the bytes of DATA


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/echo":
        n = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(n)
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    if path == "/big":
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(16 * len(CHUNK)))])
        return (CHUNK for _ in range(16))
    if path == "/file":
        f = open(DATA, "rb")
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(os.fstat(f.fileno()).st_size))])
        wrapper = environ.get("wsgi.file_wrapper")  # optional (PEP 3333): granian has none
        if wrapper is not None:
            return wrapper(f, 65536)
        return _read_blocks(f)
    body = b"Hello world!\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def _read_blocks(f):
    with f:
        while True:
            block = f.read(65536)
            if not block:
                return
            yield block
