#!/usr/bin/env bash
# Foundation benchmark: GET /healthz with keep-alive from wrk (2 threads, 32
# connections) against coopd and against a bare libmicrohttpd hello-world
# built from the same tree with the same daemon flags, in this one run;
# prints both rates, their ratio and coopd's idle RSS.
#   bash bench/foundation.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
BUILD=${1:-build}
DUR=${2:-${BENCH_SECONDS:-10}}
[ -n "${BENCH_SMOKE:-}" ] && DUR=1
cd "$(dirname "$0")/.."
cmake --build "$BUILD" --target coopd bench-mhd_hello >/dev/null
command -v wrk >/dev/null || { echo "wrk is missing (make deps)"; exit 1; }

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 100); do curl -fs "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }
rate() { wrk -t2 -c32 -d"${DUR}s" --latency "http://127.0.0.1:$1/healthz" | tee -a /dev/stderr | awk '/Requests\/sec/ {print $2}'; }
p99() { awk '/ 99%/ {print $2}'; }

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
THREADS=$(nproc)

P1=$(port)
"$BUILD/bench/bench-mhd_hello" "$P1" "$THREADS" & HELLO=$!
wait_up "$P1"
echo "-- bare libmicrohttpd" >&2
HELLO_RPS=$(rate "$P1")
kill $HELLO; wait $HELLO 2>/dev/null || true

P2=$(port)
COOP_DATA_DIR="$tmp" COOP_LISTEN="127.0.0.1:$P2" COOP_HTTP_THREADS="$THREADS" COOP_WORKERS=1 \
  "$BUILD/coopd" serve 2>"$tmp/coopd.log" & COOPD=$!
wait_up "$P2"
sleep 1
IDLE_RSS_KB=$(awk '/VmRSS/ {print $2}' /proc/$COOPD/status)
echo "-- coopd" >&2
COOP_RPS=$(rate "$P2")
kill -TERM $COOPD; wait $COOPD || true

python3 - "$HELLO_RPS" "$COOP_RPS" "$IDLE_RSS_KB" "$DUR" <<'PY'
import sys
hello, coop, rss, dur = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
print("foundation: GET /healthz, wrk -t2 -c32 -d%ss, keep-alive" % dur)
print("  bare libmicrohttpd : %10.0f req/s" % hello)
print("  coopd              : %10.0f req/s" % coop)
print("  ratio coopd/bare   : %10.2f (goal >= 0.80)" % (coop / hello))
print("  coopd idle RSS     : %10.1f MB (goal < 15 MB)" % (rss / 1024.0))
PY
