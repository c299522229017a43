#!/usr/bin/env bash
# Soak: 10 minutes of mixed load at a fixed rate (webhooks, graph queries,
# health and metrics, LLM calls to the provider emulator); RSS and open
# descriptors at the end within 10% of their value after warm-up, and no
# unexpected error answers.
#   bash bench/soak.sh [BUILD_DIR] [SECONDS] [RATE]
set -euo pipefail
BUILD=${1:-build}
SECS=${2:-600}
RATE=${3:-200}
[ -n "${BENCH_SMOKE:-}" ] && SECS=6
cd "$(dirname "$0")/.."
cmake --build "$BUILD" --target coopd >/dev/null
python3 bench/soak.py "$(realpath -m "$BUILD")/coopd" "$SECS" "$RATE"
