"""Model Router end to end: coopd in front of the provider emulator.

What leaves for each provider is asserted on what the emulator received
(headers, keys, annotations, native flags, system instruction, removed
features, redacted secrets); what coopd answers is asserted in the OpenAI
format; what coopd stored and logged is searched for canary strings.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from coopd_harness import COOPD, Coopd, assert_error_shape, pg_drop_schema, run_tests  # noqa: E402
from provider_emulator import REPLY, Emulator  # noqa: E402

KEYS = {
    "openai": "sk-openai-CANARYKEY-0a1b2c3d4e5f",
    "anthropic": "sk-ant-CANARYKEY-1b2c3d4e5f6a",
    "gemini": "AIza-CANARYKEY-2c3d4e5f6a7b",
    "deepseek": "sk-deepseek-CANARYKEY-3d4e5f6a7b8c",
    "selfhosted": "sh-CANARYKEY-4e5f6a7b8c9d",
}
PROMPT_CANARY = "PROMPT-CANARY-5e6f7a8b"
SECRET = "AKIAB3SKCZTKMBF6JDPY"
PROVIDERS = ["openai", "anthropic", "gemini", "deepseek", "selfhosted"]
MODELS = {"openai": "gpt-4o", "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash",
          "deepseek": "deepseek-chat", "selfhosted": "llama-3.1-8b"}

EMU = Emulator().start()


def provider_env(emu=EMU):
    return {
        "OPENAI_API_KEY": KEYS["openai"], "COOP_OPENAI_BASE_URL": emu.url + "/v1",
        "ANTHROPIC_API_KEY": KEYS["anthropic"], "COOP_ANTHROPIC_BASE_URL": emu.url,
        "GEMINI_API_KEY": KEYS["gemini"], "COOP_GEMINI_BASE_URL": emu.url,
        "DEEPSEEK_API_KEY": KEYS["deepseek"], "COOP_DEEPSEEK_BASE_URL": emu.url,
        "COOP_SELFHOSTED_API_KEY": KEYS["selfhosted"], "COOP_SELFHOSTED_BASE_URL": emu.url + "/v1",
    }


def started(c):
    """Starts c, allowing for a slow start (the sanitizer's rule set compiles
    at start, slowly under ASan on a loaded machine)."""
    c.start(wait=False)
    c.wait_ready(timeout=240)
    return c


class SlowCoopd(Coopd):
    def __enter__(self):
        return started(self)


def write_policy(doc):
    fd, path = tempfile.mkstemp(prefix="coop-policy-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f)
    return path


FULL_POLICY = {"providers": {
    "openai": {"policy_url": "https://openai.com/enterprise-privacy/", "verified_at": "2026-11-02T00:00:00Z"},
    "anthropic": {"policy_url": "https://privacy.anthropic.com/", "verified_at": "2026-11-02T00:00:00Z"},
    "gemini": {"policy_url": "https://ai.google.dev/gemini-api/terms", "verified_at": "2026-11-02T00:00:00Z"},
    "deepseek": {"policy_url": "https://cdn.deepseek.com/policies/en-US/deepseek-privacy-policy.html",
                 "verified_at": "2026-11-02T00:00:00Z", "dpa_approved": True},
    "selfhosted": {"policy_url": "https://llm.internal/terms", "verified_at": "2026-11-02T00:00:00Z"},
}}


def chat(c, provider, stream=False, text="hello", extra=None, **kw):
    body = {"model": "%s/%s" % (provider, MODELS[provider]), "stream": stream,
            "messages": [{"role": "system", "content": "You are terse."},
                         {"role": "user", "content": text}]}
    body.update(extra or {})
    return c.post("/v1/chat/completions", body, **kw)


def sse_events(body):
    """The data payloads of an SSE body, comments kept as ':' entries."""
    out = []
    for block in body.decode().split("\n\n"):
        for line in block.split("\n"):
            if line.startswith("data: "):
                out.append(line[6:])
            elif line.startswith(":"):
                out.append(":")
    return out


def stream_text(body):
    events = sse_events(body)
    text, usage, finish = "", None, None
    for e in events:
        if e in (":", "[DONE]"):
            continue
        obj = json.loads(e)
        assert "error" not in obj, obj
        assert obj["object"] == "chat.completion.chunk"
        if obj.get("usage"):
            usage = obj["usage"]
        for ch in obj["choices"]:
            text += ch["delta"].get("content") or ""
            finish = ch.get("finish_reason") or finish
    return text, usage, finish, events


class Server:
    """One coopd with every provider enabled, shared by the tests that
    need nothing special."""
    coopd = None

    @classmethod
    def get(cls):
        if cls.coopd is None:
            env = provider_env()
            env["COOP_POLICY_FILE"] = write_policy(FULL_POLICY)
            env["COOP_ROUTER_KEEPALIVE_MS"] = "100"
            cls.coopd = started(Coopd(env=env))
        return cls.coopd


# ---- outbound: what each provider receives --------------------------------------

def test_openai_non_streaming_wire():
    c = Server.get()
    r = chat(c, "openai", text="explain " + SECRET)
    assert r.status == 200, r.body
    obj = r.json()
    assert obj["choices"][0]["message"]["content"] == REPLY
    assert obj["usage"]["prompt_tokens"] == 11 and obj["usage"]["completion_tokens"] == 7
    rec = EMU.last()
    assert rec.path == "/v1/chat/completions" and rec.query == ""
    assert rec.header("authorization") == "Bearer " + KEYS["openai"]
    assert rec.body["store"] is False
    assert "retention_policy" not in rec.body and "metadata" not in rec.body
    msgs = rec.body["messages"]
    assert msgs[0]["role"] == "system" and "zero-retention" in msgs[0]["content"]
    assert msgs[1] == {"role": "system", "content": "You are terse."}
    assert SECRET not in rec.raw.decode() and "[REDACTED:" in msgs[2]["content"]
    for h, v in [("x-data-retention-policy", "zero-retention"), ("x-use-case", "code-intelligence"),
                 ("x-enterprise-mode", "true"), ("x-no-training", "true"), ("x-no-logging", "true")]:
        assert rec.header(h) == v, (h, rec.headers)


def test_anthropic_wire():
    c = Server.get()
    r = chat(c, "anthropic", text="hi " + SECRET, extra={"max_tokens": 321, "stop": "END"})
    assert r.status == 200, r.body
    assert r.json()["choices"][0]["message"]["content"] == REPLY
    rec = EMU.last()
    assert rec.path == "/v1/messages"
    assert rec.header("x-api-key") == KEYS["anthropic"]
    assert rec.header("authorization") is None
    assert rec.header("anthropic-version") == "2023-06-01"
    assert rec.body["max_tokens"] == 321 and rec.body["stop_sequences"] == ["END"]
    assert "zero-retention" in rec.body["system"] and "You are terse." in rec.body["system"]
    assert [m["role"] for m in rec.body["messages"]] == ["user"]
    assert SECRET not in rec.raw.decode()
    # the Messages API rejects unknown fields: nothing of ours in the body
    assert set(rec.body) <= {"model", "max_tokens", "system", "messages", "stop_sequences", "stream",
                             "temperature", "top_p"}
    assert rec.header("x-no-training") == "true"


def test_gemini_wire_and_removed_features():
    c = Server.get()
    extra = {"tools": [{"type": "google_search"}, {"googleSearchRetrieval": {}}],
             "cached_content": "cachedContents/abc123", "temperature": 0.2, "max_tokens": 50}
    r = chat(c, "gemini", text="hi " + SECRET, extra=extra)
    assert r.status == 200, r.body
    assert r.json()["choices"][0]["message"]["content"] == REPLY
    rec = EMU.last()
    assert rec.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert rec.query == ""  # never ?key=
    assert KEYS["gemini"] not in rec.path + rec.query
    assert rec.header("x-goog-api-key") == KEYS["gemini"]
    assert rec.header("authorization") is None
    assert "zero-retention" in rec.body["systemInstruction"]["parts"][0]["text"]
    assert "tools" not in rec.body and "cachedContent" not in rec.body
    assert rec.body["generationConfig"] == {"temperature": 0.2, "maxOutputTokens": 50}
    assert SECRET not in rec.raw.decode()
    rid = r.header("X-Request-Id")
    deadline = time.time() + 30
    while not [x for x in audit_rows(c) if x["request_id"] == rid] and time.time() < deadline:
        time.sleep(0.05)
    row = [x for x in audit_rows(c) if x["request_id"] == rid][0]
    assert "features_removed" in row["zero_retention"]


def test_gemini_streaming_url():
    c = Server.get()
    r = chat(c, "gemini", stream=True)
    assert r.status == 200, r.body
    rec = EMU.last()
    assert rec.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent" and rec.query == "alt=sse"
    text, _, finish, events = stream_text(r.body)
    assert text == REPLY and finish == "stop" and events[-1] == "[DONE]"


def test_selfhosted_and_deepseek_wire():
    c = Server.get()
    r = chat(c, "selfhosted")
    assert r.status == 200, r.body
    rec = EMU.last()
    assert rec.path == "/v1/chat/completions"
    assert rec.header("authorization") == "Bearer " + KEYS["selfhosted"]
    assert rec.body["retention_policy"] == {"store_conversation": False, "use_for_training": False,
                                            "use_for_fine_tuning": False, "allow_logging": False}
    assert "store" not in rec.body
    r = chat(c, "deepseek")
    assert r.status == 200, r.body
    rec = EMU.last()
    assert rec.path == "/chat/completions"
    assert rec.header("authorization") == "Bearer " + KEYS["deepseek"]
    assert "store" not in rec.body and "retention_policy" not in rec.body


def test_streaming_every_provider():
    c = Server.get()
    for p in PROVIDERS:
        r = chat(c, p, stream=True, extra={"stream_options": {"include_usage": True}})
        assert r.status == 200, (p, r.body)
        assert r.header("Content-Type").startswith("text/event-stream")
        text, usage, finish, events = stream_text(r.body)
        assert text == REPLY, (p, text)
        assert finish == "stop", p
        assert usage and usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0, (p, usage)
        assert events[-1] == "[DONE]", p
        # without include_usage, no usage chunk
        r = chat(c, p, stream=True)
        _, usage, _, _ = stream_text(r.body)
        assert usage is None, p


def test_non_streaming_every_provider():
    c = Server.get()
    for p in PROVIDERS:
        r = chat(c, p)
        assert r.status == 200, (p, r.body)
        obj = r.json()
        assert obj["object"] == "chat.completion"
        assert obj["choices"][0]["message"] == {"role": "assistant", "content": REPLY} or \
            obj["choices"][0]["message"]["content"] == REPLY
        assert obj["usage"]["total_tokens"] > 0


# ---- errors -------------------------------------------------------------------------

def test_provider_errors_mapped():
    c = Server.get()
    for p in ["openai", "anthropic", "gemini"]:
        r = chat(c, p, text="EMU:status=429")
        assert_error_shape(r, 429)
        assert r.header("Retry-After") == "7"
        assert b"INPUT-ECHO" not in r.body
        r = chat(c, p, text="EMU:status=500")
        assert_error_shape(r, 502)
        r = chat(c, p, text="EMU:status=401")
        assert_error_shape(r, 401)
        r = chat(c, p, stream=True, text="EMU:status=404")
        assert_error_shape(r, 404)
        assert b"INPUT-ECHO" not in r.body


def test_stream_cut_gives_error_event():
    c = Server.get()
    for p in ["openai", "anthropic", "gemini"]:
        for how in ["EMU:cut", "EMU:error-event"]:
            r = chat(c, p, stream=True, text=how)
            assert r.status == 200, (p, how, r.body)
            events = sse_events(r.body)
            assert "[DONE]" not in events, (p, how)
            last = json.loads(events[-1])
            assert last["error"]["code"].startswith("provider_"), last


def test_keepalive_during_silence():
    c = Server.get()
    r = chat(c, "openai", stream=True, text="EMU:silence=450")
    assert r.status == 200
    events = sse_events(r.body)
    assert events[0] == ":", events[:3]
    text, _, _, _ = stream_text(r.body)
    assert text == REPLY


def test_bad_requests():
    c = Server.get()
    assert_error_shape(c.post("/v1/chat/completions", "{not json"), 400)
    assert_error_shape(c.post("/v1/chat/completions", {"model": "gpt-4o", "messages": []}), 400)
    assert_error_shape(c.post("/v1/chat/completions", {"model": "nope/x", "messages": []}), 400)
    assert_error_shape(c.post("/v1/chat/completions", {"model": "openai/gpt-4o", "messages": "x"}), 400)
    assert_error_shape(c.post("/v1/chat/completions", {"model": "openai/gpt-4o", "messages": []}), 400)
    assert_error_shape(c.post("/v1/chat/completions", {"model": "openai/gpt-4o",
                                                       "messages": [{"role": "wizard", "content": "x"}]}), 400)
    assert_error_shape(c.post("/v1/chat/completions", {"model": "openai/gpt-4o",
                                                       "messages": [{"role": "user", "content": [{"type": "image_url"}]}]}), 400)
    assert_error_shape(c.post("/v1/chat/completions", {"model": "gemini/../x",
                                                       "messages": [{"role": "user", "content": "x"}]}), 400)


def test_concurrent_streams():
    c = Server.get()
    results = []

    def one(i):
        p = PROVIDERS[i % 3]
        r = chat(c, p, stream=(i % 2 == 0))
        if i % 2 == 0:
            results.append(r.status == 200 and stream_text(r.body)[0] == REPLY)
        else:
            results.append(r.status == 200 and r.json()["choices"][0]["message"]["content"] == REPLY)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 64 and all(results), results.count(False)


# ---- policy -------------------------------------------------------------------------

def test_policy_blocks_then_admin_changes_it():
    with SlowCoopd(env=provider_env()) as c:
        EMU.clear()
        r = chat(c, "deepseek")
        assert_error_shape(r, 403)
        assert "DPA" in r.json()["error"]["message"]
        assert EMU.last() is None
        models = [m["id"] for m in c.get("/v1/models").json()["data"]]
        assert "openai/gpt-4o" in models and not any(m.startswith("deepseek/") for m in models)
        rows = audit_rows(c, 1)
        assert rows[0]["status"] == "blocked" and rows[0]["status_code"] == 403
        pol = c.get("/v1/admin/policy").json()
        assert pol["providers"]["deepseek"]["dpa_approved"] is False
        assert set(pol["providers"]["gemini"]["disabled_features"]) >= {"grounding", "cached_content",
                                                                        "session_storage"}
        doc = FULL_POLICY
        doc = json.loads(json.dumps(doc))
        doc["providers"]["openai"]["allowed_models"] = ["gpt-4o-mini"]
        r = c.request("PUT", "/v1/admin/policy", body=doc)
        assert r.status == 200, r.body
        assert r.json()["providers"]["deepseek"]["dpa_approved"] is True
        assert chat(c, "deepseek").status == 200
        r = chat(c, "openai")
        assert_error_shape(r, 403)
        assert r.json()["error"]["code"] == "model_not_allowed"
        assert_error_shape(c.request("PUT", "/v1/admin/policy", body={"providers": {"nope": {}}}), 400)
        assert_error_shape(c.request("PUT", "/v1/admin/policy",
                                     body={"providers": {"openai": {"disabled_features": ["x"]}}}), 400)
        rows = c.sql("SELECT actor, what, detail FROM config_changes")
        assert len(rows) == 1 and rows[0][1] == "policy", rows
        detail = json.loads(rows[0][2])
        fields = {(x["provider"], x["field"]) for x in detail["changes"]}
        assert ("deepseek", "dpa_approved") in fields and ("openai", "allowed_models") in fields


def test_http_base_url_refused():
    env = provider_env()
    env["COOP_OPENAI_BASE_URL"] = "http://api.example.com/v1"
    c = Coopd(env=env)
    c.start(wait=False)
    rc = c.proc.wait(240)
    c.log_file.close()
    assert rc != 0
    assert "COOP_OPENAI_BASE_URL" in c.log()


def test_check_command_and_production_refusal():
    env = provider_env()
    env.update({"COOP_ENV": "production", "COOP_API_TOKEN": "tok-CANARY-9f8e7d6c5b4a39281706",
                "COOP_MASTER_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
                "COOP_TLS_TERMINATED_BY_PROXY": "1"})
    c = Coopd(env=env)
    out = c.run("check")
    text = (out.stdout + out.stderr).decode()
    assert out.returncode != 0
    assert "FAIL provider deepseek" in text and "DPA" in text
    assert "FAIL provider selfhosted" in text  # no policy_url in the built-in policy
    assert "ok   provider openai" in text
    for k in KEYS.values():
        assert k not in text
    # serve refuses too
    c2 = Coopd(env=env, production=True)
    c2.start(wait=False)
    rc = c2.proc.wait(240)
    c2.log_file.close()
    assert rc != 0
    log = c2.log()
    assert "compliance" in log
    for k in KEYS.values():
        assert k not in log
    # a complete policy passes
    env["COOP_POLICY_FILE"] = write_policy(FULL_POLICY)
    out = Coopd(env=env).run("check")
    assert out.returncode == 0, out.stdout.decode() + out.stderr.decode()
    # stale terms warn, Gemini features on fail
    doc = json.loads(json.dumps(FULL_POLICY))
    doc["providers"]["openai"]["verified_at"] = "2025-01-01T00:00:00Z"
    doc["providers"]["gemini"]["disabled_features"] = []
    env["COOP_POLICY_FILE"] = write_policy(doc)
    out = Coopd(env=env).run("check")
    text = out.stdout.decode()
    assert out.returncode != 0
    assert "WARN provider openai" in text and "FAIL provider gemini" in text


def test_byok_customer_key():
    admin = "admin-token-CANARY-0c9d8e7f6a5b4c3d2e1f"
    byok_key = "sk-byok-CANARYKEY-acme-5a6b7c8d9e0f"
    env = provider_env()
    env["COOP_API_TOKEN"] = admin
    data_dir = tempfile.mkdtemp(prefix="coop-e2e-byok-")
    with SlowCoopd(env=env, data_dir=data_dir) as c:
        out = c.run("token", "create", "--scope", "llm", "--customer", "acme")
        assert out.returncode == 0, out.stderr
        tok = out.stdout.decode().strip().splitlines()[-1]
        r = c.request("PUT", "/v1/admin/byok/acme/openai", body={"api_key": byok_key}, token=admin)
        assert r.status in (200, 201, 204), r.body
        r = chat(c, "openai", token=tok)
        assert r.status == 200, r.body
        assert EMU.last().header("authorization") == "Bearer " + byok_key, (EMU.last().headers, r.body)
        r = chat(c, "anthropic", token=tok)  # no BYOK key for it: the server's key
        assert r.status == 200, r.body
        assert EMU.last().header("x-api-key") == KEYS["anthropic"]
        r = chat(c, "openai", token=admin)
        assert EMU.last().header("authorization") == "Bearer " + KEYS["openai"]
        rows = audit_rows(c, 3, token=admin)
        byok = [x for x in rows if x["byok"]]
        assert len(byok) == 1 and byok[0]["customer"] == "acme" and byok[0]["provider"] == "openai"
        assert byok_key.encode() not in c.store_dump()
    for name in os.listdir(data_dir):
        with open(os.path.join(data_dir, name), "rb") as f:
            data = f.read()
        assert byok_key.encode() not in data, name
    shutil.rmtree(data_dir, ignore_errors=True)
    if c.schema:
        pg_drop_schema(c.schema)


def test_ask_with_graph_facts():
    repo_dir = tempfile.mkdtemp(prefix="coop-e2e-askrepo-")
    genv = dict(os.environ, GIT_AUTHOR_NAME="Ada Lovelace", GIT_AUTHOR_EMAIL="ada@example.com",
                GIT_COMMITTER_NAME="Ada Lovelace", GIT_COMMITTER_EMAIL="ada@example.com")
    subprocess.run(["git", "init", "-q", repo_dir], check=True, env=genv)
    for i in range(3):
        with open(os.path.join(repo_dir, "engine.c"), "a") as f:
            f.write("int step%d(void) { return %d; }\n" % (i, i))
        with open(os.path.join(repo_dir, "engine.h"), "a") as f:
            f.write("int step%d(void);\n" % i)
        subprocess.run(["git", "-C", repo_dir, "add", "-A"], check=True, env=genv)
        subprocess.run(["git", "-C", repo_dir, "commit", "-q", "-m", "step %d" % i], check=True, env=genv)
    c = Server.get()
    if True:
        out = c.run("import", "--repo", "github.com/octo/engine", "--git", repo_dir)
        assert out.returncode == 0, out.stderr
        code = "int step0(void) { return 0; } /* " + SECRET + " */"
        r = c.post("/v1/ask", {"repo": "github.com/octo/engine", "path": "engine.c", "model": "openai/gpt-4o",
                               "question": "What does step0 do?", "code": code})
        assert r.status == 200, r.body
        assert r.json()["choices"][0]["message"]["content"] == REPLY
        sent = EMU.last()
        text = json.dumps(sent.body["messages"])
        assert "Ada Lovelace" in text and "owners and authors" in text and "engine.h" in text, text[:2000]
        assert "What does step0 do?" in text and "int step0" in text
        assert SECRET not in sent.raw.decode()
        assert sent.body["messages"][0]["content"].startswith("Confidentiality notice")
        r = c.post("/v1/ask", {"repo": "github.com/octo/engine", "path": "engine.c", "model": "anthropic/claude-x",
                               "question": "Who owns it?", "stream": True})
        assert r.status == 200 and stream_text(r.body)[0] == REPLY
        assert_error_shape(c.post("/v1/ask", {"repo": "github.com/octo/none", "path": "x", "question": "?"}), 404)
        assert_error_shape(c.post("/v1/ask", {"repo": "github.com/octo/engine", "path": "x"}), 400)
    shutil.rmtree(repo_dir, ignore_errors=True)


# ---- what coopd keeps ----------------------------------------------------------------

def audit_rows(c, at_least=1, token=None):
    """The audit rows, waiting for the asynchronous writer to reach at_least."""
    deadline = time.time() + 30
    while True:
        r = c.get("/v1/admin/audit?limit=1000", token=token)
        assert r.status == 200, r.body
        rows = r.json()["rows"]
        if len(rows) >= at_least or time.time() > deadline:
            return rows
        time.sleep(0.05)


def test_audit_row_before_or_after_the_answer():
    """By default an answer's end waits for its audit row: the row is there
    the moment the client has the whole answer, streamed or not. With
    COOP_ROUTER_AUDIT_BEFORE_ANSWER=0 the answer goes first and the row
    follows from the writer thread."""
    with SlowCoopd(env=provider_env()) as c:
        for stream in (False, True):
            r = chat(c, "openai", stream=stream)
            assert r.status == 200, r.body[:300]
            rid = r.header("X-Request-Id")
            rows = c.get("/v1/admin/audit?limit=1000").json()["rows"]
            assert rid in {x["request_id"] for x in rows}, (stream, rid)
    env = dict(provider_env(), COOP_ROUTER_AUDIT_BEFORE_ANSWER="0")
    with SlowCoopd(env=env) as c:
        r = chat(c, "openai")
        assert r.status == 200, r.body[:300]
        rid = r.header("X-Request-Id")
        assert rid in {x["request_id"] for x in audit_rows(c)}


def test_zz_audit_rows_and_no_canaries():
    """Runs last (tests run in name order), on the shared server that every
    earlier test sent prompts, secrets and keys through."""
    c = Server.get()
    ids = set()
    for p in PROVIDERS:
        for stream in (False, True):
            r = chat(c, p, stream=stream, text="%s %s %s" % (PROMPT_CANARY, SECRET, p))
            assert r.status == 200
            ids.add(r.header("X-Request-Id"))
    deadline = time.time() + 30
    while time.time() < deadline:
        rows = [x for x in audit_rows(c) if x["request_id"] in ids]
        if len(rows) == len(ids):
            break
        time.sleep(0.05)
    assert len(rows) == 10, rows
    for row in rows:
        assert row["status"] == "ok" and row["status_code"] == 200
        assert row["provider"] in PROVIDERS
        assert "system_instruction" in row["zero_retention"] and "headers" in row["zero_retention"]
        assert row["input_tokens"] > 0
        assert "aws-access-key-id" in row["sanitizer_counts"]
    openai = [x for x in rows if x["provider"] == "openai"][0]
    assert "store_false" in openai["zero_retention"]
    sh = [x for x in rows if x["provider"] == "selfhosted"][0]
    assert "annotation" in sh["zero_retention"]
    assert c.stop() == 0
    c.check_log_json()
    # The audit rows chain up from the anchor on either store.
    out = c.run("audit", "verify")
    text = (out.stdout + out.stderr).decode()
    assert out.returncode == 0, text
    assert "llm chain: intact" in text and "config chain: intact" in text, text
    entries = int(text.split("llm chain: intact, ")[1].split(" ")[0])
    assert entries >= 10, text
    blobs = []
    for name in os.listdir(c.data_dir):
        path = os.path.join(c.data_dir, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                blobs.append((name, f.read()))
    blobs.append(("store", c.store_dump()))
    assert any(n.endswith(".log") for n, _ in blobs)
    for name, data in blobs:
        for canary in [PROMPT_CANARY, SECRET, "RESPONSE-CANARY"] + list(KEYS.values()):
            assert canary.encode() not in data, (canary, name)


if __name__ == "__main__":
    try:
        run_tests(dict(globals()))
    finally:
        if Server.coopd:
            Server.coopd.stop()
            shutil.rmtree(Server.coopd.data_dir, ignore_errors=True)
            if Server.coopd.schema:
                pg_drop_schema(Server.coopd.schema)
        EMU.stop()
