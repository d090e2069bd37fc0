#!/usr/bin/env bash
# Quick start, command 1: install what is missing, build, and run the countdown demo (issue 21: RL makes a tiny MoE
# search longer and solve more). Four stages on 4-number countdown problems with + and -:
#   1. a base model "pretrained" on an arithmetic-facts corpus (configs/base_countdown.json, both cores);
#   2. the cold start: SFT on 1,500 traces of a heuristic that often fails and mostly stops after one attempt
#      (configs/sft_countdown.json);
#   3. GRPO on answer-only prompts: the grounded answer reward (a right answer that an attempt of the trace reached)
#      + format, no length term (configs/grpo_countdown.json, 300 steps on one thread);
#   4. long2short from the GRPO model: shortest rejection sampling, DPO, merging and length-penalty RL (the length term
#      on correct responses only, cap 120), each from the long model (configs/long2short_countdown.json), then
#      chained: shortest rejection sampling, then the same length-penalty RL (configs/long2short_countdown_chain.json).
# Then the held-out table (greedy pass@1, pass@8, tokens and attempts per response), the long2short tables and the
# HTML report. `--quick` stops GRPO at 150 steps and skips long2short (README has the figures and times of both).
# Other arguments go to `reasonrl train`.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
if [[ "${1:-}" == "--quick" ]]; then
  quick=1
  shift
fi
source scripts/demo_common.sh
demo_prepare runs/countdown
./build/reasonrl sft --config configs/base_countdown.json
./build/reasonrl sft --config configs/sft_countdown.json
if ((quick)); then
  ./build/reasonrl train --config configs/grpo_countdown.json --steps 150 "$@"
else
  ./build/reasonrl train --config configs/grpo_countdown.json "$@"
fi
python3 scripts/demo_countdown_stats.py runs/countdown/sft runs/countdown/grpo
./build/reasonrl report runs/countdown/grpo/rollouts.db -o runs/countdown/grpo/report.html
if ((!quick)); then
  ./build/reasonrl long2short --config configs/long2short_countdown.json
  ./build/reasonrl long2short --config configs/long2short_countdown_chain.json
  cat runs/countdown/long2short/long2short.md runs/countdown/long2short_chain/long2short.md
fi
echo "report: runs/countdown/grpo/report.html   browse: ./build/reasonrl inspect runs/countdown/grpo/rollouts.db summary"
