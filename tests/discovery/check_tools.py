#!/usr/bin/env python3
"""The probe program and vainfo on emulated systems (run_scenario.py).

  check_tools.py --runner R --emulator E --probe P probe
      v4l2-request-probe on one, two and no decoders, and in a sandbox.
  check_tools.py ... vainfo --drivers-path DIR
      vainfo through the driver lists exactly the profiles the probe program
      says the emulated devices offer, and nothing when there is no decoder.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys


class Checker:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.failures: list[str] = []

    def run(self, devices: str, udev: str, command: list[str], extra_env=None,
            variants: str = "") -> subprocess.CompletedProcess:
        setenv = [f"--setenv={name}={value}" for name, value in (extra_env or {}).items()]
        argv = [sys.executable, self.args.runner, "--emulator", self.args.emulator,
                "--filter", self.args.filter, f"--variants={variants}",
                "--devices", devices, "--udev", udev, *setenv, "--", *command]
        return subprocess.run(argv, capture_output=True, text=True, timeout=50, check=False)

    def expect(self, condition: bool, what: str, output: str = "") -> None:
        if condition:
            print(f"ok: {what}")
        else:
            self.failures.append(what)
            print(f"FAIL: {what}\n{output}")


def check_probe(c: Checker) -> None:
    probe = c.args.probe
    one = c.run("hantro", "media+video", [probe])
    c.expect(one.returncode == 0, "probe exits 0 with one decoder", one.stdout + one.stderr)
    c.expect("[1] /dev/video0 on /dev/media0 (hantro-vpu)" in one.stdout, "probe names the hantro pair", one.stdout)
    c.expect("decoders found through udev" in one.stdout, "probe says udev found it", one.stdout)
    c.expect("H.264 48x48..1920x1088 frame-based annex-b" in one.stdout,
             "probe shows mode and size limits", one.stdout)
    c.expect(re.search(r"S264 .*48x48\.\.1920x1088 step 16x16", one.stdout) is not None,
             "probe lists the OUTPUT format with its frame sizes", one.stdout)
    c.expect("CAPTURE formats with OUTPUT S264: NV12" in one.stdout, "probe lists CAPTURE formats", one.stdout)
    c.expect("OUTPUT queue takes requests: yes" in one.stdout, "probe reports request support", one.stdout)
    c.expect("H264 Sequence Parameter Set" in one.stdout and "1: Constrained Baseline" in one.stdout,
             "probe lists controls and the profile menu", one.stdout)

    two = c.run("hantro,rkvdec", "media+video", [probe, "--verbose"])
    c.expect(two.returncode == 0, "probe exits 0 with two decoders", two.stdout + two.stderr)
    c.expect("[2] /dev/video1 on /dev/media1 (rkvdec)" in two.stdout, "probe lists the second decoder", two.stdout)
    c.expect(two.stdout.count("USED by the driver") == 2, "both decoders are used", two.stdout)
    c.expect("H264High (up to 4096x2304)" in two.stdout, "summary gives the largest size per profile", two.stdout)
    c.expect("(PROC_VIDEO_DECODER)" in two.stdout, "--verbose prints the media topology", two.stdout)
    c.expect("discovery log:" in two.stdout and "using 2 decoder(s)" in two.stdout,
             "--verbose prints the discovery log", two.stdout)

    none = c.run("none", "none", [probe])
    c.expect(none.returncode == 1, "probe exits 1 without a decoder", none.stdout + none.stderr)
    c.expect("vainfo will list no profile" in none.stdout and "no usable stateless decoder" in none.stdout,
             "probe explains that nothing is usable", none.stdout)

    sandbox = c.run("hantro,rkvdec", "none", [probe])
    c.expect(sandbox.returncode == 0 and "decoders found through /dev/media* scan" in sandbox.stdout,
             "probe finds decoders by scanning /dev when udev lists none", sandbox.stdout)

    codecs = c.run("hantro,rkvdec", "media+video", [probe], variants="video0=no-h264")
    c.expect(codecs.returncode == 0 and "NOT USED: /dev/video0 (hantro-vpu) rejected: the OUTPUT queue offers no coded "
             "format the driver decodes" in codecs.stdout and "MG2S MPEG-2 Parsed Slice Data" in codecs.stdout,
             "probe says why a decoder for another codec is not used, and lists its formats", codecs.stdout)

    no_requests = c.run("hantro", "media+video", [probe], variants="video0=no-requests")
    c.expect(no_requests.returncode == 1 and "OUTPUT queue takes requests: no" in no_requests.stdout,
             "probe says when the OUTPUT queue takes no requests", no_requests.stdout)

    override = c.run("hantro,rkvdec", "media+video", [probe],
                     {"LIBVA_V4L2_REQUEST_VIDEO_PATH": "/dev/video1"})
    c.expect(override.returncode == 0 and "[1] /dev/video1 on /dev/media1 (rkvdec)" in override.stdout
             and "[2]" not in override.stdout, "probe honours LIBVA_V4L2_REQUEST_VIDEO_PATH", override.stdout)


VAINFO_LINE = re.compile(r"^\s*(VAProfile\w+)\s*:\s*VAEntrypointVLD\s*$", re.M)


def vainfo_profiles(c: Checker, devices: str, variants: str = "") -> tuple[set[str], subprocess.CompletedProcess]:
    env = {"LIBVA_DRIVERS_PATH": c.args.drivers_path, "LIBVA_DRIVER_NAME": "v4l2_request"}
    result = c.run(devices, "media+video" if devices != "none" else "none",
                   ["vainfo", "--display", "drm", "--device", "/dev/dri/renderD128"], env, variants)
    return set(VAINFO_LINE.findall(result.stdout)), result


def probe_profiles(c: Checker, devices: str, variants: str = "") -> set[str]:
    result = c.run(devices, "media+video", [c.args.probe], variants=variants)
    summary = next((line for line in result.stdout.splitlines() if line.startswith("summary:")), "")
    return {"VAProfile" + name for name in re.findall(r" ((?:H264|VP8|VP9)\w+) \(up to", summary)}


ALL_H264 = {"VAProfileH264ConstrainedBaseline", "VAProfileH264Main", "VAProfileH264High"}
NO_HIGH = {"VAProfileH264ConstrainedBaseline", "VAProfileH264Main"}
VP8 = {"VAProfileVP8Version0_3"}  # hantro G1 and cedrus decode VP8, rkvdec does not


def check_vainfo(c: Checker) -> None:
    # (devices, filter variants, the profiles the emulated devices offer)
    cases = [("hantro", "", ALL_H264 | VP8), ("cedrus", "", ALL_H264 | VP8), ("rkvdec", "", ALL_H264),
             ("mediatek", "", ALL_H264),
             ("hantro,rkvdec", "", ALL_H264 | VP8),
             ("hantro", "video0=max-profile-main", NO_HIGH | VP8),
             ("hantro,rkvdec", "video0=max-profile-main", ALL_H264 | VP8),
             ("hantro,rkvdec", "video0=max-profile-main;video1=no-h264", NO_HIGH | VP8),
             ("rkvdec,hantro", "video0=no-h264;video1=max-profile-main", NO_HIGH | VP8)]
    for devices, variants, offered in cases:
        what = f"{devices} {variants}".strip()
        expected = probe_profiles(c, devices, variants)
        listed, result = vainfo_profiles(c, devices, variants)
        c.expect(expected == offered, f"probe reports the offered profiles for {what}: {sorted(expected)}")
        c.expect(listed == offered, f"vainfo lists exactly the offered profiles for {what}: {sorted(listed)}",
                 result.stdout + result.stderr)
    listed, result = vainfo_profiles(c, "none")
    c.expect(not listed and result.returncode != 0, "vainfo fails cleanly without a decoder",
             result.stdout + result.stderr)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runner", required=True)
    parser.add_argument("--emulator", required=True)
    parser.add_argument("--filter", required=True)
    parser.add_argument("--probe", required=True)
    sub = parser.add_subparsers(dest="check", required=True)
    sub.add_parser("probe")
    vainfo = sub.add_parser("vainfo")
    vainfo.add_argument("--drivers-path", required=True)
    args = parser.parse_args()
    checker = Checker(args)
    {"probe": check_probe, "vainfo": check_vainfo}[args.check](checker)
    if checker.failures:
        print(f"{len(checker.failures)} check(s) failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
