#!/usr/bin/env bash
# Installs the Debian packages Coop builds and tests with, and only those that
# are missing: it asks dpkg first, so a machine that already has everything
# needs no root and no network.
set -euo pipefail

PACKAGES=(
  build-essential pkg-config cmake ninja-build clang libclang-rt-14-dev
  libmicrohttpd-dev libcurl4-openssl-dev libsodium-dev libjson-c-dev
  libsqlite3-dev libpq-dev postgresql libssl-dev
  libvectorscan-dev libpcre2-dev libcmocka-dev zlib1g-dev
  openssl git curl python3 wrk time
  chromium
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: missing: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "install-deps: root is needed to install the packages above; run as root or install them yourself" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "install-deps: done"
