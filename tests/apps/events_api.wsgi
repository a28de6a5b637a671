# The mod_wsgi Python API under test (tests/test_modwsgi_api.py): event subscribers that
# record every event they see, one JSON line per event, in STATE/ev-<tag>.log (files, so
# several processes - prefork children, daemon processes - all report), request_data(),
# active_requests, the metrics, LogHandler and the `apache` module.
import json
import logging
import os
import sys

import mod_wsgi

STATE = os.environ.get("EV_STATE") or os.path.join(os.path.dirname(os.path.dirname(__file__)), "state")
GROUP = mod_wsgi.application_group


def record(tag, entry):
    entry["pid"] = os.getpid()
    entry["group_at_callback"] = mod_wsgi.application_group
    with open(os.path.join(STATE, f"ev-{tag}.log"), "a") as f:
        f.write(json.dumps(entry, default=repr) + "\n")


def tag_of(environ):
    q = environ.get("QUERY_STRING", "")
    return q.split("tag=", 1)[1].split("&", 1)[0] if "tag=" in q else None


@mod_wsgi.subscribe_events
def on_event(name, **event):
    if name == "process_stopping":
        record(f"stop-{os.getpid()}-{GROUP or 'GLOBAL'}", {"event": name, "reason": event["shutdown_reason"]})
        return
    data = event.get("request_data")
    tag = data.get("tag") if data is not None else None
    if name == "request_started":
        tag = tag_of(event["request_environ"])
        if tag is None:
            return
        data["tag"] = tag
        data["set_by_subscriber"] = "started"
        event["request_environ"]["ev.seen"] = "yes"
        record(tag, {"event": name, "keys": sorted(event), "request_id": event.get("request_id"),
                     "thread_id": event.get("thread_id"), "callable_object": event.get("callable_object")})
        if "wrap" in event["request_environ"].get("QUERY_STRING", ""):
            app = event["application_object"]

            def wrapped(environ, start_response):
                environ["ev.wrapped"] = "yes"
                return app(environ, start_response)
            return {"application_object": wrapped}
        return None
    if tag is None:
        return
    entry = {"event": name, "keys": sorted(event)}
    if name == "response_started":
        entry["status"] = event["response_status"]
    elif name == "request_finished":
        for k in ("status", "application_time", "cpu_time", "cpu_user_time", "input_length",
                  "input_reads", "output_length", "output_writes", "application_start",
                  "application_finish", "request_start", "request_id"):
            entry[k] = event.get(k)
        entry["data"] = dict(data)
    elif name == "request_exception":
        exc = event["exception_info"]
        entry["exception"] = f"{exc[0].__name__}: {exc[1]}"
    record(tag, entry)


def on_shutdown(name, **event):
    record(f"shutdown-{os.getpid()}-{GROUP or 'GLOBAL'}", {"event": name, "reason": event.get("shutdown_reason")})


mod_wsgi.subscribe_shutdown(on_shutdown)
mod_wsgi.start_recording_metrics()

log = logging.getLogger("events_api")
log.propagate = False
handler = mod_wsgi.LogHandler()
handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
log.addHandler(handler)
log.setLevel(logging.DEBUG)


def application(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path == "/boom":
        raise ValueError("boom for the events test")
    if path == "/metrics":
        body = {"request": mod_wsgi.request_metrics(), "process": mod_wsgi.process_metrics()}
    elif path == "/server":
        body = {"server": mod_wsgi.server_metrics()}
    elif path == "/apache":
        import apache
        body = {k: getattr(apache, k) for k in ("version", "description", "mpm_name", "build_date",
                                                "maximum_processes", "threads_per_process")}
        log.warning("warning from LogHandler tag=%s", tag_of(environ))
        log.info("info from LogHandler")
    else:
        data = mod_wsgi.request_data()
        data["app"] = "touched"
        rid = environ.get("mod_wsgi.request_id")
        active = mod_wsgi.active_requests
        size = int(environ.get("CONTENT_LENGTH") or 0)
        got = environ["wsgi.input"].read(size) if size else b""
        body = {"data": dict(data), "in_active": rid in active and active[rid] is data,
                "seen": environ.get("ev.seen"), "wrapped": environ.get("ev.wrapped"),
                "group": mod_wsgi.application_group, "read": len(got), "pid": os.getpid()}
    out = json.dumps(body, default=repr).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]
