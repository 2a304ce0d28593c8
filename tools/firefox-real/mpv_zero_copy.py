#!/usr/bin/env python3
"""mpv --vo=gpu --hwdec=vaapi (dma-bufs into EGL) through the driver on the
emulated decoder, under Xvfb, with the test-only EGL import layer.

  conformance   every stream of the manifest: mpv must decode it in hardware
                (its log says so, the emulated device decoded the frames) and
                the planes the import layer hashed must be, frame for frame
                and in order, the software decoder's (libavcodec, uncropped,
                cut to what mpv imported: mpv imports the display size and
                leaves top/left cropping to its shader).
  play          a 1080p High clip with B-frames, looping, with a seek every
                few seconds through mpv's JSON IPC, for --duration seconds:
                no error, hardware all the way, every imported plane equal
                to a software-decoded one.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import plane_reference  # noqa: E402
from conformance_lib.manifest import read_manifest  # noqa: E402
from firefox_tier import make_video, xvfb  # noqa: E402

HARDWARE = re.compile(r"Using hardware decoding \((vaapi)\)")
SOFTWARE = re.compile(r"Using software decoding|Falling back to software decoding|hwdec.*(failed|Failed)")
# mpv's log file marks each line's level: [e] error, [f] fatal.
ERRORS = re.compile(r"^\[ *[0-9.]+\]\[(e|f)\]")


@dataclass
class StreamResult:
    name: str
    passed: bool = False
    frames_reference: int = 0
    frames_imported: int = 0
    device_frames: int = 0
    device_errors: int = 0
    problems: list[str] = field(default_factory=list)


def mpv_environment(args, display: str, work: Path, tag: str) -> dict:
    env = dict(os.environ)
    for key in ("WAYLAND_DISPLAY", "LIBVA_V4L2_REQUEST_VIDEO_PATH", "LIBVA_V4L2_REQUEST_MEDIA_PATH",
                "V4L2_EMU_FAULTS", "V4L2_EMU_RECORD"):
        env.pop(key, None)
    env.update({
        "DISPLAY": display,
        "LD_PRELOAD": str(args.emulator),
        "LIBVA_DRIVERS_PATH": str(args.driver_dir),
        "LIBVA_DRIVER_NAME": "v4l2_request",
        "__EGL_VENDOR_LIBRARY_FILENAMES": str(args.egl_vendor),
        "EGL_DMABUF_HASH_LOG": str(work / f"{tag}.imports.jsonl"),
        "V4L2_EMU_COUNTERS": str(work / f"{tag}.counters.jsonl"),
        "V4L2_EMU_PROFILE": args.profile,
    })
    return env


def mpv_command(log: Path, extra: list[str]) -> list[str]:
    return ["mpv", "--no-config", "--vo=gpu", "--gpu-context=x11egl", "--hwdec=vaapi",
            # The same profile map as the other clients (a Baseline stream on
            # the closest VA profile): libavcodec's ALLOW_PROFILE_MISMATCH.
            "--vd-lavc-check-hw-profile=no", "--no-audio", "--osd-level=0", "--no-input-default-bindings",
            "--msg-level=all=warn,vd=v,vo/gpu/vaapi=v", f"--log-file={log}", *extra]


def device_counters(path: Path) -> tuple[int, int]:
    frames = errors = 0
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                c = json.loads(line)
                frames += int(c.get("frames_decoded", 0))
                errors += int(c.get("errors", 0)) + int(c.get("dpb_mismatches", 0))
    return frames, errors


PROBE_START = "Going to probe surface formats"
PROBE_END = "Done probing surface formats"
DECODER_FORMAT = re.compile(r"Decoder format: (\d+)x(\d+) .*vaapi\[nv12\]")


def log_problems(log: Path) -> tuple[bool, list[str]]:
    """Whether mpv decoded in hardware, and the lines that say otherwise.
    mpv's format probe at start-up tries formats the driver refuses (it
    warns that it "may log bogus errors"); lines inside it do not count."""
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    hardware = bool(HARDWARE.search(text))
    problems, probing = [], False
    for line in text.splitlines():
        if PROBE_START in line:
            probing = True
        elif PROBE_END in line:
            probing = False
        elif SOFTWARE.search(line) or (not probing and ERRORS.search(line) and "libva info" not in line):
            problems.append(line.strip())
    return hardware, problems


def probe_failure(log: Path) -> str:
    """Why mpv's start-up format probe found nothing to map, if it says."""
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    for line in text.splitlines():
        if "vaExportSurfaceHandle() failed" in line:
            return ": its format probe could not export a fresh surface (" + line.split("]")[-1].strip() + ")"
    return ""


def decoded_size(log: Path) -> tuple[int, int] | None:
    """The picture size mpv's hardware decoder outputs (its log's "Decoder format")."""
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    m = DECODER_FORMAT.search(text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def imported_frames(imports: list[dict]) -> list[tuple[str, str]]:
    """(Y MD5, CbCr MD5) per picture mpv mapped: an R8 import followed by
    the GR88 import of the same buffer."""
    frames = []
    pending: dict | None = None
    for record in imports:
        if record["fourcc"] == "R8":
            pending = record
        elif record["fourcc"] == "GR88" and pending and pending["buffer"] == record["buffer"]:
            frames.append((pending["planes"][0], record["planes"][0]))
            pending = None
    return frames


def check_stream(args, display: str, work: Path, stream) -> StreamResult:
    result = StreamResult(stream.name)
    log = work / f"{stream.name}.mpv.log"
    env = mpv_environment(args, display, work, stream.name)
    command = mpv_command(log, ["--untimed", "--framedrop=no", "--video-sync=audio", str(stream.path)])
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=args.stream_timeout)
        (work / f"{stream.name}.mpv.out").write_text(done.stdout + done.stderr, encoding="utf-8")
        if done.returncode != 0:
            result.problems.append(f"mpv exit status {done.returncode}")
    except subprocess.TimeoutExpired:
        result.problems.append(f"mpv did not finish within {args.stream_timeout} s")
    hardware, lines = log_problems(log)
    if not hardware:
        result.problems.append("mpv did not use hardware decoding (vaapi)" + probe_failure(log))
    result.problems += lines[:5]
    result.device_frames, result.device_errors = device_counters(work / f"{stream.name}.counters.jsonl")
    if result.device_errors:
        result.problems.append(f"{result.device_errors} device errors / DPB mismatches")
    imports = plane_reference.read_import_log(work / f"{stream.name}.imports.jsonl")
    # mpv's start-up probe imports a never-decoded surface of its own size
    # (128x128): only pictures of the decoder's size are the stream's.
    size = decoded_size(log)
    imports = [r for r in imports if size and (int(r["width"]), int(r["height"])) in
               (size, ((size[0] + 1) // 2, (size[1] + 1) // 2))]
    frames = imported_frames(imports)
    result.frames_imported = len(frames)
    if frames:
        y_shape = next((r["fourcc"], int(r["width"]), int(r["height"])) for r in imports if r["fourcc"] == "R8")
        uv_shape = next((r["fourcc"], int(r["width"]), int(r["height"])) for r in imports if r["fourcc"] == "GR88")
        reference = plane_reference.reference_hashes(stream.path, {y_shape, uv_shape})
        expected = list(zip(reference.planes[y_shape], reference.planes[uv_shape]))
        result.frames_reference = len(expected)
        compare_sequences(result, frames, expected)
    else:
        result.problems.append("no picture was imported through EGL")
    result.passed = not result.problems
    return result


def compare_sequences(result: StreamResult, imported: list, expected: list) -> None:
    # mpv maps each picture once; a repeated map of the same picture (a
    # redraw) is dropped before comparing.
    shown = [f for i, f in enumerate(imported) if i == 0 or f != imported[i - 1]]
    if shown == expected:
        return
    for i, (got, want) in enumerate(zip(shown, expected)):
        if got != want:
            result.problems.append(f"picture {i} differs from the software decoder's (Y {got[0]} vs {want[0]})")
            return
    result.problems.append(f"{len(shown)} pictures shown, the software decoder outputs {len(expected)}")


def run_conformance(args, work: Path) -> int:
    streams = read_manifest(args.manifest)
    if args.only:
        streams = [s for s in streams if s.name in args.only]
    with xvfb(work) as display:
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(lambda s: check_stream(args, display, work, s), streams))
    passed = 0
    for r in results:
        passed += r.passed
        status = "PASS" if r.passed else "FAIL"
        print(f"{status} {r.name}: pictures imported {r.frames_imported}/{r.frames_reference}, "
              f"device frames {r.device_frames}, device errors {r.device_errors}")
        for problem in r.problems[:6]:
            print(f"     {problem}")
    print(f"\nmpv --hwdec=vaapi zero-copy: {passed}/{len(results)} streams bit-exact through the EGL import")
    return 0 if passed == len(results) else 1


# ---- play ----

def ipc_command(sock: socket.socket, reader, *command) -> dict:
    """Sends one command and reads until its reply (mpv also sends events
    to every client; a client that never reads makes mpv drop it)."""
    sock.sendall((json.dumps({"command": list(command)}) + "\n").encode())
    while True:
        line = reader.readline()
        if not line:
            return {"error": "connection closed"}
        reply = json.loads(line)
        if "error" in reply and "event" not in reply:
            return reply


def run_play(args, work: Path) -> int:
    clip = work / "clip.mp4"
    make_video(clip, args.clip_seconds)
    ipc_path = work / "mpv.sock"
    log = work / "play.mpv.log"
    with xvfb(work) as display:
        env = mpv_environment(args, display, work, "play")
        # A small window keeps llvmpipe's scaling cheap; the imports are the
        # full 1080p planes either way. Frames may be dropped at display
        # (mpv's default), never at decode.
        command = mpv_command(log, ["--loop-file=inf", "--geometry=640x360", "--autofit=640x360",
                                    f"--input-ipc-server={ipc_path}", str(clip)])
        mpv = subprocess.Popen(command, env=env, stdout=(work / "play.mpv.out").open("w"),
                               stderr=subprocess.STDOUT)
        seeks, seek_errors = 0, []
        try:
            sock = connect_ipc(ipc_path, mpv)
            reader = sock.makefile("r", encoding="utf-8")
            start = time.monotonic()
            while time.monotonic() - start < args.duration and mpv.poll() is None:
                time.sleep(args.seek_interval)
                seeks += 1
                reply = ipc_command(sock, reader, "seek", f"{(seeks * 2.618) % args.clip_seconds:.3f}", "absolute")
                if reply.get("error") != "success":
                    seek_errors.append(str(reply))
            played = time.monotonic() - start
            ipc_command(sock, reader, "quit")
            sock.close()
            code = mpv.wait(60)
        except Exception:
            mpv.kill()
            mpv.wait()
            raise
    hardware, problems = log_problems(log)
    frames, device_errors = device_counters(work / "play.counters.jsonl")
    imports = plane_reference.read_import_log(work / "play.imports.jsonl")
    shapes = plane_reference.import_shapes(imports)
    reference = plane_reference.reference_hashes(clip, shapes) if shapes else None
    known = {shape: set(h) for shape, h in reference.planes.items()} if reference else {}
    # mpv's format probe imports one fresh 128x128 surface before decoding:
    # it holds no picture (the driver gives it staging memory), so it has no
    # reference to match. Every other import must be a decoded picture.
    probe = [r for r in imports if (int(r["width"]), int(r["height"])) in ((128, 128), (64, 64))]
    imports = [r for r in imports if r not in probe]
    exact = sum(1 for r in imports if r["planes"][0] in known.get((r["fourcc"], int(r["width"]),
                                                                   int(r["height"])), ()))
    checks = [
        ("seconds played", f"{played:.0f}", played >= args.duration - 1),
        ("seeks (refused)", f"{seeks} ({len(seek_errors)})", seeks >= args.min_seeks and not seek_errors),
        ("hardware decoding (vaapi) in mpv's log", hardware, hardware),
        ("errors / fallbacks in mpv's log", len(problems), not problems),
        ("frames decoded by the device", frames, frames > 0),
        ("device errors / DPB mismatches", device_errors, device_errors == 0),
        ("imported planes bit-exact", f"{exact}/{len(imports)} (+{len(probe)} of the format probe)",
         imports and exact == len(imports)),
        ("mpv exit status", code, code == 0),
    ]
    print("\n==== mpv zero-copy play ====")
    for name, value, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'} {name}: {value}")
    for line in problems[:10]:
        print(f"     {line}")
    ok = all(ok for _, _, ok in checks)
    print("RESULT:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


def connect_ipc(path: Path, mpv: subprocess.Popen) -> socket.socket:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and mpv.poll() is None:
        try:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(str(path))
            return sock
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("mpv's IPC socket never appeared")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", type=Path, required=True)
    p.add_argument("--work", type=Path)
    p.add_argument("--profile", default="hantro", help="V4L2_EMU_PROFILE")
    sub = p.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("conformance")
    c.add_argument("--manifest", type=Path, required=True)
    c.add_argument("--jobs", type=int, default=2)
    c.add_argument("--stream-timeout", type=float, default=180)
    c.add_argument("only", nargs="*", help="stream names (default: all)")
    pl = sub.add_parser("play")
    pl.add_argument("--duration", type=float, default=120)
    pl.add_argument("--seek-interval", type=float, default=5)
    pl.add_argument("--min-seeks", type=int, default=20)
    pl.add_argument("--clip-seconds", type=int, default=12)
    args = p.parse_args()
    build = args.build_dir.resolve()
    args.emulator = build / "tools/emulator/libv4l2-emulator.so"
    args.driver_dir = build / "src"
    args.egl_vendor = build / "tools/egl-dmabuf/egl_dmabuf_vendor.json"
    if args.work is None:
        args.work = build / "meson-logs" / f"mpv-zero-copy-{args.mode}"
    return args


def main() -> int:
    args = parse_args()
    for tool in ("mpv", "Xvfb", "ffmpeg"):
        if not shutil.which(tool):
            print(f"mpv-zero-copy: {tool} is not installed (tools/bootstrap installs it)", file=sys.stderr)
            return 1
    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    return run_conformance(args, work) if args.mode == "conformance" else run_play(args, work)


if __name__ == "__main__":
    sys.exit(main())
