"""Several coopd instances on one PostgreSQL (COOP_TEST_PG: the ctest
fixture's server or COOP_TEST_PG_URL): three `coopd serve` share one
database, GitHub deliveries (pushes, pull requests, reviews) are spread over
them, one instance is killed with SIGKILL midway, and deliveries it did not
acknowledge are sent again to the others, as a code host redelivers. The
instances sync with the code-host emulator (CODEOWNERS, pull request files
and reviews) as they would with GitHub.

Afterwards every acknowledged delivery is stored once and processed exactly
once, a delivery sent to two instances is processed once, and the whole
graph (repositories, people and identities, commits, file changes,
authorship, coupling, pull requests, reviewers, CODEOWNERS) and the query
API's answers (/v1/owners, /v1/history, /v1/coupling, /v1/truck-factor,
/v1/pulls, /v1/people) are the same as those of a single instance that got
the same deliveries one by one, in order."""
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
from coopd_harness import (COOPD, Coopd, pg_base_url, pg_drop_schema,  # noqa: E402
                           pg_rows, pg_schema_url, run_tests)
from graph_snapshot import answers, diff, snapshot  # noqa: E402
from host_emulator import Emulator, Repo  # noqa: E402

GH = "gh-secret-for-multi-instance-tests"
GH_TOKEN = "ghp-multi-instance-token-0123456789"
PUSHES = 96
PULLS = 8
REPOS = ["octo/multi", "octo/other"]
# (name, email, login): Dana's commits sometimes come without her login (an
# email GitHub does not know), Erin only opens pull requests (login only).
AUTHORS = [("Alice Doe", "alice@example.com", "alice"), ("Bob Roe", "bob@example.com", "bob"),
           ("Carol Poe", "carol@example.com", "carol"), ("Dana Xu", "dana@example.com", "dana")]
T0 = 1_680_000_000  # 2023-03-28: before the emulator's review times (1_700_000_000 + i)
CODEOWNERS = "*       @octo/everyone\n/mod1/  @alice\n*.md    @carol @dana\n/src/   @bob\n"
START_MS = int(time.time() * 1000)
PATHS = ["src/core.c", "README.md", "mod1/a.c", "mod1/c.c", "mod5", "mod7/b.c", "src", "docs/guide.md"]


def hub(body):
    return "sha256=" + hmac.new(GH.encode(), body, hashlib.sha256).hexdigest()


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def repo_json(name):
    return {"html_url": "https://github.com/" + name, "full_name": name, "default_branch": "main"}


def author(i, k):
    name, email, login = AUTHORS[i % len(AUTHORS)]
    if login == "dana" and k % 2:
        login = None
    return {"name": name, "email": email, "username": login} if login else {"name": name, "email": email}


def push(k):
    """Push k: two or three commits on its own module's files, each also
    touching the shared src/core.c (added by push 0 and 1, one per
    repository), README.md now and then."""
    repo = REPOS[k % 2]
    d = "mod%d" % (k // 2)
    first = k < 2
    steps = [
        {"added": [d + "/a.c", d + "/b.c"] + (["src/core.c", "README.md"] if first else []),
         "modified": [] if first else ["src/core.c"], "removed": []},
        {"added": [], "modified": [d + "/a.c", "src/core.c"] + (["README.md"] if k % 5 == 4 else []),
         "removed": []},
    ]
    if k % 3 == 0:
        steps.append({"added": [d + "/c.c"], "modified": ["src/core.c"], "removed": [d + "/b.c"]})
    if k == 2:
        steps[-1]["added"].append(".github/CODEOWNERS")
    commits = []
    for j, s in enumerate(steps):
        t = T0 + k * 3600 + j * 60
        sha = hashlib.sha1(b"multi-%d-%d" % (k, j)).hexdigest()
        commits.append(dict(s, id=sha, message="change %d.%d\n\ndetails" % (k, j), timestamp=iso(t),
                            author=author(k + j, k)))
    return repo, {"ref": "refs/heads/main", "before": "0" * 40, "after": commits[-1]["id"],
                  "repository": repo_json(repo), "pusher": {"name": "octo", "email": "octo@example.com"},
                  "sender": {"login": "octo"}, "commits": commits, "head_commit": commits[-1]}


def pull_object(n, state, t_updated):
    """Pull request n of octo/multi, as GitHub's webhooks carry it."""
    login = "erin" if n % 4 == 0 else AUTHORS[n % len(AUTHORS)][2]
    merged = state == "merged"
    return {"number": n, "title": "Pull %d" % n, "state": "open" if state == "open" else "closed",
            "merged": merged, "user": {"login": login},
            "html_url": "https://github.com/octo/multi/pull/%d" % n,
            "head": {"ref": "feature-%d" % n, "sha": hashlib.sha1(b"head-%d" % n).hexdigest()},
            "base": {"ref": "main"}, "created_at": iso(T0 + n * 1000),
            "updated_at": iso(t_updated), "closed_at": None if state == "open" else iso(t_updated),
            "merged_at": iso(t_updated) if merged else None,
            "merge_commit_sha": hashlib.sha1(b"merge-%d" % n).hexdigest() if merged else None,
            "requested_reviewers": [{"login": AUTHORS[(n + 1) % len(AUTHORS)][2]}]}


def pull_events(n):
    """Opened, a review, then closed or merged, each later than the one before."""
    t = T0 + n * 1000
    out = [("pull_request", {"action": "opened", "number": n, "pull_request": pull_object(n, "open", t + 10),
                             "repository": repo_json("octo/multi"), "sender": {"login": "octo"}})]
    reviewer = AUTHORS[(n + 1) % len(AUTHORS)][2]
    out.append(("pull_request_review", {
        "action": "submitted", "repository": repo_json("octo/multi"), "sender": {"login": reviewer},
        "review": {"id": n, "user": {"login": reviewer}, "state": "approved" if n % 2 else "changes_requested",
                   "submitted_at": iso(t + 20), "commit_id": "0" * 40},
        "pull_request": pull_object(n, "open", t + 20)}))
    if n % 3:
        final = "merged" if n % 3 == 1 else "closed"
        out.append(("pull_request", {"action": "closed", "number": n,
                                     "pull_request": pull_object(n, final, t + 30),
                                     "repository": repo_json("octo/multi"), "sender": {"login": "octo"}}))
    return out


def build_deliveries():
    """[(event, delivery id, body)], in the order a host would send them."""
    out = []
    for k in range(PUSHES):
        _, body = push(k)
        out.append(("push", "multi-push-%d" % k, json.dumps(body).encode()))
        if k % 12 == 5 and k // 12 < PULLS:
            for i, (event, pbody) in enumerate(pull_events(k // 12 + 1)):
                out.append((event, "multi-pull-%d-%d" % (k // 12 + 1, i), json.dumps(pbody).encode()))
    return out


def emulator():
    emu = Emulator(tokens={"github": GH_TOKEN})
    multi, other = Repo("octo/multi", 0), Repo("octo/other", 0)
    multi.files[".github/CODEOWNERS"] = CODEOWNERS
    multi.pulls = {n: {"files": ["mod%d/a.c" % n, "src/core.c", "docs/guide.md"],
                       "reviews": [("carol", "COMMENTED")] if n % 2 else []}
                   for n in range(1, PULLS + 1)}
    emu.repos["github"].update({"octo/multi": multi, "octo/other": other})
    return emu.start()


def headers(event, body, delivery):
    return {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": hub(body), "Content-Type": "application/json"}


def deliver(instances, alive, n, item, acked, lock):
    """Sends delivery n to instance n % 3, and to the next live one when that
    fails (connection refused or reset: not acknowledged)."""
    event, delivery, body = item
    for k in range(len(instances)):
        i = (n + k) % len(instances)
        if not alive[i]:
            continue
        try:
            r = instances[i].post("/webhooks/github", body, headers=headers(event, body, delivery))
        except OSError:
            continue
        if r.status in (200, 202):
            with lock:
                acked[delivery] = r.json()["duplicate"]
            return
        raise AssertionError("delivery %s answered %d: %s" % (delivery, r.status, r.body[:300]))
    raise AssertionError("no instance acknowledged %s" % delivery)


def migrate(env):
    scratch = tempfile.mkdtemp(prefix="coop-multi-")
    r = subprocess.run([COOPD, "migrate"], env=dict(os.environ, COOP_DATA_DIR=scratch, **env),
                       capture_output=True, timeout=300)
    shutil.rmtree(scratch, ignore_errors=True)
    assert r.returncode == 0, r.stderr[-2000:]


def wait_idle(url, timeout=240):
    """Until no job is queued or running: webhook ingestion and the code-host
    follow-ups (daily purge jobs wait for tomorrow and do not count)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        rows = pg_rows(url, "SELECT kind, state, COUNT(*) FROM coop_jobs WHERE state IN"
                            " ('queued','running') AND run_at <= (EXTRACT(EPOCH FROM now()) * 1000"
                            " + 600000)::bigint GROUP BY kind, state")
        if not rows:
            return
        time.sleep(0.2)
    raise AssertionError("jobs still pending: %s" % rows)


def check_jobs(url):
    rows = pg_rows(url, "SELECT kind, state, attempts, last_error FROM coop_jobs WHERE state = 'dead'")
    assert not rows, rows


def env_for(url, emu):
    return {"COOP_STORE": url, "COOP_GITHUB_WEBHOOK_SECRET": GH,
            "COOP_GITHUB_API_URL": emu.url("/github"), "COOP_GITHUB_TOKEN": GH_TOKEN,
            # A hosts job of the killed instance is claimed again soon.
            "COOP_JOBS_LEASE_MS": "3000",
            "COOP_JOBS_POLL_MS": "2000"}  # idle workers wake on NOTIFY, not polling


def single_run(items, emu):
    """The reference: one instance, the deliveries one at a time, in order."""
    schema = "coop_single_%d" % os.getpid()
    url = pg_schema_url(schema)
    env = env_for(url, emu)
    migrate(env)
    c = Coopd(env=env)
    try:
        c.start(wait=False)
        c.wait_ready(timeout=240)
        for event, delivery, body in items:
            r = c.post("/webhooks/github", body, headers=headers(event, body, delivery))
            assert r.status == 202, (delivery, r.status, r.body[:300])
        wait_idle(url)
        check_jobs(url)
        graph = snapshot(lambda q: pg_rows(url, q), START_MS)
        said = answers(c, ["github.com/" + r for r in REPOS], PATHS)
    finally:
        c.stop()
    c.check_log_json()
    shutil.rmtree(c.data_dir, ignore_errors=True)
    pg_drop_schema(schema)
    return graph, said


def test_three_instances_one_killed():
    if not pg_base_url() and os.environ.get("CI") != "true":
        print("skipped: no PostgreSQL server (COOP_TEST_PG_URL)")
        sys.exit(77)
    items = build_deliveries()
    n_items = len(items)
    kill_at = n_items // 3
    emu = emulator()
    try:
        ref_graph, ref_answers = single_run(items, emu)
        multi_run(items, n_items, kill_at, emu, ref_graph, ref_answers)
    finally:
        emu.stop()


def multi_run(items, n_items, kill_at, emu, ref_graph, ref_answers):
    schema = "coop_multi_%d" % os.getpid()
    url = pg_schema_url(schema)
    env = env_for(url, emu)
    # Migrated once up front; the instances then find the schema current.
    migrate(env)
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
                if n == kill_at:
                    # Midway, while the others keep sending.
                    alive[1] = False
                    instances[1].proc.send_signal(signal.SIGKILL)
                deliver(instances, alive, n, items[n], acked, lock)

        done = threading.Event()

        def reader():
            """Questions while deliveries arrive: the instances' caches hold
            answers that later writes (on any instance) must invalidate."""
            while not done.is_set():
                for i in (0, 2):
                    for repo in REPOS:
                        instances[i].get("/v1/truck-factor?repo=github.com/" + repo)
                        instances[i].get("/v1/owners?repo=github.com/%s&path=src" % repo)
                time.sleep(0.05)

        threads = [threading.Thread(target=sender, args=(range(t, n_items, 4),)) for t in range(4)]
        questions = threading.Thread(target=reader)
        questions.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        done.set()
        questions.join()
        instances[1].proc.wait()
        assert len(acked) == n_items, sorted(set(d for _, d, _ in items) - set(acked))

        # The same deliveries again, each to a live instance other than the
        # first choice: all acknowledged as duplicates.
        for n in range(0, n_items, 7):
            i = 2 if n % 2 else 0
            event, delivery, body = items[n]
            r = instances[i].post("/webhooks/github", body, headers=headers(event, body, delivery))
            assert r.status == 200 and r.json()["duplicate"] is True, (n, r.status, r.body)

        wait_idle(url)
        rows = pg_rows(url, "SELECT d.delivery, COUNT(*), MIN(p.process_count), MAX(p.process_count)"
                            " FROM coop_webhook_deliveries d LEFT JOIN coop_webhook_processed p"
                            " ON p.delivery_id = d.id GROUP BY d.delivery")
        seen = {delivery: (copies, lo, hi) for delivery, copies, lo, hi in rows}
        assert set(seen) == set(acked), set(seen) ^ set(acked)
        for delivery, (copies, lo, hi) in seen.items():
            assert copies == 1 and lo == 1 and hi == 1, (delivery, copies, lo, hi)
        check_jobs(url)

        # The whole graph, and what every live instance answers, as one
        # instance would have it.
        graph = snapshot(lambda q: pg_rows(url, q), START_MS)
        assert graph["commits"] and graph["pulls"] and graph["codeowners"], graph
        d = diff(ref_graph, graph, "single", "multi")
        assert not d, "the graph differs from a single instance's:\n" + d
        for i in (0, 2):
            said = answers(instances[i], ["github.com/" + r for r in REPOS], PATHS)
            d = diff(ref_answers, said, "single", "instance %d" % i)
            assert not d, "instance %d answers differently:\n%s" % (i, d)
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
