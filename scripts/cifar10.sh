#!/usr/bin/env bash
# The main job of the bundled CIFAR-10 program. Until training lands it builds coda-cifar10 in
# Release, writes a freshly initialised cifar10-9l model and explains two images with it.
#   bash scripts/cifar10.sh [OUT_DIR]        (default OUT_DIR: out/)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
out=${1:-out}
mkdir -p "$out"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build/release -j "$(nproc)" --target coda-cifar10
cli=build/release/examples/cifar10/coda-cifar10
"$cli" init --out "$out/model.safetensors" --seed 7
"$cli" predict --model "$out/model.safetensors" --input tests/fixtures/cifar10_9l_seed7.safetensors \
  --output "$out/predictions.safetensors" --explain
