"""The code graph end to end: coopd import of real git history, then the
graph endpoints over HTTP.

The history of several paths is compared with `git log --follow`, on this
repository's own history (COOP_SOURCE_DIR) and on a small repository built
here with renames, a rename with edits, a delete and re-add.
"""
import json
import os
import subprocess
import sys
import tempfile
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from coopd_harness import Coopd, SOURCE_DIR, assert_error_shape, run_tests  # noqa: E402


class Server(Coopd):
    """coopd serve with a patient readiness wait: a loaded machine (two
    cores shared by parallel test suites) can take long to start it."""

    def start(self, wait=True):
        super().start(wait=False)
        if wait:
            self.wait_ready(timeout=120)
        return self


def git(cwd, *args, env=None):
    e = dict(os.environ)
    e.update({"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.com",
              "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.com"})
    e.update(env or {})
    return subprocess.run(["git", "-C", cwd] + list(args), env=e, check=True,
                          capture_output=True).stdout.decode()


def follow(repo_dir, path):
    out = git(repo_dir, "log", "--follow", "--format=%H", "--", path)
    return [line for line in out.splitlines() if line]


def api_history(c, repo, path, limit=7):
    shas, cursor, pages = [], None, 0
    while True:
        q = {"repo": repo, "path": path, "limit": str(limit)}
        if cursor:
            q["cursor"] = cursor
        r = c.get("/v1/history?" + urllib.parse.urlencode(q))
        assert r.status == 200, r.body
        body = r.json()
        for commit in body["commits"]:
            assert set(commit) >= {"sha", "author", "time", "message", "change"}, commit
            shas.append(commit["sha"])
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            return shas, pages


def import_git(c, repo, directory):
    p = c.run("import", "--repo", repo, "--git", directory)
    assert p.returncode == 0, p.stderr.decode()[-2000:]
    return p.stdout.decode()


def own_paths():
    out = git(SOURCE_DIR, "ls-files")
    files = out.splitlines()
    wanted = ["README.md", "CMakeLists.txt", "src/main/main.c", "include/coop/core.h",
              "src/store/schema.c", "Makefile"]
    return [f for f in wanted if f in files]


def test_own_history_matches_git_log_follow():
    with Server() as c:
        summary = import_git(c, "local/coop", SOURCE_DIR)
        assert summary.startswith("imported local/coop: "), summary
        total = int(git(SOURCE_DIR, "rev-list", "--count", "HEAD").strip())
        repos = c.get("/v1/repos").json()["repos"]
        assert [r["id"] for r in repos] == ["local/coop"]
        assert repos[0]["commits"] == total
        for path in own_paths():
            shas, _ = api_history(c, "local/coop", path)
            assert shas == follow(SOURCE_DIR, path), path
        # again: nothing new, nothing changed
        again = import_git(c, "local/coop", SOURCE_DIR)
        assert " 0 new commits" in again, again
        assert c.get("/v1/repos").json()["repos"][0]["commits"] == total
        listed = c.run("repos").stdout.decode()
        assert listed.startswith("local/coop %d" % total), listed


def build_rename_repo(d):
    git(d, "init", "-q", "-b", "main")
    for sub in ("src", "lib", ".github"):
        os.makedirs(os.path.join(d, sub))

    def write(path, text):
        with open(os.path.join(d, path), "w") as f:
            f.write(text)

    body = "".join("line %d of a file that is long enough to be recognised\n" % i for i in range(40))
    write("src/alpha.c", body)
    write("README.md", "hello\n")
    write(".github/CODEOWNERS", "* @octo/all\n/src/ @octo/core\n*.md @docs-team docs@example.com\n")
    git(d, "add", "-A")
    git(d, "commit", "-qm", "add alpha", env={"GIT_AUTHOR_NAME": "Alice", "GIT_AUTHOR_EMAIL": "alice@example.com"})
    write("src/alpha.c", body + "more\n")
    git(d, "commit", "-qam", "edit alpha", env={"GIT_AUTHOR_NAME": "Bob", "GIT_AUTHOR_EMAIL": "bob@example.com"})
    git(d, "mv", "src/alpha.c", "src/beta.c")
    git(d, "commit", "-qm", "rename alpha to beta", env={"GIT_AUTHOR_NAME": "Alice", "GIT_AUTHOR_EMAIL": "alice@example.com"})
    git(d, "mv", "src/beta.c", "lib/gamma.c")
    write("lib/gamma.c", body + "more\nand an edit with the move\n")
    git(d, "add", "-A")
    git(d, "commit", "-qm", "move and edit", env={"GIT_AUTHOR_NAME": "Carol", "GIT_AUTHOR_EMAIL": "carol@example.com"})
    write("lib/gamma.c", body + "again\n")
    write("README.md", "hello again\n")
    git(d, "commit", "-qam", "edit both")
    git(d, "rm", "-q", "README.md")
    git(d, "commit", "-qm", "drop readme")
    write("README.md", "back\n")
    git(d, "add", "-A")
    git(d, "commit", "-qm", "readme is back")


def test_renames_follow_like_git():
    with tempfile.TemporaryDirectory() as d, Server() as c:
        build_rename_repo(d)
        import_git(c, "local/renames", d)
        for path in ["lib/gamma.c", "README.md"]:
            shas, pages = api_history(c, "local/renames", path, limit=2)
            assert shas == follow(d, path), (path, shas, follow(d, path))
        gamma, _ = api_history(c, "local/renames", "lib/gamma.c", limit=50)
        assert len(gamma) == 5
        h = c.get("/v1/history?repo=local/renames&path=lib/gamma.c&limit=50").json()
        changes = [(x["change"], x.get("old_path")) for x in h["commits"]]
        assert changes == [("M", None), ("R", "src/beta.c"), ("R", "src/alpha.c"), ("M", None), ("A", None)], changes
        # the old names are no longer paths of the repository
        assert_error_shape(c.get("/v1/history?repo=local/renames&path=src/alpha.c"), 404)

        o = c.get("/v1/owners?repo=local/renames&path=lib/gamma.c").json()
        assert o["path"] == "lib/gamma.c"
        assert o["codeowners"]["file"] == ".github/CODEOWNERS"
        assert o["codeowners"]["owners"] == ["@octo/all"], o["codeowners"]
        assert [a["person"] for a in o["authors"]] == ["Alice"], o["authors"]  # she created it
        for a in o["authors"]:
            assert set(a) >= {"person", "doa", "commits", "last_change"}
        src = c.get("/v1/owners?repo=local/renames&path=src").status
        assert src == 404  # nothing lives under src/ any more
        md = c.get("/v1/owners?repo=local/renames&path=README.md").json()
        assert md["codeowners"]["line"] == 3 and md["codeowners"]["pattern"] == "*.md"
        assert md["codeowners"]["owners"] == ["@docs-team", "docs@example.com"]

        cp = c.get("/v1/coupling?repo=local/renames&path=lib/gamma.c").json()
        assert [f["path"] for f in cp["files"]][:1] == ["README.md"], cp
        assert set(cp["files"][0]) >= {"path", "shared", "degree"}

        tf = c.get("/v1/truck-factor?repo=local/renames").json()
        assert tf["files"] == 3 and tf["truck_factor"] >= 1, tf
        tf_dir = c.get("/v1/truck-factor?repo=local/renames&path=lib").json()
        assert tf_dir["files"] == 1 and tf_dir["truck_factor"] == 1, tf_dir

        people = c.get("/v1/people?repo=local/renames").json()["people"]
        assert {p["name"] for p in people} == {"Alice", "Bob", "Carol", "T"}
        assert c.get("/v1/pulls?repo=local/renames").json() == {"pulls": []}


def test_stdin_stream_equals_git():
    with tempfile.TemporaryDirectory() as d, Server() as c:
        build_rename_repo(d)
        stream = subprocess.run(["git", "-C", d, "log", "--reverse", "--name-status", "--find-renames",
                                 "-z", "--format=%x01%H%x00%at%x00%aN%x00%aE%x00%s%x00"],
                                check=True, capture_output=True).stdout
        p = c.run("import", "--repo", "local/stdin", "--stdin", input=stream)
        assert p.returncode == 0, p.stderr
        import_git(c, "local/git", d)
        for path in ["lib/gamma.c", "README.md"]:
            a = c.get("/v1/history?repo=local/stdin&path=" + path).json()["commits"]
            b = c.get("/v1/history?repo=local/git&path=" + path).json()["commits"]
            assert a == b


def test_errors():
    with Server() as c:
        assert c.get("/v1/repos").json() == {"repos": []}
        assert_error_shape(c.get("/v1/owners?repo=nope/nope&path=a"), 404)
        assert "repository" in c.get("/v1/owners?repo=nope/nope&path=a").json()["error"]["message"]
        assert_error_shape(c.get("/v1/owners?path=a"), 400)
        assert_error_shape(c.get("/v1/history?repo=x"), 400)
        assert_error_shape(c.get("/v1/history?repo=x&path=a&limit=abc"), 400)
        assert_error_shape(c.get("/v1/history?repo=x&path=a&limit=-3"), 400)
        assert_error_shape(c.get("/v1/pulls?repo=x&state=weird"), 400)
        p = c.run("import", "--repo", "x")
        assert p.returncode == 2
        p = c.run("import", "--repo", "local/junk", "--stdin", input=b"garbage without structure")
        assert p.returncode == 0 and b"0 new commits" in p.stdout, p.stdout


run_tests(globals())
