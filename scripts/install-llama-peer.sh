#!/usr/bin/env bash
# Installs llama.cpp's prebuilt CPU build (node-llama-cpp + its linux-x64 binaries, ~85 MB) from the npm registry into a
# directory outside the C++ build: the peer of the llama.cpp conformance test (label golden) and bench/llama_peer.mjs.
# Never downloads or compiles llama.cpp (--ignore-scripts; the CUDA/Vulkan optional packages are omitted).
#   scripts/install-llama-peer.sh [dir]     default: $REASONRL_LLAMA_PEER or ~/.cache/reasonrl/llama-peer
# Prints the directory. Idempotent.
set -euo pipefail
dir="${1:-${REASONRL_LLAMA_PEER:-$HOME/.cache/reasonrl/llama-peer}}"
version=3.22.1
command -v node >/dev/null 2>&1 || { echo "node is missing: bash scripts/install-deps.sh --test" >&2; exit 1; }
mkdir -p "$dir"
if [[ ! -f "$dir/node_modules/node-llama-cpp/package.json" ]] ||
   ! grep -q "\"version\": \"$version\"" "$dir/node_modules/node-llama-cpp/package.json"; then
  [[ -f "$dir/package.json" ]] || echo '{"name":"reasonrl-llama-peer","private":true}' > "$dir/package.json"
  (cd "$dir" && npm install --no-audit --no-fund --omit=optional --ignore-scripts \
     "node-llama-cpp@$version" "@node-llama-cpp/linux-x64@$version" >&2)
fi
echo "$dir"
