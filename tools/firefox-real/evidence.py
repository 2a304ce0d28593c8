"""What the logs of a run say: Firefox's MOZ_LOG (PlatformDecoderModule,
FFmpegVideo, Dmabuf), the emulator's record and counters, the driver's lines
on stderr (through libva's message callbacks)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

# A hardware decoder that gave up shows one of these (FFmpegVideoDecoder.cpp:
# software init after a failed VA-API init, a software pixel format, an
# export that failed and made Firefox rebuild the decoder in software).
FALLBACK_PATTERNS = [
    re.compile(r"IsHardwareAccelerated=(false|0)\b"),
    re.compile(r"Requesting pixel format (?!VAAPI_VLD)"),
    re.compile(r"vaExportSurfaceHandle failed"),
    re.compile(r"VA-API FFmpeg init failed|Failed to initialise VA-API"),
    re.compile(r"FFMPEG: Initialising FFmpeg decoder"),
    re.compile(r"DMABuf texture copy is broken|failed to create texture over DMABuf"),
]
ERROR_PATTERNS = [
    re.compile(r"NS_ERROR_DOM_MEDIA_\w+"),
    re.compile(r"\b(decode|decoding) error\b", re.IGNORECASE),
    re.compile(r"avcodec_send_packet error|avcodec_receive_frame error|DoDecode.*error", re.IGNORECASE),
    re.compile(r"Unsupported VA-API surface format"),
]


@dataclass
class MozLogEvidence:
    files: list[str] = field(default_factory=list)
    video_decoders: int = 0          # FFmpegVideoDecoder created for video/avc
    vaapi_inits: int = 0             # "VA-API FFmpeg init successful"
    hardware_decoders: int = 0       # "IsHardwareAccelerated=true"
    vaapi_frames: int = 0            # a frame out of the VA-API decoder (153: "VA-API frame pts=", 140: "VA-API Got one frame output")
    dmabuf_surfaces_added: int = 0   # VideoFramePool: "Added new DMABufSurface"
    video_frame_surfaces_deleted: int = 0
    flushes: int = 0                 # "ProcessFlush"
    # Per interval between flushes: DMABufSurfaces the VideoFramePool added,
    # and distinct VA surface IDs it was given ("Got VA-API DMABufSurface").
    added_per_interval: list[int] = field(default_factory=list)
    surfaces_per_interval: list[int] = field(default_factory=list)
    fallbacks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def rdd_log_files(log_base: Path) -> list[Path]:
    """MOZ_LOG_FILE=<base> writes <base>.moz_log (parent) and
    <base>.child-N.moz_log per child; the RDD's lines start with '[RDD '."""
    out = []
    for path in sorted(log_base.parent.glob(log_base.name + "*")):
        with path.open("r", encoding="utf-8", errors="replace") as f:
            head = f.read(4096)
        if "[RDD " in head:
            out.append(path)
    return out


VA_SURFACE = re.compile(r"Got VA-API DMABufSurface FFMPEG ID (0x[0-9a-f]+)")


def read_mozlog(log_base: Path) -> MozLogEvidence:
    e = MozLogEvidence()
    for path in rdd_log_files(log_base):
        e.files.append(str(path))
        added, surfaces = 0, set()
        with path.open("r", encoding="utf-8", errors="replace") as f:
            for line in f:
                if "ProcessFlush" in line:
                    e.added_per_interval.append(added)
                    e.surfaces_per_interval.append(len(surfaces))
                    added, surfaces = 0, set()
                elif "Added new DMABufSurface" in line:
                    added += 1
                elif m := VA_SURFACE.search(line):
                    surfaces.add(m.group(1))
                if "FFmpegVideoDecoder::FFmpegVideoDecoder MIME video/avc" in line:
                    e.video_decoders += 1
                elif "VA-API FFmpeg init successful" in line:
                    e.vaapi_inits += 1
                elif "IsHardwareAccelerated=true" in line or "IsHardwareAccelerated=1" in line:
                    e.hardware_decoders += 1
                elif "VA-API frame pts=" in line or "VA-API Got one frame output" in line:
                    e.vaapi_frames += 1
                elif "Added new DMABufSurface" in line:
                    e.dmabuf_surfaces_added += 1
                elif "~VideoFrameSurface: deleting" in line:
                    e.video_frame_surfaces_deleted += 1
                elif "ProcessFlush" in line:
                    e.flushes += 1
                if any(p.search(line) for p in FALLBACK_PATTERNS):
                    e.fallbacks.append(line.strip())
                elif any(p.search(line) for p in ERROR_PATTERNS):
                    e.errors.append(line.strip())
    return e


@dataclass
class EmulatorEvidence:
    jobs: int = 0            # decode jobs the emulated device completed (V4L2_EMU_RECORD lines)
    decoded_ok: int = 0
    failed_jobs: int = 0
    dpb_mismatches: int = 0
    counters: list[dict] = field(default_factory=list)  # V4L2_EMU_COUNTERS lines with device activity

    def requests_allocated(self) -> int | None:
        values = [c.get("requests_allocated", 0) for c in self.counters]
        return sum(values) if values else None


def read_emulator(record: Path, counters: Path) -> EmulatorEvidence:
    e = EmulatorEvidence()
    if record.exists():
        with record.open("r", encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                job = json.loads(line)
                e.jobs += 1
                if job.get("decoded"):
                    e.decoded_ok += 1
                else:
                    e.failed_jobs += 1
                if job.get("dpb_mismatches"):
                    e.dpb_mismatches += 1
    if counters.exists():
        for line in counters.read_text(encoding="utf-8").splitlines():
            if line.strip():
                c = json.loads(line)
                if c.get("frames_decoded") or c.get("requests_allocated") or c.get("errors"):
                    e.counters.append(c)
    return e


EMULATOR_ALLOC = re.compile(r"v4l2-emulator\[(\d+)\]: fd \d+: MEDIA_IOC_REQUEST_ALLOC -> (\S+)")


def requests_from_emulator_log(stderr_log: Path) -> dict[int, int]:
    """Successful MEDIA_IOC_REQUEST_ALLOC per process, from V4L2_EMU_LOG=1
    lines (the emulator's own account of every ioctl). Unlike the counters,
    written at exit, these are there even when a process is killed or exits
    some other way."""
    per_pid: dict[int, int] = {}
    if not stderr_log.exists():
        return per_pid
    with stderr_log.open("r", encoding="utf-8", errors="replace") as f:
        for line in f:
            m = EMULATOR_ALLOC.search(line)
            if m and m.group(2) == "0":
                per_pid[int(m.group(1))] = per_pid.get(int(m.group(1)), 0) + 1
    return per_pid


EMULATOR_QUEUE = re.compile(r"v4l2-emulator\[\d+\]: fd \d+: MEDIA_REQUEST_IOC_QUEUE -> 0\b")


def queued_requests_from_emulator_log(stderr_log: Path) -> int:
    """Requests the device accepted (MEDIA_REQUEST_IOC_QUEUE -> 0), from
    V4L2_EMU_LOG=1 lines: one per picture on frame-based devices."""
    if not stderr_log.exists():
        return 0
    with stderr_log.open("r", encoding="utf-8", errors="replace") as f:
        return sum(1 for line in f if EMULATOR_QUEUE.search(line))


@dataclass
class DriverEvidence:
    contexts: int = 0                     # "context WxH on /dev/videoN" (one per vaCreateContext)
    errors: list[str] = field(default_factory=list)


CONTEXT_LINE = re.compile(r"v4l2_request: context \d+x\d+ on ")


def read_driver_messages(stderr_log: Path) -> DriverEvidence:
    e = DriverEvidence()
    if not stderr_log.exists():
        return e
    for line in stderr_log.read_text(encoding="utf-8", errors="replace").splitlines():
        if CONTEXT_LINE.search(line):
            e.contexts += 1
        if "libva error" in line and "v4l2_request" in line:
            e.errors.append(line.strip())
    return e
