"""tools/demo's Python side: makes the clip when the conformance set is absent,
prints the table a user reads first, and draws the contact sheet.

  demo.py make-clip OUT_DIR            -> OUT_DIR/manifest.tsv with one 1080p clip
  demo.py report MANIFEST RESULTS.jsonl OUT_DIR   -> table + OUT_DIR/<clip>/contact-sheet.png
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from . import clients, generated, manifest, rawvideo, runner

CLIP_NAME = "generated_1080p_high"
CLIP_SECONDS = 3
CLIP_RATE = 25
SHEET_FRAMES = 4
SHEET_WIDTH = 480   # each picture is scaled to this width on the sheet


def make_clip(out_dir: Path) -> Path:
    """A 1080p High-profile clip with B-frames from libx264 (a few seconds of
    FFmpeg's test pattern), and a manifest whose expected MD5 is libavcodec's
    software decode of it (no conversion, exact crop)."""
    streams = out_dir / "streams"
    streams.mkdir(parents=True, exist_ok=True)
    clip = streams / f"{CLIP_NAME}.264"
    frames = CLIP_SECONDS * CLIP_RATE
    generated.run_checked(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size=1920x1080:rate={CLIP_RATE}", "-frames:v", str(frames),
                    "-pix_fmt", "yuv420p", "-c:v", "libx264", "-profile:v", "high",
                    "-preset", "veryfast", "-x264-params", "bframes=3:b-adapt=0:ref=3",
                    "-f", "h264", str(clip)], "x264 demo clip")
    decoded = clip.with_suffix(".yuv")
    try:
        expected = generated.software_decode(clip, decoded)
    finally:
        decoded.unlink(missing_ok=True)
    (out_dir / "manifest.tsv").write_text(
        "name\tfile\texpected_md5\tfeatures\n"
        f"{CLIP_NAME}\tstreams/{clip.name}\t{expected}\t1920x1080 {frames}f; "
        "High, CABAC, B-frames (libx264, made now); expected: libavcodec software decode\n",
        encoding="utf-8")
    return out_dir / "manifest.tsv"


def _frame_indices(frames: int) -> list[int]:
    if frames <= SHEET_FRAMES:
        return list(range(frames))
    return [round(i * (frames - 1) / (SHEET_FRAMES - 1)) for i in range(SHEET_FRAMES)]


def _packed_frames(path: Path, layout: rawvideo.FrameLayout, indices: list[int]) -> bytes:
    """The chosen frames of a client's output, as packed I420."""
    chunks: list[bytes] = []
    with open(path, "rb") as video:
        for index in indices:
            video.seek(index * layout.frame_size)
            frame = video.read(layout.frame_size)
            if len(frame) < layout.frame_size:
                break
            for plane in layout.planes:
                rawvideo.pack_plane(chunks.append, frame, plane)
    return b"".join(bytes(chunk) for chunk in chunks)


def _software_frames(stream: Path, indices: list[int]) -> bytes:
    select = "+".join(f"eq(n\\,{i})" for i in indices)
    completed = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-flags", "+unaligned", "-i", str(stream),
         "-vf", f"select={select}", "-fps_mode", "passthrough", "-f", "rawvideo", "-"],
        stdin=subprocess.DEVNULL, capture_output=True, check=True)
    return completed.stdout


def contact_sheet(stream: manifest.Stream, work_dir: Path, frames: int) -> Path | None:
    """Top row: frames decoded through the driver; bottom row: the same
    frames from libavcodec's software decoder."""
    output = work_dir / "decoded.yuv"
    if not output.is_file() or frames <= 0:
        return None
    geometry = runner.probe_geometry(stream.path, clients.FfmpegClient.crops)
    layout = clients.FfmpegClient().output_layout(geometry)
    indices = _frame_indices(frames)
    driver_frames = _packed_frames(output, layout, indices)
    software = _software_frames(stream.path, indices)
    size = f"{geometry.width}x{geometry.height}"
    sheet = work_dir / "contact-sheet.png"
    driver_raw, software_raw = work_dir / "sheet-driver.i420", work_dir / "sheet-software.i420"
    driver_raw.write_bytes(driver_frames)
    software_raw.write_bytes(software)
    count = len(indices)
    graph = (f"[0:v]scale={SHEET_WIDTH}:-2,tile={count}x1:padding=4:color=white[top];"
             f"[1:v]scale={SHEET_WIDTH}:-2,tile={count}x1:padding=4:color=white[bottom];"
             "[top][bottom]vstack")
    try:
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y",
                        "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", size, "-i", str(driver_raw),
                        "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", size, "-i", str(software_raw),
                        "-filter_complex", graph, "-frames:v", "1", str(sheet)],
                       stdin=subprocess.DEVNULL, capture_output=True, check=True)
    finally:
        driver_raw.unlink(missing_ok=True)
        software_raw.unlink(missing_ok=True)
    return sheet


def report(manifest_path: Path, results_path: Path, out_dir: Path) -> int:
    streams = {s.name: s for s in manifest.read_manifest(manifest_path)}
    results = [json.loads(line) for line in results_path.read_text().splitlines() if line.strip()]
    print(f"{'clip':24} {'size':>10} {'frames':>6} {'frames/s':>9} {'bit-exact':>10} "
          f"{'device decoded':>14}")
    sheets = []
    for result in results:
        stream = streams[result["name"]]
        size = stream.features.split()[0] if stream.features else "?"
        fps = result["frames"] / result["seconds"] if result["seconds"] > 0 else 0.0
        exact = "yes" if result["passed"] else "NO"
        device = result["device_frames"] if result["device_frames"] >= 0 else "-"
        print(f"{result['name']:24} {size:>10} {result['frames']:>6} {fps:>9.1f} {exact:>10} "
              f"{device:>14}")
        if not result["passed"]:
            print(f"  why not: {result['reason']}")
        try:
            sheet = contact_sheet(stream, out_dir / result["name"], result["frames"])
        except (subprocess.CalledProcessError, ValueError, OSError) as error:
            print(f"  contact sheet failed: {error}")
            sheet = None
        if sheet:
            sheets.append(sheet)
    print()
    print("frames/s: output frames / wall time of the whole ffmpeg run (start-up included).")
    print("bit-exact: MD5 of every output frame equals the reference "
          "(published checksum, or libavcodec's software decode of a generated clip).")
    print("device decoded: pictures the (emulated) V4L2 decoder decoded (a field pair counts "
          "twice): the frames went through the driver, not a software fallback.")
    for sheet in sheets:
        print(f"contact sheet (top: through the driver, bottom: software decode): {sheet}")
    return 0 if results and all(r["passed"] for r in results) else 1


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "make-clip":
        print(make_clip(Path(argv[1])))
        return 0
    if len(argv) == 4 and argv[0] == "report":
        return report(Path(argv[1]), Path(argv[2]), Path(argv[3]))
    print(__doc__, file=sys.stderr)
    return 2
