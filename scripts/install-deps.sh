#!/usr/bin/env bash
# Installs the Debian 12 packages coda needs (build tools, Eigen, xsimd, Catch2, stb, Google
# Benchmark, nlohmann-json; Clang 14 and its runtime libraries for the libFuzzer targets; curl to
# download CIFAR-10 and python3 for the download test's local server; the aarch64 cross compiler
# and qemu-user for the cross-built tests; Open MPI for data-parallel training and its tests; ffmpeg
# for the streaming example's test). Runs
# apt only for what is missing; uses sudo when not root.
set -euo pipefail

packages=(build-essential cmake libeigen3-dev libxsimd-dev catch2 libstb-dev libbenchmark-dev nlohmann-json3-dev
          clang-14 libclang-rt-14-dev curl python3 g++-aarch64-linux-gnu qemu-user openmpi-bin libopenmpi-dev
          ffmpeg)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
