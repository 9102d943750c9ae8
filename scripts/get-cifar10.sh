#!/usr/bin/env bash
# Downloads the official CIFAR-10 binary release, verifies it and unpacks it, so that DEST holds
# data_batch_1.bin ... data_batch_5.bin and test_batch.bin (coda-cifar10's binary layout).
#
#   bash scripts/get-cifar10.sh [DEST]           (default DEST: data/cifar10)
#
# Environment:
#   CIFAR10_URL      the archive (default: the official cifar-10-binary.tar.gz; set it for a mirror)
#   CIFAR10_SHA256   its expected SHA-256 (default: the official archive's)
#
# The download goes to DEST.tar.gz.part and is resumed when run again after a broken connection
# (or restarted when the server cannot resume). Only a file whose SHA-256 matches becomes
# DEST.tar.gz, and only that file is unpacked, into a temporary folder renamed to DEST at the end:
# a partial or corrupted download is never taken for the data. Exit code 1 with one `error:` line
# on failure.
set -euo pipefail

official_url=https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz
official_sha256=c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd
official_bytes=170052171
url=${CIFAR10_URL:-$official_url}
sha256=${CIFAR10_SHA256:-$official_sha256}
dest=${1:-data/cifar10}
archive=$dest.tar.gz
part=$archive.part
files=(data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin)

fail() {
  echo "error: $*" >&2
  exit 1
}
where_to_put_it="fetch $official_url yourself (SHA-256 $official_sha256) and unpack it so that $dest/ holds ${files[*]}, or set CIFAR10_DIR to a folder that holds them"

matches() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$sha256" ]; }

# Progress of the running download from the size of the partial file: one line every 10 s in a
# log, a line redrawn every second on a terminal.
show_progress() {
  local total=$1 pid=$2 tick=0 bytes line
  while kill -0 "$pid" 2> /dev/null; do
    sleep 1
    tick=$((tick + 1))
    bytes=$(stat -c %s "$part" 2> /dev/null || echo 0)
    line="downloading $(basename "$url"): $((bytes >> 20)) MiB"
    [ "$total" -gt 0 ] && line+=" of $((total >> 20)) MiB ($((100 * bytes / total))%)"
    if [ -t 2 ]; then printf '\r%s ' "$line" >&2; elif [ $((tick % 10)) -eq 0 ]; then echo "$line" >&2; fi
  done
  [ -t 2 ] && echo >&2
  return 0
}

# One curl run, resuming the partial file when there is one; prints curl's exit code.
fetch_once() {
  local total=$1 resume=()
  [ -s "$part" ] && resume=(-C -)
  local errors
  errors=$(mktemp)
  curl --fail --location --silent --show-error --connect-timeout 20 --speed-limit 1024 --speed-time 60 \
    "${resume[@]}" --output "$part" "$url" 2> "$errors" &
  local pid=$!
  show_progress "$total" "$pid"
  local rc=0
  wait "$pid" || rc=$?
  last_error=$(tail -n 1 "$errors")
  rm -f "$errors"
  return "$rc"
}

download() {
  local total=0 attempt rc
  [ "$url" = "$official_url" ] && total=$official_bytes
  for attempt in 1 2 3 4 5; do
    # A part that is already complete (the run stopped before it was verified) needs no request.
    matches "$part" && return 0
    rc=0
    fetch_once "$total" || rc=$?
    case $rc in
      0) matches "$part" && return 0
         # Complete but wrong: a corrupted transfer or a wrong file; start over once, then give up.
         if [ "$attempt" -ge 2 ]; then
           local found
           found=$(sha256sum "$part" | cut -d' ' -f1)
           rm -f "$part"
           fail "$url: SHA-256 $found does not match the expected $sha256 (nothing was unpacked; CIFAR10_SHA256 sets the expected value for another archive)"
         fi
         echo "the download does not match its SHA-256: starting over" >&2
         rm -f "$part" ;;
      33 | 36) echo "the server cannot resume the download: starting over" >&2
         rm -f "$part" ;;
      18 | 28 | 52 | 55 | 56 | 92) echo "the download broke off ($last_error): resuming" >&2 ;;
      *) fail "cannot download $url ($last_error); $where_to_put_it" ;;
    esac
  done
  fail "cannot download $url after 5 attempts ($last_error); $where_to_put_it"
}

unpack() {
  unpack_dir=$(mktemp -d "$dest.unpack.XXXXXX")
  trap 'rm -rf "$unpack_dir"' EXIT
  tar -xzf "$archive" -C "$unpack_dir" || fail "$archive: cannot unpack (delete it to download it again)"
  # The official archive holds cifar-10-batches-bin/; a mirror may hold the files at the top.
  local top=$unpack_dir
  [ -d "$unpack_dir/cifar-10-batches-bin" ] && top=$unpack_dir/cifar-10-batches-bin
  for f in "${files[@]}"; do
    [ -f "$top/$f" ] || fail "$archive: no $f in the archive (expected the CIFAR-10 binary release)"
  done
  mv "$top" "$dest.ready" && mv "$dest.ready" "$dest"
}

command -v curl > /dev/null || fail "curl is not installed; $where_to_put_it"
[ -e "$dest" ] && fail "$dest already exists; delete it to download CIFAR-10 again"
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.ready" "$dest".unpack.*
if ! matches "$archive"; then
  rm -f "$archive"
  download
  mv "$part" "$archive"
fi
echo "verified $archive (SHA-256 $sha256); unpacking into $dest/" >&2
unpack
echo "CIFAR-10 is in $dest/" >&2
