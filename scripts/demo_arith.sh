#!/usr/bin/env bash
# The arithmetic demo (README, "The arithmetic demo"; README command 1 until the countdown demo): install what is
# missing, build, SFT a tiny DeepSeek-V3-style MoE from scratch on synthetic arithmetic, then GRPO on it. Extra
# arguments go to `reasonrl train` (e.g. --rl.algorithm kimi --run_dir runs/demo/kimi).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/demo_common.sh
demo_prepare runs/demo
./build/reasonrl sft --config configs/sft_arith.json
./build/reasonrl train --config configs/grpo_arith.json "$@"
./build/reasonrl report runs/demo/grpo/rollouts.db -o runs/demo/grpo/report.html
echo "report: runs/demo/grpo/report.html   browse: ./build/reasonrl inspect runs/demo/grpo/rollouts.db summary"
