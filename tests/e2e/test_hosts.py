"""Code-host sync end to end: coopd against the code-host emulator
(host_emulator.py) for GitHub, GitLab, Bitbucket Cloud, Bitbucket Data
Center and Slack.

Backfills cross several pages with a 429 in the middle (the job is
rescheduled, not failed, and the history completes); CODEOWNERS is fetched
and /v1/owners answers from it, then asked again with If-None-Match; a
repository without CODEOWNERS is handled; pull request files and reviews;
webhooks queue the sync (a new repository's backfill and CODEOWNERS, a
truncated GitLab push's gap); Slack users.info links a Slack id to the
person with that email; an expired token fails the job with a clear error
and the token appears in no log line and no job row.
"""
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from coopd_harness import Coopd, run_tests  # noqa: E402
from host_emulator import Emulator  # noqa: E402

TOKENS = {"github": "ghp-emulated-token-0123456789", "gitlab": "glpat-emulated-token-0123456789",
          "bitbucket": "bb-emulated-token-0123456789", "bbdc": "bbdc-emulated-token-0123456789",
          "slack": "xoxb-emulated-token-0123456789"}


def coopd_env(emu, github_token=None):
    return {
        "COOP_GITHUB_API_URL": emu.url("/github"),
        "COOP_GITLAB_API_URL": emu.url("/gitlab/api/v4"),
        "COOP_BITBUCKET_API_URL": emu.url("/bitbucket/2.0"),
        # localhost, not 127.0.0.1: self-hosted repositories are told apart by host name.
        "COOP_BITBUCKET_SERVER_API_URL": "http://localhost:%d/bbdc/rest/api/1.0" % emu.port,
        "COOP_SLACK_API_URL": emu.url("/slack/api"),
        "COOP_GITHUB_TOKEN": github_token or TOKENS["github"],
        "COOP_GITLAB_TOKEN": TOKENS["gitlab"],
        "COOP_BITBUCKET_TOKEN": TOKENS["bitbucket"],
        "COOP_BITBUCKET_SERVER_TOKEN": TOKENS["bbdc"],
        "COOP_SLACK_BOT_TOKEN": TOKENS["slack"],
        "COOP_HOSTS_BACKFILL_PAGES": "1",
    }


def sync(c, **body):
    r = c.post("/v1/admin/hosts/sync", body=body)
    assert r.status == 202, (r.status, r.body)
    return r.json()["job"]


def wait(what, fn, timeout=120):  # generous: CI machines can be loaded
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError("timed out waiting for %s (last: %r)" % (what, last))


def history(c, repo, path):
    q = urllib.parse.urlencode({"repo": repo, "path": path, "limit": "100"})
    r = c.get("/v1/history?" + q)
    return [x["sha"] for x in r.json()["commits"]] if r.status == 200 else None


def commit_count(c, repo):
    for r in c.get("/v1/repos").json()["repos"]:
        if r["id"] == repo:
            return r["commits"]
    return 0


def expected(repo, path, upto=None):
    """The host's history of path, newest first, following the one rename."""
    out, names = [], {path}
    for cm in reversed(repo.commits[:upto or len(repo.commits)]):
        for s, p, old in cm["changes"]:
            if p in names:
                out.append(cm["sha"])
                if old:
                    names.add(old)
                break
    return out


def wait_commits(c, rid, n):
    wait("%d commits in %s" % (n, rid), lambda: commit_count(c, rid) == n or None)


def jobs(c, state):
    r = c.get("/v1/jobs?state=%s&limit=1000" % state)
    assert r.status == 200, r.body
    return r.json()["jobs"]


def job(c, jid):
    r = c.get("/v1/jobs/%d" % jid)
    assert r.status == 200, r.body
    return r.json()


def owners(c, repo, path):
    r = c.get("/v1/owners?" + urllib.parse.urlencode({"repo": repo, "path": path}))
    return r.json() if r.status == 200 else None


def test_backfill_codeowners_pulls_and_slack():
    with Emulator(tokens=TOKENS, rate_limit={"github": 2, "gitlab": 3, "bbdc": 2}) as emu, \
            Coopd(env=coopd_env(emu)) as c:
        # Backfills on every host: GitHub 25 commits (3 pages, 429 on page 2),
        # GitLab 23 (429 on page 3), Bitbucket Cloud 12, Data Center 14 (429 on page 2).
        repos = [("github", "octo/hello", "github.com/octo/hello"),
                 ("gitlab", "group/sub/project", "gitlab.com/group/sub/project"),
                 ("bitbucket", "ws/repo", "bitbucket.org/ws/repo"),
                 ("bbdc", "PROJ/repo", "localhost/PROJ/repo")]
        for _, _, rid in repos:
            sync(c, kind="backfill", repo=rid)
        for host, name, rid in repos:
            repo = emu.repos[host][name]
            wait_commits(c, rid, len(repo.commits))
            # Each commit came with its file changes: paths' histories, a rename.
            for path in ("src/a.c", "src/f1.c", "README.md", "src/renamed.c"):
                assert history(c, rid, path) == expected(repo, path), (rid, path)
            assert len(expected(repo, "src/renamed.c")) == 2
        assert sorted(emu.rate_limited_served) == [("bbdc", 2), ("github", 2), ("gitlab", 3)]
        wait("backfill jobs done", lambda: not [j for j in jobs(c, "queued") + jobs(c, "running")
                                                if j["kind"] == "hosts.backfill"])
        assert not jobs(c, "dead"), jobs(c, "dead")
        done = [j for j in jobs(c, "done") if j["kind"] == "hosts.backfill"]
        # One page per run plus continuations after each 429: several runs, none failed.
        assert len(done) > 8, len(done)
        assert all(j["attempts"] == 1 for j in done), done
        log = c.log()
        assert "rate limited, job rescheduled" in log

        # CODEOWNERS on every host, from the documented locations.
        for _, _, rid in repos:
            sync(c, kind="codeowners", repo=rid)
        got = wait("github owners", lambda: (lambda o: o if o and o["codeowners"] else None)(
            owners(c, "github.com/octo/hello", "src/a.c")))
        assert got["codeowners"]["file"] == ".github/CODEOWNERS", got
        assert got["codeowners"]["pattern"] == "/src/" and got["codeowners"]["owners"] == ["@alice", "@octo/core"], got
        got = wait("gitlab owners", lambda: (lambda o: o if o and o["codeowners"] else None)(
            owners(c, "gitlab.com/group/sub/project", "src/a.c")))
        assert got["codeowners"]["file"] == "CODEOWNERS", got
        for rid in ("bitbucket.org/ws/repo", "localhost/PROJ/repo"):
            got = wait(rid + " owners", lambda: (lambda o: o if o and o["codeowners"] else None)(
                owners(c, rid, "src/a.c")))
            assert got["codeowners"]["file"] == ".bitbucket/CODEOWNERS" and got["codeowners"]["owners"] == ["@bob"], got

        # Asked again: conditional request, 304, nothing changes.
        before = len(emu.seen("github", "/contents/"))
        jid = sync(c, kind="codeowners", repo="github.com/octo/hello")
        wait("second codeowners job", lambda: job(c, jid)["state"] == "done")
        again = emu.seen("github", "/contents/")[before:]
        assert again and again[0]["if_none_match"] and again[0]["status"] == 304, again
        assert owners(c, "github.com/octo/hello", "src/a.c")["codeowners"]["owners"] == ["@alice", "@octo/core"]

        # A repository without CODEOWNERS: every location answers 404, the job is done.
        jid = sync(c, kind="codeowners", repo="github.com/octo/no-owners")
        wait("no-owners job", lambda: job(c, jid)["state"] in ("done", "dead"))
        assert job(c, jid)["state"] == "done", job(c, jid)
        misses = [r for r in emu.seen("github", "/repos/octo/no-owners/contents/")]
        assert [r["status"] for r in misses] == [404, 404, 404], misses
        # An unknown repository fails with a clear error.
        jid = sync(c, kind="codeowners", repo="github.com/octo/missing")
        err = wait("missing repo error", lambda: job(c, jid)["last_error"])
        assert "404" in err, err

        # Pull request files and reviews on each host.
        for _, _, rid in repos:
            jid = sync(c, kind="pull", repo=rid, number=7)
            wait("pull job " + rid, lambda: job(c, jid)["state"] == "done")
        # Slack users.info links U0ALICE to the person who commits as alice@example.com.
        jid = sync(c, kind="slack_user", user="U0ALICE")
        wait("slack job", lambda: job(c, jid)["state"] == "done")
        people = c.get("/v1/people?repo=github.com/octo/hello").json()
        alice = [p for p in json.dumps(people["people"]).split("},") if "U0ALICE" in p]
        assert alice and "alice@example.com" in alice[0], people
        jid = sync(c, kind="slack_user", user="U0NOBODY")
        wait("slack unknown user", lambda: job(c, jid)["state"] == "done")

        # Every request carried the host's token; none carried it in a URL.
        for r in emu.requests:
            for t in TOKENS.values():
                assert t not in r["path"], r
        for secret in TOKENS.values():
            assert secret not in c.log()
        c.check_log_json()


GL_HOOK = "gitlab-webhook-token-for-hosts-e2e"


def gitlab_push(c, repo, before, commits, total, uuid):
    """A GitLab Push Hook as GitLab sends it: the newest commits only, and
    total_commits_count with the real count."""
    def commit(cm):
        name, email, _ = cm["author"]
        added = [p for s, p, _ in cm["changes"] if s in "AR"]
        removed = [old for s, _, old in cm["changes"] if s == "R"] + [p for s, p, _ in cm["changes"] if s == "D"]
        modified = [p for s, p, _ in cm["changes"] if s == "M"]
        return {"id": cm["sha"], "message": cm["message"], "title": cm["message"].split("\n")[0],
                "timestamp": "2023-11-14T22:13:20+00:00", "url": "https://gitlab.com/x",
                "author": {"name": name, "email": email}, "added": added, "modified": modified,
                "removed": removed}
    body = {"object_kind": "push", "event_name": "push", "before": before, "after": commits[-1]["sha"],
            "ref": "refs/heads/main", "checkout_sha": commits[-1]["sha"], "user_username": "alice",
            "project": {"id": 42, "name": "project", "path_with_namespace": repo.name,
                        "web_url": "https://gitlab.com/" + repo.name, "default_branch": "main"},
            "commits": [commit(cm) for cm in commits], "total_commits_count": total}
    data = json.dumps(body)
    r = c.post("/webhooks/gitlab", data, headers={"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": GL_HOOK,
                                                  "X-Gitlab-Event-UUID": uuid,
                                                  "Content-Type": "application/json"})
    assert r.status == 202, (r.status, r.body)


def test_webhooks_drive_backfill_and_gap():
    with Emulator(tokens=TOKENS) as emu:
        env = coopd_env(emu)
        env["COOP_GITLAB_WEBHOOK_TOKEN"] = GL_HOOK
        env["COOP_HOSTS_BACKFILL_PAGES"] = "5"
        with Coopd(env=env) as c:
            repo = emu.repos["gitlab"]["group/sub/project"]
            rid = "gitlab.com/group/sub/project"
            # The first push the server sees: its repository gets a backfill
            # and a CODEOWNERS fetch, queued by the push itself.
            repo.visible = 11
            gitlab_push(c, repo, repo.commits[9]["sha"], [repo.commits[10]], 1, "gl-push-1")
            wait_commits(c, rid, 11)
            wait("codeowners of a new repository", lambda: (lambda o: o and o["codeowners"])(
                owners(c, rid, "src/a.c")))
            # A push of 12 commits of which GitLab lists the newest 2: the gap
            # (the 10 in between) is filled from the commits API, and nothing
            # older than the push's `before` is asked for.
            repo.visible = 23
            diffs_before = len(emu.seen("gitlab", "/diff"))
            gitlab_push(c, repo, repo.commits[10]["sha"], repo.commits[21:23], 12, "gl-push-2")
            wait_commits(c, rid, 23)
            # Every commit with its files; the gap's commits were applied after
            # the push's own (the graph orders history by arrival).
            for path in ("src/a.c", "src/f2.c", "src/renamed.c"):
                assert sorted(history(c, rid, path)) == sorted(expected(repo, path)), path
            assert len(emu.seen("gitlab", "/diff")) - diffs_before == 10
            wait("gap job done", lambda: [j for j in jobs(c, "done") if j["kind"] == "hosts.gap"])
            assert not jobs(c, "dead"), jobs(c, "dead")


def test_expired_token_fails_clearly():
    wrong = "ghp-expired-token-abcdef0123456789"
    with Emulator(tokens=TOKENS) as emu, Coopd(env=coopd_env(emu, github_token=wrong)) as c:
        ids = [sync(c, kind="backfill", repo="github.com/octo/hello"),
               sync(c, kind="codeowners", repo="github.com/octo/hello")]
        for jid in ids:
            err = wait("401 error", lambda: job(c, jid)["last_error"])
            assert "401" in err and "COOP_GITHUB_TOKEN" in err, err
            assert wrong not in json.dumps(job(c, jid))
        assert emu.seen("github") and all(r["status"] == 401 for r in emu.seen("github"))
        assert emu.seen("github")[0]["authorization"] == "Bearer " + wrong  # it was sent, as a header
        for state in ("queued", "running", "done", "dead"):
            assert wrong not in json.dumps(jobs(c, state))
        time.sleep(0.3)
        assert wrong not in c.log()
        # Nothing was applied.
        assert not commit_count(c, "github.com/octo/hello")
        c.check_log_json()


def test_refusals():
    with Emulator(tokens=TOKENS) as emu, Coopd(env=dict(coopd_env(emu),
                                                        COOP_GITLAB_API_URL="http://gitlab.example.com/api/v4")) as c:
        for body in ({}, {"kind": "backfill"}, {"kind": "nope", "repo": "github.com/o/r"},
                     {"kind": "pull", "repo": "github.com/o/r"}, {"kind": "gap", "repo": "github.com/o/r", "after": "xyz"},
                     {"kind": "backfill", "repo": "github.com/o/r#1"}):
            r = c.post("/v1/admin/hosts/sync", body=body)
            assert r.status == 400, (body, r.status, r.body)
        # Plain http to a host that is not loopback is refused by configuration.
        jid = sync(c, kind="backfill", repo="gitlab.com/group/sub/project")
        err = wait("config error", lambda: job(c, jid)["last_error"])
        assert "COOP_GITLAB_API_URL" in err, err
        assert not emu.seen("gitlab")
        # A repository on no configured host.
        jid = sync(c, kind="backfill", repo="git.example.org/a/b")
        err = wait("unknown host error", lambda: job(c, jid)["last_error"])
        assert "no code host" in err, err


if __name__ == "__main__":
    run_tests(globals())
