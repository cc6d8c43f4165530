#!/usr/bin/env bash
# Installs the Debian packages flowgate needs to build, test and benchmark.
# Idempotent: a package already installed is not fetched again, and apt-get update runs only when
# something is missing. Runs as root (or via sudo when available).
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config
  libh2o-evloop-dev libssl-dev libcurl4-openssl-dev libjansson-dev uuid-dev libcmocka-dev
  libsqlite3-dev sqlite3
  libnghttp2-dev libjwt-dev zlib1g-dev libhiredis-dev redis-server
  clang libclang-rt-14-dev
  curl nghttp2-client nodejs npm procps chromium openssl prometheus nginx-light
)

# `install-deps.sh bench` adds what only the benchmarks use (nginx serves both: the tests run the
# example config in config/, the benchmarks a webhook sink).
if [ "${1:-}" = "bench" ]; then
  pkgs+=(wrk libnginx-mod-nchan)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    # nodejs/npm may come from elsewhere (e.g. the base image's Node 20): accept a working binary.
    case "$p" in
      nodejs) command -v node >/dev/null 2>&1 && continue ;;
      npm) command -v npm >/dev/null 2>&1 && continue ;;
    esac
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
