"""How each client is run on one stream, and how its decoded output is read.

Hardware clients run with the emulated decoder preloaded and must show, in the
emulator's counters, that the frames went through it.  The `*-sw` clients are
the same pipelines with software decoding and no emulator: they exist to prove
the MD5 plumbing against the published checksums, and they are never used to
judge the driver.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path

from . import rawvideo

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

    def prepare(self, context: RunContext) -> None:
        """Once per run, before any stream; raises ClientSetupError."""

    def invocation(self, stream_path: Path, work_dir: Path,
                   context: RunContext) -> Invocation:
        raise NotImplementedError

    def read_output(self, invocation: Invocation, width: int, height: int) -> DecodedOutput:
        digest = rawvideo.digest_file(invocation.output_path,
                                      rawvideo.packed_i420_layout(width, height))
        return _decoded(digest)

    def _env(self, context: RunContext, counters_path: Path) -> dict[str, str]:
        if not self.hardware:
            return _base_env()
        return emulator_env(context, counters_path, "driver" in self.needs)


def _decoded(digest: rawvideo.VideoDigest) -> DecodedOutput:
    problem = None
    if digest.leftover_bytes:
        problem = (f"output ends in a partial frame ({digest.leftover_bytes} bytes "
                   "after the last whole frame)")
    return DecodedOutput(digest.md5, digest.frames, problem)


class FfmpegClient(Client):
    name = "ffmpeg"
    needs = ("driver", "emulator")
    hwaccel = True

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
        argv += ["-i", str(stream_path), "-fps_mode", "passthrough",
                 "-f", "rawvideo", "-pix_fmt", "yuv420p", "-y", str(output)]
        return Invocation(argv, self._env(context, counters), output,
                          counters if self.hardware else None)


class FfmpegSoftwareClient(FfmpegClient):
    name = "ffmpeg-sw"
    hardware = False
    hwaccel = False
    needs = ()


class MpvClient(Client):
    name = "mpv"
    needs = ("driver", "emulator")
    hwaccel = True

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
            argv += ["--hwdec=no"]
        # Encoding mode writes every decoded frame, converted to yuv420p.
        argv += [f"--o={output}", "--of=rawvideo", "--ovc=rawvideo",
                 "--vf=format=yuv420p", str(stream_path)]
        return Invocation(argv, self._env(context, counters), output,
                          counters if self.hardware else None)


class MpvSoftwareClient(MpvClient):
    name = "mpv-sw"
    hardware = False
    hwaccel = False
    needs = ()


class GstClient(Client):
    """gst-launch-1.0 under umockdev so the plugin finds the device with gudev."""
    name = "gst"
    needs = ("driver", "emulator")
    needs_testbed = True
    decoder_element = "vah264dec"

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
        argv = [*self._launch_prefix(context), "gst-launch-1.0", "-q",
                "filesrc", f"location={stream_path}", "!", "h264parse", "!",
                self.decoder_element, "!", "videoconvert", "!",
                "video/x-raw,format=I420", "!", "filesink", f"location={output}"]
        env = self._gst_env(context, counters)
        env["GST_REGISTRY_UPDATE"] = "no"
        return Invocation(argv, env, output, counters if self.hardware else None)

    def read_output(self, invocation, width, height):
        # filesink writes buffers with GStreamer's default I420 strides.
        digest = rawvideo.digest_file(invocation.output_path,
                                      rawvideo.gstreamer_i420_layout(width, height))
        return _decoded(digest)


class GstSoftwareClient(GstClient):
    name = "gst-sw"
    hardware = False
    needs = ()
    needs_testbed = False
    decoder_element = "avdec_h264"


class V4l2CodecsClient(GstClient):
    """GStreamer's own stateless decoder on the emulated device, without our
    driver: an independent check of the emulator's uAPI model."""
    name = "v4l2codecs"
    needs = ("emulator",)
    decoder_element = "v4l2slh264dec"


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

    def read_output(self, invocation, width, height):
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
