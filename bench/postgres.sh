#!/usr/bin/env bash
# PostgreSQL benchmark: webhook ingestion and job processing with coopd on
# SQLite (the baseline of this same run), on PostgreSQL with one instance,
# and on PostgreSQL with two instances sharing the database. Load: signed
# 10 KB GitHub pushes with unique delivery ids from wrk (one wrk per
# instance, 1 thread, 32 connections each). A 202 means the delivery and its
# job are committed, so acknowledged/s is the durable ingestion rate; the
# processing rate is deliveries parsed and recorded by the job workers per
# second (first receipt to last processing). PostgreSQL runs durable
# (fsync, synchronous_commit on), like SQLite with synchronous=FULL.
#   bash bench/postgres.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
BUILD=${1:-build}
DUR=${2:-${BENCH_SECONDS:-10}}
# Connections per wrk; a smoke run keeps few, so its queues drain fast.
export WRK_CONNS=32
[ -n "${BENCH_SMOKE:-}" ] && DUR=1 && WRK_CONNS=4
cd "$(dirname "$0")/.."
cmake --build "$BUILD" --target coopd >/dev/null
command -v wrk >/dev/null || { echo "wrk is missing (make deps)"; exit 1; }
PSQL=/usr/lib/postgresql/15/bin/psql

port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 600); do curl -fs "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }

# On the build's file system, so both engines hit the disk; a smoke run's
# figures mean nothing, so it takes the temporary folder, where the
# unprivileged postgres user can always reach its cluster.
if [ -n "${BENCH_SMOKE:-}" ]; then
  tmp=$(mktemp -d)
else
  tmp=$(mktemp -d -p "$BUILD" bench-postgres.XXXXXX)
fi
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  tests/pg/pg_harness stop "$tmp/pg.json" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
SECRET=bench-webhook-secret

python3 - "$tmp/body.json" "$SECRET" >"$tmp/sig" <<'PY'
import hashlib, hmac, json, sys
commits = [{"id": "%040x" % i, "message": "Change number %d\n\nWith a body." % i,
            "timestamp": "2024-05-01T10:00:00Z",
            "author": {"name": "Octo Cat", "email": "octo@example.com", "username": "octocat"},
            "added": ["src/new_%d.c" % i], "modified": ["src/file_%d.c" % i, "README.md"], "removed": []}
           for i in range(20)]
p = {"ref": "refs/heads/main", "before": "a" * 40, "after": "%040x" % 19, "commits": commits,
     "compare": "https://github.com/octo/hello/compare/a...b",
     "repository": {"full_name": "octo/hello", "html_url": "https://github.com/octo/hello",
                    "default_branch": "main"},
     "pusher": {"name": "octocat", "email": "octo@example.com"}, "sender": {"login": "octocat"}}
body = json.dumps(p).encode()
while len(body) < 10240:
    p["compare"] += "x" * (10240 - len(body))
    body = json.dumps(p).encode()
open(sys.argv[1], "wb").write(body)
print("sha256=" + hmac.new(sys.argv[2].encode(), body, hashlib.sha256).hexdigest())
PY

# The cluster on the same file system as SQLite's file, so both hit the disk.
chmod 755 "$tmp"
TMPDIR="$tmp" tests/pg/pg_harness start "$tmp/pg.json" --durable >/dev/null
PGURL=$(cat "$tmp/pg.json.url")
[ -n "$PGURL" ] || { echo "PostgreSQL did not start"; exit 1; }
LOAD_START=$(cut -d' ' -f1 /proc/loadavg)

# run NAME STORE INSTANCES: ingestion under wrk, then the queue drained.
run() {
  local name=$1 store=$2 n=$3 ports=() i
  for i in $(seq "$n"); do
    local p; p=$(port); ports+=("$p")
    mkdir -p "$tmp/$name-$i"
    COOP_DATA_DIR="$tmp/$name-$i" COOP_STORE="$store" COOP_LISTEN="127.0.0.1:$p" \
      COOP_HTTP_THREADS=32 COOP_WORKERS=2 COOP_GITHUB_WEBHOOK_SECRET="$SECRET" COOP_LOG_LEVEL=warn \
      "$BUILD/coopd" serve 2>"$tmp/$name-$i.log" & PIDS+=($!)
  done
  for p in "${ports[@]}"; do wait_up "$p"; done
  local wrks=()
  for i in $(seq "$n"); do
    WH_BODY="$tmp/body.json" WH_SIG=$(cat "$tmp/sig") WH_RUN="$name$i" \
      wrk -t1 -c"$WRK_CONNS" -d"${DUR}s" --latency -s bench/webhooks.lua "http://127.0.0.1:${ports[$((i-1))]}/" \
      >"$tmp/$name-wrk$i.txt" & wrks+=($!)
  done
  wait "${wrks[@]}"
  # Drain, then count from the store.
  if [[ $store == sqlite:* ]]; then
    python3 - "${store#sqlite:}" >"$tmp/$name.drain" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=60)
q = "SELECT COUNT(*) FROM coop_jobs WHERE state IN ('queued','running') AND kind = 'webhook.github'"
while db.execute(q).fetchone()[0]:
    time.sleep(0.05)
print(*db.execute("SELECT COUNT(*), SUM(p.process_count = 1), (MAX(p.processed_at) - MIN(d.received_at))"
                  " FROM coop_webhook_deliveries d LEFT JOIN coop_webhook_processed p"
                  " ON p.delivery_id = d.id").fetchone())
PY
  else
    while [ "$("$PSQL" -At -d "$store" -c "SELECT COUNT(*) FROM coop_jobs WHERE state IN ('queued','running') AND kind = 'webhook.github'")" != 0 ]; do
      sleep 0.1
    done
    "$PSQL" -At -F' ' -d "$store" -c "SELECT COUNT(*), SUM(CASE WHEN p.process_count = 1 THEN 1 ELSE 0 END),
      MAX(p.processed_at) - MIN(d.received_at) FROM coop_webhook_deliveries d
      LEFT JOIN coop_webhook_processed p ON p.delivery_id = d.id" >"$tmp/$name.drain"
  fi
  for i in $(seq "$n"); do kill -TERM "${PIDS[-$i]}" 2>/dev/null || true; done
  wait "${PIDS[@]}" 2>/dev/null || true
  PIDS=()
  cat "$tmp/$name"-wrk*.txt >"$tmp/$name.wrk"
}

schema_url() {
  "$PSQL" -q -d "$PGURL" -c "CREATE SCHEMA $1"
  echo "$PGURL?options=-c%20search_path%3D$1"
}

echo "-- sqlite, one instance" >&2
run sqlite "sqlite:$tmp/sqlite.db" 1
echo "-- postgresql, one instance" >&2
run pg1 "$(schema_url pg1)" 1
echo "-- postgresql, two instances" >&2
run pg2 "$(schema_url pg2)" 2
LOAD_END=$(cut -d' ' -f1 /proc/loadavg)

python3 - "$tmp" "$DUR" "$LOAD_START" "$LOAD_END" <<'PY'
import os, re, sys
tmp, dur = sys.argv[1], int(sys.argv[2])
def stats(name):
    wrk = open(os.path.join(tmp, name + ".wrk")).read()
    total = sum(int(x) for x in re.findall(r"(\d+) requests in", wrk))
    secs = max(float(x) for x in re.findall(r"requests in ([\d.]+)s", wrk))
    non2xx = sum(int(x) for x in re.findall(r"Non-2xx or 3xx responses: (\d+)", wrk))
    def ms(v, u):
        v = float(v)
        return v / 1000 if u == "us" else v * 1000 if u == "s" else v
    p99 = max(ms(*m) for m in re.findall(r"\s99%\s+([\d.]+)(us|ms|s)\b", wrk))
    rows, once, span_ms = open(os.path.join(tmp, name + ".drain")).read().split()
    acks = total - non2xx
    return {"ack": acks / secs, "p99": p99, "rows": int(rows), "acks": acks, "once": int(once),
            "proc": int(rows) / (int(span_ms) / 1000.0) if int(span_ms) > 0 else 0.0}
s = {n: stats(n) for n in ("sqlite", "pg1", "pg2")}
base = s["sqlite"]
print("postgres: signed 10 KB GitHub pushes, wrk -t1 -c%s -d%ds per instance," % (os.environ["WRK_CONNS"], dur))
print("          COOP_HTTP_THREADS=32 COOP_WORKERS=2 per instance; durable commits on both engines")
print("  %-28s %12s %10s %14s %16s %10s" % ("", "acks/s", "ratio", "ack p99 ms", "processed/s", "ratio"))
for n, label in (("sqlite", "SQLite, 1 instance"), ("pg1", "PostgreSQL, 1 instance"),
                 ("pg2", "PostgreSQL, 2 instances")):
    x = s[n]
    print("  %-28s %12.0f %10.2f %14.1f %16.0f %10.2f" % (label, x["ack"], x["ack"] / base["ack"], x["p99"],
          x["proc"], x["proc"] / base["proc"] if base["proc"] else 0))
for n in ("sqlite", "pg1", "pg2"):
    x = s[n]
    print("  %-7s stored %d of %d acknowledged; processed exactly once: %d" % (n, x["rows"], x["acks"], x["once"]))
print("  machine load average: %s at start, %s at end (%d cores)" % (sys.argv[3], sys.argv[4], os.cpu_count()))
PY
