"""pytest wiring: markers, the import path for harness/client, error_log tails on failure, and a
crash check after every test that talks to a running Apache."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import CRASH_RE, DAEMON, MPM, PREFORK, Apache  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: large bodies, framework set-up (still run by default)")
    config.addinivalue_line("markers", "smoke: the subset run-unprivileged.sh runs as nobody")
    config.addinivalue_line(
        "markers", "embedded_only: checks embedded-mode behaviour or only runs configtest; "
        "skipped when WSGI_RS_MODE=daemon")
    config.addinivalue_line(
        "markers", "daemon: a daemon-mode test with its own WSGIDaemonProcess configuration "
        "(test_daemon_*.py); runs in the default pass, skipped when WSGI_RS_MODE=daemon")
    config.addinivalue_line(
        "markers", "event_only(reason): needs the event MPM (threads in one child) or does not "
        "depend on the MPM at all; skipped when WSGI_RS_MPM=prefork")


def pytest_report_header(config):
    return (f"mod_wsgi_rs mode: {'daemon (WSGI_RS_MODE=daemon)' if DAEMON else 'embedded'}, "
            f"MPM {MPM}")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if DAEMON and (item.get_closest_marker("embedded_only")
                       or item.get_closest_marker("daemon")):
            item.add_marker(pytest.mark.skip(
                reason="WSGI_RS_MODE=daemon: embedded-only or own daemon config"))
        m = item.get_closest_marker("event_only")
        if PREFORK and m:
            why = m.kwargs.get("reason") or (m.args[0] if m.args else "event MPM only")
            item.add_marker(pytest.mark.skip(reason=f"WSGI_RS_MPM=prefork: {why}"))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for a in list(Apache.running):
            report.sections.append(
                (f"apache error_log tail ({a.name}, {a.root})", a.log_tail(60)))


@pytest.fixture(autouse=True)
def _no_crash():
    """Fail the test if an Apache child crashed or Rust panicked while it ran."""
    marks = [(a, a.log_mark()) for a in Apache.running]
    yield
    for a, mark in marks:
        if a not in Apache.running:
            continue
        try:
            text = a.log_since(mark)
        except OSError:
            continue
        bad = [l for l in text.splitlines() if CRASH_RE.search(l)]
        assert not bad, f"crash in {a.name} during this test:\n" + "\n".join(bad)

