"""Answers ?status=N with its own body ("app body N", streamed in pieces, or ?size= bytes)
and an X-App header: what WSGIErrorOverride must (or must not) replace."""
from urllib.parse import parse_qs


def application(environ, start_response):
    q = parse_qs(environ.get("QUERY_STRING", ""))
    status = int(q.get("status", ["200"])[0])
    size = int(q.get("size", ["0"])[0])
    reason = {200: "OK", 302: "Found", 401: "Unauthorized", 404: "Not Found", 410: "Gone",
              500: "Internal Server Error", 503: "Service Unavailable"}.get(status, "Other")
    headers = [("Content-Type", "text/plain"), ("X-App", "yes")]
    if status == 302:
        headers.append(("Location", "http://example.invalid/elsewhere"))
    if status == 401:
        headers.append(("WWW-Authenticate", 'Basic realm="app"'))
        headers.append(("Set-Cookie", "session=gone"))
    start_response(f"{status} {reason}", headers)
    if size:
        piece = b"x" * 65536
        sent = 0
        while sent < size:
            chunk = piece[:size - sent]
            sent += len(chunk)
            yield chunk
        return
    # A generator: each piece is flushed on its own (Flush frames in daemon mode).
    yield b"app body "
    yield str(status).encode()
