"""Every log code the module documents (core/src/codes.rs, the README's error reference) is
asserted by some integration test where it is emitted, or is listed below with the reason no
test can provoke it. A new code without a test fails here. Pure: reads the sources."""
import glob
import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CODES_RS = os.path.join(REPO, "core", "src", "codes.rs")

pytestmark = [
    pytest.mark.embedded_only,
    pytest.mark.event_only(reason="reads the sources, no Apache"),
    pytest.mark.skipif(not os.path.exists(CODES_RS), reason="run from a copy of tests/ only"),
]

# Code -> why no test provokes it (each is a guard for a failure the system will not produce on
# demand).
UNTESTED = {
    "RWSGI0003": "site.addsitedir() catches and prints its own errors: the guard around it has no "
                 "known trigger",
    "RWSGI0053": "Py_NewInterpreter() failing, or the bootstrap code raising in a new "
                 "sub-interpreter, needs memory exhaustion or a broken standard library that "
                 "would stop the main interpreter first",
    "RWSGI0121": "fork() failing in the spawner needs the process table or memory exhausted "
                 "(RLIMIT_NPROC does not bind root)",
    "RWSGI0171": "guards the glue between the request path and a hub's Python methods; a "
                 "subscriber's own failure is RWSGI0172 (caught inside the hub), so no "
                 "application input reaches it",
    "RWSGI0181": "epoll_create1() failing in a daemon process needs its descriptors or kernel "
                 "memory exhausted before its first request",
}


def documented():
    with open(CODES_RS) as f:
        return sorted(set(re.findall(r'"(RWSGI\d{4})"', f.read())) - {"RWSGI9999"})


def asserted():
    """Codes named in the test files (tests/codes.py pins event names to codes)."""
    text = ""
    for p in glob.glob(os.path.join(REPO, "tests", "*.py")):
        if os.path.basename(p) != os.path.basename(__file__):
            with open(p) as f:
                text += f.read()
    return set(re.findall(r"RWSGI\d{4}", text))


def test_every_documented_code_is_asserted_by_a_test():
    missing = [c for c in documented() if c not in asserted() and c not in UNTESTED]
    assert not missing, f"log codes no test asserts (add a test, or a reason to UNTESTED): {missing}"


def test_untested_list_is_current():
    stale = [c for c in UNTESTED if c not in documented() or c in asserted()]
    assert not stale, f"UNTESTED lists codes that are gone or now tested: {stale}"
