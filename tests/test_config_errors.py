"""`apache2 -t` (apachectl configtest): every directive in its mod_wsgi context passes; a directive
in the wrong context, with a bad value or an unknown option fails with a message naming it;
every application-group form is accepted and an unknown %{...} form fails clearly, and so does
a process group no WSGIDaemonProcess defines."""
import re

import pytest

from harness import configtest

pytestmark = [
    pytest.mark.embedded_only,  # configtest only: nothing to run in daemon mode
    pytest.mark.event_only(reason="configtest only, the same under every MPM"),
]

PER_DIR = """
    WSGIApplicationGroup %{GLOBAL}
    WSGICallableObject alt
    WSGIPassAuthorization On
    WSGIScriptReloading Off
    WSGIChunkedRequest On
    WSGIMapHEADToGET Off
    WSGICGIScript Off
"""

VALID = f"""
WSGIPythonHome "@VENV@"
WSGIPythonPath "@APPS@/pylib1:@APPS@/pylib2"
WSGIPythonOptimize 2
WSGIRestrictStdout Off
WSGIRestrictSignal On
WSGIServerMetrics On
WSGIApplicationGroup %{{GLOBAL}}
WSGICallableObject application
WSGIPassAuthorization Off
WSGIScriptReloading On
WSGIChunkedRequest Off
WSGIMapHEADToGET Auto
WSGICGIScript Off
WSGIScriptAlias /a @APPS@/environ.wsgi application-group=%{{GLOBAL}} callable-object=other pass-authorization=On
WSGIScriptAlias /dir/ @APPS@/
WSGIScriptAliasMatch ^/m/([a-z]+) @APPS@/match/$1.wsgi application-group=%{{GLOBAL}} callable-object=alt pass-authorization=Off
<VirtualHost 127.0.0.1:@PORT@>
    ServerName v.test
    WSGIScriptAlias /v @APPS@/environ.wsgi
    WSGIScriptAliasMatch ^/vm/(.*) @APPS@/$1
    WSGIMapHEADToGET On
{PER_DIR}
</VirtualHost>
<Directory "@APPS@">
    Options +ExecCGI
    AddHandler wsgi-script .wsgi
{PER_DIR}
</Directory>
<Location /l>
{PER_DIR}
</Location>
<Files "x.wsgi">
    SetHandler wsgi-script
</Files>
"""


def test_valid_configuration_passes():
    rc, out = configtest(VALID)
    assert rc == 0, out
    assert "Syntax OK" in out


BAD = [
    # (id, snippet, words the message must contain)
    ("alias-in-directory", '<Directory "/tmp">\nWSGIScriptAlias /x /tmp/x.wsgi\n</Directory>',
     ["WSGIScriptAlias"]),
    ("alias-in-location", "<Location /x>\nWSGIScriptAlias /x /tmp/x.wsgi\n</Location>",
     ["WSGIScriptAlias"]),
    ("aliasmatch-in-location", "<Location /x>\nWSGIScriptAliasMatch ^/x /tmp/x.wsgi\n</Location>",
     ["WSGIScriptAliasMatch"]),
    ("home-in-vhost", "<VirtualHost 127.0.0.1:@PORT@>\nWSGIPythonHome /usr\n</VirtualHost>",
     ["WSGIPythonHome"]),
    ("home-in-directory", '<Directory "/tmp">\nWSGIPythonHome /usr\n</Directory>',
     ["WSGIPythonHome"]),
    ("path-in-directory", '<Directory "/tmp">\nWSGIPythonPath /tmp\n</Directory>',
     ["WSGIPythonPath"]),
    ("optimize-in-vhost", "<VirtualHost 127.0.0.1:@PORT@>\nWSGIPythonOptimize 1\n</VirtualHost>",
     ["WSGIPythonOptimize"]),
    ("stdout-in-vhost", "<VirtualHost 127.0.0.1:@PORT@>\nWSGIRestrictStdout On\n</VirtualHost>",
     ["WSGIRestrictStdout"]),
    ("signal-in-directory", '<Directory "/tmp">\nWSGIRestrictSignal Off\n</Directory>',
     ["WSGIRestrictSignal"]),
    ("optimize-3", "WSGIPythonOptimize 3", ["WSGIPythonOptimize"]),
    ("optimize-word", "WSGIPythonOptimize lots", ["WSGIPythonOptimize"]),
    ("optimize-negative", "WSGIPythonOptimize -1", ["WSGIPythonOptimize"]),
    ("pass-auth-value", "WSGIPassAuthorization maybe", ["WSGIPassAuthorization"]),
    ("reloading-value", "WSGIScriptReloading yes", ["WSGIScriptReloading"]),
    ("chunked-value", "WSGIChunkedRequest 1", ["WSGIChunkedRequest"]),
    ("cgi-script-value", "WSGICGIScript sometimes", ["WSGICGIScript"]),
    ("head-value", "WSGIMapHEADToGET Sometimes", ["WSGIMapHEADToGET"]),
    ("stdout-value", "WSGIRestrictStdout sure", ["WSGIRestrictStdout"]),
    ("signal-value", "WSGIRestrictSignal nah", ["WSGIRestrictSignal"]),
    ("callable-no-arg", "WSGICallableObject", ["WSGICallableObject"]),
    ("callable-two-args", "WSGICallableObject a b", ["WSGICallableObject"]),
    ("home-no-arg", "WSGIPythonHome", ["WSGIPythonHome"]),
    ("alias-one-arg", "WSGIScriptAlias /x", ["WSGIScriptAlias"]),
    ("aliasmatch-bad-regex", 'WSGIScriptAliasMatch "^/(x" /tmp/x.wsgi', ["WSGIScriptAliasMatch"]),
    ("alias-unknown-option", "WSGIScriptAlias /x /tmp/x.wsgi frobnicate=1",
     ["WSGIScriptAlias", "frobnicate"]),
    ("alias-option-without-value", "WSGIScriptAlias /x /tmp/x.wsgi frobnicate",
     ["WSGIScriptAlias", "frobnicate"]),
    ("aliasmatch-unknown-option", "WSGIScriptAliasMatch ^/x /tmp/x.wsgi colour=blue",
     ["WSGIScriptAliasMatch", "colour"]),
    ("alias-pass-auth-value", "WSGIScriptAlias /x /tmp/x.wsgi pass-authorization=maybe",
     ["WSGIScriptAlias", "pass-authorization"]),
    ("server-metrics-in-vhost", "<VirtualHost 127.0.0.1:@PORT@>\nWSGIServerMetrics On\n</VirtualHost>",
     ["WSGIServerMetrics"]),
    ("server-metrics-value", "WSGIServerMetrics perhaps", ["WSGIServerMetrics"]),
    ("telemetry-service", "WSGITelemetryService unix:/tmp/t.sock", ["WSGITelemetryService", "wsgi-status",
                                                                   "subscribe_events"]),
    ("telemetry-options", "WSGITelemetryOptions +All", ["WSGITelemetryOptions", "wsgi-status"]),
    ("slow-requests", "WSGISlowRequests 5", ["WSGISlowRequests", "wsgi-status"]),
]


@pytest.mark.parametrize("snippet,words", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_directive_fails_configtest(snippet, words):
    rc, out = configtest(snippet)
    assert rc != 0, f"configtest accepted:\n{snippet}\n{out}"
    assert "Syntax OK" not in out
    for w in words:
        assert w in out, f"message does not name {w!r}:\n{out}"


@pytest.mark.parametrize("snippet", [
    "WSGIApplicationGroup mygroup",
    "WSGIApplicationGroup %{RESOURCE}",
    "<Location /x>\nWSGIApplicationGroup %{SERVER}\n</Location>",
    "<Directory /tmp>\nWSGIApplicationGroup %{HOST}\n</Directory>",
    "WSGIApplicationGroup %{ENV:AG}",
    "WSGIScriptAlias /x /tmp/x.wsgi application-group=mygroup",
    "WSGIScriptAlias /x /tmp/x.wsgi application-group=%{RESOURCE}",
])
def test_application_group_forms_accepted(snippet):
    rc, out = configtest(snippet)
    assert rc == 0, out


@pytest.mark.parametrize("snippet,word", [
    ("WSGIApplicationGroup %{FOO}", "WSGIApplicationGroup"),
    ("WSGIScriptAlias /x /tmp/x.wsgi application-group=%{ENV:}", "WSGIScriptAlias"),
])
def test_unknown_application_group_form_fails(snippet, word):
    rc, out = configtest(snippet)
    assert rc != 0, out
    assert word in out and re.search(r"application group '%\{", out), out
    assert re.search(r"line \d+ of \S*httpd\.conf", out), out


def test_import_script_needs_a_literal_application_group():
    """WSGIImportScript preloads into one interpreter before any request: a per-request form
    such as %{RESOURCE} cannot name it."""
    rc, out = configtest("WSGIDaemonProcess pre\n"
                         "WSGIImportScript /tmp/x.wsgi process-group=pre application-group=%{RESOURCE}")
    assert rc != 0, out
    assert "WSGIImportScript" in out and "application-group=" in out and "%{GLOBAL}" in out, out


def test_per_interpreter_gil_needs_python_312():
    rc, out = configtest("WSGIPerInterpreterGIL On")
    assert rc != 0, out
    assert "WSGIPerInterpreterGIL" in out and "Python 3.12" in out, out


def test_undefined_process_group_fails_configtest():
    """process-group= naming no WSGIDaemonProcess fails configtest with the file and line."""
    rc, out = configtest("WSGIScriptAlias /pg @APPS@/environ.wsgi process-group=mygroup")
    assert rc != 0, out
    assert "mygroup" in out and re.search(r"(?i)no WSGIDaemonProcess group", out), out
    assert re.search(r"httpd\.conf:\d+", out), out


@pytest.mark.parametrize("snippet", [
    "WSGIProcessGroup mygroup",
    "<Location /x>\nWSGIProcessGroup mygroup\n</Location>",
])
def test_undefined_group_in_process_group_directive(snippet):
    rc, out = configtest(snippet)
    assert rc != 0, out
    assert "WSGIProcessGroup" in out and "mygroup" in out, out


def test_defined_group_passes_configtest():
    rc, out = configtest("WSGIDaemonProcess mygroup threads=5\nWSGIProcessGroup mygroup\n"
                         "WSGIScriptAlias /x @APPS@/environ.wsgi")
    assert rc == 0, out
