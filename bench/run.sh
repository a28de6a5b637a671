#!/usr/bin/env bash
# bench/run.sh — `make bench`: requests per second of the same two workloads served by
#   static      Apache alone: a static file, and mod_lua echoing the body (the ceiling)
#   rs-embedded mod_wsgi_rs, embedded mode (the application in Apache's worker threads)
#   rs-daemon   mod_wsgi_rs, daemon mode (WSGIDaemonProcess processes=2 threads=8)
#   wsgi-embedded, wsgi-daemon   mod_wsgi with the same configuration text, when Debian's
#               libapache2-mod-wsgi-py3 or mod_wsgi from pip is installed (MOD_WSGI_SO)
#   gunicorn    gunicorn -k gthread --workers 2 --threads 8, when gunicorn is installed
#   granian     granian --interface wsgi --workers 1 --blocking-threads 8, when installed
#   apache-granian   Apache (mod_proxy_http, keep-alive to the backend) in front of that granian
#   (gunicorn and granian: on PATH, or in the virtualenv BENCH_VENV; the same bench/app.wsgi)
# Workloads (bench/app.wsgi; WORKLOADS=hello,echo by default): hello = GET of 13 bytes;
#   echo = POST of ECHO_BYTES, sent back; big = GET of 1 MiB from a generator; file = GET of a
#   1 MiB file through wsgi.file_wrapper (the static row serves the same bytes from a file).
# Prints one Markdown table on stdout (req/s and the ratio to the static row, errors, memory of
# the server's processes after the load); progress goes to stderr. Every response is checked
# byte for byte before the load. Compare rows of one run only: the machine's noise between runs
# is larger than most differences between rows.
#
# Knobs (environment):
#   DURATION=5 WARMUP=1 CONNS=16      seconds of load per cell, warm-up seconds, connections
#   REPS=1                            runs per cell; the best is kept (a busy machine only ever
#                                     slows a run down)
#   ECHO_BYTES=4096                   size of the POST body
#   WORKLOADS=hello,echo              columns, from hello,big,file,echo (all four with
#                                     ECHO_BYTES=65536 are the README's performance table)
#   ROWS=static,rs-embedded,rs-daemon,wsgi-embedded,wsgi-daemon,gunicorn,granian,apache-granian
#                                     rows to run (each when available)
#   BENCH_VENV=/path/to/venv          a virtualenv holding gunicorn, granian and/or mod_wsgi
#                                     (its bin/ is searched before PATH)
#   LOADGEN=wrk|ab                    default: wrk; installed with apt-get when missing and root,
#                                     else ab (apache2-utils)
#   PIN=auto|0                        2+ CPUs: the server on CPU 0, the load generator on CPU 1
#   MOD_WSGI_RS_SO=target/release/libmod_wsgi_rs.so
#   MOD_WSGI_SO=/usr/lib/apache2/modules/mod_wsgi.so (Debian's), else `mod_wsgi-express
#                                     module-location` (mod_wsgi from pip) in BENCH_VENV or on PATH
#   GUNICORN= GRANIAN=                the programs (default: BENCH_VENV's bin/, else PATH)
#   APACHE=/usr/sbin/apache2 MODDIR=/usr/lib/apache2/modules
#   KEEP=1                            keep the work directory (configs, logs, raw outputs)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-16}
ECHO_BYTES=${ECHO_BYTES:-4096}
WORKLOADS=${WORKLOADS:-hello,echo}
REPS=${REPS:-1}
ROWS=${ROWS:-static,rs-embedded,rs-daemon,wsgi-embedded,wsgi-daemon,gunicorn,granian,apache-granian}
PIN=${PIN:-auto}
APACHE=${APACHE:-/usr/sbin/apache2}
MODDIR=${MODDIR:-/usr/lib/apache2/modules}
MOD_WSGI_RS_SO=${MOD_WSGI_RS_SO:-$repo/target/release/libmod_wsgi_rs.so}
BENCH_VENV=${BENCH_VENV:-}
# A program from BENCH_VENV's bin/, else from PATH; empty when neither has it.
find_tool() { # name
  if [ -n "$BENCH_VENV" ] && [ -x "$BENCH_VENV/bin/$1" ]; then echo "$BENCH_VENV/bin/$1"
  else command -v "$1" 2>/dev/null || true; fi
}
if [ -z "${MOD_WSGI_SO:-}" ]; then  # Debian's package, else mod_wsgi from pip (BENCH_VENV, PATH)
  MOD_WSGI_SO=$MODDIR/mod_wsgi.so
  express=$(find_tool mod_wsgi-express)
  if [ ! -f "$MOD_WSGI_SO" ] && [ -n "$express" ]; then
    MOD_WSGI_SO=$("$express" module-location 2>/dev/null || echo "$MOD_WSGI_SO")
  fi
fi
GUNICORN=${GUNICORN:-$(find_tool gunicorn)}
GRANIAN=${GRANIAN:-$(find_tool granian)}

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ -x "$APACHE" ] || die "$APACHE not found (install apache2, or set APACHE=)"
[ -f "$MOD_WSGI_RS_SO" ] || die "$MOD_WSGI_RS_SO not found: run make build first"
[ -z "$BENCH_VENV" ] || [ -d "$BENCH_VENV/bin" ] || die "BENCH_VENV=$BENCH_VENV is not a virtualenv (no bin/)"
command -v curl >/dev/null || die "curl is needed to check the responses (apt-get install curl)"

# ----- the load generator: wrk, else ab ----------------------------------------------------
if [ -z "${LOADGEN:-}" ]; then
  if ! command -v wrk >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing wrk with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1; } \
      || log "could not install wrk; trying ab"
  fi
  if command -v wrk >/dev/null; then LOADGEN=wrk
  elif command -v ab >/dev/null; then LOADGEN=ab
  else die "no load generator: apt-get install wrk (or apache2-utils for ab)"; fi
fi
command -v "$LOADGEN" >/dev/null || die "LOADGEN=$LOADGEN is not installed"

server_cpu=() client_cpu=()
if [ "$PIN" != 0 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  server_cpu=(taskset -c 0) client_cpu=(taskset -c 1)
fi

# ----- the work directory: everything Apache reads, world-readable ------------------------
work=$(mktemp -d /tmp/mod_wsgi_rs-bench.XXXXXX)
chmod 755 "$work"
cleanup() {
  [ -n "${running_conf:-}" ] && stop_apache "$running_conf" || true
  [ -n "${backend_pid:-}" ] && stop_backend || true
  if [ "${KEEP:-0}" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$work/htdocs"
cp "$here/app.wsgi" "$here/echo.lua" "$work/"
ln -s app.wsgi "$work/bench_app.py"  # the same file, importable for gunicorn and granian
cp "$MOD_WSGI_RS_SO" "$work/mod_wsgi_rs.so"
printf 'Hello world!\n' >"$work/htdocs/hello"
python3 -c 'import sys; open(sys.argv[1], "wb").write(bytes(range(256)) * 4096)' "$work/htdocs/data.bin"
ln -s data.bin "$work/htdocs/big"; ln -s data.bin "$work/htdocs/file"
head -c "$ECHO_BYTES" /dev/zero | tr '\0' 'a' >"$work/body.bin"
cat >"$work/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.body = string.rep("a", $ECHO_BYTES)
EOF
chmod -R a+rX "$work"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The configuration of one row: Apache's own settings are the same for every row.
write_conf() { # row dir port
  local row=$1 dir=$2 port=$3 user=""
  [ "$(id -u)" = 0 ] && user=$'User www-data\nGroup www-data'
  cat <<EOF
ServerRoot "$dir"
Listen 127.0.0.1:$port
ServerName 127.0.0.1
PidFile "$dir/httpd.pid"
DefaultRuntimeDir "$dir"
ErrorLog "$dir/error_log"
LogLevel warn
$user
LoadModule mpm_event_module $MODDIR/mod_mpm_event.so
LoadModule authz_core_module $MODDIR/mod_authz_core.so
LoadModule mime_module $MODDIR/mod_mime.so
TypesConfig /etc/mime.types
StartServers 2
ServerLimit 2
ThreadLimit 32
ThreadsPerChild 32
MaxRequestWorkers 64
MinSpareThreads 8
MaxSpareThreads 64
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 30
Timeout 60
DocumentRoot "$work/htdocs"
<Directory "$work">
    Options FollowSymLinks
    Require all granted
</Directory>
EOF
  case $row in
    static)
      echo "LoadModule lua_module $MODDIR/mod_lua.so"
      echo "LuaMapHandler ^/echo\$ \"$work/echo.lua\" handle" ;;
    rs-*) echo "LoadModule wsgi_rs_module \"$work/mod_wsgi_rs.so\"" ;;
    wsgi-*) echo "LoadModule wsgi_module \"$MOD_WSGI_SO\"" ;;
    apache-*)  # in front of the backend on $backend_port, keep-alive connections pooled
      echo "LoadModule proxy_module $MODDIR/mod_proxy.so"
      echo "LoadModule proxy_http_module $MODDIR/mod_proxy_http.so"
      echo "ProxyPass / http://127.0.0.1:$backend_port/ keepalive=On"
      echo "ProxyPassReverse / http://127.0.0.1:$backend_port/" ;;
  esac
  case $row in
    *-embedded)
      echo "WSGIApplicationGroup %{GLOBAL}"
      echo "WSGIScriptAlias / \"$work/app.wsgi\"" ;;
    *-daemon)
      echo "WSGIRestrictEmbedded On"
      echo "WSGISocketPrefix \"$dir/wsgi\""
      echo "WSGIDaemonProcess bench processes=2 threads=8 display-name=%{GROUP}"
      echo "WSGIScriptAlias / \"$work/app.wsgi\" process-group=bench application-group=%{GLOBAL}" ;;
  esac
}

start_apache() { # conf port -> 0 when it answers
  local conf=$1 port=$2 i
  "${server_cpu[@]}" "$APACHE" -f "$conf" -k start || return 1
  for i in $(seq 1 150); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/hello" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}

stop_apache() { # conf
  local conf=$1 dir pid i
  dir=$(dirname "$conf")
  pid=$(cat "$dir/httpd.pid" 2>/dev/null || true)
  "$APACHE" -f "$conf" -k stop >/dev/null 2>&1 || true
  if [ -n "$pid" ]; then
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  running_conf=""
}

# gunicorn or granian (the application server of a row) in the background on $port, pinned
# like Apache; backend_pid is its master process.
start_backend() { # server dir port -> 0 when it answers
  local server=$1 dir=$2 port=$3 i
  case $server in
    gunicorn)
      "${server_cpu[@]}" "$GUNICORN" -b "127.0.0.1:$port" -k gthread --workers 2 --threads 8 \
        --chdir "$work" --log-level warning --pid "$dir/backend.pid" \
        bench_app:application >"$dir/backend.log" 2>&1 &
      ;;
    granian)
      "${server_cpu[@]}" "$GRANIAN" --interface wsgi --host 127.0.0.1 --port "$port" \
        --workers 1 --blocking-threads 8 --working-dir "$work" --no-access-log \
        --log-level warning bench_app:application >"$dir/backend.log" 2>&1 &
      ;;
  esac
  backend_pid=$!
  for i in $(seq 1 150); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/hello" 2>/dev/null && return 0
    kill -0 "$backend_pid" 2>/dev/null || return 1
    sleep 0.2
  done
  return 1
}

stop_backend() { # TERM to the master, then KILL whatever is left of its tree
  local pids pid i
  [ -n "${backend_pid:-}" ] || return 0
  pids=$(tree_pids "$backend_pid")
  kill -TERM "$backend_pid" 2>/dev/null || true
  for i in $(seq 1 100); do kill -0 "$backend_pid" 2>/dev/null || break; sleep 0.2; done
  wait "$backend_pid" 2>/dev/null || true
  for pid in $pids; do kill -9 "$pid" 2>/dev/null || true; done
  backend_pid=""
}

# The pids of the process tree rooted at $1.
tree_pids() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { kids[$2] = kids[$2] " " $1 }
    END { n = 1; q[1] = root
          for (i = 1; i <= n; i++) { print q[i]; m = split(kids[q[i]], k, " ")
            for (j = 1; j <= m; j++) q[++n] = k[j] } }'
}

# Sum of VmRSS (KiB) over the process tree rooted at $1 (the Apache parent, its children,
# the spawner and the daemon processes).
tree_rss_kib() {
  ps -e -o pid=,ppid=,rss= | awk -v root="$1" '
    { kids[$2] = kids[$2] " " $1; rss[$1] = $3 }
    END { n = 1; q[1] = root; total = 0
          for (i = 1; i <= n; i++) { total += rss[q[i]]; m = split(kids[q[i]], k, " ")
            for (j = 1; j <= m; j++) q[++n] = k[j] }
          print total }'
}

# One cell: prints "req/s errors".
load() { # url post(0|1) seconds
  local url=$1 post=$2 secs=$3 out rps err
  if [ "$LOADGEN" = wrk ]; then
    local script=()
    [ "$post" = 1 ] && script=(-s "$work/post.lua")
    out=$("${client_cpu[@]}" wrk -t1 -c"$CONNS" -d"${secs}s" "${script[@]}" "$url" 2>&1) || true
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    err=$(awk '/Non-2xx or 3xx responses:/ {e += $NF} /Socket errors:/ {gsub(",", ""); e += $4 + $6 + $8 + $10} END {print e + 0}' <<<"$out")
  else
    local body=()
    [ "$post" = 1 ] && body=(-p "$work/body.bin" -T application/octet-stream)
    out=$("${client_cpu[@]}" ab -k -q -c "$CONNS" -t "$secs" -n 100000000 "${body[@]}" "$url" 2>&1) || true
    rps=$(awk '/^Requests per second:/ {print $4}' <<<"$out")
    err=$(awk '/^Failed requests:/ {e += $3} /^Non-2xx responses:/ {e += $3} END {print e + 0}' <<<"$out")
  fi
  echo "${rps:-0} ${err:-0}"
}

check_responses() { # port
  local port=$1 got
  got=$(curl -fsS "http://127.0.0.1:$port/hello") || return 1
  [ "$got" = "Hello world!" ] || { log "hello answered '$got'"; return 1; }
  got=$(curl -fsS --data-binary @"$work/body.bin" -H 'Content-Type: application/octet-stream' \
        "http://127.0.0.1:$port/echo" | cmp - "$work/body.bin" && echo same) || true
  [ "$got" = same ] || { log "echo did not send the body back"; return 1; }
  local w
  for w in big file; do
    got=$(curl -fsS "http://127.0.0.1:$port/$w" | cmp - "$work/htdocs/data.bin" && echo same) || true
    [ "$got" = same ] || { log "/$w did not send the 1 MiB file's bytes"; return 1; }
  done
}

label() {
  case $1 in
    static) echo "Apache static file / mod_lua echo" ;;
    rs-embedded) echo "**mod_wsgi_rs embedded**" ;;
    rs-daemon) echo "**mod_wsgi_rs daemon (2 x 8)**" ;;
    wsgi-embedded) echo "mod_wsgi embedded" ;;
    wsgi-daemon) echo "mod_wsgi daemon (2 x 8)" ;;
    gunicorn) echo "gunicorn gthread (2 x 8)" ;;
    granian) echo "granian wsgi (1 x 8)" ;;
    apache-granian) echo "Apache mod_proxy_http → granian (1 x 8)" ;;
  esac
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A RPS ERR MEM
for w in ${WORKLOADS//,/ }; do
  case $w in hello|echo|big|file) ;; *) die "unknown workload '$w' (hello, echo, big, file)" ;; esac
done
done_rows=()
not_found="not on PATH${BENCH_VENV:+ nor in $BENCH_VENV/bin}; pip install it, or set BENCH_VENV=/path/to/venv"
for row in ${ROWS//,/ }; do
  backend=""
  case $row in
    static|rs-embedded|rs-daemon) ;;
    wsgi-*) [ -f "$MOD_WSGI_SO" ] || { log "$row: skipped ($MOD_WSGI_SO not installed: apt-get install libapache2-mod-wsgi-py3, or pip install mod_wsgi and set BENCH_VENV)"; continue; } ;;
    gunicorn) backend=gunicorn
      [ -n "$GUNICORN" ] || { log "$row: skipped (gunicorn $not_found)"; continue; } ;;
    granian|apache-granian) backend=granian
      [ -n "$GRANIAN" ] || { log "$row: skipped (granian $not_found)"; continue; } ;;
    *) die "unknown row '$row'" ;;
  esac
  dir="$work/$row"; mkdir -p "$dir"; chmod 755 "$dir"
  port=$(free_port)
  if [ -n "$backend" ]; then
    backend_port=$port
    [ "$row" = "$backend" ] || backend_port=$(free_port)
    log "$row: starting $backend on 127.0.0.1:$backend_port"
    if ! start_backend "$backend" "$dir" "$backend_port" \
        || { [ "$row" = "$backend" ] && ! check_responses "$port"; }; then
      log "$row: failed; $backend's log:"; tail -n 20 "$dir/backend.log" >&2 || true
      stop_backend; continue
    fi
  fi
  if [ "$row" != "$backend" ]; then
    write_conf "$row" "$dir" "$port" >"$dir/httpd.conf"
    log "$row: starting Apache on 127.0.0.1:$port"
    running_conf="$dir/httpd.conf"
    if ! start_apache "$dir/httpd.conf" "$port" || ! check_responses "$port"; then
      log "$row: failed; error log:"; tail -n 20 "$dir/error_log" >&2 || true
      stop_apache "$dir/httpd.conf"; stop_backend; continue
    fi
  fi
  summary=""
  for w in ${WORKLOADS//,/ }; do
    post=0; [ "$w" = echo ] && post=1
    load "http://127.0.0.1:$port/$w" "$post" "$WARMUP" >/dev/null
    RPS[$row,$w]=0 ERR[$row,$w]=0
    for _ in $(seq 1 "$REPS"); do
      read -r r e < <(load "http://127.0.0.1:$port/$w" "$post" "$DURATION")
      ERR[$row,$w]=$((ERR[$row,$w] + e))
      awk -v r="$r" -v b="${RPS[$row,$w]}" 'BEGIN { exit !(r > b) }' && RPS[$row,$w]=$r
    done
    summary="$summary $w ${RPS[$row,$w]} req/s,"
  done
  kib=0
  [ "$row" = "$backend" ] || kib=$(tree_rss_kib "$(cat "$dir/httpd.pid")")
  [ -z "$backend" ] || kib=$((kib + $(tree_rss_kib "$backend_pid")))
  MEM[$row]=$((kib / 1024))
  log "$row:$summary ${MEM[$row]} MiB"
  [ "$row" = "$backend" ] || stop_apache "$dir/httpd.conf"
  stop_backend
  done_rows+=("$row")
done

[ ${#done_rows[@]} -gt 0 ] || die "no row ran"
busy=$(awk -v n="$(nproc)" '{ print ($1 > n) ? 1 : 0 }' <<<"$load_before")

cell() { # row workload
  local r=${RPS[$1,$2]} base=${RPS[static,$2]:-} e=${ERR[$1,$2]}
  local s
  s=$(printf "%'.0f" "$r" 2>/dev/null || printf '%.0f' "$r")
  if [ -n "$base" ] && awk -v b="$base" 'BEGIN { exit !(b > 0) }'; then
    s="$s ($(awk -v r="$r" -v b="$base" 'BEGIN { printf "%.2f", r / b }'))"
  fi
  [ "$e" != 0 ] && s="$s, $e errors"
  echo "$s"
}

python=$(strings "$MOD_WSGI_RS_SO" 2>/dev/null | grep -o 'libpython3\.[0-9]*' | head -n 1 || true)
echo "## mod_wsgi_rs benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "$(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), load average" \
     "$load_before before the run; ${python:-Python}; Apache $("$APACHE" -v | awk -F/ '/version/ {print $2}' | cut -d' ' -f1);" \
     "$LOADGEN, $CONNS connections, ${DURATION} s per cell (best of $REPS);" \
     "$([ ${#server_cpu[@]} -gt 0 ] && echo 'server pinned to CPU 0, load generator to CPU 1' || echo 'no CPU pinning')."
[ "$busy" = 1 ] && echo && echo "**The machine was busy during the run (load average above its CPU count): run again before trusting a difference.**"
echo
head="| configuration" sep="|---"
for w in ${WORKLOADS//,/ }; do
  case $w in
    hello) head="$head | hello 13 B" ;;
    echo) head="$head | echo $ECHO_BYTES B POST" ;;
    big) head="$head | 1 MiB generator" ;;
    file) head="$head | 1 MiB file_wrapper" ;;
  esac
  sep="$sep|---"
done
echo "Cells: requests/s (ratio to the static row)."
echo
echo "$head | RSS after load |"
echo "$sep|---|"
for row in "${done_rows[@]}"; do
  line="| $(label "$row")"
  for w in ${WORKLOADS//,/ }; do line="$line | $(cell "$row" "$w")"; done
  echo "$line | ${MEM[$row]} MiB |"
done
