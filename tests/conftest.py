"""pytest wiring: markers, the import path for harness/client, error_log tails on failure, and a
crash check after every test that talks to a running Apache."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import CRASH_RE, DAEMON, Apache  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: large bodies, framework set-up (still run by default)")
    config.addinivalue_line("markers", "smoke: the subset run-unprivileged.sh runs as nobody")
    config.addinivalue_line(
        "markers", "embedded_only: checks embedded-mode behaviour or only runs configtest; "
        "skipped when WSGI_RS_MODE=daemon")
    config.addinivalue_line(
        "markers", "daemon: a daemon-mode test with its own WSGIDaemonProcess configuration "
        "(test_daemon_*.py); runs in the default pass, skipped when WSGI_RS_MODE=daemon")


def pytest_report_header(config):
    return f"mod_wsgi_rs mode: {'daemon (WSGI_RS_MODE=daemon)' if DAEMON else 'embedded'}"


def pytest_collection_modifyitems(config, items):
    if not DAEMON:
        return
    skip = pytest.mark.skip(reason="WSGI_RS_MODE=daemon: embedded-only or own daemon config")
    for item in items:
        if item.get_closest_marker("embedded_only") or item.get_closest_marker("daemon"):
            item.add_marker(skip)


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

