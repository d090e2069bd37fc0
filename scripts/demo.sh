#!/usr/bin/env bash
# Quick start, command 1: install what is missing, build, and run the demo training:
# SFT a tiny DeepSeek-V3-style MoE from scratch on synthetic arithmetic, then GRPO on it. Extra arguments go to
# `reasonrl train` (e.g. --rl.algorithm kimi --run_dir runs/demo/kimi).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build -DCMAKE_BUILD_TYPE=Release -DREASONRL_BUILD_TESTS=OFF
if [[ -e runs/demo ]]; then  # a second run must not fail on the first one's store, nor overwrite it
  old="runs/demo.$(date +%Y%m%d-%H%M%S)"
  mv runs/demo "$old"
  echo "demo: the previous runs/demo is now $old"
fi
./build/reasonrl sft --config configs/sft_arith.json
./build/reasonrl train --config configs/grpo_arith.json "$@"
./build/reasonrl report runs/demo/grpo/rollouts.db -o runs/demo/grpo/report.html
echo "report: runs/demo/grpo/report.html   browse: ./build/reasonrl inspect runs/demo/grpo/rollouts.db summary"
