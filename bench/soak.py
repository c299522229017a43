"""Soak: mixed load at a fixed rate against one coopd for a fixed time.

Signed GitHub push webhooks (each a new delivery), graph queries on the
imported history of this repository, health and metrics reads, and LLM chat
completions (streamed and not) through the router to the provider emulator
(tests/e2e/provider_emulator.py), in equal shares. RSS and open descriptors are sampled after
a warm-up and at the end; the run fails when either grew by more than 10%,
or when any answer was an error other than the expected ones (with
BENCH_SMOKE set, a short check that it runs, growth is printed but not
judged).

    python3 bench/soak.py COOPD SECONDS RATE
"""
import hashlib
import hmac
import http.client
import json
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
os.environ.setdefault("COOPD", sys.argv[1])
import coopd_harness  # noqa: E402
from coopd_harness import Coopd  # noqa: E402
from provider_emulator import REPLY, Emulator  # noqa: E402

SECRET = "soak-webhook-secret-0123456789"
DURATION = float(sys.argv[2])
RATE = float(sys.argv[3])
WARMUP = min(30.0, DURATION / 4)
SMOKE = bool(os.environ.get("BENCH_SMOKE"))


def push_body(n):
    return json.dumps({
        "ref": "refs/heads/main", "before": "0" * 40, "after": "%040x" % n,
        "repository": {"html_url": "https://github.com/soak/repo", "default_branch": "main"},
        "pusher": {"name": "soak", "email": "soak@example.com"}, "sender": {"login": "soak"},
        "commits": [{"id": "%040x" % n, "message": "soak %d" % n, "timestamp": "2026-01-01T00:00:00Z",
                     "author": {"name": "Soak", "email": "soak%d@example.com" % (n % 7), "username": "soak"},
                     "added": [], "modified": ["src/file%d.c" % (n % 50)], "removed": []}]}).encode()


def sample(pid):
    with open("/proc/%d/status" % pid) as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))
    return rss, len(os.listdir("/proc/%d/fd" % pid))


def main():
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
    emu = Emulator().start()
    policy = os.path.join(tempfile.mkdtemp(prefix="coop-soak-"), "policy.json")
    with open(policy, "w") as f:
        json.dump({"providers": {"openai": {"policy_url": "https://openai.com/enterprise-privacy/",
                                            "verified_at": "2026-11-02T00:00:00Z"}}}, f)
    c = Coopd(env={"COOP_GITHUB_WEBHOOK_SECRET": SECRET, "COOP_LOG_LEVEL": "warn", "COOP_RATE_LIMIT": "0",
                   "OPENAI_API_KEY": "sk-soak-000000000000", "COOP_OPENAI_BASE_URL": emu.url + "/v1",
                   "COOP_POLICY_FILE": policy})
    out = c.run("import", "--repo", "local/coop", "--git", repo)
    if out.returncode != 0:
        print("import failed:", out.stderr.decode()[-500:])
        return 1
    c.start()
    paths = ["README.md", "src/http/server.c", "include/coop/core.h", "Makefile"]
    counts = {}
    unexpected = []
    lock = threading.Lock()
    stop = time.time() + DURATION
    seq = [0]

    def one(conn, i):
        kind = i % 6
        if kind == 0:
            with lock:
                seq[0] += 1
                n = seq[0]
            body = push_body(n)
            sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            r = c.post("/webhooks/github", body, conn=conn, headers={
                "X-GitHub-Event": "push", "X-GitHub-Delivery": "soak-%d" % n,
                "X-Hub-Signature-256": sig, "Content-Type": "application/json"})
            ok = r.status == 202
        elif kind in (1, 2):
            p = paths[i % len(paths)]
            r = c.get("/v1/owners?repo=local/coop&path=" + p, conn=conn)
            ok = r.status == 200
        elif kind == 3:
            r = c.get("/v1/history?repo=local/coop&limit=20&path=" + paths[i % len(paths)], conn=conn)
            ok = r.status == 200
        elif kind == 4:
            r = c.get("/metrics" if i % 2 else "/healthz", conn=conn)
            ok = r.status == 200
        else:
            body = {"model": "openai/gpt-4o", "stream": bool(i % 4 == 1),
                    "messages": [{"role": "user", "content": "soak question %d" % i}]}
            r = c.post("/v1/chat/completions", body, conn=conn)
            if body["stream"]:
                ok = r.status == 200 and r.body.rstrip().endswith(b"data: [DONE]")
            else:
                ok = r.status == 200 and r.json()["choices"][0]["message"]["content"] == REPLY
        with lock:
            counts[r.status] = counts.get(r.status, 0) + 1
            if not ok:
                unexpected.append((kind, r.status, r.body[:200]))

    def worker(offset, per_thread_rate):
        conn = c.connection()
        i = offset
        next_t = time.time()
        while time.time() < stop:
            try:
                one(conn, i)
            except (OSError, http.client.HTTPException) as e:
                with lock:
                    unexpected.append(("io", str(e), b""))
                conn.close()
                conn = c.connection()
            i += 4
            next_t += 1.0 / per_thread_rate
            delay = next_t - time.time()
            if delay > 0:
                time.sleep(delay)
        conn.close()

    threads = [threading.Thread(target=worker, args=(k, RATE / 4)) for k in range(4)]
    for t in threads:
        t.start()
    time.sleep(WARMUP)
    start_rss, start_fds = sample(c.proc.pid)
    for t in threads:
        t.join()
    end_rss, end_fds = sample(c.proc.pid)
    rc = c.stop()
    emu.stop()
    total = sum(counts.values())
    rss_growth = (end_rss - start_rss) / start_rss
    fd_growth = (end_fds - start_fds) / start_fds
    print("soak: %.0f s at %.0f req/s target: %d requests (%.0f/s), statuses %s"
          % (DURATION, RATE, total, total / DURATION, dict(sorted(counts.items()))))
    print("  RSS after warm-up %.1f MB, at end %.1f MB (%+.1f%%)" % (start_rss / 1024, end_rss / 1024, rss_growth * 100))
    print("  open fds after warm-up %d, at end %d (%+.1f%%)" % (start_fds, end_fds, fd_growth * 100))
    print("  unexpected answers: %d; exit status %s" % (len(unexpected), rc))
    for u in unexpected[:5]:
        print("   ", u)
    ok = not unexpected and rc == 0
    if SMOKE:
        # Seconds of load (under the sanitizers, in make check) say nothing
        # about growth: only the answers and the exit are judged.
        print("  growth not judged in a smoke run")
    else:
        ok = ok and rss_growth <= 0.10 and fd_growth <= 0.10
    print("  result: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
