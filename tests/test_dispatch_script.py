"""WSGIDispatchScript: a script run in the Apache child (main interpreter) before each request;
its process_group(), application_group() and callable_object() return a name or None (keep the
configured one). Embedded or a daemon group ('' is embedded), a sub-interpreter, another callable;
an exception or a value that is not a str gives 500 and RWSGI0054; a group that does not exist,
RWSGI0118; with WSGIRestrictProcess the chosen group is checked (embedded mode only when the list
names %{GLOBAL}), RWSGI0119."""
import pytest

import os

from harness import configtest, rewrite, serve

pytestmark = pytest.mark.daemon

CONF = """
WSGIDaemonProcess dgrp threads=2
WSGIDaemonProcess dother threads=1
WSGIScriptAlias / @APPS@/dispatch_app.wsgi
WSGIDispatchScript @APPS@/dispatch.py
<Location /pinned>
    WSGIProcessGroup dgrp
</Location>
<Location /where>
    WSGIDispatchScript @APPS@/dispatch_where.py application-group=dsp
</Location>
<Location /where/main>
    WSGIDispatchScript @APPS@/dispatch_where.py
</Location>
<Location /re>
    WSGIDispatchScript @STATE@/dispatch_re.py
</Location>
<Location /restricted>
    WSGIRestrictProcess dgrp
</Location>
<Location /restricted/pinned>
    WSGIProcessGroup dother
</Location>
<Location /restricted/global>
    WSGIRestrictProcess dgrp %{GLOBAL}
</Location>
"""

srv = serve("dispatch-script", CONF)


def _get(a, path, headers=()):
    r = a.get(path, headers)
    assert r.status == 200, (path, r.status, r.body[:300])
    return r.json()


def test_none_keeps_configured(srv):
    j = _get(srv, "/x")
    assert j["callable"] == "application" and j["application_group"] == ""
    assert j["pid"] in srv.child_pids()
    j = _get(srv, "/pinned/x")
    assert j["process_group"] == "dgrp" and j["pid"] in srv.daemon_pids()


def test_process_group_chosen_per_request(srv):
    d = _get(srv, "/x?pg=dgrp")
    assert d["process_group"] == "dgrp" and d["pid"] in srv.daemon_pids()
    h = _get(srv, "/x", [("X-Group", "dgrp")])
    assert h["process_group"] == "dgrp" and h["pid"] == d["pid"]
    # '' overrides a configured daemon group: embedded.
    e = _get(srv, "/pinned/x?pg=")
    assert e["pid"] in srv.child_pids() and e["process_group"] == ""


def test_application_group_and_callable(srv):
    j = _get(srv, "/x?ag=side&call=alt")
    assert j["application_group"] == "side" and j["callable"] == "alt"
    assert j["pid"] in srv.child_pids()
    j = _get(srv, "/x?pg=dgrp&ag=side")
    assert j["process_group"] == "dgrp" and j["application_group"] == "side"
    assert _get(srv, "/x?ag=%25%7BGLOBAL%7D")["application_group"] == ""


@pytest.mark.parametrize("query,patterns", [
    ("raise=1", [r"RWSGI0054", r"process_group\(\)"]),
    ("bad=1", [r"RWSGI0054", r"application_group\(\).*'int'"]),
    ("pg=nosuch", [r"RWSGI0118", r"'nosuch'"]),
], ids=["raises", "not-a-str", "no-such-group"])
def test_failures_are_500(srv, query, patterns):
    mark = srv.log_mark()
    r = srv.get("/x?" + query)
    assert r.status == 500, (r.status, r.body[:300])
    srv.wait_line(*patterns, since=mark)
    if query == "raise=1":
        srv.wait_line(r"RWSGI0021", r"RuntimeError: dispatch boom", since=mark)
    assert _get(srv, "/x")["callable"] == "application"


def test_bad_option_fails_configtest():
    rc, out = configtest("WSGIDispatchScript /tmp/d.py process-group=x")
    assert rc != 0 and "WSGIDispatchScript" in out and "process-group=x" in out, out


def test_directory_context_and_reload_on_change(srv):
    """A <Location> has its own dispatch script, loaded at first use and again when it changes."""
    path = os.path.join(srv.state, "dispatch_re.py")
    srv.put(path, "def callable_object(environ):\n    return 'application'\n")
    mark = srv.log_mark()
    assert _get(srv, "/re/x?call=alt")["callable"] == "application"
    srv.wait_line("RWSGI0050", "dispatch script", r"dispatch_re\.py", since=mark)
    rewrite(path, "def callable_object(environ):\n    return 'alt'\n")
    assert _get(srv, "/re/x")["callable"] == "alt"


def test_dispatch_script_application_group(srv):
    """The script runs in the main interpreter, or in the group its application-group= names."""
    assert _get(srv, "/where/x")["application_group"] == "ran-in-dsp"
    assert _get(srv, "/where/main/x")["application_group"] == "ran-in-main"


@pytest.mark.parametrize("path,query,outcome", [
    ("/restricted/x", "pg=dgrp", "dgrp"),
    ("/restricted/x", "pg=dother", "dother"),
    # Nothing chosen, nothing configured: embedded, which the list does not allow.
    ("/restricted/x", "", "%{GLOBAL}"),
    ("/restricted/x", "pg=", "%{GLOBAL}"),
    # The dispatch script's choice is what is checked, not the configured group.
    ("/restricted/pinned/x", "", "dother"),
    ("/restricted/pinned/x", "pg=dgrp", "dgrp"),
    ("/restricted/global/x", "pg=", "embedded"),
    ("/restricted/global/x", "pg=dgrp", "dgrp"),
    ("/restricted/global/x", "pg=dother", "dother"),
], ids=["allowed", "refused", "embedded-default-refused", "embedded-chosen-refused",
        "configured-refused", "chosen-over-configured", "global-listed", "global-list-allowed",
        "global-list-refused"])
def test_dispatch_with_restrict_process(srv, path, query, outcome):
    """WSGIRestrictProcess applies to the group the dispatch script chose (or kept): an allowed
    group serves (200 from its process); another group, or embedded mode unless the list names
    %{GLOBAL} (as mod_wsgi), gets 500 and RWSGI0119 naming it."""
    allowed = {"/restricted/x": {"dgrp"}, "/restricted/pinned/x": {"dgrp"},
               "/restricted/global/x": {"dgrp", "embedded"}}[path]
    mark = srv.log_mark()
    r = srv.get(f"{path}?{query}")
    if outcome in allowed:
        assert r.status == 200, (r.status, r.body[:300])
        j = r.json()
        if outcome == "embedded":
            assert j["process_group"] == "" and j["pid"] in srv.child_pids()
        else:
            assert j["process_group"] == outcome and j["pid"] in srv.daemon_pids()
        assert "RWSGI0119" not in srv.log_since(mark)
    else:
        assert r.status == 500, (r.status, r.body[:300])
        if outcome == "%{GLOBAL}":
            srv.wait_line("RWSGI0119", r"Embedded mode \(process group %\{GLOBAL\}\)",
                          r"WSGIRestrictProcess dgrp\)", since=mark)
        else:
            srv.wait_line("RWSGI0119", f"'{outcome}' is not allowed here", since=mark)
