"""A session counter whose state lives in a database every node reaches, not in the process.

Any node can serve any request of a session: the session id travels in a cookie and the data
in the shared store. Here the store is SQLite in a directory all nodes share (enough for nodes
on one machine, as in tests/test_scaling_out.py); across machines use a database server
(PostgreSQL, MySQL, Redis) the same way: one atomic statement per update, no state in memory.

Routes: /healthz (the balancer's health check), /node (which node and process answered, and for
whom; `?wait=S` takes S seconds, up to 5, standing in for a slow request),
anything else: the session counter (JSON: node, pid, sid, count).
Each node's Apache sets NODE_ID and SESSION_DB with SetEnv (see node.conf).
"""
import json
import os
import re
import secrets
import sqlite3
import time
from urllib.parse import parse_qs

SID_RE = re.compile(r"(?:^|;)\s*sid=([0-9a-f]{32})(?:;|$)")


def connect(path):
    # A new connection per request: cheap for SQLite, and nothing is shared between threads.
    # timeout: wait for another node's write lock instead of failing with "database is locked".
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    db.execute("CREATE TABLE IF NOT EXISTS sessions (sid TEXT PRIMARY KEY, count INTEGER NOT NULL)")
    return db


def bump(path, sid):
    """Add one to the session's counter and return the new value (one atomic statement)."""
    db = connect(path)
    try:
        rows = db.execute(
            "INSERT INTO sessions (sid, count) VALUES (?, 1) "
            "ON CONFLICT (sid) DO UPDATE SET count = count + 1 RETURNING count", (sid,)).fetchall()
        return rows[0][0]
    finally:
        db.close()


def application(environ, start_response):
    node = environ.get("NODE_ID", "?")
    path = environ.get("PATH_INFO", "")
    headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
    if path == "/healthz":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok\n"]
    body = {"node": node, "pid": os.getpid(), "client": environ.get("REMOTE_ADDR")}
    if path == "/node":
        wait = parse_qs(environ.get("QUERY_STRING", "")).get("wait", ["0"])[0]
        time.sleep(min(float(wait), 5.0) if wait.replace(".", "", 1).isdigit() else 0)
    else:
        m = SID_RE.search(environ.get("HTTP_COOKIE", ""))
        sid = m.group(1) if m else secrets.token_hex(16)
        if not m:
            headers.append(("Set-Cookie", f"sid={sid}; Path=/; HttpOnly; SameSite=Lax"))
        body.update(sid=sid, count=bump(environ["SESSION_DB"], sid))
    start_response("200 OK", headers)
    return [json.dumps(body).encode()]
