#!/usr/bin/env bash
# Configures and builds reasonrl. Usage: scripts/build.sh [BUILD_DIR] [extra cmake args...]
# REASONRL_BUILD_TARGET=T builds only target T (and what it needs) instead of everything.
# With ccache installed (scripts/install-deps.sh does), compiles go through it; CCACHE_BASEDIR defaults to the
# repository root and the build directory is not hashed, so clones at other paths hit the same cache entries.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-build}"; shift || true
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
  # Debug builds (the ASan pass) carry the build directory in their debug info, so ccache keys them by it unless told
  # not to: without this a clone at another path recompiles the whole sanitizer build.
  export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
fi
target=(); [[ -n "${REASONRL_BUILD_TARGET:-}" ]] && target=(--target "$REASONRL_BUILD_TARGET")
cmake -S . -B "$dir" -G Ninja "${launcher[@]}" "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)" "${target[@]}"
