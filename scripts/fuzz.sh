#!/usr/bin/env bash
# Runs the libFuzzer targets (clang, ASan + UBSan) for SECONDS each (default 60), with a 1 s limit per input (10 s for the
# tokenizer, 5 s for the config), two at a time on a machine with 2 cores or more: the four default targets take two
# rounds of SECONDS.
# Usage: scripts/fuzz.sh [SECONDS] [BUILD_DIR] [TARGET...]
# Targets (default: all four):
#   fuzz_rewards   the grader: extractor, normaliser, parser, verify() and its properties (rewards/fuzz)
#   fuzz_tokenizer tokenizer.json loading and the encode/decode round trip (fuzz/)
#   fuzz_config    JSON config files and command-line values (the config sections of rewards, data, tokenizer,
#                  sampler, store), unknown keys included (fuzz/)
#   fuzz_jsonl     the JSONL dataset loader, every layout (fuzz/)
# Seeds, written into an empty corpus (BUILD_DIR/corpus/TARGET): the gold/prediction pairs of ../shared/peer-data
# (grader), the target's own tokenizers (tokenizer), the sections of configs/*.json (config), the first lines of the peer-data JSONL
# files (jsonl). Findings go to BUILD_DIR/TARGET-crash-*; the exit status is non-zero when a target found one.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"; dir="${2:-build-fuzz}"; shift $(( $# > 2 ? 2 : $# ))
targets=("$@"); [[ ${#targets[@]} -eq 0 ]] && targets=(fuzz_rewards fuzz_tokenizer fuzz_jsonl fuzz_config)
bash scripts/install-deps.sh --fuzz
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
launcher=(); command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$dir" -G Ninja "${launcher[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DREASONRL_FUZZ=ON -DREASONRL_BUILD_TESTS=OFF -DREASONRL_WERROR=OFF >/dev/null  # -Werror is for the GCC builds
cmake --build "$dir" --target "${targets[@]}" -j "$(nproc)"
peer=../shared/peer-data
seed() {  # seed TARGET CORPUS: seed inputs for an empty corpus
  local t="$1" c="$2"
  case "$t" in
    fuzz_rewards)
      [[ -f "$peer/math_verify_pairs.jsonl" ]] && /usr/bin/python3 - "$peer/math_verify_pairs.jsonl" "$c" <<'PY'
import json, sys, hashlib, os
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    data = (r["gold"] + "\x01" + r["pred"]).encode()
    open(os.path.join(sys.argv[2], hashlib.sha1(data).hexdigest()), "wb").write(data)
PY
      ;;
    fuzz_tokenizer|fuzz_config) REASONRL_FUZZ_WRITE_SEEDS="$c" "$(bin "$t")" ;;
    fuzz_jsonl)
      local f; for f in "$peer"/*.jsonl; do [[ -f "$f" ]] && head -c 3000 "$f" >"$c/$(basename "$f")"; done ;;
  esac
  return 0
}
bin() { find "$dir" -name "$1" -type f -perm -u+x | head -1; }
run() {  # run TARGET: fuzz it for $secs; prints the last lines of its log
  local t="$1" c="$dir/corpus/$1"; mkdir -p "$c"
  [[ -z "$(ls -A "$c")" ]] && seed "$t" "$c"
  local rc=0
  # 1 s per input (libFuzzer's limit is wall time); the tokenizer 10 s: an input of 7.7 kB (its seeds are 8 kB) took
  # 0.76 s of CPU under ASan + UBSan (6 encodes) and 4.8 s of wall time at load 20 on 2 cores. The config 5 s: its
  # inputs take 4.5 ms each, but one passed 1 s at load 5 inside ASan's quarantine recycling (madvise of freed memory).
  local limit=1; [[ $t == fuzz_tokenizer ]] && limit=10; [[ $t == fuzz_config ]] && limit=5
  "$(bin "$t")" -max_total_time="$secs" -timeout="$limit" -rss_limit_mb=4096 -max_len=8192 -print_final_stats=1 \
    -artifact_prefix="$dir/$t-" "$c" >"$dir/$t.log" 2>&1 || rc=$?
  echo "== $t for ${secs} s: exit $rc"; tail -12 "$dir/$t.log"
  return $rc
}
# Migrate the old layout (one corpus for the grader) so its findings and coverage are kept.
if [[ -d "$dir/corpus" && -n "$(find "$dir/corpus" -maxdepth 1 -type f -print -quit)" ]]; then
  mkdir -p "$dir/corpus/fuzz_rewards"; find "$dir/corpus" -maxdepth 1 -type f -exec mv -t "$dir/corpus/fuzz_rewards" {} +
fi
par=$(( $(nproc) >= 2 ? 2 : 1 )); fail=0; pids=()
for t in "${targets[@]}"; do
  run "$t" >"$dir/$t.summary" 2>&1 & pids+=($!)
  if (( ${#pids[@]} >= par )); then wait "${pids[0]}" || fail=1; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p" || fail=1; done
for t in "${targets[@]}"; do cat "$dir/$t.summary"; done
[[ $fail -eq 0 ]] || { echo "FUZZ FOUND SOMETHING: see the inputs $dir/*-crash-* / *-timeout-* / *-oom-*"; exit 1; }
