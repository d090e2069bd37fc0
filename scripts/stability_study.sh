#!/usr/bin/env bash
# The stability study of issue 19 item 5 (rl/core/NOTES.md, "Stability study"): from one countdown SFT checkpoint
# (configs/sft_countdown_study.json, run here if absent), GRPO (configs/grpo_countdown_study.json) with several optimizer steps per
# rollout batch at a high learning rate, four arms x seeds, everything else equal:
#   token  = token-level GRPO, ppo_mini_batch_size STUDY_MINI (16 prompts per step: 16 / STUDY_MINI optimizer steps)
#   gspo   = token + importance_sampling_level sequence, GSPO's clip range 3e-4 / 4e-4, loss_type seq_mean_token_mean
#   replay = token + rl.router_replay rollout
#   determ = token + deterministic true
# Held-out greedy pass@1 at the start and the end only (eval.every 0). Each run's wall and CPU time go to
# RUN_DIR.time (/usr/bin/time). Runs already finished (their .time file exists) are skipped, so the script can be
# re-run after an interruption. At the end scripts/stability_study.py prints the table.
# Settings (environment): STUDY_DIR (runs/study), STUDY_STEPS (80), STUDY_LR (2e-4), STUDY_MINI (4),
# STUDY_SEEDS ("1 2 3"), STUDY_ARMS ("token gspo replay determ"), STUDY_JOBS (2 runs at once, threads 1 each),
# STUDY_EVAL_SIZE (500), STUDY_SFT (an SFT run directory to start from; default STUDY_DIR/sft, trained here if absent).
# Extra arguments go to every `reasonrl train`. The study in rl/core/NOTES.md ran
#   STUDY_SEEDS="1 2" scripts/stability_study.sh                         (lr 2e-4)
#   STUDY_DIR=runs/study-lr1e-4 STUDY_LR=1e-4 STUDY_SFT=runs/study/sft scripts/stability_study.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${REASONRL_BIN:-build/reasonrl}
out=${STUDY_DIR:-runs/study}
steps=${STUDY_STEPS:-80}
lr=${STUDY_LR:-2e-4}
mini=${STUDY_MINI:-4}
seeds=${STUDY_SEEDS:-"1 2 3"}
arms=${STUDY_ARMS:-"token gspo replay determ"}
jobs=${STUDY_JOBS:-2}
eval_size=${STUDY_EVAL_SIZE:-500}
extra=("$@")
[[ -x $bin ]] || { echo "stability_study.sh: $bin not found (build first: scripts/build.sh)" >&2; exit 1; }
[[ -x /usr/bin/time ]] || { echo "stability_study.sh: /usr/bin/time not found (apt-get install time)" >&2; exit 1; }
mkdir -p "$out"

sft=${STUDY_SFT:-$out/sft}
if [[ ! -d $sft/checkpoint ]]; then
  rm -rf "$sft"
  nice -n 5 "$bin" sft --config configs/sft_countdown_study.json --run_dir "$sft" --eval.every 1000 >"$sft.log" 2>&1
fi

arm_args() {
  case $1 in
    token) ;;
    gspo) echo "--rl.importance_sampling_level sequence --rl.epsilon 3e-4 --rl.epsilon_high 4e-4 --rl.loss_type seq_mean_token_mean" ;;
    replay) echo "--rl.router_replay rollout" ;;
    determ) echo "--deterministic true" ;;
    *) echo "stability_study.sh: unknown arm '$1' (valid: token, gspo, replay, determ)" >&2; return 1 ;;
  esac
}

run_one() {  # arm seed
  local dir=$out/$1-s$2 args
  [[ -f $dir.time ]] && return 0
  args=$(arm_args "$1")
  rm -rf "$dir"
  # shellcheck disable=SC2086
  if ! nice -n 5 /usr/bin/time -f '%e %U %S' -o "$dir.time.tmp" "$bin" train --config configs/grpo_countdown_study.json \
      --init_from "$sft/checkpoint" --run_dir "$dir" --seed "$2" --threads 1 --steps "$steps" \
      --optim.learning_rate "$lr" --ppo_mini_batch_size "$mini" --save_every 0 \
      --eval.every 0 --eval.size "$eval_size" --eval.save_samples false $args "${extra[@]}" >"$dir.log" 2>&1; then
    echo "run $dir failed (see $dir.log)" >&2
    return 1
  fi
  mv "$dir.time.tmp" "$dir.time"
  echo "$(date -u +%H:%M:%S) done $dir"
}

failed=0
running=0
for seed in $seeds; do
  for arm in $arms; do
    arm_args "$arm" >/dev/null
    if ((running >= jobs)); then wait -n || failed=$((failed + 1)); running=$((running - 1)); fi
    run_one "$arm" "$seed" &
    running=$((running + 1))
  done
done
while ((running > 0)); do wait -n || failed=$((failed + 1)); running=$((running - 1)); done
python3 scripts/stability_study.py "$out"
((failed == 0)) || { echo "stability_study.sh: $failed run(s) failed" >&2; exit 1; }
