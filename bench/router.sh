#!/usr/bin/env bash
# Router benchmark: added latency of coopd's Model Router over calling the
# provider directly, against a C OpenAI-compatible emulator on loopback
# (bench/router_emu.c), measured in this one run with the same load
# generator (bench/router_load.c, libcurl keep-alive):
#   - non-streaming 8 KB request: whole exchange
#   - streaming request: time to the first byte
# each sequentially (1 connection) and with 64 concurrent connections.
# The open-source Portkey gateway (npm @portkey-ai/gateway 1.15.2, installed
# into a temporary folder, never committed) is measured against the same
# emulator in the same run, and the ratio of added latencies printed.
# Portkey waits 25 ms before the first streamed chunk by design, which
# dominates its time to first byte.
#   bash bench/router.sh [BUILD_DIR] [N_SEQUENTIAL] [N_CONCURRENT]
set -euo pipefail
BUILD=${1:-build}
NSEQ=${2:-2000}
NCONC=${3:-6400}
if [ -n "${BENCH_SMOKE:-}" ]; then NSEQ=50; NCONC=128; BENCH_SKIP_PORTKEY=1; fi
cd "$(dirname "$0")/.."
cmake --build "$BUILD" --target coopd bench-router_emu bench-router_load >/dev/null
LOAD="$BUILD/bench/bench-router_load"

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 300); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; return 1; }

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT

# Bodies: an 8 KB user message (code-like text, no secrets).
python3 - "$tmp" <<'PY'
import json, sys
d = sys.argv[1]
line = "    for (size_t i = 0; i < n; i++) total += weights[i] * values[i]; /* accumulate */\n"
text = "Explain this function:\n" + line * (8192 // len(line))
for name, model in (("direct", "gpt-4o"), ("coop", "openai/gpt-4o")):
    for stream in (False, True):
        body = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 64}
        if stream:
            body["stream"] = True
        with open("%s/%s%s.json" % (d, name, "-stream" if stream else ""), "w") as f:
            json.dump(body, f, separators=(",", ":"))
PY

PE=$(port)
"$BUILD/bench/bench-router_emu" "$PE" 1 & EMU_PID=$!
wait_http "http://127.0.0.1:$PE/"

PC=$(port)
COOP_DATA_DIR="$tmp/coop" COOP_LISTEN="127.0.0.1:$PC" COOP_HTTP_THREADS=2 COOP_WORKERS=1 COOP_RATE_LIMIT=0 \
  OPENAI_API_KEY=sk-bench-key-0000000000 COOP_OPENAI_BASE_URL="http://127.0.0.1:$PE/v1" \
  "$BUILD/coopd" serve 2>"$tmp/coopd.log" & COOP_PID=$!
for _ in $(seq 1200); do curl -fs "http://127.0.0.1:$PC/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

# Portkey gateway in a temporary folder.
PP=""
if command -v npm >/dev/null && [ "${BENCH_SKIP_PORTKEY:-0}" != 1 ]; then
  mkdir -p "$tmp/portkey"
  cat >"$tmp/portkey/package.json" <<'JSON'
{"name":"portkey-bench","private":true,
 "dependencies":{"@portkey-ai/gateway":"1.15.2"},
 "overrides":{"@hono/node-server":"1.13.5"}}
JSON
  if (cd "$tmp/portkey" && npm install --no-audit --no-fund --silent >/dev/null 2>&1); then
    PP=$(port)
    (cd "$tmp/portkey" && exec node node_modules/@portkey-ai/gateway/build/start-server.js --headless --port="$PP") \
      >"$tmp/portkey.log" 2>&1 &
    wait_http "http://127.0.0.1:$PP/" || PP=""
  fi
fi
[ -n "$PP" ] || echo "Portkey gateway not available: its column is left out" >&2

PK_HDRS=("x-portkey-provider: openai" "x-portkey-custom-host: http://127.0.0.1:$PE/v1" "Authorization: Bearer sk-bench-key-0000000000")

run() { # name conc n mode url body [headers...]
  local name=$1 conc=$2 n=$3 mode=$4 url=$5 body=$6; shift 6
  local out
  out=$("$LOAD" "$url" "$body" "$conc" "$n" "$mode" "$@")
  echo "$name $conc $mode $out"
}

results="$tmp/results"
: >"$results"
for conc in 1 64; do
  n=$NSEQ; [ "$conc" = 64 ] && n=$NCONC
  for mode in total ttfb; do
    sfx=""; [ "$mode" = ttfb ] && sfx="-stream"
    run direct "$conc" "$n" "$mode" "http://127.0.0.1:$PE/v1/chat/completions" "$tmp/direct$sfx.json" >>"$results"
    run coopd "$conc" "$n" "$mode" "http://127.0.0.1:$PC/v1/chat/completions" "$tmp/coop$sfx.json" >>"$results"
    if [ -n "$PP" ]; then
      pn=$n; [ "$conc" = 1 ] && pn=$(( n < 1000 ? n : 1000 ))
      run portkey "$conc" "$pn" "$mode" "http://127.0.0.1:$PP/v1/chat/completions" "$tmp/direct$sfx.json" "${PK_HDRS[@]}" >>"$results"
    fi
  done
done

python3 - "$results" "$NSEQ" "$NCONC" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    name, conc, mode, p50, p99, failed = line.split()
    rows[(name, int(conc), mode)] = (float(p50), float(p99), int(failed))
print("router: added latency over calling the emulator directly (ms; N=%s sequential, %s at 64 concurrent)"
      % (sys.argv[2], sys.argv[3]))
print("%-34s %9s %9s %11s %11s %11s %11s %8s" % ("scenario", "direct50", "direct99", "coopd+p50",
                                                  "coopd+p99", "portkey+p50", "portkey+p99", "ratio50"))
for conc in (1, 64):
    for mode, label in (("total", "non-streaming 8 KB, whole"), ("ttfb", "streaming, first byte")):
        d = rows[("direct", conc, mode)]
        c = rows[("coopd", conc, mode)]
        p = rows.get(("portkey", conc, mode))
        add = lambda r, i: r[i] - d[i]
        name = "%s, %s" % (label, "sequential" if conc == 1 else "64 concurrent")
        ps = ("%11.3f %11.3f %8.1f" % (add(p, 0), add(p, 1), add(p, 0) / max(add(c, 0), 0.001))) if p else \
            "%11s %11s %8s" % ("-", "-", "-")
        print("%-34s %9.3f %9.3f %11.3f %11.3f %s" % (name, d[0], d[1], add(c, 0), add(c, 1), ps))
        fails = d[2] + c[2] + (p[2] if p else 0)
        if fails:
            print("  (failed requests in this scenario: %d)" % fails)
print("goals: coopd added p50 < 0.3 ms non-streaming, first byte < 1 ms; ratio50 = Portkey added p50 / coopd added p50")
print("Portkey delays its first streamed chunk by 25 ms by design.")
PY
kill -TERM $COOP_PID; wait $COOP_PID 2>/dev/null || true
