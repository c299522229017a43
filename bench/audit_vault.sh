#!/usr/bin/env bash
# Audit chain and vault benchmark: chained audit appends against plain
# INSERTs, chain verification, and opening a BYOK key against the bare
# SELECT, all in one run on one SQLite file.
#   bash bench/audit_vault.sh [BUILD_DIR] [ROWS]
set -euo pipefail
BUILD=${1:-build}
ROWS=${2:-2000}
[ -n "${BENCH_SMOKE:-}" ] && ROWS=200
cd "$(dirname "$0")/.."
cmake --build "$BUILD" --target bench-audit_vault >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$BUILD/bench/bench-audit_vault" "$tmp" "$ROWS"
