#!/usr/bin/env bash
# The model shipped in models/ against its card (models/cifar10-9l.md):
#   test_shipped_model.sh file SOURCE_DIR CODA_CIFAR10 WORK_DIR
#     the file's SHA-256 is the card's, and the program loads and runs it (explain of a fixture);
#   test_shipped_model.sh accuracy SOURCE_DIR CODA_CIFAR10 WORK_DIR ARCHIVE
#     its accuracy on the first 100 test images of each class (`eval --limit-test 1000`) of the
#     CIFAR-10 JPEG archive ARCHIVE is the card's within one percentage point; exit 77 (skipped,
#     with the reason printed) when ARCHIVE is not there.
set -euo pipefail
mode=$1 src=$2 cli=$3 work=$4
model=$src/models/cifar10-9l.safetensors card=$src/models/cifar10-9l.md
failed() {
  echo "FAILED: $*" >&2
  exit 1
}
[ -s "$model" ] && [ -s "$card" ] || failed "models/ lacks cifar10-9l.safetensors or its card"
rm -rf "$work" && mkdir -p "$work"

case "$mode" in
  file)
    expected=$(grep -oE 'SHA-256[^`]*`[0-9a-f]{64}`' "$card" | grep -oE '[0-9a-f]{64}' | head -1)
    [ -n "$expected" ] || failed "the card states no SHA-256"
    actual=$(sha256sum "$model" | cut -d' ' -f1)
    [ "$actual" = "$expected" ] || failed "SHA-256 of the model is $actual, the card says $expected"
    "$cli" explain --model "$model" --image "$src/tests/fixtures/jpeg/progressive.jpg" --out "$work/explained.png" \
      > "$work/explain.txt" || failed "the shipped model does not load or run"
    grep -q "sum to" "$work/explain.txt" || { cat "$work/explain.txt"; failed "explain printed no contributions"; }
    echo "the model's SHA-256 is the card's ($actual) and it loads and runs"
    ;;
  accuracy)
    archive=$5
    if [ ! -f "$archive" ]; then
      echo "skipped: no CIFAR-10 JPEG archive at $archive (set CODA_CIFAR10_ARCHIVE when configuring)"
      exit 77
    fi
    expected=$(grep -F -- '--limit-test 1000' "$card" | grep -oE '[0-9]+\.[0-9]+%' | head -1 | tr -d %)
    [ -n "$expected" ] || failed "the card states no accuracy on the first 1000 test images"
    tar -xzf "$archive" -C "$work" --wildcards '*/test/*'
    data=$(dirname "$(find "$work" -type d -name test | head -1)")
    "$cli" eval --data "$data" --model "$model" --limit-test 1000 > "$work/eval.txt" || failed "eval failed"
    actual=$(grep -oE '[0-9]+\.[0-9]+%' "$work/eval.txt" | tr -d %)
    awk -v a="$actual" -v e="$expected" 'BEGIN { d = a - e; exit !(d <= 1 && d >= -1) }' ||
      failed "accuracy on the first 1000 test images is $actual%, the card says $expected%"
    echo "accuracy on the first 1000 test images: $actual% (card: $expected%)"
    ;;
  *) failed "unknown mode '$mode'" ;;
esac
