#!/usr/bin/env bash
# make fuzz: runs each libFuzzer target for SECONDS on a scratch copy of its
# seed corpus (the committed corpus is not modified).
set -euo pipefail
BUILD=${1:-build-fuzz}
SECONDS_EACH=${2:-60}
status=0
for bin in "$BUILD"/fuzz-*; do
  [ -x "$bin" ] || continue
  name=${bin##*/fuzz-}
  work=$(mktemp -d)
  cp -r "fuzz/corpus/$name/." "$work/" 2>/dev/null || true
  echo "fuzz: $name for ${SECONDS_EACH}s"
  "$bin" -max_total_time="$SECONDS_EACH" -print_final_stats=1 "$work" || status=1
  rm -rf "$work"
done
exit $status
