#!/usr/bin/env bash
# The long2short demo (Kimi k1.5 §2.4): a long model made by RL, then the four long2short stages from it.
#   1. SFT with verification passes in the chains of thought (configs/sft_arith_long.json: after the answer, 0-2 passes
#      that undo the steps and restate it; long and variable-length chains),
#   2. GRPO on it with the accuracy reward only (configs/grpo_arith_long.json): the long model,
#   3. shortest rejection sampling, DPO, merging and length-penalty RL, each from that model
#      (configs/long2short_arith.json), with pass@1 and mean tokens before and after each stage.
# Writes runs/long/{sft,grpo,long2short}; an earlier runs/long is moved aside, not overwritten.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build -DCMAKE_BUILD_TYPE=Release -DREASONRL_BUILD_TESTS=OFF
if [[ -e runs/long ]]; then
  old="runs/long.$(date +%Y%m%d-%H%M%S)"
  mv runs/long "$old"
  echo "long2short_demo: the previous runs/long is now $old"
fi
./build/reasonrl sft --config configs/sft_arith_long.json
./build/reasonrl train --config configs/grpo_arith_long.json
./build/reasonrl long2short --config configs/long2short_arith.json
./build/reasonrl report runs/long/long2short/rollouts.db -o runs/long/long2short/report.html
echo "table: runs/long/long2short/long2short.md   report: runs/long/long2short/report.html"
