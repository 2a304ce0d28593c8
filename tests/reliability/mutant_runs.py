#!/usr/bin/env python3
"""Damaged streams (issue 10): ≥ 300 mutants of three H.264 streams (one
encoded here with libx264, CABAC, B-frames, 4 slices per picture; and the
conformance streams BA_MW_D, CAVLC I/P with 4 IDRs, and CABA3_SVA_B, CABAC
I/P/B with temporal direct), made by mutate.py (byte flips, truncation,
dropped and duplicated NAL units, swapped slices, absurd SPS sizes, zeroed
PPS), each decoded through the driver on the emulated decoder by one client:

  ffmpeg         ffmpeg -hwaccel vaapi, copy-back (GetImage)
  ffmpeg-vaapi   ffmpeg -hwaccel vaapi -hwaccel_output_format vaapi (no copy)
  firefox        tools/firefox-client with Firefox's error recovery

Per mutant: no crash, no sanitizer report, no hang (the run ends within its
bound), nothing left open at exit that the clean run did not leave, and the
number of frames output equals what the same client outputs with its own
software decoder (the goal of issue 10: a damaged stream plays to its end as
with the software decoder): FFmpeg's software decoder for the ffmpeg
clients, the Firefox pattern's --software mode (libavcodec alone, Firefox's
error recovery) for the firefox client. Prints a table per mutation kind and the time it took;
exit status 1 when any mutant failed.

Usage: mutant_runs.py --build-dir BUILD --client ffmpeg|ffmpeg-vaapi|firefox
                      --manifest MANIFEST [--per-kind N] [--budget SECONDS]
"""
import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mutate  # noqa: E402
import reliability_lib as lib  # noqa: E402

X264_SOURCE = ("x264-cif-slices4", "352x288", 2, 25,
               "keyint=12:min-keyint=12:scenecut=0:bframes=2:slices=4:open-gop=0")
CONFORMANCE_SOURCES = ("BA_MW_D", "CABA3_SVA_B")
BOUND_SECONDS = 60


def client_command(build, client, stream):
    if client == "ffmpeg":
        return lib.ffmpeg_copy_back_cmd(stream)
    if client == "ffmpeg-vaapi":
        return lib.ffmpeg_vaapi_output_cmd(stream)
    return lib.firefox_cmd(build, stream)


def frames_output(client, outcome):
    if client == "ffmpeg":
        return len(lib.framemd5_digests(outcome.stdout))
    if client == "ffmpeg-vaapi":
        return lib.progress_frames(outcome.stdout)
    return len(lib.firefox_digests(outcome.stdout))


def software_frames(build, path, client):
    """Frames the client's software path outputs for `path` (cached)."""
    firefox = client == "firefox"
    cache = build.work / "mutants" / (path.name + (".firefox-sw.json" if firefox else ".sw.json"))
    if cache.exists():
        return json.loads(cache.read_text())["frames"]
    if firefox:
        # The client still opens the render node (as Firefox does), so it
        # runs on the emulated system, but libavcodec decodes alone.
        with tempfile.TemporaryDirectory(prefix="reliability-sw-") as tmp:
            result = subprocess.run(lib.firefox_cmd(build, path) + ["--software"], capture_output=True, text=True,
                                    timeout=BOUND_SECONDS, env=build.env(Path(tmp) / "counters.jsonl"))
        frames = len(lib.firefox_digests(result.stdout))
    else:
        result = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "quiet", "-threads", "1",
                                 "-i", str(path), "-fps_mode", "passthrough", "-f", "framemd5", "-pix_fmt",
                                 "yuv420p", "-"], capture_output=True, text=True, timeout=BOUND_SECONDS)
        frames = len(lib.framemd5_digests(result.stdout))
    lib._atomic_write(cache, json.dumps({"frames": frames, "exit": result.returncode}).encode())
    return frames


def make_mutants(build, sources, per_kind):
    out_dir = build.work / "mutants"
    out_dir.mkdir(parents=True, exist_ok=True)
    mutants = []
    for source_name, source in sources:
        data = Path(source).read_bytes()
        for kind in mutate.KINDS:
            # `per_kind` distinct mutants: a seed that repeats an earlier
            # mutant (or the source) is skipped.
            seen = {hashlib.md5(data).digest()}
            seed = 0
            while sum(1 for m in mutants if m[0] == source_name and m[1] == kind) < per_kind and seed < 10 * per_kind:
                mutant = mutate.mutate(data, kind, seed)
                digest = hashlib.md5(mutant).digest()
                if digest not in seen:
                    seen.add(digest)
                    path = out_dir / f"{source_name}-{kind}-{seed}.264"
                    if not path.exists():
                        lib._atomic_write(path, mutant)
                    mutants.append((source_name, kind, seed, path))
                seed += 1
    return mutants


def run_one(build, client, path, bound):
    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
        counters_path = Path(tmp) / "counters.jsonl"
        outcome = lib.run_bounded(client_command(build, client, path), build.env(counters_path), bound)
        return outcome, lib.read_counters(counters_path)


def leak(counters, baseline):
    if counters is None:
        return "no counters line (the process did not exit normally)"
    render = counters.get("emulated_fds_by_kind", {}).get("render", 0)
    base_render = baseline.get("emulated_fds_by_kind", {}).get("render", 0)
    delta = (counters["fds_at_exit"] - render) - (baseline["fds_at_exit"] - base_render)
    driver_fds = counters["emulated_fds_at_exit"] - render
    if delta or driver_fds or counters["buffer_mappings_at_exit"]:
        return (f"leak at exit: {delta:+d} fds against the clean run, {driver_fds} video/media/request fds, "
                f"{counters['buffer_mappings_at_exit']} buffer mappings")
    return ""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--client", choices=("ffmpeg", "ffmpeg-vaapi", "firefox"), required=True)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--per-kind", type=int, default=16, help="mutants per kind and source stream")
    parser.add_argument("--budget", type=float, default=900, help="seconds; mutants not run by then fail")
    parser.add_argument("--report", help="write the results as JSON here")
    args = parser.parse_args()

    started = time.monotonic()
    build = lib.Build(args.build_dir)
    sources = [(X264_SOURCE[0], lib.x264_stream(build, *X264_SOURCE))]
    sources += [(name, lib.conformance_stream(args.manifest, name)) for name in CONFORMANCE_SOURCES]
    mutants = make_mutants(build, sources, args.per_kind)
    print(f"mutants: {len(mutants)} distinct ({len(sources)} streams x {len(mutate.KINDS)} kinds x {args.per_kind}), "
          f"client {args.client}, build {build.describe()}")

    baselines = {}
    setup_failed = []
    for name, source in sources:
        outcome, counters = run_one(build, args.client, source, BOUND_SECONDS)
        frames = frames_output(args.client, outcome)
        expected = software_frames(build, Path(source), args.client)
        decoded = (counters or {}).get("frames_decoded", 0)
        if outcome.crashed or outcome.timed_out or counters is None or frames != expected or decoded == 0:
            setup_failed.append(f"clean run of {name}: {frames} frames (software {expected}), "
                                f"{decoded} decoded by the device, exit {outcome.returncode}, "
                                f"timed out {outcome.timed_out}")
        baselines[name] = counters or {}
        print(f"clean run {name}: {frames} frames, {outcome.elapsed:.1f} s")

    rows = OrderedDict((kind, {"mutants": 0, "crash": 0, "sanitizer": 0, "hang": 0, "leak": 0, "equal": 0,
                               "fewer": 0, "more": 0, "failed": 0, "fallback": 0}) for kind in mutate.KINDS)
    failures = []
    not_run = 0
    for index, (source_name, kind, seed, path) in enumerate(mutants):
        if time.monotonic() - started > args.budget:
            not_run = len(mutants) - index
            break
        expected = software_frames(build, path, args.client)
        outcome, counters = run_one(build, args.client, path, BOUND_SECONDS)
        frames = frames_output(args.client, outcome)
        row = rows[kind]
        row["mutants"] += 1
        # Frames out while the device decoded nothing: the client fell back
        # to software (not a failure; the driver refused the stream).
        row["fallback"] += bool(frames) and counters is not None and counters.get("frames_decoded", 0) == 0
        problems = []
        if outcome.timed_out:
            row["hang"] += 1
            problems.append(f"hang: still running after {BOUND_SECONDS} s, killed")
        if outcome.crashed:
            row["crash"] += 1
            problems.append(f"crash: {outcome.crash_text()}; stderr: {outcome.stderr.strip()[-300:]}")
        if outcome.sanitizer_report:
            row["sanitizer"] += 1
            problems.append(f"sanitizer report: {outcome.sanitizer_report}")
        if not outcome.timed_out and not outcome.crashed:
            leaked = leak(counters, baselines.get(source_name, {}))
            if leaked and baselines.get(source_name):
                row["leak"] += 1
                problems.append(leaked)
        if frames == expected:
            row["equal"] += 1
        elif frames < expected:
            row["fewer"] += 1
            problems.append(f"ended early: {frames} frames, the software decoder output {expected}")
        else:
            row["more"] += 1
            problems.append(f"{frames} frames, more than the software decoder's {expected}")
        row["failed"] += bool(problems)
        if problems:
            failures.append({"mutant": path.name, "problems": problems})
            print(f"FAIL {path.name}: " + "; ".join(problems), flush=True)

    elapsed = time.monotonic() - started
    header = (f"{'mutation':10} {'mutants':>7} {'crash':>5} {'sanitizer':>9} {'hang':>4} {'leak':>4} "
              f"{'frames=sw':>9} {'fewer':>5} {'more':>4} {'sw-fallback':>11} {'failed':>6}")
    print("\n" + header)
    print("-" * len(header))
    total = {key: 0 for key in next(iter(rows.values()))}
    for kind, row in rows.items():
        for key in total:
            total[key] += row[key]
        print(f"{kind:10} {row['mutants']:>7} {row['crash']:>5} {row['sanitizer']:>9} {row['hang']:>4} "
              f"{row['leak']:>4} {row['equal']:>9} {row['fewer']:>5} {row['more']:>4} {row['fallback']:>11} "
              f"{row['failed']:>6}")
    print("-" * len(header))
    print(f"{'all':10} {total['mutants']:>7} {total['crash']:>5} {total['sanitizer']:>9} {total['hang']:>4} "
          f"{total['leak']:>4} {total['equal']:>9} {total['fewer']:>5} {total['more']:>4} "
          f"{total['fallback']:>11} {total['failed']:>6}")
    print("(frames=sw: as many frames as FFmpeg's software decoder output; fewer: the client ended early "
          "or dropped pictures; sw-fallback: the device decoded nothing and the client decoded in software)")
    for problem in setup_failed:
        print(f"SETUP FAILED {problem}")
    if not_run:
        print(f"NOT RUN: {not_run} mutants did not start within the time budget")
    print(f"{args.client}: {total['mutants']} mutants, {total['failed']} failed, runtime {elapsed:.0f} s")
    if args.report:
        Path(args.report).write_text(json.dumps({"client": args.client, "build": build.describe(),
                                                 "elapsed_s": round(elapsed, 1), "rows": rows, "total": total,
                                                 "not_run": not_run, "failures": failures}, indent=1))
    return 1 if total["failed"] or not_run or setup_failed else 0


if __name__ == "__main__":
    sys.exit(main())
