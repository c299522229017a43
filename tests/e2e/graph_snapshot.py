"""The whole code graph of one store, in a form two runs can be compared in.

Row ids (people, files, commits, repositories) depend on the order rows
were inserted, which differs between a single instance and several
instances racing over one database; everything here names rows by what
they are instead: a repository by its name, a person by their sorted
identities, a file by its repository, path and creator, a commit by its
sha. Columns that count how often something was recomputed (cache
versions) or hold wall-clock times of processing are left out. Every list
is sorted.

Standard library only; reads through Coopd.sql, so it works on SQLite and
PostgreSQL alike.
"""
import json
import urllib.parse


def _people(sql):
    """person id -> a stable key: (name, sorted identities)."""
    idents = {}
    for person, kind, scope, value in sql("SELECT person, kind, scope, value FROM graph_identities"):
        idents.setdefault(person, []).append("%s:%s:%s" % (kind, scope, value))
    keys = {}
    for pid, name in sql("SELECT id, name FROM graph_people"):
        keys[pid] = "%s <%s>" % (name, ", ".join(sorted(idents.get(pid, []))))
    return keys


def snapshot(sql, synced_after_ms=None):
    """A dict of sorted lists, one per graph table, from sql(query) -> rows.
    Reviewer states read from a host's REST API are stamped with the time
    of the sync: times after synced_after_ms read "synced"."""
    people = _people(sql)
    repos = {rid: name for rid, name in sql("SELECT id, name FROM graph_repos")}
    files = {}
    for fid, repo, path, creator in sql("SELECT id, repo, path, creator FROM graph_files"):
        files[fid] = "%s:%s@%s" % (repos.get(repo), path, people.get(creator))
    commits = {cid: sha for cid, sha in sql("SELECT id, sha FROM graph_commits")}

    def p(pid):
        return None if pid is None else people.get(pid, "missing person %s" % pid)

    out = {}
    out["repos"] = sorted(
        [name, branch, n, last, head] for name, branch, n, last, head in
        sql("SELECT name, default_branch, commits, last_event_at, import_head FROM graph_repos"))
    out["people"] = sorted(people.values())
    out["files"] = sorted(
        [files[fid], revs, crevs, deleted, last] for fid, revs, crevs, deleted, last in
        sql("SELECT id, revisions, coupling_revisions, deleted, last_change FROM graph_files"))
    out["paths"] = sorted([repos.get(r), path, files.get(f)] for r, path, f in
                          sql("SELECT repo, path, file FROM graph_paths"))
    out["commits"] = sorted(
        [repos.get(r), sha, p(a), t, msg, nf] for r, sha, a, t, msg, nf in
        sql("SELECT repo, sha, author, time, message, files FROM graph_commits"))
    out["changes"] = sorted(
        [commits.get(c), files.get(f), st, path, old] for f, c, st, path, old in
        sql("SELECT file, commit_id, status, path, old_path FROM graph_changes"))
    out["authorship"] = sorted(
        [files.get(f), p(pe), n, last] for f, pe, n, last in
        sql("SELECT file, person, changes, last_change FROM graph_authorship"))
    out["coupling"] = sorted([files.get(a), files.get(b), n] for a, b, n in
                             sql("SELECT a, b, shared FROM graph_coupling"))
    out["repo_people"] = sorted(
        [repos.get(r), p(pe), n, last] for r, pe, n, last in
        sql("SELECT repo, person, commits, last_change FROM graph_repo_people"))
    out["codeowners"] = sorted(
        [repos.get(r), b, f, text] for r, b, f, text in
        sql("SELECT repo, branch, file, text FROM graph_codeowners"))
    out["pulls"] = sorted(
        [repos.get(row[0])] + [p(row[4]) if i == 4 else v for i, v in enumerate(row) if i != 0]
        for row in sql("SELECT repo, number, title, state, author, url, source_branch, target_branch,"
                       " head_sha, merge_sha, created_at, updated_at, closed_at FROM graph_pulls"))
    def synced(t):
        return "synced" if synced_after_ms is not None and t >= synced_after_ms else t

    out["pull_reviewers"] = sorted(
        [repos.get(r), n, login, st, synced(t)] for r, n, login, st, t in
        sql("SELECT repo, number, login, state, updated_at FROM graph_pull_reviewers"))
    out["pull_files"] = sorted([repos.get(r), n, path] for r, n, path in
                               sql("SELECT repo, number, path FROM graph_pull_files"))
    out["gaps"] = sorted(
        [repos.get(r), after, reason, ref, before, exp, rec, filled]
        for r, after, reason, ref, before, exp, rec, filled in
        sql("SELECT repo, after_sha, reason, ref, before_sha, expected, received, filled FROM graph_gaps"))
    return out


def _sorted_lists(v):
    """v with every list of objects sorted (ties in the API's order fall back
    on row ids), row ids and request ids dropped."""
    if isinstance(v, dict):
        return {k: _sorted_lists(x) for k, x in v.items()
                if k not in ("person_id", "request_id") and not (k == "id" and isinstance(x, int))}
    if isinstance(v, list):
        items = [_sorted_lists(x) for x in v]
        if items and all(isinstance(x, dict) for x in items):
            return sorted(items, key=lambda x: json.dumps(x, sort_keys=True))
        return items
    return v


def answers(c, repos, paths, pulls=True):
    """What the query API answers about repos and paths: {url: json}.
    History keeps its order (newest first, distinct times); other lists are
    compared as sets."""
    out = {"/v1/repos": _sorted_lists(c.get("/v1/repos").json())}
    for repo in repos:
        urls = ["/v1/people?repo=%s" % repo, "/v1/truck-factor?repo=%s" % repo]
        if pulls:
            urls.append("/v1/pulls?repo=%s" % repo)
        for path in paths:
            q = urllib.parse.urlencode({"repo": repo, "path": path})
            urls += ["/v1/owners?" + q, "/v1/history?" + q + "&limit=500", "/v1/coupling?" + q,
                     "/v1/truck-factor?" + q]
            if pulls:
                urls.append("/v1/pulls?" + q)
        for url in urls:
            r = c.get(url)
            out[url] = [r.status, _sorted_lists(r.json())]
    return out


def diff(a, b, label_a="a", label_b="b"):
    """A short description of how two snapshots differ ("" when equal)."""
    lines = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) == b.get(key):
            continue
        x, y = a.get(key), b.get(key)
        if isinstance(x, list) and isinstance(y, list):
            xs = [json.dumps(v, sort_keys=True) for v in x]
            ys = [json.dumps(v, sort_keys=True) for v in y]
            only_x = [v for v in xs if v not in ys][:5]
            only_y = [v for v in ys if v not in xs][:5]
            lines.append("%s: %d vs %d rows; only in %s: %s; only in %s: %s"
                         % (key, len(x), len(y), label_a, only_x, label_b, only_y))
        else:
            lines.append("%s: %s: %s; %s: %s" % (key, label_a, json.dumps(x)[:600], label_b,
                                                  json.dumps(y)[:600]))
    return "\n".join(lines)
