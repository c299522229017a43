"""End-to-end: the sanitizer's rules endpoint. Admin scope only; lists every
rule with id, description, group and family; development mode answers
without a token."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from coopd_harness import Coopd, assert_error_shape, run_tests  # noqa: E402

TOKEN = "coop-e2e-sanitize-CANARY-4b1d9e"
MASTER = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="
PROD = {"COOP_ENV": "production", "COOP_API_TOKEN": TOKEN, "COOP_MASTER_KEY": MASTER,
        "COOP_TLS_TERMINATED_BY_PROXY": "1"}
FAMILIES = {"aws", "github", "gitlab", "slack", "stripe", "openai", "anthropic", "google",
            "azure", "twilio", "sendgrid", "npm", "pypi", "private-key", "jwt",
            "url-credentials", "connection-string", "authorization-header", "generic", "pii"}


def check_listing(body):
    rules = body["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids)) >= 25, ids
    for r in rules:
        assert set(r) == {"id", "description", "group", "family"}, r
        assert r["group"] in ("secrets", "pii") and len(r["description"]) > 10, r
    assert FAMILIES <= {r["family"] for r in rules}
    for rid in ("aws-access-key-id", "github-token", "private-key", "connection-string-password",
                "generic-secret", "email-address"):
        assert rid in ids, rid
    assert {r["group"] for r in rules if r["family"] == "pii"} == {"pii"}


def test_rules_admin_only():
    with Coopd(env=PROD, production=True) as c:
        assert_error_shape(c.get("/v1/admin/sanitizer/rules"), 401)
        read_tok = c.run("token", "create", "--scope", "read").stdout.decode().strip().splitlines()[-1]
        assert_error_shape(c.get("/v1/admin/sanitizer/rules", token=read_tok), 403)
        r = c.get("/v1/admin/sanitizer/rules", token=TOKEN)
        assert r.status == 200, r.body[:300]
        assert r.header("Content-Type").startswith("application/json")
        check_listing(r.json())


def test_rules_development():
    with Coopd() as c:
        r = c.get("/v1/admin/sanitizer/rules")
        assert r.status == 200, r.body[:300]
        check_listing(r.json())


if __name__ == "__main__":
    run_tests(globals())
