#!/bin/sh
# Run integration tests as an unprivileged user (default: nobody), so Apache runs without
# User/Group switching. Called as root; copies tests/ and the module into a world-readable temp dir.
#   tests/run-unprivileged.sh [pytest args]      default args: -m smoke
# Env: MOD_WSGI_RS_SO (default <repo>/target/release/libmod_wsgi_rs.so),
#      WSGI_RS_VENV (default /tmp/mod_wsgi_rs-venv), WSGI_RS_USER (default nobody).
set -eu
if [ "$(id -u)" != 0 ]; then
    echo "run-unprivileged.sh: must be started as root (it switches to an unprivileged user)" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
so=${MOD_WSGI_RS_SO:-$repo/target/release/libmod_wsgi_rs.so}
venv=${WSGI_RS_VENV:-/tmp/mod_wsgi_rs-venv}
user=${WSGI_RS_USER:-nobody}
[ -f "$so" ] || { echo "run-unprivileged.sh: module not found: $so" >&2; exit 2; }
[ -x "$venv/bin/python" ] || { echo "run-unprivileged.sh: no venv at $venv" >&2; exit 2; }

work=$(mktemp -d /tmp/wsgi_rs-unpriv-XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
cp -r "$here" "$work/tests"
find "$work/tests" -name __pycache__ -prune -exec rm -rf {} +
cp "$so" "$work/mod_wsgi_rs.so"
# wsgi-express (tests/test_wsgi_express.py), built beside the module.
express=${WSGI_EXPRESS:-$(dirname "$so")/wsgi-express}
[ -x "$express" ] && cp "$express" "$work/wsgi-express"
cp "$here/../Cargo.toml" "$work/Cargo.toml"  # the version test_environ compares with
# The examples (test_conf_examples.py, test_scaling_out.py load them as written).
cp -r "$here/../conf-examples" "$work/conf-examples"
chmod -R a+rX "$work"

[ $# -gt 0 ] || set -- -m smoke
cd "$work"
rc=0
runuser -u "$user" -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME="$work" \
    PYTHONDONTWRITEBYTECODE=1 MOD_WSGI_RS_SO="$work/mod_wsgi_rs.so" WSGI_RS_VENV="$venv" \
    WSGI_EXPRESS="$work/wsgi-express" \
    ${WSGI_RS_MODULE_NAME:+WSGI_RS_MODULE_NAME=$WSGI_RS_MODULE_NAME} \
    ${WSGI_RS_CODE_PREFIX:+WSGI_RS_CODE_PREFIX=$WSGI_RS_CODE_PREFIX} \
    "$venv/bin/python" -m pytest -p no:cacheprovider "$work/tests" -q "$@" || rc=$?
exit $rc
