#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs dependencies, then builds and runs every test in
# Release with the xsimd kernels and again with the scalar fallback, and runs the tests that
# execute library code under AddressSanitizer + UndefinedBehaviorSanitizer.
#   bash scripts/test.sh            (from the repository root; build trees go to build/)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

jobs=$(nproc)
run_suite() {  # name, extra ctest args, cmake args...
  local dir=build/$1 ctest_args=$2
  shift 2
  cmake -S . -B "$dir" -DCODA_BUILD_TESTS=ON "$@" > /dev/null
  cmake --build "$dir" -j "$jobs"
  (cd "$dir" && ctest --output-on-failure -j "$jobs" $ctest_args)
}

echo "== Release build (xsimd kernels) and full test suite"
run_suite release "" -DCMAKE_BUILD_TYPE=Release
echo "== Scalar fallback (CODA_SIMD=OFF) and full test suite"
run_suite scalar "" -DCMAKE_BUILD_TYPE=Release -DCODA_SIMD=OFF -DCODA_BUILD_BENCHMARKS=OFF
echo "== AddressSanitizer + UndefinedBehaviorSanitizer"
run_suite asan "-LE packaging" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCODA_SANITIZE=address,undefined \
  -DCODA_BUILD_BENCHMARKS=OFF
echo "all test suites passed"
