#!/usr/bin/env bash
# Quick start, command 2: install what is missing, build, and run the whole test suite:
# unit + conformance + golden + smoke + short e2e in a Release build (-Werror), then under ASan/UBSan (Debug, only the
# unit test targets and the reasonrl binary are built) the unit tests and the smoke pass (every command once on the micro
# model: tests/cli/smoke_e2e_test.sh), then 60 s of each libFuzzer target, two at a time (scripts/fuzz.sh: the grader,
# the tokenizer, the JSONL loader, the config files and command-line values: two rounds of 60 s).
# Set REASONRL_SKIP_ASAN=1 / REASONRL_SKIP_FUZZ=1 to skip the sanitizer pass / the fuzz run locally.
# Prints the wall time of each phase.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test || exit 1
jobs=$(nproc)
pass=0; fail=0
times=()
phase() {  # phase NAME command...: runs the command and records its wall time
  local name="$1"; shift
  local t0=$SECONDS
  "$@"; local rc=$?
  times+=("$name $((SECONDS - t0)) s")
  return $rc
}
run_ctest() {  # run_ctest BUILD_DIR ctest-args...
  local dir="$1"; shift
  local log; log=$(mktemp)
  (cd "$dir" && ctest --output-on-failure -j "$jobs" "$@") 2>&1 | tee "$log"
  local line; line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$log" | tail -1)
  local total failed
  total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line"); failed=$(sed -E 's/.* ([0-9]+) tests failed.*/\1/' <<<"$line")
  [[ -z "$line" ]] && { total=1; failed=1; }
  pass=$((pass + total - failed)); fail=$((fail + failed))
  rm -f "$log"
}
echo "== Release build"
phase "Release build:" bash scripts/build.sh build -DCMAKE_BUILD_TYPE=Release -DREASONRL_MPI=ON -DREASONRL_WERROR=ON || exit 1
phase "Release tests (every label):" run_ctest build
if [[ "${REASONRL_SKIP_ASAN:-0}" != 1 ]]; then
  echo "== Debug + ASan/UBSan build (unit tests and the smoke pass)"
  # OpenMPI itself leaks: its tests run in the Release pass
  phase "ASan build (unit tests only):" env REASONRL_BUILD_TARGET=unit_tests bash scripts/build.sh build-asan \
    -DCMAKE_BUILD_TYPE=Debug -DREASONRL_SANITIZE=ON -DREASONRL_MPI=OFF -DREASONRL_WERROR=ON || exit 1
  export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
  phase "ASan unit tests + smoke:" run_ctest build-asan -L '^(unit|smoke)$'
fi
if [[ "${REASONRL_SKIP_FUZZ:-0}" != 1 ]]; then
  echo "== libFuzzer: 4 targets (grader, tokenizer, JSONL, config) and their properties, 60 s each, two at a time (clang, ASan + UBSan)"
  if phase "Fuzz (build + 4 x 60 s, two at a time):" bash scripts/fuzz.sh 60; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FUZZ FAILED"; fi
fi
echo
printf '%s\n' "${times[@]}"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
