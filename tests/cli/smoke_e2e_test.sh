#!/usr/bin/env bash
# A short end-to-end pass over the whole program on the micro model (configs/model_micro.json), meant to run under
# ASan/UBSan (scripts/test.sh runs it in the Debug + sanitizer build; ctest label `smoke`): every command a user runs,
# so the sanitizers see the CLI, the trainers, the rollout engine, the plugin supervisor, the store and the report, not
# only the unit tests. Any sanitizer report makes the command exit non-zero (halt_on_error, -fno-sanitize-recover), and
# the script fails with the command's log.
#   sft -> train (partial rollouts, a subprocess reward plugin, --stop_after then --resume) -> score -> generate ->
#   inspect (summary, samples --json, show --bytes --json, sql, export, migrate) -> report -> long2short (merge and length-penalty RL: the micro model
#   gets no sample right, which shortest rejection sampling and DPO need)
#   smoke_e2e_test.sh REASONRL_BINARY SOURCE_DIR
set -euo pipefail
bin=$(realpath "$1"); src=$(realpath "$2")
py=/usr/bin/python3
work=$(mktemp -d /tmp/reasonrl_smoke.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}:halt_on_error=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}:halt_on_error=1"
fail() { echo "FAIL: $*"; exit 1; }
t0=$SECONDS
step() {  # step NAME command...: runs it with its output in NAME.log; shows the log and fails on a non-zero exit
  local name="$1"; shift
  local s=$SECONDS
  local rc=0
  "$@" >"$name.log" 2>&1 || rc=$?
  (( rc == 0 )) || { tail -60 "$name.log"; fail "$name exited with status $rc"; }
  grep -q "runtime error:\|ERROR: AddressSanitizer\|ERROR: LeakSanitizer" "$name.log" && { cat "$name.log"; fail "$name: sanitizer report"; }
  echo "ok  $name ($((SECONDS - s)) s)"
}

# The micro model and a small synthetic arithmetic task.
$py - "$src/configs/model_micro.json" <<'PY'
import json, sys
model = json.load(open(sys.argv[1]))
data = {"source": "synthetic", "train_size": 64, "heldout_size": 8}
json.dump({"run_dir": "sft", "threads": 2, "steps": 3, "batch_size": 4, "model": model, "data": data,
           "tokenizer": {"train": {"vocab_size": 300}}, "eval": {"size": 4}}, open("sft.json", "w"))
plugin = {"name": "tidy", "kind": "subprocess", "path": sys.argv[1].replace("configs/model_micro.json",
          "rewards/examples/example_plugin.py"), "timeout_s": 60}
json.dump({"run_dir": "run", "threads": 2, "init_from": "sft/checkpoint", "steps": 4, "prompts_per_step": 2,
           "partial_rollout_groups": 3, "save_every": 1, "data": data,
           "rollout": {"num_generations": 2, "max_completion_length": 12, "partial_rollout": True,
                       "partial_rollout_segment": 5},
           "rewards": {"rewards": ["accuracy", "tidy"], "plugins": [plugin]},
           "eval": {"every": 2, "size": 4}}, open("train.json", "w"))
PY
step sft "$bin" sft --config sft.json
step train "$bin" train --config train.json --stop_after 2
step train_resume "$bin" train --config train.json --resume
grep -qi "resum" train_resume.log || fail "train --resume did not say it resumed"
db=run/rollouts.db
n=$($py -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM steps').fetchone()[0])" $db)
[[ $n == 4 ]] || fail "the store holds $n steps, expected 4"
tidy=$($py -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"SELECT count(*) FROM sample_rewards WHERE component = 'tidy'\").fetchone()[0])" $db)
(( tidy > 0 )) || fail "no sample has the plugin's reward"

printf '%s\n' '{"prompt": "1+2", "response": "<think>1+2=3</think> The answer is \\boxed{3}.", "gold": "3"}' \
  '{"prompt": "1+2", "response": "The answer is 4", "gold": "3"}' >responses.jsonl
step score "$bin" score --input responses.jsonl --jsonl
ckpt=run/checkpoints/$(cat run/checkpoints/latest)  # `latest` names the newest checkpoint directory
step generate "$bin" generate --checkpoint "$ckpt" --prompt "12+7" --samples 2 --max-tokens 8
step inspect_summary "$bin" inspect run summary
step inspect_samples "$bin" inspect run samples --json --limit 5
id=$($py -c "import json; print(json.load(open('inspect_samples.log'))[0]['id'])")
step inspect_show "$bin" inspect run show "$id" --bytes --json
step inspect_prompt "$bin" inspect run prompt 0
step inspect_sql "$bin" inspect run sql "SELECT step, count(*) FROM samples GROUP BY step" --json
step inspect_export "$bin" inspect run export --format csv -o samples.csv
step inspect_migrate "$bin" inspect run migrate
step report "$bin" report run -o report.html

$py - "$ckpt" <<'PY'
import json, sys
json.dump({"run_dir": "l2s", "threads": 2, "init_from": "run", "stages": ["merge", "length_rl"],
           "data": {"source": "synthetic", "train_size": 64, "heldout_size": 8},
           "eval": {"size": 4, "max_completion_length": 12, "max_batch": 8},
           "sampling": {"num_samples": 4, "num_prompts": 6, "max_completion_length": 12, "max_batch": 8},
           "merge": {"merge_method": "linear", "models": ["@input", sys.argv[1]], "weights": [0.5, 0.5]},
           "shortest": {"steps": 2, "batch_size": 2},
           "dpo": {"steps": 2, "batch_size": 2, "micro_batch_size": 2},
           "length_rl": {"max_completion_length": 10,
                         "train": {"steps": 2, "prompts_per_step": 2, "save_every": 0,
                                   "rollout": {"num_generations": 2, "max_completion_length": 12}}}},
          open("l2s.json", "w"))
PY
step long2short "$bin" long2short --config l2s.json
[[ -f l2s/long2short.md ]] || fail "long2short wrote no table"
step report_l2s "$bin" report l2s -o l2s.html
echo "smoke e2e passed in $((SECONDS - t0)) s"
