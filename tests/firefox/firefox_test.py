#!/usr/bin/env python3
"""Runs va-firefox-client on the emulated decoder and judges the run.

  conformance STREAM_NAME   one decoder, one pass: MD5 of the exported
                            content equals the manifest's expected_md5.
  parallel STREAM...        K decoders looping --loop-frames each: zero
                            errors, no request beyond the pool, fds and RSS
                            flat from start to end.

Both check the emulator's counters: the frames went through the driver, the
device saw no error, and requests_allocated == contexts x slots per context.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_SLOTS = 6   # the driver's pool size without LIBVA_V4L2_REQUEST_SLOTS
SUMMARY = re.compile(r"^frames=(\d+) errors=(\d+) fds_start=(-?\d+) fds_end=(-?\d+) "
                     r"rss_start_kb=(-?\d+) rss_end_kb=(-?\d+)$", re.MULTILINE)
TEARDOWN = re.compile(r"^teardown fds_before_device=(-?\d+) fds_before_decoders=(-?\d+) "
                      r"fds_after_decoders=(-?\d+)", re.MULTILINE)
CONTEXTS = re.compile(r"^contexts (\d+)$", re.MULTILINE)
MD5 = re.compile(r"^md5 ([0-9a-f]{32})$", re.MULTILINE)
DECODER = re.compile(r"^decoder (\d+) stream (\S+) frames (\d+) contexts (\d+) complete_passes (\d+) "
                     r"pass0_md5 (\S+) errors (\d+)$", re.MULTILINE)


class Failure(Exception):
    pass


def read_manifest(path: Path) -> dict[str, dict[str, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    rows = {}
    for line in lines[1:]:
        if line.strip():
            row = dict(zip(header, line.split("\t")))
            rows[row["name"]] = row
    return rows


def sum_counters(path: Path) -> dict:
    """Every process appends one JSON line; a run's figures are their sum
    (max for the high-water mark)."""
    total = {"frames_decoded": 0, "errors": 0, "dpb_mismatches": 0, "requests_allocated": 0,
             "max_requests_in_flight": 0, "processes": 0}
    if not path.exists():
        raise Failure(f"the emulator wrote no counters to {path}: was it preloaded?")
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        total["processes"] += 1
        for key in ("frames_decoded", "errors", "dpb_mismatches", "requests_allocated"):
            total[key] += int(record.get(key, 0))
        total["max_requests_in_flight"] = max(total["max_requests_in_flight"],
                                              int(record.get("max_requests_in_flight", 0)))
    return total


def run_client(args, client_args: list[str], work: Path) -> tuple[str, dict]:
    counters = work / "counters.jsonl"
    env = dict(os.environ)
    for key in ("DISPLAY", "WAYLAND_DISPLAY", "V4L2_EMU_RECORD"):
        env.pop(key, None)
    preload = [*args.preload_first, str(args.emulator)]
    env["LD_PRELOAD"] = " ".join(preload)
    env["V4L2_EMU_PROFILE"] = args.profile
    env["V4L2_EMU_CEDRUS_TILED"] = "1" if args.tiled else "0"
    env["V4L2_EMU_COUNTERS"] = str(counters)
    env["LIBVA_DRIVERS_PATH"] = str(args.driver_dir)
    env["LIBVA_DRIVER_NAME"] = "v4l2_request"
    env["LIBVA_V4L2_REQUEST_VIDEO_PATH"] = "/dev/video0"
    env["LIBVA_V4L2_REQUEST_MEDIA_PATH"] = "/dev/media0"
    argv = [str(args.client), "--device", "/dev/dri/renderD128", *client_args]
    print("running:", " ".join(argv), flush=True)
    completed = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               check=False)
    sys.stdout.write(completed.stdout)
    stderr_lines = completed.stderr.splitlines()
    if stderr_lines:
        print(f"--- client stderr ({len(stderr_lines)} lines, last 40) ---")
        print("\n".join(stderr_lines[-40:]))
    if completed.returncode != 0:
        raise Failure(f"va-firefox-client exited with {completed.returncode}")
    totals = sum_counters(counters)
    print("counters:", json.dumps(totals), flush=True)
    return completed.stdout, totals


def check_counters(totals: dict, stdout: str, client_frames: int, decoders: int = 1) -> None:
    contexts_match = CONTEXTS.search(stdout)
    if not contexts_match:
        raise Failure("the client printed no `contexts <n>` line")
    contexts = int(contexts_match.group(1))
    slots = int(os.environ.get("LIBVA_V4L2_REQUEST_SLOTS", DEFAULT_SLOTS))
    if totals["errors"] or totals["dpb_mismatches"]:
        raise Failure(f"the emulated device saw errors={totals['errors']} "
                      f"dpb_mismatches={totals['dpb_mismatches']}")
    # Proof that the pictures went through the driver and the device, not a
    # software fallback (field notes: ffmpeg falls back silently).
    if totals["frames_decoded"] < client_frames:
        raise Failure(f"the device decoded {totals['frames_decoded']} pictures, "
                      f"fewer than the {client_frames} frames the client showed")
    expected_requests = contexts * slots
    if totals["requests_allocated"] != expected_requests:
        raise Failure(f"requests_allocated={totals['requests_allocated']}, expected {contexts} contexts x "
                      f"{slots} slots = {expected_requests}: requests allocated beyond the pool")
    # At most `decoders` contexts are alive at once, each with its own pool.
    if totals["max_requests_in_flight"] > min(expected_requests, decoders * slots):
        raise Failure(f"max_requests_in_flight={totals['max_requests_in_flight']} exceeds "
                      f"{decoders} pools of {slots}")


def summary_of(stdout: str) -> list[int]:
    match = SUMMARY.search(stdout)
    if not match:
        raise Failure("the client printed no summary line")
    return [int(value) for value in match.groups()]


def conformance(args) -> None:
    manifest = read_manifest(args.manifest)
    row = manifest.get(args.stream)
    if row is None:
        raise Failure(f"{args.stream} is not in {args.manifest}")
    conformance_row(args, row)


def conformance_set(args) -> None:
    """Every manifest stream but the skipped ones, on one profile: the
    exported layout of that device shape (single-planar, tiled) read back."""
    failures = []
    passed = 0
    for name, row in read_manifest(args.manifest).items():
        if name in args.skip:
            print(f"SKIP {name}")
            continue
        try:
            conformance_row(args, row)
            passed += 1
        except Failure as failure:
            print(f"FAIL {name}: {failure}")
            failures.append(name)
    print(f"{passed} passed, {len(failures)} failed on {args.profile}{' (tiled)' if args.tiled else ''}")
    if failures:
        raise Failure("failed: " + ", ".join(failures))


def export_refusal(args) -> None:
    """A device whose CAPTURE layout has no DRM modifier (MM21): the export
    is refused with VA_STATUS_ERROR_UNSUPPORTED_MEMORY_TYPE, the client
    learns it on its first picture and nothing leaks or crashes."""
    row = read_manifest(args.manifest)[args.stream]
    stream_path = args.manifest.parent / row["file"]
    counters = Path(tempfile.mkdtemp(prefix="firefox-refusal-")) / "counters.jsonl"
    env = dict(os.environ)
    env.update({"LD_PRELOAD": str(args.emulator), "V4L2_EMU_PROFILE": args.profile, "V4L2_EMU_COUNTERS": str(counters),
                "LIBVA_DRIVERS_PATH": str(args.driver_dir), "LIBVA_DRIVER_NAME": "v4l2_request"})
    completed = subprocess.run([str(args.client), "--device", "/dev/dri/renderD128", str(stream_path)], env=env,
                               stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    sys.stdout.write(completed.stdout)
    if completed.returncode < 0:
        raise Failure(f"the client died of signal {-completed.returncode}")
    if "an unsupported memory type was supplied" not in completed.stderr:
        raise Failure("the export was not refused with VA_STATUS_ERROR_UNSUPPORTED_MEMORY_TYPE:\n" +
                      completed.stderr[-2000:])
    if "has no DRM format modifier" not in completed.stderr:
        raise Failure("the driver did not say why it refused the export")
    teardown = TEARDOWN.search(completed.stdout)
    if not teardown or teardown.group(2) != teardown.group(3):
        raise Failure("fds after the decoder closed differ from before it opened")
    print(f"PASS {args.profile}: the export of {args.stream} is refused with a clear status, nothing leaked")


def conformance_row(args, row) -> None:
    stream_path = args.manifest.parent / row["file"]
    args.stream = row["name"]
    feature_frames = re.search(r"\b(\d+)f;", row["features"])
    with tempfile.TemporaryDirectory(prefix="firefox-conformance-") as work:
        stdout, totals = run_client(args, ["--hold", str(args.hold), str(stream_path)], Path(work))
    md5_match = MD5.search(stdout)
    if not md5_match:
        raise Failure("the client printed no `md5 <hex>` line")
    frames, errors = summary_of(stdout)[:2]
    if errors:
        raise Failure(f"the client reported {errors} errors")
    if feature_frames and frames != int(feature_frames.group(1)):
        raise Failure(f"{frames} frames output, the manifest says {feature_frames.group(1)}")
    check_counters(totals, stdout, frames)
    if md5_match.group(1) != row["expected_md5"]:
        raise Failure(f"md5 {md5_match.group(1)} != expected {row['expected_md5']}")
    print(f"PASS {args.stream}: md5 {md5_match.group(1)}, {frames} frames, "
          f"requests_allocated={totals['requests_allocated']}, "
          f"max_requests_in_flight={totals['max_requests_in_flight']}")


def parallel(args) -> None:
    streams = [str(args.manifest.parent / read_manifest(args.manifest)[name]["file"]) for name in args.streams]
    client_args = ["--decoders", str(args.decoders), "--loop-frames", str(args.loop_frames),
                   "--hold", str(args.hold), "--shuffle-seed", str(args.shuffle_seed), *streams]
    with tempfile.TemporaryDirectory(prefix="firefox-parallel-") as work:
        stdout, totals = run_client(args, client_args, Path(work))
    frames, errors, fds_start, fds_end, rss_start, rss_end = summary_of(stdout)
    if errors:
        raise Failure(f"the client reported {errors} errors")
    if frames != args.decoders * args.loop_frames:
        raise Failure(f"{frames} frames, expected {args.decoders} x {args.loop_frames}")
    for decoder in DECODER.finditer(stdout):
        if int(decoder.group(5)) < 1:
            raise Failure(f"decoder {decoder.group(1)} completed no pass: its content was not compared "
                          "across loops (stream longer than --loop-frames?)")
    check_counters(totals, stdout, frames, args.decoders)
    # Flat from start to end: both samples are taken with every decoder in the
    # same state (compositor queue full, contexts alive).
    # A surface whose context went away keeps its picture's dma-buf until it
    # is destroyed or decodes again (docs/design.md): surfaces the
    # compositor still holds from before a flush each keep one, so the count
    # at a sample point moves with timing, by at most the surfaces a decoder
    # has. A leak per frame or per context (2,000 frames, ~200 contexts) is
    # far above that; at teardown the count must be exact.
    surface_bound = args.decoders * 32
    if fds_start <= 0 or abs(fds_end - fds_start) > surface_bound:
        raise Failure(f"open fds went from {fds_start} to {fds_end} (allowed +-{surface_bound})")
    teardown = TEARDOWN.search(stdout)
    if not teardown or teardown.group(2) != teardown.group(3):
        raise Failure("fds after the decoders closed differ from before they opened: "
                      + (teardown.group(0) if teardown else "no teardown line"))
    growth = rss_end - rss_start
    if rss_start <= 0 or growth > args.rss_growth_kb:
        raise Failure(f"RSS grew by {growth} kB ({rss_start} -> {rss_end}), allowed {args.rss_growth_kb} kB")
    print(f"PASS parallel: {args.decoders} decoders x {args.loop_frames} frames, errors=0, "
          f"fds {fds_start}->{fds_end}, rss {rss_start}->{rss_end} kB, "
          f"requests_allocated={totals['requests_allocated']}, "
          f"max_requests_in_flight={totals['max_requests_in_flight']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--client", type=Path, required=True)
    parser.add_argument("--driver-dir", type=Path, required=True)
    parser.add_argument("--emulator", type=Path, required=True)
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--profile", default=os.environ.get("V4L2_EMU_PROFILE", "hantro"))
    parser.add_argument("--hold", type=int, default=4)
    parser.add_argument("--tiled", action="store_true", help="cedrus without UNTILED (V4L2_EMU_CEDRUS_TILED=1)")
    parser.add_argument("--preload-first", action="append", default=[],
                        help="library preloaded before the emulator (a sanitizer runtime)")
    sub = parser.add_subparsers(dest="mode", required=True)
    one = sub.add_parser("conformance")
    one.add_argument("stream")
    every = sub.add_parser("conformance-set")
    every.add_argument("--skip", action="append", default=[])
    refusal = sub.add_parser("export-refusal")
    refusal.add_argument("stream")
    many = sub.add_parser("parallel")
    many.add_argument("streams", nargs="+")
    many.add_argument("--decoders", type=int, default=4)
    many.add_argument("--loop-frames", type=int, default=2000)
    many.add_argument("--shuffle-seed", type=int, default=1)
    # Not a tight bound: glibc grows per-thread arenas for a while (every
    # re-created context starts an emulator worker thread), by up to ~7 MB
    # between frame 500 and 2,000 on a loaded 2-core machine, then levels off
    # (100,000-frame long run: 69 -> 68 MB). What it must catch is a leak per
    # frame or per context: one NV12 surface per frame (~38 kB x 1,500) or one
    # OUTPUT buffer per context (1 MB x 200) is far above it. Fds are exact.
    many.add_argument("--rss-growth-kb", type=int, default=16384)
    args = parser.parse_args()
    try:
        modes = {"conformance": conformance, "conformance-set": conformance_set, "export-refusal": export_refusal,
                 "parallel": parallel}
        modes[args.mode](args)
    except Failure as failure:
        print(f"FAIL: {failure}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
