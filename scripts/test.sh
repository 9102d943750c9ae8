#!/usr/bin/env bash
# The tests. Installs missing packages first (apt-get, as root or through sudo).
#
#   bash scripts/test.sh          the quick check of a build (from a clean clone on 2 cores: 10
#                                 minutes on an AMD EPYC Zen 4; 12 on an Intel Xeon and 17 on an
#                                 AMD EPYC Zen 5 before the unity builds): Release with
#                                 GCC and the xsimd kernels (no CUDA, no benchmarks) into
#                                 build/release, then every test of that build: unit,
#                                 gradient, golden and program tests, examples, the main job against
#                                 a local server, packaging and include-graph checks. The MPI tests
#                                 (`ctest -L mpi`), the eight whole-network end-to-end runs labelled
#                                 `slow` (`ctest -L slow`: training against PyTorch, kill-and-resume,
#                                 attribution against captum, the metrics, imagenet100-9l on an image
#                                 folder, the main job on the shipped model) and the shipped model's
#                                 accuracy on real CIFAR-10 test images (label `dataset`) run in the
#                                 whole matrix.
#   bash scripts/test.sh --all    the whole matrix, as CI runs it (.ci/run):
#     1. Release, GCC, with the xsimd kernels (and the CUDA library when nvcc is found, MPI when
#        Open MPI is installed): every test, the MPI ones (mpirun, 2 and 3 ranks) included;
#     2. Release, GCC, with the scalar fallback (CODA_SIMD=OFF): the unit, gradient and golden tests
#        (coda_tests), which check every kernel against its reference; the programs and their
#        end-to-end tests run on these kernels' xsimd versions in phase 1 and under the sanitizers
#        in phase 4;
#     3. aarch64: a cross build (GCC, xsimd's NEON kernels; tests/cross, cmake/toolchains/) run under
#        qemu-user: the embedded example and the kernel tests on small shapes (about 2.5 minutes);
#     4. AddressSanitizer + UndefinedBehaviorSanitizer (Clang), without MPI: every test of library and
#        program code but three whole-network runs whose code the smaller tests cover, and the
#        refusal of a build without MPI to run under mpirun;
#     5. ThreadSanitizer (Clang): every unit test, built for x86-64-v3 when the CPU has AVX2: the
#        one run of the unit tests with the GEMM tile of AVX2 (16 registers), where the other
#        builds target this machine, which may have AVX-512;
#     6. the libFuzzer targets, 60 s each (scripts/fuzz.sh).
#   bash scripts/test.sh --aarch64  phase 3 alone.
#   Where the matrix's time goes (a clean clone on 2 cores of an AMD EPYC Zen 4, 48 minutes in
#   all): phase 1 865 s (build 536, tests 328), 2 263 s, 3 154 s, 4 1053 s (build 662, tests
#   391), 5 349 s, 6 179 s. The unity builds cut it from 60 minutes (phase 1 1149 s, 4 1390 s).
#   The packaging tests (install + find_package, headers on their own, compile failures), the
#   scripts' tests and the CUDA tests run in the first build only: they do not depend on the
#   kernels or on instrumentation.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  "") mode=quick ;;
  --all) mode=all ;;
  --aarch64) mode=aarch64 ;;
  *) echo "error: unknown argument '$1' (usage: bash scripts/test.sh [--all | --aarch64])" >&2; exit 2 ;;
esac
bash scripts/install-deps.sh

jobs=$(nproc)
# Unity builds (CODA_UNITY_BUILD; why: the option's comment in CMakeLists.txt).
configure_and_build() {  # dir, cmake args... (targets via CODA_TARGETS)
  local dir=$1
  shift
  cmake -S . -B "$dir" -DCODA_BUILD_TESTS=ON -DCODA_UNITY_BUILD=ON "$@" > /dev/null
  cmake --build "$dir" -j "$jobs" ${CODA_TARGETS:+--target $CODA_TARGETS}
}
run_suite() {  # name, extra ctest args, cmake args...
  local dir=build/$1 ctest_args=$2
  shift 2
  configure_and_build "$dir" "$@"
  (cd "$dir" && ctest --output-on-failure -j "$jobs" $ctest_args)
}
unit_suite() {  # name, cmake args...: the unit, gradient and golden tests alone (coda_tests)
  local dir=build/$1
  shift
  CODA_TARGETS=coda_tests configure_and_build "$dir" -DCODA_BUILD_EXAMPLES=OFF "$@"
  "$dir"/tests/coda_tests
}
phase() { echo "== $* (${SECONDS} s since the start)"; }
aarch64_suite() {
  phase "aarch64 cross build (GCC, xsimd NEON kernels) and its tests under qemu-user"
  cmake -S tests/cross -B build/aarch64 --toolchain "$PWD/cmake/toolchains/aarch64-linux-gnu.cmake" \
    -DCMAKE_BUILD_TYPE=Release > /dev/null
  cmake --build build/aarch64 -j "$jobs"
  (cd build/aarch64 && ctest --output-on-failure -j "$jobs")
}
only_library=(-DCODA_BUILD_BENCHMARKS=OFF -DCODA_WITH_CUDA=OFF)
# The MPI tests run in the Release builds (quick, and phase 1); the other builds go without MPI
# (Open MPI is not instrumented for the sanitizers).
no_mpi=(-DCODA_WITH_MPI=OFF)
clang=(-DCMAKE_CXX_COMPILER=clang++-14)
# Sanitizer builds: optimised, with line tables only (-g1): enough for file:line in reports, and
# much cheaper to compile than full debug information.
sanitized=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG")

if [ "$mode" = quick ]; then
  phase "Release build (GCC, xsimd kernels) and its tests"
  run_suite release "-LE mpi|slow|dataset" -DCMAKE_BUILD_TYPE=Release "${only_library[@]}"
  echo "the quick tests passed in ${SECONDS} s (the whole matrix: bash scripts/test.sh --all)"
  exit 0
fi
if [ "$mode" = aarch64 ]; then
  aarch64_suite
  echo "the aarch64 tests passed in ${SECONDS} s"
  exit 0
fi

phase "Release build (GCC, xsimd kernels, CUDA library when nvcc is found) and full test suite"
run_suite full "" -DCMAKE_BUILD_TYPE=Release
phase "Scalar fallback (GCC, CODA_SIMD=OFF): the unit, gradient and golden tests"
unit_suite scalar -DCMAKE_BUILD_TYPE=Release -DCODA_SIMD=OFF "${only_library[@]}" "${no_mpi[@]}"
aarch64_suite
phase "AddressSanitizer + UndefinedBehaviorSanitizer (Clang)"
# Clang, because GCC's ASan keeps the GEMM micro-kernel's register tile on the instrumented stack:
# with GCC the network ran about 160 times slower than in Release, with Clang 8 times (inference,
# coda-cifar10 bench), which is what lets every end-to-end test run instrumented.
# Three whole-network runs stay out. All nine attribution methods through `metrics` and
# `attribute` against the captum references took 950 s of the phase's 1400 on 2 cores; their code
# runs here in the unit tests of every method and in the smaller `attribute` and `metrics` program
# tests. imagenet100-9l's train, eval and explain at 224-240 pixels took 541 of the remaining
# 1488 test-seconds, the longest test by far: its network runs here in the unit test against
# PyTorch at 240x240, its image folders in the `train and eval read an image folder` tests, and its
# flag checks in `imagenet100-9l refuses ...`.
run_suite asan "-LE packaging|scripts|dataset -E all.nine.methods|captum-convention|imagenet100-9l.trains" "${clang[@]}" "${sanitized[@]}" \
  -DCODA_SANITIZE=address,undefined "${only_library[@]}" "${no_mpi[@]}"
phase "ThreadSanitizer (Clang)"
tsan_arch=x86-64-v3
if ! grep -qw avx2 /proc/cpuinfo; then
  echo "no avx2 in /proc/cpuinfo: the ThreadSanitizer build stays native, so no unit tests run in an AVX2 build"
  tsan_arch=native
fi
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" unit_suite tsan "${clang[@]}" "${sanitized[@]}" -DCODA_SANITIZE=thread \
  -DCODA_ARCH=$tsan_arch "${only_library[@]}" "${no_mpi[@]}"
phase "libFuzzer targets"
bash scripts/fuzz.sh 60
echo "all test suites passed in ${SECONDS} s"
