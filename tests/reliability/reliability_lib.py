"""What the reliability runs share: the build under test (plain or
sanitized), the clients, time-bounded runs that tell a crash, a hang and a
sanitizer report apart, the emulated device's counters, the streams made at
test time and the software decoder's reference.

Nothing here asserts: the runners (fault_matrix.py, mutant_runs.py) decide
what fails and print why.
"""
import hashlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

SANITIZER_REPORT = re.compile(
    r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|WARNING: ThreadSanitizer|"
    r"runtime error:|SUMMARY: UndefinedBehaviorSanitizer")
PROGRESS_FRAME = re.compile(r"^frame=(\d+)$", re.MULTILINE)
FIREFOX_FRAME = re.compile(r"^frame (\d+) ([0-9a-f]{32})$", re.MULTILINE)
FIREFOX_SUMMARY = re.compile(r"^frames=(\d+) errors=(\d+)", re.MULTILINE)
FIREFOX_TEARDOWN = re.compile(r"^teardown fds_before_device=(-?\d+) fds_before_decoders=(-?\d+) "
                              r"fds_after_decoders=(-?\d+)", re.MULTILINE)

# Bound on any wait of the driver for the device, so a hung job costs a
# second, not the default five (LIBVA_V4L2_REQUEST_TIMEOUT_MS, README.md).
DRIVER_TIMEOUT_MS = 1000


class Build:
    """The build directory under test; a sanitized one (b_sanitize) gets its
    runtimes preloaded ahead of the emulator, as tools/run-tests does."""

    def __init__(self, build_dir):
        self.dir = Path(build_dir).resolve()
        self.driver_dir = self.dir / "src"
        self.driver = self.driver_dir / "v4l2_request_drv_video.so"
        self.emulator = self.dir / "tools/emulator/libv4l2-emulator.so"
        self.firefox_client = self.dir / "tools/firefox-client/va-firefox-client"
        self.work = self.dir / "reliability"
        self.work.mkdir(parents=True, exist_ok=True)
        self.sanitizers = self._linked_sanitizers()

    def _linked_sanitizers(self):
        if not self.driver.exists():
            return []
        dynamic = subprocess.run(["readelf", "-d", str(self.driver)], capture_output=True, text=True).stdout
        return [name for name in ("libasan", "libubsan", "libtsan") if f"[{name}.so" in dynamic]

    def preload(self):
        runtimes = []
        for name in self.sanitizers:
            path = subprocess.run(["gcc", f"-print-file-name={name}.so"], capture_output=True,
                                  text=True).stdout.strip()
            runtimes.append(path)
        return " ".join(runtimes + [str(self.emulator)])

    def describe(self):
        return f"{self.dir} ({'+'.join(self.sanitizers) if self.sanitizers else 'no sanitizer'})"

    def env(self, counters, faults="", seed=1, profile="hantro", dpb_check="strict"):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("V4L2_EMU_", "LIBVA_", "ASAN_", "UBSAN_", "TSAN_"))}
        env.update({
            "LD_PRELOAD": self.preload(),
            "LIBVA_DRIVERS_PATH": str(self.driver_dir),
            "LIBVA_DRIVER_NAME": "v4l2_request",
            "LIBVA_V4L2_REQUEST_TIMEOUT_MS": str(DRIVER_TIMEOUT_MS),
            "V4L2_EMU_PROFILE": profile,
            "V4L2_EMU_COUNTERS": str(counters),
            "V4L2_EMU_DPB_CHECK": dpb_check,
        })
        if faults:
            env["V4L2_EMU_FAULTS"] = faults
            env["V4L2_EMU_FAULTS_SEED"] = str(seed)
        if self.sanitizers:
            # ffmpeg itself is not leak-clean; the driver's leaks are the
            # driver-device tests' business (they own the process).
            env["ASAN_OPTIONS"] = "verify_asan_link_order=0:detect_leaks=0:abort_on_error=1"
            env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1"
        return env

    def fault_targets(self):
        """The emulator's own table of fault targets and their errnos."""
        env = dict(os.environ, LD_PRELOAD=self.preload(), V4L2_EMU_FAULTS="help")
        if self.sanitizers:
            env["ASAN_OPTIONS"] = "verify_asan_link_order=0:detect_leaks=0"
        out = subprocess.run(["cat", "/dev/null"], env=env, capture_output=True, text=True, check=True)
        return json.loads(out.stdout)


class Outcome:
    """One client run: how it ended and what it printed."""

    def __init__(self, returncode, timed_out, elapsed, stdout, stderr):
        self.returncode = returncode
        self.timed_out = timed_out
        self.elapsed = elapsed
        self.stdout = stdout
        self.stderr = stderr
        match = SANITIZER_REPORT.search(stderr)
        self.sanitizer_report = stderr[match.start():match.start() + 300] if match else ""

    @property
    def crashed(self):
        """Killed by a signal we did not send (SIGSEGV, SIGABRT from an
        assertion or from a sanitizer's abort_on_error)."""
        return not self.timed_out and self.returncode is not None and self.returncode < 0

    def crash_text(self):
        if not self.crashed:
            return ""
        try:
            return signal.Signals(-self.returncode).name
        except ValueError:
            return f"signal {-self.returncode}"


def run_bounded(cmd, env, bound_seconds, cwd=None):
    """Runs `cmd` in its own process group; kills the group after
    `bound_seconds` (a hang)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    timed_out = False
    try:
        stdout, stderr = proc.communicate(timeout=bound_seconds)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
    return Outcome(proc.returncode, timed_out, time.monotonic() - start,
                   stdout.decode(errors="replace"), stderr.decode(errors="replace"))


def read_counters(path):
    """The counters line of the process that used the device (the one with
    the most ioctls; helper processes such as a shell write empty lines)."""
    path = Path(path)
    if not path.exists():
        return None
    best = None
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if best is None or sum(record.get("ioctls", {}).values()) > sum(best.get("ioctls", {}).values()):
            best = record
    return best


# ---------------------------------------------------------------- clients

def ffmpeg_copy_back_cmd(stream):
    """ffmpeg -hwaccel vaapi, frames copied back (GetImage), one MD5 per frame."""
    return ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1",
            "-hwaccel", "vaapi", "-hwaccel_device", "/dev/dri/renderD128",
            "-hwaccel_flags", "+allow_profile_mismatch", "-i", str(stream),
            "-fps_mode", "passthrough", "-f", "framemd5", "-pix_fmt", "yuv420p", "-"]


def ffmpeg_vaapi_output_cmd(stream):
    """ffmpeg -hwaccel_output_format vaapi: surfaces stay on the device
    (no copy), counted by the null muxer."""
    return ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1",
            "-hwaccel", "vaapi", "-hwaccel_device", "/dev/dri/renderD128",
            "-hwaccel_output_format", "vaapi", "-hwaccel_flags", "+allow_profile_mismatch",
            "-i", str(stream), "-fps_mode", "passthrough", "-f", "null", "-progress", "pipe:1",
            "-nostats", "-"]


def firefox_cmd(build, stream):
    """The Firefox pattern (docs/firefox.md) with Firefox's error recovery
    (media.video-max-decode-error = 2) and one MD5 per frame."""
    return [str(build.firefox_client), "--frame-md5", "--max-decode-errors", "2", str(stream)]


def framemd5_digests(text):
    return [line.rsplit(",", 1)[1].strip() for line in text.splitlines()
            if line and not line.startswith("#") and line.count(",") >= 5]


def firefox_digests(text):
    return [m.group(2) for m in FIREFOX_FRAME.finditer(text)]


def progress_frames(text):
    found = PROGRESS_FRAME.findall(text)
    return int(found[-1]) if found else 0


# ---------------------------------------------------------------- streams

def _atomic_write(path, data):
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_bytes(data)
    tmp.replace(path)


def x264_stream(build, name, size, seconds, rate, x264_params):
    """An H.264 elementary stream encoded here with libx264 (cached in the
    build directory): testsrc2 content, so every frame differs."""
    out = build.work / "streams" / f"{name}.264"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-f", "lavfi",
           "-i", f"testsrc2=size={size}:rate={rate}", "-t", str(seconds), "-c:v", "libx264",
           "-preset", "veryfast", "-x264-params", x264_params, "-pix_fmt", "yuv420p", "-f", "h264", "-"]
    data = subprocess.run(cmd, capture_output=True, check=True).stdout
    _atomic_write(out, data)
    return out


def software_reference(build, stream):
    """Per-frame MD5s of FFmpeg's software decoder (output order) and the
    output indices of its key frames, cached per stream content."""
    digest = hashlib.md5(Path(stream).read_bytes()).hexdigest()
    cache = build.work / "reference" / f"{Path(stream).stem}-{digest[:12]}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    cache.parent.mkdir(parents=True, exist_ok=True)
    decode = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1",
                             "-i", str(stream), "-fps_mode", "passthrough", "-f", "framemd5",
                             "-pix_fmt", "yuv420p", "-"], capture_output=True, text=True, timeout=600)
    frames = framemd5_digests(decode.stdout)
    probe = subprocess.run(["ffprobe", "-v", "error", "-threads", "1", "-select_streams", "v",
                            "-show_frames", "-show_entries", "frame=key_frame", "-of", "json",
                            str(stream)], capture_output=True, text=True, timeout=600)
    probed = json.loads(probe.stdout or "{}").get("frames", [])
    keys = [i for i, frame in enumerate(probed) if frame.get("key_frame") == 1]
    reference = {"frames": frames, "key_frames": keys, "exit": decode.returncode}
    _atomic_write(cache, json.dumps(reference).encode())
    return reference


def conformance_stream(manifest, name):
    manifest = Path(manifest)
    for line in manifest.read_text().splitlines()[1:]:
        fields = line.split("\t")
        if fields and fields[0] == name:
            return manifest.parent / fields[1]
    raise KeyError(f"{name} is not in {manifest}")


def common_suffix(a, b):
    n = 0
    while n < len(a) and n < len(b) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n
