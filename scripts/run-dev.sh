#!/usr/bin/env bash
# make run: coopd in development mode on 127.0.0.1:8080 with SQLite under ./var.
set -euo pipefail
COOPD=${1:-build/coopd}
export COOP_ENV=${COOP_ENV:-development}
export COOP_LISTEN=${COOP_LISTEN:-127.0.0.1:8080}
export COOP_DATA_DIR=${COOP_DATA_DIR:-./var}
mkdir -p "$COOP_DATA_DIR"

# A newcomer sees real answers at once: the project's own history is
# imported as local/coop when the store holds no repository yet.
if "$COOPD" help 2>/dev/null | grep -q '^  import'; then
  if git rev-parse --git-dir >/dev/null 2>&1 && ! "$COOPD" repos 2>/dev/null | grep -q .; then
    echo "coop: importing this repository's history as local/coop"
    "$COOPD" import --repo local/coop --git . || echo "coop: import failed (continuing)"
  fi
fi

cat <<MSG
coop: serving on http://$COOP_LISTEN (development mode, data in $COOP_DATA_DIR)
coop: try   curl -s http://$COOP_LISTEN/healthz
MSG
if "$COOPD" help 2>/dev/null | grep -q '^  import'; then
  echo "coop: and   curl -s 'http://$COOP_LISTEN/v1/owners?repo=local/coop&path=README.md'"
fi
exec "$COOPD" serve
