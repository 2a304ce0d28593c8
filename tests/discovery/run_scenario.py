#!/usr/bin/env python3
"""Runs a command on an emulated system: the emulated decoders provide the
device nodes (LD_PRELOAD of the emulator, V4L2_EMU_DEVICES), a umockdev
testbed provides what udev sees. The two views are set independently, so
tests can show udev less than the devices offer (a sandbox).

  run_scenario.py --emulator LIB --devices hantro,rkvdec --udev media+video -- CMD...

--devices   V4L2_EMU_DEVICES for the emulator ('none': V4L2_EMU_NO_DEVICES=1)
--udev      what the testbed lists besides the DRM render node:
              media+video  /dev/mediaN and /dev/videoN of every device
              media        only /dev/mediaN (udev cannot map the video node)
              none         no media device (udev works but sees nothing)
--udev-devices  the profiles the testbed describes, when they differ from --devices
--filter LIB --variants SPEC  preload capability_filter.cpp's library in
            front of the emulator with DISCOVERY_FILTER=SPEC (per-node codec,
            profile, size and request-support variants)
--broker LIB  preload broker_double.cpp's library first: a sandbox broker's
            file-access policy (DISCOVERY_BROKER_ALLOW, _LIST_DEV via --setenv)
--setenv NAME=VALUE  passed to the command (LIBVA_V4L2_REQUEST_*_PATH from the
            caller's environment are cleared, so only explicit overrides count)

The testbed is built with tools/umockdev/testbed.py's device descriptions.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(SOURCE_ROOT / "tools" / "umockdev"))
import testbed  # noqa: E402  (tools/umockdev/testbed.py)


def decoder_devices(index: int, profile: str, with_video: bool) -> list[testbed.Device]:
    """sysfs view of emulated device `index`: media<index> (238:index) and
    video<index> (81:index) under the profile's SoC block."""
    vpu = testbed.VPUS[profile]
    vpu_path = f"/devices/platform/{vpu.platform_name}"
    devices = [testbed._char_device(
        f"{vpu_path}/media{index}", (f"media{index}", 238, index), "media",
        "../../" + vpu.platform_name, extra_attributes=[("model", vpu.driver)])]
    if with_video:
        devices.append(testbed._char_device(
            f"{vpu_path}/video4linux/video{index}", (f"video{index}", 81, index), "video4linux",
            "../../../" + vpu.platform_name,
            extra_properties=[("ID_V4L_VERSION", "2"), ("ID_V4L_CAPABILITIES", ":"),
                              ("ID_V4L_PRODUCT", vpu.video_name)],
            extra_attributes=[("name", vpu.video_name), ("index", "0"), ("dev_debug", "0")]))
    devices.append(testbed.Device(
        sysfs_path=vpu_path,
        properties=[("DRIVER", vpu.driver), ("OF_COMPATIBLE_0", vpu.of_compatible),
                    ("OF_COMPATIBLE_N", "1"), ("SUBSYSTEM", "platform")],
        attributes=[("modalias", f"of:NvideoT(null)C{vpu.of_compatible}")]))
    return devices


def testbed_text(profiles: list[str], udev: str) -> str:
    devices = testbed.testbed_devices(with_drm=True, with_v4l2=False)
    if udev != "none":
        for index, profile in enumerate(profiles):
            devices += decoder_devices(index, profile, with_video=(udev == "media+video"))
    return "\n".join(device.render() for device in devices)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--emulator", required=True, type=Path)
    parser.add_argument("--devices", required=True)
    parser.add_argument("--udev", choices=["media+video", "media", "none"], default="media+video")
    parser.add_argument("--udev-devices", help="profiles the testbed lists (default: --devices)")
    parser.add_argument("--filter", type=Path, help="capability filter library")
    parser.add_argument("--variants", default="", help="DISCOVERY_FILTER for the filter")
    parser.add_argument("--broker", type=Path, help="file-access policy double (broker_double.cpp), preloaded first")
    parser.add_argument("--setenv", action="append", default=[], metavar="NAME=VALUE",
                        help="set for the command (the driver's overrides are otherwise cleared)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command")

    env = dict(os.environ)
    env.pop("LIBVA_V4L2_REQUEST_VIDEO_PATH", None)
    env.pop("LIBVA_V4L2_REQUEST_MEDIA_PATH", None)
    profiles = [] if args.devices == "none" else args.devices.split(",")
    if profiles:
        env["V4L2_EMU_DEVICES"] = args.devices
        env.pop("V4L2_EMU_NO_DEVICES", None)
    else:
        env["V4L2_EMU_NO_DEVICES"] = "1"
        env.pop("V4L2_EMU_DEVICES", None)
    for assignment in args.setenv:
        name, _, value = assignment.partition("=")
        env[name] = value
    udev_profiles = args.udev_devices.split(",") if args.udev_devices else profiles
    # The emulator comes first (after the filter, which edits its answers);
    # umockdev-run appends its own preload (field notes).
    preload = [str(args.emulator.resolve())]
    env.pop("DISCOVERY_FILTER", None)
    if args.variants:
        if not args.filter:
            parser.error("--variants needs --filter")
        preload.insert(0, str(args.filter.resolve()))
        env["DISCOVERY_FILTER"] = args.variants
    if args.broker:
        preload.insert(0, str(args.broker.resolve()))
    env["LD_PRELOAD"] = ":".join(preload)

    with tempfile.TemporaryDirectory(prefix="discovery-") as tmp:
        bed = Path(tmp) / "system.umockdev"
        bed.write_text(testbed_text(udev_profiles, args.udev), encoding="utf-8")
        argv = ["umockdev-run", "-d", str(bed), "--", *command]
        # Run rather than exec: the testbed file lives as long as this process.
        return subprocess.run(argv, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
