#!/usr/bin/env bash
# Parts of `make check` that are not ctest tests: the extension's build and
# unit tests, when the extension has a package.json.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f extension/package.json ]; then
  bash scripts/build-extension.sh
fi
# The extension e2e test's tools (code-server, Node 24, playwright-core):
# installed once into a cache outside the repository, here rather than
# inside the test's time limit.
if [ -f tests/e2e/extension/package-lock.json ]; then
  bash scripts/install-extension-e2e-tools.sh >/dev/null
fi
