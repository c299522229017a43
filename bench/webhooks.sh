#!/usr/bin/env bash
# Webhook ingestion benchmark: sustained signed 10 KB GitHub push deliveries
# from wrk (2 threads, 64 connections, keep-alive, unique delivery ids) to
# coopd on SQLite with synchronous=FULL. A 202 means the delivery row and
# its job are committed (group commit), so acknowledged deliveries/s is the
# durable ingestion rate. Also: p99 acknowledgement latency, that every
# acknowledged delivery is stored, how fast the workers then process those
# deliveries, and no-op job throughput (bench-jobs_noop). The baseline of
# this same run is one durable single-row commit per delivery.
# BENCH_BASELINE_COOPD=path/to/another/coopd runs the same load against that
# binary first (an older build), so that old and new are compared
# back-to-back on the same machine load, with BENCH_BASELINE_HTTP_THREADS
# (64 by default: builds before held acknowledgements needed a thread per
# waiting request). COOP_HTTP_THREADS is the number of cores unless
# BENCH_HTTP_THREADS says otherwise.
#   bash bench/webhooks.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
BUILD=${1:-build}
DUR=${2:-${BENCH_SECONDS:-10}}
JOBS_N=${BENCH_JOBS:-100000}
HTTP_THREADS=${BENCH_HTTP_THREADS:-$(nproc)}
BASE_COOPD=${BENCH_BASELINE_COOPD:-}
BASE_THREADS=${BENCH_BASELINE_HTTP_THREADS:-64}
RATE=${BENCH_WEBHOOK_RATE:-3000}
PACED_RUNS=${BENCH_WEBHOOK_PACED_RUNS:-1}
[ -n "${BENCH_SMOKE:-}" ] && DUR=1 && JOBS_N=1000
cd "$(dirname "$0")/.."
cmake --build "$BUILD" --target coopd bench-jobs_noop bench-webhook_sig >/dev/null
command -v wrk >/dev/null || { echo "wrk is missing (make deps)"; exit 1; }

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 200); do curl -fs "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }

# Data on the same file system as the build (not a tmpfs), so commits hit the disk.
tmp=$(mktemp -d -p "$BUILD" bench-webhooks.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
SECRET=bench-webhook-secret

python3 - "$tmp/body.json" "$SECRET" >"$tmp/sig" 2>"$tmp/body.ratio" <<'PY'
# A push as GitHub sends one: commits with their own ids, messages and
# files, until the body passes 10 KB. Seeded, so every run sends the same.
# It deflates about as well as real pushes (@octokit/webhooks-examples'
# push examples: 4.5-4.8 at zlib level 1), which matters since coopd stores
# bodies deflated; the ratio is printed.
import hashlib, hmac, json, random, sys, zlib
rng = random.Random(7)
words = ("fix add remove update refactor parser cache index query owner graph push review "
         "branch file path test docs build release bump handle error edge case").split()
def commit(i):
    sha = hashlib.sha1(b"commit %d" % i).hexdigest()
    msg = " ".join(rng.choice(words) for _ in range(rng.randint(4, 12))).capitalize()
    files = ["src/%s/%s_%d.c" % (rng.choice(words), rng.choice(words), rng.randint(1, 999))
             for _ in range(rng.randint(1, 4))]
    who = rng.choice([("Octo Cat", "octocat"), ("Mona Lisa", "monalisa"), ("Hu Bot", "hubot")])
    person = {"name": who[0], "email": "%s@example.com" % who[1], "username": who[1]}
    return {"id": sha, "tree_id": hashlib.sha1(sha.encode()).hexdigest(),
            "message": msg + "\n\n" + " ".join(rng.choice(words) for _ in range(rng.randint(0, 20))),
            "timestamp": "2024-05-%02dT%02d:%02d:00Z" % (rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59)),
            "author": person, "committer": person, "distinct": True,
            "added": files[:1], "modified": files[1:], "removed": [],
            "url": "https://github.com/octo/hello/commit/" + sha}
commits = []
while True:
    commits.append(commit(len(commits)))
    p = {"ref": "refs/heads/main", "before": hashlib.sha1(b"before").hexdigest(),
         "after": commits[-1]["id"], "created": False, "deleted": False, "forced": False,
         "compare": "https://github.com/octo/hello/compare/%s...%s" % (commits[0]["id"][:12], commits[-1]["id"][:12]),
         "commits": commits, "head_commit": commits[-1],
         "repository": {"id": 1, "full_name": "octo/hello", "html_url": "https://github.com/octo/hello",
                        "default_branch": "main"},
         "pusher": {"name": "octocat", "email": "octo@example.com"}, "sender": {"login": "octocat"}}
    body = json.dumps(p).encode()
    if len(body) >= 10240:
        break
open(sys.argv[1], "wb").write(body)
print("sha256=" + hmac.new(sys.argv[2].encode(), body, hashlib.sha256).hexdigest())
sys.stderr.write("%.2f\n" % (len(body) / len(zlib.compress(body, 1))))
PY
BODY_BYTES=$(stat -c %s "$tmp/body.json")
BODY_RATIO=$(cat "$tmp/body.ratio")

echo "-- no-op jobs" >&2
"$BUILD/bench/bench-jobs_noop" "$tmp" "$JOBS_N" 1 >"$tmp/jobs.txt"
cat "$tmp/jobs.txt" >&2
BASE=$(awk '/one durable commit/ {print $(NF-1)}' "$tmp/jobs.txt")
rm -f "$tmp"/jobs-bench.db*

cpu_ticks() { awk '{print $14 + $15}' /proc/$COOPD/stat; }
drain() {
# Wait for the workers to process every stored delivery.
python3 - "$tmp/coop.db" "$1" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=30)
t_end = float(sys.argv[2])
while db.execute("SELECT COUNT(*) FROM coop_jobs WHERE state IN ('queued','running')"
                 " AND kind = 'webhook.github'").fetchone()[0]:
    time.sleep(0.05)
t_drained = time.time()
rows, done, once = db.execute("SELECT COUNT(*), SUM(p.processed_at IS NOT NULL), SUM(p.process_count = 1)"
                              " FROM coop_webhook_deliveries d LEFT JOIN coop_webhook_processed p"
                              " ON p.delivery_id = d.id").fetchone()
first = db.execute("SELECT MIN(received_at) FROM coop_webhook_deliveries").fetchone()[0]
last = db.execute("SELECT MAX(processed_at) FROM coop_webhook_processed").fetchone()[0]
print(rows, done, once, "%.3f" % ((last - first) / 1000.0), "%.3f" % (t_drained - t_end))
PY
}
# One load run against coopd binary $1 with $3 HTTP threads; results in
# $tmp/$2.*: wrk's output, what the database holds after the drain, CPU
# ticks and load averages.
run_load() {
  local bin=$1 tag=$2 threads=$3 rate=${4:-}
  rm -f "$tmp"/coop.db*
  P=$(port)
  COOP_DATA_DIR="$tmp" COOP_LISTEN="127.0.0.1:$P" COOP_HTTP_THREADS=$threads COOP_WORKERS=1 \
    COOP_GITHUB_WEBHOOK_SECRET="$SECRET" COOP_LOG_LEVEL=warn \
    "$bin" serve 2>"$tmp/$tag.log" & COOPD=$!
  wait_up "$P"
  echo "-- webhooks ($tag: $bin)" >&2
  local load0 cpu0 cpu1 cpu2 t_end
  load0=$(cut -d' ' -f1 /proc/loadavg)
  cpu0=$(cpu_ticks)
  WRK_RATE=$rate WH_BODY="$tmp/body.json" WH_SIG=$(cat "$tmp/sig") WH_RUN="run$$$tag" \
    /usr/bin/time -f "%U %S" -o "$tmp/$tag.wrkcpu" \
    wrk -t2 -c64 -d"${DUR}s" --latency -s bench/webhooks.lua "http://127.0.0.1:$P/" | tee "$tmp/$tag.wrk" >&2
  cpu1=$(cpu_ticks)
  t_end=$(date +%s.%N)
  drain "$t_end" >"$tmp/$tag.drain"
  cpu2=$(cpu_ticks)
  awk '/VmRSS/ {print $2}' /proc/$COOPD/status >"$tmp/$tag.rss"
  echo "$load0 $(cut -d' ' -f1 /proc/loadavg) $cpu0 $cpu1 $cpu2" >"$tmp/$tag.stat"
  kill -TERM $COOPD; wait $COOPD || true
}

[ -n "$BASE_COOPD" ] && run_load "$BASE_COOPD" base "$BASE_THREADS"
run_load "$BUILD/coopd" new "$HTTP_THREADS"
for i in $(seq "$PACED_RUNS"); do run_load "$BUILD/coopd" "paced$i" "$HTTP_THREADS" "$RATE"; done

python3 - "$tmp" "$BASE" "$DUR" "$BODY_BYTES" "$HTTP_THREADS" "$BASE_COOPD" "$BASE_THREADS" "$RATE" "$PACED_RUNS" "$BODY_RATIO" <<'PY'
import os, re, sys
tmp, base, dur, size, threads, base_bin, base_threads, rate = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7], sys.argv[8]
paced_runs = int(sys.argv[9])
body_ratio = sys.argv[10]

def result(tag):
    wrk = open(os.path.join(tmp, tag + ".wrk")).read()
    rows, done, once, span, tail = open(os.path.join(tmp, tag + ".drain")).read().split()
    load0, load1, cpu0, cpu1, cpu2 = open(os.path.join(tmp, tag + ".stat")).read().split()
    total = int(re.search(r"(\d+) requests in", wrk).group(1))
    secs = float(re.search(r"requests in ([\d.]+)s", wrk).group(1))
    non2xx = int(re.search(r"Non-2xx or 3xx responses: (\d+)", wrk).group(1)) if "Non-2xx" in wrk else 0
    errors = re.search(r"Socket errors: (.*)", wrk)
    def ms(label):
        m = re.search(r"\s%s\s+([\d.]+)(us|ms|s)\b" % re.escape(label), wrk)
        v, u = float(m.group(1)), m.group(2)
        return v / 1000 if u == "us" else v * 1000 if u == "s" else v
    acks = total - non2xx
    tick = 100.0  # getconf CLK_TCK
    wrk_cpu = sum(float(x) for x in open(os.path.join(tmp, tag + ".wrkcpu")).read().split())
    return dict(total=total, acks=acks, rate=acks / secs, p50=ms("50%"), p90=ms("90%"), p99=ms("99%"), non2xx=non2xx,
                errors=errors.group(1) if errors else "", rows=int(rows), done=int(done), once=int(once),
                proc_rate=int(done) / float(span), tail=float(tail), load0=load0, load1=load1,
                per=(int(cpu1) - int(cpu0)) / tick / max(acks, 1) * 1e6,
                per_all=(int(cpu2) - int(cpu0)) / tick / max(int(rows), 1) * 1e6,
                wrk_per=wrk_cpu / max(total, 1) * 1e6,
                rss=int(open(os.path.join(tmp, tag + ".rss")).read()) / 1024.0)

def report(r, title):
    print(title)
    print("  acknowledged (202)         : %10.0f deliveries/s (goal >= 3,000)" % r["rate"])
    print("  ack latency p50 / p99      : %7.2f / %.2f ms (goal p99 < 20 ms)" % (r["p50"], r["p99"]))
    print("  refused or failed          : %10d%s" % (r["non2xx"], ("; socket errors: " + r["errors"]) if r["errors"] else ""))
    print("  baseline, 1 commit/delivery: %10.0f commits/s; ratio acks/baseline %.1f" % (base, r["rate"] / base))
    print("  stored / acknowledged      : %10d / %d (every ack stored: %s)" % (r["rows"], r["acks"], r["rows"] >= r["acks"]))
    print("  processed exactly once     : %10d of %d" % (r["once"], r["rows"]))
    print("  processing rate (10 KB push parsed + recorded): %.0f deliveries/s, queue drained %.1f s after the load" % (r["proc_rate"], r["tail"]))
    print("  coopd RSS after the run    : %10.1f MB" % r["rss"])
    print("  coopd CPU per delivery     : %10.0f us during the load (ingest + concurrent processing),"
          " %.0f us ingest+process in all" % (r["per"], r["per_all"]))
    print("  wrk CPU per request        : %10.0f us" % r["wrk_per"])
    print("  CPU-bound ceiling, 2 idle cores: %.0f deliveries/s ingested and processed"
          " (2 s of CPU / (coopd + wrk CPU per delivery))" % (2.0 / (r["per_all"] / 1e6 + r["wrk_per"] / 1e6)))
    print("  machine load average       : %s at start, %s at end (%d cores)" % (r["load0"], r["load1"], os.cpu_count()))

print("webhooks: signed %d-byte GitHub pushes (deflate ratio %s at zlib level 1), wrk -t2 -c64 -d%ds,"
      " SQLite synchronous=FULL," % (size, body_ratio, dur))
print("          COOP_HTTP_THREADS=%s COOP_WORKERS=1 (workers process while ingesting)" % threads)
new = result("new")
if base_bin:
    old = result("base")
    report(old, "baseline binary %s, COOP_HTTP_THREADS=%s (run first):" % (base_bin, base_threads))
    report(new, "this build:")
    print("  this build / baseline binary: acks/s x%.2f, p99 x%.2f, CPU per delivery during the load x%.2f"
          % (new["rate"] / old["rate"], new["p99"] / old["p99"], new["per"] / old["per"]))
else:
    report(new, "this build:")
for i in range(1, paced_runs + 1):
    paced = result("paced%d" % i)
    print("this build, paced at %s deliveries/s (bench/paced.lua; same wrk -t2 -c64), run %d of %d:"
          % (rate, i, paced_runs))
    print("  acknowledged (202)         : %10.0f deliveries/s (goal >= 3,000)" % paced["rate"])
    print("  ack latency p50 / p90 / p99: %7.2f / %.2f / %.2f ms (goal p99 < 20 ms)" % (paced["p50"], paced["p90"], paced["p99"]))
    print("  refused or failed          : %10d%s" % (paced["non2xx"], ("; socket errors: " + paced["errors"]) if paced["errors"] else ""))
    print("  stored / acknowledged      : %10d / %d; processed exactly once: %d of %d"
          % (paced["rows"], paced["acks"], paced["once"], paced["rows"]))
if paced_runs > 1:
    p99s = sorted(result("paced%d" % i)["p99"] for i in range(1, paced_runs + 1))
    print("paced p99 of the %d runs: %s ms; median %.2f ms, highest %.2f ms"
          % (paced_runs, ", ".join("%.2f" % p for p in p99s), p99s[(len(p99s) - 1) // 2], p99s[-1]))
PY
echo
cat "$tmp/jobs.txt"
echo
if [ -n "${BENCH_SMOKE:-}" ]; then "$BUILD/bench/bench-webhook_sig" 200; else "$BUILD/bench/bench-webhook_sig"; fi
