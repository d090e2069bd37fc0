#!/usr/bin/env bash
# Installs the Debian packages reasonrl needs, only those missing (idempotent, non-interactive).
#   scripts/install-deps.sh          build + run dependencies
#   scripts/install-deps.sh --test   also what the test suite needs (torch for golden tests, OpenMPI, Chromium, Node)
#   scripts/install-deps.sh --fuzz   also clang and its libFuzzer runtime (scripts/fuzz.sh)
set -euo pipefail
pkgs=(build-essential cmake ninja-build ccache pkg-config libeigen3-dev nlohmann-json3-dev libsqlite3-dev libfmt-dev
      libcli11-dev libgtest-dev libonig-dev libicu-dev libgmp-dev libmpfr-dev libmpfi-dev libssl-dev)
if [[ "${1:-}" == "--fuzz" ]]; then
  pkgs+=(clang libclang-rt-14-dev python3)
fi
if [[ "${1:-}" == "--test" ]]; then
  pkgs+=(python3-torch python3-numpy libopenblas0-pthread sqlite3 libopenmpi-dev openmpi-bin chromium)
  command -v node >/dev/null 2>&1 || pkgs+=(nodejs npm)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
