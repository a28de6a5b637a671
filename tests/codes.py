"""The module's stable log codes, in one place (they match core/src/codes.rs and the README's
error reference). A value of None would mean "any RWSGI code"; every event here is pinned.

WSGI_RS_CODE_PREFIX (checking the tests against the original mod_wsgi) makes every pinned code
match any code of that prefix."""
import os
import re

# The prefix is overridable only to check the tests themselves against the original mod_wsgi.
ANY = r"(?<![A-Z])" + os.environ.get("WSGI_RS_CODE_PREFIX", "RWSGI") + r"\d{4}"

CODES = {
    "script_not_found": "RWSGI0010",         # missing WSGI script file -> 404
    "directory_as_script": "RWSGI0011",      # request resolves to a directory -> 403
    "exec_cgi_off": "RWSGI0012",             # wsgi-script handler without Options ExecCGI -> 403
    "path_info_refused": "RWSGI0013",        # extra path info under AcceptPathInfo Off -> 404
    "chunked_refused": "RWSGI0014",          # chunked request body, WSGIChunkedRequest Off -> 411
    "script_loaded": "RWSGI0050",            # a script was imported (first use or changed on disk)
    "script_load_failed": "RWSGI0020",       # syntax error / exception while importing the script -> 500
    "no_callable": "RWSGI0022",              # script has no such callable -> 500
    "app_exception": "RWSGI0023",            # exception before the response head was sent -> 500
    "exception_after_headers": "RWSGI0024",  # exception after the head was sent -> connection cut
    "client_gone": "RWSGI0041",              # the client left while the response was sent (info)
    "close_exception": "RWSGI0026",          # exception raised by the iterable's close()
    "bad_response": "RWSGI0023",             # non-bytes body item, None returned, no start_response
    "signal_ignored": "RWSGI0032",           # signal.signal() ignored under WSGIRestrictSignal On
    "python_start_failed": "RWSGI0002",      # Python cannot start in an Apache child
    "bad_warnings_entry": "RWSGI0004",       # a WSGIPythonWarnings entry Python rejects
    "python_unavailable": "RWSGI0015",       # a request where Python could not start -> 500
    "daemon_cannot_start": "RWSGI0101",      # a daemon process cannot start
    "daemon_python_failed": "RWSGI0102",     # Python cannot start in a daemon process
    "body_read_failed": "RWSGI0117",         # the client's body broke off while proxied to a daemon
    "spawner_died": "RWSGI0109",
    "locale_missing": "RWSGI0126",           # a daemon group's locale= is not installed
    "thread_start_failed": "RWSGI0105",      # a daemon worker thread could not be created             # the daemon spawner died (a new one is started)
    "socket_create_failed": "RWSGI0120",     # a daemon group's socket cannot be created
    "socket_timeout": "RWSGI0116",           # socket-timeout waiting for the daemon -> 504
    "stderr_line": "RWSGI0030",              # a line written to sys.stderr or wsgi.errors
    "stdout_line": "RWSGI0031",              # a line written to sys.stdout
    "traceback_line": "RWSGI0021",           # one line of a Python traceback
    "subinterp_refused": "RWSGI0025",        # ImportError: an extension refuses sub-interpreters
    "group_created": "RWSGI0052",            # the sub-interpreter of an application group was made
    "log_handler": "RWSGI0170",              # a record logged through mod_wsgi.LogHandler
    "subscriber_raised": "RWSGI0172",        # a subscribe_events/subscribe_shutdown callback raised
}


def code(name):
    """Regex for the code of event `name`."""
    c = CODES[name]
    if not c or "WSGI_RS_CODE_PREFIX" in os.environ:
        return ANY
    return re.escape(c)
