#!/usr/bin/env bash
# make extension: installs the extension's npm dependencies, type-checks,
# runs its unit tests and packages extension/coop.vsix.
set -euo pipefail
cd "$(dirname "$0")/../extension"
if [ ! -f package.json ]; then
  echo "extension: no package.json yet"
  exit 0
fi
npm ci --no-audit --no-fund
npm run --silent build
npm test
npm run --silent package
