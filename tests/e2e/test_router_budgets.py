"""Budgets and usage counters of the Model Router, end to end, coopd in front
of the provider emulator: requests per minute and tokens per day per token
and per customer, crossed and answered 429 with Retry-After (OpenAI's shape
on /v1/chat/completions, Anthropic's on /v1/messages); GET /v1/admin/usage
counting requests, errors and tokens per customer, provider and model; the
tokens-per-day counter and the budgets document surviving a restart and
shared by two coopd on one store; the admin scope required.
Runs again on PostgreSQL (e2e-pg/test_router_budgets).
"""
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from coopd_harness import Coopd, assert_error_shape, run_tests  # noqa: E402
from test_router import EMU, FULL_POLICY, PROMPT_CANARY, SlowCoopd, provider_env, write_policy  # noqa: E402

ADMIN = "budget-admin-token-5d4c3b2a19f8e7d6"
# The emulator reports 11 prompt + 7 completion tokens for OpenAI, 13 + 5 for Anthropic.
OPENAI_TOKENS = 18


def env(**extra):
    e = provider_env()
    e["COOP_POLICY_FILE"] = write_policy(FULL_POLICY)
    e["COOP_API_TOKEN"] = ADMIN
    e.update(extra)
    return e


def new_token(c, customer=None, scope="llm"):
    args = ["token", "create", "--scope", scope] + (["--customer", customer] if customer else [])
    out = c.run(*args)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.decode().strip().splitlines()
    tid = [x.split(": ", 1)[1] for x in lines if x.startswith("id: ")][0]
    return lines[-1], tid


def chat(c, token, text="hello", model="openai/gpt-4o"):
    return c.post("/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": text}]},
                  token=token)


def messages(c, token, model="openai/gpt-4o"):
    return c.post("/v1/messages", {"model": model, "max_tokens": 16,
                                   "messages": [{"role": "user", "content": "hello"}]},
                  headers={"x-api-key": token, "anthropic-version": "2023-06-01"})


def usage(c, query=""):
    r = c.get("/v1/admin/usage" + query, token=ADMIN)
    assert r.status == 200, r.body
    return r.json()


def wait_usage(c, customer, total_tokens, requests=None):
    """The usage rows of customer once its tokens reach total_tokens (the
    counters are written by a background thread)."""
    deadline = time.time() + 30
    while True:
        rows = [x for x in usage(c)["rows"] if x["customer"] == customer]
        tokens = sum(x["input_tokens"] + x["output_tokens"] for x in rows)
        reqs = sum(x["requests"] for x in rows)
        if (tokens >= total_tokens and (requests is None or reqs >= requests)) or time.time() > deadline:
            return rows
        time.sleep(0.05)


def assert_openai_429(r, kind):
    assert r.status == 429, (r.status, r.body)
    obj = r.json()
    assert obj["error"]["type"] == kind and obj["error"]["code"] and obj["error"]["message"], obj
    assert obj["error"]["request_id"] == r.header("X-Request-Id")
    retry = int(r.header("Retry-After"))
    assert retry >= 1, retry
    return retry


def test_requests_per_minute_per_token_and_customer():
    n = len(EMU.requests)
    with SlowCoopd(env=env(COOP_BUDGET_TOKEN_RPM="2")) as c:
        tok, _ = new_token(c, "acme")
        assert chat(c, tok).status == 200
        assert messages(c, tok).status == 200
        retry = assert_openai_429(chat(c, tok), "requests")
        assert retry <= 60
        r = messages(c, tok)
        assert r.status == 429, r.body
        obj = r.json()
        assert obj["type"] == "error" and obj["error"]["type"] == "rate_limit_error", obj
        assert int(r.header("Retry-After")) >= 1
        assert len(EMU.requests) == n + 2, "a refused request never reaches a provider"
        # another token of the same customer has its own bucket; a customer
        # limit set by the admin applies to both
        tok2, tid2 = new_token(c, "acme")
        assert chat(c, tok2).status == 200
        r = c.request("PUT", "/v1/admin/budgets", token=ADMIN,
                      body={"customers": {"acme": {"requests_per_minute": 1}},
                            "tokens": {tid2: {"requests_per_minute": 100}}})
        assert r.status == 200, r.body
        assert r.json()["document"]["customers"]["acme"]["requests_per_minute"] == 1
        assert chat(c, tok2).status == 200  # the customer bucket starts full (1)
        assert_openai_429(chat(c, tok2), "requests")
        # a token of another customer is not affected
        other, _ = new_token(c, "globex")
        assert chat(c, other).status == 200
        rows = usage(c)["rows"]
        acme = [x for x in rows if x["customer"] == "acme" and x["provider"] == "openai"]
        assert acme and acme[0]["model"] == "gpt-4o"


def test_tokens_per_day_survives_restart_and_is_shared():
    data_dir = tempfile.mkdtemp(prefix="coop-e2e-budget-")
    c = SlowCoopd(env=env(), data_dir=data_dir).__enter__()
    try:
        tok, _ = new_token(c, "acme")
        r = c.request("PUT", "/v1/admin/budgets", token=ADMIN,
                      body={"customers": {"acme": {"tokens_per_day": OPENAI_TOKENS + 1}}})
        assert r.status == 200, r.body
        assert chat(c, tok, text=PROMPT_CANARY).status == 200
        wait_usage(c, "acme", OPENAI_TOKENS)
        assert chat(c, tok).status == 200  # 18 < 19: admitted, and crosses the limit
        wait_usage(c, "acme", 2 * OPENAI_TOKENS)
        retry = assert_openai_429(chat(c, tok), "tokens")
        assert retry <= 86400
        r = messages(c, tok)
        assert r.status == 429 and r.json()["error"]["type"] == "rate_limit_error", r.body
        rows = wait_usage(c, "acme", 2 * OPENAI_TOKENS, requests=4)
        row = [x for x in rows if x["provider"] == "openai" and x["model"] == "gpt-4o"][0]
        assert row == {"customer": "acme", "provider": "openai", "model": "gpt-4o", "requests": 4,
                       "errors": 2, "input_tokens": 22, "output_tokens": 14}, row
        assert c.stop() == 0
        # a counter of a day long past, deleted at the restart (retention 30 days)
        insert = ("INSERT INTO router_usage (day, customer, token_id, provider, model, requests, errors, "
                  "input_tokens, output_tokens) VALUES ('2000-01-01', 'acme', 'tok_old', 'openai', 'gpt-4o', "
                  "1, 0, 5, 5)")
        store = c.env.get("COOP_STORE", "")
        if store.startswith("postgres"):
            from coopd_harness import pg_sql
            pg_sql(store, insert)
        else:
            import sqlite3
            con = sqlite3.connect(os.path.join(data_dir, "coop.db"))
            con.execute(insert)
            con.commit()
            con.close()
        assert c.sql("SELECT COUNT(*) FROM router_usage WHERE day = '2000-01-01'") == [[1]]
        # restarted on the same store: the day's counter and the document are still there
        c = SlowCoopd(env=env(COOP_USAGE_RETENTION_DAYS="30"), data_dir=data_dir).__enter__()
        assert_openai_429(chat(c, tok), "tokens")
        deadline = time.time() + 30
        while c.sql("SELECT COUNT(*) FROM router_usage WHERE day = '2000-01-01'") != [[0]]:
            assert time.time() < deadline, "the old day was not deleted"
            time.sleep(0.1)
        r = c.get("/v1/admin/budgets", token=ADMIN)
        assert r.json()["document"]["customers"]["acme"]["tokens_per_day"] == OPENAI_TOKENS + 1
        # a second coopd on the same store sees the same counter and document
        store = c.env.get("COOP_STORE") or "sqlite:" + os.path.join(data_dir, "coop.db")
        with SlowCoopd(env=env(COOP_STORE=store)) as c2:
            assert_openai_429(chat(c2, tok), "tokens")
            # raised on the second instance: the first sees it after its reload interval
            r = c2.request("PUT", "/v1/admin/budgets", token=ADMIN,
                           body={"customers": {"acme": {"tokens_per_day": 1000}}})
            assert r.status == 200, r.body
            assert chat(c2, tok).status == 200
        r = c.get("/v1/admin/budgets", token=ADMIN)  # reads the store again
        assert r.json()["document"]["customers"]["acme"]["tokens_per_day"] == 1000
        assert chat(c, tok).status == 200
        # every change is in the config-change log
        r = c.get("/v1/admin/config-changes?limit=1000", token=ADMIN)
        assert r.status == 200, r.body
        changes = [x for x in r.json()["rows"] if x["what"] == "budgets"]
        assert len(changes) == 2 and all(x["actor"] == "env" for x in changes), changes
        # counts only: no prompt text in the usage answer or anywhere stored
        assert PROMPT_CANARY not in json.dumps(usage(c))
        assert c.stop() == 0
    finally:
        if c.proc and c.proc.poll() is None:
            c.stop()
    for name in os.listdir(data_dir):
        path = os.path.join(data_dir, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                assert PROMPT_CANARY.encode() not in f.read(), name
    shutil.rmtree(data_dir, ignore_errors=True)
    if c.schema:
        from coopd_harness import pg_drop_schema
        pg_drop_schema(c.schema)


def test_usage_counts_and_admin_scope():
    with SlowCoopd(env=env()) as c:
        tok, tid = new_token(c, "initech")
        assert chat(c, tok).status == 200
        assert messages(c, tok, model="claude-sonnet-4-5").status == 200
        assert chat(c, tok, text="EMU:status=500").status == 502
        rows = wait_usage(c, "initech", OPENAI_TOKENS + 18, requests=3)
        by = {(x["provider"], x["model"]): x for x in rows}
        assert by[("openai", "gpt-4o")]["requests"] == 2 and by[("openai", "gpt-4o")]["errors"] == 1
        assert by[("anthropic", "claude-sonnet-4-5")] == {
            "customer": "initech", "provider": "anthropic", "model": "claude-sonnet-4-5", "requests": 1,
            "errors": 0, "input_tokens": 13, "output_tokens": 5}
        u = usage(c, "?customer=initech&by=token")
        assert {x["token_id"] for x in u["rows"]} == {tid}
        assert u["totals"]["requests"] == 3
        today = time.strftime("%Y-%m-%d", time.gmtime())
        assert usage(c, "?since=2000-01-01&until=2000-01-02")["rows"] == []
        assert usage(c, "?since=%s&until=%s" % (today, today))["totals"]["requests"] >= 3
        # scopes: the llm token may not read usage or budgets; no token: 401
        for method, path in (("GET", "/v1/admin/usage"), ("GET", "/v1/admin/budgets"),
                             ("PUT", "/v1/admin/budgets")):
            assert_error_shape(c.request(method, path, body={} if method == "PUT" else None, token=tok), 403)
            assert_error_shape(c.request(method, path, body={} if method == "PUT" else None), 401)
        # bad queries and documents: 400, nothing changed
        for q in ("?since=yesterday", "?until=2026-1-1", "?by=model"):
            assert_error_shape(c.get("/v1/admin/usage" + q, token=ADMIN), 400)
        bad = [b"{", b"[]", b'{"customers":{"acme":{"tokens_per_day":-1}}}',
               b'{"customers":{"acme":{"tokens_per_day":"5"}}}', b'{"customers":{"acme":{"rpm":5}}}',
               b'{"customers":{"bad id!":{"tokens_per_day":5}}}', b'{"limits":{}}',
               b'{"defaults":{"team":{}}}', b'{"customers":{"acme":{}},"customers":{}}',
               b'{"tokens":{"tok_1":{"requests_per_minute":1.5}}}']
        for body in bad:
            r = c.request("PUT", "/v1/admin/budgets", body=body, token=ADMIN,
                          headers={"Content-Type": "application/json"})
            assert_error_shape(r, 400)
        assert c.get("/v1/admin/budgets", token=ADMIN).json()["document"] == {}
        # token counts in the metrics, by provider only
        r = c.get("/metrics", token=ADMIN)
        assert r.status == 200
        metrics = r.body.decode()
        assert 'coop_llm_tokens_total{provider="anthropic",kind="output"} 5' in metrics, metrics[-3000:]
        assert 'coop_llm_tokens_total{provider="openai",kind="input"} 11' in metrics
        assert "initech" not in metrics
        # defaults in the document apply to every customer without an override
        r = c.request("PUT", "/v1/admin/budgets", token=ADMIN,
                      body={"defaults": {"customer": {"tokens_per_day": 1}},
                            "customers": {"other": {"tokens_per_day": 0}}})
        assert r.status == 200, r.body
        assert_openai_429(chat(c, tok), "tokens")
        metrics = c.get("/metrics", token=ADMIN).body.decode()
        assert 'coop_llm_budget_refusals_total{limit="tokens"} 1' in metrics


def test_budgets_not_stored_are_not_logged():
    """A budgets document the store refuses (a trigger) is 503, and its
    config-change entry, written in the same transaction, is not kept."""
    from coopd_harness import e2e_on_postgres
    with SlowCoopd(env=env()) as c:
        if e2e_on_postgres():
            c.sql_exec("CREATE FUNCTION coop_test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                       "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$")
            c.sql_exec("CREATE TRIGGER coop_test_refuse BEFORE INSERT OR UPDATE ON router_budgets "
                       "FOR EACH ROW EXECUTE FUNCTION coop_test_refuse()")
        else:
            c.sql_exec("CREATE TRIGGER coop_test_refuse BEFORE INSERT ON router_budgets "
                       "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
        r = c.request("PUT", "/v1/admin/budgets", token=ADMIN,
                      body={"customers": {"acme": {"tokens_per_day": 5}}})
        assert_error_shape(r, 503)
        assert c.sql("SELECT COUNT(*) FROM config_changes WHERE what = 'budgets'") == [[0]]
        assert c.get("/v1/admin/budgets", token=ADMIN).json()["document"] == {}
        c.sql_exec("DROP TRIGGER coop_test_refuse" + (" ON router_budgets" if e2e_on_postgres() else ""))
        r = c.request("PUT", "/v1/admin/budgets", token=ADMIN,
                      body={"customers": {"acme": {"tokens_per_day": 5}}})
        assert r.status == 200, r.body
        assert c.sql("SELECT COUNT(*) FROM config_changes WHERE what = 'budgets'") == [[1]]


def test_bad_budget_setting_stops_start():
    """A budget setting that is not a whole number stops the server (a typo
    must not leave a budget unlimited); the log names the variable only."""
    for var, value in (("COOP_BUDGET_CUSTOMER_TOKENS_PER_DAY", "5e6x"), ("COOP_BUDGET_TOKEN_RPM", "-7777")):
        c = Coopd(env=env(**{var: value}))
        c.start(wait=False)
        try:
            rc = c.proc.wait(240)
        finally:
            if c.proc.poll() is None:
                c.kill()
        c.log_file.close()
        assert rc != 0, c.log()
        assert var in c.log() and value not in c.log(), c.log()[-2000:]
        shutil.rmtree(c.data_dir, ignore_errors=True)
        if c.schema:
            from coopd_harness import pg_drop_schema
            pg_drop_schema(c.schema)


if __name__ == "__main__":
    try:
        run_tests(globals())
    finally:
        EMU.stop()
