#!/usr/bin/env bash
# A coda-cifar10 built without MPI, started as 2 ranks by mpirun, must refuse (exit 2, the error
# line naming the missing MPI) instead of training two separate models.
#   bash refused_without_mpi.sh MPIEXEC CODA_CIFAR10 DATA_DIR
set -uo pipefail
mpiexec=$1 exe=$2 data=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
as_root=()
[ "$(id -u)" -eq 0 ] && as_root=(--allow-run-as-root)
"$mpiexec" --oversubscribe -np 2 "${as_root[@]}" "$exe" train --data "$data" --out "$work/model.safetensors" \
  --epochs 1 --limit-train 8 --limit-test 2 --threads 1 > "$work/out" 2> "$work/err"
code=$?
fail() { echo "FAIL: $*"; echo "--- stderr:"; cat "$work/err"; exit 1; }
[ "$code" -ne 0 ] || fail "mpirun exited with 0"
grep -q "^error: this coda-cifar10 was built without MPI (CODA_WITH_MPI=OFF), but an MPI launcher started 2 copies" "$work/err" \
  || fail "no error line naming the missing MPI"
[ ! -e "$work/model.safetensors" ] || fail "a model was written"
echo "refused: $(grep -m1 '^error:' "$work/err")"
