"""Retention report and signed attestation, end to end.

The envelope from POST /v1/admin/attestation (and from `coopd attest`)
verifies with `coopd verify` and, independently of Coop, with
`openssl pkeyutl -verify -rawin` over the DSSE pre-authentication encoding
using the key published at GET /v1/attestation/public-key; one changed
byte makes both fail.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from coopd_harness import Coopd, assert_error_shape, run_tests  # noqa: E402

TOKEN = "coop_e2e_admin_" + "b2" * 20
MASTER = base64.b64encode(bytes(range(32))).decode()
SEED = base64.b64encode(bytes(range(50, 82))).decode()


def pae(payload_type, payload):
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def openssl_verify(pem_path, message, sig, workdir):
    msg_path, sig_path = os.path.join(workdir, "pae.bin"), os.path.join(workdir, "sig.bin")
    with open(msg_path, "wb") as f:
        f.write(message)
    with open(sig_path, "wb") as f:
        f.write(sig)
    return subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", pem_path, "-rawin",
                           "-in", msg_path, "-sigfile", sig_path], capture_output=True)


def test_attestation_verifies_with_openssl_and_coopd():
    work = tempfile.mkdtemp(prefix="coop-attest-e2e-")
    env = {"COOP_API_TOKEN": TOKEN, "COOP_MASTER_KEY": MASTER, "COOP_SIGNING_KEY": SEED}
    with Coopd(env=env) as c:
        # Something for the config-change log to report.
        assert c.request("PUT", "/v1/admin/byok/acme/openai", body={"api_key": "sk-attest-000000"},
                         token=TOKEN).status == 201

        pub = c.get("/v1/attestation/public-key")  # public: no token
        assert pub.status == 200
        pub = pub.json()
        raw = base64.b64decode(pub["public_key"])
        assert len(raw) == 32 and pub["algorithm"] == "ed25519" and pub["key_id"].startswith("coop-ed25519:")
        pem_path = os.path.join(work, "pub.pem")
        with open(pem_path, "w") as f:
            f.write(pub["public_key_pem"])
        # The PEM is the standard SPKI wrapping of those 32 bytes.
        der = base64.b64decode("".join(pub["public_key_pem"].strip().splitlines()[1:-1]))
        assert der == bytes.fromhex("302a300506032b6570032100") + raw

        r = c.post("/v1/admin/attestation", body={"days": 30}, token=TOKEN)
        assert r.status == 200, r.body
        envelope = r.json()
        assert envelope["payloadType"] == "application/vnd.in-toto+json"
        assert envelope["signatures"][0]["keyid"] == pub["key_id"]
        payload = base64.b64decode(envelope["payload"])
        sig = base64.b64decode(envelope["signatures"][0]["sig"])
        st = json.loads(payload)
        assert st["_type"] == "https://in-toto.io/Statement/v1"
        pred = st["predicate"]
        assert pred["period"]["days"] == 30
        assert pred["audit"]["retention_days"] == 90
        assert pred["audit"]["chains"]["config"]["intact"] is True
        assert st["subject"][1]["digest"]["sha256"] == pred["audit"]["chains"]["config"]["head_hash"]
        changes = pred["config_changes"]["entries"]
        assert [x["what"] for x in changes] == ["byok.put"]
        assert "sk-attest" not in payload.decode()
        rules = pred["sanitization"]["rules"]
        assert rules and all(r["id"] and r["group"] in ("secrets", "pii") for r in rules)
        assert pred["sanitization"]["rule_count"] == len(rules)
        for k in ("total", "sent_to_providers", "zero_retention_percent", "byok"):
            assert k in pred["llm_requests"]

        # OpenSSL alone verifies the PAE; one changed byte anywhere fails.
        message = pae(envelope["payloadType"], payload)
        ok = openssl_verify(pem_path, message, sig, work)
        assert ok.returncode == 0 and b"Signature Verified Successfully" in ok.stdout, ok
        for pos in (0, len(message) // 2, len(message) - 1):
            changed = bytearray(message)
            changed[pos] ^= 0x01
            assert openssl_verify(pem_path, bytes(changed), sig, work).returncode != 0
        bad_sig = bytearray(sig)
        bad_sig[5] ^= 0x01
        assert openssl_verify(pem_path, message, bytes(bad_sig), work).returncode != 0

        # coopd verify with the published key, as PEM and as the JSON answer.
        env_path = os.path.join(work, "envelope.json")
        with open(env_path, "w") as f:
            json.dump(envelope, f)
        json_key = os.path.join(work, "pub.json")
        with open(json_key, "w") as f:
            json.dump(pub, f)
        for key in (pem_path, json_key):
            v = c.run("verify", env_path, "--pubkey", key)
            assert v.returncode == 0 and b"signature: OK" in v.stdout, (v.stdout, v.stderr)
        tampered = dict(envelope)
        changed = bytearray(payload)
        changed[payload.index(b'"days":30') + 7] = ord("1")
        tampered["payload"] = base64.b64encode(bytes(changed)).decode()
        bad_path = os.path.join(work, "tampered.json")
        with open(bad_path, "w") as f:
            json.dump(tampered, f)
        v = c.run("verify", bad_path, "--pubkey", pem_path)
        assert v.returncode == 1 and b"INVALID" in v.stdout, (v.stdout, v.stderr)

        # The CLI signs with the same key; its envelope verifies too.
        a = c.run("attest", "--days", "7")
        assert a.returncode == 0, a.stderr
        cli_env = json.loads(a.stdout)
        cli_st = json.loads(base64.b64decode(cli_env["payload"]))
        assert cli_st["predicate"]["period"]["days"] == 7
        # Outside serve, the configured (here built-in) provider policy is reported.
        assert isinstance(cli_st["predicate"]["providers"], dict), cli_st["predicate"]["providers"]
        cli_path = os.path.join(work, "cli.json")
        with open(cli_path, "wb") as f:
            f.write(a.stdout)
        v = c.run("verify", cli_path, "--pubkey", pem_path)
        assert v.returncode == 0, (v.stdout, v.stderr)
        assert c.run("attest", "--days", "0").returncode == 2

        # The retention report is the same predicate, unsigned.
        rep = c.get("/v1/admin/retention-report?days=30", token=TOKEN)
        assert rep.status == 200 and rep.json()["report_type"] == "coop.retention-report.v1"
        assert_error_shape(c.get("/v1/admin/retention-report?days=0", token=TOKEN), 400)
        assert_error_shape(c.post("/v1/admin/attestation", body={"days": "x"}, token=TOKEN), 400)
        assert_error_shape(c.post("/v1/admin/attestation", body={}), 401)
        log = c.log()
    assert SEED not in log and MASTER not in log
    shutil.rmtree(work)


def test_envelope_signed_by_openssl_verifies_in_coopd():
    """Cross-implementation: fuzz/corpus/dsse/envelope was signed by OpenSSL
    with the RFC 8032 test-1 key; coopd verify accepts it with that key."""
    src = os.environ.get("COOP_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
    corpus = os.path.join(src, "fuzz", "corpus", "dsse")
    c = Coopd()
    for key in ("pem", "json-key"):
        v = c.run("verify", os.path.join(corpus, "envelope"), "--pubkey", os.path.join(corpus, key))
        assert v.returncode == 0 and b"signature: OK" in v.stdout, (v.stdout, v.stderr)
    other = tempfile.mkdtemp(prefix="coop-attest-key-")
    with open(os.path.join(other, "k"), "w") as f:
        f.write(base64.b64encode(bytes(32)).decode())
    v = c.run("verify", os.path.join(corpus, "envelope"), "--pubkey", os.path.join(other, "k"))
    assert v.returncode == 1, (v.stdout, v.stderr)
    v = c.run("verify", os.path.join(corpus, "bad-b64"), "--pubkey", os.path.join(corpus, "pem"))
    assert v.returncode == 2
    shutil.rmtree(other)
    shutil.rmtree(c.data_dir, ignore_errors=True)


def test_development_signing_key_is_generated_and_stable():
    d = tempfile.mkdtemp(prefix="coop-attest-dev-")
    with Coopd(data_dir=d) as c:
        first = c.get("/v1/attestation/public-key").json()["public_key"]
        path = os.path.join(d, "signing.key")
        assert os.stat(path).st_mode & 0o777 == 0o600
        with open(path) as f:
            seed = f.read().strip()
        r = c.post("/v1/admin/attestation", body={})
        assert r.status == 200
        assert seed not in r.body.decode() and seed not in c.log()
    with Coopd(data_dir=d) as c:
        assert c.get("/v1/attestation/public-key").json()["public_key"] == first
    shutil.rmtree(d)


if __name__ == "__main__":
    run_tests(globals())
