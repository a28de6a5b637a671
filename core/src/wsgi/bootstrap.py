# Run once when the interpreter starts, on the process's main thread, with the GIL held.
# Called by core/src/wsgi/interp.rs as bootstrap(log, stdout, stderr, python_path, opts);
# `log(level, code, message)` writes one error-log line (levels: 0 error, 1 warning, 2 info,
# 3 debug); `opts` holds restrict_stdout, restrict_stdin, restrict_signal, warnings (list of -W
# specs) and switch_interval (float or None).
import signal
import site
import sys
import threading  # noqa: F401  (imported on the main thread so threading's main thread is real)
import traceback
import warnings


class RestrictedStdout:
    """sys.stdout under WSGIRestrictStdout On: any output is an error (CGI portability guard)."""

    def _refuse(self, *args, **kwargs):
        raise OSError("sys.stdout access restricted by mod_wsgi_rs (WSGIRestrictStdout On)")

    write = writelines = _refuse

    def flush(self):
        pass

    def isatty(self):
        return False


class RestrictedStdin:
    """sys.stdin under WSGIRestrictStdin On: reading is an error (request data comes from
    wsgi.input)."""

    def _refuse(self, *args, **kwargs):
        raise OSError("sys.stdin access restricted by mod_wsgi_rs (WSGIRestrictStdin On)")

    read = readline = readlines = __iter__ = _refuse

    def isatty(self):
        return False


class RequestTimeout(BaseException):
    """Injected into a request thread that exceeded request-timeout (daemon option
    interrupt-timeout). Derives from BaseException so `except Exception` does not swallow it;
    catch it only to clean up, then re-raise."""


RequestTimeout.__module__ = "mod_wsgi"


def bootstrap(log, stdout, stderr, python_path, opts):
    # One class per interpreter: the host matches the one of the interpreter a request runs in.
    sys.modules["mod_wsgi"].RequestTimeout = RequestTimeout
    restrict_stdout = opts["restrict_stdout"]
    restrict_signal = opts["restrict_signal"]
    if opts["restrict_stdin"]:
        sys.stdin = sys.__stdin__ = RestrictedStdin()
    for spec in opts["warnings"]:
        try:
            sys.warnoptions.append(spec)
            warnings._setoption(spec)
        except Exception as e:
            log(0, "RWSGI0004", f"Invalid WSGIPythonWarnings entry '{spec}': {e}")
    if opts["switch_interval"] is not None:
        sys.setswitchinterval(opts["switch_interval"])
    sys.stdout = RestrictedStdout() if restrict_stdout else stdout
    sys.stderr = stderr
    sys.__stdout__ = sys.stdout
    sys.__stderr__ = stderr
    for entry in python_path:
        try:
            site.addsitedir(entry)
        except Exception as e:  # one bad entry must not stop the others
            log(0, "RWSGI0003", f"Cannot add '{entry}' to sys.path (WSGIPythonPath): {e!r}")
    if restrict_signal:
        def restricted_signal(signalnum, handler):
            log(1, "RWSGI0032", f"Callback registration for signal {int(signalnum)} ignored "
                                "(WSGIRestrictSignal On); stack follows.")
            for line in "".join(traceback.format_stack()[:-1]).splitlines():
                log(1, "RWSGI0032", line)
            return signal.getsignal(signalnum)
        signal.signal = restricted_signal
