"""Several coopd instances on one PostgreSQL (COOP_TEST_PG: the ctest
fixture's server or COOP_TEST_PG_URL): three `coopd serve` share one
database, GitHub deliveries are spread over them, one instance is killed
with SIGKILL midway, and deliveries it did not acknowledge are sent again to
the others, as a code host redelivers. Afterwards every acknowledged
delivery is stored once and processed exactly once, a delivery sent to two
instances is processed once, and the graph holds each pushed commit once."""
import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import tempfile
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from coopd_harness import (COOPD, PSQL, Coopd, pg_base_url, pg_drop_schema,  # noqa: E402
                           pg_schema_url, run_tests)

GH = "gh-secret-for-multi-instance-tests"
N = 120
KILL_AT = N // 3


def hub(body):
    return "sha256=" + hmac.new(GH.encode(), body, hashlib.sha256).hexdigest()


def push(n):
    sha = hashlib.sha1(b"multi-%d" % n).hexdigest()
    return json.dumps({
        "ref": "refs/heads/main", "before": "0" * 40, "after": sha,
        "repository": {"html_url": "https://github.com/octo/multi", "default_branch": "main"},
        "pusher": {"name": "octo", "email": "octo@example.com"}, "sender": {"login": "octo"},
        "commits": [{"id": sha, "message": "change %d" % n, "timestamp": "2024-05-01T10:00:00Z",
                     "author": {"name": "Octo", "email": "octo@example.com", "username": "octo"},
                     "added": ["dir/f%d.c" % n], "modified": [], "removed": []}]}).encode()


def headers(body, delivery):
    return {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": hub(body), "Content-Type": "application/json"}


def sql(url, query):
    out = subprocess.run([PSQL, "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", query],
                         check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    return out.stdout.strip()


def deliver(instances, alive, n, acked, lock):
    """Sends delivery n to instance n % 3, and to the next live one when that
    fails (connection refused or reset: not acknowledged)."""
    body = push(n)
    delivery = "multi-%d" % n
    for k in range(len(instances)):
        i = (n + k) % len(instances)
        if not alive[i]:
            continue
        try:
            r = instances[i].post("/webhooks/github", body, headers=headers(body, delivery))
        except OSError:
            continue
        if r.status in (200, 202):
            with lock:
                acked[delivery] = r.json()["duplicate"]
            return
        raise AssertionError("delivery %s answered %d: %s" % (delivery, r.status, r.body[:300]))
    raise AssertionError("no instance acknowledged %s" % delivery)


def test_three_instances_one_killed():
    if not pg_base_url() and os.environ.get("CI") != "true":
        print("skipped: no PostgreSQL server (COOP_TEST_PG_URL)")
        sys.exit(77)
    schema = "coop_multi_%d" % os.getpid()
    url = pg_schema_url(schema)
    env = {"COOP_STORE": url, "COOP_GITHUB_WEBHOOK_SECRET": GH,
           "COOP_JOBS_POLL_MS": "2000"}  # idle workers wake on NOTIFY, not polling
    # Migrated once up front; the instances then find the schema current.
    scratch = tempfile.mkdtemp(prefix="coop-multi-")
    r = subprocess.run([COOPD, "migrate"], env=dict(os.environ, COOP_DATA_DIR=scratch, **env),
                       capture_output=True, timeout=300)
    shutil.rmtree(scratch, ignore_errors=True)
    assert r.returncode == 0, r.stderr[-2000:]
    instances = [Coopd(env=env) for _ in range(3)]
    try:
        starters = [threading.Thread(target=c.start) for c in instances]
        for t in starters:
            t.start()
        for t in starters:
            t.join()
        for c in instances:
            assert c.proc and c.proc.poll() is None, c.log()[-3000:]
        alive = [True, True, True]
        acked, lock = {}, threading.Lock()

        def sender(ns):
            for n in ns:
                if n == KILL_AT:
                    # Midway, while the others keep sending.
                    alive[1] = False
                    instances[1].proc.send_signal(signal.SIGKILL)
                deliver(instances, alive, n, acked, lock)

        threads = [threading.Thread(target=sender, args=(range(t, N, 4),)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        instances[1].proc.wait()
        assert len(acked) == N, sorted(set("multi-%d" % n for n in range(N)) - set(acked))

        # The same deliveries again, each to a live instance other than the
        # first choice: all acknowledged as duplicates.
        for n in range(0, N, 7):
            i = 2 if n % 2 else 0
            body = push(n)
            r = instances[i].post("/webhooks/github", body, headers=headers(body, "multi-%d" % n))
            assert r.status == 200 and r.json()["duplicate"] is True, (n, r.status, r.body)

        deadline = time.time() + 240
        while time.time() < deadline:
            left = int(sql(url, "SELECT COUNT(*) FROM coop_jobs WHERE kind = 'webhook.github'"
                                " AND state IN ('queued','running')"))
            if left == 0:
                break
            time.sleep(0.2)
        assert left == 0, "%d webhook jobs still pending" % left

        rows = sql(url, "SELECT d.delivery, COUNT(*), MIN(p.process_count), MAX(p.process_count)"
                        " FROM coop_webhook_deliveries d LEFT JOIN coop_webhook_processed p"
                        " ON p.delivery_id = d.id GROUP BY d.delivery")
        seen = {}
        for line in rows.splitlines():
            delivery, copies, lo, hi = line.split("|")
            seen[delivery] = (int(copies), lo, hi)
        assert set(seen) == set(acked), set(seen) ^ set(acked)
        for delivery, (copies, lo, hi) in seen.items():
            assert copies == 1 and lo == "1" and hi == "1", (delivery, copies, lo, hi)
        dead = sql(url, "SELECT COUNT(*) FROM coop_jobs WHERE kind = 'webhook.github' AND state <> 'done'")
        assert dead == "0", dead

        # The graph holds each pushed commit once, as one instance would.
        repos = instances[0].get("/v1/repos").json()["repos"]
        multi = [r for r in repos if r["id"] == "github.com/octo/multi"]
        assert multi and multi[0]["commits"] == N, repos
        for i in (0, 2):
            assert instances[i].get("/v1/repos").json()["repos"] == repos
    finally:
        for i, c in enumerate(instances):
            if c.proc and c.proc.poll() is None:
                c.stop()
            elif c.proc and not c.log_file.closed:
                c.log_file.close()
    for i in (0, 2):
        instances[i].check_log_json()
    for c in instances:
        shutil.rmtree(c.data_dir, ignore_errors=True)
    pg_drop_schema(schema)


if __name__ == "__main__":
    run_tests(globals())
