#!/usr/bin/env bash
# coda-stream end to end: a generated clip (ffmpeg's testsrc, 320x240, 25 frames) piped through
# coda-stream and encoded again by ffmpeg; every frame comes out (480x240), one CSV row each, no
# allocation while streaming; a stream cut in the middle of a frame and bad flags fail with one
# error line.
#   bash test_stream.sh FFMPEG CODA_STREAM
set -uo pipefail
ffmpeg=$1 stream=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; for f in "$work"/*.err; do echo "--- $f"; cat "$f"; done; exit 1; }

"$ffmpeg" -loglevel error -f lavfi -i testsrc=size=320x240:rate=25 -frames:v 25 -f rawvideo -pix_fmt rgb24 "$work/in.raw" \
  || fail "ffmpeg could not generate the clip"
[ "$(stat -c %s "$work/in.raw")" -eq $((25 * 320 * 240 * 3)) ] || fail "the generated clip is not 25 frames"

# The pipeline of docs/stream.md: ffmpeg's raw frames in, raw frames out, ffmpeg encodes them.
"$ffmpeg" -loglevel error -f lavfi -i testsrc=size=320x240:rate=25 -frames:v 25 -f rawvideo -pix_fmt rgb24 - 2> "$work/decode.err" |
  "$stream" --arch cifar10-9l --seed 1 --width 320 --height 240 --classes "$work/classes.csv" 2> "$work/stream.err" |
  tee "$work/out.raw" |
  "$ffmpeg" -loglevel error -y -f rawvideo -pix_fmt rgb24 -s 480x240 -r 25 -i - -pix_fmt yuv420p "$work/out.mp4" 2> "$work/encode.err"
codes=("${PIPESTATUS[@]}")
[ "${codes[*]}" = "0 0 0 0" ] || fail "pipeline exit codes ${codes[*]}"
[ "$(stat -c %s "$work/out.raw")" -eq $((25 * 480 * 240 * 3)) ] || fail "coda-stream did not write 25 frames of 480x240"
[ "$(wc -l < "$work/classes.csv")" -eq 26 ] || fail "classes.csv has not one row per frame"
grep -Eq '^24,[0-9],-?[0-9.]+$' "$work/classes.csv" || fail "no row for the last frame"
grep -q "25 frames in .* frames/s); allocations while streaming: 0$" "$work/stream.err" || fail "allocations while streaming"
# The left half of each output frame is the input's centre square (columns 40 to 279), as it came.
for frame in 0 24; do
  for row in 0 120 239; do
    cmp -s -n 720 -i $(((frame * 320 * 240 + row * 320 + 40) * 3)):$(((frame * 480 * 240 + row * 480) * 3)) \
      "$work/in.raw" "$work/out.raw" || fail "frame $frame row $row: the left half is not the centre square"
  done
done
"$ffmpeg" -loglevel error -i "$work/out.mp4" -f rawvideo -pix_fmt rgb24 "$work/decoded.raw" 2> "$work/redecode.err"
[ "$(stat -c %s "$work/decoded.raw")" -eq $((25 * 480 * 240 * 3)) ] || fail "the encoded video does not hold 25 frames"

# Half a frame at the end: the frames before it come out, then one error line.
head -c $((2 * 320 * 240 * 3 + 1000)) "$work/in.raw" |
  "$stream" --arch cifar10-9l --seed 1 --width 320 --height 240 > "$work/cut.raw" 2> "$work/cut.err"
[ $? -eq 1 ] || fail "a cut stream did not exit with 1"
[ "$(stat -c %s "$work/cut.raw")" -eq $((2 * 480 * 240 * 3)) ] || fail "the whole frames of a cut stream are missing"
[ "$(grep -c '^error: ' "$work/cut.err")" -eq 1 ] && grep -q "ended in the middle of a frame" "$work/cut.err" \
  || fail "no error line for the cut stream"

# Bad flags: exit 2 and one error line, nothing on stdout.
"$stream" --arch cifar10-9l --seed 1 --width 0 --height 240 < /dev/null > "$work/flags.out" 2> "$work/flags.err"
[ $? -eq 2 ] && [ ! -s "$work/flags.out" ] && [ "$(wc -l < "$work/flags.err")" -eq 1 ] &&
  grep -q "^error: --width must be an integer in \[1, 8192\], got '0'" "$work/flags.err" || fail "bad --width"
echo "coda-stream: $(tail -n 1 "$work/stream.err" | sed 's/^coda-stream: //')"
