"""tools/conformance: runs every stream of a manifest through one client with
the emulated decoder preloaded and checks the MD5 of the whole decoded output
against expected_md5, plus the emulator's counters (so a silent software
fallback fails)."""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import build, clients, counters, h264_trace, manifest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "umockdev"))
import testbed  # noqa: E402  (tools/umockdev/testbed.py)

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent


@dataclasses.dataclass
class StreamResult:
    name: str
    passed: bool
    reason: str = ""
    details: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)  # printed even on PASS
    seconds: float = 0.0        # wall time of the client run
    frames: int = 0             # frames in the client's output
    md5: str = ""
    device_frames: int = -1     # pictures the emulated device decoded (-1: not a hardware run)

    def line(self) -> str:
        return f"PASS {self.name}" if self.passed else f"FAIL {self.name}: {self.reason}"


Geometry = clients.Geometry


def read_crop_window(stream_path: Path) -> h264_trace.CropWindow:
    """The first SPS's crop window, read by FFmpeg's header parser."""
    trace = h264_trace.parse(h264_trace.trace_headers(stream_path, max_frames=1))
    if not trace.sps:
        raise ValueError("no sequence parameter set in the first access unit")
    return h264_trace.crop_window(trace.sps[0])


def probe_geometry(stream_path: Path, crops: str = clients.CROPS_ALL) -> Geometry:
    """Cropped picture size of the first video stream (ffprobe, software),
    and, for a client that leaves part of the crop to the application, the
    SPS crop window (H.264 only: VP8/VP9 frames have no crop window)."""
    completed = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0",
         "-show_entries", "stream=width,height", "-of", "csv=p=0", str(stream_path)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    fields = completed.stdout.strip().split(",")
    if completed.returncode != 0 or len(fields) != 2 or not all(f.isdigit() for f in fields):
        raise ValueError(f"ffprobe cannot read the picture size: {completed.stderr.strip()}")
    needs_crop = crops != clients.CROPS_ALL and clients.stream_codec(stream_path) == "h264"
    crop = read_crop_window(stream_path) if needs_crop else h264_trace.CropWindow()
    return Geometry(int(fields[0]), int(fields[1]), crop)


def count_output_frames(stream_path: Path) -> int:
    """Frames a software decoder outputs for the stream (ffprobe -count_frames)."""
    completed = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
         "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(stream_path)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    value = completed.stdout.strip()
    if completed.returncode != 0 or not value.isdigit():
        raise ValueError(f"ffprobe cannot count frames: {completed.stderr.strip()}")
    return int(value)


def _tail(path: Path, lines: int = 6) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def run_client(argv: list[str], env: dict[str, str], work_dir: Path,
               timeout: float) -> tuple[int | None, float]:
    """Runs a client in its own process group; returns (exit code or None on
    timeout, seconds taken)."""
    started = time.monotonic()
    with open(work_dir / clients.STDOUT_NAME, "wb") as stdout, \
         open(work_dir / clients.STDERR_NAME, "wb") as stderr:
        process = subprocess.Popen(argv, env=env, cwd=work_dir, stdin=subprocess.DEVNULL,
                                   stdout=stdout, stderr=stderr, start_new_session=True)
        try:
            returncode = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # umockdev-run and gst-plugin-scanner are children: end the group.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return None, time.monotonic() - started
    return returncode, time.monotonic() - started


def check_stream(stream: manifest.Stream, client: clients.Client,
                 context: clients.RunContext, work_dir: Path) -> StreamResult:
    result = StreamResult(stream.name, passed=False)
    if not stream.path.is_file():
        result.reason = f"stream file not found: {stream.path}"
        return result
    try:
        geometry = probe_geometry(stream.path, client.crops)
        invocation = client.invocation(stream.path, work_dir, context)
    except (ValueError, clients.ClientSetupError) as error:
        result.reason = str(error)
        return result
    result.details.append("command: " + " ".join(invocation.argv))

    returncode, seconds = run_client(invocation.argv, invocation.env, work_dir,
                                     context.timeout)
    result.details.append(f"exit {returncode} after {seconds:.1f}s")
    result.seconds = seconds
    stderr_tail = _tail(work_dir / clients.STDERR_NAME)
    if stderr_tail:
        result.details.append("stderr: " + stderr_tail)
    if returncode is None:
        result.reason = f"timed out after {context.timeout:.0f}s"
        return result
    if returncode != 0:
        result.reason = f"{client.name} exited with {returncode}: {stderr_tail}"
        return result
    if not invocation.output_path.is_file():
        result.reason = f"{client.name} wrote no output"
        return result

    decoded = client.read_output(invocation, geometry)
    result.frames, result.md5 = decoded.frames, decoded.md5
    result.details.append(f"md5 {decoded.md5 or '-'} frames {decoded.frames} "
                          f"({geometry.width}x{geometry.height})")
    crop_note = client.crop_note(geometry)
    if crop_note:
        result.notes.append(crop_note)
    if decoded.problem:
        result.reason = decoded.problem
        return result

    if client.hardware:
        try:
            totals = counters.read_counters(invocation.counters_path)
        except counters.CountersError as error:
            result.reason = f"unreadable emulator counters: {error}"
            return result
        result.details.append("counters: " + totals.summary())
        result.device_frames = totals.frames_decoded
        output_frames = decoded.frames
        if output_frames < 0:
            try:
                output_frames = count_output_frames(stream.path)
            except ValueError as error:
                result.reason = str(error)
                return result
        failure = counters.hardware_decode_failure(totals, output_frames, context.profile)
        if failure:
            result.reason = failure
            return result

    if decoded.md5 != stream.expected_md5:
        result.reason = (f"md5 {decoded.md5} != expected {stream.expected_md5} "
                         f"({decoded.frames} frames)")
        return result
    result.passed = True
    return result


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="conformance", description=__doc__,
        epilog="Each stream prints `PASS name` or `FAIL name: reason`; the last line "
               "is `N passed, M failed`; the exit status is 1 on any failure.")
    parser.add_argument("manifest", type=Path, help="manifest.tsv (shared format)")
    parser.add_argument("--client", default="ffmpeg", choices=sorted(clients.CLIENTS),
                        metavar="{" + ",".join(clients.PUBLIC_CLIENTS) + "}",
                        help="client that decodes the streams (default ffmpeg)")
    parser.add_argument("--build-dir", type=Path, default=PROJECT_DIR / "build",
                        help="meson build dir with the driver and emulator "
                             "(default <project>/build; set up and built if missing)")
    parser.add_argument("--no-build", action="store_true",
                        help="fail instead of building missing artifacts")
    parser.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1,
                        help="streams decoded in parallel (default: nproc)")
    parser.add_argument("--only", default="",
                        help="comma-separated stream names to run")
    parser.add_argument("--skip", default="",
                        help="comma-separated stream names not to run (each printed as SKIP): "
                             "streams the emulated device refuses by its kernel driver's rules")
    parser.add_argument("--profile", default="hantro", choices=sorted(testbed.VPUS),
                        help="emulated decoder (V4L2_EMU_PROFILE, default hantro)")
    parser.add_argument("--keep-output", type=Path, metavar="DIR",
                        help="keep each stream's output, logs and counters in DIR/NAME/")
    parser.add_argument("--threads", type=int, default=1,
                        help="decoding threads for ffmpeg/mpv (default 1; 0: the "
                             "client's automatic choice, several pictures in flight)")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds before one client run is killed (default 600)")
    parser.add_argument("--report-json", type=Path, metavar="FILE",
                        help="also write every stream's result as JSON lines (name, passed, "
                             "reason, seconds, frames, md5, device_frames, notes)")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="print commands, counters and MD5s (to stderr)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.threads < 0:
        parser.error("--threads must be 0 or more")
    return args


def _write_json_report(path: Path, results: list[StreamResult]) -> None:
    with open(path, "w", encoding="utf-8") as report:
        for result in results:
            record = dataclasses.asdict(result)
            record.pop("details")
            report.write(json.dumps(record) + "\n")


def _report(results: list[StreamResult]) -> int:
    passed = sum(1 for result in results if result.passed)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 and passed > 0 else 1


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        streams = manifest.select_streams(
            manifest.read_manifest(args.manifest),
            [name.strip() for name in args.only.split(",") if name.strip()])
    except (OSError, manifest.ManifestError) as error:
        print(f"conformance: {error}", file=sys.stderr)
        return 2
    skipped = {name.strip() for name in args.skip.split(",") if name.strip()}
    for stream in streams:
        if stream.name in skipped:
            print(f"SKIP {stream.name}", flush=True)
    streams = [stream for stream in streams if stream.name not in skipped]

    client = clients.CLIENTS[args.client]()
    build_dir = args.build_dir.resolve()

    with tempfile.TemporaryDirectory(prefix=f"conformance-{client.name}-") as run_dir_name:
        run_dir = Path(run_dir_name)
        context = clients.RunContext(run_dir=run_dir, profile=args.profile,
                                     timeout=args.timeout,
                                     decoder_threads=args.threads)
        try:
            artifacts = build.ensure_artifacts(PROJECT_DIR, build_dir, client.needs,
                                               allow_build=not args.no_build)
            if "driver" in artifacts:
                context.driver_dir = artifacts["driver"].parent
            context.emulator_lib = artifacts.get("emulator")
            context.firefox_client = artifacts.get("firefox")
            if client.needs_testbed:
                context.testbed = testbed.write_testbed(run_dir / "devices.umockdev",
                                                        args.profile)
            client.prepare(context)
        except (build.BuildError, clients.ClientSetupError, OSError,
                subprocess.TimeoutExpired) as error:
            # Every stream fails with the set-up reason, so the report keeps its shape.
            results = [StreamResult(stream.name, False, f"set-up failed: {error}")
                       for stream in streams]
            for result in results:
                print(result.line(), flush=True)
            return _report(results)

        def run_one(stream: manifest.Stream) -> StreamResult:
            if args.keep_output:
                work_dir = args.keep_output.resolve() / stream.name
                shutil.rmtree(work_dir, ignore_errors=True)
                work_dir.mkdir(parents=True)
            else:
                work_dir = run_dir / "streams" / stream.name
                work_dir.mkdir(parents=True)
            try:
                return check_stream(stream, client, context, work_dir)
            finally:
                if not args.keep_output:
                    shutil.rmtree(work_dir, ignore_errors=True)

        results: list[StreamResult] = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            # map() yields in manifest order, so the report is deterministic.
            for result in pool.map(run_one, streams):
                results.append(result)
                print(result.line(), flush=True)
                for note in result.notes:
                    print(f"  {result.name}: {note}", file=sys.stderr, flush=True)
                if args.verbose or not result.passed:
                    for detail in result.details:
                        print(f"  {result.name}: {detail}", file=sys.stderr, flush=True)
        if args.report_json:
            _write_json_report(args.report_json, results)
        return _report(results)
