#!/usr/bin/env bash
# Graph benchmark.
#  1. A synthetic history (bench/gen_history.py: COMMITS commits over FILES
#     files, renames, a 40-file commit every 200) is made into a git
#     repository with git fast-import (once; kept in BENCH_GRAPH_DIR).
#  2. Import speed: `git log --reverse --name-status --find-renames -z`
#     writing the stream coopd reads, against `coopd import --stdin` of that
#     same stream into a fresh store, and the whole `coopd import --git`
#     pipeline; prints the times and the ratio (goal: import <= 2x git log).
#  3. Queries: wrk (2 threads, 32 connections, keep-alive) on /v1/owners and
#     /v1/history?limit=20 for the file with the most revisions: req/s and
#     p99 (goals: >= 20,000 req/s, p99 < 2 ms). RSS of the import and of
#     the server after the runs. Each is run twice: flat out (every
#     connection sends its next request when the last answer is in, so the
#     two cores, shared with wrk, are saturated and p99 is mostly time spent
#     queued for a core) and paced by bench/paced.lua at BENCH_GRAPH_RATE
#     requests/s in all (21,000 by default: the throughput goal with a
#     margin), which is the p99 a client sees at that rate. /healthz, which
#     touches no data, is run the same two ways: the floor of the HTTP path
#     on this machine.
#   bash bench/graph.sh [BUILD_DIR] [SECONDS]
# BENCH_GRAPH_QUERIES_ONLY=1 repeats only the query part on the last import
# (its import figures are those of that run).
set -euo pipefail
BUILD=${1:-build}
DUR=${2:-${BENCH_SECONDS:-10}}
COMMITS=${COMMITS:-200000}
FILES=${FILES:-20000}
QUERIES=20000
if [ -n "${BENCH_SMOKE:-}" ]; then DUR=1; COMMITS=300; FILES=50; QUERIES=200; fi
WORK=${BENCH_GRAPH_DIR:-${TMPDIR:-/tmp}/coop-bench-graph-$COMMITS-$FILES}
# A smoke run keeps nothing: its history is small and made again each time.
SMOKE_WORK=""
if [ -n "${BENCH_SMOKE:-}" ] && [ -z "${BENCH_GRAPH_DIR:-}" ]; then
  WORK=$(mktemp -d); SMOKE_WORK=$WORK
fi
cd "$(dirname "$0")/.."
ROOT=$PWD
cmake --build "$BUILD" --target coopd bench-graph_query >/dev/null
command -v wrk >/dev/null || { echo "wrk is missing (make deps)"; exit 1; }
BUILD=$(realpath -m "$BUILD")  # relative to the repository, or absolute
COOPD=$BUILD/coopd
FORMAT='--format=%x01%H%x00%at%x00%aN%x00%aE%x00%s%x00'

mkdir -p "$WORK"
if [ ! -f "$WORK/repo/.done" ]; then
  rm -rf "$WORK/repo"
  git init -q -b main "$WORK/repo"
  echo "-- generating $COMMITS commits over $FILES files (once)" >&2
  start=$(date +%s)
  python3 bench/gen_history.py "$COMMITS" "$FILES" | git -C "$WORK/repo" fast-import --done --quiet
  git -C "$WORK/repo" reset -q --hard main
  touch "$WORK/repo/.done"
  echo "   took $(( $(date +%s) - start )) s" >&2
fi

now() { date +%s.%N; }
if [ -n "${BENCH_GRAPH_QUERIES_ONLY:-}" ] && [ -f "$WORK/times" ]; then
  # the queries again, on the store the last full run imported
  read -r t0 t1 t2 t3 t4 < "$WORK/times"
else
# git log as coopd import --git runs it, into a file (the stream coopd reads)
t0=$(now)
git -C "$WORK/repo" -c log.showsignature=false log --reverse --name-status --find-renames \
  --no-color -z "$FORMAT" HEAD > "$WORK/stream"
t1=$(now)
rm -rf "$WORK/data"; mkdir -p "$WORK/data"
COOP_DATA_DIR="$WORK/data" "$COOPD" migrate >/dev/null 2>&1
/usr/bin/time -f '%M' -o "$WORK/import.rss" env COOP_DATA_DIR="$WORK/data" \
  "$COOPD" import --repo bench/synthetic --stdin < "$WORK/stream" > "$WORK/import.out" 2>/dev/null
t2=$(now)
cat "$WORK/import.out" >&2
# the whole pipeline, git log included, into another fresh store
rm -rf "$WORK/data2"; mkdir -p "$WORK/data2"
COOP_DATA_DIR="$WORK/data2" "$COOPD" migrate >/dev/null 2>&1
t3=$(now)
COOP_DATA_DIR="$WORK/data2" "$COOPD" import --repo bench/synthetic --git "$WORK/repo" >/dev/null 2>&1
t4=$(now)
rm -rf "$WORK/data2"
echo "$t0 $t1 $t2 $t3 $t4" > "$WORK/times"
fi

# the file with the most revisions, and a quiet one
HOT=$(git -C "$WORK/repo" log --format= --name-only -n 20000 | sort | uniq -c | sort -rn | awk 'NR==1 {print $2}')

# CPU per question in process (holds even when other work loads the machine)
"$BUILD/bench/bench-graph_query" "sqlite:$WORK/data/coop.db" bench/synthetic "$HOT" "$QUERIES" \
  > "$WORK/cpu.txt"

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 200); do curl -fs "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }
P=$(port)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -z "$SMOKE_WORK" ] || rm -rf "$SMOKE_WORK"' EXIT
COOP_DATA_DIR="$WORK/data" COOP_LISTEN="127.0.0.1:$P" COOP_HTTP_THREADS="$(nproc)" COOP_WORKERS=1 \
  COOP_LOG_LEVEL=warn COOP_RATE_LIMIT=0 "$COOPD" serve 2>"$WORK/coopd.log" & SERVER=$!
wait_up "$P"
OWNERS="http://127.0.0.1:$P/v1/owners?repo=bench/synthetic&path=$HOT"
HISTORY="http://127.0.0.1:$P/v1/history?repo=bench/synthetic&path=$HOT&limit=20"
curl -fs "$OWNERS" > "$WORK/owners.json"
curl -fs "$HISTORY" > "$WORK/history.json"
RATE=${BENCH_GRAPH_RATE:-21000}
bench() { wrk -t2 -c32 -d"${DUR}s" --latency "$1" | tee "$WORK/wrk.$2" >&2; }
paced() { WRK_RATE=$RATE wrk -t2 -c32 -d"${DUR}s" --latency -s bench/paced.lua "$1" | tee "$WORK/wrk.$2.paced" >&2; }
echo "-- wrk /healthz (the HTTP floor, same server, same moment)" >&2; bench "http://127.0.0.1:$P/healthz" healthz
echo "-- wrk $OWNERS" >&2; bench "$OWNERS" owners
echo "-- wrk $HISTORY" >&2; bench "$HISTORY" history
echo "-- the same, paced at $RATE requests/s" >&2
paced "http://127.0.0.1:$P/healthz" healthz
paced "$OWNERS" owners
paced "$HISTORY" history
SERVE_RSS_KB=$(awk '/VmRSS/ {print $2}' /proc/$SERVER/status)
kill -TERM $SERVER; wait $SERVER || true
DB_MB=$(du -sm "$WORK/data" | awk '{print $1}')

python3 - "$t0" "$t1" "$t2" "$t3" "$t4" "$(cat "$WORK/import.rss")" "$SERVE_RSS_KB" "$DB_MB" \
  "$WORK" "$HOT" "$DUR" "$COMMITS" "$FILES" "$RATE" <<'PY'
import json, re, sys
t0, t1, t2, t3, t4 = map(float, sys.argv[1:6])
import_rss, serve_rss, db_mb = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])
work, hot, dur, commits, files, rate = sys.argv[9:15]

def wrk(name):
    text = open("%s/wrk.%s" % (work, name)).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    def pct(label):
        m = re.search(r"\s%s\s+([\d.]+)(us|ms|s)\b" % label, text)
        return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
    return rps, pct("99%"), pct("50%")

git_s, imp_s, pipe_s = t1 - t0, t2 - t1, t4 - t3
hist = json.load(open(work + "/history.json"))
print("graph: %s commits, %s files (bench/gen_history.py)" % (commits, files))
print("  git log --name-status -z (stream to a file) : %8.2f s" % git_s)
print("  coopd import --stdin of that stream        : %8.2f s  (%.0f commits/s)" % (imp_s, int(commits) / imp_s))
print("  ratio import / git log                     : %8.2f   (goal <= 2.0)" % (imp_s / git_s))
print("  coopd import --git (git log + import)      : %8.2f s" % pipe_s)
print("  import peak RSS                            : %8.1f MB" % (import_rss / 1024))
print("  store size after import                    : %8d MB" % db_mb)
print("  hot file %s, %d commits on the first history page" % (hot, len(hist["commits"])))
print("  wrk -t2 -c32 -d%ss, keep-alive, flat out (cores saturated):" % dur)
floor, floor_p99, _ = wrk("healthz")
print("    /healthz   : %8.0f req/s, p99 %.2f ms (the HTTP floor)" % (floor, floor_p99))
for name in ("owners", "history"):
    rps, p99, _ = wrk(name)
    print("    /v1/%-7s: %8.0f req/s, p99 %.2f ms (goals >= 20000, < 2 ms), %.2f of /healthz"
          % (name, rps, p99, rps / floor))
print("  the same, paced at %s requests/s in all (bench/paced.lua):" % rate)
for name in ("healthz", "owners", "history"):
    rps, p99, p50 = wrk(name + ".paced")
    label = "/healthz" if name == "healthz" else "/v1/" + name
    print("    %-11s: %8.0f req/s, p50 %.2f ms, p99 %.2f ms%s"
          % (label, rps, p50, p99, "" if name == "healthz" else " (goals >= 20000, < 2 ms)"))
print("  coopd serve RSS after the runs             : %8.1f MB" % (serve_rss / 1024))
print("  in process (bench-graph_query):")
for line in open(work + "/cpu.txt"):
    print("    " + line.rstrip())
PY
