#!/usr/bin/env bash
# Installs the Debian 12 packages discache needs, only those missing.
# Run as root (or through sudo). Safe to run again: does nothing when all are present.
set -euo pipefail

packages=(
  g++ meson ninja-build pkg-config
  capnproto libcapnp-dev libasio-dev libxxhash-dev doctest-dev libssl-dev
  openssl                      # the TLS test makes its certificates with it
  memcached libmemcached-dev   # side-by-side benchmarks and comparison tests
  iproute2 procps              # network-namespace tests, process inspection
  faketime                     # clock-skew tests (libfaketime via LD_PRELOAD)
  clang-19 libclang-rt-19-dev  # sanitizer build and libFuzzer (tools/run-sanitizers.sh)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "discache: all build dependencies are installed"
  exit 0
fi

echo "discache: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=sudo
  else
    echo "discache: need root to install packages: ${missing[*]}" >&2
    exit 2
  fi
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
