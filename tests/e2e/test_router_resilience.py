"""Router resilience end to end: retries with backoff, Retry-After, no retry
once a stream has started, fallback routes the policy partly forbids, and
key pools with cooldown, all against the provider emulator.

Waiting is asserted on the emulator's own arrival times (a retry after a
429 with Retry-After: 1 arrives at least a second after the 429's
request), never on how long the client waited.
"""
import json
import os
import random
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from coopd_harness import Coopd, assert_error_shape, free_port, run_tests  # noqa: E402
from provider_emulator import REPLY, Emulator  # noqa: E402
from test_router import (FULL_POLICY, KEYS, SlowCoopd, provider_env, sse_events, started,  # noqa: E402
                         write_policy)

EMU = Emulator().start()
DEAD_URL = "http://127.0.0.1:%d" % free_port()  # nothing listens there

POLICY = json.loads(json.dumps(FULL_POLICY))
POLICY["providers"]["deepseek"]["dpa_approved"] = False
POLICY["providers"]["openai"]["allowed_models"] = ["gpt-4o"]
POLICY["routes"] = {
    "coop/smart": ["deepseek/deepseek-chat", "openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5"],
    "coop/backup": ["gemini/gemini-2.5-flash", "openai/gpt-4o"],
    "coop/nowhere": ["deepseek/deepseek-chat", "openai/gpt-4o-mini"],
}

POOL_KEYS = {"a": "sk-pool-CANARYKEY-a-111", "b": "sk-pool-CANARYKEY-b-222",
             "c": "sk-ant-pool-CANARYKEY-c-333", "d": "sk-ant-pool-CANARYKEY-d-444"}


def tag():
    return "EMU:id=%d" % random.randrange(1 << 40)


def ask(c, model, text, stream=False, **kw):
    body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": text}]}
    return c.post("/v1/chat/completions", body, **kw)


def seen(text, emu=EMU):
    """The requests the emulator received whose body holds text."""
    with emu.lock:
        return [r for r in emu.requests if text in r.raw.decode()]


def audit_row(c, request_id, token=None):
    deadline = time.time() + 30
    while time.time() < deadline:
        r = c.get("/v1/admin/audit?limit=1000", token=token)
        assert r.status == 200, r.body
        rows = [x for x in r.json()["rows"] if x["request_id"] == request_id]
        if rows:
            return rows[0]
        time.sleep(0.05)
    raise AssertionError("no audit row for %s" % request_id)


class Server:
    coopd = None

    @classmethod
    def get(cls):
        if cls.coopd is None:
            env = provider_env(EMU)
            env["COOP_GEMINI_BASE_URL"] = DEAD_URL
            env["COOP_POLICY_FILE"] = write_policy(POLICY)
            env["COOP_ROUTER_BACKOFF_MS"] = "20"
            env["COOP_ROUTER_BACKOFF_MAX_MS"] = "100"
            env["COOP_ROUTER_RETRY_AFTER_MAX_MS"] = "3000"
            env["COOP_ROUTER_FIRST_BYTE_TIMEOUT_MS"] = "3000"
            cls.coopd = started(Coopd(env=env))
        return cls.coopd


# ---- retries ------------------------------------------------------------------

def test_provider_failing_then_recovering():
    c = Server.get()
    t = tag()
    r = ask(c, "openai/gpt-4o", "EMU:status=503 EMU:fail=2 " + t)
    assert r.status == 200, r.body
    assert r.json()["choices"][0]["message"]["content"] == REPLY
    assert len(seen(t)) == 3
    row = audit_row(c, r.header("X-Request-Id"))
    assert row["status"] == "ok" and row["attempts"] == 3, row
    assert row["target"] == "openai/gpt-4o"
    assert [s["result"] for s in row["route"]] == ["error", "error", "ok"], row["route"]
    assert [s.get("status") for s in row["route"]] == [503, 503, 200]


def test_streaming_request_retried_before_its_first_byte():
    c = Server.get()
    t = tag()
    r = ask(c, "anthropic/claude-sonnet-4-5", "EMU:status=500 EMU:fail=1 " + t, stream=True)
    assert r.status == 200, r.body
    events = sse_events(r.body)
    assert events[-1] == "[DONE]", events[-3:]
    assert len(seen(t)) == 2
    row = audit_row(c, r.header("X-Request-Id"))
    assert row["attempts"] == 2 and row["status"] == "ok", row


def test_timeout_before_first_byte_is_retried():
    c = Server.get()
    t = tag()
    r = ask(c, "openai/gpt-4o", "EMU:hang=8000 EMU:fail=1 " + t, stream=True)
    assert r.status == 200, r.body
    assert sse_events(r.body)[-1] == "[DONE]"
    reqs = seen(t)
    assert len(reqs) == 2
    row = audit_row(c, r.header("X-Request-Id"))
    assert [s["result"] for s in row["route"]] == ["timeout", "ok"], row["route"]
    metrics = c.get("/metrics").body.decode()
    assert 'coop_llm_retries_total{provider="openai",kind="retry"}' in metrics


def test_retries_stop_at_max_attempts():
    c = Server.get()
    t = tag()
    r = ask(c, "openai/gpt-4o", "EMU:status=502 " + t)
    assert_error_shape(r, 502)
    assert b"INPUT-ECHO" not in r.body
    assert len(seen(t)) == 3  # COOP_ROUTER_MAX_ATTEMPTS, default 3
    row = audit_row(c, r.header("X-Request-Id"))
    assert row["status"] == "error" and row["attempts"] == 3, row


def test_not_retryable_status_is_answered_at_once():
    c = Server.get()
    t = tag()
    r = ask(c, "openai/gpt-4o", "EMU:status=400 " + t)
    assert_error_shape(r, 400)
    assert len(seen(t)) == 1


def test_429_retry_after_is_waited_for():
    c = Server.get()
    t = tag()
    r = ask(c, "openai/gpt-4o", "EMU:status=429 EMU:fail=1 EMU:retry-after=1 " + t)
    assert r.status == 200, r.body
    reqs = seen(t)
    assert len(reqs) == 2
    assert reqs[1].time - reqs[0].time >= 1.0, reqs[1].time - reqs[0].time
    row = audit_row(c, r.header("X-Request-Id"))
    assert row["attempts"] == 2 and [s.get("status") for s in row["route"]] == [429, 200]


def test_429_retry_after_too_long_is_passed_to_the_client():
    c = Server.get()
    t = tag()
    r = ask(c, "openai/gpt-4o", "EMU:status=429 EMU:retry-after=30 " + t)
    assert_error_shape(r, 429)
    assert r.header("Retry-After") == "30"
    assert len(seen(t)) == 1


def test_stream_cut_midway_is_not_retried():
    c = Server.get()
    for model in ["openai/gpt-4o", "anthropic/claude-sonnet-4-5"]:
        t = tag()
        r = ask(c, model, "EMU:cut " + t, stream=True)
        assert r.status == 200, r.body
        events = sse_events(r.body)
        assert "[DONE]" not in events, events
        last = json.loads(events[-1])
        assert last["error"]["code"].startswith("provider_"), last
        assert any("choices" in json.loads(e) for e in events[:-1] if e not in (":",))
        assert len(seen(t)) == 1, model
        row = audit_row(c, r.header("X-Request-Id"))
        assert row["status"] == "error" and row["attempts"] == 1, row


# ---- fallback routes ---------------------------------------------------------------

def test_fallback_skips_targets_the_policy_forbids():
    c = Server.get()
    t = tag()
    r = ask(c, "coop/smart", "hello " + t)
    assert r.status == 200, r.body
    assert r.json()["choices"][0]["message"]["content"] == REPLY
    reqs = seen(t)
    # Only the allowed target was called, with the whole zero-retention layer.
    assert [q.path for q in reqs] == ["/v1/messages"], [q.path for q in reqs]
    q = reqs[0]
    assert q.header("x-api-key") == KEYS["anthropic"]
    assert q.header("x-no-training") == "true" and q.header("x-data-retention-policy") == "zero-retention"
    assert "zero-retention" in q.body["system"]
    row = audit_row(c, r.header("X-Request-Id"))
    assert row["provider"] == "anthropic" and row["model"] == "claude-sonnet-4-5"
    assert row["target"] == "anthropic/claude-sonnet-4-5" and row["attempts"] == 1, row
    assert row["route"] == [
        {"target": "deepseek/deepseek-chat", "result": "skipped", "reason": "dpa_not_approved"},
        {"target": "openai/gpt-4o-mini", "result": "skipped", "reason": "model_not_allowed"},
        {"target": "anthropic/claude-sonnet-4-5", "result": "ok", "status": 200, "key": 0},
    ], row["route"]


def test_fallback_after_connect_errors():
    c = Server.get()
    t = tag()
    r = ask(c, "coop/backup", "hello " + t, stream=True)
    assert r.status == 200, r.body
    assert sse_events(r.body)[-1] == "[DONE]"
    assert [q.path for q in seen(t)] == ["/v1/chat/completions"]
    row = audit_row(c, r.header("X-Request-Id"))
    assert row["target"] == "openai/gpt-4o" and row["attempts"] == 4, row
    assert [(s["target"], s["result"]) for s in row["route"]] == [
        ("gemini/gemini-2.5-flash", "unreachable")] * 3 + [("openai/gpt-4o", "ok")]


def test_route_every_target_forbidden():
    c = Server.get()
    t = tag()
    r = ask(c, "coop/nowhere", "hello " + t)
    assert_error_shape(r, 403)
    assert seen(t) == []
    row = audit_row(c, r.header("X-Request-Id"))
    assert row["status"] == "blocked" and row["attempts"] == 0 and row["target"] is None, row
    assert [s["reason"] for s in row["route"]] == ["dpa_not_approved", "model_not_allowed"]


def test_routes_in_models_and_policy_api():
    c = Server.get()
    ids = [m["id"] for m in c.get("/v1/models").json()["data"]]
    assert "coop/smart" in ids and "coop/backup" in ids, ids
    pol = c.get("/v1/admin/policy").json()
    assert pol["routes"]["coop/backup"] == ["gemini/gemini-2.5-flash", "openai/gpt-4o"]
    for bad in [{"coop/x": []}, {"coop/x": ["nope/model"]}, {"coop/x": "openai/gpt-4o"},
                {"bad name": ["openai/gpt-4o"]}, {"coop/x": ["openai/gpt-4o"] * 9}]:
        doc = dict(pol, routes=bad)
        assert_error_shape(c.request("PUT", "/v1/admin/policy", body=doc), 400)
    doc = dict(pol)
    doc["routes"] = dict(pol["routes"], **{"coop/fast": ["anthropic/claude-haiku-4-5"]})
    r = c.request("PUT", "/v1/admin/policy", body=doc)
    assert r.status == 200, r.body
    t = tag()
    r = ask(c, "coop/fast", "hello " + t)
    assert r.status == 200 and seen(t)[0].body["model"] == "claude-haiku-4-5"
    changes = c.get("/v1/admin/config-changes").json()["rows"][0]["detail"]["changes"]
    assert any(ch["field"] == "routes" for ch in changes), changes


def test_anthropic_endpoint_uses_routes_and_retries():
    c = Server.get()
    for stream in (False, True):
        t = tag()
        body = {"model": "coop/smart", "max_tokens": 64, "stream": stream,
                "messages": [{"role": "user", "content": "EMU:status=503 EMU:fail=1 " + t}]}
        r = c.post("/v1/messages", body, headers={"anthropic-version": "2023-06-01"})
        assert r.status == 200, r.body
        if stream:
            assert b"event: message_stop" in r.body and b"event: error" not in r.body, r.body[-300:]
        else:
            assert r.json()["content"][0]["text"] == REPLY
        assert [q.path for q in seen(t)] == ["/v1/messages"] * 2
        row = audit_row(c, r.header("X-Request-Id"))
        assert row["target"] == "anthropic/claude-sonnet-4-5" and row["attempts"] == 2, row


# ---- key pools ---------------------------------------------------------------------

def check_rotation(reqs, bad, good, cooldown):
    keys = [q.key for q in reqs]
    assert set(keys) <= {bad, good}, keys
    bad_at = [i for i, k in enumerate(keys) if k == bad]
    assert bad_at, keys
    for i in bad_at:  # each refused request was retried at once with the other key
        assert i + 1 < len(keys) and keys[i + 1] == good, keys
    for i, j in zip(bad_at, bad_at[1:]):  # and the refused key rested meanwhile
        assert reqs[j].time - reqs[i].time >= cooldown, (reqs[j].time - reqs[i].time)
    return bad_at


def test_key_pool_rotation_and_cooldown():
    emu = Emulator().start()
    emu.key_status = {POOL_KEYS["a"]: 429, POOL_KEYS["c"]: 401}
    env = provider_env(emu)
    del env["OPENAI_API_KEY"], env["ANTHROPIC_API_KEY"]
    env["COOP_OPENAI_API_KEYS"] = "%s:1000, %s" % (POOL_KEYS["a"], POOL_KEYS["b"])
    env["COOP_ANTHROPIC_API_KEYS"] = "%s:1000,%s:1" % (POOL_KEYS["c"], POOL_KEYS["d"])
    env["COOP_POLICY_FILE"] = write_policy(FULL_POLICY)
    env["COOP_ROUTER_KEY_COOLDOWN_MS"] = "1500"
    data_dir = tempfile.mkdtemp(prefix="coop-e2e-pool-")
    try:
        with SlowCoopd(env=env, data_dir=data_dir) as c:
            for model, bad, good, path in [("openai/gpt-4o", "a", "b", "/v1/chat/completions"),
                                           ("anthropic/claude-sonnet-4-5", "c", "d", "/v1/messages")]:
                for _ in range(4):
                    r = ask(c, model, "hello")
                    assert r.status == 200, r.body
                time.sleep(1.6)  # past the cooldown: the heavy key is back in use
                for _ in range(3):
                    assert ask(c, model, "hello").status == 200
                reqs = [q for q in emu.requests if q.path == path]
                bad_at = check_rotation(reqs, POOL_KEYS[bad], POOL_KEYS[good], 1.5)
                assert len(bad_at) >= 2, [q.key for q in reqs]
            rows = c.get("/v1/admin/audit?limit=1000").json()["rows"]
            retried = [x for x in rows if x["attempts"] == 2]
            assert retried and all(x["status"] == "ok" for x in retried)
            assert {s["key"] for x in retried for s in x["route"]} == {0, 1}, retried
            assert c.stop() == 0
            # Rows with and without a route record chain up, on either store.
            out = c.run("audit", "verify")
            text = (out.stdout + out.stderr).decode()
            assert out.returncode == 0 and "llm chain: intact" in text, text
            blobs = [("store", c.store_dump())]
        for name in os.listdir(data_dir):
            path = os.path.join(data_dir, name)
            if os.path.isfile(path):
                with open(path, "rb") as f:
                    blobs.append((name, f.read()))
        for name, data in blobs:
            for k in POOL_KEYS.values():
                assert k.encode() not in data, (k, name)
    finally:
        emu.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def test_byok_key_never_pooled():
    admin = "admin-token-CANARY-9f8e7d6c5b4a"
    byok_key = "sk-byok-CANARYKEY-globex-0a0b0c"
    emu = Emulator().start()
    emu.key_status = {byok_key: 429}
    env = provider_env(emu)
    env["COOP_OPENAI_API_KEYS"] = "%s,%s" % (POOL_KEYS["a"], POOL_KEYS["b"])
    env["COOP_API_TOKEN"] = admin
    env["COOP_ROUTER_BACKOFF_MS"] = "10"
    try:
        with SlowCoopd(env=env) as c:
            out = c.run("token", "create", "--scope", "llm", "--customer", "globex")
            assert out.returncode == 0, out.stderr
            tok = out.stdout.decode().strip().splitlines()[-1]
            r = c.request("PUT", "/v1/admin/byok/globex/openai", body={"api_key": byok_key}, token=admin)
            assert r.status in (200, 201, 204), r.body
            r = ask(c, "openai/gpt-4o", "hello", token=tok)
            assert_error_shape(r, 429)
            assert [q.key for q in emu.requests] == [byok_key] * 3
            row = audit_row(c, r.header("X-Request-Id"), token=admin)
            assert row["byok"] and row["attempts"] == 3
            assert all("key" not in s for s in row["route"]), row["route"]
            assert byok_key not in c.log()
    finally:
        emu.stop()


def test_deadline_bounds_retries_and_waits():
    env = provider_env(EMU)
    env["COOP_POLICY_FILE"] = write_policy(FULL_POLICY)
    env["COOP_ROUTER_DEADLINE_MS"] = "4000"
    with SlowCoopd(env=env) as c:
        # The first request waits for the sanitizer's rules to compile
        # (slow under ASan), which the deadline counts too.
        assert ask(c, "openai/gpt-4o", "warm up", token=None).status in (200, 504)
        # A Retry-After that would end past the deadline is not waited for.
        t = tag()
        r = ask(c, "openai/gpt-4o", "EMU:status=429 EMU:retry-after=5 " + t)
        assert_error_shape(r, 429)
        assert r.header("Retry-After") == "5"
        assert len(seen(t)) == 1
        # A provider that never answers is cut at the deadline, not retried.
        t = tag()
        r = ask(c, "openai/gpt-4o", "EMU:hang=10000 " + t)
        assert_error_shape(r, 504)
        assert len(seen(t)) == 1
        row = audit_row(c, r.header("X-Request-Id"))
        assert row["attempts"] == 1 and row["status"] == "error", row


def test_malformed_key_pool_refused():
    env = provider_env(EMU)
    env["COOP_OPENAI_API_KEYS"] = "sk-one:0,sk-two"
    c = Coopd(env=env)
    c.start(wait=False)
    rc = c.proc.wait(240)
    c.log_file.close()
    log = c.log()
    shutil.rmtree(c.data_dir, ignore_errors=True)
    assert rc != 0, log
    assert "COOP_OPENAI_API_KEYS" in log and "sk-one" not in log, log


if __name__ == "__main__":
    try:
        run_tests(dict(globals()))
    finally:
        if Server.coopd:
            Server.coopd.stop()
            shutil.rmtree(Server.coopd.data_dir, ignore_errors=True)
        EMU.stop()
