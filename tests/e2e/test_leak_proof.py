"""Leak proof (DESIGN.md section 7, invariants 1 and 2), in one run.

Canaries are planted in every secret coopd holds: the API token and the
tokens it creates, a wrong token a client presents, each webhook secret
(GitHub, GitLab token and signing key, Bitbucket, Slack), the provider keys,
the code-host tokens, a BYOK key stored in the vault, the master key and
the attestation signing key; and in every kind of content: prompts, code
and questions sent to /v1/ask, and the provider's answers (the emulator
answers with a canary). Then every feature runs: webhooks of each host,
import, graph queries, chat completions streamed and not for several
providers (server keys and the BYOK key), /v1/ask, the sanitizer (a
secret-shaped canary in a prompt) and its rules endpoint, the vault, audit
list and verify, config changes, attestation, retention report, metrics,
jobs, policy, hosts sync and the CLI commands.

Afterwards every log line, every file of the data directory (the SQLite
database, its -wal and -shm, read while coopd runs and again after it
stopped; on PostgreSQL a dump of its schema), every row of every table
(job rows included), /metrics, every API response (bodies and headers)
and every CLI output are searched:
  - no secret canary anywhere;
  - no prompt, code or question canary anywhere (they reach only the
    provider, which is checked too, so the canaries are known to be real);
  - the provider's answer canary only in the answers to the client.
"""
import base64
import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import zlib
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
from coopd_harness import SOURCE_DIR, Coopd, pg_rows, run_tests  # noqa: E402
import host_emulator  # noqa: E402
from provider_emulator import REPLY, Emulator  # noqa: E402

TAG = os.urandom(4).hex()


def canary(name):
    return "%s-LEAKCANARY-%s-%s" % (name, TAG, hashlib.sha256((name + TAG).encode()).hexdigest()[:12])


def raw_key(name):
    return hashlib.sha256((name + TAG).encode()).digest()


ADMIN = "coop_" + canary("admin-token")
WRONG_TOKEN = "coop_" + canary("wrong-token")
GH = canary("github-secret")
GL_TOKEN = canary("gitlab-token")
GL_KEY = "whsec_" + base64.b64encode(raw_key("gitlab-signing")).decode()
BB = canary("bitbucket-secret")
SLACK = canary("slack-secret")
PROVIDER_KEYS = {"openai": "sk-" + canary("openai-key"), "anthropic": "sk-ant-" + canary("anthropic-key"),
                 "gemini": "AIza" + canary("gemini-key")}
HOST_TOKENS = {"github": "ghp_" + canary("github-token"), "gitlab": "glpat-" + canary("gitlab-token"),
               "bitbucket": canary("bitbucket-token"), "slack": "xoxb-" + canary("slack-token")}
BYOK = "sk-" + canary("byok-key")
MASTER = base64.b64encode(raw_key("master")).decode()
SIGNING = base64.b64encode(raw_key("signing")).decode()
# A secret-shaped canary (an AWS access key id) that the sanitizer removes
# before a prompt leaves: not even the provider may see it.
AWS_CANARY = "AKIA" + "".join("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[b % 32] for b in raw_key("aws")[:16])

PROMPT = canary("prompt")
CODE = canary("code")
QUESTION = canary("question")
RESPONSE = "RESPONSE-CANARY-7f3a"  # what the provider emulator answers
assert RESPONSE in REPLY

MODELS = {"openai": "gpt-4o", "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash"}
POLICY = {"providers": {
    "openai": {"policy_url": "https://openai.com/enterprise-privacy/", "verified_at": "2026-11-02T00:00:00Z"},
    "anthropic": {"policy_url": "https://privacy.anthropic.com/", "verified_at": "2026-11-02T00:00:00Z"},
    "gemini": {"policy_url": "https://ai.google.dev/gemini-api/terms", "verified_at": "2026-11-02T00:00:00Z"},
}}
REPO = "github.com/octo/leak"      # imported from a local git repository
HOSTED = "github.com/octo/hello"   # pushed by webhook, synced from the code-host emulator
WEBHOOK_DATA = os.path.join(SOURCE_DIR, "tests", "data", "webhook")


def secrets():
    """Every secret canary, in each form it could be written in."""
    out = [ADMIN, WRONG_TOKEN, GH, GL_TOKEN, GL_KEY, GL_KEY[len("whsec_"):], BB, SLACK, BYOK, MASTER, SIGNING]
    out += list(PROVIDER_KEYS.values()) + list(HOST_TOKENS.values())
    return [s.encode() for s in out] + [raw_key(n) for n in ("gitlab-signing", "master", "signing")]


def contents():
    """Content that may go to the provider only."""
    return [PROMPT.encode(), CODE.encode(), QUESTION.encode()]


class Collected:
    """Everything coopd said to anyone but the provider, by where it came from."""

    def __init__(self):
        self.responses = []   # (what, bytes): API answers, headers included
        self.cli = []         # (what, bytes): CLI stdout and stderr

    def keep(self, what, r):
        text = r.body + b"".join(("\n%s: %s" % h).encode() for h in r.headers)
        self.responses.append((what, text))
        return r

    def run(self, c, *args, expect=0):
        out = c.run(*args)
        self.cli.append((" ".join(args), out.stdout + out.stderr))
        assert expect is None or out.returncode == expect, (args, out.returncode, out.stdout[-500:],
                                                            out.stderr[-500:])
        return out


def hub(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def fixture(rel):
    with open(os.path.join(WEBHOOK_DATA, rel), "rb") as f:
        return f.read()


def gitlab_headers(body, uuid):
    ts = str(int(time.time()))
    sig = base64.b64encode(hmac.new(raw_key("gitlab-signing"), ("%s.%s." % (uuid, ts)).encode() + body,
                                    hashlib.sha256).digest()).decode()
    return {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": GL_TOKEN, "X-Gitlab-Event-UUID": uuid,
            "webhook-id": uuid, "webhook-timestamp": ts, "webhook-signature": "v1," + sig,
            "Content-Type": "application/json"}


def slack_headers(body):
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(SLACK.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig, "Content-Type": "application/json"}


def push(n):
    return json.dumps({
        "ref": "refs/heads/main", "before": "0" * 40, "after": "%040x" % n,
        "repository": {"html_url": "https://github.com/octo/hello", "full_name": "octo/hello",
                       "default_branch": "main"},
        "pusher": {"name": "ada", "email": "ada@example.com"}, "sender": {"login": "ada"},
        "commits": [{"id": "%040x" % n, "message": "tune the engine %d" % n, "timestamp": "2024-05-01T10:00:00Z",
                     "author": {"name": "Ada", "email": "ada@example.com", "username": "ada"},
                     "added": [], "modified": ["engine.c"], "removed": []}]}).encode()


def run_webhooks(c, col):
    sent = []
    body = push(1)
    hdr = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "leak-gh-1", "X-Hub-Signature-256": hub(GH, body),
           "Content-Type": "application/json"}
    sent.append(col.keep("github", c.post("/webhooks/github", body, headers=hdr)))
    bad = dict(hdr, **{"X-Hub-Signature-256": hub(GH + "x", body), "X-GitHub-Delivery": "leak-gh-bad"})
    assert col.keep("github bad", c.post("/webhooks/github", body, headers=bad)).status == 401
    gl = fixture("fixtures/gitlab/push-event.json")
    sent.append(col.keep("gitlab", c.post("/webhooks/gitlab", gl, headers=gitlab_headers(gl, "leak-gl-1"))))
    wrong = dict(gitlab_headers(gl, "leak-gl-2"), **{"X-Gitlab-Token": GL_TOKEN[:-1]})
    assert col.keep("gitlab bad", c.post("/webhooks/gitlab", gl, headers=wrong)).status == 401
    bb = fixture("fixtures/bitbucket/repo-push.json")
    sent.append(col.keep("bitbucket", c.post("/webhooks/bitbucket", bb, headers={
        "X-Event-Key": "repo:push", "X-Request-UUID": "leak-bb-1", "X-Hub-Signature": hub(BB, bb)})))
    bs = fixture("fixtures/bitbucket-server/repo-refs-changed.json")
    sent.append(col.keep("bitbucket server", c.post("/webhooks/bitbucket", bs, headers={
        "X-Event-Key": "repo:refs_changed", "X-Request-Id": "leak-bs-1", "X-Hub-Signature": hub(BB, bs)})))
    sl = fixture("slack/team_join.json")
    sent.append(col.keep("slack", c.post("/webhooks/slack", sl, headers=slack_headers(sl))))
    challenge = json.dumps({"token": "t", "challenge": "leak-challenge", "type": "url_verification"}).encode()
    r = col.keep("slack challenge", c.post("/webhooks/slack", challenge, headers=slack_headers(challenge)))
    assert r.status == 200, r.body
    for r in sent:
        assert r.status == 202, r.body[:300]


def make_repo():
    d = tempfile.mkdtemp(prefix="coop-e2e-leakrepo-")
    env = dict(os.environ, GIT_AUTHOR_NAME="Ada Lovelace", GIT_AUTHOR_EMAIL="ada@example.com",
               GIT_COMMITTER_NAME="Ada Lovelace", GIT_COMMITTER_EMAIL="ada@example.com")
    subprocess.run(["git", "init", "-q", d], check=True, env=env)
    for i in range(3):
        for name in ("engine.c", "engine.h"):
            with open(os.path.join(d, name), "a") as f:
                f.write("int step%d(void);\n" % i)
        subprocess.run(["git", "-C", d, "add", "-A"], check=True, env=env)
        subprocess.run(["git", "-C", d, "commit", "-q", "-m", "step %d" % i], check=True, env=env)
    return d


def run_graph(c, col):
    q = urllib.parse.quote
    for path in ("/v1/repos", "/v1/owners?repo=%s&path=engine.c" % q(REPO),
                 "/v1/history?repo=%s&path=engine.c&limit=10" % q(REPO),
                 "/v1/coupling?repo=%s&path=engine.c" % q(REPO), "/v1/truck-factor?repo=%s" % q(REPO),
                 "/v1/pulls?repo=%s&path=engine.c" % q(REPO), "/v1/people?repo=%s" % q(REPO)):
        r = col.keep(path, c.get(path, token=ADMIN))
        assert r.status == 200, (path, r.status, r.body[:300])
    r = col.keep("unknown repo", c.get("/v1/owners?repo=github.com/none/x&path=a", token=ADMIN))
    assert r.status == 404, r.body[:300]


def answer_text(body, stream):
    if not stream:
        return json.loads(body)["choices"][0]["message"]["content"]
    text = ""
    for line in body.decode().split("\n"):
        if line.startswith("data: ") and line[6:].strip() != "[DONE]":
            obj = json.loads(line[6:])
            for ch in obj.get("choices", []):
                text += ch.get("delta", {}).get("content") or ""
    return text


def run_llm(c, col, emu, tokens):
    """Chat and ask, streamed and not, with the server's keys and acme's BYOK key."""
    answered = 0
    for who in ("admin", "acme"):
        tok = ADMIN if who == "admin" else tokens["acme"]
        for p in ("openai", "anthropic", "gemini"):
            for stream in (False, True):
                emu.clear()
                body = {"model": "%s/%s" % (p, MODELS[p]), "stream": stream,
                        "messages": [{"role": "system", "content": "Be terse. " + PROMPT},
                                     {"role": "user", "content": "%s key %s" % (PROMPT, AWS_CANARY)}]}
                r = col.keep("chat %s %s %s" % (who, p, stream), c.post("/v1/chat/completions", body, token=tok))
                assert r.status == 200, (who, p, stream, r.body[:300])
                assert answer_text(r.body, stream) == REPLY
                rec = emu.last()
                raw = rec.raw.decode("utf-8", "replace")
                assert PROMPT in raw, "the prompt canary did not reach the provider"
                assert AWS_CANARY not in raw, "the sanitizer let a secret out"
                presented = json.dumps(rec.headers)
                assert (BYOK if who == "acme" and p == "openai" else PROVIDER_KEYS[p]) in presented, (who, p)
                answered += 1
    for stream in (False, True):
        emu.clear()
        body = {"repo": REPO, "path": "engine.c", "model": "openai/gpt-4o", "stream": stream,
                "question": QUESTION, "code": "int step0(void) { return 0; } // " + CODE}
        r = col.keep("ask %s" % stream, c.post("/v1/ask", body, token=tokens["acme"]))
        assert r.status == 200, r.body[:300]
        assert answer_text(r.body, stream) == REPLY
        raw = emu.last().raw.decode("utf-8", "replace")
        assert CODE in raw and QUESTION in raw, "code and question did not reach the provider"
        answered += 1
    # A provider failure: the error the client gets carries no secret either.
    body = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": PROMPT + " EMU:status=500"}]}
    r = col.keep("chat provider error", c.post("/v1/chat/completions", body, token=ADMIN))
    assert r.status >= 400, r.body[:300]
    r = col.keep("models", c.get("/v1/models", token=ADMIN))
    assert r.status == 200, r.body[:300]
    return answered


def run_admin(c, col, tokens):
    path = "/v1/admin/byok/acme/openai"
    assert col.keep("byok put", c.request("PUT", path, body={"api_key": BYOK}, token=ADMIN)).status == 201
    assert col.keep("byok put gemini", c.request("PUT", "/v1/admin/byok/acme/gemini", body={"api_key": BYOK},
                                                 token=ADMIN)).status == 201
    assert col.keep("byok delete", c.request("DELETE", "/v1/admin/byok/acme/gemini", token=ADMIN)).status in (
        200, 204)
    r = col.keep("byok list", c.get("/v1/admin/byok", token=ADMIN))
    assert r.status == 200 and b"acme" in r.body, r.body[:300]
    r = col.keep("bad bearer", c.get("/v1/admin/byok", token=WRONG_TOKEN))
    assert r.status == 401, r.body[:300]
    r = col.keep("read token on admin", c.get("/v1/admin/byok", token=tokens["read"]))
    assert r.status == 403, r.body[:300]
    r = col.keep("policy get", c.get("/v1/admin/policy", token=ADMIN))
    assert r.status == 200, r.body[:300]
    doc = r.json()
    r = col.keep("policy put", c.request("PUT", "/v1/admin/policy", body=doc, token=ADMIN))
    assert r.status == 200, r.body[:300]
    # removed and stored again: the store dump holds the stored policy
    r = col.keep("policy delete", c.request("DELETE", "/v1/admin/policy", token=ADMIN))
    assert r.status == 200, r.body[:300]
    r = col.keep("policy put again", c.request("PUT", "/v1/admin/policy", body=doc, token=ADMIN))
    assert r.status == 200 and r.header("X-Coop-Policy-Source") == "store", r.body[:300]
    r = col.keep("sanitizer rules", c.get("/v1/admin/sanitizer/rules", token=ADMIN))
    assert r.status == 200, r.body[:300]
    r = col.keep("hosts sync", c.post("/v1/admin/hosts/sync", {"kind": "codeowners", "repo": HOSTED}, token=ADMIN))
    assert r.status == 202, r.body[:300]


def run_reports(c, col):
    for path in ("/v1/admin/audit?limit=1000", "/v1/admin/audit/verify", "/v1/admin/config-changes?limit=1000",
                 "/v1/admin/retention-report?days=1", "/v1/attestation/public-key",
                 "/v1/jobs?state=done&limit=1000", "/v1/jobs?state=queued&limit=1000", "/v1/jobs?state=dead",
                 "/v1/admin/usage", "/v1/admin/budgets", "/metrics", "/healthz", "/readyz"):
        r = col.keep(path, c.get(path, token=ADMIN))
        assert r.status == 200, (path, r.status, r.body[:300])
    jobs = c.get("/v1/jobs?state=done&limit=1000", token=ADMIN).json()["jobs"]
    for j in jobs[:20]:
        col.keep("job", c.get("/v1/jobs/%d" % j["id"], token=ADMIN))
    r = col.keep("attestation", c.post("/v1/admin/attestation", {"days": 1}, token=ADMIN))
    assert r.status == 200, r.body[:300]
    col.responses.append(("attestation payload", base64.b64decode(r.json()["payload"])))
    v = c.get("/v1/admin/audit/verify", token=ADMIN).json()
    assert v["intact"], v


def wait_jobs(c, timeout=120):
    """Until every webhook job has run (and left its follow-up jobs)."""
    deadline = time.time() + timeout
    while True:
        pending = [j for state in ("queued", "running")
                   for j in c.get("/v1/jobs?state=%s&limit=1000" % state, token=ADMIN).json()["jobs"]
                   if j["kind"].startswith("webhook.") and not j["kind"].endswith(".purge")]
        if not pending:
            return
        if time.time() > deadline:
            raise AssertionError("webhook jobs still pending: %s" % pending)
        time.sleep(0.1)


def inflated(v):
    """A blob's zlib content (webhook bodies are stored deflated), else b""."""
    try:
        return zlib.decompress(bytes(v))
    except zlib.error:
        return b""


def db_dump(path):
    """Every row of every table, as text (job rows, audit rows, ...), with
    deflated blobs also inflated, so that compression cannot hide a secret."""
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=30)
    out = []
    try:
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            for row in db.execute('SELECT * FROM "%s"' % table.replace('"', '""')):
                blobs = [bytes(v) for v in row if isinstance(v, (bytes, memoryview))]
                out.append(("%s row" % table, repr(row).encode() + b"".join(blobs) +
                            b"".join(inflated(b) for b in blobs)))
    finally:
        db.close()
    return out


def data_files(data_dir):
    out = []
    for root, _, names in os.walk(data_dir):
        for n in names:
            with open(os.path.join(root, n), "rb") as f:
                out.append((os.path.relpath(os.path.join(root, n), data_dir), f.read()))
    return out


def find(places, needles):
    """(needle, place) of every needle found in any place."""
    return [(n[:40], what) for what, data in places for n in needles if n in data]


def test_no_secret_or_content_anywhere():
    emu = Emulator().start()
    hosts = host_emulator.Emulator(tokens={"github": HOST_TOKENS["github"], "gitlab": HOST_TOKENS["gitlab"],
                                           "bitbucket": HOST_TOKENS["bitbucket"],
                                           "slack": HOST_TOKENS["slack"]}).start()
    data_dir = tempfile.mkdtemp(prefix="coop-e2e-leak-")
    repo_dir = make_repo()
    policy = os.path.join(tempfile.mkdtemp(prefix="coop-e2e-leakpolicy-"), "policy.json")
    with open(policy, "w") as f:
        json.dump(POLICY, f)
    env = {"COOP_API_TOKEN": ADMIN, "COOP_MASTER_KEY": MASTER, "COOP_SIGNING_KEY": SIGNING,
           "COOP_GITHUB_WEBHOOK_SECRET": GH, "COOP_GITLAB_WEBHOOK_TOKEN": GL_TOKEN,
           "COOP_GITLAB_SIGNING_KEY": GL_KEY, "COOP_BITBUCKET_WEBHOOK_SECRET": BB,
           "COOP_SLACK_SIGNING_SECRET": SLACK, "COOP_POLICY_FILE": policy, "COOP_JOBS_POLL_MS": "50",
           "COOP_LOG_LEVEL": "debug",
           "OPENAI_API_KEY": PROVIDER_KEYS["openai"], "COOP_OPENAI_BASE_URL": emu.url + "/v1",
           "ANTHROPIC_API_KEY": PROVIDER_KEYS["anthropic"], "COOP_ANTHROPIC_BASE_URL": emu.url,
           "GEMINI_API_KEY": PROVIDER_KEYS["gemini"], "COOP_GEMINI_BASE_URL": emu.url,
           "COOP_GITHUB_API_URL": hosts.url("/github"), "COOP_GITHUB_TOKEN": HOST_TOKENS["github"],
           "COOP_GITLAB_API_URL": hosts.url("/gitlab/api/v4"), "COOP_GITLAB_TOKEN": HOST_TOKENS["gitlab"],
           "COOP_BITBUCKET_API_URL": hosts.url("/bitbucket/2.0"), "COOP_BITBUCKET_TOKEN": HOST_TOKENS["bitbucket"],
           "COOP_SLACK_API_URL": hosts.url("/slack/api"), "COOP_SLACK_BOT_TOKEN": HOST_TOKENS["slack"]}
    col = Collected()
    c = None
    try:
        c = Coopd(env=env, data_dir=data_dir)
        col.run(c, "migrate")
        tokens = {}
        for who, args in (("acme", ["--scope", "llm", "--customer", "acme"]), ("read", ["--scope", "read"])):
            out = c.run("token", "create", *args)  # prints the token, once: its own output is not searched
            assert out.returncode == 0, out.stderr
            tokens[who] = out.stdout.decode().strip().splitlines()[-1]
        created = [t.encode() for t in tokens.values()]
        col.run(c, "import", "--repo", REPO, "--git", repo_dir)
        c.start(wait=False)
        c.wait_ready(timeout=240)
        try:
            run_admin(c, col, tokens)
            run_webhooks(c, col)
            wait_jobs(c)
            run_graph(c, col)
            answered = run_llm(c, col, emu, tokens)
            deadline = time.time() + 60  # audit rows are written by a background thread
            while c.get("/v1/admin/audit/verify", token=ADMIN).json()["llm"]["entries"] < answered:
                assert time.time() < deadline, "audit rows missing"
                time.sleep(0.1)
            run_reports(c, col)
            deadline = time.time() + 60  # the code-host jobs run in the background
            while not hosts.seen("github", "/contents/") and time.time() < deadline:
                time.sleep(0.1)
            live_files = data_files(data_dir)
            live_store = [("store (running)", c.store_dump())] if c.schema else []
        finally:
            rc = c.stop()
        assert rc == 0, c.log()[-3000:]
        c.check_log_json()
        log = c.log()
        assert '"msg":"request"' in log  # the log was written and is searched
        for args in (("audit", "verify"), ("vault", "status"), ("token", "list"), ("repos",)):
            col.run(c, *args, expect=None)
        attest = col.run(c, "attest", "--days", "1")
        env_path = os.path.join(tempfile.mkdtemp(prefix="coop-e2e-leakenv-"), "envelope.json")
        with open(env_path, "wb") as f:
            f.write(attest.stdout)
        col.run(c, "verify", env_path)

        stopped_files = data_files(data_dir)
        if c.schema:
            # On PostgreSQL (e2e-pg): a dump of the schema, rows and all.
            rows = live_store + [("store (stopped)", c.store_dump())]
            assert all(b"coop_jobs" in d for _, d in rows)
            # The dump shows bytea in hex: the delivery bodies, inflated.
            bodies = pg_rows(c.env["COOP_STORE"], "SELECT encode(body, 'hex') AS b, body_encoding"
                                                  " FROM coop_webhook_deliveries")
            assert bodies
            rows += [("delivery body", zlib.decompress(bytes.fromhex(b)) if e == "zlib"
                      else bytes.fromhex(b)) for b, e in bodies]
        else:
            rows = db_dump(os.path.join(data_dir, "coop.db"))
            assert any(w.startswith("coop_jobs") for w, _ in rows) and any("audit" in w for w, _ in rows), \
                sorted({w for w, _ in rows})
            assert any(n.startswith("coop.db") for n, _ in live_files)
            assert any(n.endswith("-wal") for n, _ in live_files + stopped_files), [n for n, _ in live_files]
        places = ([("log", log.encode())] + [("file %s (running)" % n, d) for n, d in live_files] +
                  [("file %s (stopped)" % n, d) for n, d in stopped_files] + rows + col.cli)
        metrics = [(w, d) for w, d in col.responses if w == "/metrics"]
        assert metrics and b"coop_http_requests_total" in metrics[0][1]

        leaks = find(places + col.responses, secrets() + created + contents())
        assert not leaks, "canaries found: %s" % leaks[:10]
        # The provider's answer goes back to the client who asked, nowhere else.
        assert not find(places, [RESPONSE.encode()]), find(places, [RESPONSE.encode()])[:5]
        answers = [w for w, d in col.responses if RESPONSE.encode() in d]
        assert answers and all(w.startswith(("chat ", "ask ")) for w in answers), answers
        # Positive controls: the search does see what is stored and logged.
        assert find(places, [b"acme", b"ada@example.com", b"leak-gh-1"])
        # The code hosts were called (with their tokens) and got no other secret.
        host_seen = json.dumps(hosts.seen(), default=str).encode()
        assert hosts.seen("github", "/contents/"), "no code-host call was made"
        own = {t.encode() for t in HOST_TOKENS.values()}
        assert not find([("code host", host_seen)], [s for s in secrets() if s not in own] + contents())
    finally:
        emu.stop()
        hosts.stop()
        if c is not None:
            c.drop_store()
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(repo_dir, ignore_errors=True)


if __name__ == "__main__":
    run_tests(globals())
