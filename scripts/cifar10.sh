#!/usr/bin/env bash
# The main job: train cifar10-9l on CIFAR-10 with the paper's recipe, evaluate it and write example
# explanations. Installs missing packages, builds coda-cifar10 in Release, finds the data, and
# resumes from OUT_DIR/checkpoints when run again.
#
#   bash scripts/cifar10.sh [OUT_DIR]            (default OUT_DIR: out/)
#
# Environment:
#   CIFAR10_DIR   the data: the official binary release (cifar-10-batches-bin/) or an image folder
#                 (train/<class>/, test/<class>/). Default: data/cifar10, which is unpacked from
#                 ../shared/datasets/cifar10-jpeg.tar.gz when that archive exists.
#   EPOCHS        default 200 (the paper's recipe; about 30 minutes an epoch on 2 cores)
#   LIMIT_TRAIN, LIMIT_TEST   class-balanced subsets (default: everything)
#   THREADS       default: all cores
# A quick run: EPOCHS=1 LIMIT_TRAIN=4000 LIMIT_TEST=2000 bash scripts/cifar10.sh out-quick
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=${1:-out}
mkdir -p "$out/explanations"

bash scripts/install-deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build/release -j "$(nproc)" --target coda-cifar10
cli=build/release/examples/cifar10/coda-cifar10

data=${CIFAR10_DIR:-}
if [ -z "$data" ]; then
  data=data/cifar10
  archive="$root/../shared/datasets/cifar10-jpeg.tar.gz"
  if [ ! -d "$data/train" ] && [ -f "$archive" ]; then
    echo "unpacking $archive into data/"
    mkdir -p data && tar xzf "$archive" -C data
  fi
fi
if [ ! -d "$data" ]; then
  cat >&2 <<MSG
error: no CIFAR-10 data at '$data'.
Get the official binary release and point CIFAR10_DIR at it:
  wget https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz && tar xzf cifar-10-binary.tar.gz
  CIFAR10_DIR=\$PWD/cifar-10-batches-bin bash scripts/cifar10.sh
(an image folder with train/<class>/*.png and test/<class>/*.png works too)
MSG
  exit 1
fi

threads=(); [ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")
limits=(); [ -n "${LIMIT_TRAIN:-}" ] && limits+=(--limit-train "$LIMIT_TRAIN")
[ -n "${LIMIT_TEST:-}" ] && limits+=(--limit-test "$LIMIT_TEST")

"$cli" train --data "$data" --out "$out/model.safetensors" --epochs "${EPOCHS:-200}" --log "$out/log.csv" \
  --checkpoint-dir "$out/checkpoints" --checkpoint-every 1000 --resume "${limits[@]}" "${threads[@]}" | tee "$out/train.txt"
eval_limit=(); [ -n "${LIMIT_TEST:-}" ] && eval_limit=(--limit-test "$LIMIT_TEST")
"$cli" eval --data "$data" --model "$out/model.safetensors" "${eval_limit[@]}" "${threads[@]}" | tee "$out/eval.txt"
for i in 0 1000 2000 3000 4000 5000 6000 7000 8000 9000; do
  "$cli" explain --model "$out/model.safetensors" --data "$data" --index "$i" --out "$out/explanations/test_$i.png" \
    "${threads[@]}" > "$out/explanations/test_$i.txt"
done
echo "model, log, evaluation and explanations are in $out/"
