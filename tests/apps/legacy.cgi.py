#!/usr/bin/env python3
# A legacy CGI script (WSGICGIScript On): environment variables, stdin, headers on stdout.
# The query string picks what it does (test_cgi_scripts.py).
import os
import sys

query = os.environ.get("QUERY_STRING", "")
body = ""
if os.environ.get("REQUEST_METHOD") == "POST":
    body = sys.stdin.read(int(os.environ.get("CONTENT_LENGTH") or 0))
# A variable the script sets itself: gone for the next request.
os.environ["CGI_LEAK"] = "set by a request"

if query == "mode=404":
    print("Status: 404 Not Found")
    print("Content-Type: text/plain")
    print()
    print("no such thing")
elif query == "mode=redirect":
    print("Location: /elsewhere")
    print()
elif query == "mode=exit":
    print("Content-Type: text/plain")
    print()
    print("before exit")
    sys.stdout.flush()
    sys.exit(0)
    print("after exit")
elif query == "mode=raise":
    print("Content-Type: text/plain")
    print()
    raise ValueError("legacy script failure marker")
elif query == "mode=noheaders":
    print("just some text without any header block")
elif query == "mode=binary":
    sys.stdout.write("Content-Type: application/octet-stream\r\n\r\n")
    sys.stdout.flush()
    sys.stdout.buffer.write(bytes(range(256)))
else:
    print("Content-Type: text/plain; charset=utf-8")
    print("X-Legacy: yes")
    print()
    print(f"pid={os.getpid()}")
    print(f"name={__name__}")
    print(f"method={os.environ.get('REQUEST_METHOD')}")
    print(f"query={query}")
    print(f"x-test={os.environ.get('HTTP_X_TEST')}")
    print(f"gateway={os.environ.get('GATEWAY_INTERFACE')}")
    print(f"body={body}")
