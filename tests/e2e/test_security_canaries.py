"""Canaries through the whole LLM path (DESIGN.md section 7, invariants 1 and 2).

A canary BYOK key is stored for customer acme and a canary prompt is sent
through /v1/chat/completions (streaming and not, several providers) with
tokens bound to acme, to another customer and to none. The provider
emulator must receive acme's key for acme's requests only. Afterwards the
SQLite files, every log line and every API response (chat answers, audit
rows, config changes, BYOK list, retention report, attestation payload)
are searched for both canaries and the master key, and hold none of them.
The audit chain over those requests verifies, and the attestation's totals
match what was sent.
"""
import base64
import glob
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from coopd_harness import Coopd, run_tests  # noqa: E402
from provider_emulator import Emulator  # noqa: E402

ADMIN = "coop_e2e_admin_" + "c3" * 20
MASTER = base64.b64encode(bytes(range(7, 39))).decode()
BYOK_CANARY = "sk-BYOKCANARY-acme-9e8d7c6b5a4f3e2d"
PROMPT_CANARY = "PROMPT-CANARY-secure-path-4b3c2d1e"
SERVER_KEYS = {
    "openai": "sk-server-openai-000000000000",
    "anthropic": "sk-server-anthropic-0000000000",
    "gemini": "server-gemini-000000000000000",
}
MODELS = {"openai": "gpt-4o", "anthropic": "claude-sonnet-4-5", "gemini": "gemini-2.5-flash"}
KEY_HEADER = {"openai": ("authorization", "Bearer %s"), "anthropic": ("x-api-key", "%s"),
              "gemini": ("x-goog-api-key", "%s")}


POLICY = {"providers": {
    "openai": {"policy_url": "https://openai.com/enterprise-privacy/", "verified_at": "2026-11-02T00:00:00Z"},
    "anthropic": {"policy_url": "https://privacy.anthropic.com/", "verified_at": "2026-11-02T00:00:00Z"},
    "gemini": {"policy_url": "https://ai.google.dev/gemini-api/terms", "verified_at": "2026-11-02T00:00:00Z"},
}}


def policy_file(data_dir, doc):
    path = os.path.join(data_dir, "policy.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    return path


def presented_key(rec, provider):
    name, fmt = KEY_HEADER[provider]
    value = rec.header(name) or ""
    prefix = fmt.split("%s")[0]
    return value[len(prefix):] if value.startswith(prefix) else value


def test_canaries_through_the_llm_path():
    emu = Emulator().start()
    data_dir = tempfile.mkdtemp(prefix="coop-e2e-canaries-")
    env = {"COOP_API_TOKEN": ADMIN, "COOP_MASTER_KEY": MASTER,
           "OPENAI_API_KEY": SERVER_KEYS["openai"], "COOP_OPENAI_BASE_URL": emu.url + "/v1",
           "ANTHROPIC_API_KEY": SERVER_KEYS["anthropic"], "COOP_ANTHROPIC_BASE_URL": emu.url,
           "GEMINI_API_KEY": SERVER_KEYS["gemini"], "COOP_GEMINI_BASE_URL": emu.url,
           "COOP_POLICY_FILE": policy_file(data_dir, POLICY)}
    responses = []

    def keep(r):
        responses.append(r.body.decode("utf-8", "replace"))
        responses.extend("%s: %s" % h for h in r.headers)
        return r

    try:
        with Coopd(env=env, data_dir=data_dir) as c:
            tokens = {}
            for who, args in (("acme", ["--customer", "acme"]), ("globex", ["--customer", "globex"]),
                              ("none", [])):
                out = c.run("token", "create", "--scope", "llm", *args)
                assert out.returncode == 0, out.stderr
                tokens[who] = out.stdout.decode().strip().splitlines()[-1]
            for p in ("openai", "anthropic", "gemini"):
                r = keep(c.request("PUT", "/v1/admin/byok/acme/" + p, body={"api_key": BYOK_CANARY},
                                   token=ADMIN))
                assert r.status == 201, r.body

            sent = 0
            for who in ("acme", "globex", "none"):
                for p in ("openai", "anthropic", "gemini"):
                    for stream in (False, True):
                        emu.clear()
                        body = {"model": "%s/%s" % (p, MODELS[p]), "stream": stream,
                                "messages": [{"role": "user",
                                              "content": "%s for %s" % (PROMPT_CANARY, who)}]}
                        r = keep(c.post("/v1/chat/completions", body, token=tokens[who]))
                        assert r.status == 200, (who, p, r.body[:300])
                        sent += 1
                        rec = emu.last()
                        assert rec is not None
                        # The prompt did reach the provider (the canary is real)...
                        assert PROMPT_CANARY in rec.raw.decode("utf-8", "replace")
                        # ...with acme's own key for acme only, the server's otherwise.
                        want = BYOK_CANARY if who == "acme" else SERVER_KEYS[p]
                        assert presented_key(rec, p) == want, (who, p, rec.headers)
                        if who != "acme":
                            assert BYOK_CANARY not in json.dumps(rec.headers)

            time.sleep(0.5)  # the router writes audit rows asynchronously
            for path in ("/v1/admin/audit?limit=1000", "/v1/admin/config-changes?limit=1000",
                         "/v1/admin/byok", "/v1/admin/audit/verify", "/v1/admin/retention-report?days=1"):
                r = keep(c.get(path, token=ADMIN))
                assert r.status == 200, (path, r.body[:300])
            rows = c.get("/v1/admin/audit?limit=1000", token=ADMIN).json()["rows"]
            assert len(rows) == sent, (len(rows), sent)
            byok_rows = [x for x in rows if x["byok"]]
            assert len(byok_rows) == 6 and all(x["customer"] == "acme" for x in byok_rows)
            assert {x["customer"] for x in rows} == {"acme", "globex", None}

            verify = c.get("/v1/admin/audit/verify", token=ADMIN).json()
            assert verify["intact"] and verify["llm"]["entries"] == sent, verify

            # A policy change (anthropic disabled) goes to the config-change log
            # and the attestation shows the policy in force.
            changed = json.loads(json.dumps(POLICY))
            changed["providers"]["anthropic"]["enabled"] = False
            r = keep(c.request("PUT", "/v1/admin/policy", body=changed, token=ADMIN))
            assert r.status == 200, r.body[:300]

            r = keep(c.post("/v1/admin/attestation", body={"days": 1}, token=ADMIN))
            assert r.status == 200
            payload = base64.b64decode(r.json()["payload"]).decode()
            responses.append(payload)
            pred = json.loads(payload)["predicate"]
            assert pred["llm_requests"]["total"] == sent
            assert pred["llm_requests"]["byok"] == 6
            assert pred["llm_requests"]["zero_retention_percent"] == 100
            assert json.loads(payload)["subject"][0]["digest"]["sha256"] == verify["llm"]["head_hash"]
            providers = pred["providers"]
            assert providers["openai"]["policy_url"] == POLICY["providers"]["openai"]["policy_url"]
            assert providers["openai"]["enabled"] is True and providers["anthropic"]["enabled"] is False
            assert "dpa_approved" in providers["openai"] and providers["gemini"]["verified_at"]
            whats = [(e["what"], e["actor"]) for e in pred["config_changes"]["entries"]]
            assert ("policy", "env") in whats and whats.count(("byok.put", "env")) == 3, whats
        log = c.log()
        out = c.run("audit", "verify")
        assert out.returncode == 0, out.stdout
        db = b"".join(open(p, "rb").read() for p in glob.glob(os.path.join(data_dir, "coop.db*")))
        assert db
        assert b"acme" in db  # the scan reads the database
        for canary in (BYOK_CANARY, PROMPT_CANARY, MASTER, ADMIN):
            assert canary.encode() not in db, canary
            assert canary not in log, canary
            for text in responses:
                assert canary not in text, (canary, text[:200])
    finally:
        emu.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    run_tests(globals())
