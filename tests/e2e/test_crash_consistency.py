"""Crash consistency under mixed load (DESIGN.md section 7, invariant 3).

One data directory, one coopd at a time, killed with SIGKILL at seeded
random moments and started again, several times, while clients keep up a
mixed load: signed GitHub push webhooks (new deliveries, and again every
delivery whose answer was lost, as GitHub redelivers), graph queries on the
repository those pushes build, and LLM calls through /v1/chat/completions
(streaming and not) to the provider emulator. After a last start:

  - every delivery ever acknowledged (202, or 200 duplicate) is stored, each
    delivery sent is stored once and processed exactly once;
  - the job queue drains: every webhook job done, none dead, nothing left
    running or overdue;
  - both audit hash chains verify (API and `coopd audit verify`), and every
    LLM answer the clients received whole has its audit row.

Runs on SQLite (e2e/) and on PostgreSQL (e2e-pg/). The kill schedule comes
from a seed, printed; COOP_CRASH_SEED=N replays it
(the load's own timing still varies), COOP_CRASH_ROUNDS sets the kills.
"""
import hashlib
import hmac
import http.client
import json
import os
import random
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from coopd_harness import Coopd, e2e_on_postgres, run_tests  # noqa: E402
from provider_emulator import REPLY, Emulator  # noqa: E402

GH = "gh-secret-crash-consistency"
REPO = "github.com/octo/crash"
WEBHOOK_JOBS = "kind LIKE 'webhook.%' AND kind NOT LIKE '%.purge'"
# Seconds between one sender's deliveries: PostgreSQL (e2e-pg) processes
# them more slowly, so it gets fewer.
PACE = 0.2 if e2e_on_postgres() else 0.05
POLICY = {"providers": {"openai": {"policy_url": "https://openai.com/enterprise-privacy/",
                                   "verified_at": "2026-11-02T00:00:00Z"}}}


def push(n):
    return json.dumps({
        "ref": "refs/heads/main", "before": "%040x" % (n + 1 << 80), "after": "%040x" % n,
        "repository": {"html_url": "https://github.com/octo/crash", "default_branch": "main"},
        "pusher": {"name": "octo", "email": "octo@example.com"}, "sender": {"login": "octo"},
        "commits": [{"id": "%040x" % n, "message": "change %d" % n, "timestamp": "2024-05-01T10:00:00Z",
                     "author": {"name": "Octo %d" % (n % 3), "email": "octo%d@example.com" % (n % 3),
                                "username": "octo%d" % (n % 3)},
                     "added": ["f%d.c" % n], "modified": ["shared.c"], "removed": []}]}).encode()


def gh_headers(body, delivery):
    return {"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery, "Content-Type": "application/json",
            "X-Hub-Signature-256": "sha256=" + hmac.new(GH.encode(), body, hashlib.sha256).hexdigest()}


class Load:
    """Clients that follow whichever coopd is current and survive its death."""

    def __init__(self):
        self.lock = threading.Lock()
        self.server = None          # the current Coopd, None while it is down
        self.stop = threading.Event()
        self.sent = {}              # delivery -> n (every delivery ever tried)
        self.acked = set()          # deliveries answered 202 or 200 duplicate
        self.lost_answer = []       # deliveries sent whose answer never came
        self.statuses = {}          # (kind, status) -> count
        self.llm_ok = 0
        self.llm_ids = set()        # request ids of the LLM calls answered

    def current(self):
        with self.lock:
            return self.server

    def count(self, kind, status):
        with self.lock:
            self.statuses[(kind, status)] = self.statuses.get((kind, status), 0) + 1

    def call(self, fn):
        """fn(coopd, conn) on the current server; None when it was not reachable."""
        c = self.current()
        if c is None:
            time.sleep(0.02)
            return None
        try:
            conn = c.connection(timeout=20)
            try:
                return fn(c, conn)
            finally:
                conn.close()
        except (OSError, http.client.HTTPException):
            time.sleep(0.02)
            return None

    def webhooks(self, k):
        # Paced, so the backlog the last start must process stays small.
        n = k * 1000000
        while not self.stop.wait(PACE):
            n += 1
            self.deliver(n)

    def deliver(self, n):
        delivery = "crash-%d" % n
        body = push(n)
        with self.lock:
            self.sent[delivery] = n
        r = self.call(lambda c, conn: c.post("/webhooks/github", body, headers=gh_headers(body, delivery),
                                             conn=conn))
        if r is None:
            with self.lock:
                self.lost_answer.append(delivery)
            return False
        self.count("webhook", r.status)
        if r.status in (200, 202):
            with self.lock:
                self.acked.add(delivery)
            return True
        with self.lock:
            self.lost_answer.append(delivery)
        return False

    def queries(self):
        paths = ["/v1/history?repo=%s&path=shared.c&limit=5" % REPO, "/v1/owners?repo=%s&path=shared.c" % REPO,
                 "/v1/repos", "/v1/coupling?repo=%s&path=shared.c" % REPO]
        i = 0
        while not self.stop.is_set():
            i += 1
            r = self.call(lambda c, conn: c.get(paths[i % len(paths)], conn=conn))
            if r is not None:
                self.count("graph", r.status)

    def llm(self, k):
        i = k
        while not self.stop.is_set():
            i += 1
            stream = i % 2 == 0
            body = {"model": "openai/gpt-4o", "stream": stream,
                    "messages": [{"role": "user", "content": "question %d" % i}]}
            r = self.call(lambda c, conn: c.post("/v1/chat/completions", body, conn=conn))
            if r is not None:
                self.count("llm", r.status)
                if r.status == 200 and answer_text(r.body, stream) == REPLY:
                    with self.lock:
                        self.llm_ok += 1
                        self.llm_ids.add(r.header("X-Request-Id"))


def answer_text(body, stream):
    """The assistant's text of an OpenAI-format answer, streamed or not."""
    try:
        if not stream:
            return json.loads(body)["choices"][0]["message"]["content"]
        text = ""
        for line in body.decode().split("\n"):
            if line.startswith("data: ") and line[6:].strip() != "[DONE]":
                for ch in json.loads(line[6:]).get("choices", []):
                    text += ch.get("delta", {}).get("content") or ""
        return text
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def wait_drained(c, timeout=180):
    """Waits until no job is running or due, and every webhook job finished."""
    deadline = time.time() + timeout
    while True:
        now_ms = int(time.time() * 1000)
        [[busy]] = c.sql("SELECT COUNT(*) FROM coop_jobs WHERE state = 'running'"
                         " OR (state = 'queued' AND run_at <= %d)" % now_ms)
        [[pending]] = c.sql("SELECT COUNT(*) FROM coop_jobs WHERE state IN ('queued','running')"
                            " AND " + WEBHOOK_JOBS)
        busy, pending = int(busy), int(pending)
        if busy == 0 and pending == 0:
            return
        if time.time() > deadline:
            raise AssertionError("job queue not drained after %ss: %d busy, %d webhook jobs pending"
                                 % (timeout, busy, pending))
        time.sleep(0.1)


def test_sigkill_at_random_points_under_mixed_load():
    seed = int(os.environ.get("COOP_CRASH_SEED") or random.SystemRandom().randrange(1 << 32))
    rounds = int(os.environ.get("COOP_CRASH_ROUNDS") or 4)
    print("  seed %d (replay: COOP_CRASH_SEED=%d), %d kills" % (seed, seed, rounds), flush=True)
    rng = random.Random(seed)
    emu = Emulator()
    emu.server.handle_error = lambda *a: None  # connections cut by the kills are expected
    emu.start()
    t_start = time.time()
    data_dir = tempfile.mkdtemp(prefix="coop-e2e-crash-")
    with open(os.path.join(data_dir, "policy.json"), "w") as f:
        json.dump(POLICY, f)
    env = {"COOP_GITHUB_WEBHOOK_SECRET": GH, "COOP_JOBS_POLL_MS": "50", "COOP_JOBS_LEASE_MS": "2000",
           "COOP_RATE_LIMIT": "0", "OPENAI_API_KEY": "sk-crash-test-000000000000",
           "COOP_OPENAI_BASE_URL": emu.url + "/v1", "COOP_POLICY_FILE": os.path.join(data_dir, "policy.json")}
    load = Load()
    threads = [threading.Thread(target=load.webhooks, args=(k,)) for k in range(3)]
    threads += [threading.Thread(target=load.queries)]
    threads += [threading.Thread(target=load.llm, args=(k,)) for k in range(2)]
    kills = []
    started = []
    try:
        for t in threads:
            t.start()
        for rnd in range(rounds):
            c = Coopd(env=env, data_dir=data_dir)
            started.append(c)
            c.start(wait=False)
            c.wait_ready(timeout=240)
            with load.lock:
                load.server = c
                acked_before, llm_before = len(load.acked), load.llm_ok
            # Where the kill lands: a random moment after every kind of
            # traffic resumed (the first LLM call waits for the sanitizer's
            # rules to compile), so it falls inside ingestion, job batches,
            # streams and audit writes.
            deadline = time.time() + 60
            while time.time() < deadline:
                with load.lock:
                    if len(load.acked) >= acked_before + 5 and load.llm_ok > llm_before:
                        break
                time.sleep(0.02)
            delay = rng.uniform(0.0, 1.5)
            time.sleep(delay)
            with load.lock:
                load.server = None
            c.proc.kill()
            c.proc.wait()
            c.log_file.close()
            kills.append((delay, c.proc.returncode))
            with load.lock:
                print("  kill %d after %.2f s (at %.0f s): %d acknowledged so far"
                      % (rnd + 1, delay, time.time() - t_start, len(load.acked)), flush=True)
        # The last start: no more kills.
        final = Coopd(env=env, data_dir=data_dir)
        started.append(final)
        final.start(wait=False)
        final.wait_ready(timeout=240)
        with load.lock:
            load.server = final
        time.sleep(1.0)
        load.stop.set()
        for t in threads:
            t.join(60)
        # The code host redelivers what it got no answer for.
        with load.lock:
            retry = sorted(set(load.lost_answer) - load.acked)
        for d in retry:
            assert load.deliver(load.sent[d]), "redelivery of %s refused" % d

        t_drain = time.time()
        wait_drained(final)
        print("  queue drained in %.1f s" % (time.time() - t_drain), flush=True)
        rows = final.sql("SELECT d.delivery, p.process_count FROM coop_webhook_deliveries d"
                         " LEFT JOIN coop_webhook_processed p ON p.delivery_id = d.id")
        jobs = [(s, int(n)) for s, n in final.sql("SELECT state, COUNT(*) FROM coop_jobs WHERE " + WEBHOOK_JOBS +
                                                  " GROUP BY state")]
        stored = {}
        for d, pc in rows:
            stored[d] = stored.get(d, 0) + 1
            assert pc == 1, "delivery %s processed %s times" % (d, pc)
        doubled = [d for d, k in stored.items() if k != 1]
        assert not doubled, "stored twice: %s" % doubled[:5]
        lost = [d for d in load.acked if d not in stored]
        assert not lost, "acknowledged but lost: %s" % lost[:5]
        assert set(stored) == set(load.sent), (len(stored), len(load.sent))
        jobs = dict(jobs)
        assert jobs == {"done": len(stored)}, (jobs, len(stored))

        # After all that, the server answers every kind of request.
        r = final.get("/v1/history?repo=%s&path=shared.c&limit=5" % REPO)
        assert r.status == 200 and r.json()["commits"], r.body[:300]
        r = final.post("/v1/chat/completions", {"model": "openai/gpt-4o",
                                                "messages": [{"role": "user", "content": "still there?"}]})
        assert r.status == 200 and r.json()["choices"][0]["message"]["content"] == REPLY, r.body[:300]
        time.sleep(0.5)  # audit rows are written by a background thread
        v = final.get("/v1/admin/audit/verify")
        assert v.status == 200 and v.json()["intact"] is True, v.body[:500]
        audit_entries = v.json()["llm"]["entries"]
        audited, cursor = set(), None
        while True:
            page = final.get("/v1/admin/audit?limit=1000" + ("&cursor=%d" % cursor if cursor else "")).json()
            audited |= {x["request_id"] for x in page["rows"]}
            cursor = page.get("next_cursor")
            if not cursor:
                break
        unaudited = len(load.llm_ids - audited)
        assert final.stop() == 0, final.log()[-3000:]
        final.check_log_json()
        out = final.run("audit", "verify")
        assert out.returncode == 0, (out.stdout, out.stderr)

        with load.lock:
            print("  deliveries sent %d, acknowledged %d, answer lost and redelivered %d; stored %d,"
                  " each processed once" % (len(load.sent), len(load.acked), len(retry), len(stored)))
            print("  answers: %s" % dict(sorted(("%s %s" % k, n) for k, n in load.statuses.items())))
            print("  LLM answers %d, audit chain intact with %d entries; answers without an audit row: %d"
                  % (load.llm_ok, audit_entries, unaudited))
        assert len(load.acked) > 20 and load.llm_ok > 0, (len(load.acked), load.llm_ok)
        # An answer ends only once its audit row is durable: a kill may cut
        # answers short, never leave a complete one unaudited.
        assert unaudited == 0, "%d complete LLM answers without an audit row" % unaudited
    except BaseException:
        print("  FAILED with seed %d (replay: COOP_CRASH_SEED=%d); kills %s" % (seed, seed, kills), flush=True)
        raise
    finally:
        load.stop.set()
        with load.lock:
            load.server = None
        for c in started:
            if c.proc and c.proc.poll() is None:
                c.kill()
        for t in threads:
            t.join(60)
        emu.stop()
        if started:
            started[0].drop_store()
    shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    run_tests(globals())
