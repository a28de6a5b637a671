"""Server-wide interpreter directives mod_wsgi configurations use (WSGIPythonHashSeed,
WSGIDontWriteBytecode, WSGIPythonWarnings, WSGISwitchInterval, WSGIPythonEggs,
WSGIRestrictStdin), the accepted compatibility flags, and the clear error for mod_wsgi
directives that are not implemented."""
import re
import subprocess

import pytest

from harness import configtest, serve

CONF = """
WSGIPythonHashSeed 123
WSGIDontWriteBytecode On
WSGIPythonWarnings ignore::DeprecationWarning
WSGISwitchInterval 0.02
WSGIPythonEggs /tmp/wsgi-rs-eggs
WSGIRestrictStdin On
WSGISocketRotation Off
WSGICaseSensitivity On
WSGIVerboseDebugging Off
WSGIDestroyInterpreter On
WSGIScriptAlias /s @APPS@/pysettings.wsgi
"""

srv = serve("pysettings", CONF)


def test_interpreter_settings_applied(srv):
    j = srv.get("/s").json()
    expected_hash = int(subprocess.run(
        ["/usr/bin/python3", "-c", "print(hash('abc'))"], env={"PYTHONHASHSEED": "123"},
        capture_output=True, text=True, check=True).stdout)
    assert j["hash_abc"] == expected_hash
    assert j["dont_write_bytecode"] is True
    assert "ignore::DeprecationWarning" in j["warnoptions"]
    assert abs(j["switch_interval"] - 0.02) < 1e-9
    assert j["egg_cache"] == "/tmp/wsgi-rs-eggs"
    assert j["stdin"].startswith("raised OSError") and "WSGIRestrictStdin" in j["stdin"]


@pytest.mark.embedded_only
@pytest.mark.event_only(reason="configtest only, the same under every MPM")
@pytest.mark.parametrize("line,word", [
    ("WSGIPythonHashSeed often", "WSGIPythonHashSeed"),
    ("WSGISwitchInterval -1", "WSGISwitchInterval"),
    ("<VirtualHost *:80>\nWSGIPythonEggs /tmp/x\n</VirtualHost>", "WSGIPythonEggs"),
])
def test_bad_values_fail_configtest(line, word):
    rc, out = configtest(line)
    assert rc != 0 and word in out, out


@pytest.mark.embedded_only
@pytest.mark.event_only(reason="configtest only, the same under every MPM")
@pytest.mark.parametrize("line", [
    "WSGITelemetryService unix:/tmp/t.sock",
])
def test_unimplemented_mod_wsgi_directives_fail_clearly(line):
    rc, out = configtest(line)
    directive = re.search(r"WSGI\w+", line).group(0)
    assert rc != 0, out
    assert directive in out and "not supported by mod_wsgi_rs" in out, out
