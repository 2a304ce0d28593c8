#!/bin/sh
# The Firefox-pattern tests under sanitizers. Meson applies b_sanitize to a
# whole build directory, so each sanitizer gets its own: build-asan
# (address,undefined) and build-tsan (thread). Driver, emulator and client are
# all instrumented; FFmpeg and libva are not.
#
#   tools/firefox-client/run-sanitized.sh [asan|tsan|all] [--frames N] [--streams "A B"]
#
# asan: a few conformance streams (B frames, PAFF, multi-slice 1080p) and the
#       4-decoder parallel case; tsan: the parallel case.
set -eu

project_dir=$(cd "$(dirname "$0")/../.." && pwd)
which=${1:-all}
[ $# -gt 0 ] && shift
frames=2000
conformance_streams="CABA3_SVA_B HCAFF1_HHI_B CVWP2_TOSHIBA_E jm_1080p_allslice"
while [ $# -gt 0 ]; do
  case "$1" in
    --frames) frames=$2; shift 2 ;;
    --streams) conformance_streams=$2; shift 2 ;;
    *) echo "run-sanitized.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
manifest="$("$project_dir/tools/conformance-dir")/manifest.tsv"
parallel_streams="BA2_Sony_F CVBS3_Sony_C MR2_MW_A HCAFF1_HHI_B"
targets="tools/firefox-client/va-firefox-client src/v4l2_request_drv_video.so tools/emulator/libv4l2-emulator.so"

asan_build=${ASAN_BUILD_DIR:-$project_dir/build-asan}
tsan_build=${TSAN_BUILD_DIR:-$project_dir/build-tsan}

configure() {  # build_dir sanitize
  if [ ! -f "$1/build.ninja" ]; then
    meson setup "$1" "$project_dir" -Dwerror=true -Db_sanitize="$2" -Db_lundef=false >&2
  fi
  # shellcheck disable=SC2086
  ninja -C "$1" $targets >&2
}

run_test() {  # build_dir runtime_library mode args...
  build=$1; runtime=$2; shift 2
  python3 "$project_dir/tests/firefox/firefox_test.py" \
    --client "$build/tools/firefox-client/va-firefox-client" --driver-dir "$build/src" \
    --emulator "$build/tools/emulator/libv4l2-emulator.so" --manifest "$manifest" \
    --preload-first "$runtime" "$@"
}

failed=0
if [ "$which" = asan ] || [ "$which" = all ]; then
  configure "$asan_build" address,undefined
  # The emulator is preloaded, so the ASan runtime must be preloaded before it.
  runtime=$(${CC:-cc} -print-file-name=libasan.so)
  export ASAN_OPTIONS="verify_asan_link_order=0:detect_leaks=0:abort_on_error=1"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
  for stream in $conformance_streams; do
    run_test "$asan_build" "$runtime" conformance "$stream" || failed=1
  done
  run_test "$asan_build" "$runtime" parallel --decoders 4 --loop-frames "$frames" \
    --rss-growth-kb 65536 $parallel_streams || failed=1  # ASan quarantine holds freed memory
  unset ASAN_OPTIONS UBSAN_OPTIONS
fi
if [ "$which" = tsan ] || [ "$which" = all ]; then
  configure "$tsan_build" thread
  runtime=$(${CC:-cc} -print-file-name=libtsan.so)
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
  run_test "$tsan_build" "$runtime" parallel --decoders 4 --loop-frames "$frames" \
    --rss-growth-kb 65536 $parallel_streams || failed=1
  unset TSAN_OPTIONS
fi
[ "$failed" = 0 ] && echo "run-sanitized.sh: all passed" || echo "run-sanitized.sh: FAILED"
exit "$failed"
