"""Application failures, dispatched on PATH_INFO. Each message is a unique marker for the log."""
import time


class CloseRaises:
    def __iter__(self):
        yield b"body-before-close-error"

    def close(self):
        raise RuntimeError("CLOSE-RAISES-MARKER")


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    text = [("Content-Type", "text/plain")]
    if path == "/ok":
        start_response("200 OK", text)
        return [b"ok"]
    if path == "/raise_before":
        raise RuntimeError("BEFORE-HEADERS-MARKER")
    if path == "/raise_after_sr":
        start_response("200 OK", text)
        raise ValueError("AFTER-START-RESPONSE-MARKER")
    if path == "/raise_in_first_next":
        def gen():
            raise LookupError("FIRST-NEXT-MARKER")
            yield b""
        start_response("200 OK", text)
        return gen()
    if path == "/raise_after":
        def gen():
            yield b"first-chunk;"
            time.sleep(0.2)
            raise ValueError("AFTER-HEADERS-MARKER")
        start_response("200 OK", text)
        return gen()
    if path == "/str_body":
        start_response("200 OK", text)
        return ["a str, not bytes"]
    if path == "/none":
        start_response("200 OK", text)
        return None
    if path == "/no_start_response":
        return [b"output without start_response"]
    if path == "/close_raises":
        start_response("200 OK", text)
        return CloseRaises()
    start_response("404 Not Found", text)
    return [b"unknown"]
