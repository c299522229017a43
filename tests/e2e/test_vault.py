"""BYOK vault and customer-bound tokens, end to end.

A canary BYOK key and the master key go in through the admin API and the
environment; afterwards the SQLite files, every log line and every response
are searched for both and must hold neither. A wrong master key is refused
and said so without either key being printed. The config-change log records
BYOK changes with their actor, and `coopd audit verify` finds a tampered row.
"""
import base64
import hashlib
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from coopd_harness import Coopd, assert_error_shape, run_tests  # noqa: E402

TOKEN = "coop_e2e_admin_" + "a1" * 20
CANARY = "sk-CANARY-byok-5d1e0a7c93f24b68b0e1"
MASTER = base64.b64encode(bytes(range(32))).decode()
OTHER_MASTER = base64.b64encode(bytes(range(100, 132))).decode()


class Recorder:
    """Keeps every response body so they can all be searched at the end."""

    def __init__(self):
        self.bodies = []

    def __call__(self, resp):
        self.bodies.append(resp.body.decode("utf-8", "replace"))
        for k, v in resp.headers:
            self.bodies.append("%s: %s" % (k, v))
        return resp


def own_dir():
    """A data dir the test keeps after coopd stops (the harness removes its own)."""
    return tempfile.mkdtemp(prefix="coop-vault-e2e-")


def assert_nowhere(c, log, bodies, secrets):
    db = c.store_dump()  # the SQLite files, or a pg_dump of the schema
    for s in secrets:
        assert s.encode() not in db, "secret found in the database file"
        assert s not in log, "secret found in the log"
        for b in bodies:
            assert s not in b, "secret found in a response"


def test_byok_put_get_delete_and_canaries():
    rec = Recorder()
    env = {"COOP_API_TOKEN": TOKEN, "COOP_MASTER_KEY": MASTER}
    data_dir = own_dir()
    with Coopd(env=env, data_dir=data_dir) as c:
        path = "/v1/admin/byok/acme/openai"
        r = rec(c.request("PUT", path, body={"api_key": CANARY}, token=TOKEN))
        assert r.status == 201, r.body
        out = r.json()
        prefix = hashlib.sha256(CANARY.encode()).hexdigest()[:16]
        assert out["key_hash_prefix"] == prefix and out["replaced"] is False
        assert out["customer"] == "acme" and out["provider"] == "openai"

        r = rec(c.request("PUT", path, body={"api_key": CANARY}, token=TOKEN))
        assert r.status == 200 and r.json()["replaced"] is True

        r = rec(c.get("/v1/admin/byok", token=TOKEN))
        assert r.status == 200
        keys = r.json()["keys"]
        assert len(keys) == 1 and keys[0]["key_hash_prefix"] == prefix
        assert keys[0]["customer"] == "acme" and keys[0]["created_at"]
        assert "last_used_at" in keys[0]

        # Refusals: clear 4xx, never echoing the key.
        for body in ({"api_key": CANARY + "\r\nX: y"}, {"api_key": CANARY, "extra": 1},
                     {"key": CANARY}, {"api_key": "short"}):
            r = rec(c.request("PUT", path, body=body, token=TOKEN))
            assert_error_shape(r, 400)
        r = rec(c.request("PUT", path, body='{"api_key":"%s","api_key":"x"}' % CANARY, token=TOKEN))
        assert_error_shape(r, 400)
        r = rec(c.request("PUT", "/v1/admin/byok/ac%20me/openai", body={"api_key": CANARY}, token=TOKEN))
        assert_error_shape(r, 400)
        r = rec(c.request("PUT", "/v1/admin/byok/acme/OpenAI", body={"api_key": CANARY}, token=TOKEN))
        assert_error_shape(r, 400)

        # Scopes: an llm or read token cannot touch the vault; none gets 401.
        llm = c.run("token", "create", "--scope", "llm", "--customer", "acme").stdout.decode().split()[-1]
        rec(c.request("PUT", path, body={"api_key": CANARY}, token=llm))
        assert_error_shape(c.get("/v1/admin/byok", token=llm), 403)
        assert_error_shape(c.get("/v1/admin/byok"), 401)

        # The config-change log has the store with its actor, not the key.
        r = rec(c.get("/v1/admin/config-changes", token=TOKEN))
        rows = r.json()["rows"]
        puts = [x for x in rows if x["what"] == "byok.put"]
        assert len(puts) == 2 and puts[0]["actor"] == "env", rows
        assert puts[0]["detail"]["customer"] == "acme" and puts[0]["detail"]["key_hash_prefix"] == prefix

        r = rec(c.request("DELETE", path, token=TOKEN))
        assert r.status == 200 and r.json()["deleted"] is True
        assert_error_shape(rec(c.request("DELETE", path, token=TOKEN)), 404)
        r = rec(c.get("/v1/admin/byok", token=TOKEN))
        assert r.json()["keys"] == []
        r = rec(c.get("/v1/admin/config-changes?limit=1", token=TOKEN))
        assert r.json()["rows"][0]["what"] == "byok.delete" and r.json()["next_cursor"]

        # Store it again so the database holds its ciphertext at the end.
        assert rec(c.request("PUT", path, body={"api_key": CANARY}, token=TOKEN)).status == 201
    log = c.log()
    assert "BYOK key stored" in log  # the log is there and was searched
    assert_nowhere(c, log, rec.bodies, [CANARY, MASTER, TOKEN])
    c.drop_store()
    shutil.rmtree(data_dir)


def test_development_master_key_never_leaks():
    rec = Recorder()
    data_dir = own_dir()
    with Coopd(data_dir=data_dir) as c:
        r = rec(c.request("PUT", "/v1/admin/byok/acme/anthropic", body={"api_key": CANARY}))
        assert r.status == 201, r.body
        key_file = os.path.join(c.data_dir, "master.key")
        assert os.stat(key_file).st_mode & 0o777 == 0o600
        with open(key_file) as f:
            dev_master = f.read().strip()
        assert len(base64.b64decode(dev_master)) == 32
        rec(c.get("/v1/admin/byok"))
        rec(c.get("/v1/admin/config-changes"))
    assert_nowhere(c, c.log(), rec.bodies, [CANARY, dev_master])
    c.drop_store()
    shutil.rmtree(data_dir)


def test_wrong_master_key_refused_without_printing_keys():
    env = {"COOP_API_TOKEN": TOKEN, "COOP_MASTER_KEY": MASTER}
    data_dir = own_dir()
    with Coopd(env=env, data_dir=data_dir) as c:
        assert c.request("PUT", "/v1/admin/byok/acme/openai", body={"api_key": CANARY},
                         token=TOKEN).status == 201
    wrong = dict(env, COOP_MASTER_KEY=OTHER_MASTER)
    with Coopd(env=wrong, data_dir=data_dir) as c2:
        st = c2.run("vault", "status")
        assert st.returncode == 1 and b"unopenable: 1" in st.stdout, st.stdout
        rw = c2.run("vault", "rewrap")
        assert rw.returncode == 1 and b"could not be opened" in rw.stderr
        outputs = [c2.log(), st.stdout.decode(), st.stderr.decode(), rw.stdout.decode(),
                   rw.stderr.decode()]
    assert "does not hold" in outputs[0], outputs[0][-2000:]
    for text in outputs:
        for s in (CANARY, MASTER, OTHER_MASTER):
            assert s not in text

    # Rotation: new key current, old key previous; rewrap; then the new one alone.
    rot = dict(env, COOP_MASTER_KEY=OTHER_MASTER, COOP_MASTER_KEY_PREVIOUS=MASTER)
    c3 = Coopd(env=rot, data_dir=data_dir)
    rw = c3.run("vault", "rewrap")
    assert rw.returncode == 0 and b"resealed 1 keys" in rw.stdout, (rw.stdout, rw.stderr)
    st = Coopd(env=wrong, data_dir=data_dir).run("vault", "status")
    assert st.returncode == 0 and b"unopenable: 0" in st.stdout, st.stdout
    st = Coopd(env=env, data_dir=data_dir).run("vault", "status")
    assert st.returncode == 1  # the old key alone no longer opens it
    c3.drop_store()
    shutil.rmtree(data_dir)


def test_tokens_bound_to_customer_and_last_used():
    env = {"COOP_API_TOKEN": TOKEN, "COOP_MASTER_KEY": MASTER}
    with Coopd(env=env) as c:
        out = c.run("token", "create", "--scope", "admin", "--customer", "acme")
        assert out.returncode == 0, out.stderr
        tok = out.stdout.decode().strip().splitlines()[-1]
        assert b"customer: acme" in out.stdout
        bad = c.run("token", "create", "--scope", "llm", "--customer", "ac me/../x")
        assert bad.returncode != 0
        listing = json.loads(c.run("token", "list").stdout)
        row = [t for t in listing if t["customer"] == "acme"][0]
        assert row["last_used_at"] is None
        assert c.get("/v1/admin/byok", token=tok).status == 200
        listing = json.loads(c.run("token", "list").stdout)
        row = [t for t in listing if t["customer"] == "acme"][0]
        assert row["last_used_at"] is not None
        # The config change made with it names that token as the actor.
        assert c.request("PUT", "/v1/admin/byok/acme/gemini", body={"api_key": CANARY},
                         token=tok).status == 201
        rows = c.get("/v1/admin/config-changes", token=TOKEN).json()["rows"]
        assert rows[0]["actor"] == row["id"]
        revoke = c.run("token", "revoke", row["id"])
        assert revoke.returncode == 0
        assert_error_shape(c.get("/v1/admin/byok", token=tok), 401)


def test_audit_verify_finds_tampered_row():
    env = {"COOP_API_TOKEN": TOKEN, "COOP_MASTER_KEY": MASTER}
    data_dir = own_dir()
    with Coopd(env=env, data_dir=data_dir) as c:
        for p in ("openai", "anthropic", "gemini"):
            assert c.request("PUT", "/v1/admin/byok/acme/" + p, body={"api_key": CANARY},
                             token=TOKEN).status == 201
        r = c.get("/v1/admin/audit/verify", token=TOKEN).json()
        assert r["intact"] and r["config"]["entries"] == 3, r
        assert c.get("/v1/admin/audit", token=TOKEN).json()["rows"] == []
    ok = c.run("audit", "verify")
    assert ok.returncode == 0 and b"config chain: intact, 3 entries" in ok.stdout, ok.stdout
    c.sql_exec("UPDATE config_changes SET actor = 'someone-else' WHERE seq = 2")
    bad = c.run("audit", "verify")
    assert bad.returncode == 1 and b"BROKEN at seq 2" in bad.stdout, bad.stdout
    with Coopd(env=env, data_dir=data_dir) as c2:
        r = c2.get("/v1/admin/audit/verify", token=TOKEN).json()
        assert r["intact"] is False and r["config"]["bad_seq"] == 2
    c.drop_store()
    shutil.rmtree(data_dir)


if __name__ == "__main__":
    run_tests(globals())
