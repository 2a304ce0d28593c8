#!/usr/bin/env python3
"""Real Firefox on the emulated decoder, through the VA driver, zero-copy.

Debian's firefox-esr under Xvfb plays an H.264 MP4 made here (1080p High
with B-frames, x264) from a page on 127.0.0.1, looping, with a seek every
few seconds, for a fixed time. The driver decodes on the emulated device
(tools/emulator, preloaded into every Firefox process) and exports each
picture as dma-bufs; the compositor imports them through the test-only EGL
layer (tools/egl-dmabuf), which hashes every plane it imports.

Evidence, all kept in --work: Firefox's MOZ_LOG (PlatformDecoderModule,
FFmpegVideo, Dmabuf), the emulator's record (one line per decode job) and
counters, the driver's messages (stderr), about:support (Troubleshoot
snapshot and the page's text, read through Marionette), a screenshot of the
X screen, the RDD process's fds by kind and RSS every few seconds. The run
passes when the figures meet the issue-13 targets; they are printed at the
end either way.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import evidence  # noqa: E402
import plane_reference  # noqa: E402
import process_watch  # noqa: E402
import screen  # noqa: E402
from marionette import Marionette, MarionetteError  # noqa: E402

SCREEN_W, SCREEN_H = 1280, 720
VIDEO_W, VIDEO_H = 960, 540          # CSS size of the <video> element
DEFAULT_SLOTS = 6                    # the driver's request slots per context

# The gates issue 13 found between Firefox 153 ESR on llvmpipe and VA-API
# (docs/firefox.md), plus what a test profile needs to stay quiet.
PREFS = {
    "gfx.blacklist.hardwarevideodecoding": 1,
    "gfx.blacklist.h264.hw-decode": 1,
    "media.ffmpeg.vaapi.enabled": True,
    "media.hardware-video-decoding.force-enabled": True,
    "gfx.webrender.all": True,
    "layers.acceleration.force-enabled": True,
    "gfx.blacklist.webrender": 1,
    "media.autoplay.default": 0,
    "media.autoplay.blocking_policy": 0,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.aboutwelcome.enabled": False,
    "browser.tabs.warnOnClose": False,
    "browser.sessionstore.resume_from_crash": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "app.update.disabledForTesting": True,
    "app.normandy.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "browser.safebrowsing.update.enabled": False,
    "extensions.update.enabled": False,
    "services.settings.server": "http://127.0.0.1:9/",
}

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>VA-API tier</title>
<style>html,body{margin:0;padding:0;background:#000;overflow:hidden}
video{position:absolute;left:0;top:0;width:%(w)dpx;height:%(h)dpx}</style></head>
<body><video id="v" src="video.mp4" muted autoplay loop playsinline></video>
<script>
const v = document.getElementById('v');
window.tier = {seeks: 0, seeked: 0, errors: [], playing: false, stop: false};
v.addEventListener('error', () => tier.errors.push(String(v.error && (v.error.code + ' ' + v.error.message))));
v.addEventListener('playing', () => { tier.playing = true; });
v.addEventListener('seeked', () => { tier.seeked++; });
// A seek every few seconds to positions spread over the clip (including
// non-keyframes): each one flushes the decoder.
setInterval(() => {
  if (tier.stop || !(v.duration > 0)) return;
  tier.seeks++;
  v.currentTime = (tier.seeks * 2.618) %% v.duration;
}, %(seek_ms)d);
</script></body></html>
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_video(path: Path, seconds: int) -> None:
    """1080p H.264 High with B-frames, as a site would serve it (faststart)."""
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size=1920x1080:rate=30:duration={seconds}", "-c:v", "libx264", "-profile:v",
                    "high", "-preset", "veryfast", "-bf", "3", "-g", "60", "-pix_fmt", "yuv420p", "-movflags",
                    "+faststart", str(path)], check=True)


@contextlib.contextmanager
def xvfb(work: Path):
    """An Xvfb on a free display number (-displayfd tells which)."""
    read_end, write_end = os.pipe()
    log = (work / "xvfb.log").open("w")
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", f"{SCREEN_W}x{SCREEN_H}x24",
                             "-nolisten", "tcp", "-noreset"], pass_fds=(write_end,), stdout=log, stderr=log)
    os.close(write_end)
    try:
        with os.fdopen(read_end) as f:
            number = f.readline().strip()
        if not number:
            raise RuntimeError("Xvfb did not start (see xvfb.log)")
        yield f":{number}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@contextlib.contextmanager
def http_server(root: Path):
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # the request log would only be noise
        pass


def write_profile(profile: Path, marionette_port: int) -> None:
    profile.mkdir(parents=True)
    prefs = dict(PREFS, **{"marionette.port": marionette_port})
    lines = [f"user_pref({json.dumps(k)}, {json.dumps(v)});" for k, v in prefs.items()]
    (profile / "user.js").write_text("\n".join(lines) + "\n", encoding="utf-8")


def firefox_environment(args, display: str, work: Path) -> dict:
    env = dict(os.environ)
    for key in ("WAYLAND_DISPLAY", "MOZ_LOG", "LIBVA_DRIVER_NAME", "V4L2_EMU_FAULTS"):
        env.pop(key, None)
    env.update({
        "DISPLAY": display,
        "HOME": str(work / "home"),
        "XDG_RUNTIME_DIR": str(work / "home"),
        "LD_PRELOAD": str(args.emulator),
        "LIBVA_DRIVERS_PATH": str(args.driver_dir),
        "LIBVA_DRIVER_NAME": "v4l2_request",
        "MOZ_DRM_DEVICE": "/dev/dri/renderD128",
        "__EGL_VENDOR_LIBRARY_FILENAMES": str(args.egl_vendor),
        "EGL_DMABUF_HASH_LOG": str(work / "egl-imports.jsonl"),
        "V4L2_EMU_RECORD": str(work / "emulator-record.jsonl"),
        "V4L2_EMU_COUNTERS": str(work / "emulator-counters.jsonl"),
        # Every ioctl on an emulated fd, on stderr: MEDIA_IOC_REQUEST_ALLOC is
        # counted from these when a process leaves without its counters.
        "V4L2_EMU_LOG": "1",
        "MOZ_LOG": "PlatformDecoderModule:5,FFmpegVideo:5,Dmabuf:5",
        "MOZ_LOG_FILE": str(work / "mozlog"),
        "MOZ_CRASHREPORTER_DISABLE": "1",
    })
    if args.sandbox:
        env["MOZ_SANDBOX_LOGGING"] = "1"
        env.pop("MOZ_DISABLE_RDD_SANDBOX", None)
        # The RDD broker reads libraries only from the system's library
        # directories and LD_LIBRARY_PATH (SandboxBrokerPolicyFactory.cpp,
        # AddLdLibraryEnvPaths); an installed driver sits in the former, the
        # build tree's needs the latter (libva's dlopen, glvnd's JSON).
        env["LD_LIBRARY_PATH"] = ":".join(filter(None, [str(args.driver_dir), str(args.egl_vendor.parent),
                                                        env.get("LD_LIBRARY_PATH", "")]))
        # The sandboxed RDD cannot open the record file (one broker denial
        # per decoded picture); its ioctl log on stderr counts the pictures.
        env.pop("V4L2_EMU_RECORD", None)
    else:
        env["MOZ_DISABLE_RDD_SANDBOX"] = "1"
    (work / "home").mkdir(exist_ok=True)
    return env


@dataclass
class Sample:
    t: float
    fds: dict
    rss_kb: int
    page: dict


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    rdd_pid: int | None = None
    playing_at: float = 0.0
    ended_at: float = 0.0
    page: dict = field(default_factory=dict)
    paused_time: float = 0.0
    video_rect: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


PAGE_STATE = """
const v = document.getElementById('v');
const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : {};
return {seeks: tier.seeks, seeked: tier.seeked, errors: tier.errors, playing: tier.playing,
        time: v.currentTime, paused: v.paused, total_frames: q.totalVideoFrames || 0,
        dropped_frames: q.droppedVideoFrames || 0, ready: v.readyState};
"""

SNAPSHOT = """
const resolve = arguments[arguments.length - 1];
const { Troubleshoot } = ChromeUtils.importESModule("resource://gre/modules/Troubleshoot.sys.mjs");
Troubleshoot.snapshot().then(s => resolve(JSON.stringify(s)), e => resolve(JSON.stringify({error: String(e)})));
"""


def drive(args, work: Path, display: str, base_url: str, env: dict) -> tuple[Run, int]:
    run = Run()
    port = free_port()
    write_profile(work / "profile", port)
    stderr_log = (work / "firefox-stderr.log").open("w")
    firefox = subprocess.Popen([args.firefox, "--no-remote", "--profile", str(work / "profile"), "-marionette",
                                "-remote-allow-system-access", "about:blank"],
                               env=env, stdout=stderr_log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        m = Marionette("127.0.0.1", port, connect_timeout=120)
        m.new_session()
        with contextlib.suppress(MarionetteError):
            m.set_window_rect(0, 0, SCREEN_W, SCREEN_H)
        m.navigate(base_url + "/index.html")
        wait_until(lambda: m.execute("return tier.playing && document.getElementById('v').currentTime > 0.5;"),
                   120, "the video never started playing")
        run.playing_at = time.monotonic()
        run.rdd_pid = process_watch.find_child(firefox.pid, "rdd")
        if run.rdd_pid is None:
            run.notes.append("no RDD process found")
        sample_until(m, run, args)
        run.ended_at = time.monotonic()
        finish_page(m, run, work, display, args)
        m.quit()
    finally:
        code = stop_firefox(firefox)
        stderr_log.close()
    return run, code


def wait_until(predicate, timeout: float, failure: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(MarionetteError):
            if predicate():
                return
        time.sleep(0.5)
    raise RuntimeError(failure)


def sample_until(m: Marionette, run: Run, args) -> None:
    next_sample = run.playing_at
    while time.monotonic() - run.playing_at < args.duration:
        now = time.monotonic()
        if now >= next_sample:
            page = m.execute(PAGE_STATE)
            fds = process_watch.fd_census(run.rdd_pid) if run.rdd_pid else {}
            rss = process_watch.rss_kb(run.rdd_pid) if run.rdd_pid else -1
            run.samples.append(Sample(now - run.playing_at, dict(fds), rss, page))
            next_sample += args.sample_interval
        time.sleep(0.2)


def finish_page(m: Marionette, run: Run, work: Path, display: str, args) -> None:
    # Stop seeking, pause on a frame, let the compositor show it.
    m.execute("tier.stop = true; document.getElementById('v').pause();")
    time.sleep(1.5)
    run.page = m.execute(PAGE_STATE)
    rect = m.execute("const r = document.getElementById('v').getBoundingClientRect();"
                     "return [window.mozInnerScreenX + r.left, window.mozInnerScreenY + r.top, r.width, r.height,"
                     "document.getElementById('v').currentTime, window.devicePixelRatio];")
    run.video_rect = rect
    run.paused_time = float(rect[4])
    screen.grab_screen(display, SCREEN_W, SCREEN_H, work / "screenshot.png")
    # about:support: the Troubleshoot snapshot (its data) and the page as text.
    m.set_context("chrome")
    (work / "about-support.json").write_text(m.execute_async(SNAPSHOT, timeout=120), encoding="utf-8")
    m.set_context("content")
    video_tab = m.window_handle()
    m.switch_to(m.new_tab())
    m.navigate("about:support")
    time.sleep(2)
    (work / "about-support.txt").write_text(m.execute("return document.body.innerText;"), encoding="utf-8")
    m.switch_to(video_tab)


def stop_firefox(proc: subprocess.Popen) -> int:
    try:
        return proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            return proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            return proc.wait()


# ---- Judging the run ----

@dataclass
class Figures:
    lines: list[tuple[str, str, bool | None]] = field(default_factory=list)  # (name, value, passed)

    def add(self, name: str, value, passed: bool | None = None) -> None:
        self.lines.append((name, str(value), passed))

    @property
    def ok(self) -> bool:
        return all(p is not False for _, _, p in self.lines)

    def print(self) -> None:
        print("\n==== firefox-real figures ====")
        for name, value, passed in self.lines:
            mark = "    " if passed is None else ("PASS" if passed else "FAIL")
            print(f"{mark} {name}: {value}")
        print("RESULT:", "PASS" if self.ok else "FAIL")


def window(samples: list[Sample], start: float, end: float) -> list[Sample]:
    return [s for s in samples if start <= s.t < end]


def judge(args, work: Path, run: Run, firefox_code: int) -> Figures:
    f = Figures()
    played = run.ended_at - run.playing_at
    page = run.page
    f.add("playback seconds", f"{played:.0f}", played >= args.min_seconds)
    f.add("seeks completed (seeked events)", page.get("seeked", 0), page.get("seeked", 0) >= args.min_seeks)
    f.add("frames presented by the page (getVideoPlaybackQuality total/dropped)",
          f"{page.get('total_frames')}/{page.get('dropped_frames')}")

    emu = evidence.read_emulator(work / "emulator-record.jsonl", work / "emulator-counters.jsonl")
    log = evidence.read_mozlog(work / "mozlog")
    driver = evidence.read_driver_messages(work / "firefox-stderr.log")
    device_frames, source = emu.decoded_ok, "emulator record"
    queued = evidence.queued_requests_from_emulator_log(work / "firefox-stderr.log")
    if not emu.jobs and queued:
        # A sandboxed RDD cannot open the record file; its ioctl log goes
        # to the stderr it inherited.
        device_frames, source = queued, "requests queued, emulator ioctl log"
    f.add(f"frames decoded through VA-API on the device ({source})", device_frames,
          device_frames >= args.min_frames)
    f.add("VA-API frames in Firefox's log (FFmpegVideo 'VA-API frame')", log.vaapi_frames,
          log.vaapi_frames >= args.min_frames)
    errors = emu.failed_jobs + emu.dpb_mismatches + len(log.errors) + len(driver.errors) + len(page.get("errors", []))
    f.add("decode errors (device jobs failed / DPB mismatches / Firefox log / driver / page)",
          f"{errors} ({emu.failed_jobs}/{emu.dpb_mismatches}/{len(log.errors)}/{len(driver.errors)}/"
          f"{len(page.get('errors', []))})", errors == 0)
    all_hw = log.video_decoders > 0 and log.video_decoders == log.hardware_decoders == log.vaapi_inits
    f.add("H.264 decoders created / VA-API init ok / hardware", f"{log.video_decoders}/{log.vaapi_inits}/"
          f"{log.hardware_decoders}", all_hw)
    f.add("fallbacks to software (Firefox log)", len(log.fallbacks), not log.fallbacks)
    for line in (log.fallbacks + log.errors + driver.errors)[:10]:
        f.add("  log", line[:200])

    slots = int(os.environ.get("LIBVA_V4L2_REQUEST_SLOTS", DEFAULT_SLOTS))
    requests, source = emu.requests_allocated(), "emulator counters"
    logged = evidence.requests_from_emulator_log(work / "firefox-stderr.log")
    if requests is None and logged:
        requests, source = sum(logged.values()), "emulator ioctl log"
    f.add("VA contexts created (driver)", driver.contexts)
    if requests is None:
        f.add("MEDIA_IOC_REQUEST_ALLOC", "not measured: no emulator counters or ioctl log", False)
    else:
        f.add(f"MEDIA_IOC_REQUEST_ALLOC = contexts x slots ({source})", f"{requests} = {driver.contexts} x {slots}",
              requests == driver.contexts * slots)
    judge_about_support(f, work)
    judge_process(f, args, run)
    judge_imports(f, args, work)
    judge_screenshot(f, work, run, args)
    f.add("flushes seen by the RDD (ProcessFlush) / DMABufSurfaces added / VideoFrameSurfaces deleted",
          f"{log.flushes}/{log.dmabuf_surfaces_added}/{log.video_frame_surfaces_deleted}")
    same = sum(1 for a, b in zip(log.added_per_interval, log.surfaces_per_interval) if a == b)
    f.add("seek intervals where Firefox's pool added one DMABufSurface (and eventfd) per distinct VA surface shown",
          f"{same}/{len(log.added_per_interval)} (added per interval: "
          f"{', '.join(map(str, log.added_per_interval[:12]))}{' ...' if len(log.added_per_interval) > 12 else ''})")
    f.add("Firefox exit status", firefox_code)
    return f


def judge_about_support(f: Figures, work: Path) -> None:
    """What about:support (the Troubleshoot snapshot) says."""
    try:
        snapshot = json.loads((work / "about-support.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        f.add("about:support", "not read", False)
        return
    codecs = snapshot.get("media", {}).get("codecSupportInfo", "")
    h264 = next((line for line in codecs.splitlines() if line.startswith("H264 ")), "H264 (absent)")
    f.add("about:support codec support", h264, "HWDEC" in h264.split())
    compositor = snapshot.get("graphics", {}).get("windowLayerManagerType", "?")
    f.add("about:support compositing", compositor, compositor == "WebRender")
    rejected = snapshot.get("sandbox", {}).get("syscallLog", [])
    f.add("about:support rejected system calls (seccomp)", len(rejected))
    for entry in rejected[:8]:
        f.add("  rejected", json.dumps(entry)[:200])


def judge_process(f: Figures, args, run: Run) -> None:
    samples = [s for s in run.samples if s.rss_kb > 0]
    if not samples:
        f.add("RDD process", "no samples", False)
        return
    warm = window(samples, args.warmup, args.warmup + 30)
    last = window(samples, run.samples[-1].t - 30, run.samples[-1].t + 1)
    if not warm or not last:
        f.add("RDD samples after warm-up", len(samples), False)
        return

    steady = [s for s in samples if s.t >= args.warmup]
    f.add("RDD pid", run.rdd_pid)
    for kind in ("driver", "render-node", "media-node", "capture-buffer", "output-buffer", "socket"):
        values = [s.fds.get(kind, 0) for s in steady]
        growth = trend(steady, kind)
        # Exported pictures in flight and context churn at each seek move
        # single samples both ways; a leak shows as a trend.
        f.add(f"RDD fds {kind} after warm-up: range, trend over {steady[-1].t - steady[0].t:.0f} s",
              f"{min(values)}..{max(values)}, {growth:+.1f}",
              abs(growth) <= args.max_fd_trend if kind in ("driver", "socket") else None)
    first, end = samples[0], samples[-1]
    eventfd_growth = end.fds.get("eventfd", 0) - first.fds.get("eventfd", 0)
    seeks = max(end.page.get("seeked", 0) - first.page.get("seeked", 0), 1)
    f.add("RDD eventfds (Firefox's VideoFramePool, see docs/firefox.md) start -> end, per seek",
          f"{first.fds.get('eventfd', 0)} -> {end.fds.get('eventfd', 0)}, {eventfd_growth / seeks:.1f}")
    f.add("RDD fds total start -> end", f"{first.fds.get('total', 0)} -> {end.fds.get('total', 0)}")
    rss_warm = statistics.median(s.rss_kb for s in warm)
    rss_last = statistics.median(s.rss_kb for s in last)
    growth_mb = (rss_last - rss_warm) / 1024
    f.add("RDD RSS MiB (median after warm-up -> median of last 30 s)",
          f"{rss_warm / 1024:.1f} -> {rss_last / 1024:.1f} ({growth_mb:+.1f})", growth_mb <= args.max_rss_growth_mb)


def trend(samples: list[Sample], key: str) -> float:
    """Least-squares growth of an fd count from the first sample to the last."""
    ts = [s.t for s in samples]
    ys = [s.fds.get(key, 0) for s in samples]
    if len(ts) < 2:
        return 0.0
    mean_t, mean_y = statistics.fmean(ts), statistics.fmean(ys)
    var_t = sum((t - mean_t) ** 2 for t in ts)
    slope = sum((t - mean_t) * (y - mean_y) for t, y in zip(ts, ys)) / var_t if var_t else 0.0
    return slope * (ts[-1] - ts[0])


def judge_imports(f: Figures, args, work: Path) -> None:
    imports = plane_reference.read_import_log(work / "egl-imports.jsonl")
    f.add("planes the compositor imported (EGL layer)", len(imports), len(imports) > 0)
    if not imports:
        return
    reference = plane_reference.reference_hashes(work / "www" / "video.mp4", plane_reference.import_shapes(imports))
    known = {shape: set(hashes) for shape, hashes in reference.planes.items()}
    matched = sum(1 for r in imports
                  if r["planes"][0] in known.get((r["fourcc"], int(r["width"]), int(r["height"])), ()))
    f.add("imported planes equal to a software-decoded plane (bit-exact)", f"{matched}/{len(imports)}",
          matched == len(imports))


def judge_screenshot(f: Figures, work: Path, run: Run, args) -> None:
    shot = work / "screenshot.png"
    if not shot.exists() or not run.video_rect:
        f.add("screenshot", "missing", False)
        return
    x, y, w, h = (int(round(v)) for v in run.video_rect[:4])
    video_png = work / "screenshot-video.png"
    screen.crop(shot, x, y, w, h, video_png)
    stats = screen.colour_stats(video_png)
    # The frame at the paused time, and its neighbours (the displayed frame
    # may be one off the reported time).
    best = 0.0
    for k, dt in enumerate((0.0, -1 / 30, 1 / 30, -2 / 30)):
        ref = work / f"reference-{k}.png"
        screen.reference_frame(work / "www" / "video.mp4", run.paused_time + dt, w, h, ref)
        best = max(best, screen.psnr(video_png, ref))
    black, green = work / "black.png", work / "green.png"
    screen.solid_frame("black", w, h, black)
    screen.solid_frame("0x008700", w, h, green)
    f.add("screenshot", f"{shot} (video at {x},{y} {w}x{h}, paused at {run.paused_time:.3f} s)")
    f.add("screenshot vs software frame, PSNR dB (vs black / green)",
          f"{best:.1f} ({screen.psnr(video_png, black):.1f} / {screen.psnr(video_png, green):.1f})",
          best >= args.min_psnr)
    f.add("screenshot colours: mean luma, green fraction, distinct colours",
          f"{stats.mean_luma:.0f}, {stats.green_fraction:.2f}, {stats.distinct_colours}",
          stats.mean_luma > 30 and stats.green_fraction < 0.5 and stats.distinct_colours >= 16)


def write_samples(work: Path, run: Run) -> None:
    with (work / "rdd-samples.jsonl").open("w", encoding="utf-8") as out:
        for s in run.samples:
            out.write(json.dumps({"t": round(s.t, 1), "fds": s.fds, "rss_kb": s.rss_kb, "page": s.page}) + "\n")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", type=Path, required=True)
    p.add_argument("--work", type=Path, help="artifacts (default: <build>/meson-logs/firefox-real)")
    p.add_argument("--firefox", default=shutil.which("firefox-esr") or "firefox-esr")
    p.add_argument("--duration", type=float, default=150, help="seconds of playback")
    p.add_argument("--seek-interval", type=float, default=5)
    p.add_argument("--clip-seconds", type=int, default=12)
    p.add_argument("--sample-interval", type=float, default=2)
    p.add_argument("--warmup", type=float, default=30, help="seconds before fds and RSS are expected flat")
    p.add_argument("--min-seconds", type=float, default=120)
    p.add_argument("--min-seeks", type=int, default=20)
    p.add_argument("--min-frames", type=int, default=3000)
    p.add_argument("--max-rss-growth-mb", type=float, default=32)
    p.add_argument("--max-fd-trend", type=float, default=10,
                   help="largest fitted growth of the driver's fds after warm-up (one leaked fd per seek: ~24)")
    p.add_argument("--min-psnr", type=float, default=20)
    p.add_argument("--sandbox", action="store_true", help="keep the RDD sandbox on (MOZ_SANDBOX_LOGGING=1)")
    args = p.parse_args()
    build = args.build_dir.resolve()
    args.emulator = build / "tools/emulator/libv4l2-emulator.so"
    args.driver_dir = build / "src"
    args.egl_vendor = build / "tools/egl-dmabuf/egl_dmabuf_vendor.json"
    if args.work is None:
        args.work = build / "meson-logs" / ("firefox-real-sandbox" if args.sandbox else "firefox-real")
    return args


def main() -> int:
    args = parse_args()
    for tool in (args.firefox, "Xvfb", "ffmpeg"):
        if not shutil.which(tool):
            print(f"firefox-real: {tool} is not installed (tools/bootstrap installs it)", file=sys.stderr)
            return 1
    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    (work / "www").mkdir(parents=True)
    make_video(work / "www" / "video.mp4", args.clip_seconds)
    (work / "www" / "index.html").write_text(
        PAGE % {"w": VIDEO_W, "h": VIDEO_H, "seek_ms": int(args.seek_interval * 1000)}, encoding="utf-8")
    with xvfb(work) as display, http_server(work / "www") as base_url:
        env = firefox_environment(args, display, work)
        run, code = drive(args, work, display, base_url, env)
    write_samples(work, run)
    figures = judge(args, work, run, code)
    for note in run.notes:
        figures.add("note", note)
    figures.add("artifacts", work)
    figures.print()
    return 0 if figures.ok else 1


if __name__ == "__main__":
    sys.exit(main())
