"""Writes tests/data/webhook/expected.json: for every fixture, the events
Coop must make of it, derived here straight from the payload by a separate,
simpler reading of each host's format (the C parsers are checked against it,
and each case was reviewed by hand when it was generated).

Run: python3 tests/data/webhook/tools/expectations.py
"""
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
BASE = os.path.join(HERE, "..", "fixtures")
ZERO = "0" * 40


def first_line(s):
    return s.split("\n")[0].rstrip("\r") if s is not None else None


def host_path(url):
    url = re.sub(r"^[a-z]+://", "", url).rstrip("/")
    if url.endswith(".git"):
        url = url[:-4]
    host, _, path = url.partition("/")
    return host.lower() + "/" + path


# ---- GitLab -------------------------------------------------------------------
def gitlab_event(f, d):
    kind = d.get("object_kind") or d.get("event_name")
    if kind == "push":
        return "Push Hook" if not f.startswith("system") else "System Hook"
    if kind == "tag_push":
        return "Tag Push Hook" if not f.startswith("system") else "System Hook"
    if kind == "merge_request":
        return "Merge Request Hook"
    return "System Hook" if f.startswith("system") else (d.get("object_kind") or "Hook")


def gitlab_expect(f, d):
    kind = d.get("object_kind") or d.get("event_name")
    if kind in ("push", "tag_push"):
        commits = d.get("commits") or []
        return [{"kind": "push", "repo": host_path(d["project"]["web_url"]),
                 "push": {"ref": d["ref"], "before": d["before"], "after": d["after"],
                          "created": d["before"] == ZERO, "deleted": d["after"] == ZERO,
                          "total_commits": d.get("total_commits_count", len(commits)),
                          "truncated": d.get("total_commits_count", len(commits)) > len(commits),
                          "commits": [{"sha": c["id"], "message": first_line(c["message"]),
                                       "author": {"name": c["author"]["name"], "email": c["author"]["email"]},
                                       "files_known": True,
                                       "added": c.get("added", []), "modified": c.get("modified", []),
                                       "removed": c.get("removed", [])} for c in commits]}}]
    if kind == "merge_request":
        oa = d["object_attributes"]
        state = {"opened": "open", "merged": "merged", "closed": "closed", "locked": "closed"}[oa["state"]]
        action = {"open": "opened", "close": "closed", "reopen": "reopened", "merge": "merged",
                  "update": "updated"}.get(oa.get("action"), "other")
        pull = {"number": oa["iid"], "title": oa["title"], "state": state, "action": action,
                "url": oa.get("url"), "source_branch": oa["source_branch"], "target_branch": oa["target_branch"],
                "reviewers": [r["username"] for r in d.get("reviewers", [])]}
        if oa.get("action") == "open":
            pull["author"] = {"login": d["user"]["username"]}
        return [{"kind": "pull", "repo": host_path(d["project"]["web_url"]), "pull": pull}]
    if d.get("event_name") in ("project_rename", "project_transfer"):
        old = "gitlab.com/" + d["old_path_with_namespace"]
        new = "gitlab.com/" + d["path_with_namespace"]
        return [{"kind": "repo_renamed", "repo": new,
                 "repo_renamed": {"old_id": old, "new_id": new,
                                  "transferred": d["event_name"] == "project_transfer"}}]
    return []


# ---- Bitbucket Cloud ------------------------------------------------------------------
CLOUD_KEYS = {"created": "created", "updated": "updated", "merged": "fulfilled", "declined": "rejected",
              "approved": "approved", "approval-removed": "unapproved", "comment-created": "comment_created",
              "comment-updated": "comment_updated", "comment-deleted": "comment_deleted"}


def cloud_event(f, d):
    n = f[:-5]
    if n.startswith("pull-request-"):
        return "pullrequest:" + CLOUD_KEYS[n[len("pull-request-"):]]
    if n.startswith("repo-"):
        return "repo:" + n[5:].replace("-", "_")
    if n.startswith("issue-"):
        return "issue:" + n[6:].replace("-", "_")
    return "repo:commit_comment_created"


def cloud_expect(f, d, key):
    repo = "bitbucket.org/" + d["repository"]["full_name"] if "repository" in d else None
    if key == "repo:push":
        out = []
        for ch in d["push"]["changes"]:
            commits = list(reversed(ch.get("commits", [])))
            out.append({"kind": "push", "repo": repo,
                        "push": {"ref": "refs/heads/" + ch["new"]["name"],
                                 "before": ch["old"]["target"]["hash"], "after": ch["new"]["target"]["hash"],
                                 "truncated": ch["truncated"], "forced": ch["forced"],
                                 "commits": [{"sha": c["hash"], "message": first_line(c["message"]),
                                              "files_known": False, "added": [],
                                              "author": {"login": c["author"].get("nickname")}}
                                             for c in commits]}})
        return out
    if key == "repo:updated":
        ch = d["changes"]["full_name"]
        return [{"kind": "repo_renamed", "repo": "bitbucket.org/" + ch["new"],
                 "repo_renamed": {"old_id": "bitbucket.org/" + ch["old"], "new_id": "bitbucket.org/" + ch["new"]}}]
    if key.startswith("pullrequest:") and "comment" not in key:
        pr = d["pullrequest"]
        state = {"pullrequest:fulfilled": "merged", "pullrequest:rejected": "closed"}.get(key, "open")
        pull = {"number": pr["id"], "title": pr["title"], "state": state,
                "author": {"login": pr["author"]["nickname"]},
                "reviewers": [r["nickname"] for r in pr["reviewers"]],
                "source_branch": pr["source"]["branch"]["name"],
                "target_branch": pr["destination"]["branch"]["name"]}
        if key in ("pullrequest:approved", "pullrequest:unapproved"):
            return [{"kind": "review", "repo": repo,
                     "review": {"state": "approved" if key.endswith(":approved") else "unapproved",
                                "reviewer": {"login": d["approval"]["user"]["nickname"]},
                                "pull": {"number": pr["id"]}}}]
        pull["action"] = {"pullrequest:created": "opened", "pullrequest:updated": "updated",
                          "pullrequest:fulfilled": "merged", "pullrequest:rejected": "closed"}[key]
        return [{"kind": "pull", "repo": repo, "pull": pull}]
    return []


# ---- Bitbucket Data Center -------------------------------------------------------------
def server_repo(r):
    href = r["links"]["self"][0]["href"]
    host = re.sub(r"^[a-z]+://", "", href).split("/")[0].split(":")[0]
    return ("%s/%s/%s" % (host, r["project"]["key"], r["slug"])).lower()


def server_expect(f, d, key):
    if key == "repo:refs_changed":
        return [{"kind": "push", "repo": server_repo(d["repository"]),
                 "push": {"ref": c["refId"], "before": c["fromHash"], "after": c["toHash"],
                          "created": c["type"] == "ADD", "deleted": c["type"] == "DELETE",
                          "commits": [], "total_commits": -1, "truncated": c["type"] != "DELETE"}}
                for c in d["changes"]]
    if key == "repo:modified":
        return [{"kind": "repo_renamed", "repo": server_repo(d["new"]),
                 "repo_renamed": {"old_id": server_repo(d["old"]), "new_id": server_repo(d["new"]),
                                  "transferred": d["old"]["project"]["key"] != d["new"]["project"]["key"]}}]
    if key.startswith("pr:") and not key.startswith("pr:comment"):
        pr = d["pullRequest"]
        repo = server_repo(pr["toRef"]["repository"])
        state = {"OPEN": "open", "MERGED": "merged", "DECLINED": "closed"}[pr["state"]]
        pull = {"number": pr["id"], "title": pr["title"], "state": state,
                "author": {"login": pr["author"]["user"]["slug"]},
                "reviewers": [r["user"]["slug"] for r in pr["reviewers"]],
                "source_branch": pr["fromRef"]["displayId"], "target_branch": pr["toRef"]["displayId"],
                "head_sha": pr["fromRef"]["latestCommit"], "created_ms": pr["createdDate"]}
        reviews = {"pr:reviewer:approved": "approved", "pr:reviewer:unapproved": "unapproved",
                   "pr:reviewer:needs_work": "changes_requested"}
        if key in reviews:
            return [{"kind": "review", "repo": repo,
                     "review": {"state": reviews[key], "reviewer": {"login": d["participant"]["user"]["slug"]},
                                "pull": pull}}]
        pull["action"] = {"pr:opened": "opened", "pr:modified": "updated", "pr:reviewer:updated": "updated",
                          "pr:merged": "merged", "pr:declined": "closed", "pr:deleted": "closed"}[key]
        return [{"kind": "pull", "repo": repo, "pull": pull}]
    return []


def main():
    cases = []
    for src in sorted(os.listdir(BASE)):
        folder = os.path.join(BASE, src)
        if not os.path.isdir(folder):
            continue
        for f in sorted(os.listdir(folder)):
            if not f.endswith(".json"):
                continue
            d = json.load(open(os.path.join(folder, f)))
            if src == "gitlab":
                event, events = gitlab_event(f, d), gitlab_expect(f, d)
            elif src == "bitbucket":
                event = cloud_event(f, d)
                events = cloud_expect(f, d, event)
            else:
                event = d["eventKey"]
                events = server_expect(f, d, event)
            source = "gitlab" if src == "gitlab" else "bitbucket"
            for e in events:
                e["source"] = {"gitlab": "gitlab", "bitbucket": "bitbucket"}.get(src, "bitbucket-server")
            cases.append({"parser": source, "file": src + "/" + f, "event": event, "events": events})
    with open(os.path.join(HERE, "..", "expected.json"), "w") as out:
        json.dump({"cases": cases}, out, indent=1, sort_keys=True)
        out.write("\n")
    print("%d cases" % len(cases))


if __name__ == "__main__":
    main()
