"""How each client is run on one stream, and how its decoded output is read.

Hardware clients run with the emulated decoder preloaded and must show, in the
emulator's counters, that the frames went through it.  The `*-sw` clients are
the same pipelines with software decoding and no emulator: they exist to prove
the MD5 plumbing against the published checksums, and they are never used to
judge the driver.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

from . import h264_trace, rawvideo

RENDER_NODE = "/dev/dri/renderD128"
VIDEO_NODE = "/dev/video0"
MEDIA_NODE = "/dev/media0"
VA_DRIVER_NAME = "v4l2_request"


@dataclasses.dataclass
class RunContext:
    """What a client needs from the run: artifacts, profile, shared files."""
    run_dir: Path
    profile: str
    driver_dir: Path | None = None
    emulator_lib: Path | None = None
    firefox_client: Path | None = None
    testbed: Path | None = None
    timeout: float = 600.0
    decoder_threads: int = 1    # ffmpeg/mpv decoding threads; 0: the client's choice


STDOUT_NAME = "stdout.txt"   # the runner captures each client's stdout here
STDERR_NAME = "stderr.txt"


@dataclasses.dataclass
class Invocation:
    argv: list[str]
    env: dict[str, str]
    output_path: Path          # what read_output() reads
    counters_path: Path | None


@dataclasses.dataclass
class DecodedOutput:
    md5: str
    frames: int
    problem: str | None = None  # e.g. a truncated last frame


class ClientSetupError(RuntimeError):
    pass


@dataclasses.dataclass(frozen=True)
class Geometry:
    """The stream's cropped picture size and the SPS crop window."""
    width: int
    height: int
    crop: h264_trace.CropWindow = h264_trace.CropWindow()


# How much of the SPS crop window (7.4.2.1.1) a client applies itself.
CROPS_ALL = "all"
# ffmpeg 5.1 (libavcodec decode.c apply_cropping -> av_frame_apply_cropping)
# can only shrink a hardware frame: it applies the right and bottom crop and
# leaves top/left to the application, which ffmpeg's CLI and mpv 0.35 do not
# apply. Such output frames still hold the top rows and left columns.
CROPS_RIGHT_BOTTOM = "right/bottom"


@functools.lru_cache(maxsize=None)
def stream_codec(stream_path: Path) -> str:
    """libavcodec's name of the stream's video codec (h264, vp8, vp9)."""
    completed = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name",
         "-of", "csv=p=0", str(stream_path)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    return completed.stdout.strip() or "h264"


def _require_tools(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        raise ClientSetupError(f"not installed: {', '.join(missing)}")


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    # Clients must not reach a real display, GPU driver or user config.
    for key in ("DISPLAY", "WAYLAND_DISPLAY", "LIBVA_DRIVER_NAME", "LIBVA_DRIVERS_PATH",
                "GST_PLUGIN_FEATURE_RANK", "V4L2_EMU_COUNTERS", "V4L2_EMU_RECORD"):
        env.pop(key, None)
    return env


def emulator_env(context: RunContext, counters_path: Path, va_driver: bool) -> dict[str, str]:
    if context.emulator_lib is None:
        raise ClientSetupError("the emulator library is not available")
    env = _base_env()
    preload = [str(context.emulator_lib)]
    if env.get("LD_PRELOAD"):
        preload.append(env["LD_PRELOAD"])
    # The emulator must come first: it serves /dev/dri, /dev/media0 and
    # /dev/video0 before umockdev's preload (appended by umockdev-run) can.
    env["LD_PRELOAD"] = " ".join(preload)
    env["V4L2_EMU_PROFILE"] = context.profile
    env["V4L2_EMU_COUNTERS"] = str(counters_path)
    if va_driver:
        if context.driver_dir is None:
            raise ClientSetupError("the VA driver is not available")
        env["LIBVA_DRIVERS_PATH"] = str(context.driver_dir)
        env["LIBVA_DRIVER_NAME"] = VA_DRIVER_NAME
        env["LIBVA_V4L2_REQUEST_VIDEO_PATH"] = VIDEO_NODE
        env["LIBVA_V4L2_REQUEST_MEDIA_PATH"] = MEDIA_NODE
    return env


class Client:
    name = ""
    hardware = True     # judged by the emulator's counters as well as the MD5
    needs: tuple[str, ...] = ()     # artifacts: driver, emulator, firefox
    needs_testbed = False
    crops = CROPS_ALL   # what the client applies of the SPS crop window

    def prepare(self, context: RunContext) -> None:
        """Once per run, before any stream; raises ClientSetupError."""

    def invocation(self, stream_path: Path, work_dir: Path,
                   context: RunContext) -> Invocation:
        raise NotImplementedError

    def output_layout(self, geometry: Geometry) -> rawvideo.FrameLayout:
        """How one output frame is laid out, and where the picture is in it."""
        return rawvideo.packed_i420_layout(geometry.width, geometry.height)

    def read_output(self, invocation: Invocation, geometry: Geometry) -> DecodedOutput:
        layout = self.output_layout(geometry)
        return _decoded(rawvideo.digest_file(invocation.output_path, layout), layout)

    def crop_note(self, geometry: Geometry) -> str | None:
        """Says what the harness cropped for this client, when it did."""
        crop = geometry.crop
        if self.crops != CROPS_RIGHT_BOTTOM or (crop.left == 0 and crop.top == 0):
            return None
        return (f"{self.name} applies only the right/bottom crop to hardware frames; "
                f"the harness cut the SPS crop's left {crop.left} and top {crop.top} "
                f"off each {geometry.width + crop.left}x{geometry.height + crop.top} frame")

    def _env(self, context: RunContext, counters_path: Path) -> dict[str, str]:
        if not self.hardware:
            return _base_env()
        return emulator_env(context, counters_path, "driver" in self.needs)


def _decoded(digest: rawvideo.VideoDigest, layout: rawvideo.FrameLayout) -> DecodedOutput:
    problem = None
    if digest.leftover_bytes:
        problem = (f"output ends in a partial frame ({digest.leftover_bytes} bytes "
                   f"after {digest.frames} whole frames of {layout.frame_size} bytes, "
                   f"{layout.width}x{layout.height} picture)")
    return DecodedOutput(digest.md5, digest.frames, problem)


def _nv12_uncropped_top_left(geometry: Geometry) -> rawvideo.FrameLayout:
    """NV12 frames that still hold the crop window's top rows and left
    columns (CROPS_RIGHT_BOTTOM), cut here as the application would."""
    crop = geometry.crop
    layout = rawvideo.nv12_layout(geometry.width + crop.left, geometry.height + crop.top)
    return rawvideo.crop_layout(layout, crop.left, crop.top)


class FfmpegClient(Client):
    """Hardware path: ffmpeg downloads each VA surface as NV12 (vaapi copy-back)
    and writes it as it is (`-pix_fmt nv12`: no swscale, so no range
    conversion for a full-range stream); the harness de-interleaves it."""
    name = "ffmpeg"
    needs = ("driver", "emulator")
    hwaccel = True
    crops = CROPS_RIGHT_BOTTOM

    def prepare(self, context: RunContext) -> None:
        _require_tools("ffmpeg")

    def invocation(self, stream_path, work_dir, context):
        output = work_dir / "decoded.yuv"
        counters = work_dir / "counters.jsonl"
        argv = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning",
                # Default one decoding thread, as in the checksums' command
                # line; more threads put several pictures in flight at once.
                "-threads", str(context.decoder_threads)]
        if self.hwaccel:
            argv += ["-hwaccel", "vaapi", "-hwaccel_device", RENDER_NODE,
                     # ffmpeg 5.1 maps only Constrained Baseline, Main and High
                     # to VA profiles (vaapi_decode.c vaapi_profile_map); a
                     # plain Baseline stream (profile_idc 66 without
                     # constraint_set1) needs the mismatch allowed or it is
                     # silently decoded in software.
                     "-hwaccel_flags", "+allow_profile_mismatch"]
        else:
            # Exact cropping: without AV_CODEC_FLAG_UNALIGNED libavcodec rounds
            # a left crop down to keep plane pointers aligned
            # (av_frame_apply_cropping), so those columns would stay.
            argv += ["-flags", "+unaligned"]
        argv += ["-i", str(stream_path), "-fps_mode", "passthrough", "-f", "rawvideo",
                 *self._pixel_format_args(), "-y", str(output)]
        return Invocation(argv, self._env(context, counters), output,
                          counters if self.hardware else None)

    def _pixel_format_args(self) -> list[str]:
        return ["-pix_fmt", "nv12"]

    def output_layout(self, geometry):
        return _nv12_uncropped_top_left(geometry)


class FfmpegSoftwareClient(FfmpegClient):
    """Software path: libavcodec's own output format (yuv420p, or yuvj420p
    for a full-range stream: the same bytes), written without conversion."""
    name = "ffmpeg-sw"
    hardware = False
    hwaccel = False
    needs = ()
    crops = CROPS_ALL

    def _pixel_format_args(self) -> list[str]:
        return []

    def output_layout(self, geometry):
        return rawvideo.packed_i420_layout(geometry.width, geometry.height)


class MpvClient(Client):
    """Hardware path: `--hwdec=vaapi-copy` downloads NV12, `--vf=format=nv12`
    keeps it (no conversion) and the encoding mode writes it as it is."""
    name = "mpv"
    needs = ("driver", "emulator")
    hwaccel = True
    crops = CROPS_RIGHT_BOTTOM
    output_format = "nv12"

    def prepare(self, context: RunContext) -> None:
        _require_tools("mpv")

    def invocation(self, stream_path, work_dir, context):
        output = work_dir / "decoded.yuv"
        counters = work_dir / "counters.jsonl"
        argv = ["mpv", "--no-config", "--msg-level=all=warn", "--no-audio",
                f"--vd-lavc-threads={context.decoder_threads}"]
        if self.hwaccel:
            argv += ["--hwdec=vaapi-copy", f"--vaapi-device={RENDER_NODE}",
                     # Same profile map as ffmpeg (see FfmpegClient).
                     "--vd-lavc-check-hw-profile=no"]
        else:
            # Exact cropping, as for ffmpeg-sw.
            argv += ["--hwdec=no", "--vd-lavc-o=flags=+unaligned"]
        # Encoding mode writes every decoded frame in the filter's format;
        # mpv's format filter keeps the range (levels) of its input.
        argv += [f"--o={output}", "--of=rawvideo", "--ovc=rawvideo",
                 f"--vf=format={self.output_format}", str(stream_path)]
        return Invocation(argv, self._env(context, counters), output,
                          counters if self.hardware else None)

    def output_layout(self, geometry):
        return _nv12_uncropped_top_left(geometry)


class MpvSoftwareClient(MpvClient):
    name = "mpv-sw"
    hardware = False
    hwaccel = False
    needs = ()
    crops = CROPS_ALL
    output_format = "yuv420p"   # libavcodec's own layout (yuvj420p: same bytes, same levels)

    def output_layout(self, geometry):
        return rawvideo.packed_i420_layout(geometry.width, geometry.height)


class GstClient(Client):
    """gst-launch-1.0 under umockdev so the plugin finds the device with gudev."""
    name = "gst"
    needs = ("driver", "emulator")
    needs_testbed = True
    decoder_element = "vah264dec"   # checked by prepare(): every device decodes H.264
    # The decoder per codec; VP8/VP9 streams come in IVF.
    decoder_elements = {"h264": "vah264dec", "vp8": "vavp8dec", "vp9": "vavp9dec"}
    parsers = {"h264": ["h264parse"], "vp8": ["ivfparse"], "vp9": ["ivfparse", "!", "vp9parse"]}

    def _launch_prefix(self, context: RunContext) -> list[str]:
        if not self.needs_testbed:
            return []
        if context.testbed is None:
            raise ClientSetupError("no umockdev testbed")
        return ["umockdev-run", "-d", str(context.testbed), "--"]

    def _gst_env(self, context: RunContext, counters: Path) -> dict[str, str]:
        env = self._env(context, counters)
        # A private registry per client, written once per run under the same
        # preload, testbed and LIBVA_* variables (plugins register elements
        # for the devices they find; a changed variable triggers a rescan).
        env["GST_REGISTRY_1_0"] = str(context.run_dir / f"gst-registry-{self.name}.bin")
        env["GST_REGISTRY_FORK"] = "no"
        return env

    def prepare(self, context: RunContext) -> None:
        _require_tools("gst-launch-1.0", "gst-inspect-1.0",
                       *(["umockdev-run"] if self.needs_testbed else []))
        counters = context.run_dir / f"{self.name}-registry-counters.jsonl"
        env = self._gst_env(context, counters)
        argv = [*self._launch_prefix(context), "gst-inspect-1.0", self.decoder_element]
        completed = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                                   capture_output=True, text=True,
                                   timeout=context.timeout, check=False)
        if completed.returncode != 0:
            detail = (completed.stderr or completed.stdout).strip().splitlines()[-3:]
            raise ClientSetupError(
                f"GStreamer element {self.decoder_element} is not available "
                f"({' | '.join(detail)})")

    def invocation(self, stream_path, work_dir, context):
        output = work_dir / "decoded.i420"
        counters = work_dir / "counters.jsonl"
        codec = stream_codec(stream_path)
        if codec not in self.decoder_elements:
            raise ClientSetupError(f"{self.name}: no GStreamer decoder for {codec}")
        argv = [*self._launch_prefix(context), "gst-launch-1.0", "-q",
                "filesrc", f"location={stream_path}", "!", *self.parsers[codec], "!",
                self.decoder_elements[codec], "!", "videoconvert", "!",
                "video/x-raw,format=I420", "!", "filesink", f"location={output}"]
        env = self._gst_env(context, counters)
        env["GST_REGISTRY_UPDATE"] = "no"
        return Invocation(argv, env, output, counters if self.hardware else None)

    def output_layout(self, geometry):
        # filesink writes buffers with GStreamer's default I420 strides.
        return rawvideo.gstreamer_i420_layout(geometry.width, geometry.height)


class GstSoftwareClient(GstClient):
    name = "gst-sw"
    hardware = False
    needs = ()
    needs_testbed = False
    decoder_element = "avdec_h264"
    decoder_elements = {"h264": "avdec_h264", "vp8": "avdec_vp8", "vp9": "avdec_vp9"}


class V4l2CodecsClient(GstClient):
    """GStreamer's own stateless decoder on the emulated device, without our
    driver: an independent check of the emulator's uAPI model."""
    name = "v4l2codecs"
    needs = ("emulator",)
    decoder_element = "v4l2slh264dec"
    decoder_elements = {"h264": "v4l2slh264dec", "vp8": "v4l2slvp8dec", "vp9": "v4l2slvp9dec"}


class FirefoxClient(Client):
    """The Firefox-pattern client prints `md5 <hex>` of its exported frames in
    output order, and optionally `frames <n>`."""
    name = "firefox"
    needs = ("driver", "emulator", "firefox")
    _MD5_LINE = re.compile(r"^md5 ([0-9a-f]{32})\s*$", re.MULTILINE)
    _FRAMES_LINE = re.compile(r"^frames (\d+)\s*$", re.MULTILINE)

    def invocation(self, stream_path, work_dir, context):
        if context.firefox_client is None:
            raise ClientSetupError("va-firefox-client is not built")
        counters = work_dir / "counters.jsonl"
        argv = [str(context.firefox_client), "--device", RENDER_NODE, str(stream_path)]
        return Invocation(argv, self._env(context, counters),
                          work_dir / STDOUT_NAME, counters)

    def read_output(self, invocation, geometry):
        text = invocation.output_path.read_text(encoding="utf-8", errors="replace")
        md5_match = self._MD5_LINE.search(text)
        if not md5_match:
            return DecodedOutput("", 0, "the client printed no `md5 <hex>` line")
        frames_match = self._FRAMES_LINE.search(text)
        # -1: the client did not say; the runner then counts the stream's frames.
        frames = int(frames_match.group(1)) if frames_match else -1
        return DecodedOutput(md5_match.group(1), frames)


CLIENTS: dict[str, type[Client]] = {
    cls.name: cls for cls in (FfmpegClient, GstClient, MpvClient, V4l2CodecsClient,
                              FirefoxClient, FfmpegSoftwareClient, GstSoftwareClient,
                              MpvSoftwareClient)
}
PUBLIC_CLIENTS = ("ffmpeg", "gst", "mpv", "v4l2codecs", "firefox")
