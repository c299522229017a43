#!/usr/bin/env bash
# Parts of `make check` that are not ctest tests: the extension's build and
# unit tests, when the extension has a package.json.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f extension/package.json ]; then
  bash scripts/build-extension.sh
fi
