#!/bin/sh
# The Firefox decoding pattern for as long as a user watches video: K decoders
# on one VADisplay, every frame exported and held, looping their streams for a
# given number of frames, on the emulated decoder (or on a board's real one).
# Prints the client's summary (frames, errors, open fds and RSS at start and
# end) and the emulated device's counters. Not a test: run it by hand.
#
#   tools/firefox-client/long-run.sh [--build-dir build] [--frames 100000]
#       [--decoders 4] [--profile hantro] [--hold 4] [--report-every 10000]
#       [--real-device] [STREAM_NAME_OR_PATH...]
#
# Frames are per decoder. Stream names are looked up in the shared manifest.
# --real-device: no emulator; the driver opens the board's /dev/video*/media*.
set -eu

project_dir=$(cd "$(dirname "$0")/../.." && pwd)
build_dir="$project_dir/build"
frames=100000
decoders=4
profile=hantro
hold=4
report_every=10000
real_device=0
manifest="$("$project_dir/tools/conformance-dir")/manifest.tsv"

while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir=$(cd "$2" && pwd); shift 2 ;;
    --frames) frames=$2; shift 2 ;;
    --decoders) decoders=$2; shift 2 ;;
    --profile) profile=$2; shift 2 ;;
    --hold) hold=$2; shift 2 ;;
    --report-every) report_every=$2; shift 2 ;;
    --real-device) real_device=1; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    --*) echo "long-run.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || set -- BA2_Sony_F CVBS3_Sony_C MR2_MW_A HCAFF1_HHI_B

streams=""
for stream in "$@"; do
  if [ -f "$stream" ]; then
    path=$stream
  else
    file=$(awk -F '\t' -v name="$stream" '$1 == name { print $2 }' "$manifest")
    [ -n "$file" ] || { echo "long-run.sh: $stream is neither a file nor in $manifest" >&2; exit 2; }
    path="$(dirname "$manifest")/$file"
  fi
  streams="$streams $path"
done

client="$build_dir/tools/firefox-client/va-firefox-client"
ninja -C "$build_dir" tools/firefox-client/va-firefox-client src/v4l2_request_drv_video.so \
  $( [ "$real_device" = 1 ] || echo tools/emulator/libv4l2-emulator.so ) >&2

counters=$(mktemp /tmp/firefox-long-run-counters.XXXXXX)
trap 'rm -f "$counters"' EXIT
export LIBVA_DRIVERS_PATH="$build_dir/src" LIBVA_DRIVER_NAME=v4l2_request
if [ "$real_device" = 0 ]; then
  export LD_PRELOAD="$build_dir/tools/emulator/libv4l2-emulator.so${LD_PRELOAD:+ $LD_PRELOAD}"
  export V4L2_EMU_PROFILE="$profile" V4L2_EMU_COUNTERS="$counters"
fi

status=0
# shellcheck disable=SC2086  # $streams is a list of paths
"$client" --decoders "$decoders" --loop-frames "$frames" --hold "$hold" \
  --report-every "$report_every" $streams || status=$?

if [ "$real_device" = 0 ]; then
  python3 - "$counters" <<'PY'
import json, sys
total = {}
for line in open(sys.argv[1], encoding="utf-8"):
    if line.strip():
        record = json.loads(line)
        for key in ("frames_decoded", "errors", "dpb_mismatches", "requests_allocated"):
            total[key] = total.get(key, 0) + int(record.get(key, 0))
        total["max_requests_in_flight"] = max(total.get("max_requests_in_flight", 0),
                                              int(record.get("max_requests_in_flight", 0)))
print("device " + " ".join(f"{key}={value}" for key, value in total.items()))
PY
fi
exit "$status"
