"""The official openai, @anthropic-ai/sdk and @google/genai npm clients
(tests/e2e/node, installed with npm ci) against coopd's Model Router and
the provider emulator. Skipped, saying so, where node and npm are absent."""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from provider_emulator import REPLY, Emulator  # noqa: E402
from test_router import FULL_POLICY, SlowCoopd, provider_env, write_policy  # noqa: E402

TOKEN = "sdk-test-token-4b3c2d1e0f9a8b7c6d5e"
NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node")


def main():
    if not shutil.which("node") or not shutil.which("npm"):
        print("skipped: node and npm are not installed")
        return 0
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "openai")):
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline"], cwd=NODE_DIR,
                           capture_output=True, timeout=500)
        if r.returncode != 0:
            print(r.stdout.decode()[-3000:], r.stderr.decode()[-3000:])
            return 1
    with Emulator() as emu:
        env = provider_env(emu)
        env["COOP_POLICY_FILE"] = write_policy(FULL_POLICY)
        env["COOP_API_TOKEN"] = TOKEN
        with SlowCoopd(env=env) as c:
            run_env = dict(os.environ, COOP_URL="http://127.0.0.1:%d" % c.port, COOP_TOKEN=TOKEN, EMU_URL=emu.url, REPLY=REPLY)
            r = subprocess.run(["node", "sdk.test.mjs"], cwd=NODE_DIR, env=run_env, timeout=300)
            return r.returncode


if __name__ == "__main__":
    sys.exit(main())
