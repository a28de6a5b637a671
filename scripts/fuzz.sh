#!/usr/bin/env bash
# Fuzzes with cargo-fuzz for ${FUZZ_SECONDS:-60} seconds each target: the daemon wire codec
# (wire_decode, core/src/wire) and the Apache child's check of a daemon's response head and
# body (response_head, core/src/framing.rs). FUZZ_TARGET=name runs one target only.
#   FUZZ_SECONDS=600 scripts/fuzz.sh            # longer run
#   scripts/fuzz.sh -jobs=4 -workers=4          # extra arguments go to libFuzzer
# cargo-fuzz needs nightly-only rustc flags (-Zsanitizer=address); RUSTC_BOOTSTRAP=1 lets the
# stable toolchain accept them. Set FUZZ_TOOLCHAIN=nightly to use a nightly toolchain instead.
# A crash leaves its input in fuzz/artifacts/<target>/ and the script exits non-zero;
# replay it with: scripts/fuzz.sh fuzz/artifacts/<target>/crash-...
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${FUZZ_TARGET:-}" ]; then
  for t in wire_decode response_head; do FUZZ_TARGET=$t "$0" "$@"; done
  exit 0
fi
target=$FUZZ_TARGET
seconds=${FUZZ_SECONDS:-60}
export PYO3_PYTHON=${PYO3_PYTHON:-/usr/bin/python3}
export RUSTC_BOOTSTRAP=1
toolchain=()
[ -n "${FUZZ_TOOLCHAIN:-}" ] && toolchain=("+$FUZZ_TOOLCHAIN")

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz" >&2
  cargo install --locked cargo-fuzz
fi

corpus=$repo/fuzz/corpus/$target
mkdir -p "$corpus"
# Seed an empty corpus with one valid frame of each type, so the fuzzer starts from the
# success paths (a RequestHead needs 42 well-formed bytes before it decodes at all).
if [ -z "$(ls -A "$corpus")" ]; then
  "$PYO3_PYTHON" - "$corpus" "$target" <<'PY'
import struct, sys, os
def b(s): return struct.pack('>I', len(s)) + s
def pairs(ps): return struct.pack('>I', len(ps)) + b''.join(b(k) + b(v) for k, v in ps)
def frame(t, p): return bytes([t]) + struct.pack('>I', len(p)) + p
seeds = {
  'request_head': frame(0x01, struct.pack('>H', 1) + bytes(range(32))
                        + pairs([(b'REQUEST_METHOD', b'GET'), (b'PATH_INFO', b'/\x00\xff')])
                        + pairs([(b'group', b'g')])),
  'body_chunk': frame(0x02, b'body\x00\xff'),
  'body_end': frame(0x03, b''),
  'body_error': frame(0x04, b'client went away'),
  'body_request': frame(0x05, struct.pack('>I', 65536)),
  'response_head': frame(0x10, struct.pack('>H', 200) + b(b'200 OK')
                         + pairs([(b'Content-Type', b'text/plain')])),
  'response_chunk': frame(0x11, b'hello'),
  'flush': frame(0x12, b''),
  'response_end': frame(0x13, b''),
  'response_abort': frame(0x14, b'generator failed'),
  'response_error': frame(0x15, struct.pack('>H', 503) + b(b'busy')),
}
seeds['stream'] = seeds['request_head'] + seeds['body_chunk'] + seeds['body_end']
if sys.argv[2] == 'response_head':
    # [u16 head payload length][head payload][body frames...]
    def head(code, status, hs):
        p = struct.pack('>H', code) + b(status) + pairs(hs)
        return struct.pack('>H', len(p)) + p
    seeds = {
      'ok': head(200, b'200 OK', [(b'Content-Length', b'5')]) + seeds['response_chunk'] + seeds['response_end'],
      'chunked': head(200, b'200 OK', [(b'Transfer-Encoding', b'chunked')]) + seeds['response_chunk'],
      'long': head(200, b'200 OK', [(b'Content-Length', b'2')]) + seeds['response_chunk'] * 3,
      'nolen': head(404, b'404 Not Found', [(b'X-A', b'b')]) + seeds['response_chunk'],
    }
for name, data in seeds.items():
    with open(os.path.join(sys.argv[1], 'seed-' + name), 'wb') as f: f.write(data)
PY
fi

cd "$repo/fuzz"
args=("$@")
# A file argument replays that input instead of fuzzing.
if [ ${#args[@]} -eq 1 ] && [ -f "${args[0]}" ]; then
  exec cargo "${toolchain[@]}" fuzz run "$target" "$(realpath "${args[0]}")"
fi
exec cargo "${toolchain[@]}" fuzz run "$target" "$corpus" -- \
  -max_total_time="$seconds" -print_final_stats=1 "${args[@]}"
