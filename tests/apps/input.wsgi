"""Reads wsgi.input with the pattern named by ?mode= and answers JSON with sha256 and length."""
import hashlib
import json
from urllib.parse import parse_qs


def application(environ, start_response):
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    mode = qs.get("mode", ["read"])[0]
    n = int(qs.get("n", ["8192"])[0])
    inp = environ["wsgi.input"]
    h = hashlib.sha256()
    total = calls = 0
    res = {"mode": mode}

    def feed(data):
        nonlocal total
        assert isinstance(data, bytes), type(data)
        h.update(data)
        total += len(data)

    try:
        if mode == "read":
            feed(inp.read()); calls = 1
        elif mode == "read_neg":
            feed(inp.read(-1)); calls = 1
        elif mode == "readn":
            while True:
                d = inp.read(n); calls += 1
                assert len(d) <= n, (len(d), n)
                if not d:
                    break
                feed(d)
        elif mode == "read_cl":
            cl = int(environ.get("CONTENT_LENGTH") or 0)
            feed(inp.read(cl)); calls = 1
        elif mode == "readline":
            while True:
                line = inp.readline(); calls += 1
                if not line:
                    break
                res.setdefault("unterminated", 0)
                if not line.endswith(b"\n"):
                    res["unterminated"] += 1
                feed(line)
        elif mode == "readline_n":
            maxlen = 0
            while True:
                line = inp.readline(n); calls += 1
                if not line:
                    break
                maxlen = max(maxlen, len(line))
                feed(line)
            res["max_line"] = maxlen
        elif mode == "readlines":
            lines = inp.readlines(); calls = 1
            res["lines"] = len(lines)
            for l in lines:
                feed(l)
        elif mode == "readlines_hint":
            while True:
                lines = inp.readlines(n); calls += 1
                if not lines:
                    break
                for l in lines:
                    feed(l)
        elif mode == "iter":
            for line in inp:
                calls += 1
                feed(line)
            res["lines"] = calls
        elif mode == "read0":
            res["read0"] = inp.read(0).decode("latin-1")
            feed(inp.read())
        elif mode == "ignore":
            pass
        else:
            raise ValueError(mode)
        if mode != "ignore":
            res["after_eof"] = [inp.read().decode("latin-1"), inp.read(10).decode("latin-1"),
                                inp.readline().decode("latin-1")]
    except OSError as e:
        res["error"] = f"{type(e).__name__}: {e}"
        print(f"INPUT-ERROR {type(e).__name__}: {e}", file=environ["wsgi.errors"])
    res.update(sha256=h.hexdigest(), length=total, calls=calls,
               content_length=environ.get("CONTENT_LENGTH"),
               transfer_encoding=environ.get("HTTP_TRANSFER_ENCODING"))
    body = json.dumps(res).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
