#!/usr/bin/env bash
# Code-host sync benchmark: coopd backfilling HOSTS_COMMITS (default 2,000;
# BENCH_SMOKE: 200) commits from the code-host emulator, against a plain
# Python client making the same requests; see bench/hosts.py.
#   bash bench/hosts.sh [BUILD_DIR]
set -euo pipefail
BUILD=${1:-build}
cd "$(dirname "$0")/.."
if [ -n "${BENCH_SMOKE:-}" ]; then export HOSTS_COMMITS=${HOSTS_COMMITS:-200}; fi
COOPD="$(realpath -m "$BUILD")/coopd" COOP_SOURCE_DIR="$PWD" python3 bench/hosts.py
