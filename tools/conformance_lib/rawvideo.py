"""MD5 of decoded video as tightly packed yuv420p (I420) frames.

The reference MD5s cover every frame in output order as planar 8-bit 4:2:0
with no row padding.  ffmpeg's and mpv's rawvideo output is already packed
that way; GStreamer's filesink writes the buffer as laid out in memory, which
for I420 uses GStreamer's default strides (rows rounded up to 4 bytes), so
those frames are repacked before hashing.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

_READ_CHUNK = 1 << 20


def _round_up(value: int, multiple: int) -> int:
    return (value + multiple - 1) // multiple * multiple


@dataclasses.dataclass(frozen=True)
class PlaneLayout:
    offset: int
    stride: int
    width: int
    rows: int


@dataclasses.dataclass(frozen=True)
class FrameLayout:
    width: int
    height: int
    planes: tuple[PlaneLayout, PlaneLayout, PlaneLayout]
    frame_size: int

    @property
    def is_packed(self) -> bool:
        return self.frame_size == packed_i420_frame_size(self.width, self.height)


def packed_i420_frame_size(width: int, height: int) -> int:
    chroma_width = (width + 1) // 2
    chroma_rows = (height + 1) // 2
    return width * height + 2 * chroma_width * chroma_rows


def packed_i420_layout(width: int, height: int) -> FrameLayout:
    chroma_width = (width + 1) // 2
    chroma_rows = (height + 1) // 2
    luma = PlaneLayout(0, width, width, height)
    cb = PlaneLayout(width * height, chroma_width, chroma_width, chroma_rows)
    cr = PlaneLayout(cb.offset + chroma_width * chroma_rows, chroma_width,
                     chroma_width, chroma_rows)
    return FrameLayout(width, height, (luma, cb, cr),
                       packed_i420_frame_size(width, height))


def gstreamer_i420_layout(width: int, height: int) -> FrameLayout:
    """GStreamer's default I420 layout (gst_video_info_set_format)."""
    luma_stride = _round_up(width, 4)
    chroma_stride = _round_up(_round_up(width, 2) // 2, 4)
    padded_height = _round_up(height, 2)
    chroma_rows = padded_height // 2
    chroma_width = (width + 1) // 2
    luma = PlaneLayout(0, luma_stride, width, height)
    cb = PlaneLayout(luma_stride * padded_height, chroma_stride, chroma_width,
                     (height + 1) // 2)
    cr = PlaneLayout(cb.offset + chroma_stride * chroma_rows, chroma_stride,
                     chroma_width, (height + 1) // 2)
    return FrameLayout(width, height, (luma, cb, cr),
                       cr.offset + chroma_stride * chroma_rows)


@dataclasses.dataclass(frozen=True)
class VideoDigest:
    md5: str
    frames: int
    leftover_bytes: int  # bytes after the last whole frame (a truncated frame)


def digest_file(path: Path, layout: FrameLayout) -> VideoDigest:
    """MD5 over the packed planes of every frame in `path`."""
    md5 = hashlib.md5()
    total_bytes = 0
    frames = 0
    with open(path, "rb") as video:
        if layout.is_packed:
            while chunk := video.read(_READ_CHUNK):
                md5.update(chunk)
                total_bytes += len(chunk)
            frames, leftover = divmod(total_bytes, layout.frame_size)
            return VideoDigest(md5.hexdigest(), frames, leftover)
        while True:
            frame = video.read(layout.frame_size)
            if len(frame) < layout.frame_size:
                # A partial frame is hashed as it is so the MD5 cannot match.
                md5.update(frame)
                return VideoDigest(md5.hexdigest(), frames, len(frame))
            view = memoryview(frame)
            for plane in layout.planes:
                for row in range(plane.rows):
                    start = plane.offset + row * plane.stride
                    md5.update(view[start:start + plane.width])
            frames += 1
