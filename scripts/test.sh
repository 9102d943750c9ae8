#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs dependencies, builds in Release and runs every
# test, then builds again with AddressSanitizer + UndefinedBehaviorSanitizer and runs the tests
# that execute library code.
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

echo "== Release build and full test suite"
run_suite release "" -DCMAKE_BUILD_TYPE=Release
echo "== AddressSanitizer + UndefinedBehaviorSanitizer"
run_suite asan "-LE packaging" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCODA_SANITIZE=address,undefined \
  -DCODA_BUILD_BENCHMARKS=OFF
echo "all test suites passed"
