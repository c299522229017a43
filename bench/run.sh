#!/usr/bin/env bash
# make bench: runs every benchmark script under bench/ (bench/*.sh other
# than this one) against the release build and collects their reports.
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
for b in bench/*.sh; do
  [ "$b" = bench/run.sh ] && continue
  echo "== $b"
  bash "$b" "$BUILD"
done
