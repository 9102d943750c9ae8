#!/usr/bin/env bash
# The main job on a fresh checkout with no data, against a local HTTP server (tests/download/serve.py)
# that serves a small archive in the official CIFAR-10 binary layout:
#   1. the download breaks off half-way and is resumed; the job trains one epoch, evaluates,
#      explains and writes report.html;
#   2. a server that cannot resume: a stale partial file is discarded and the download restarts;
#   3. a corrupted archive is refused with one error line and nothing unpacked;
#   4. offline: one error line saying what to fetch and where to put it;
# and, with the part `shipped` instead (the model of models/, the archive's files, no server):
#   5. EPOCHS=0: the shipped model is evaluated and explained, nothing is trained;
#   6. INIT: training starts from the shipped model.
#   test_main_job.sh SOURCE_DIR CODA_CIFAR10 WORK_DIR [download|shipped]   (default download)
set -euo pipefail
src=$1 cli=$2 work=$3 part=${4:-download}
python=$(command -v python3)
rm -rf "$work" && mkdir -p "$work"
failed() {
  echo "FAILED: $*" >&2
  exit 1
}

# A checkout holding only the scripts, so that data/ and out/ land in WORK_DIR.
checkout() {
  mkdir -p "$1/scripts" "$1/models" && cp "$src/scripts/cifar10.sh" "$src/scripts/get-cifar10.sh" "$1/scripts/"
  ln -s "$src/models/cifar10-9l.safetensors" "$1/models/"
}

# The archive: 5 training files of 16 records and a test file of 20, labels 0..9, random pixels.
"$python" - "$work/archive" << 'PY'
import os, random, sys, tarfile
root = os.path.join(sys.argv[1], "cifar-10-batches-bin")
os.makedirs(root)
rng = random.Random(7)
def batch(name, n):
    with open(os.path.join(root, name), "wb") as f:
        for i in range(n):
            f.write(bytes([i % 10]) + bytes(rng.randrange(256) for _ in range(3072)))
for k in range(1, 6):
    batch("data_batch_%d.bin" % k, 16)
batch("test_batch.bin", 20)
with open(os.path.join(root, "batches.meta.txt"), "w") as f:
    f.write("airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n")
served = os.path.join(sys.argv[1], "served")
os.makedirs(served)
with tarfile.open(os.path.join(served, "cifar-10-binary.tar.gz"), "w:gz") as t:
    t.add(root, arcname="cifar-10-batches-bin")
PY
good=$work/archive/served/cifar-10-binary.tar.gz
sha=$(sha256sum "$good" | cut -d' ' -f1)
bytes=$(stat -c %s "$good")

if [ "$part" = shipped ]; then
  echo "== 5. EPOCHS=0: the shipped model is evaluated and explained"
  data=$work/archive/cifar-10-batches-bin
  shipped=$work/shipped
  checkout "$shipped"
  CIFAR10_DIR=$data CODA_CLI=$cli EPOCHS=0 bash "$shipped/scripts/cifar10.sh" out > "$work/shipped.txt" 2>&1 ||
    { cat "$work/shipped.txt"; failed "EPOCHS=0: the main job failed"; }
  grep -q "test accuracy: " "$shipped/out/eval.txt" || failed "EPOCHS=0: no test accuracy"
  [ -s "$shipped/out/explanations/test_0.png" ] || failed "EPOCHS=0: no explanation"
  [ ! -e "$shipped/out/model.safetensors" ] && [ ! -e "$shipped/out/checkpoints" ] || failed "EPOCHS=0 trained a model"

  echo "== 6. INIT: training starts from the shipped model"
  init=$work/init
  checkout "$init"
  CIFAR10_DIR=$data CODA_CLI=$cli EPOCHS=1 LIMIT_TRAIN=20 LIMIT_TEST=10 INIT=models/cifar10-9l.safetensors \
    bash "$init/scripts/cifar10.sh" out > "$work/init.txt" 2>&1 || { cat "$work/init.txt"; failed "INIT: the main job failed"; }
  # Two Adam steps at lr 2.5e-4 move a weight by about 5e-4 at most; a fresh initialisation differs by
  # far more than 0.01.
  "$python" - "$src/models/cifar10-9l.safetensors" "$init/out/model.safetensors" << 'PY' || failed "INIT: the trained model did not start from the shipped one"
import array, json, struct, sys
def tensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    return {k: array.array("f", data[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]) for k, v in header.items()}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
assert a.keys() == b.keys(), "different tensors"
worst = max(max(abs(x - y) for x, y in zip(a[k], b[k])) for k in a)
print("largest change of a weight: %.2e" % worst)
sys.exit(0 if worst < 0.01 else 1)
PY
  echo "all tests of the main job with the shipped model passed"
  exit 0
fi

server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2> /dev/null || true
    wait "$server_pid" 2> /dev/null || true  # 143: it ended by the signal
  fi
  server_pid=""
}
trap stop_server EXIT
serve() {  # folder, server flags...
  local dir=$1
  shift
  stop_server
  rm -f "$work/port" "$work/requests.log"
  "$python" "$src/tests/download/serve.py" --dir "$dir" --port-file "$work/port" --log "$work/requests.log" "$@" &
  server_pid=$!
  for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.1; done
  [ -s "$work/port" ] || failed "the test server did not start"
  url=http://127.0.0.1:$(cat "$work/port")/cifar-10-binary.tar.gz
}

echo "== 1. broken download, resumed; the main job runs one epoch"
serve "$work/archive/served" --ranges --break-first $((bytes / 2))
job=$work/job
checkout "$job"
CIFAR10_URL=$url CIFAR10_SHA256=$sha CODA_CLI=$cli EPOCHS=1 THREADS=2 bash "$job/scripts/cifar10.sh" out > "$work/job.txt" 2>&1 ||
  { cat "$work/job.txt"; failed "the main job failed"; }
grep -q "range=bytes=$((bytes / 2))-" "$work/requests.log" || { cat "$work/requests.log"; failed "the download was not resumed"; }
grep -q "resuming" "$work/job.txt" || failed "no message about resuming"
for f in data/cifar10/data_batch_1.bin data/cifar10/test_batch.bin out/model.safetensors out/log.csv out/report.html \
  out/eval.txt out/explanations/test_0.png out/explanations/test_18.png; do
  [ -s "$job/$f" ] || { cat "$work/job.txt"; failed "the main job did not write $f"; }
done
[ ! -e "$job/data/cifar10.tar.gz.part" ] || failed "a partial download was left behind"
grep -q "^estimate: " "$job/out/train.txt" || failed "train did not state how long the run takes"
grep -q "test accuracy: " "$job/out/eval.txt" || failed "no test accuracy"
grep -q "<svg" "$job/out/report.html" || failed "report.html has no learning curves"
grep -q "data:image/png;base64," "$job/out/report.html" || failed "report.html has no explanation pictures"

echo "== 2. a server that cannot resume: the stale partial file is discarded"
serve "$work/archive/served"
restart=$work/restart
mkdir -p "$restart/data"
head -c 1000 /dev/urandom > "$restart/data/cifar10.tar.gz.part"
(cd "$restart" && CIFAR10_URL=$url CIFAR10_SHA256=$sha bash "$src/scripts/get-cifar10.sh") > "$work/restart.txt" 2>&1 ||
  { cat "$work/restart.txt"; failed "the restarted download failed"; }
grep -q "starting over" "$work/restart.txt" || { cat "$work/restart.txt"; failed "no message about starting over"; }
cmp -s "$restart/data/cifar10.tar.gz" "$good" || failed "the restarted download differs from the archive"
[ -s "$restart/data/cifar10/test_batch.bin" ] || failed "the restarted download was not unpacked"

echo "== 3. a corrupted archive is refused, nothing unpacked"
mkdir -p "$work/corrupt"
cp "$good" "$work/corrupt/"
printf 'XXXX' | dd of="$work/corrupt/cifar-10-binary.tar.gz" bs=1 seek=$((bytes / 3)) conv=notrunc 2> /dev/null
serve "$work/corrupt" --ranges
corrupt=$work/corrupt-job
checkout "$corrupt"
rc=0
CIFAR10_URL=$url CIFAR10_SHA256=$sha CODA_CLI=$cli EPOCHS=1 bash "$corrupt/scripts/cifar10.sh" out > "$work/corrupt.out" 2> "$work/corrupt.err" || rc=$?
[ "$rc" -eq 1 ] || { cat "$work/corrupt.err"; failed "a corrupted archive: exit code $rc, expected 1"; }
[ "$(grep -c '^error: ' "$work/corrupt.err")" -eq 1 ] || { cat "$work/corrupt.err"; failed "expected exactly one error line"; }
grep -q "^error: .*SHA-256.*does not match" "$work/corrupt.err" || failed "the error does not name the checksum"
[ -z "$(ls -A "$corrupt/data")" ] || { ls -la "$corrupt/data"; failed "something was left in data/"; }
[ ! -e "$corrupt/out/model.safetensors" ] || failed "the job went on after a refused archive"

echo "== 4. offline"
stop_server
offline=$work/offline
checkout "$offline"
rc=0
CIFAR10_URL=http://127.0.0.1:1/cifar-10-binary.tar.gz CODA_CLI=$cli bash "$offline/scripts/cifar10.sh" out \
  > "$work/offline.out" 2> "$work/offline.err" || rc=$?
[ "$rc" -eq 1 ] || { cat "$work/offline.err"; failed "offline: exit code $rc, expected 1"; }
[ "$(grep -c '^error: ' "$work/offline.err")" -eq 1 ] && [ "$(wc -l < "$work/offline.err")" -eq 1 ] ||
  { cat "$work/offline.err"; failed "offline: expected one error line and nothing else"; }
grep -q "^error: cannot download .*cifar-10-binary.tar.gz.*data/cifar10" "$work/offline.err" ||
  { cat "$work/offline.err"; failed "offline: the error does not say what to fetch and where to put it"; }
echo "all download tests passed"
