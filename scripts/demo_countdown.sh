#!/usr/bin/env bash
# The countdown demo: a base model "pretrained" on an arithmetic-facts corpus (single countdown attempts with right
# arithmetic and honest verdicts, configs/base_countdown.json), SFT on 1,500 traces of a heuristic that often fails
# (at most 2 attempts, answer = the closest when neither reaches the target), then GRPO on answer-only countdown
# prompts (accuracy + format, no length bonus), and print the held-out pass@1, mean response tokens and attempts per
# response at each evaluation. Install and build as scripts/demo.sh. Extra arguments go to `reasonrl train`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/demo_common.sh
demo_prepare runs/countdown
./build/reasonrl sft --config configs/base_countdown.json
./build/reasonrl sft --config configs/sft_countdown.json
./build/reasonrl train --config configs/grpo_countdown.json "$@"
python3 scripts/demo_countdown_stats.py runs/countdown/sft runs/countdown/grpo
./build/reasonrl report runs/countdown/grpo/rollouts.db -o runs/countdown/grpo/report.html
echo "report: runs/countdown/grpo/report.html   browse: ./build/reasonrl inspect runs/countdown/grpo/rollouts.db summary"
