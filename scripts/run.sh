#!/usr/bin/env bash
# `make run`: serves a WSGI script with `wsgi-express start-server` (daemon mode, the freshly
# built module), in the foreground, on 127.0.0.1:$PORT. Ctrl-C stops it.
set -euo pipefail
umask 022
repo=$(cd "$(dirname "$0")/.." && pwd)
SO=${SO:-$repo/target/release/libmod_wsgi_rs.so}
EXPRESS=${EXPRESS:-$repo/target/release/wsgi-express}
APP=$(realpath "${APP:-$repo/conf-examples/hello.wsgi}")
PORT=${PORT:-8000}
[ -f "$APP" ] || { echo "make run: APP=$APP does not exist" >&2; exit 1; }
# As root, Apache's workers and the daemon process run as www-data, and this checkout may sit in
# a private directory: then the script is served from a copy in the (world-readable) server root.
run=${RUN_DIR:-/tmp/mod_wsgi_rs-run-$(id -u)}
rm -rf "$run"; mkdir -p "$run"; chmod 755 "$run"
app=$APP
if [ "$(id -u)" = 0 ] && ! runuser -u www-data -- test -r "$APP" 2>/dev/null; then
  mkdir -p "$run/app"; app=$run/app/$(basename "$APP"); cp "$APP" "$app"; chmod 644 "$app"
  echo "make run: $APP is not readable by www-data; serving a copy ($app)" >&2
fi
exec "$EXPRESS" start-server "$app" --host 127.0.0.1 --port "$PORT" --server-root "$run" \
  --module-path "$SO" --working-directory "$(dirname "$app")" --access-log --log-level "${LOGLEVEL:-info}"
