"""Per-plane MD5s of a stream decoded in software, to compare with what the
EGL import layer (tools/egl-dmabuf) hashed.

The layer hashes each plane it imports as packed rows: an R8 import of W x H
is the luma of the top-left W x H pixels of the decoder's surface, a GR88
import of W/2 x H/2 is the interleaved CbCr of the same area. Clients import
either the display size (mpv) or the whole coded surface (Firefox: 1920x1088
for 1080p), so the reference is decoded without cropping
(`-apply_cropping 0`: the coded picture; libavcodec's frame_cropping is left
for the client) and cut to whatever size an import names.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


def _plane_md5(frame: bytes, coded_width: int, coded_height: int, fourcc: str, width: int, height: int) -> str:
    w, h = coded_width, coded_height
    digest = hashlib.md5()
    if fourcc == "R8":
        for row in range(min(height, h)):
            digest.update(frame[row * w: row * w + width])
    elif fourcc == "GR88":  # width and height in CbCr pairs
        base = w * h
        for row in range(min(height, (h + 1) // 2)):
            digest.update(frame[base + row * w: base + row * w + width * 2])
    else:
        raise ValueError(f"no reference for {fourcc} imports")
    return digest.hexdigest()


@dataclass
class ReferenceHashes:
    coded_width: int
    coded_height: int
    # (fourcc, width, height) -> MD5 of that plane for every output frame, in order
    planes: dict = field(default_factory=dict)
    frame_count: int = 0


def coded_size(stream: Path) -> tuple[int, int]:
    """The size of libavcodec's uncropped picture: framemd5 names it."""
    out = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-apply_cropping", "0", "-i", str(stream),
                          "-map", "0:v:0", "-frames:v", "1", "-pix_fmt", "nv12", "-f", "framemd5", "-"],
                         check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("#dimensions 0:"):
            width, height = line.split(":", 1)[1].strip().split("x")
            return int(width), int(height)
    raise RuntimeError(f"ffmpeg did not report the size of {stream}")


def reference_hashes(stream: Path, plane_shapes: set[tuple[str, int, int]]) -> ReferenceHashes:
    """For each (fourcc, width, height) an import named, the MD5 of that plane
    in every output frame of `stream` decoded by libavcodec in software."""
    width, height = coded_size(stream)
    frame_size = width * height * 3 // 2
    # Every decoded frame, none dropped or duplicated (passthrough); the raw
    # muxer's complaints about repeated timestamps of elementary streams are
    # noise (-v fatal): a decode problem shows as a frame count that differs.
    process = subprocess.Popen(["ffmpeg", "-v", "fatal", "-nostdin", "-apply_cropping", "0", "-i", str(stream),
                                "-map", "0:v:0", "-vsync", "passthrough", "-f", "rawvideo", "-pix_fmt", "nv12",
                                "pipe:1"], stdout=subprocess.PIPE)
    result = ReferenceHashes(width, height, {shape: [] for shape in plane_shapes})
    assert process.stdout is not None
    while True:
        frame = process.stdout.read(frame_size)
        if len(frame) < frame_size:
            break
        result.frame_count += 1
        for shape, hashes in result.planes.items():
            hashes.append(_plane_md5(frame, width, height, *shape))
    if process.wait() != 0:
        raise RuntimeError(f"software decode of {stream} failed")
    return result


def import_shapes(imports: list[dict]) -> set[tuple[str, int, int]]:
    return {(r["fourcc"], int(r["width"]), int(r["height"])) for r in imports if r["fourcc"] in ("R8", "GR88")}


def read_import_log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
