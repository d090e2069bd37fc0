#!/usr/bin/env bash
# The run directory under faults, with the real binary: kill -9 at random moments then --resume gives bitwise the same
# final weights as an uninterrupted run (sft, dpo); SIGINT then --resume equals an uninterrupted run (train, sft, dpo);
# a second signal exits at once; a second run on a live directory is refused and leaves the first's files intact; a
# fresh start on a finished run (also with store.enabled false) is refused; a run killed before its first checkpoint
# restarts with --resume; a damaged checkpoint, an edited step and a swapped tokenizer are refused.
#   run_dir_test.sh REASONRL_BINARY
set -euo pipefail
bin=$(realpath "$1")
work=$(mktemp -d /tmp/reasonrl_run_dir.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*"; exit 1; }
model=(--model.hidden_size 32 --model.intermediate_size 48 --model.moe_intermediate_size 16 --model.num_hidden_layers 2
       --model.num_attention_heads 2 --model.q_lora_rank 16 --model.kv_lora_rank 16 --model.qk_nope_head_dim 8
       --model.qk_rope_head_dim 4 --model.v_head_dim 8 --model.n_routed_experts 4 --model.num_experts_per_tok 2)
sft0=(sft --batch_size 4 --data.train_size 200 --data.heldout_size 8 --eval.size 0 --tokenizer.train.vocab_size 300
      --threads 1 "${model[@]}")
sft=("${sft0[@]}" --steps 400)
"$bin" "${sft0[@]}" --run_dir base --steps 3 >base.log 2>&1 || { cat base.log; fail "sft"; }
train0=(train --init_from base/checkpoint --prompts_per_step 4 --rollout.num_generations 4
        --rollout.max_completion_length 16 --save_every 100 --eval.size 0
        --data.train_size 200 --data.heldout_size 8 --threads 1)
train=("${train0[@]}" --steps 60)
/usr/bin/python3 - >pairs.jsonl <<'PY'
import json, random
r = random.Random(3)
for i in range(40):
    a, b = r.randint(1, 50), r.randint(1, 50)
    print(json.dumps({"prompt": f"What is {a} + {b}?", "chosen": f"<answer>{a+b}</answer>",
                      "rejected": f"Let me think. {a} plus {b}. <answer>{a+b+1}</answer>"}))
PY
dpo=(dpo --init_from base/checkpoint --train_file pairs.jsonl --dpo.steps 300 --dpo.batch_size 4 --dpo.micro_batch_size 2
      --threads 1)
lines() { [[ -f $1 ]] && wc -l <"$1" || echo 0; }
wait_for_line() {  # wait_for_line FILE N PID: until FILE has N lines (or the process ended)
  for _ in $(seq 1 600); do
    (( $(lines "$1") >= $2 )) && return 0
    kill -0 "$3" 2>/dev/null || return 0
    sleep 0.1
  done
}

# ---- kill -9 at random moments, then --resume: the same final weights, bit for bit ----
seed=$(( $(date +%s) % 1000 )); RANDOM=$seed
echo "kill delays from RANDOM seed $seed"
kill_resume() {  # kill_resume NAME ARGS...: straight run in NAME_a, killed and resumed until done in NAME_b; compare
  local name=$1; shift
  local t0; t0=$(date +%s%N)
  "$bin" "$@" --run_dir "${name}_a" >"${name}_a.log" 2>&1 || { cat "${name}_a.log"; fail "$name straight run"; }
  local run_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  local kills=0 done=0
  for round in $(seq 1 60); do
    local args=("$@" --run_dir "${name}_b")
    if [[ -f ${name}_b/config.json ]]; then args+=(--resume); else rm -rf "${name}_b"; fi
    "$bin" "${args[@]}" >>"${name}_b.log" 2>&1 &
    local pid=$!
    # a random moment within a straight run's time; the first one early (5-25 %), so that a machine whose load drops
    # between the straight run and this one still sees at least one kill
    local pct=$((5 + RANDOM % 90)); (( round == 1 )) && pct=$((5 + RANDOM % 20))
    local ms=$((20 + run_ms * pct / 100))
    sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
    if kill -0 $pid 2>/dev/null; then
      kill -9 $pid; wait $pid 2>/dev/null || true; kills=$((kills + 1))
    else
      wait $pid || { tail -20 "${name}_b.log"; fail "$name: a resumed run failed"; }
      done=1; break
    fi
  done
  (( done )) || fail "$name: not finished after 60 rounds"
  for f in model.safetensors tokenizer.json config.json; do
    cmp "${name}_a/checkpoint/$f" "${name}_b/checkpoint/$f" || fail "$name: final $f differs after $kills kills"
  done
  (( kills > 0 )) || fail "$name: the run finished before the first kill: the test did not test anything"
  [[ $(lines "${name}_a/metrics.jsonl") == $(lines "${name}_b/metrics.jsonl") ]] ||
    fail "$name: metrics.jsonl has $(lines "${name}_b/metrics.jsonl") lines, the straight run $(lines "${name}_a/metrics.jsonl")"
  echo "$name: $kills kill -9, resumed: final weights identical"
}
kill_resume sft9 "${sft[@]}" --save_every 5
kill_resume dpo9 "${dpo[@]}" --save_every 5

# ---- SIGINT, then --resume: equal to an uninterrupted run; exit status 130 and how to resume ----
sigint_resume() {  # sigint_resume NAME FINAL_CHECKPOINT ARGS...
  local name=$1 final=$2; shift 2
  "$bin" "$@" --run_dir "${name}_a" >"${name}_a.log" 2>&1 || { cat "${name}_a.log"; fail "$name straight run"; }
  "$bin" "$@" --run_dir "${name}_b" >"${name}_b.log" 2>&1 &
  local pid=$! rc=0
  wait_for_line "${name}_b/metrics.jsonl" 2 $pid
  kill -INT $pid
  wait $pid || rc=$?
  [[ $rc == 130 ]] || { cat "${name}_b.log"; fail "$name: SIGINT gave exit status $rc, expected 130"; }
  grep -q "resume with: reasonrl" "${name}_b.log" || fail "$name: no resume hint after SIGINT"
  "$bin" "$@" --run_dir "${name}_b" --resume >>"${name}_b.log" 2>&1 || { tail "${name}_b.log"; fail "$name: resume"; }
  cmp "${name}_a/$final/model.safetensors" "${name}_b/$final/model.safetensors" || fail "$name: weights differ after SIGINT + resume"
  [[ $(lines "${name}_a/metrics.jsonl") == $(lines "${name}_b/metrics.jsonl") ]] || fail "$name: metrics.jsonl lines differ"
  echo "$name: SIGINT + --resume equals the uninterrupted run"
}
sigint_resume trainint checkpoints/step_000060 "${train[@]}"
sigint_resume sftint checkpoint "${sft[@]}"
sigint_resume dpoint checkpoint "${dpo[@]}"

# ---- a second signal exits at once, without a checkpoint ----
"$bin" "${train0[@]}" --steps 200 --run_dir twice >twice.log 2>&1 &
pid=$!; rc=0
wait_for_line twice/metrics.jsonl 1 $pid
kill -INT $pid; kill -TERM $pid  # two signals back to back: the second arrives while the first step still runs
wait $pid || rc=$?
[[ $rc == 130 || $rc == 143 ]] || { tail -5 twice.log; fail "second signal: exit status $rc"; }  # 128 + the second
grep -q "second signal" twice.log || fail "second signal: no message"
[[ ! -e twice/checkpoints/latest ]] || fail "second signal: a checkpoint was written"
echo "second signal: exits at once"

# ---- a second run on a live directory is refused; the first's files are intact and it finishes ----
"$bin" "${train0[@]}" --steps 200 --run_dir live >live.log 2>&1 &
pid=$!
wait_for_line live/metrics.jsonl 1 $pid
cfg_sum=$(sha256sum <live/config.json)
for extra in "" "--resume"; do
  if "$bin" "${train0[@]}" --steps 200 --run_dir live $extra >second.log 2>&1; then fail "a second run ($extra) on a live directory ran"; fi
  grep -q "in use by another reasonrl process" second.log || { cat second.log; fail "second run: wrong message"; }
done
kill -TERM $pid; rc=0; wait $pid || rc=$?
[[ $rc == 143 ]] || { tail live.log; fail "the first run (SIGTERM after a second one was refused): exit status $rc"; }
[[ $(sha256sum <live/config.json) == "$cfg_sum" ]] || fail "the second run changed config.json"
n=$(lines live/metrics.jsonl); last=$(cat live/checkpoints/latest)
[[ $last == $(printf 'step_%06d' "$n") ]] || fail "live: metrics.jsonl has $n lines, the SIGTERM checkpoint is $last"
/usr/bin/python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' live/metrics.jsonl ||
  fail "live: metrics.jsonl is damaged"
echo "concurrent run: refused, the first run's files intact"

# ---- a fresh start on a finished run is refused and changes nothing (also without the store) ----
for store in true false; do
  rm -rf fin
  "$bin" "${train[@]}" --run_dir fin --store.enabled $store >fin.log 2>&1 || { cat fin.log; fail "fin"; }
  before=$(cd fin && find . -type f ! -name .lock -exec sha256sum {} + | sort)
  if "$bin" "${train[@]}" --run_dir fin --store.enabled $store >fin2.log 2>&1; then fail "a fresh start over a finished run ran (store $store)"; fi
  grep -q "already holds a run" fin2.log || { cat fin2.log; fail "fresh start: wrong message"; }
  [[ $(cd fin && find . -type f ! -name .lock -exec sha256sum {} + | sort) == "$before" ]] || fail "the refused run changed files (store $store)"
done
echo "fresh start over a finished run: refused, nothing changed"

# ---- killed before its first checkpoint: --resume starts it from scratch ----
"$bin" "${train[@]}" --run_dir early >early.log 2>&1 &
pid=$!
wait_for_line early/metrics.jsonl 1 $pid
kill -9 $pid; wait $pid 2>/dev/null || true
[[ ! -e early/checkpoints/latest ]] || fail "early: the run reached a checkpoint before the kill"
"$bin" "${train[@]}" --run_dir early --resume >early2.log 2>&1 || { cat early2.log; fail "early: --resume failed"; }
grep -q "starting it from scratch" early2.log || fail "early: --resume did not say it starts from scratch"
cmp trainint_a/checkpoints/step_000060/model.safetensors early/checkpoints/step_000060/model.safetensors ||
  fail "early: the restarted run differs from an uninterrupted one"
[[ $(lines early/metrics.jsonl) == 60 ]] || fail "early: metrics.jsonl has $(lines early/metrics.jsonl) lines"
echo "killed before the first checkpoint: --resume restarts it"

# ---- checkpoints are verified ----
# trainint_b's latest is step 60 (its SIGINT checkpoint is kept too): damage the final one
rm -rf ver && cp -r trainint_b ver
ck="ver/checkpoints/$(cat ver/checkpoints/latest)"
/usr/bin/python3 - "$ck/model.safetensors" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, 'rb').read()); b[-100] ^= 0x10; open(p, 'wb').write(bytes(b))
PY
if "$bin" "${train0[@]}" --steps 61 --run_dir ver --resume --override-resumed-config >ver.log 2>&1; then fail "a damaged checkpoint was resumed"; fi
grep -q "model.safetensors is damaged" ver.log || { cat ver.log; fail "damaged checkpoint: wrong message"; }
grep -q "the last good checkpoint is .*step_0000" ver.log || { cat ver.log; fail "damaged checkpoint: no last good one named"; }
rm -rf ver && cp -r trainint_b ver
ck="ver/checkpoints/$(cat ver/checkpoints/latest)"
steps_before=$(sqlite3 -readonly ver/rollouts.db "SELECT count(*) FROM steps")
/usr/bin/python3 - "$ck/trainer_state.json" <<'PY'
import json, sys
p = sys.argv[1]; s = json.load(open(p)); s["step"] = -7; json.dump(s, open(p, "w"))
PY
if "$bin" "${train0[@]}" --steps 61 --run_dir ver --resume --override-resumed-config >ver.log 2>&1; then fail "a negative step was resumed"; fi
grep -q "is negative" ver.log || { cat ver.log; fail "negative step: wrong message"; }
[[ $(sqlite3 -readonly ver/rollouts.db "SELECT count(*) FROM steps") == "$steps_before" ]] ||
  fail "the store changed on a refused resume"
rm -rf ver && cp -r trainint_b ver
sqlite3 ver/rollouts.db "PRAGMA foreign_keys=ON; DELETE FROM steps WHERE step > 40"  # the store lost steps 41..60
if "$bin" "${train0[@]}" --steps 61 --run_dir ver --resume --override-resumed-config >ver.log 2>&1; then fail "a store behind its checkpoint was resumed"; fi
grep -q "ends at step 40 but the checkpoint" ver.log || { cat ver.log; fail "store behind the checkpoint: wrong message"; }
[[ $(sqlite3 -readonly ver/rollouts.db "SELECT count(*) FROM steps") == 40 ]] || fail "the store changed on a refused resume"
# another tokenizer with the same vocabulary: two merges swapped (a run on other data would learn other ranks)
cp -r base/checkpoint swapped
/usr/bin/python3 - swapped/tokenizer.json <<'PY'
import json, sys
p = sys.argv[1]; t = json.load(open(p)); m = t["model"]["merges"]; m[0], m[1] = m[1], m[0]; json.dump(t, open(p, "w"))
PY
if "$bin" generate --checkpoint swapped --prompt "1+1" --max-tokens 2 --no-verify >gen.log 2>&1; then
  fail "generate accepted another run's tokenizer"
fi
grep -q "not the tokenizer this checkpoint" gen.log || { cat gen.log; fail "generate: wrong message for a swapped tokenizer"; }
if "$bin" "${train0[@]/#base\/checkpoint/swapped}" --steps 2 --run_dir tokrun --no-verify >tokrun.log 2>&1; then
  fail "train accepted another run's tokenizer"
fi
grep -q "not the tokenizer this checkpoint" tokrun.log || { cat tokrun.log; fail "train: wrong message for a swapped tokenizer"; }
echo "damaged file, negative step, store behind its checkpoint, swapped tokenizer: refused"
echo "PASS"
