"""VP8 and VP9 streams made at test time with Debian's encoders (vpxenc from
vpx-tools, and ffmpeg's libvpx wrappers), in IVF, for the features the
stateless VP8/VP9 uAPI carries: golden/altref references and hidden altref
frames, segmentation, loop-filter deltas, several DCT partitions, odd sizes.

The expected MD5 is taken only where two independent software decoders
agree: libvpx (`vpxdec --i420`) and libavcodec's native decoder (the same
raw I420 bytes). Each stream is also scanned (a small VP8 frame-header
reader below, RFC 6386 9.2-9.8) for the syntax it exists for, so a change
in an encoder's defaults cannot quietly leave a feature untested.

The result is a manifest of the shared format (tools/conformance reads it).
"""

from __future__ import annotations

import dataclasses
import struct
import subprocess
from pathlib import Path
from typing import Callable

from .generated import GenerationError, md5_of_file, run_checked

CODECS = ("vp8",)


# ---- IVF ----

def ivf_frames(path: Path) -> list[bytes]:
    """The frames of an IVF file (32-byte header, then 12-byte frame headers)."""
    data = path.read_bytes()
    if len(data) < 32 or data[:4] != b"DKIF":
        raise GenerationError(f"{path.name}: not an IVF file")
    header_size = struct.unpack_from("<H", data, 6)[0]
    frames, offset = [], header_size
    while offset + 12 <= len(data):
        size = struct.unpack_from("<I", data, offset)[0]
        frames.append(data[offset + 12:offset + 12 + size])
        offset += 12 + size
    return frames


# ---- VP8 frame headers (RFC 6386), enough to name the features used ----

class _BoolDecoder:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 2
        self.value = (data[0] << 8 | data[1]) if len(data) >= 2 else 0
        self.range, self.bit_count = 255, 0

    def read_bool(self, probability: int) -> int:
        split = 1 + (((self.range - 1) * probability) >> 8)
        big_split = split << 8
        if self.value >= big_split:
            bit, self.range, self.value = 1, self.range - split, self.value - big_split
        else:
            bit, self.range = 0, split
        while self.range < 128:
            self.value, self.range = self.value << 1, self.range << 1
            self.bit_count += 1
            if self.bit_count == 8:
                self.bit_count = 0
                if self.pos < len(self.data):
                    self.value |= self.data[self.pos]
                self.pos += 1
        return bit

    def literal(self, bits: int) -> int:
        value = 0
        for _ in range(bits):
            value = value << 1 | self.read_bool(128)
        return value

    def optional_signed(self, bits: int) -> None:
        if self.read_bool(128):
            self.literal(bits + 1)


def vp8_features(frame: bytes) -> set[str]:
    """Features one VP8 frame uses, read from its header."""
    tag = frame[0] | frame[1] << 8 | frame[2] << 16
    key, show = not tag & 1, tag >> 4 & 1
    found = {"key_frame" if key else "inter_frame"}
    if not show:
        found.add("hidden_frame")
    start = 10 if key else 3
    if key:
        width, height = struct.unpack_from("<HH", frame, 6)
        found.add(f"size_{width & 0x3fff}x{height & 0x3fff}")
    d = _BoolDecoder(frame[start:start + (tag >> 5)])
    if key:
        d.literal(2)  # color_space, clamping_type
    if d.read_bool(128):
        found.add("segmentation")
        update_map, update_data = d.read_bool(128), d.read_bool(128)
        if update_data:
            d.read_bool(128)
            for _ in range(4):
                d.optional_signed(7)
            for _ in range(4):
                d.optional_signed(6)
        if update_map:
            found.add("segment_map")
            for _ in range(3):
                if d.read_bool(128):
                    d.literal(8)
    d.read_bool(128)  # filter_type
    d.literal(6 + 3)  # level, sharpness
    if d.read_bool(128):
        found.add("lf_deltas")
        if d.read_bool(128):
            for _ in range(8):
                d.optional_signed(6)
    if d.literal(2):
        found.add("dct_partitions")
    d.literal(7)
    for _ in range(5):
        d.optional_signed(4)
    if not key:
        refresh_golden, refresh_alt = d.read_bool(128), d.read_bool(128)
        if refresh_golden:
            found.add("golden_refresh")
        if refresh_alt:
            found.add("altref_refresh")
        if not refresh_golden and d.literal(2):
            found.add("copy_to_golden")
        if not refresh_alt and d.literal(2):
            found.add("copy_to_altref")
        if d.read_bool(128) or d.read_bool(128):
            found.add("sign_bias")
    return found


# ---- Streams ----

@dataclasses.dataclass(frozen=True)
class VpxSpec:
    name: str
    codec: str
    features: str
    make: Callable[[Path, Path], None]  # (work dir, output .ivf)
    requires: tuple[str, ...]


def _lavfi_source(size: str) -> str:
    """A moving test picture of `size` (testsrc2 makes even sizes; an odd
    size is cropped from the next even one)."""
    width, height = (int(v) for v in size.split("x"))
    return (f"testsrc2=size={width + width % 2}x{height + height % 2}:rate=30,"
            f"crop={width}:{height}:0:0:exact=1")


def _source(work: Path, size: str, frames: int) -> Path:
    """The test picture as Y4M (vpxenc's input)."""
    out = work / f"source-{size}-{frames}.y4m"
    if not out.is_file():
        run_checked(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", _lavfi_source(size),
                     "-frames:v", str(frames), "-pix_fmt", "yuv420p", str(out)], f"source {size}")
    return out


def _vpxenc(codec: str, size: str, frames: int, *options: str) -> Callable[[Path, Path], None]:
    def make(work: Path, out: Path) -> None:
        run_checked(["vpxenc", f"--codec={codec}", "--ivf", "--quiet", "--threads=1", "-o", str(out),
                     *options, str(_source(work, size, frames))], f"vpxenc {out.name}")
    return make


def _ffmpeg_libvpx(encoder: str, size: str, frames: int, *options: str) -> Callable[[Path, Path], None]:
    def make(work: Path, out: Path) -> None:
        run_checked(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", _lavfi_source(size),
                     "-frames:v", str(frames), "-pix_fmt", "yuv420p", "-c:v", encoder, "-threads", "1", *options, "-f", "ivf", str(out)], f"ffmpeg {out.name}")
    return make


SPECS = (
    VpxSpec("vp8-altref", "vp8", "hidden altref frames, golden refresh, 2 key frames",
            _vpxenc("vp8", "176x144", 60, "--good", "--passes=2", "--cpu-used=4", "--auto-alt-ref=1",
                    "--lag-in-frames=16", "--kf-max-dist=40", "--target-bitrate=200"),
            ("hidden_frame", "altref_refresh", "golden_refresh", "key_frame", "inter_frame")),
    VpxSpec("vp8-segments-odd", "vp8", "segmentation (cyclic refresh), 4 DCT partitions, 171x97",
            _vpxenc("vp8", "171x97", 45, "--rt", "--cpu-used=8", "--error-resilient=1",
                    "--end-usage=cbr", "--target-bitrate=150", "--token-parts=2"),
            ("segmentation", "segment_map", "dct_partitions", "size_171x97")),
    VpxSpec("vp8-ffmpeg", "vp8", "ffmpeg's libvpx wrapper (one pass), GOP 30, 208x120",
            _ffmpeg_libvpx("libvpx", "208x120", 50, "-g", "30", "-b:v", "300k"),
            ("golden_refresh", "copy_to_altref", "key_frame", "size_208x120")),
    VpxSpec("vp8-lf-deltas", "vp8", "loop-filter deltas, sharpness, 8 DCT partitions, 64x64",
            _vpxenc("vp8", "64x64", 30, "--good", "--cpu-used=2", "--sharpness=5", "--token-parts=3",
                    "--kf-max-dist=15"),
            ("lf_deltas", "dct_partitions")),
)


@dataclasses.dataclass
class VpxStream:
    spec: VpxSpec
    path: Path
    expected_md5: str
    frames: int
    syntax: str


def _libavcodec_decode(stream: Path, out: Path) -> str:
    run_checked(["ffmpeg", "-nostdin", "-v", "error", "-y", "-threads", "1", "-i", str(stream),
                 "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "yuv420p", str(out)],
                "libavcodec software decode")
    return md5_of_file(out)


def _libvpx_decode(stream: Path, out: Path) -> str:
    run_checked(["vpxdec", "--i420", "--threads=1", "-o", str(out), str(stream)], "vpxdec")
    return md5_of_file(out)


def make_stream(spec: VpxSpec, work: Path) -> VpxStream:
    streams = work / "streams"
    streams.mkdir(parents=True, exist_ok=True)
    path = streams / f"{spec.name}.ivf"
    spec.make(work, path)
    frames = ivf_frames(path)
    found: set[str] = set()
    for frame in frames:
        found |= vp8_features(frame)
    missing = [item for item in spec.requires if item not in found]
    if missing:
        raise GenerationError(f"{spec.name}: the stream lacks {', '.join(missing)} "
                              f"(found: {', '.join(sorted(found))})")
    libav_out, libvpx_out = path.with_suffix(".libav.yuv"), path.with_suffix(".libvpx.yuv")
    try:
        libav, libvpx = _libavcodec_decode(path, libav_out), _libvpx_decode(path, libvpx_out)
        shown = libav_out.stat().st_size
    finally:
        libav_out.unlink(missing_ok=True)
        libvpx_out.unlink(missing_ok=True)
    if libav != libvpx:
        raise GenerationError(f"{spec.name}: libavcodec decodes to {libav}, libvpx to {libvpx}: "
                              "no expected output")
    width, height = (int(v) for v in _probe_size(path))
    frame_bytes = width * height + 2 * ((width + 1) // 2) * ((height + 1) // 2)
    return VpxStream(spec, path, libav, shown // frame_bytes, ", ".join(sorted(found)))


def _probe_size(path: Path) -> tuple[str, str]:
    probe = run_checked(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                         "stream=width,height", "-of", "csv=p=0", str(path)], "ffprobe")
    width, height = probe.stdout.strip().split(",")
    return width, height


MANIFEST_HEADER = ("name", "file", "expected_md5", "features", "frames", "syntax", "second_opinion")


def generate(out_dir: Path, codecs: tuple[str, ...] = CODECS, only: tuple[str, ...] = ()) -> list[VpxStream]:
    """Makes the streams of `codecs` in out_dir/streams and writes
    out_dir/manifest.tsv; raises GenerationError when a stream lacks its
    features or the two software decoders disagree on it."""
    unknown = [codec for codec in codecs if codec not in CODECS]
    if unknown:
        raise GenerationError(f"unknown codec(s): {', '.join(unknown)} (known: {', '.join(CODECS)})")
    specs = [s for s in SPECS if s.codec in codecs and (not only or s.name in only)]
    made = [make_stream(spec, out_dir) for spec in specs]
    lines = ["\t".join(MANIFEST_HEADER)]
    for stream in made:
        lines.append("\t".join((stream.spec.name, f"streams/{stream.path.name}", stream.expected_md5,
                                stream.spec.features, str(stream.frames), stream.syntax,
                                "libvpx agrees")))
    (out_dir / "manifest.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return made


def main() -> int:
    import sys
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "vpx-streams")
    out.mkdir(parents=True, exist_ok=True)
    for stream in generate(out):
        print(f"{stream.spec.name}: {stream.frames} frames, md5 {stream.expected_md5}, [{stream.syntax}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
