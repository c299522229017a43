"""A code-host emulator for Coop's tests: GitHub REST v3, GitLab v4,
Bitbucket Cloud 2.0, Bitbucket Data Center 1.0 and Slack's users.info,
each under its own prefix of one loopback server, answering in the
response shapes the hosts document (field names, pagination, errors).

  /github/...              GitHub  (Link headers, ETag / If-None-Match)
  /gitlab/api/v4/...       GitLab  (Link + X-Next-Page headers)
  /bitbucket/2.0/...       Bitbucket Cloud ("next" in the body)
  /bbdc/rest/api/1.0/...   Bitbucket Data Center (isLastPage / nextPageStart)
  /slack/api/users.info    Slack Web API

GitHub App mode (`app={"id", "public_key", "installation", "ttl"}`): the
app's JWT (RS256) is verified with its public key through `openssl dgst`
(the standard library has no RSA) and its claims checked as GitHub does;
POST /app/installations/{id}/access_tokens issues installation tokens
that expire after ttl seconds (or when `expire_app_tokens()` says so), GET
/repos/{owner}/{repo}/installation names the installation, and every other
GitHub call needs a live installation token.

Pages hold PAGE_SIZE items whatever the client asks, so a small history
spans several pages. Scenarios: a wrong bearer token answers the host's
401; `rate_limit` maps a host name to the commits-list page number that
answers 429 with Retry-After once; a repository without CODEOWNERS answers
404 at every location. Every request is recorded (path, status, whether
If-None-Match was sent, the Authorization header) for the tests to read.

Standard library only. Run alone with: python3 host_emulator.py PORT
"""
import base64
import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE_SIZE = 10
AUTHORS = [("Alice Doe", "alice@example.com", "alice"),
           ("Bob Roe", "bob@example.com", "bob"),
           ("Carol Poe", "carol@example.com", "carol")]


def make_history(name, n, codeowners_path):
    """n commits, oldest first: (sha, author index, time s, message, changes).
    Commit 0 adds the layout; a rename happens at n//2."""
    commits = []
    for i in range(n):
        sha = hashlib.sha1(("%s:%d" % (name, i)).encode()).hexdigest()
        t = 1_700_000_000 + i * 3600
        if i == 0:
            ch = [("A", "README.md", None), ("A", "src/a.c", None), ("A", "src/b.c", None)]
            if codeowners_path:
                ch.append(("A", codeowners_path, None))
        elif i == n // 2:
            ch = [("R", "src/renamed.c", "src/b.c")]
        else:
            ch = [("M", "src/a.c", None), ("A" if i % 4 == 1 else "M", "src/f%d.c" % (i % 4), None)]
            ch = list(dict(((c[1], c) for c in ch)).values())
        commits.append({"sha": sha, "author": AUTHORS[i % 3], "time": t,
                        "message": "change %d of %s\n\nbody text" % (i, name), "changes": ch})
    return commits


def iso(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Repo:
    def __init__(self, name, n, codeowners_path=None, codeowners_text=None):
        self.name = name
        self.commits = make_history(name, n, codeowners_path)
        self.visible = n  # how many (oldest first) the host shows: grows as "pushes" arrive
        self.files = {}
        if codeowners_path:
            self.files[codeowners_path] = codeowners_text
        self.pulls = {7: {"files": ["src/a.c", "docs/guide.md"],
                          "reviews": [("bob", "COMMENTED"), ("bob", "APPROVED"),
                                      ("carol", "CHANGES_REQUESTED")]}}

    def newest_first_from(self, ref):
        """Commits reachable from ref (a branch name or a sha), newest first."""
        idx = self.visible - 1
        for i, c in enumerate(self.commits[:self.visible]):
            if c["sha"] == ref:
                idx = i
        return list(reversed(self.commits[:idx + 1]))

    def commit(self, sha):
        for c in self.commits:
            if c["sha"] == sha:
                return c
        return None


GITHUB_CO = "# GitHub CODEOWNERS\n*       @octo/everyone\n/src/   @alice @octo/core\n*.md    @carol\n"
GITLAB_CO = "* @alice\n\n[Backend][2]\nsrc/ @bob @carol\n\n^[Docs]\n*.md @carol\n"
BITBUCKET_CO = "* @ws/all\nsrc/ @bob\n"


class Emulator:
    def __init__(self, tokens=None, rate_limit=None, app=None):
        self.tokens = tokens or {}
        self.app = app
        self.app_tokens = {}  # installation token -> expiry (epoch s)
        self.jwt_results = []  # (accepted, reason) per JWT seen
        self.rate_limit = dict(rate_limit or {})
        self.rate_limited_served = []
        self.requests = []
        self.lock = threading.Lock()
        self.repos = {
            "github": {"octo/hello": Repo("octo/hello", 25, ".github/CODEOWNERS", GITHUB_CO),
                       "octo/no-owners": Repo("octo/no-owners", 3)},
            "gitlab": {"group/sub/project": Repo("group/sub/project", 23, "CODEOWNERS", GITLAB_CO)},
            "bitbucket": {"ws/repo": Repo("ws/repo", 12, ".bitbucket/CODEOWNERS", BITBUCKET_CO)},
            "bbdc": {"PROJ/repo": Repo("PROJ/repo", 14, ".bitbucket/CODEOWNERS", BITBUCKET_CO)},
        }
        self.slack_users = {"U0ALICE": ("T0TEAM", "alice", "Alice Doe", "alice@example.com")}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = None

    def url(self, prefix):
        return "http://127.0.0.1:%d%s" % (self.port, prefix)

    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def seen(self, host=None, contains=None):
        with self.lock:
            return [r for r in self.requests
                    if (host is None or r["host"] == host) and (contains is None or contains in r["path"])]

    def _handler(self):
        emu = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 1 << 16  # one write per response (flushed after each request)

            def log_message(self, *a):
                pass

            def setup(self):
                super().setup()
                # Headers and body go out in separate writes: without this a
                # kept-alive connection waits on delayed ACKs (40 ms a request).
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self):
                try:
                    emu.dispatch(self)
                except BrokenPipeError:
                    pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                self.do_GET()

        return Handler

    # -- responses ---------------------------------------------------------------
    def send(self, h, host, status, body, ctype="application/json", headers=None):
        data = body if isinstance(body, bytes) else (
            body.encode() if isinstance(body, str) else json.dumps(body).encode())
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        if status != 304:
            h.wfile.write(data)
        with self.lock:
            self.requests.append({"host": host, "path": h.path, "status": status, "method": h.command,
                                  "if_none_match": h.headers.get("If-None-Match"),
                                  "authorization": h.headers.get("Authorization")})

    def dispatch(self, h):
        parsed = urllib.parse.urlsplit(h.path)
        path, query = parsed.path, dict(urllib.parse.parse_qsl(parsed.query))
        for prefix, host in (("/github/", "github"), ("/gitlab/api/v4/", "gitlab"),
                             ("/bitbucket/2.0/", "bitbucket"), ("/bbdc/rest/api/1.0/", "bbdc"),
                             ("/slack/api/", "slack")):
            if path.startswith(prefix):
                rest = path[len(prefix):]
                if host == "github" and self.app:
                    return self.github_app(h, rest, query, prefix)
                want = self.tokens.get(host)
                if want and h.headers.get("Authorization") != "Bearer " + want:
                    return self.unauthorized(h, host)
                return getattr(self, host)(h, host, rest, query, prefix)
        self.send(h, "none", 404, {"message": "Not Found"})

    # -- GitHub App --------------------------------------------------------------
    def expire_app_tokens(self):
        """Every installation token issued so far stops working (as when
        GitHub revokes one, or its hour is up)."""
        with self.lock:
            for t in self.app_tokens:
                self.app_tokens[t] = 0

    def verify_jwt(self, h):
        """(True, claims) or (False, reason) for the request's bearer JWT."""
        auth = h.headers.get("Authorization") or ""
        if not auth.startswith("Bearer "):
            return False, "no bearer"
        parts = auth[7:].split(".")
        if len(parts) != 3:
            return False, "not a JWT"

        def b64(x):
            return base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
        try:
            header, claims, sig = json.loads(b64(parts[0])), json.loads(b64(parts[1])), b64(parts[2])
        except ValueError:
            return False, "undecodable"
        if header.get("alg") != "RS256":
            return False, "alg"
        with tempfile.TemporaryDirectory() as d:
            data, sigf = os.path.join(d, "data"), os.path.join(d, "sig")
            with open(data, "wb") as f:
                f.write(("%s.%s" % (parts[0], parts[1])).encode())
            with open(sigf, "wb") as f:
                f.write(sig)
            r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", self.app["public_key"],
                                "-signature", sigf, data], capture_output=True)
        if r.returncode != 0:
            return False, "signature"
        now = time.time()
        if str(claims.get("iss")) != str(self.app["id"]):
            return False, "iss"
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int) or not isinstance(exp, int) or iat > now + 5 or exp <= now \
                or exp - now > 600 or exp <= iat:
            return False, "times"
        return True, claims

    def github_app(self, h, rest, q, prefix):
        parts = rest.split("/")
        jwt_call = (h.command == "POST" and len(parts) == 4 and parts[:2] == ["app", "installations"]
                    and parts[3] == "access_tokens") or \
                   (len(parts) == 4 and parts[0] == "repos" and parts[3] == "installation")
        if jwt_call:
            ok, why = self.verify_jwt(h)
            with self.lock:
                self.jwt_results.append((ok, why if not ok else "ok"))
            if not ok:
                return self.send(h, "github", 401, {
                    "message": "A JSON web token could not be decoded",
                    "documentation_url": "https://docs.github.com/rest"})
            if parts[0] == "repos":
                if parts[1] + "/" + parts[2] not in self.repos["github"]:
                    return self.send(h, "github", 404, {"message": "Not Found"})
                return self.send(h, "github", 200, {
                    "id": self.app["installation"], "app_id": int(self.app["id"]),
                    "account": {"login": parts[1], "type": "Organization"},
                    "repository_selection": "selected", "target_type": "Organization",
                    "permissions": {"contents": "read", "pull_requests": "read", "metadata": "read"}})
            if parts[2] != str(self.app["installation"]):
                return self.send(h, "github", 404, {"message": "Not Found"})
            token = "ghs_" + secrets.token_hex(18)
            expires = time.time() + self.app.get("ttl", 3600)
            with self.lock:
                self.app_tokens[token] = expires
            return self.send(h, "github", 201, {
                "token": token, "expires_at": iso(int(expires)),
                "permissions": {"contents": "read", "pull_requests": "read", "metadata": "read"},
                "repository_selection": "selected"})
        auth = h.headers.get("Authorization") or ""
        with self.lock:
            live = auth.startswith("Bearer ") and self.app_tokens.get(auth[7:], 0) > time.time()
        if not live:
            return self.unauthorized(h, "github")
        return self.github(h, "github", rest, q, prefix)

    def unauthorized(self, h, host):
        bodies = {
            "github": {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest",
                       "status": "401"},
            "gitlab": {"message": "401 Unauthorized"},
            "bitbucket": {"type": "error", "error": {"message": "Access token expired."}},
            "bbdc": {"errors": [{"context": None, "message": "Authentication failed. Please check your credentials and try again.",
                                 "exceptionName": "com.atlassian.bitbucket.auth.IncorrectPasswordAuthenticationException"}]},
        }
        if host == "slack":
            return self.send(h, host, 200, {"ok": False, "error": "invalid_auth"})
        self.send(h, host, 401, bodies[host])

    def maybe_limit(self, h, host, page):
        """The configured page of a commits listing answers 429 once."""
        with self.lock:
            limited = self.rate_limit.get(host) == page
            if limited:
                del self.rate_limit[host]
                self.rate_limited_served.append((host, page))
        if limited:
            headers = {"Retry-After": "1"}
            if host == "github":
                headers.update({"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0",
                                "X-RateLimit-Reset": "0"})
            self.send(h, host, 429, {"message": "API rate limit exceeded"}, headers=headers)
        return limited

    @staticmethod
    def page_of(items, page):
        start = (page - 1) * PAGE_SIZE
        return items[start:start + PAGE_SIZE], start + PAGE_SIZE < len(items)

    def base(self, h, prefix):
        return "http://%s%s" % (h.headers.get("Host"), prefix.rstrip("/"))

    # -- GitHub ------------------------------------------------------------------
    def gh_commit(self, c, base, repo, with_files=False):
        name, email, login = c["author"]
        out = {"sha": c["sha"], "node_id": "C_" + c["sha"][:10],
               "commit": {"author": {"name": name, "email": email, "date": iso(c["time"])},
                          "committer": {"name": name, "email": email, "date": iso(c["time"])},
                          "message": c["message"], "comment_count": 0},
               "url": "%s/repos/%s/commits/%s" % (base, repo, c["sha"]),
               "author": {"login": login, "id": 1000 + AUTHORS.index(c["author"]), "type": "User"},
               "committer": {"login": login, "type": "User"}, "parents": []}
        if with_files:
            st = {"A": "added", "M": "modified", "D": "removed", "R": "renamed"}
            files = []
            for s, p, old in c["changes"]:
                f = {"sha": hashlib.sha1(p.encode()).hexdigest(), "filename": p, "status": st[s],
                     "additions": 1, "deletions": 0, "changes": 1}
                if old:
                    f["previous_filename"] = old
                files.append(f)
            out["files"] = files
            out["stats"] = {"total": len(files), "additions": len(files), "deletions": 0}
        return out

    def github(self, h, host, rest, q, prefix):
        base = self.base(h, prefix)
        parts = rest.split("/")
        if len(parts) < 3 or parts[0] != "repos":
            return self.send(h, host, 404, {"message": "Not Found"})
        repo_name = parts[1] + "/" + parts[2]
        repo = self.repos["github"].get(repo_name)
        not_found = {"message": "Not Found",
                     "documentation_url": "https://docs.github.com/rest/repos/contents#get-repository-content",
                     "status": "404"}
        if not repo:
            return self.send(h, host, 404, not_found)
        tail = parts[3:]
        if not tail:
            return self.send(h, host, 200, {"id": 1, "name": parts[2], "full_name": repo_name,
                                            "private": False, "default_branch": "main"},
                             headers={"ETag": '"repo-%s"' % repo_name})
        if tail[0] == "contents":
            p = urllib.parse.unquote("/".join(tail[1:]))
            text = repo.files.get(p)
            if text is None:
                return self.send(h, host, 404, not_found)
            etag = '"%s"' % hashlib.sha1(text.encode()).hexdigest()
            if h.headers.get("If-None-Match") == etag:
                return self.send(h, host, 304, b"", headers={"ETag": etag})
            b64 = base64.b64encode(text.encode()).decode()
            content = "\n".join(b64[i:i + 60] for i in range(0, len(b64), 60)) + "\n"
            return self.send(h, host, 200, {"type": "file", "encoding": "base64", "size": len(text),
                                            "name": p.split("/")[-1], "path": p, "content": content,
                                            "sha": etag.strip('"')}, headers={"ETag": etag})
        if tail[0] == "commits" and len(tail) == 1:
            page = int(q.get("page", "1"))
            if self.maybe_limit(h, host, page):
                return
            items, more = self.page_of(repo.newest_first_from(q.get("sha", "main")), page)
            headers = {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "4999"}
            if more:
                nq = dict(q, page=str(page + 1))
                headers["Link"] = '<%s/repos/%s/commits?%s>; rel="next", <%s/repos/%s/commits?page=99>; rel="last"' % (
                    base, repo_name, urllib.parse.urlencode(nq), base, repo_name)
            return self.send(h, host, 200, [self.gh_commit(c, base, repo_name) for c in items],
                             headers=headers)
        if tail[0] == "commits" and len(tail) == 2:
            c = repo.commit(tail[1])
            if not c:
                return self.send(h, host, 422, {"message": "No commit found for SHA: " + tail[1]})
            return self.send(h, host, 200, self.gh_commit(c, base, repo_name, with_files=True))
        if tail[0] == "pulls" and len(tail) == 3 and int(tail[1]) in repo.pulls:
            pr = repo.pulls[int(tail[1])]
            if tail[2] == "files":
                return self.send(h, host, 200, [{"sha": "0" * 40, "filename": f, "status": "modified",
                                                 "additions": 1, "deletions": 1, "changes": 2}
                                                for f in pr["files"]])
            if tail[2] == "reviews":
                return self.send(h, host, 200, [{"id": i + 1, "user": {"login": u, "type": "User"},
                                                 "body": "", "state": s,
                                                 "submitted_at": iso(1_700_000_000 + i)}
                                                for i, (u, s) in enumerate(pr["reviews"])])
        self.send(h, host, 404, not_found)

    # -- GitLab ------------------------------------------------------------------
    def gitlab(self, h, host, rest, q, prefix):
        base = self.base(h, prefix)
        parts = rest.split("/")
        if len(parts) < 2 or parts[0] != "projects":
            return self.send(h, host, 404, {"message": "404 Not Found"})
        name = urllib.parse.unquote(parts[1])
        repo = self.repos["gitlab"].get(name)
        if not repo:
            return self.send(h, host, 404, {"message": "404 Project Not Found"})
        tail = parts[2:]
        if not tail:
            return self.send(h, host, 200, {"id": 42, "path_with_namespace": name,
                                            "default_branch": "main"})
        if tail[:2] == ["repository", "files"] and len(tail) == 4 and tail[3] == "raw":
            text = repo.files.get(urllib.parse.unquote(tail[2]))
            if text is None:
                return self.send(h, host, 404, {"message": "404 File Not Found"})
            etag = 'W/"%s"' % hashlib.sha1(text.encode()).hexdigest()
            if h.headers.get("If-None-Match") == etag:
                return self.send(h, host, 304, b"", headers={"ETag": etag})
            return self.send(h, host, 200, text, ctype="text/plain; charset=utf-8", headers={"ETag": etag})
        if tail == ["repository", "commits"]:
            page = int(q.get("page", "1"))
            if self.maybe_limit(h, host, page):
                return
            items, more = self.page_of(repo.newest_first_from(q.get("ref_name", "main")), page)
            headers = {"X-Page": str(page), "X-Per-Page": str(PAGE_SIZE), "RateLimit-Remaining": "599"}
            if more:
                nq = dict(q, page=str(page + 1))
                headers["X-Next-Page"] = str(page + 1)
                headers["Link"] = '<%s/projects/%s/repository/commits?%s>; rel="next"' % (
                    base, urllib.parse.quote(name, safe=""), urllib.parse.urlencode(nq))
            out = []
            for c in items:
                n, e, _ = c["author"]
                out.append({"id": c["sha"], "short_id": c["sha"][:8], "title": c["message"].split("\n")[0],
                            "message": c["message"], "author_name": n, "author_email": e,
                            "authored_date": iso(c["time"]).replace("Z", ".000+00:00"),
                            "committer_name": n, "committer_email": e,
                            "committed_date": iso(c["time"]), "parent_ids": []})
            return self.send(h, host, 200, out, headers=headers)
        if tail[:2] == ["repository", "commits"] and len(tail) == 4 and tail[3] == "diff":
            c = repo.commit(tail[2])
            if not c:
                return self.send(h, host, 404, {"message": "404 Commit Not Found"})
            return self.send(h, host, 200, [self.gl_diff(s, p, old) for s, p, old in c["changes"]])
        if tail[0] == "merge_requests" and len(tail) == 3 and int(tail[1]) in repo.pulls:
            pr = repo.pulls[int(tail[1])]
            if tail[2] == "changes":
                return self.send(h, host, 200, {"iid": int(tail[1]), "state": "opened",
                                                "changes": [self.gl_diff("M", f, None) for f in pr["files"]]})
            if tail[2] == "approvals":
                return self.send(h, host, 200, {"iid": int(tail[1]), "approved": True,
                                                "approvals_required": 1, "approvals_left": 0,
                                                "approved_by": [{"user": {"id": 2, "username": "bob",
                                                                          "name": "Bob Roe"}}]})
        self.send(h, host, 404, {"message": "404 Not Found"})

    @staticmethod
    def gl_diff(s, p, old):
        return {"old_path": old or p, "new_path": p, "a_mode": "100644", "b_mode": "100644",
                "new_file": s == "A", "renamed_file": s == "R", "deleted_file": s == "D",
                "diff": "@@ -1 +1 @@\n-a\n+b\n"}

    # -- Bitbucket Cloud ---------------------------------------------------------
    @staticmethod
    def bb_diffstat(s, p, old):
        st = {"A": "added", "M": "modified", "D": "removed", "R": "renamed"}[s]
        return {"type": "diffstat", "status": st, "lines_added": 1, "lines_removed": 0,
                "old": None if s == "A" else {"path": old or p, "type": "commit_file"},
                "new": None if s == "D" else {"path": p, "type": "commit_file"}}

    def bitbucket(self, h, host, rest, q, prefix):
        base = self.base(h, prefix)
        parts = rest.split("/")
        err = {"type": "error", "error": {"message": "Repository not found"}}
        if len(parts) < 3 or parts[0] != "repositories":
            return self.send(h, host, 404, err)
        name = parts[1] + "/" + parts[2]
        repo = self.repos["bitbucket"].get(name)
        if not repo:
            return self.send(h, host, 404, err)
        tail = parts[3:]
        if not tail:
            return self.send(h, host, 200, {"type": "repository", "full_name": name,
                                            "mainbranch": {"type": "branch", "name": "main"}})
        if tail[0] == "src" and len(tail) >= 3:
            text = repo.files.get(urllib.parse.unquote("/".join(tail[2:])))
            if text is None:
                return self.send(h, host, 404, {"type": "error", "error": {
                    "message": "No such file or directory: " + "/".join(tail[2:])}})
            return self.send(h, host, 200, text, ctype="text/plain")
        if tail[0] == "commits":
            page = int(q.get("page", "1"))
            if self.maybe_limit(h, host, page):
                return
            ref = tail[1] if len(tail) > 1 else "main"
            items, more = self.page_of(repo.newest_first_from(ref), page)
            values = []
            for c in items:
                n, e, login = c["author"]
                values.append({"type": "commit", "hash": c["sha"], "date": iso(c["time"]).replace("Z", "+00:00"),
                               "message": c["message"],
                               "author": {"type": "author", "raw": "%s <%s>" % (n, e),
                                          "user": {"type": "user", "nickname": login, "display_name": n}},
                               "parents": []})
            body = {"pagelen": PAGE_SIZE, "values": values, "page": page}
            if more:
                body["next"] = "%s/repositories/%s/commits/%s?%s" % (
                    base, name, ref, urllib.parse.urlencode(dict(q, page=str(page + 1))))
            return self.send(h, host, 200, body)
        if tail[0] == "diffstat" and len(tail) == 2:
            c = repo.commit(tail[1])
            if not c:
                return self.send(h, host, 404, err)
            return self.send(h, host, 200, {"pagelen": 500, "page": 1, "size": len(c["changes"]),
                                            "values": [self.bb_diffstat(*x) for x in c["changes"]]})
        if tail[0] == "pullrequests" and int(tail[1]) in repo.pulls:
            pr = repo.pulls[int(tail[1])]
            if len(tail) == 3 and tail[2] == "diffstat":
                return self.send(h, host, 200, {"pagelen": 500, "page": 1,
                                                "values": [self.bb_diffstat("M", f, None) for f in pr["files"]]})
            if len(tail) == 2:
                return self.send(h, host, 200, {"type": "pullrequest", "id": int(tail[1]), "participants": [
                    {"type": "participant", "user": {"nickname": "bob"}, "role": "REVIEWER",
                     "approved": True, "state": "approved"},
                    {"type": "participant", "user": {"nickname": "carol"}, "role": "REVIEWER",
                     "approved": False, "state": "changes_requested"}]})
        self.send(h, host, 404, err)

    # -- Bitbucket Data Center ---------------------------------------------------
    def bbdc(self, h, host, rest, q, prefix):
        parts = rest.split("/")
        err = {"errors": [{"context": None, "message": "Repository does not exist.",
                           "exceptionName": "com.atlassian.bitbucket.repository.NoSuchRepositoryException"}]}
        if len(parts) < 4 or parts[0] != "projects" or parts[2] != "repos":
            return self.send(h, host, 404, err)
        repo = self.repos["bbdc"].get(parts[1] + "/" + parts[3])
        if not repo:
            return self.send(h, host, 404, err)
        tail = parts[4:]

        def paged(values):
            start = int(q.get("start", "0"))
            chunk = values[start:start + PAGE_SIZE]
            last = start + PAGE_SIZE >= len(values)
            body = {"size": len(chunk), "limit": PAGE_SIZE, "isLastPage": last, "start": start,
                    "values": chunk}
            if not last:
                body["nextPageStart"] = start + PAGE_SIZE
            return body

        def change(s, p, old):
            c = {"path": {"components": p.split("/"), "name": p.split("/")[-1], "toString": p},
                 "type": {"A": "ADD", "M": "MODIFY", "D": "DELETE", "R": "MOVE"}[s], "nodeType": "FILE"}
            if old:
                c["srcPath"] = {"components": old.split("/"), "toString": old}
            return c

        if tail == ["default-branch"]:
            return self.send(h, host, 200, {"id": "refs/heads/main", "displayId": "main", "type": "BRANCH",
                                            "isDefault": True})
        if tail and tail[0] == "raw":
            text = repo.files.get(urllib.parse.unquote("/".join(tail[1:])))
            if text is None:
                return self.send(h, host, 404, {"errors": [{"message": "The path does not exist."}]})
            return self.send(h, host, 200, text, ctype="text/plain")
        if tail == ["commits"]:
            page = int(q.get("start", "0")) // PAGE_SIZE + 1
            if self.maybe_limit(h, host, page):
                return
            values = []
            for c in repo.newest_first_from(q.get("until", "main")):
                n, e, login = c["author"]
                values.append({"id": c["sha"], "displayId": c["sha"][:11],
                               "author": {"name": login, "emailAddress": e, "displayName": n},
                               "authorTimestamp": c["time"] * 1000, "message": c["message"], "parents": []})
            return self.send(h, host, 200, paged(values))
        if len(tail) == 3 and tail[0] == "commits" and tail[2] == "changes":
            c = repo.commit(tail[1])
            if not c:
                return self.send(h, host, 404, err)
            return self.send(h, host, 200, paged([change(*x) for x in c["changes"]]))
        if len(tail) >= 2 and tail[0] == "pull-requests" and int(tail[1]) in repo.pulls:
            pr = repo.pulls[int(tail[1])]
            if len(tail) == 3 and tail[2] == "changes":
                return self.send(h, host, 200, paged([change("M", f, None) for f in pr["files"]]))
            if len(tail) == 2:
                return self.send(h, host, 200, {"id": int(tail[1]), "state": "OPEN", "reviewers": [
                    {"user": {"name": "bob"}, "role": "REVIEWER", "approved": True, "status": "APPROVED"},
                    {"user": {"name": "carol"}, "role": "REVIEWER", "approved": False, "status": "NEEDS_WORK"}]})
        self.send(h, host, 404, err)

    # -- Slack -------------------------------------------------------------------
    def slack(self, h, host, rest, q, prefix):
        if rest != "users.info":
            return self.send(h, host, 200, {"ok": False, "error": "unknown_method"})
        u = self.slack_users.get(q.get("user", ""))
        if not u:
            return self.send(h, host, 200, {"ok": False, "error": "user_not_found"})
        team, name, real, email = u
        self.send(h, host, 200, {"ok": True, "user": {
            "id": q["user"], "team_id": team, "name": name, "deleted": False, "real_name": real,
            "is_bot": False, "profile": {"real_name": real, "display_name": name, "email": email}}})


if __name__ == "__main__":
    emu = Emulator()
    emu.server.server_close()
    emu.server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0),
                                     emu._handler())
    print("host emulator on", emu.server.server_address, flush=True)
    emu.server.serve_forever()
