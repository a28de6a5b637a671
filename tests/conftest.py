"""pytest wiring: markers, the import path for harness/client, error_log tails on failure, and a
crash check after every test that talks to a running Apache."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import CRASH_RE, Apache  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: large bodies, framework set-up (still run by default)")
    config.addinivalue_line("markers", "smoke: the subset run-unprivileged.sh runs as nobody")


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

