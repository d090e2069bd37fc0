#!/usr/bin/env bash
# Runs the grader's libFuzzer target (rewards/fuzz/fuzz_rewards.cpp: crashes, ASan/UBSan, and the grader's properties)
# for SECONDS (default 60) with a 1 s limit per input. Usage: scripts/fuzz.sh [SECONDS] [BUILD_DIR]
# Seeds: the gold/prediction pairs of ../shared/peer-data (read in place) when present. Exit status non-zero on a finding.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"; dir="${2:-build-fuzz}"
bash scripts/install-deps.sh --fuzz
launcher=(); command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$dir" -G Ninja "${launcher[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DREASONRL_FUZZ=ON -DREASONRL_BUILD_TESTS=OFF -DREASONRL_WERROR=OFF >/dev/null  # -Werror is for the GCC builds
cmake --build "$dir" --target fuzz_rewards -j "$(nproc)"
corpus="$dir/corpus"; mkdir -p "$corpus"
peer=../shared/peer-data/math_verify_pairs.jsonl
if [[ -f "$peer" && -z "$(ls -A "$corpus")" ]]; then
  /usr/bin/python3 - "$peer" "$corpus" <<'PY'
import json, sys, hashlib, os
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    data = (r["gold"] + "\x01" + r["pred"]).encode()
    open(os.path.join(sys.argv[2], hashlib.sha1(data).hexdigest()), "wb").write(data)
PY
fi
echo "== fuzz_rewards for ${secs} s"
"$dir/rewards/fuzz_rewards" -max_total_time="$secs" -timeout=1 -rss_limit_mb=4096 -max_len=4096 -print_final_stats=1 \
  -artifact_prefix="$dir/" "$corpus" 2>&1 | tail -25
