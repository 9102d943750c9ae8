#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ with Clang 14 (AddressSanitizer + UBSan) and runs
# each for SECONDS (default 60) on a copy of its committed seed corpus, two at a time. A crash
# stops the script with the fuzzer's report; the reproducer (crash-*) is kept in build/fuzz/runs/.
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]     (targets: safetensors cifar_binary image args)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors cifar_binary image args)

CC=clang-14 CXX=clang++-14 cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCODA_BUILD_FUZZERS=ON \
  -DCODA_BUILD_TESTS=OFF -DCODA_BUILD_EXAMPLES=OFF -DCODA_BUILD_BENCHMARKS=OFF -DCODA_WITH_CUDA=OFF > /dev/null
cmake --build build/fuzz -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

run_one() {  # target
  local dir=build/fuzz/runs/$1
  rm -rf "$dir" && mkdir -p "$dir/corpus"
  cp tests/fuzz/corpus/"$1"/* "$dir/corpus/"
  # The committed corpus stays as it is; new inputs land in the copy. -rss_limit_mb bounds what a
  # lying header could make a reader allocate.
  (cd "$dir" && ../../tests/fuzz/fuzz_"$1" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
     -print_final_stats=1 corpus > log.txt 2>&1) || { echo "fuzz_$1 failed:"; tail -n 60 "$dir/log.txt"; return 1; }
  echo "fuzz_$1: $(grep -E '^stat::number_of_executed_units' "$dir/log.txt" | awk '{print $2}') runs in ${seconds} s, clean"
}

# Every target runs to its end even when another fails, so one report never cuts another short.
pids=()
failed=0
for t in "${targets[@]}"; do
  run_one "$t" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$(nproc)" ]; then wait "${pids[0]}" || failed=1; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
exit "$failed"
