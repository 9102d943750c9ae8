#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs dependencies, then
#   1. Release with the xsimd kernels (and the CUDA library when nvcc is found): every test;
#   2. Release with the scalar fallback (CODA_SIMD=OFF): every test of library and program code;
#   3. AddressSanitizer + UndefinedBehaviorSanitizer: every test of library and program code
#      but three slow end-to-end tests (see below);
#   4. ThreadSanitizer: the unit tests that run the worker pool (tags below);
#   5. the libFuzzer targets, 60 s each (scripts/fuzz.sh).
# The packaging tests (install + find_package) and the CUDA tests run in the first build only:
# they do not depend on the kernels or on instrumentation.
#   bash scripts/test.sh            (from the repository root; build trees go to build/)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

jobs=$(nproc)
configure_and_build() {  # dir, cmake args... (targets via CODA_TARGETS)
  local dir=$1
  shift
  cmake -S . -B "$dir" -DCODA_BUILD_TESTS=ON "$@" > /dev/null
  cmake --build "$dir" -j "$jobs" ${CODA_TARGETS:+--target $CODA_TARGETS}
}
run_suite() {  # name, extra ctest args, cmake args...
  local dir=build/$1 ctest_args=$2
  shift 2
  configure_and_build "$dir" "$@"
  (cd "$dir" && ctest --output-on-failure -j "$jobs" $ctest_args)
}
only_library=(-DCODA_BUILD_BENCHMARKS=OFF -DCODA_WITH_CUDA=OFF)
# Sanitizer builds: optimised, with line tables only (-g1): enough for file:line in reports, and
# much cheaper to compile than full debug information.
sanitized=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG")

echo "== Release build (xsimd kernels) and full test suite"
run_suite release "" -DCMAKE_BUILD_TYPE=Release
echo "== Scalar fallback (CODA_SIMD=OFF)"
run_suite scalar "-LE packaging" -DCMAKE_BUILD_TYPE=Release -DCODA_SIMD=OFF "${only_library[@]}"
echo "== AddressSanitizer + UndefinedBehaviorSanitizer"
# Three CLI tests run in the Release suites only: instrumented, each takes tens of minutes (the
# network runs some hundred times slower) and adds no code of its own. The kill-and-resume test
# starts eleven training processes (checkpoint writing and resuming run instrumented in
# test_cli_train.cpp); the two full metrics runs take thousands of forward passes (every method
# runs instrumented in test_attribution_methods.cpp, the metrics command in the other metrics
# tests).
slow_instrumented="killed.at.random.moments|metrics.for.one.method|metrics.for.all.seven.methods"
run_suite asan "-LE packaging -E $slow_instrumented" "${sanitized[@]}" -DCODA_SANITIZE=address,undefined \
  "${only_library[@]}"
echo "== ThreadSanitizer"
CODA_TARGETS=coda_tests configure_and_build build/tsan "${sanitized[@]}" -DCODA_SANITIZE=thread \
  -DCODA_BUILD_EXAMPLES=OFF "${only_library[@]}"
# Every test that runs work on the pool: thread safety, thread-count independence, the trainer,
# the batched attribution functions.
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" build/tsan/tests/coda_tests "[threads],[train],[batched]"
echo "== libFuzzer targets"
bash scripts/fuzz.sh 60
echo "all test suites passed"
