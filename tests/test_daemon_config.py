"""`apache2 -t` on daemon-mode configuration: every directive and option in its context passes;
mistakes fail with a message naming the directive/option (unknown and unsupported options, bad
values, user=root, duplicate names, undefined groups, a group of another virtual host)."""
import re

import pytest

from harness import configtest

pytestmark = pytest.mark.daemon

VALID = """
WSGISocketPrefix run/wsgi-valid
WSGIRestrictEmbedded On
WSGIDaemonProcess full processes=2 threads=3 display-name=%{GROUP} home=@APPS@ \\
    python-path=@APPS@/pylib1:@APPS@/pylib2 python-home=@VENV@ lang=C.UTF-8 locale=C.UTF-8 \\
    umask=0022 maximum-requests=100 restart-interval=3600 inactivity-timeout=300 \\
    request-timeout=60 queue-timeout=45 socket-timeout=30 connect-timeout=10 \\
    graceful-timeout=5 shutdown-timeout=5 listen-backlog=50 startup-timeout=15 \\
    deadlock-timeout=300 header-buffer-size=32768 response-buffer-size=65536 \\
    send-buffer-size=65536 receive-buffer-size=65536 stack-size=524288 \
    interrupt-timeout=10 eviction-timeout=30 cpu-time-limit=3600 server-metrics=On \
    switch-interval=0.002 response-socket-timeout=20 response-flush-delay=5 script-group=#0
WSGIDaemonProcess service threads=0 script-user=#0
WSGIImportScript @APPS@/service.py process-group=service application-group=%{GLOBAL}
WSGIDaemonProcess plain
WSGIImportScript @APPS@/import_marker.py process-group=full application-group=%{GLOBAL}
WSGIScriptAlias /a @APPS@/daemon.wsgi process-group=full application-group=%{GLOBAL}
WSGIScriptAliasMatch ^/m/([a-z]+) @APPS@/$1.wsgi process-group=plain
WSGIProcessGroup plain
<Location /env>
    WSGIProcessGroup %{ENV:PICK}
    WSGIRestrictProcess full plain
</Location>
<Directory "@APPS@">
    WSGIProcessGroup full
</Directory>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName v.test
    WSGIDaemonProcess vgroup threads=2
    WSGIProcessGroup vgroup
    WSGIScriptAlias /v @APPS@/daemon.wsgi process-group=vgroup
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName v.test
    ServerAlias other.test
    WSGIScriptAlias /v @APPS@/daemon.wsgi process-group=vgroup
</VirtualHost>
"""


def test_valid_daemon_configuration_passes():
    rc, out = configtest(VALID)
    assert rc == 0, out
    assert "Syntax OK" in out


BAD = [
    # (id, snippet, regexes the message must match)
    ("unknown-option", "WSGIDaemonProcess g foo=1", ["WSGIDaemonProcess", "foo"]),
    ("option-without-value", "WSGIDaemonProcess g threads", ["WSGIDaemonProcess", "threads"]),
    ("underscore-option", "WSGIDaemonProcess g maximum_requests=5",
     ["maximum_requests", "maximum-requests"]),
    ("user-root", "WSGIDaemonProcess g user=root", ["WSGIDaemonProcess", "root"]),
    ("user-uid-0", "WSGIDaemonProcess g user=#0", ["WSGIDaemonProcess", "root"]),
    ("unknown-user", "WSGIDaemonProcess g user=no-such-user-xyz", ["no-such-user-xyz"]),
    ("unknown-group", "WSGIDaemonProcess g group=no-such-group-xyz", ["no-such-group-xyz"]),
    ("duplicate-name", "WSGIDaemonProcess g\nWSGIDaemonProcess g threads=2",
     ["WSGIDaemonProcess", "'g'"]),
    ("processes-0", "WSGIDaemonProcess g processes=0", ["processes"]),
    ("threads-abc", "WSGIDaemonProcess g threads=abc", ["threads", "abc"]),
    ("threads-negative", "WSGIDaemonProcess g threads=-1", ["threads"]),
    ("timeout-word", "WSGIDaemonProcess g request-timeout=soon", ["request-timeout"]),
    ("option-twice", "WSGIDaemonProcess g threads=2 threads=3", ["threads"]),
    ("relative-home", "WSGIDaemonProcess g home=relative/dir", ["home"]),
    ("chroot", "WSGIDaemonProcess g chroot=/x",
     ["chroot", r"(?i)not supported", "container", "RootDirectory="]),
    ("script-user-and-group", "WSGIDaemonProcess g script-user=#0 script-group=#0",
     ["WSGIDaemonProcess g", "only one of script-user= and script-group="]),
    ("script-user-unknown", "WSGIDaemonProcess g script-user=no-such-user-xyz",
     ["script-user", "no-such-user-xyz"]),
    ("script-group-unknown", "WSGIDaemonProcess g script-group=no-such-group-xyz",
     ["script-group", "no-such-group-xyz"]),
    ("server-metrics-value", "WSGIDaemonProcess g server-metrics=yes", ["server-metrics", "yes"]),
    ("switch-interval-zero", "WSGIDaemonProcess g switch-interval=0", ["switch-interval", "'0'"]),
    ("interrupt-timeout-word", "WSGIDaemonProcess g interrupt-timeout=soon",
     ["interrupt-timeout", "soon"]),
    ("eviction-timeout-negative", "WSGIDaemonProcess g eviction-timeout=-1", ["eviction-timeout"]),
    ("cpu-time-limit-fraction", "WSGIDaemonProcess g cpu-time-limit=1.5", ["cpu-time-limit"]),
    ("response-socket-timeout-word", "WSGIDaemonProcess g response-socket-timeout=x",
     ["response-socket-timeout"]),
    ("response-flush-delay-unit", "WSGIDaemonProcess g response-flush-delay=5ms",
     ["response-flush-delay", "milliseconds"]),
    ("no-name", "WSGIDaemonProcess", ["WSGIDaemonProcess"]),
    ("reserved-name", "WSGIDaemonProcess %{GLOBAL}", ["WSGIDaemonProcess"]),
    ("in-directory", '<Directory "/tmp">\nWSGIDaemonProcess g\n</Directory>',
     ["WSGIDaemonProcess"]),
    ("in-location", "<Location /x>\nWSGIDaemonProcess g\n</Location>", ["WSGIDaemonProcess"]),
    ("socket-prefix-in-vhost",
     "<VirtualHost 127.0.0.1:@PORT@>\nWSGISocketPrefix run/x\n</VirtualHost>",
     ["WSGISocketPrefix"]),
    ("undefined-group", "WSGIProcessGroup nosuch",
     ["WSGIProcessGroup", "nosuch", r"no WSGIDaemonProcess group called"]),
    ("undefined-group-alias", "WSGIScriptAlias /x @APPS@/daemon.wsgi process-group=nosuch",
     ["nosuch", r"no WSGIDaemonProcess group called", r"httpd\.conf:\d+"]),
    ("undefined-group-import",
     "WSGIImportScript @APPS@/daemon.wsgi process-group=nosuch application-group=%{GLOBAL}",
     ["WSGIImportScript", "nosuch"]),
    ("import-without-app-group",
     "WSGIDaemonProcess g\nWSGIImportScript @APPS@/daemon.wsgi process-group=g",
     ["WSGIImportScript", "application-group"]),
    ("import-without-process-group",
     "WSGIImportScript @APPS@/daemon.wsgi application-group=%{GLOBAL}",
     ["WSGIImportScript", "process-group"]),
    ("import-per-request-process-group",
     "WSGIImportScript @APPS@/daemon.wsgi process-group=%{SERVER} application-group=%{GLOBAL}",
     ["WSGIImportScript", "process-group=", r"%\{GLOBAL\}"]),
    ("restrict-process-empty", "WSGIRestrictProcess", ["WSGIRestrictProcess"]),
    ("group-of-other-vhost", """
<VirtualHost 127.0.0.1:@PORT@>
    ServerName a.test
    WSGIDaemonProcess agroup
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName b.test
    WSGIScriptAlias /x @APPS@/daemon.wsgi process-group=agroup
</VirtualHost>""", ["agroup", "defined inside another virtual host"]),
    ("vhost-group-from-main-server", """
<VirtualHost 127.0.0.1:@PORT@>
    ServerName a.test
    WSGIDaemonProcess agroup
</VirtualHost>
WSGIProcessGroup agroup""", ["WSGIProcessGroup", "agroup", "another virtual host"]),
]


@pytest.mark.parametrize("snippet,patterns", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_daemon_configuration_fails(snippet, patterns):
    rc, out = configtest(snippet)
    assert rc != 0, f"configtest accepted:\n{snippet}\n{out}"
    assert "Syntax OK" not in out
    for p in patterns:
        assert re.search(p, out), f"message does not match {p!r}:\n{out}"
