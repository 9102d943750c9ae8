#!/usr/bin/env bash
# The main job: train cifar10-9l on CIFAR-10 with the paper's recipe, evaluate it and write example
# explanations. Installs missing packages, builds coda-cifar10 in Release, gets the data, and
# resumes from OUT_DIR/checkpoints when run again. With EPOCHS=0 it trains nothing and evaluates and
# explains the model shipped in models/ (or INIT's).
#
#   bash scripts/cifar10.sh [OUT_DIR]            (default OUT_DIR: out/)
#
# OUT_DIR receives model.safetensors, log.csv, train.txt, eval.txt, explanations/ and report.html
# (learning curves, time per epoch, remaining time and explanations of the latest model, rewritten
# after every epoch: open it in a browser while the run goes on).
#
# Environment:
#   CIFAR10_DIR   the data: the official binary release (data_batch_1.bin ... test_batch.bin) or an
#                 image folder (train/<class>/, test/<class>/). Default: data/cifar10, downloaded
#                 by scripts/get-cifar10.sh when absent (CIFAR10_URL and CIFAR10_SHA256 choose a
#                 mirror and its checksum).
#   EPOCHS        default 200 (the paper's recipe; train prints how long that takes on this machine);
#                 0: no training, evaluate and explain INIT (default models/cifar10-9l.safetensors)
#   INIT          a model file to start training from (train --init), e.g. models/cifar10-9l.safetensors
#   LIMIT_TRAIN, LIMIT_TEST   class-balanced subsets (default: everything)
#   THREADS       default: all cores
#   CODA_CLI      a coda-cifar10 that is already built (skips installing packages and building)
# A quick run: EPOCHS=1 LIMIT_TRAIN=4000 LIMIT_TEST=2000 bash scripts/cifar10.sh out-quick
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-out}
mkdir -p "$out/explanations"

cli=${CODA_CLI:-}
if [ -z "$cli" ]; then
  bash scripts/install-deps.sh
  # The quick test's build (scripts/test.sh): after it, only the program is left to build.
  cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DCODA_BUILD_BENCHMARKS=OFF -DCODA_WITH_CUDA=OFF > /dev/null
  cmake --build build/release -j "$(nproc)" --target coda-cifar10
  cli=build/release/examples/cifar10/coda-cifar10
fi

data=${CIFAR10_DIR:-}
if [ -z "$data" ]; then
  data=data/cifar10
  [ -e "$data" ] || bash scripts/get-cifar10.sh "$data"
fi
[ -d "$data" ] || { echo "error: CIFAR10_DIR: no folder '$data'" >&2; exit 1; }

threads=(); [ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")
limits=(); [ -n "${LIMIT_TRAIN:-}" ] && limits+=(--limit-train "$LIMIT_TRAIN")
[ -n "${LIMIT_TEST:-}" ] && limits+=(--limit-test "$LIMIT_TEST")

model=$out/model.safetensors
if [ "${EPOCHS:-200}" = 0 ]; then
  model=${INIT:-models/cifar10-9l.safetensors}
  echo "EPOCHS=0: no training; evaluating and explaining $model"
else
  init=(); [ -n "${INIT:-}" ] && init=(--init "$INIT")
  "$cli" train --data "$data" --out "$model" --epochs "${EPOCHS:-200}" --log "$out/log.csv" \
    --report "$out/report.html" --checkpoint-dir "$out/checkpoints" --checkpoint-every 1000 --resume "${limits[@]}" \
    "${init[@]}" "${threads[@]}" | tee "$out/train.txt"
fi
eval_limit=(); [ -n "${LIMIT_TEST:-}" ] && eval_limit=(--limit-test "$LIMIT_TEST")
"$cli" eval --data "$data" --model "$model" "${eval_limit[@]}" "${threads[@]}" | tee "$out/eval.txt"

# Ten test images spread over the test split.
if [ -f "$data/test_batch.bin" ]; then
  test_images=$(($(stat -c %s "$data/test_batch.bin") / 3073))
else
  test_images=$(find "$data/test" -type f | wc -l)
fi
for k in 0 1 2 3 4 5 6 7 8 9; do
  i=$((k * test_images / 10))
  "$cli" explain --model "$model" --data "$data" --index "$i" --out "$out/explanations/test_$i.png" \
    "${threads[@]}" > "$out/explanations/test_$i.txt"
done
if [ "${EPOCHS:-200}" = 0 ]; then
  echo "evaluation and explanations of $model are in $out/"
else
  echo "model, log, evaluation, explanations and report.html are in $out/"
fi
