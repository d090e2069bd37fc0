#!/usr/bin/env bash
# kill -9 a real `reasonrl train` run at random moments several times, resume it with --resume, and check the rollout
# store: PRAGMA integrity_check, every step the trainer logged to metrics.jsonl (written after the store's commit) is in
# the store, no partial step, and at the end every step exactly once with no duplicate sample.
#   kill_train_test.sh REASONRL_BINARY
set -euo pipefail
bin=$(realpath "$1")
command -v sqlite3 >/dev/null || { echo "SKIPPED: sqlite3 is not installed (scripts/install-deps.sh --test)"; exit 0; }
work=$(mktemp -d /tmp/reasonrl_kill_train.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
model=(--model.hidden_size 32 --model.intermediate_size 48 --model.moe_intermediate_size 16 --model.num_hidden_layers 2
       --model.num_attention_heads 2 --model.q_lora_rank 16 --model.kv_lora_rank 16 --model.qk_nope_head_dim 8
       --model.qk_rope_head_dim 4 --model.v_head_dim 8 --model.n_routed_experts 4 --model.num_experts_per_tok 2)
"$bin" sft --run_dir sft --steps 3 --batch_size 4 --data.train_size 200 --data.heldout_size 8 --eval.size 4 \
  --tokenizer.train.vocab_size 300 --threads 1 "${model[@]}" >sft.log 2>&1 || { cat sft.log; exit 1; }
steps=200
train=(train --run_dir run --init_from sft/checkpoint --steps $steps --prompts_per_step 8
       --rollout.num_generations 4 --rollout.max_completion_length 24 --save_every 5
       --eval.every 50 --eval.size 4 --data.heldout_size 8 --data.train_size 200 --threads 1)
db=run/rollouts.db
q() { sqlite3 -readonly "$db" "$1"; }
fail() { echo "FAIL: $*"; exit 1; }

check() {  # after each kill or finish
  [[ -f $db ]] || return 0
  [[ $(q "PRAGMA integrity_check") == ok ]] || fail "integrity_check: $(q 'PRAGMA integrity_check')"
  [[ $(q "SELECT count(*) FROM pragma_foreign_key_check") == 0 ]] || fail "foreign_key_check"
  local partial; partial=$(q "SELECT count(*) FROM steps s WHERE n_samples != (SELECT count(*) FROM samples x WHERE x.step = s.step)")
  [[ $partial == 0 ]] || fail "$partial partial steps"
  local last; last=$(q "SELECT coalesce(max(step), -1) FROM steps")
  if [[ -f run/metrics.jsonl ]]; then
    local logged; logged=$(/usr/bin/python3 -c '
import json, sys
m = -1
for line in open(sys.argv[1]):
    try: m = max(m, int(json.loads(line)["step"]))
    except Exception: pass
print(m)' run/metrics.jsonl)
    (( last >= logged )) || fail "the trainer logged step $logged but the store ends at $last"
  fi
  echo "  store: last step $last, $(q 'SELECT count(*) FROM samples') samples"
}

seed=$(( $(date +%s) % 1000 )); RANDOM=$seed
echo "kill delays from RANDOM seed $seed"
for round in 1 2 3 4 5; do
  args=("${train[@]}")
  if [[ -e run/checkpoints/latest ]]; then args+=(--resume); else rm -rf run; fi
  "$bin" "${args[@]}" >>train.log 2>&1 &
  pid=$!
  delay=$(( 300 + RANDOM % 2500 ))
  sleep "$(printf '0.%03d' $((delay % 1000)))"
  # Reading while the run writes (WAL): inspect and report on the live run must work.
  if [[ -f $db ]] && q "SELECT 1 FROM steps LIMIT 1" >/dev/null 2>&1; then
    "$bin" inspect run summary >live_summary.txt 2>live.txt || { cat live.txt; fail "inspect on a live run"; }
    "$bin" report run -o live.html >live.txt 2>&1 || { cat live.txt; fail "report on a live run"; }
    echo "  inspect + report on the live run: ok ($(($(wc -l <live_summary.txt 2>/dev/null || echo 2) - 2)) steps)"
  fi
  sleep $((delay / 1000))
  if kill -0 $pid 2>/dev/null; then
    kill -9 $pid; wait $pid 2>/dev/null || true
    echo "round $round: killed after ${delay} ms"
  else
    wait $pid || { tail -20 train.log; fail "train exited with an error"; }
    echo "round $round: finished before the kill (${delay} ms)"
  fi
  check
done
args=("${train[@]}")
[[ -e run/checkpoints/latest ]] && args+=(--resume) || rm -rf run
"$bin" "${args[@]}" >>train.log 2>&1 || { tail -20 train.log; fail "the final resume failed"; }
check
n=$(q "SELECT count(*) FROM steps"); lo=$(q "SELECT min(step) FROM steps"); hi=$(q "SELECT max(step) FROM steps")
[[ $n == "$steps" && $hi == "$steps" && $lo == 1 ]] || fail "steps: $n rows, $lo..$hi, expected 1..$steps"
dups=$(q "SELECT count(*) FROM (SELECT 1 FROM samples GROUP BY step, prompt_id, group_id, group_index HAVING count(*) > 1)")
[[ $dups == 0 ]] || fail "$dups duplicate samples"
[[ $(q "SELECT count(*) FROM run") == 1 ]] || fail "run rows"
echo "sessions: $(q "SELECT group_concat(kind || coalesce('@' || from_step, ''), ' ') FROM run_sessions")"
"$bin" inspect run summary >/dev/null || fail "inspect"
echo "PASS"
