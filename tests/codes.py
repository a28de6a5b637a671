"""The module's stable log codes, in one place.

A value of None means "any RWSGI code" until the code for that event is pinned; put the exact code
(e.g. "RWSGI0135") here once it is fixed and the tests will require it."""
import os
import re

# The prefix is overridable only to check the tests themselves against the original mod_wsgi.
ANY = r"(?<![A-Z])" + os.environ.get("WSGI_RS_CODE_PREFIX", "RWSGI") + r"\d{4}"

CODES = {
    "script_not_found": None,         # missing WSGI script file -> 404
    "directory_as_script": None,      # request resolves to a directory -> 403
    "exec_cgi_off": None,             # wsgi-script handler without Options ExecCGI -> 403
    "chunked_refused": None,          # chunked request body, WSGIChunkedRequest Off -> 411
    "script_load_failed": None,       # syntax error / exception while importing the script -> 500
    "no_callable": None,              # script has no such callable -> 500
    "app_exception": None,            # exception before the response head was sent -> 500
    "exception_after_headers": None,  # exception after the head was sent -> connection cut
    "close_exception": None,          # exception raised by the iterable's close()
    "bad_response": None,             # non-bytes body item, None returned, no start_response
    "signal_ignored": None,           # signal.signal() ignored under WSGIRestrictSignal On
}


def code(name):
    """Regex for the code of event `name`."""
    c = CODES[name]
    return re.escape(c) if c else ANY
