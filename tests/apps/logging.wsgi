"""Output to sys.stdout, sys.stderr and wsgi.errors; signal.signal(); ?m= is a unique marker."""
import json
import signal
import sys
from urllib.parse import parse_qs


def handler(signum, frame):
    pass


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    m = parse_qs(environ.get("QUERY_STRING", "")).get("m", ["none"])[0]
    err = environ["wsgi.errors"]
    res = {}
    if path == "/print":
        print(f"STDOUT-LINE {m}")
        print(f"STDERR-LINE {m}", file=sys.stderr)
        print(f"MULTI-A {m}\nMULTI-B {m}")
        sys.stdout.flush()
        sys.stderr.flush()
    elif path == "/errors":
        err.write(f"ERRORS-1 {m}\nERRORS-2 {m}\n")
        err.writelines([f"WRITELINES-1 {m}\n", f"WRITELINES-2 {m}\n"])
        print(f"PRINT-TO-ERRORS {m}", file=err)
        err.flush()
    elif path == "/partial":
        err.write(f"PARTIAL-LINE {m}")
    elif path == "/signal":
        try:
            signal.signal(signal.SIGUSR1, handler)
            res["result"] = "returned"
        except Exception as e:
            res["result"] = f"raised {type(e).__name__}"
        res["installed"] = signal.getsignal(signal.SIGUSR1) is handler
    elif path == "/stdout":
        for name in ("stdout", "stderr"):
            try:
                print(f"RESTRICT-PROBE-{name} {m}", file=getattr(sys, name))
                getattr(sys, name).flush()
                res[name] = "ok"
            except Exception as e:
                res[name] = f"raised {type(e).__name__}"
    body = json.dumps(res).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
