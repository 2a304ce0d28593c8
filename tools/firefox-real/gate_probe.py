#!/usr/bin/env python3
"""Which of the firefox-real tier's settings does a Firefox build need?

Plays the tier's clip for a short while once with every setting, then once
with each setting left out, and reports for each run whether Firefox decoded
through VA-API (frames on the emulated device, FFmpegVideo 'VA-API frame'
lines) and what its log says instead. A command for docs/firefox.md, not a
test:

  tools/firefox-real/gate_probe.py --build-dir build [--firefox /path/to/firefox-esr]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import evidence  # noqa: E402
import firefox_tier as tier  # noqa: E402

GATE_PREFS = ["gfx.blacklist.hardwarevideodecoding", "gfx.blacklist.h264.hw-decode", "media.ffmpeg.vaapi.enabled",
              "media.hardware-video-decoding.force-enabled", "gfx.webrender.all",
              "layers.acceleration.force-enabled", "gfx.blacklist.webrender"]
GATE_ENV = ["MOZ_DRM_DEVICE", "__EGL_VENDOR_LIBRARY_FILENAMES"]


def version(firefox: str) -> str:
    return subprocess.run([firefox, "--version"], capture_output=True, text=True).stdout.strip()


def probe(args, display: str, base_url: str, work: Path, drop: str | None) -> tuple[int, int, str]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    prefs = dict(tier.PREFS)
    prefs.pop(drop, None)
    profile = work / "profile"
    profile.mkdir()
    (profile / "user.js").write_text("".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n"
                                             for k, v in prefs.items()), encoding="utf-8")
    env = tier.firefox_environment(args, display, work)
    env.pop("V4L2_EMU_LOG", None)
    if drop in GATE_ENV:
        env.pop(drop, None)
    with (work / "firefox-stderr.log").open("w") as log:
        proc = subprocess.Popen([args.firefox, "--no-remote", "--profile", str(profile), base_url + "/index.html"],
                                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        time.sleep(args.seconds)
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    emu = evidence.read_emulator(work / "emulator-record.jsonl", work / "emulator-counters.jsonl")
    log = evidence.read_mozlog(work / "mozlog")
    return emu.decoded_ok, log.vaapi_frames, why_not(work)


# What Firefox's logs say when VA-API is not used (first match wins).
REASONS = [
    ("FEATURE_FAILURE", "gfxInfo blocklist"),
    ("Hw codec disabled by gfxVars for AV_CODEC_ID_H264", "hardware decoding disabled (gfxVars)"),
    ("VA-API is disabled", "VA-API disabled"),
    ("Hardware WebRender is off", "no hardware WebRender"),
    ("DMABuf is disabled", "no DMABuf device"),
    ("EGL_EXT_image_dma_buf_import", "no dma-buf import in EGL"),
    ("IsHardwareAccelerated=false", "software decoder"),
]


def why_not(work: Path) -> str:
    lines = []
    for path in sorted(work.glob("mozlog*")) + [work / "firefox-stderr.log"]:
        if path.exists():
            lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
    for needle, reason in REASONS:
        hit = next((line for line in lines if needle in line), None)
        if hit:
            return f"{reason}: {hit.strip()[:160]}"
    return ""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", type=Path, required=True)
    p.add_argument("--firefox", default=shutil.which("firefox-esr") or "firefox-esr")
    p.add_argument("--seconds", type=float, default=25)
    p.add_argument("--work", type=Path)
    args = p.parse_args()
    build = args.build_dir.resolve()
    args.emulator = build / "tools/emulator/libv4l2-emulator.so"
    args.driver_dir = build / "src"
    args.egl_vendor = build / "tools/egl-dmabuf/egl_dmabuf_vendor.json"
    args.sandbox = False
    work = (args.work or build / "meson-logs" / "firefox-gates").resolve()
    shutil.rmtree(work, ignore_errors=True)
    (work / "www").mkdir(parents=True)
    tier.make_video(work / "www" / "video.mp4", 12)
    (work / "www" / "index.html").write_text(tier.PAGE % {"w": tier.VIDEO_W, "h": tier.VIDEO_H, "seek_ms": 60000},
                                             encoding="utf-8")
    print(version(args.firefox))
    with tier.xvfb(work) as display, tier.http_server(work / "www") as base_url:
        for drop in [None] + GATE_PREFS + GATE_ENV:
            frames, logged, reason = probe(args, display, base_url, work / (drop or "all"), drop)
            label = "everything" if drop is None else f"without {drop}"
            verdict = "VA-API" if frames > 0 and logged > 0 else "no VA-API"
            print(f"{label:55s} {verdict:9s} device frames {frames:5d}, log frames {logged:5d}  {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
