#!/usr/bin/env bash
# Creates (or refreshes) the test virtualenv from the system Python: pytest for the harness,
# Flask and Django for the framework tests. World-readable: Apache's workers import from it.
set -euo pipefail
umask 022
PYTHON=${PYTHON:-/usr/bin/python3}
VENV=${VENV:-/tmp/mod_wsgi_rs-venv}
req=$(cd "$(dirname "$0")/.." && pwd)/tests/requirements.txt
stamp=$VENV/.requirements.sha
want=$(sha256sum "$req" "$PYTHON" 2>/dev/null | sha256sum | cut -c1-16)
if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then exit 0; fi
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
chmod -R a+rX "$VENV"
