#!/usr/bin/env bash
# Installs what building and testing mod_wsgi_rs needs on Debian 12, when it is missing.
# As root: apt-get. Otherwise: a message naming the packages to install.
set -euo pipefail
PYTHON=${PYTHON:-/usr/bin/python3}
missing=()
command -v apache2 >/dev/null 2>&1 || [ -x /usr/sbin/apache2 ] || missing+=(apache2)
command -v apxs >/dev/null 2>&1 || [ -x /usr/bin/apxs ] || missing+=(apache2-dev)
command -v clang >/dev/null 2>&1 || missing+=(clang)
ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 || missing+=(libclang-dev)
pyver=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo "")
if [ -z "$pyver" ]; then
  missing+=(python3)
else
  [ -f "/usr/include/python$pyver/Python.h" ] || "$PYTHON" -c 'import sysconfig,os,sys; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"],"Python.h")) else 1)' || missing+=(python3-dev)
  "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
fi
if [ "${WITH_WRK:-0}" = 1 ]; then command -v wrk >/dev/null 2>&1 || missing+=(wrk); fi
# The tests use strace (where it is missing and cannot be installed, those tests are skipped).
if [ "${WITH_STRACE:-0}" = 1 ] && [ "$(id -u)" = 0 ]; then command -v strace >/dev/null 2>&1 || missing+=(strace); fi
# The lifecycle tests read a crashed Apache child's core with gdb to tell httpd's own stop race
# from a crash of ours (tests/httpd_race.py; without gdb such a crash always fails the test).
if [ "${WITH_STRACE:-0}" = 1 ] && [ "$(id -u)" = 0 ]; then command -v gdb >/dev/null 2>&1 || missing+=(gdb); fi
# The wsgi-express HTTPS tests make a self-signed certificate with the openssl CLI.
if [ "${WITH_STRACE:-0}" = 1 ]; then command -v openssl >/dev/null 2>&1 || missing+=(openssl); fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "mod_wsgi_rs: missing packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "mod_wsgi_rs: installing ${missing[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists first: on a machine whose lists are older than its installed
# security updates, apt refuses to resolve dependencies (seen with libpcre2-dev).
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
