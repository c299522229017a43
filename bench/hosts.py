"""Backfill throughput against the code-host emulator (tests/e2e/host_emulator.py).

Coop: coopd (release build) backfills a GitHub repository of N commits from
the emulator: N/10 commit-list pages plus one request per commit for its
files, staged, then applied to the graph. Baseline in the same run: a plain
Python http.client doing the same requests to the same emulator over one
kept-alive connection and nothing else (the emulator's own ceiling).
Also: a CODEOWNERS job first (200) and then conditional (304).
"""
import http.client
import json
import os
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import test_hosts as t  # noqa: E402
import host_emulator as he  # noqa: E402
from coopd_harness import Coopd  # noqa: E402

N = int(os.environ.get("HOSTS_COMMITS", "2000"))


def baseline(emu):
    c = http.client.HTTPConnection("127.0.0.1", emu.port)
    auth = {"Authorization": "Bearer " + t.TOKENS["github"]}
    n, t0 = 0, time.time()
    for page in range(1, N // he.PAGE_SIZE + 2):
        c.request("GET", "/github/repos/octo/big/commits?per_page=100&sha=main&page=%d" % page, headers=auth)
        items = json.loads(c.getresponse().read())
        n += 1
        for it in items:
            c.request("GET", "/github/repos/octo/big/commits/" + it["sha"], headers=auth)
            c.getresponse().read()
            n += 1
        if not items:
            break
    return n, time.time() - t0


def main():
    with he.Emulator(tokens=t.TOKENS) as emu:
        emu.repos["github"]["octo/big"] = he.Repo("octo/big", N, ".github/CODEOWNERS", he.GITHUB_CO)
        bn, bdt = baseline(emu)
        emu.requests.clear()
        env = dict(t.coopd_env(emu), COOP_HOSTS_BACKFILL_PAGES="100000", COOP_JOBS_POLL_MS="10")
        with Coopd(env=env) as c:
            t0 = time.time()
            t.sync(c, kind="backfill", repo="github.com/octo/big")
            t.wait("backfill", lambda: t.commit_count(c, "github.com/octo/big") == N, timeout=1200)
            dt = time.time() - t0
            reqs = len(emu.seen("github"))
            co = []
            for _ in range(3):
                t1 = time.time()
                j = t.sync(c, kind="codeowners", repo="github.com/octo/big")
                t.wait("codeowners", lambda: t.job(c, j)["state"] == "done")
                co.append((time.time() - t1, emu.seen("github", "/contents/")[-1]["status"]))
    print("backfill: %d commits, %d requests in %.2f s: %.0f commits/s, %.0f requests/s"
          % (N, reqs, dt, N / dt, reqs / dt))
    print("baseline (python client, same requests, keep-alive, no work): %d requests in %.2f s: %.0f requests/s"
          % (bn, bdt, bn / bdt))
    print("ratio coopd / baseline time: %.2f" % (dt / bdt))
    print("codeowners jobs (submit to done, 10 ms job poll): " +
          ", ".join("%.0f ms (%d)" % (s * 1000, st) for s, st in co))


if __name__ == "__main__":
    main()
