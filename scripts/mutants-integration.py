#!/usr/bin/env python3
"""Mutation testing of request-path files against the real module: for each mutant cargo-mutants
proposes in FILES, apply it to a scratch copy of the tree, build the release module, run the unit
tests and a fast integration subset against a real apache2, and report the mutants no test caught.

cargo-mutants itself can only run `cargo test`; the request path is only really exercised by the
pytest suite, hence this small driver (cargo-mutants still finds and describes the mutants).

Usage: scripts/mutants-integration.py [--tests "tests/test_x.py ..."] [--limit N] FILE...
Environment: WSGI_RS_VENV (the test venv), MUTANTS_DIR (scratch tree, default /tmp/wsgi-rs-mutants).
Output: one line per mutant (caught / MISSED / unviable) and the MISSED list at the end; exit
status 0 whatever the score (it is a report, not a gate)."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_TESTS = "tests/test_framing.py tests/test_response.py tests/test_input.py tests/test_environ.py"


def run(cmd, cwd, timeout, env=None):
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, timeout=timeout, capture_output=True, text=True)
        return p.returncode, p.stdout[-2000:] + p.stderr[-2000:]
    except subprocess.TimeoutExpired:
        return -1, "timeout"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", help="source files to mutate (e.g. core/src/framing.rs)")
    ap.add_argument("--tests", default=DEFAULT_TESTS, help="pytest files run for each mutant")
    ap.add_argument("--limit", type=int, default=0, help="stop after N mutants (0: all)")
    ap.add_argument("--mode", default="", help="WSGI_RS_MODE for the pytest run ('' or daemon)")
    a = ap.parse_args()

    venv = os.environ.get("WSGI_RS_VENV", "/tmp/mod_wsgi_rs-venv")
    scratch = os.environ.get("MUTANTS_DIR", "/tmp/wsgi-rs-mutants")
    listing = subprocess.run(
        ["cargo", "mutants", "--list", "--json", "--diff", "--workspace", *sum((["-f", f] for f in a.files), [])],
        cwd=ROOT, capture_output=True, text=True, check=True).stdout
    mutants = json.loads(listing)
    if a.limit:
        mutants = mutants[:a.limit]
    print(f"{len(mutants)} mutants in {' '.join(a.files)}; tests: {a.tests}", flush=True)

    # A scratch copy of the tree (tracked files only) with its own target dir, reused across runs.
    os.makedirs(scratch, exist_ok=True)
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    for f in files:
        dst = os.path.join(scratch, f)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, f), dst)
    env = dict(os.environ, PYO3_PYTHON=os.environ.get("PYO3_PYTHON", "/usr/bin/python3"))
    so = os.path.join(scratch, "target", "release", "libmod_wsgi_rs.so")
    test_env = dict(env, MOD_WSGI_RS_SO=so, WSGI_RS_VENV=venv, WSGI_RS_MODE=a.mode)
    pytest = [os.path.join(venv, "bin", "python"), "-m", "pytest", "-p", "no:cacheprovider", "-q",
              "-x", *a.tests.split()]
    if a.mode == "daemon":
        pytest += ["-m", "not embedded_only and not daemon"]

    rc, out = run(["cargo", "build", "--release"], scratch, 1800, env)
    if rc != 0:
        sys.exit(f"the unmutated tree does not build:\n{out}")
    rc, out = run(pytest, ROOT, 900, test_env)
    if rc != 0:
        sys.exit(f"the tests fail on the unmutated tree:\n{out}")

    missed = []
    for i, m in enumerate(mutants, 1):
        name = m.get("name") or f"{m['file']}: {m['diff'].splitlines()[1][4:]}"
        patch = m["diff"]
        target = m["file"]
        t0 = time.time()
        subprocess.run(["patch", "-s", "-p0", target], input=patch, cwd=scratch, text=True, check=True)
        try:
            rc, _ = run(["cargo", "build", "--release"], scratch, 900, env)
            if rc != 0:
                verdict = "unviable"
            else:
                rc, _ = run(["cargo", "test", "-q", "-p", "wsgi_rs_core"], scratch, 600, env)
                if rc == 0:
                    rc, _ = run(pytest, ROOT, 900, test_env)
                verdict = "caught" if rc != 0 else "MISSED"
        finally:
            subprocess.run(["patch", "-s", "-R", "-p0", target], input=patch, cwd=scratch,
                           text=True, check=True)
        if verdict == "MISSED":
            missed.append(name)
        print(f"[{i}/{len(mutants)}] {verdict:8} {time.time() - t0:5.0f}s  {name}", flush=True)
    print(f"\n{len(mutants)} mutants, {len(missed)} missed")
    for n in missed:
        print(f"MISSED {n}")


if __name__ == "__main__":
    main()
