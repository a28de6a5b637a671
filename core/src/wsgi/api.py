# The per-interpreter half of the `mod_wsgi` module's event API, `LogHandler`, and the companion
# `apache` module. Run once per interpreter by core/src/wsgi/interp.rs (GIL held) as
# install(mod_wsgi_module, apache_facts) -> Hub; the Rust request path calls the Hub's
# _started/_publish/_finished/_stopping methods, and only for requests of an interpreter whose
# hub is `on` (see core/src/wsgi/events.rs for the cost contract).
import logging
import sys
import traceback
import types


class Hub:
    """Subscribers of one interpreter. `on` is True once a request-event subscriber exists or
    `active_requests` was looked at: only then are this interpreter's requests tracked."""

    def __init__(self, module):
        self.module = module
        # (callback, only) in registration order; only=None: every event.
        self.subscribers = []
        self.event_callbacks = []
        self.active = {}
        self.on = False
        self.stopped = False

    def _track(self):
        if not self.on:
            self.on = True
            self.module._enable_events()

    def subscribe(self, callback, only=None):
        if not callable(callback):
            raise TypeError("callback must be callable")
        self.subscribers.append((callback, only))
        self.event_callbacks.append(callback)
        self.module._want_stopping()
        if only is None:
            self._track()
        return callback

    def _publish(self, name, event):
        for callback, only in list(self.subscribers):
            if only is not None and only != name:
                continue
            try:
                result = callback(name, **event)
            except Exception:
                lines = traceback.format_exc().rstrip("\n").splitlines()
                self.module._host_log(0, "RWSGI0172", f"Exception in mod_wsgi event subscriber "
                                      f"{getattr(callback, '__qualname__', callback)!r} for event '{name}':")
                for line in lines:
                    self.module._host_log(0, "RWSGI0172", line)
                continue
            if isinstance(result, dict):
                event.update(result)
        return event

    def _started(self, event):
        rid = event.get("request_id")
        if rid is not None:
            self.active[rid] = event["request_data"]
        self._publish("request_started", event)
        return event["application_object"]

    def _finished(self, event):
        try:
            self._publish("request_finished", event)
        finally:
            rid = event.get("request_id")
            if rid is not None:
                self.active.pop(rid, None)

    def _stopping(self, reason):
        if self.stopped:
            return
        self.stopped = True
        self._publish("process_stopping", {"shutdown_reason": reason})


# Python levels -> the host's (0 error, 1 warning, 2 info, 3 debug); CRITICAL logs as error.
def _host_level(levelno):
    if levelno >= logging.ERROR:
        return 0
    if levelno >= logging.WARNING:
        return 1
    if levelno >= logging.INFO:
        return 2
    return 3


def install(module, apache_facts):
    hub = Hub(module)

    def subscribe_events(callback):
        """Register callback(name, **event) for every event; returns callback."""
        return hub.subscribe(callback)

    def subscribe_shutdown(callback):
        """Register callback(name, **event) for process_stopping only; returns callback."""
        return hub.subscribe(callback, "process_stopping")

    def __getattr__(name):
        # PEP 562: first look at `active_requests` turns tracking on for this interpreter.
        if name == "active_requests":
            hub._track()
            module.active_requests = hub.active
            return hub.active
        raise AttributeError(f"module 'mod_wsgi' has no attribute '{name}'")

    class LogHandler(logging.Handler):
        """A logging.Handler writing each record to Apache's error log at the record's level
        (through the current request when there is one)."""

        def emit(self, record):
            try:
                msg = self.format(record)
                module._log_record(_host_level(record.levelno), msg)
            except Exception:
                self.handleError(record)

    LogHandler.__module__ = "mod_wsgi"
    module.subscribe_events = subscribe_events
    module.subscribe_shutdown = subscribe_shutdown
    module.event_callbacks = hub.event_callbacks
    module.__getattr__ = __getattr__
    module.LogHandler = LogHandler

    apache = types.ModuleType("apache", "Facts about the Apache server hosting this interpreter.")
    for key, value in apache_facts.items():
        setattr(apache, key, value)
    sys.modules["apache"] = apache
    return hub
