"""GitHub App authentication end to end: coopd configured with an app id and
private key (generated here with `openssl genpkey`) against the code-host
emulator in GitHub App mode, which verifies each JWT's RS256 signature with
the app's public key (`openssl dgst -verify`) and its claims, and issues
installation tokens.

The installation is looked up per repository (or configured); a token is
reused while it has more than five minutes left, renewed when it has less,
and renewed at once when GitHub answers 401 (revoked or expired early);
a wrong key fails the job with an error naming the settings; a key file
that holds no usable key stops coopd at start. No private key, JWT or
installation token reaches a log line, a job row or the database.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from coopd_harness import Coopd, run_tests  # noqa: E402
from host_emulator import Emulator  # noqa: E402
from test_hosts import job, jobs, sync, wait  # noqa: E402

APP_ID = "424242"
INSTALLATION = 777
REPO = "github.com/octo/hello"
KEYS = tempfile.mkdtemp(prefix="coop-ghapp-keys-")


def keypair(name):
    key, pub = os.path.join(KEYS, name + ".pem"), os.path.join(KEYS, name + ".pub")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", key], check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], check=True, capture_output=True)
    return key, pub


APP_KEY, APP_PUB = keypair("app")


def app_emulator(ttl=3600):
    return Emulator(app={"id": APP_ID, "public_key": APP_PUB, "installation": INSTALLATION, "ttl": ttl})


def coopd_env(emu, key=APP_KEY, installation=None):
    env = {"COOP_GITHUB_API_URL": emu.url("/github"), "COOP_GITHUB_APP_ID": APP_ID,
           "COOP_GITHUB_APP_PRIVATE_KEY_FILE": key, "COOP_HOSTS_BACKFILL_PAGES": "1"}
    if installation:
        env["COOP_GITHUB_APP_INSTALLATION_ID"] = str(installation)
    return env


def codeowners_done(c, jid):
    return wait("codeowners job %d" % jid, lambda: job(c, jid)["state"] == "done" or None)


def token_posts(emu):
    return [r for r in emu.seen("github", "/access_tokens") if r["method"] == "POST"]


def private_bits():
    """What must never show: the key file's base64 lines."""
    with open(APP_KEY) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("-----")]


def assert_no_secrets(c, emu):
    issued = list(emu.app_tokens)
    jwts = [r["authorization"][7:] for r in emu.seen("github")
            if (r["authorization"] or "").startswith("Bearer ey")]
    assert issued and jwts
    texts = {"log": c.log(), "store": c.store_dump().decode("latin-1")}
    for state in ("queued", "running", "done", "dead"):
        texts["jobs " + state] = json.dumps(jobs(c, state))
    for where, text in texts.items():
        for s in issued + jwts + private_bits()[:3]:
            assert s not in text, (where, s[:12])


def test_installation_token_lookup_reuse_and_refresh_on_401():
    with app_emulator() as emu, Coopd(env=coopd_env(emu)) as c:
        codeowners_done(c, sync(c, kind="codeowners", repo=REPO))
        rows = c.sql("SELECT file, text FROM graph_codeowners")
        assert rows == [[".github/CODEOWNERS", emu.repos["github"]["octo/hello"].files[".github/CODEOWNERS"]]], rows
        # The installation was looked up once, with a JWT GitHub accepts.
        assert len(emu.seen("github", "/repos/octo/hello/installation")) == 1
        assert len(token_posts(emu)) == 1 and token_posts(emu)[0]["status"] == 201
        assert emu.jwt_results and all(ok for ok, _ in emu.jwt_results), emu.jwt_results
        token = next(iter(emu.app_tokens))
        contents = emu.seen("github", "/contents/")
        assert contents and contents[-1]["authorization"] == "Bearer " + token

        # A second job reuses the cached token.
        codeowners_done(c, sync(c, kind="codeowners", repo=REPO))
        assert len(token_posts(emu)) == 1

        # Revoked: the 401 makes coopd get a new token and retry, once.
        emu.expire_app_tokens()
        codeowners_done(c, sync(c, kind="codeowners", repo=REPO))
        assert len(token_posts(emu)) == 2
        refused = [r for r in emu.seen("github") if r["status"] == 401]
        assert len(refused) == 1 and refused[0]["authorization"] == "Bearer " + token, refused
        assert emu.seen("github", "/contents/")[-1]["status"] in (200, 304)
        assert len(emu.seen("github", "/repos/octo/hello/installation")) == 1
        assert not jobs(c, "dead")
        assert_no_secrets(c, emu)


def test_token_near_expiry_is_renewed():
    # Tokens that live two minutes are inside the five-minute margin: each
    # use gets a new one. The configured installation needs no lookup.
    with app_emulator(ttl=120) as emu, Coopd(env=coopd_env(emu, installation=INSTALLATION)) as c:
        codeowners_done(c, sync(c, kind="codeowners", repo=REPO))
        codeowners_done(c, sync(c, kind="codeowners", repo=REPO))
        assert len(token_posts(emu)) == 2, token_posts(emu)
        assert not emu.seen("github", "/repos/octo/hello/installation")
        assert all(ok for ok, _ in emu.jwt_results), emu.jwt_results


def test_wrong_key_fails_clearly():
    other_key, _ = keypair("other")
    with app_emulator() as emu, Coopd(env=coopd_env(emu, key=other_key)) as c:
        jid = sync(c, kind="codeowners", repo=REPO)
        err = wait("401 error", lambda: job(c, jid)["last_error"])
        assert "401" in err and "COOP_GITHUB_APP_ID" in err and "COOP_GITHUB_APP_PRIVATE_KEY_FILE" in err, err
        assert emu.jwt_results and not any(ok for ok, _ in emu.jwt_results)
        assert {why for _, why in emu.jwt_results} == {"signature"}, emu.jwt_results
        assert not emu.app_tokens and not emu.seen("github", "/contents/")
        jwts = [r["authorization"][7:] for r in emu.seen("github")]
        with open(other_key) as f:
            key_lines = [line.strip() for line in f if not line.startswith("-----")][:3]
        for text in (c.log(), json.dumps(job(c, jid))):
            for s in jwts + key_lines:
                assert s not in text
        c.check_log_json()


def test_unusable_key_file_stops_start():
    junk = os.path.join(KEYS, "junk.pem")
    with open(junk, "w") as f:
        f.write("-----BEGIN PRIVATE KEY-----\nTHISISNOTAKEYBUTMUSTNOTBEPRINTED\n-----END PRIVATE KEY-----\n")
    for path in (junk, os.path.join(KEYS, "missing.pem")):
        c = Coopd(env={"COOP_GITHUB_APP_ID": APP_ID, "COOP_GITHUB_APP_PRIVATE_KEY_FILE": path})
        c.start(wait=False)
        rc = c.proc.wait(240)
        c.log_file.close()
        assert rc != 0
        log = c.log()
        assert "COOP_GITHUB_APP_PRIVATE_KEY_FILE" in log, log[-2000:]
        assert "THISISNOTAKEY" not in log
        shutil.rmtree(c.data_dir, ignore_errors=True)


if __name__ == "__main__":
    try:
        run_tests(globals())
    finally:
        shutil.rmtree(KEYS, ignore_errors=True)
