"""MD5 of decoded video as tightly packed yuv420p (I420) frames.

The reference MD5s cover every frame in output order as planar 8-bit 4:2:0
with no row padding.  Clients write other layouts, which are repacked here
without touching a sample value:
- GStreamer's filesink writes I420 with GStreamer's default strides (rows
  rounded up to 4 bytes);
- the ffmpeg and mpv hardware paths write the NV12 frames as downloaded from
  the VA surface (no swscale, so no range conversion); the chroma is
  de-interleaved here;
- a client that leaves the top/left crop to the application writes frames
  that still hold those rows and columns; the layout then starts each plane
  at the crop window (`crop_layout`).
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
    step: int = 1   # bytes from one sample to the next (2: NV12's interleaved chroma)


@dataclasses.dataclass(frozen=True)
class FrameLayout:
    width: int
    height: int
    planes: tuple[PlaneLayout, PlaneLayout, PlaneLayout]
    frame_size: int

    @property
    def is_packed(self) -> bool:
        return self == packed_i420_layout(self.width, self.height)


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


def nv12_layout(width: int, height: int) -> FrameLayout:
    """A tightly packed NV12 frame (ffmpeg/mpv rawvideo `nv12`): the Cb and Cr
    planes are read from the interleaved chroma rows with a step of 2."""
    chroma_width = (width + 1) // 2
    chroma_rows = (height + 1) // 2
    luma = PlaneLayout(0, width, width, height)
    chroma_offset = width * height
    cb = PlaneLayout(chroma_offset, 2 * chroma_width, chroma_width, chroma_rows, step=2)
    cr = PlaneLayout(chroma_offset + 1, 2 * chroma_width, chroma_width, chroma_rows, step=2)
    return FrameLayout(width, height, (luma, cb, cr),
                       chroma_offset + 2 * chroma_width * chroma_rows)


def crop_layout(layout: FrameLayout, left: int, top: int) -> FrameLayout:
    """The same frames with `left` columns and `top` rows (luma samples) cut
    off each plane, as the application applies a 4:2:0 crop window: chroma by
    half (H.264 4:2:0 crop offsets are even, CropUnitX/Y = 2)."""
    if left == 0 and top == 0:
        return layout
    if left < 0 or top < 0 or left >= layout.width or top >= layout.height:
        raise ValueError(f"crop left {left} top {top} outside a {layout.width}x{layout.height} frame")
    width, height = layout.width - left, layout.height - top
    planes = []
    for index, plane in enumerate(layout.planes):
        x, y = (left, top) if index == 0 else (left // 2, top // 2)
        plane_width = width if index == 0 else (width + 1) // 2
        plane_rows = height if index == 0 else (height + 1) // 2
        planes.append(PlaneLayout(plane.offset + y * plane.stride + x * plane.step,
                                  plane.stride, plane_width, plane_rows, plane.step))
    return FrameLayout(width, height, tuple(planes), layout.frame_size)


@dataclasses.dataclass(frozen=True)
class VideoDigest:
    md5: str
    frames: int
    leftover_bytes: int  # bytes after the last whole frame (a truncated frame)


def digest_file(path: Path, layout: FrameLayout, packed_copy: Path | None = None) -> VideoDigest:
    """MD5 over the packed planes of every frame in `path`; with
    `packed_copy`, the packed I420 frames are also written there."""
    md5 = hashlib.md5()
    sink = open(packed_copy, "wb") if packed_copy is not None else None
    try:
        def update(data) -> None:
            md5.update(data)
            if sink is not None:
                sink.write(data)
        frames, leftover = _pack_frames(path, layout, update)
    finally:
        if sink is not None:
            sink.close()
    return VideoDigest(md5.hexdigest(), frames, leftover)


def _pack_frames(path: Path, layout: FrameLayout, update) -> tuple[int, int]:
    """Feeds the packed planes of each frame to `update`; returns (whole
    frames, bytes of a trailing partial frame)."""
    with open(path, "rb") as video:
        if layout.is_packed:
            total_bytes = 0
            while chunk := video.read(_READ_CHUNK):
                update(chunk)
                total_bytes += len(chunk)
            return divmod(total_bytes, layout.frame_size)
        frames = 0
        while True:
            frame = video.read(layout.frame_size)
            if len(frame) < layout.frame_size:
                # A partial frame is hashed as it is so the MD5 cannot match.
                update(frame)
                return frames, len(frame)
            for plane in layout.planes:
                pack_plane(update, frame, plane)
            frames += 1


def pack_plane(update, frame: bytes, plane: PlaneLayout) -> None:
    row_bytes = plane.width * plane.step
    if plane.stride == row_bytes:
        # Whole rows without padding: one slice for the plane.
        end = plane.offset + plane.stride * plane.rows
        update(frame[plane.offset:end:plane.step])
        return
    view = memoryview(frame)
    for row in range(plane.rows):
        start = plane.offset + row * plane.stride
        if plane.step == 1:
            update(view[start:start + row_bytes])
        else:
            update(frame[start:start + row_bytes:plane.step])
