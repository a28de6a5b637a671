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
    WSGITrustedProxies 10.0.0.5 192.168.0.0/16 2001:db8::/32 fd00::1 172.16 10.0.0.0/255.0.0.0
    WSGITrustedProxyHeaders X-Forwarded-For X-Forwarded-Proto x-forwarded-host X-Forwarded-Port
    WSGIErrorOverride On
    WSGIPassApacheRequest Off
    WSGIIgnoreActivity On
    WSGIHandlerScript h-inner @APPS@/environ.wsgi
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
WSGITrustedProxies 127.0.0.1 ::1
WSGITrustedProxyHeaders X-Real-IP X-Forwarded-SSL X-Forwarded-Server X-Script-Name
WSGIErrorOverride Off
WSGIPassApacheRequest Off
WSGIIgnoreActivity Off
WSGIAcceptMutex default
WSGILazyInitialization On
WSGIDaemonProcess hsg
WSGIHandlerScript h-server @APPS@/environ.wsgi process-group=hsg application-group=%{{GLOBAL}} pass-authorization=On
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
<Location /auth>
    WSGIAccessScript /tmp/access.py
    WSGIAuthUserScript /tmp/auth.py application-group=authgrp
    WSGIAuthGroupScript "/tmp/auth.py" application-group=%{{GLOBAL}}
    WSGIGroupAuthoritative Off
</Location>
<Directory "/tmp">
    WSGIAuthUserScript /tmp/auth.py application-group=%{{SERVER}}
</Directory>
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
    ("proxies-no-arg", "WSGITrustedProxies", ["WSGITrustedProxies"]),
    ("proxies-hostname", "WSGITrustedProxies proxy.example.com", ["WSGITrustedProxies", "proxy.example.com"]),
    ("proxies-bad-cidr-bits", "WSGITrustedProxies 10.0.0.0/33", ["WSGITrustedProxies", "10.0.0.0/33", "1 to 32"]),
    ("proxies-bad-v6-bits", "<Location /x>\nWSGITrustedProxies 2001:db8::/129\n</Location>",
     ["WSGITrustedProxies", "2001:db8::/129", "1 to 128"]),
    ("proxies-zero-bits", "WSGITrustedProxies 0.0.0.0/0", ["WSGITrustedProxies", "0.0.0.0/0"]),
    ("proxies-bad-mask", "WSGITrustedProxies 10.0.0.0/255.0.x.0", ["WSGITrustedProxies", "netmask"]),
    ("proxies-bad-octet", "WSGITrustedProxies 10.0.0.256", ["WSGITrustedProxies", "10.0.0.256"]),
    ("proxies-second-bad", "WSGITrustedProxies 10.0.0.1 10.0.0.0/8/8", ["WSGITrustedProxies", "10.0.0.0/8/8"]),
    ("proxy-headers-no-arg", "WSGITrustedProxyHeaders", ["WSGITrustedProxyHeaders"]),
    ("proxy-headers-unknown", "WSGITrustedProxyHeaders X-Forwarded-For X-Forwarded-Bogus",
     ["WSGITrustedProxyHeaders", "X-Forwarded-Bogus", "X-Forwarded-Proto"]),
    ("proxy-headers-cgi-name", '<Directory "/tmp">\nWSGITrustedProxyHeaders HTTP_X_FORWARDED_FOR\n</Directory>',
     ["WSGITrustedProxyHeaders", "HTTP_X_FORWARDED_FOR"]),
    # Auth scripts: directory context and .htaccess (AuthConfig) only, as mod_wsgi.
    ("access-script-server-level", "WSGIAccessScript /tmp/a.py", ["WSGIAccessScript"]),
    ("auth-user-script-in-vhost", "<VirtualHost 127.0.0.1:@PORT@>\nWSGIAuthUserScript /tmp/a.py\n"
     "</VirtualHost>", ["WSGIAuthUserScript"]),
    ("access-script-no-path", "<Location /x>\nWSGIAccessScript\n</Location>", ["WSGIAccessScript"]),
    ("auth-user-script-bad-option", "<Location /x>\nWSGIAuthUserScript /tmp/a.py process-group=x\n"
     "</Location>", ["WSGIAuthUserScript", "process-group=x"]),
    ("auth-group-script-relative", "<Location /x>\nWSGIAuthGroupScript auth.py\n</Location>",
     ["WSGIAuthGroupScript", "absolute"]),
    ("auth-script-bad-group-form", "<Location /x>\nWSGIAuthUserScript /tmp/a.py "
     "application-group=%{FOO}\n</Location>", ["WSGIAuthUserScript", "%{FOO}"]),
    ("auth-script-empty-group", "<Location /x>\nWSGIAccessScript /tmp/a.py application-group=\n"
     "</Location>", ["WSGIAccessScript", "application-group"]),
    ("group-authoritative-value", "<Location /x>\nWSGIGroupAuthoritative maybe\n</Location>",
     ["WSGIGroupAuthoritative"]),
    ("handler-script-one-arg", "WSGIHandlerScript h", ["WSGIHandlerScript", "script path"]),
    ("handler-script-empty-name", 'WSGIHandlerScript "" /tmp/h.wsgi', ["WSGIHandlerScript", "handler name"]),
    ("handler-script-relative", "WSGIHandlerScript h h.wsgi", ["WSGIHandlerScript", "absolute"]),
    ("handler-script-unknown-option", "WSGIHandlerScript h /tmp/h.wsgi colour=blue",
     ["WSGIHandlerScript", "colour"]),
    ("handler-script-callable-option", "WSGIHandlerScript h /tmp/h.wsgi callable-object=app",
     ["WSGIHandlerScript", "callable-object", "handle_request"]),
    ("handler-script-bare-option", "WSGIHandlerScript h /tmp/h.wsgi On",
     ["WSGIHandlerScript", "'On'"]),
    ("handler-script-pass-auth-value", "WSGIHandlerScript h /tmp/h.wsgi pass-authorization=maybe",
     ["WSGIHandlerScript", "pass-authorization"]),
    ("handler-script-undefined-group", "WSGIHandlerScript h /tmp/h.wsgi process-group=nogroup",
     ["nogroup", "WSGIDaemonProcess"]),
    ("handler-script-bad-app-group", "WSGIHandlerScript h /tmp/h.wsgi application-group=%{FOO}",
     ["WSGIHandlerScript", "%{FOO}"]),
    ("handler-script-no-args", "<Location /x>\nWSGIHandlerScript\n</Location>",
     ["WSGIHandlerScript", "handler name"]),
    ("error-override-value", "WSGIErrorOverride maybe", ["WSGIErrorOverride"]),
    ("pass-apache-request-value", "WSGIPassApacheRequest 1", ["WSGIPassApacheRequest"]),
    ("ignore-activity-value", "WSGIIgnoreActivity yes", ["WSGIIgnoreActivity"]),
    ("accept-mutex-unknown", "WSGIAcceptMutex spinlock",
     ["WSGIAcceptMutex", "spinlock", "posixsem", "no effect"]),
    ("accept-mutex-in-vhost", "<VirtualHost 127.0.0.1:@PORT@>\nWSGIAcceptMutex flock\n</VirtualHost>",
     ["WSGIAcceptMutex"]),
    ("accept-mutex-in-directory", '<Directory "/tmp">\nWSGIAcceptMutex flock\n</Directory>',
     ["WSGIAcceptMutex"]),
    ("lazy-init-value", "WSGILazyInitialization perhaps", ["WSGILazyInitialization"]),
    ("lazy-init-in-vhost", "<VirtualHost 127.0.0.1:@PORT@>\nWSGILazyInitialization On\n</VirtualHost>",
     ["WSGILazyInitialization"]),
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


@pytest.mark.parametrize("value", ["On", "Off"])
def test_free_threading_needs_a_free_threaded_python(value):
    rc, out = configtest(f"WSGIFreeThreading {value}")
    assert rc != 0, out
    assert "WSGIFreeThreading" in out and "free-threaded" in out and "3.13t" in out, out
    assert re.search(r"line \d+ of \S*httpd\.conf", out), out


@pytest.mark.parametrize("mechanism", ["default", "Default", "flock", "fcntl", "sysvsem",
                                       "posixsem", "pthread"])
def test_accept_mutex_mechanisms_accepted(mechanism):
    """Every mechanism mod_wsgi accepts on Linux passes (and has no effect, see README)."""
    rc, out = configtest(f"WSGIAcceptMutex {mechanism}")
    assert rc == 0, out


@pytest.mark.parametrize("snippet", [
    "WSGILazyInitialization Off",
    '<Directory "/tmp">\nWSGIHandlerScript h /tmp/h.wsgi\nWSGIPassApacheRequest On\n</Directory>',
    "<Location /x>\nWSGIErrorOverride On\nWSGIIgnoreActivity On\n</Location>",
])
def test_handler_and_response_directives_accepted(snippet):
    rc, out = configtest(snippet)
    assert rc == 0, out


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
