#!/usr/bin/env bash
# The benchmark suite (issue 10): install what is missing, build Release, run every benchmark and the PyTorch peer,
# print one table of ratios measured in this run and write it as JSON next to bench/RESULTS.md (bench/results.json).
#   bash scripts/bench.sh [--build-dir DIR] [--no-build] [--no-deps] [--out FILE.json] [-- extra cmake args]
# Runs with at most 2 threads. The logs of every benchmark stay in DIR/bench-logs/.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build; do_build=1; do_deps=1; out=bench/results.json; cmake_extra=()
while (($#)); do
  case "$1" in
    --build-dir) build="$2"; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --no-deps) do_deps=0; shift ;;
    --out) out="$2"; shift 2 ;;
    --) shift; cmake_extra=("$@"); break ;;
    -h|--help) sed -n 2,5p "$0"; exit 0 ;;
    *) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
((do_deps)) && bash scripts/install-deps.sh --test
targets=(bench_suite bench_rollout bench_store bench_rewards bench_tokenizer)
if ((do_build)); then  # as scripts/build.sh, but only the benchmark targets (and the libraries they need)
  launcher=(); command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake -S . -B "$build" -G Ninja "${launcher[@]}" -DCMAKE_BUILD_TYPE=Release "${cmake_extra[@]}" >/dev/null
  cmake --build "$build" -j "$(nproc)" --target "${targets[@]}"
fi
b="$build/bench"
for x in "${targets[@]}"; do
  [[ -x "$b/$x" ]] || { echo "bench.sh: $b/$x not built (build with scripts/build.sh $build -DCMAKE_BUILD_TYPE=Release)" >&2; exit 1; }
done
logs="$build/bench-logs"; rm -rf "$logs"; mkdir -p "$logs"
export OMP_NUM_THREADS=2            # never more than 2 threads (the machine has 2 cores, shared)
# The Node binding of HF tokenizers: reuse an installed copy (REASONRL_HF_PEER_DIR), else the build's scratch folder.
if [[ -z "${REASONRL_HF_PEER_DIR:-}" && -d build/hf-peer/node_modules ]]; then export REASONRL_HF_PEER_DIR="$PWD/build/hf-peer"; fi
t_start=$(date +%s)
load_start=$(cat /proc/loadavg)
echo "== bench.sh: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs; load average at start: $load_start"
echo "   OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset} (left as the environment sets them)"
run() {  # run NAME CMD...: stdout to the log, progress to the terminal; a failing benchmark fails the suite
  local name="$1"; shift
  local t0; t0=$(date +%s%N)
  if ! "$@" >"$logs/$name.log" 2>"$logs/$name.err"; then
    echo "bench.sh: $name failed: $*" >&2; cat "$logs/$name.err" >&2; tail -5 "$logs/$name.log" >&2; exit 1
  fi
  local ms=$((($(date +%s%N) - t0) / 1000000))
  printf '   %-10s %4d.%d s\n' "$name" $((ms / 1000)) $((ms % 1000 / 100))
}
peer_dir="$build/bench-peer"; rm -rf "$peer_dir"
run suite "$b/bench_suite" configs/model_tiny.json --peer "$peer_dir"
run peer /usr/bin/python3 bench/torch_peer.py "$peer_dir"
run suite2 "$b/bench_suite" configs/model_tiny.json --repeat   # ours again after the peer: the better run counts
OMP_NUM_THREADS=1 run rollout "$b/bench_rollout" configs/model_tiny.json 64 48 2
OMP_NUM_THREADS=2 run rollout2 "$b/bench_rollout" configs/model_tiny.json 64 48 2 rollout   # as `reasonrl train` runs (threads 0 = all cores)
run rewards "$b/bench_rewards" ../shared/peer-data/math500_test.jsonl 2
BENCH_REPEATS=3 run tokenizer "$b/bench_tokenizer"
gen_tps=$(sed -n 's/^bench_rollout decode batch=64 tokens_per_s=\([0-9]*\).*/\1/p' "$logs/rollout.log")
run store "$b/bench_store" 20 64 8 2000 "${gen_tps:-1000}"
load_end=$(cat /proc/loadavg)
cat >"$logs/meta.json" <<EOF
{"command": "bash scripts/bench.sh --build-dir $build", "loadavg_start": "$load_start", "loadavg_end": "$load_end",
 "seconds": $(($(date +%s) - t_start)), "date": "$(date -u +%FT%TZ)", "omp_num_threads": 2,
 "openblas_coretype": "${OPENBLAS_CORETYPE:-unset}", "openblas_l2_size": "${OPENBLAS_L2_SIZE:-unset}",
 "nproc": $(nproc), "model_config": "configs/model_tiny.json"}
EOF
echo "== $(($(date +%s) - t_start)) s; load average at end: $load_end"
grep -h '^torch_peer \(env\|check\|best\)' "$logs/peer.log" | sed 's/^/   /'
echo
/usr/bin/python3 bench/aggregate.py "$logs" "$out"
