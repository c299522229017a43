"""The provider policy set through the admin API is stored, end to end, coopd
in front of the provider emulator: a PUT that disables a provider survives
restarts (the stored policy takes precedence over COOP_POLICY_FILE, and the
start says so in the log); a malformed PUT is 400 and leaves the stored
policy as it was; DELETE goes back to COOP_POLICY_FILE; a change whose
config-change entry or stored row cannot be written is 503 and changes
nothing (memory, store, log); in production a PUT failing the compliance
checks is refused, and a stored policy that does not parse stops the start;
two coopd on one store: a change on one is
enforced by the other within a few seconds (SQLite: its poll; PostgreSQL:
LISTEN/NOTIFY, the poll set to an hour so only the notification can do it).
No provider key in the stored policy, the store or the logs.
Runs again on PostgreSQL (e2e-pg/test_router_policy_store).
"""
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from coopd_harness import assert_error_shape, e2e_on_postgres, pg_drop_schema, run_tests  # noqa: E402
from test_router import EMU, FULL_POLICY, KEYS, SlowCoopd, chat, provider_env, write_policy  # noqa: E402

ADMIN = "policy-admin-token-7c6b5a4938271605"
POLICY_FILE = write_policy(FULL_POLICY)


def env(**extra):
    e = provider_env()
    e["COOP_POLICY_FILE"] = POLICY_FILE
    e["COOP_API_TOKEN"] = ADMIN
    e.update(extra)
    return e


def blocking_doc():
    """FULL_POLICY with DeepSeek disabled and OpenAI restricted to one model."""
    doc = json.loads(json.dumps(FULL_POLICY))
    doc["providers"]["deepseek"]["enabled"] = False
    doc["providers"]["openai"]["allowed_models"] = ["gpt-4o-mini"]
    return doc


def policy(c):
    r = c.get("/v1/admin/policy", token=ADMIN)
    assert r.status == 200, r.body
    return r


def policy_changes(c):
    return [r for r in c.sql("SELECT actor, what, detail FROM config_changes ORDER BY seq")
            if r[1] == "policy"]


def stored(c):
    rows = c.sql("SELECT doc, version, updated_by FROM router_policy")
    return rows[0] if rows else None


def deepseek_refused(c):
    n = len(EMU.requests)
    r = chat(c, "deepseek", token=ADMIN)
    if r.status == 200:
        return False
    assert_error_shape(r, 403)
    assert len(EMU.requests) == n, "a refused request never reaches the provider"
    return True


def restart(c):
    """c stopped and started again on the same data directory and store."""
    assert c.stop() == 0
    c.check_log_json()
    e = {k: v for k, v in c.env.items() if k.startswith("COOP_") and k != "COOP_LISTEN"}
    e.update(provider_env())
    n = SlowCoopd(env=e, data_dir=c.data_dir)
    n.schema = c.schema  # dropped by cleanup
    return n.__enter__()


def no_keys(c, dump=True):
    data, log = c.store_dump() if dump else b"", c.log()
    for name, key in KEYS.items():
        assert key.encode() not in data, name
        assert key not in log, name
    assert ADMIN not in log and ADMIN.encode() not in data


def cleanup(c):
    if c.proc and c.proc.poll() is None:
        c.stop()
    shutil.rmtree(c.data_dir, ignore_errors=True)
    if c.schema:
        pg_drop_schema(c.schema)


def test_stored_policy_survives_restarts_until_deleted():
    c = SlowCoopd(env=env(), data_dir=tempfile.mkdtemp(prefix="coop-e2e-policy-")).__enter__()
    try:
        r = policy(c)
        assert r.header("X-Coop-Policy-Source") == "file", r.headers
        assert not deepseek_refused(c)
        assert stored(c) is None
        r = c.request("PUT", "/v1/admin/policy", body=blocking_doc(), token=ADMIN)
        assert r.status == 200, r.body
        assert r.json()["providers"]["deepseek"]["enabled"] is False
        assert r.header("X-Coop-Policy-Source") == "store" and r.header("X-Coop-Policy-Version") == "1"
        assert deepseek_refused(c)
        r = chat(c, "openai", token=ADMIN)
        assert_error_shape(r, 403)
        assert r.json()["error"]["code"] == "model_not_allowed"
        doc, version, by = stored(c)
        assert version == 1 and by == "env"
        assert json.loads(doc) == policy(c).json()
        changes = policy_changes(c)
        assert len(changes) == 1 and changes[0][0] == "env", changes
        detail = json.loads(changes[0][2])
        assert detail["action"] == "put"
        assert {(x.get("provider"), x["field"]) for x in detail["changes"]} == {
            ("deepseek", "enabled"), ("openai", "allowed_models")}, detail

        # Restarted on the same store: the stored policy is in force, and said so.
        c = restart(c)
        lines = [x for x in c.log_lines() if x["msg"] == "provider policy in force comes from the store"]
        assert len(lines) == 1 and lines[-1]["version"] == 1 and lines[-1]["changed_by"] == "env", lines
        r = policy(c)
        assert r.header("X-Coop-Policy-Source") == "store"
        assert r.json()["providers"]["deepseek"]["enabled"] is False
        assert r.json()["providers"]["openai"]["allowed_models"] == ["gpt-4o-mini"]
        assert deepseek_refused(c)

        # Malformed changes: 400, nothing stored, nothing logged.
        bad = [b"{", b"[]", b'{"providers":{"nope":{}}}',
               b'{"providers":{"openai":{"disabled_features":["x"]}}}',
               b'{"providers":{"deepseek":{"enabled":"no"}}}', b'{"providers":{},"extra":1}',
               b'{"providers":{"openai":{}},"providers":{}}']
        for body in bad:
            r = c.request("PUT", "/v1/admin/policy", body=body, token=ADMIN,
                          headers={"Content-Type": "application/json"})
            assert_error_shape(r, 400)
        assert stored(c)[1] == 1 and len(policy_changes(c)) == 1
        c = restart(c)
        assert policy(c).json()["providers"]["deepseek"]["enabled"] is False
        assert deepseek_refused(c)

        # Only the admin scope changes the policy.
        out = c.run("token", "create", "--scope", "llm")
        assert out.returncode == 0, out.stderr
        llm = out.stdout.decode().strip().splitlines()[-1]
        for method in ("PUT", "DELETE"):
            body = FULL_POLICY if method == "PUT" else None
            assert_error_shape(c.request(method, "/v1/admin/policy", body=body, token=llm), 403)
            assert_error_shape(c.request(method, "/v1/admin/policy", body=body), 401)
        assert stored(c)[1] == 1

        # DELETE: back to COOP_POLICY_FILE, logged; a second DELETE changes nothing.
        r = c.request("DELETE", "/v1/admin/policy", token=ADMIN)
        assert r.status == 200, r.body
        assert r.header("X-Coop-Policy-Source") == "file"
        assert r.json()["providers"]["deepseek"]["enabled"] is True
        assert r.json()["providers"]["openai"]["allowed_models"] == []
        assert not deepseek_refused(c)
        assert chat(c, "openai", token=ADMIN).status == 200
        doc, version, _ = stored(c)
        assert doc is None and version == 2
        changes = policy_changes(c)
        assert len(changes) == 2 and json.loads(changes[1][2])["action"] == "delete", changes
        r = c.request("DELETE", "/v1/admin/policy", token=ADMIN)
        assert r.status == 200 and r.header("X-Coop-Policy-Source") == "file"
        assert len(policy_changes(c)) == 2 and stored(c)[1] == 2
        c = restart(c)
        assert [x for x in c.log_lines() if x["msg"] == "provider policy in force comes from COOP_POLICY_FILE"]
        assert policy(c).header("X-Coop-Policy-Source") == "file"
        assert not deepseek_refused(c)
        no_keys(c)
        assert c.stop() == 0
        c.check_log_json()
    finally:
        cleanup(c)


def refuse_writes(c, table):
    """Makes every write to table fail (a trigger), as a broken store would."""
    if e2e_on_postgres():
        c.sql_exec("CREATE OR REPLACE FUNCTION coop_test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$")
        c.sql_exec("CREATE TRIGGER coop_test_refuse BEFORE INSERT OR UPDATE ON %s "
                   "FOR EACH ROW EXECUTE FUNCTION coop_test_refuse()" % table)
    else:
        for op in ("INSERT", "UPDATE"):
            c.sql_exec("CREATE TRIGGER coop_test_refuse_%s BEFORE %s ON %s "
                       "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END" % (op.lower(), op, table))


def allow_writes(c, table):
    if e2e_on_postgres():
        c.sql_exec("DROP TRIGGER coop_test_refuse ON %s" % table)
    else:
        for op in ("insert", "update"):
            c.sql_exec("DROP TRIGGER coop_test_refuse_%s" % op)


def test_change_not_written_is_503_and_changes_nothing():
    c = SlowCoopd(env=env()).__enter__()
    try:
        # the stored row cannot be written: the log entry is not kept either
        refuse_writes(c, "router_policy")
        r = c.request("PUT", "/v1/admin/policy", body=blocking_doc(), token=ADMIN)
        assert_error_shape(r, 503)
        assert policy(c).json()["providers"]["deepseek"]["enabled"] is True
        assert not deepseek_refused(c)
        assert stored(c) is None and policy_changes(c) == []
        allow_writes(c, "router_policy")
        # the log entry cannot be written: the policy is not stored
        refuse_writes(c, "config_changes")
        assert_error_shape(c.request("PUT", "/v1/admin/policy", body=blocking_doc(), token=ADMIN), 503)
        assert not deepseek_refused(c)
        assert stored(c) is None
        allow_writes(c, "config_changes")
        assert c.request("PUT", "/v1/admin/policy", body=blocking_doc(), token=ADMIN).status == 200
        assert deepseek_refused(c)
        # a DELETE that cannot be written leaves the stored policy in force
        refuse_writes(c, "router_policy")
        assert_error_shape(c.request("DELETE", "/v1/admin/policy", token=ADMIN), 503)
        assert deepseek_refused(c)
        assert stored(c)[1] == 1 and len(policy_changes(c)) == 1
        allow_writes(c, "router_policy")
        assert c.request("DELETE", "/v1/admin/policy", token=ADMIN).status == 200
        assert not deepseek_refused(c)
        assert c.stop() == 0
        c.check_log_json()
    finally:
        cleanup(c)


def test_production_refuses_a_noncompliant_policy_and_a_bad_stored_one():
    """In production a PUT must pass the startup compliance checks (stored,
    a failing policy would stop the next start); a stored policy that does
    not parse stops the start instead of giving way to the file's."""
    e = env(COOP_MASTER_KEY="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", COOP_TLS_TERMINATED_BY_PROXY="1")
    c = SlowCoopd(env=e, production=True, data_dir=tempfile.mkdtemp(prefix="coop-e2e-policy-")).__enter__()
    try:
        doc = json.loads(json.dumps(FULL_POLICY))
        doc["providers"]["deepseek"]["dpa_approved"] = False
        r = c.request("PUT", "/v1/admin/policy", body=doc, token=ADMIN)
        assert_error_shape(r, 400)
        assert r.json()["error"]["code"] == "policy_not_compliant" and "deepseek" in r.json()["error"]["message"]
        assert stored(c) is None and policy_changes(c) == []
        assert c.request("PUT", "/v1/admin/policy", body=blocking_doc(), token=ADMIN).status == 200
        c = restart(c)  # the stored policy passes the checks at start
        assert deepseek_refused(c)
        assert c.stop() == 0
        c.check_log_json()
        c.sql_exec("UPDATE router_policy SET doc = '{\"providers\":{\"nope\":{}}}', version = version + 1")
        bad = SlowCoopd(env={k: v for k, v in c.env.items() if k.startswith("COOP_") and k != "COOP_LISTEN"},
                        data_dir=c.data_dir)
        bad.start(wait=False)
        try:
            rc = bad.proc.wait(240)
        finally:
            if bad.proc.poll() is None:
                bad.kill()
        bad.log_file.close()
        assert rc != 0
        assert "the stored provider policy is refused" in bad.log(), bad.log()[-2000:]
        c.sql_exec("UPDATE router_policy SET doc = NULL, version = version + 1")
        c = restart(c)
        assert [x for x in c.log_lines() if x["msg"] == "provider policy in force comes from COOP_POLICY_FILE"]
        assert not deepseek_refused(c)
        assert c.stop() == 0
    finally:
        cleanup(c)


def wait_until(fn, what, timeout=10):
    deadline = time.time() + timeout
    while not fn():
        assert time.time() < deadline, what
        time.sleep(0.1)


def test_two_instances_share_the_stored_policy():
    c1 = SlowCoopd(env=env()).__enter__()
    c2 = None
    try:
        store = c1.env.get("COOP_STORE") or "sqlite:" + os.path.join(c1.data_dir, "coop.db")
        # On PostgreSQL the second instance polls once an hour: only the
        # notification can bring it the change in time.
        extra = {"COOP_POLICY_RELOAD_MS": "3600000"} if e2e_on_postgres() else {}
        c2 = SlowCoopd(env=env(COOP_STORE=store, **extra)).__enter__()
        assert not deepseek_refused(c2)
        r = c1.request("PUT", "/v1/admin/policy", body=blocking_doc(), token=ADMIN)
        assert r.status == 200, r.body
        wait_until(lambda: deepseek_refused(c2), "the second instance did not apply the change")
        assert chat(c2, "openai", token=ADMIN).status == 403
        wait_until(lambda: [x for x in c2.log_lines() if x["msg"] == "provider policy changed in the store"],
                   "the second instance did not log the change")
        # removed on the second: the first goes back to the file's policy
        r = c2.request("DELETE", "/v1/admin/policy", token=ADMIN)
        assert r.status == 200 and r.json()["providers"]["deepseek"]["enabled"] is True, r.body
        wait_until(lambda: not deepseek_refused(c1), "the first instance did not apply the removal")
        assert chat(c1, "openai", token=ADMIN).status == 200
        assert policy(c1).header("X-Coop-Policy-Source") == "file"
        assert len(policy_changes(c1)) == 2
        no_keys(c1)
        no_keys(c2, dump=False)  # its store is c1's
        assert c2.stop() == 0
        c2.check_log_json()
        assert c1.stop() == 0
        c1.check_log_json()
    finally:
        if c2:
            cleanup(c2)
        cleanup(c1)


if __name__ == "__main__":
    try:
        run_tests(globals())
    finally:
        EMU.stop()
        os.unlink(POLICY_FILE)
