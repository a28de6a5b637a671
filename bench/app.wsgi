"""The benchmark's application (bench/run.sh), the same for every row that runs Python:
GET /hello -> 13 bytes of text; POST /echo -> the request body, read whole, sent back."""


def application(environ, start_response):
    if environ["PATH_INFO"] == "/echo":
        n = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(n)
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    body = b"Hello world!\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
