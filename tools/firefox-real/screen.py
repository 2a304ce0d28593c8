"""The X screen as the user would see it: a screenshot of the Xvfb display
(ffmpeg's x11grab) and the check that the video area shows the video, not a
black or green rectangle: compared with the software-decoded frame at the
paused time, and colour statistics."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path


def grab_screen(display: str, width: int, height: int, out_png: Path) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "x11grab", "-video_size", f"{width}x{height}",
                    "-i", f"{display}+0,0", "-frames:v", "1", str(out_png)], check=True)


def crop(png: Path, x: int, y: int, w: int, h: int, out_png: Path) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-i", str(png), "-vf", f"crop={w}:{h}:{x}:{y}",
                    str(out_png)], check=True)


def reference_frame(stream: Path, seconds: float, w: int, h: int, out_png: Path) -> None:
    """The frame shown at `seconds`, decoded in software and scaled to w x h."""
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-ss", f"{max(seconds, 0):.3f}", "-i", str(stream),
                    "-frames:v", "1", "-vf", f"scale={w}:{h}:flags=bilinear", str(out_png)], check=True)


def solid_frame(color: str, w: int, h: int, out_png: Path) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", f"color=c={color}:s={w}x{h}",
                    "-frames:v", "1", str(out_png)], check=True)


PSNR_AVERAGE = re.compile(r"average:([0-9.]+|inf)")


def psnr(a: Path, b: Path) -> float:
    out = subprocess.run(["ffmpeg", "-v", "info", "-nostdin", "-i", str(a), "-i", str(b), "-lavfi",
                          "[0:v]format=rgb24[x];[1:v]format=rgb24[y];[x][y]psnr", "-f", "null", "-"],
                         capture_output=True, text=True, check=True).stderr
    m = PSNR_AVERAGE.search(out)
    if not m:
        raise RuntimeError("ffmpeg printed no PSNR")
    return float("inf") if m.group(1) == "inf" else float(m.group(1))


@dataclass
class ColourStats:
    mean_luma: float
    green_fraction: float   # pixels where green clearly dominates (an all-zero YUV picture is green)
    distinct_colours: int   # on a 64x36 thumbnail, 4 bits per channel


def colour_stats(png: Path) -> ColourStats:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(png), "-vf", "scale=64:36:flags=area",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    pixels = [raw[i:i + 3] for i in range(0, len(raw) - 2, 3)]
    luma = sum(0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2] for p in pixels) / max(len(pixels), 1)
    green = sum(1 for p in pixels if p[1] > p[0] + 60 and p[1] > p[2] + 60) / max(len(pixels), 1)
    distinct = len({(p[0] >> 4, p[1] >> 4, p[2] >> 4) for p in pixels})
    return ColourStats(luma, green, distinct)
