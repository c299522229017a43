#!/usr/bin/env bash
# Router benchmark for the Anthropic-compatible endpoint and budgets: what
# POST /v1/messages (translation in and out) and budget checks (a requests-
# per-minute bucket and a tokens-per-day lookup in the store, per token and
# per customer) add to a request, against the C OpenAI-compatible emulator
# (bench/router_emu.c) and the same load generator as bench/router.sh, all
# measured in this one run:
#   direct     the emulator itself (the baseline)
#   chat       coopd, POST /v1/chat/completions, no budgets
#   messages   coopd, POST /v1/messages (model openai/gpt-4o), no budgets
#   budgets    coopd, POST /v1/chat/completions, token and customer limits
#              set (high enough never to refuse), so every request checks them
# Non-streaming 8 KB request (whole exchange) and streaming (first byte),
# sequentially and with 64 concurrent connections. Prints the added p50/p99
# of each over direct and the ratios messages/chat and budgets/chat.
#   bash bench/router_messages.sh [BUILD_DIR] [N_SEQUENTIAL] [N_CONCURRENT]
set -euo pipefail
BUILD=${1:-build}
NSEQ=${2:-2000}
NCONC=${3:-6400}
if [ -n "${BENCH_SMOKE:-}" ]; then NSEQ=50; NCONC=128; fi
cd "$(dirname "$0")/.."
cmake --build "$BUILD" --target coopd bench-router_emu bench-router_load >/dev/null
LOAD="$BUILD/bench/bench-router_load"

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1200); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; return 1; }

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT

python3 - "$tmp" <<'PY'
import json, sys
d = sys.argv[1]
line = "    for (size_t i = 0; i < n; i++) total += weights[i] * values[i]; /* accumulate */\n"
text = "Explain this function:\n" + line * (8192 // len(line))
for stream in (False, True):
    sfx = "-stream" if stream else ""
    chat = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": text}], "max_tokens": 64}
    direct = dict(chat, model="gpt-4o")
    msgs = {"model": "openai/gpt-4o", "max_tokens": 64, "messages": [{"role": "user", "content": text}]}
    for name, body in (("direct", direct), ("chat", chat), ("messages", msgs)):
        if stream:
            body = dict(body, stream=True)
        with open("%s/%s%s.json" % (d, name, sfx), "w") as f:
            json.dump(body, f, separators=(",", ":"))
PY

PE=$(port)
"$BUILD/bench/bench-router_emu" "$PE" 1 & EMU_PID=$!
wait_http "http://127.0.0.1:$PE/"

start_coopd() { # dir port [VAR=value...]
  local dir=$1 p=$2; shift 2
  env COOP_DATA_DIR="$dir" COOP_LISTEN="127.0.0.1:$p" COOP_HTTP_THREADS=2 COOP_WORKERS=1 COOP_RATE_LIMIT=0 \
    OPENAI_API_KEY=sk-bench-key-0000000000 COOP_OPENAI_BASE_URL="http://127.0.0.1:$PE/v1" "$@" \
    "$BUILD/coopd" serve 2>"$dir.log" &
  for _ in $(seq 1200); do curl -fs "http://127.0.0.1:$p/healthz" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}

PA=$(port)
start_coopd "$tmp/plain" "$PA"
PB=$(port)
mkdir -p "$tmp/budgets"
BUDGET_VARS=(COOP_BUDGET_TOKEN_RPM=100000000 COOP_BUDGET_TOKEN_TOKENS_PER_DAY=2000000000
  COOP_BUDGET_CUSTOMER_RPM=100000000 COOP_BUDGET_CUSTOMER_TOKENS_PER_DAY=2000000000)
start_coopd "$tmp/budgets" "$PB" "${BUDGET_VARS[@]}"
# A token bound to a customer, so that both the token's and the customer's
# limits are checked on every request.
TOKEN=$(env COOP_DATA_DIR="$tmp/budgets" "$BUILD/coopd" token create --scope llm --customer bench | tail -1)

run() { # name conc n mode url body [headers...]
  local name=$1 conc=$2 n=$3 mode=$4 url=$5 body=$6; shift 6
  echo "$name $conc $mode $("$LOAD" "$url" "$body" "$conc" "$n" "$mode" "$@")"
}

results="$tmp/results"
: >"$results"
for conc in 1 64; do
  n=$NSEQ; [ "$conc" = 64 ] && n=$NCONC
  for mode in total ttfb; do
    sfx=""; [ "$mode" = ttfb ] && sfx="-stream"
    run direct "$conc" "$n" "$mode" "http://127.0.0.1:$PE/v1/chat/completions" "$tmp/direct$sfx.json" >>"$results"
    run chat "$conc" "$n" "$mode" "http://127.0.0.1:$PA/v1/chat/completions" "$tmp/chat$sfx.json" >>"$results"
    run messages "$conc" "$n" "$mode" "http://127.0.0.1:$PA/v1/messages" "$tmp/messages$sfx.json" >>"$results"
    run budgets "$conc" "$n" "$mode" "http://127.0.0.1:$PB/v1/chat/completions" "$tmp/chat$sfx.json" \
      "Authorization: Bearer $TOKEN" >>"$results"
  done
done

python3 - "$results" "$NSEQ" "$NCONC" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    name, conc, mode, p50, p99, failed = line.split()
    rows[(name, int(conc), mode)] = (float(p50), float(p99), int(failed))
print("router /v1/messages and budgets: added latency over calling the emulator directly")
print("(ms; N=%s sequential, %s at 64 concurrent; load average at the end %s)" % (sys.argv[2], sys.argv[3], sys.argv[4]))
print("%-42s %9s %9s %9s %9s %9s %9s %9s %9s %9s" % (
    "scenario", "direct50", "chat+50", "chat+99", "msgs+50", "msgs+99", "budg+50", "budg+99",
    "msgs/chat", "budg/chat"))
for conc in (1, 64):
    for mode, label in (("total", "non-streaming 8 KB, whole"), ("ttfb", "streaming, first byte")):
        d = rows[("direct", conc, mode)]
        add = lambda name, i: rows[(name, conc, mode)][i] - d[i]
        name = "%s, %s" % (label, "sequential" if conc == 1 else "64 concurrent")
        chat = max(add("chat", 0), 0.001)
        print("%-42s %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %9.2f %9.2f" % (
            name, d[0], add("chat", 0), add("chat", 1), add("messages", 0), add("messages", 1),
            add("budgets", 0), add("budgets", 1), add("messages", 0) / chat, add("budgets", 0) / chat))
        fails = sum(rows[(n, conc, mode)][2] for n in ("direct", "chat", "messages", "budgets"))
        if fails:
            print("  (failed requests in this scenario: %d)" % fails)
PY
