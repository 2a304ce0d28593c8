"""Streams made at test time with Debian's encoders, for what the ITU-T set
lacks or what must not depend on it:

- set `pixels`: full-range (video_full_range_flag = 1) and cropped streams
  (top/left crop window, odd sizes) from libx264 through ffmpeg;
- set `ltr`: long-term reference pictures from libopenh264's encoder
  (tools/streams/openh264_ltr.cpp): IDR marked long-term, MMCO 3/4/6,
  LongTermFrameIdx reuse, long-term references in list modification; and
  MMCO 2, which no Debian encoder writes, by rewriting the marking of
  openh264 streams into its explicit equivalent (mmco_rewrite.py; the
  rewritten stream must decode to the same pixels as the original).

Each stream is checked before it is used: FFmpeg's header parser
(trace_headers) must find the syntax the stream exists for, and the
expected MD5 is libavcodec's software decode written without any conversion
(exact crop, no range change). Where libopenh264's decoder supports the
stream (openh264's own streams, x264's Constrained Baseline), its output must agree: a second opinion that
shares no code with libavcodec (which the emulator's backend also uses).

The result is a manifest of the shared format (tools/conformance reads it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
from pathlib import Path
from typing import Callable

from . import h264_trace, mmco_rewrite

SETS = ("pixels", "ltr")


class GenerationError(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True)
class StreamSpec:
    name: str
    set_name: str
    features: str
    make: Callable[["Generator", Path], None]
    # What FFmpeg's parser must find in the stream (see `_check_syntax`).
    requires: tuple[str, ...]
    # libopenh264's decoder agrees with libavcodec on it (its own streams and
    # Constrained Baseline; not on x264's High streams with B-frames).
    second_opinion: bool = False


@dataclasses.dataclass
class GeneratedStream:
    spec: StreamSpec
    path: Path
    expected_md5: str
    frames: int
    syntax: str
    second_opinion: str


def run_checked(argv: list[str], what: str) -> subprocess.CompletedProcess:
    completed = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, check=False)
    if completed.returncode != 0:
        raise GenerationError(f"{what}: `{' '.join(argv)}` exited with "
                              f"{completed.returncode}: {completed.stderr.strip()[-400:]}")
    return completed


def _x264(size: str, frames: int, pix_fmt: str, x264_params: str, profile: str,
          extra: tuple[str, ...] = ()) -> Callable[["Generator", Path], None]:
    def make(generator: "Generator", out: Path) -> None:
        run_checked(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
              f"testsrc2=size={size}:rate=25", "-frames:v", str(frames),
              "-pix_fmt", pix_fmt, "-c:v", "libx264", "-profile:v", profile,
              "-preset", "veryfast", "-threads", "1", *extra,
              "-x264-params", x264_params, "-f", "h264", str(out)], f"x264 {out.name}")
    return make


def _openh264(*options: str, frames: int = 60, size: str = "176x144") -> Callable[["Generator", Path], None]:
    def make(generator: "Generator", out: Path) -> None:
        source = out.with_suffix(".i420")
        run_checked(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
              f"testsrc2=size={size}:rate=25", "-frames:v", str(frames),
              "-f", "rawvideo", "-pix_fmt", "yuv420p", str(source)], "source frames")
        try:
            run_checked([str(generator.openh264_tool()), "encode", "--input", str(source),
                  "--size", size, "--frames", str(frames), "--output", str(out), *options],
                 f"openh264 {out.name}")
        finally:
            source.unlink(missing_ok=True)
    return make


def _with_explicit_mmco2(make: Callable[["Generator", Path], None]) -> Callable[["Generator", Path], None]:
    def rewritten(generator: "Generator", out: Path) -> None:
        original = out.with_suffix(".original.264")
        make(generator, original)
        decoded = out.with_suffix(".original.yuv")
        try:
            data, added = mmco_rewrite.rewrite(original.read_bytes(), h264_trace.read(original))
            if added == 0:
                raise GenerationError(f"{out.name}: no LongTermFrameIdx reuse to make explicit")
            out.write_bytes(data)
            before = software_decode(original, decoded)
            after = software_decode(out, decoded)
        except mmco_rewrite.RewriteError as error:
            raise GenerationError(f"{out.name}: {error}") from error
        finally:
            original.unlink(missing_ok=True)
            decoded.unlink(missing_ok=True)
        if before != after:
            raise GenerationError(f"{out.name}: the MMCO 2 rewrite changed the decoded pixels")
    return rewritten


SPECS: tuple[StreamSpec, ...] = (
    StreamSpec("fullrange_high", "pixels",
               "176x144 30f; High CABAC B-frames, video_full_range_flag=1 (x264 range=pc)",
               _x264("176x144", 30, "yuvj420p", "range=pc:bframes=3:ref=3", "high"),
               requires=("full_range",)),
    StreamSpec("crop_topleft_high", "pixels",
               "186x158 30f; High CABAC B-frames, SPS crop left 16 top 8 right 6 bottom 10 (x264 crop-rect)",
               _x264("208x176", 30, "yuv420p", "crop-rect=16,8,6,10:bframes=3:ref=3", "high"),
               requires=("crop_top_left",)),
    StreamSpec("fullrange_crop_baseline", "pixels",
               "182x150 20f; Constrained Baseline, full range, SPS crop left 8 top 6 right 2 bottom 4",
               _x264("192x160", 20, "yuvj420p", "range=pc:crop-rect=8,6,2,4", "baseline"),
               requires=("full_range", "crop_top_left"), second_opinion=True),
    StreamSpec("oddsize_high", "pixels",
               "174x142 20f; High, odd macroblock remainder: right/bottom crop only",
               _x264("174x142", 20, "yuv420p", "bframes=2", "high"),
               requires=("crop_right_bottom",)),
    StreamSpec("ltr_idr_mmco6", "ltr",
               "176x144 60f; openh264 LTR, lossless link: IDR long-term, MMCO 4 and 6, "
               "long-term refs in list modification",
               _openh264("--ltr", "2", "--lossless-link"),
               requires=("IDR long-term", "MMCO 4", "MMCO 6", "long-term ref in list modification"),
               second_opinion=True),
    StreamSpec("ltr_mmco3_reuse", "ltr",
               "176x144 60f; openh264 LTR with marking feedback every 5 frames: MMCO 3 "
               "conversions reusing LongTermFrameIdx",
               _openh264("--ltr", "2", "--feedback", "--mark-period", "5"),
               requires=("IDR long-term", "MMCO 3", "MMCO 6", "LongTermFrameIdx reuse"),
               second_opinion=True),
    StreamSpec("ltr_recovery", "ltr",
               "176x144 60f; openh264 LTR, two recovery requests: prediction from long-term "
               "pictures after MMCO 3",
               _openh264("--ltr", "2", "--feedback", "--mark-period", "5", "--recover-at", "20,40"),
               requires=("MMCO 3", "LongTermFrameIdx reuse", "long-term ref in list modification"),
               second_opinion=True),
    StreamSpec("ltr_screen", "ltr",
               "176x144 60f; openh264 screen content, 4 LTRs: every picture MMCO 4 + MMCO 6 "
               "and predicts from a long-term picture",
               _openh264("--usage", "screen", "--ltr", "4", "--lossless-link"),
               requires=("IDR long-term", "MMCO 4", "MMCO 6", "LongTermFrameIdx reuse",
                         "long-term ref in list modification"),
               second_opinion=True),
    StreamSpec("ltr_temporal_layers", "ltr",
               "176x144 60f; openh264 LTR with 2 temporal layers, 4 refs (non-reference "
               "pictures between long-term marks)",
               _openh264("--ltr", "2", "--feedback", "--mark-period", "5",
                         "--temporal-layers", "2", "--ref-frames", "4"),
               requires=("IDR long-term", "MMCO 3", "LongTermFrameIdx reuse"),
               second_opinion=True),
    StreamSpec("ltr_idr_repeat", "ltr",
               "176x144 60f; openh264 LTR across two IDRs (long-term marking starts again), "
               "recovery requests",
               _openh264("--ltr", "2", "--lossless-link", "--mark-period", "4",
                         "--idr-at", "30", "--recover-at", "15,45"),
               requires=("IDR long-term", "MMCO 6", "long-term ref in list modification"),
               second_opinion=True),
    StreamSpec("ltr_mmco2", "ltr",
               "176x144 60f; ltr_mmco3_reuse with each implicit long-term unmarking made an "
               "explicit MMCO 2 before the MMCO 3 (rewritten marking)",
               _with_explicit_mmco2(_openh264("--ltr", "2", "--feedback", "--mark-period", "5",
                                              "--recover-at", "30")),
               requires=("MMCO 2", "MMCO 3", "MMCO 6", "long-term ref in list modification"),
               second_opinion=True),
    StreamSpec("ltr_screen_mmco2", "ltr",
               "176x144 60f; ltr_screen with explicit MMCO 2 before each MMCO 6 that reuses "
               "an index: MMCO 2, 4 and 6 on most pictures",
               _with_explicit_mmco2(_openh264("--usage", "screen", "--ltr", "4", "--lossless-link")),
               requires=("MMCO 2", "MMCO 4", "MMCO 6", "long-term ref in list modification"),
               second_opinion=True),
    StreamSpec("ltr_cabac", "ltr",
               "176x144 60f; openh264 LTR with CABAC (Main), marking feedback: MMCO 3 and 6",
               _openh264("--ltr", "2", "--feedback", "--mark-period", "5", "--cabac"),
               requires=("IDR long-term", "MMCO 3", "MMCO 6", "LongTermFrameIdx reuse"),
               second_opinion=True),
)


def _syntax_found(trace: h264_trace.Trace) -> list[str]:
    found = h264_trace.long_term_summary(trace).patterns()
    for sps in trace.sps:
        if sps.get("video_full_range_flag"):
            found.append("full_range")
        crop = h264_trace.crop_window(sps)
        if crop.left or crop.top:
            found.append("crop_top_left")
        if crop.right or crop.bottom:
            found.append("crop_right_bottom")
    return sorted(set(found))


def md5_of_file(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as data:
        while chunk := data.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def software_decode(stream: Path, out: Path) -> str:
    """libavcodec's decode, written as it comes out: its own 8-bit 4:2:0
    layout (yuv420p or yuvj420p, the same bytes), exact crop."""
    probe = run_checked(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                  "stream=pix_fmt", "-of", "csv=p=0", str(stream)], "ffprobe")
    pix_fmt = probe.stdout.strip()
    if pix_fmt not in ("yuv420p", "yuvj420p"):
        raise GenerationError(f"{stream.name}: libavcodec decodes to {pix_fmt}, not 8-bit 4:2:0")
    run_checked(["ffmpeg", "-nostdin", "-v", "error", "-y", "-threads", "1", "-flags", "+unaligned",
          "-i", str(stream), "-fps_mode", "passthrough", "-f", "rawvideo", str(out)],
         "libavcodec software decode")
    return md5_of_file(out)


class Generator:
    def __init__(self, out_dir: Path, openh264_tool: Path | None):
        self.out_dir = out_dir
        self._openh264_tool = openh264_tool

    def openh264_tool(self) -> Path:
        if self._openh264_tool is None or not self._openh264_tool.is_file():
            raise GenerationError("the openh264-ltr tool is not built (libopenh264-dev missing?)")
        return self._openh264_tool

    def make(self, spec: StreamSpec) -> GeneratedStream:
        streams = self.out_dir / "streams"
        streams.mkdir(parents=True, exist_ok=True)
        path = streams / f"{spec.name}.264"
        spec.make(self, path)
        found = _syntax_found(h264_trace.read(path))
        missing = [item for item in spec.requires if item not in found]
        if missing:
            raise GenerationError(f"{spec.name}: the stream lacks {', '.join(missing)} "
                                  f"(FFmpeg's parser found: {', '.join(found) or 'nothing'})")
        decoded = path.with_suffix(".yuv")
        try:
            expected = software_decode(path, decoded)
            frame_bytes = self._frame_bytes(path)
            frames = decoded.stat().st_size // frame_bytes
            opinion = self._second_opinion(spec, path, expected)
        finally:
            decoded.unlink(missing_ok=True)
        return GeneratedStream(spec, path, expected, frames, ", ".join(found), opinion)

    @staticmethod
    def _frame_bytes(path: Path) -> int:
        probe = run_checked(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                      "stream=width,height", "-of", "csv=p=0", str(path)], "ffprobe")
        width, height = (int(v) for v in probe.stdout.strip().split(","))
        return width * height + 2 * ((width + 1) // 2) * ((height + 1) // 2)

    def _second_opinion(self, spec: StreamSpec, path: Path, expected: str) -> str:
        if not spec.second_opinion:
            return "-"
        out = path.with_suffix(".openh264.yuv")
        try:
            run_checked([str(self.openh264_tool()), "decode", str(path), str(out)],
                 f"openh264 decode {path.name}")
            md5 = md5_of_file(out)
        finally:
            out.unlink(missing_ok=True)
        if md5 != expected:
            raise GenerationError(f"{spec.name}: libopenh264 decodes to {md5}, libavcodec "
                                  f"to {expected}: the reference itself is in doubt")
        return "openh264 agrees"


MANIFEST_HEADER = ("name", "file", "expected_md5", "features", "frames", "syntax",
                   "second_opinion")


def generate(out_dir: Path, sets: tuple[str, ...], openh264_tool: Path | None,
             only: tuple[str, ...] = ()) -> list[GeneratedStream]:
    """Makes the streams of `sets` in out_dir/streams and writes
    out_dir/manifest.tsv; raises GenerationError if any is not what it should be."""
    unknown = [name for name in sets if name not in SETS]
    if unknown:
        raise GenerationError(f"unknown set(s): {', '.join(unknown)} (known: {', '.join(SETS)})")
    generator = Generator(out_dir, openh264_tool)
    specs = [spec for spec in SPECS if spec.set_name in sets and (not only or spec.name in only)]
    made = [generator.make(spec) for spec in specs]
    lines = ["\t".join(MANIFEST_HEADER)]
    for stream in made:
        lines.append("\t".join((stream.spec.name, f"streams/{stream.path.name}",
                                stream.expected_md5, stream.spec.features, str(stream.frames),
                                stream.syntax, stream.second_opinion)))
    (out_dir / "manifest.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return made
