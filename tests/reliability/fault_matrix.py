#!/usr/bin/env python3
"""The fault matrix (issue 10): a real client decodes whole streams on the
emulated decoder while V4L2_EMU_FAULTS injects, one kind per run, what a
6.12 kernel can do to it: every ioctl the driver issues (as the clean run's
counters list them) with each errno the kernel can return from it
(V4L2_EMU_FAULTS=help, docs/emulator.md) at 10 % and 1 % of its calls, once
as the first call for the calls a stream makes only a few times, mmap and
poll faults, decode jobs that fail, hang, end by the watchdog or run slow,
and the device going away mid-stream.

Faults stop once the client submits a given IDR picture (`until_idr=`,
about half way through the stream's IDRs), so every run can show that
decoding comes back. Per run it checks:

- the client ended within its bound (no hang) and without a signal (no crash)
  and without a sanitizer report (run it on a build-sanitize directory);
- open fds at exit equal the clean run's, no emulated fd and no buffer
  mapping left (the emulator's counters line);
- decoding resumes: from the first IDR after the last injected fault (the
  emulator reports where that fault fell) to the end, every picture the
  client output equals the software decoder's (per-frame MD5), and the
  client output them all. Not checked for `unplug` (the device is gone).

It prints one line per run, a table per fault kind, and the time it took.
Exit status 1 when any run failed or the time budget ran out first.

Usage: fault_matrix.py --build-dir BUILD --client ffmpeg|firefox
                       [--manifest MANIFEST] [--budget SECONDS] [--quick]
"""
import argparse
import json
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reliability_lib as lib  # noqa: E402

RATES = (0.1, 0.01)
# A target called fewer times than this per stream is a set-up call: at a
# few percent it would rarely fire, so it also gets a run failing its first call.
FEW_CALLS = 20
# The x264 stream: 720p, 4 s, an IDR every 30 frames, B-frames.
X264_STREAM = ("x264-720p-idr30", "1280x720", 4, 30,
               "keyint=30:min-keyint=30:scenecut=0:bframes=2:open-gop=0")
# Conformance streams with several IDRs (I/P 4 refs; MMCO and long-term refs).
CONFORMANCE_STREAMS = ("BA_MW_D", "MR2_MW_A")


class Run:
    def __init__(self, stream, kind, spec, label):
        self.stream = stream
        self.kind = kind      # "VIDIOC_QBUF:EINVAL", "job:hang", "unplug"
        self.spec = spec      # V4L2_EMU_FAULTS
        self.label = label    # "10%", "1%", "first call", "after 48 jobs"


class Stream:
    def __init__(self, name, path, reference):
        self.name = name
        self.path = path
        self.reference = reference
        self.baseline = None  # counters of the clean run
        self.full_matrix = False


def client_command(build, client, stream):
    if client == "ffmpeg":
        return lib.ffmpeg_copy_back_cmd(stream)
    return lib.firefox_cmd(build, stream)


def client_digests(client, outcome):
    if client == "ffmpeg":
        return lib.framemd5_digests(outcome.stdout)
    return lib.firefox_digests(outcome.stdout)


def run_client(build, client, stream, spec, bound, seed=1):
    with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
        counters_path = Path(tmp) / "counters.jsonl"
        env = build.env(counters_path, faults=spec, seed=seed)
        outcome = lib.run_bounded(client_command(build, client, stream.path), env, bound)
        return outcome, lib.read_counters(counters_path)


def clean_run(build, client, stream, bound):
    """The run without faults: it must decode the whole stream bit-exactly;
    its counters say which ioctls the driver issues and how often."""
    outcome, counters = run_client(build, client, stream, "", bound)
    digests = client_digests(client, outcome)
    problems = []
    if outcome.timed_out or outcome.crashed or outcome.sanitizer_report:
        problems.append(f"clean run ended badly: timed_out={outcome.timed_out} "
                        f"crash={outcome.crash_text()} {outcome.sanitizer_report}")
    if digests != stream.reference["frames"]:
        problems.append(f"clean run output {len(digests)} frames, "
                        f"{lib.common_suffix(digests, stream.reference['frames'])} matching at the end, "
                        f"software: {len(stream.reference['frames'])}")
    if not counters or counters.get("frames_decoded", 0) == 0:
        problems.append("clean run: the device decoded nothing (software fallback?)")
    elif counters["faults"]["idr_seen"] != len(stream.reference["key_frames"]):
        problems.append(f"the driver submitted {counters['faults']['idr_seen']} IDR pictures, the software "
                        f"decoder marked {len(stream.reference['key_frames'])} key frames: resume points unknown")
    return outcome, counters, problems


def plan(stream, targets, quick):
    """The runs for one stream, ordered so that a budget cut still covers
    every kind once: all kinds at 10 %, then 1 %, then first calls."""
    calls = stream.baseline["ioctls"]
    jobs = stream.baseline["frames_decoded"]
    # Faults while the client is in the first half of the IDR periods; the
    # rest of the stream shows whether decoding came back.
    stop = f":until_idr={len(stream.reference['key_frames']) // 2 + 1}"
    issued = sorted(name for name in calls if name in targets and calls[name] > 0)
    many = [name for name in issued if calls[name] >= FEW_CALLS]
    few = [name for name in issued if calls[name] < FEW_CALLS]
    if not stream.full_matrix:
        issued, few = many, []
    runs = []
    for rate in (RATES[:1] if quick or not stream.full_matrix else RATES):
        label = f"{rate:.0%}"
        for name in issued:
            until = stop if name in many else ""
            for error in targets[name]:
                runs.append(Run(stream, f"{name}:{error}", f"{name}:{error}:{rate}{until}", label))
        if stream.full_matrix:
            for error in targets["mmap"]:
                runs.append(Run(stream, f"mmap:{error}", f"mmap:{error}:{rate}", label))
            runs.append(Run(stream, "poll:EINTR", f"poll:EINTR:{rate}{stop}", label))
        for action in targets["job"]:
            runs.append(Run(stream, f"job:{action}", f"job:{action}:{rate}{stop}", label))
        if rate == RATES[0]:
            after = max(1, jobs * 2 // 5)
            runs.append(Run(stream, "unplug", f"unplug:after={after}", f"after {after} jobs"))
    if stream.full_matrix and not quick:
        for name in few + ["mmap"]:
            for error in targets[name]:
                runs.append(Run(stream, f"{name}:{error}", f"{name}:{error}:nth=1", "first call"))
    return runs


def leaks_at_exit(counters, baseline, facts):
    """What the process still had open at exit beyond the clean run. The
    render node's fd belongs to the client (libva's display): ffmpeg leaves
    it open when it exits on a decoding error, so it is reported apart."""
    render = counters.get("emulated_fds_by_kind", {}).get("render", 0)
    base_render = baseline.get("emulated_fds_by_kind", {}).get("render", 0)
    driver_fds = counters["emulated_fds_at_exit"] - render
    delta = (counters["fds_at_exit"] - render) - (baseline["fds_at_exit"] - base_render)
    facts["fd_delta"] = delta
    facts["client_render_fds"] = render - base_render
    if delta or driver_fds or counters["buffer_mappings_at_exit"]:
        return [f"leak at exit: {delta:+d} fds against the clean run (not counting the client's render "
                f"fd), {driver_fds} video/media/request fds ({counters.get('emulated_fds_by_kind')}), "
                f"{counters['buffer_mappings_at_exit']} buffer mappings"]
    return []


def evaluate(run, client, outcome, counters, bound):
    """Returns (problems, facts) for one run."""
    stream = run.stream
    problems = []
    facts = {"injected": 0, "crash": False, "hang": False, "sanitizer": False, "fd_delta": 0,
             "resume": None, "recovered": 0, "expected": 0, "frames": 0, "decoded": 0, "refused": False,
             "client_render_fds": 0, "fallback": False}
    if outcome.timed_out:
        facts["hang"] = True
        problems.append(f"hang: still running after {bound:.0f} s, killed")
    if outcome.crashed:
        facts["crash"] = True
        problems.append(f"crash: {outcome.crash_text()}; stderr: {outcome.stderr.strip()[-300:]}")
    if outcome.sanitizer_report:
        facts["sanitizer"] = True
        problems.append(f"sanitizer report: {outcome.sanitizer_report}")
    digests = client_digests(client, outcome)
    facts["frames"] = len(digests)
    if counters is None:
        problems.append("no counters line: the process did not exit normally")
        return problems, facts
    facts["injected"] = counters["faults"]["total"]
    facts["decoded"] = counters.get("frames_decoded", 0)
    # Frames out while the device decoded nothing: the client fell back to
    # software (ffmpeg does when the hwaccel cannot be set up).
    facts["fallback"] = bool(digests) and facts["decoded"] == 0
    problems += leaks_at_exit(counters, stream.baseline, facts)
    if run.kind == "unplug" or outcome.timed_out:
        return problems, facts
    # A fault before the first picture may make the client give up at set-up
    # (ffmpeg exits when vaInitialize or the context fails): a clear status.
    if (facts["injected"] and counters["faults"]["last_fault_picture"] == 0 and not digests
            and not outcome.crashed):
        facts["refused"] = True
        return problems, facts
    sw = stream.reference["frames"]
    keys = stream.reference["key_frames"]
    if facts["injected"] == 0:
        start, where = 0, "the start (no fault was injected)"
    else:
        idr = counters["faults"]["last_fault_idr"]
        if idr >= len(keys):
            facts["resume"] = None  # no IDR after the last fault: nothing to check
            return problems, facts
        start, where = keys[idr], f"IDR {idr} (output frame {keys[idr]})"
    expected = len(sw) - start
    recovered = min(lib.common_suffix(digests, sw), expected)
    facts.update(resume=recovered == expected, recovered=recovered, expected=expected)
    if recovered < expected:
        problems.append(f"decoding did not resume: {recovered} of the {expected} pictures from {where} on "
                        f"match the software decoder (client output {len(digests)} of {len(sw)} frames, "
                        f"device decoded {facts['decoded']})")
    return problems, facts


def summarize(results, elapsed, not_run):
    kinds = OrderedDict()
    for run, problems, facts in results:
        row = kinds.setdefault(run.kind, {"runs": 0, "failed": 0, "injected": 0, "crash": 0, "hang": 0,
                                          "sanitizer": 0, "fd_runs": 0, "fd_delta": 0, "resumed": 0,
                                          "checked": 0, "recovered": 0, "expected": 0, "no_fault": 0,
                                          "refused": 0, "fallback": 0})
        row["runs"] += 1
        row["failed"] += bool(problems)
        row["injected"] += facts["injected"]
        row["no_fault"] += facts["injected"] == 0
        row["crash"] += facts["crash"]
        row["hang"] += facts["hang"]
        row["sanitizer"] += facts["sanitizer"]
        row["fd_runs"] += facts["fd_delta"] != 0
        row["fd_delta"] += facts["fd_delta"]
        row["refused"] += facts["refused"]
        row["fallback"] += facts["fallback"]
        if facts["resume"] is not None:
            row["checked"] += 1
            row["resumed"] += facts["resume"]
            row["recovered"] += facts["recovered"]
            row["expected"] += facts["expected"]
    header = (f"{'fault kind':34} {'runs':>4} {'fail':>4} {'inj':>5} {'no-inj':>6} {'crash':>5} {'hang':>4} "
              f"{'san':>3} {'fd-runs':>7} {'fd-sum':>6} {'refused':>7} {'sw':>3} {'resumed':>9} "
              f"{'pictures recovered':>19}")
    print("\n" + header)
    print("-" * len(header))
    total = {"runs": 0, "failed": 0, "injected": 0, "crash": 0, "hang": 0, "sanitizer": 0, "fd_runs": 0,
             "resumed": 0, "checked": 0, "recovered": 0, "expected": 0}
    for kind, row in kinds.items():
        for key in total:
            total[key] += row[key]
        print(f"{kind:34} {row['runs']:>4} {row['failed']:>4} {row['injected']:>5} {row['no_fault']:>6} "
              f"{row['crash']:>5} {row['hang']:>4} {row['sanitizer']:>3} {row['fd_runs']:>7} "
              f"{row['fd_delta']:>+6} {row['refused']:>7} {row['fallback']:>3} {row['resumed']:>4}/{row['checked']:<4} "
              f"{row['recovered']:>9}/{row['expected']:<9}")
    print("-" * len(header))
    print(f"{'all':34} {total['runs']:>4} {total['failed']:>4} {total['injected']:>5} {'':>6} "
          f"{total['crash']:>5} {total['hang']:>4} {total['sanitizer']:>3} {total['fd_runs']:>7} {'':>6} {'':>7} {'':>3} "
          f"{total['resumed']:>4}/{total['checked']:<4} {total['recovered']:>9}/{total['expected']:<9}")
    print("(inj: faults injected; no-inj: runs where the trigger never fired; fd-runs/fd-sum: runs with "
          "more or fewer fds at exit than the clean run, and the sum of the differences; refused: runs where "
          "a fault before the first picture made the client stop with an error and no output; sw: runs where "
          "the client fell back to software decoding (the device decoded nothing); resumed: runs "
          "where every picture from the IDR after the last fault matched the software decoder, of those "
          "that had such an IDR)")
    if not_run:
        print(f"NOT RUN: {not_run} runs did not start within the time budget")
    print(f"{total['runs']} runs, {total['failed']} failed, in {elapsed:.0f} s")
    return kinds, total


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--client", choices=("ffmpeg", "firefox"), required=True)
    parser.add_argument("--manifest", help="conformance manifest.tsv (its multi-IDR streams join the matrix)")
    parser.add_argument("--budget", type=float, default=900, help="seconds; runs not started by then fail")
    parser.add_argument("--quick", action="store_true",
                        help="10 %% only and no first-call runs (every ioctl x errno, jobs, unplug once)")
    parser.add_argument("--only", help="comma list of fault kinds (e.g. VIDIOC_QBUF:EINVAL,job:hang)")
    parser.add_argument("--report", help="write the results as JSON here")
    args = parser.parse_args()

    started = time.monotonic()
    build = lib.Build(args.build_dir)
    print(f"fault matrix: client {args.client}, build {build.describe()}")
    targets = build.fault_targets()

    streams = []
    x264 = lib.x264_stream(build, *X264_STREAM)
    streams.append(Stream(X264_STREAM[0], x264, lib.software_reference(build, x264)))
    streams[0].full_matrix = True
    if args.manifest and Path(args.manifest).is_file():
        for name in CONFORMANCE_STREAMS:
            path = lib.conformance_stream(args.manifest, name)
            streams.append(Stream(name, path, lib.software_reference(build, path)))

    results, setup_failures = [], []
    runs = []
    for stream in streams:
        outcome, counters, problems = clean_run(build, args.client, stream, bound=300)
        print(f"clean run {stream.name}: {len(stream.reference['frames'])} frames, "
              f"{len(stream.reference['key_frames'])} IDRs, {outcome.elapsed:.1f} s"
              + ("" if not problems else " FAILED: " + "; ".join(problems)))
        if problems:
            setup_failures.append((stream.name, problems))
            continue
        stream.baseline = counters
        # A run that takes 20 times the clean one is hung (a hung job costs the
        # driver's 1 s timeout; 10 % of 120 pictures hung is 12 s).
        stream.bound = max(60.0, 20 * outcome.elapsed)
        runs.extend(plan(stream, targets, args.quick))
    if args.only:
        wanted = set(args.only.split(","))
        runs = [run for run in runs if run.kind in wanted]

    not_run = 0
    for index, run in enumerate(runs):
        if time.monotonic() - started > args.budget:
            not_run = len(runs) - index
            break
        outcome, counters = run_client(build, args.client, run.stream, run.spec, run.stream.bound)
        problems, facts = evaluate(run, args.client, outcome, counters, run.stream.bound)
        results.append((run, problems, facts))
        status = "FAIL" if problems else "PASS"
        resume = ("resumed" if facts["resume"] else "not resumed" if facts["resume"] is False
                  else "refused at set-up" if facts["refused"] else "resume n/a")
        print(f"{status} {run.stream.name} {run.kind} @{run.label}: injected {facts['injected']}, "
              f"exit {outcome.returncode}, {facts['frames']} frames out, {facts['decoded']} decoded, "
              f"{resume}, {outcome.elapsed:.1f} s", flush=True)
        for problem in problems:
            print(f"    {problem}")

    elapsed = time.monotonic() - started
    kinds, total = summarize(results, elapsed, not_run)
    for name, problems in setup_failures:
        print(f"SETUP FAILED {name}: " + "; ".join(problems))
    if args.report:
        Path(args.report).write_text(json.dumps({
            "client": args.client, "build": build.describe(), "elapsed_s": round(elapsed, 1),
            "not_run": not_run, "kinds": kinds, "total": total,
            "failures": [{"stream": r.stream.name, "kind": r.kind, "spec": r.spec, "problems": p}
                         for r, p, _ in results if p]}, indent=1))
    print(f"runtime {elapsed:.0f} s")
    return 1 if total["failed"] or not_run or setup_failures else 0


if __name__ == "__main__":
    sys.exit(main())
