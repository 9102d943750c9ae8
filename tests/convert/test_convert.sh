#!/usr/bin/env bash
# scripts/convert_pytorch.py: a state dict saved as the authors' trainer saves it (keys prefixed
# `module.`) converts to a model file that predicts exactly as the model it was made from; written
# by PyTorch itself too where python3-torch is installed; a state dict of the wrong shape, the
# wrong network, a bad experiment name and a file that is no PyTorch file fail with one error line.
#   bash test_convert.sh PYTHON3 SOURCE_DIR CODA_CIFAR10 WORK_DIR
set -uo pipefail
python=$1 src=$2 cli=$3 work=$4
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
fail() { echo "FAIL: $*"; for f in *.err; do [ -s "$f" ] && { echo "--- $f"; cat "$f"; }; done; exit 1; }
convert() { "$python" "$src/scripts/convert_pytorch.py" "$@"; }
one_error() {  # file, expected text
  [ "$(wc -l < "$1")" -eq 1 ] && grep -q "^error: .*$2" "$1" || fail "$1: not one error line with '$2'"
}
images=$src/tests/fixtures/cifar10_9l_seed7.safetensors  # holds `images` [2, 3, 32, 32]

"$cli" init --seed 3 --out ref.safetensors > /dev/null || fail "init"
"$python" "$src/tests/convert/write_authors_pkl.py" ref.safetensors model_epoch_1.pkl || fail "writing the state dict"
convert model_epoch_1.pkl --experiment 9L-S-CoDA-SQ-1000 --out converted.safetensors > convert.out 2> convert.err \
  || fail "the conversion failed"
grep -q "cifar10-9l, squash norm, temperature 1000, logit bias -2.197225, 27 tensors" convert.out || fail "summary line"
"$cli" predict --model ref.safetensors --input "$images" --output ref.logits.safetensors --explain > /dev/null 2> predict.err \
  || fail "predict (ref)"
"$cli" predict --model converted.safetensors --input "$images" --output converted.logits.safetensors --explain > /dev/null \
  2> predict.err || fail "predict (converted)"
cmp -s ref.logits.safetensors converted.logits.safetensors || fail "the converted model predicts otherwise"

if "$python" -c "import torch" 2> /dev/null; then
  "$python" "$src/tests/convert/write_authors_pkl.py" ref.safetensors torch_saved.pkl --torch || fail "torch.save"
  convert torch_saved.pkl --experiment 9L-S-CoDA-SQ-1000 --out from_torch.safetensors > /dev/null 2> torch.err || fail "torch file"
  cmp -s converted.safetensors from_torch.safetensors || fail "a file torch.save wrote converts otherwise"
  echo "a file written by torch.save $("$python" -c 'import torch; print(torch.__version__)') converts to the same model"
else
  echo "SKIPPED part: python3-torch is not installed, so no file written by torch.save itself is converted"
fi

"$python" "$src/tests/convert/write_authors_pkl.py" ref.safetensors wrong.pkl --reshape 4.weight_mod.weighting_f.1.weight
refuses() {  # exit code, the error text, convert_pytorch.py's arguments
  local code=$1 text=$2
  shift 2
  convert "$@" --out refused.safetensors > /dev/null 2> refused.err
  local got=$?
  [ $got -eq "$code" ] || fail "convert $* exited with $got, not $code"
  one_error refused.err "$text"
  [ ! -e refused.safetensors ] || fail "convert $* wrote a file"
}
refuses 1 "tensor '4.weight_mod.weighting_f.1.weight' has shape \[589824\], cifar10-9l needs \[9216, 64, 1, 1\]" \
  wrong.pkl --experiment 9L-S-CoDA-SQ-1000
refuses 1 "tensor '0.weight_mod.weighting_f.0.weight' has shape \[32, 6, 3, 3\], imagenet100-9l needs \[64, 6, 7, 7\]" \
  model_epoch_1.pkl --experiment 9L-L-CoDA-SQ-100000
refuses 2 "is not a name like 9L-S-CoDA-SQ-1000" model_epoch_1.pkl --experiment 9L-S-CoDA-XX-1000
refuses 1 "not a PyTorch file of version 1.6 or later" ref.safetensors --experiment 9L-S-CoDA-SQ-1000
ls | grep -q '\.tmp\.' && fail "a temporary file was left"
echo "converted a state dict in the authors' format; the refusals name the tensor"
