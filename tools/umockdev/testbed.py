#!/usr/bin/env python3
"""Writes a umockdev testbed (the text format of `umockdev-record`) that gives
udev clients the view of a system with the emulated stateless decoder:

  /dev/dri/renderD128  drm render node (char 226:128), parent platform/vgem
  /dev/media0          media controller (char 238:0), parent: the VPU
  /dev/video0          video4linux decoder node (char 81:0), parent: the VPU

GStreamer's `va` plugin lists render nodes only with
g_udev_client_query_by_subsystem("drm"); `v4l2codecs` lists subsystem "media"
and maps the topology's interface major:minor back to /dev/videoN with
g_udev_client_query_by_device_number, which reads /sys/dev/char/81:0.
umockdev builds /sys/dev/char links from the `dev` attribute.

The device nodes umockdev creates are never opened for real: the emulator
preload comes first in LD_PRELOAD and serves those paths itself.

Usage: testbed.py [--profile hantro|rkvdec|cedrus|mediatek] [--no-drm] [--no-v4l2] OUT
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

RENDER_NODE = ("dri/renderD128", 226, 128)
MEDIA_NODE = ("media0", 238, 0)
VIDEO_NODE = ("video0", 81, 0)


@dataclasses.dataclass(frozen=True)
class VpuDescription:
    platform_name: str      # sysfs name of the platform device
    driver: str             # kernel driver name (media `model`, DRIVER)
    of_compatible: str
    video_name: str         # video4linux `name` attribute


# Device-tree names of the SoC blocks the three kernel drivers bind to.
VPUS = {
    "hantro": VpuDescription("ff650000.video-codec", "hantro-vpu",
                             "rockchip,rk3399-vpu", "rockchip,rk3399-vpu-dec"),
    "rkvdec": VpuDescription("ff660000.video-codec", "rkvdec",
                             "rockchip,rk3399-vdec", "rkvdec"),
    "cedrus": VpuDescription("1c0e000.video-codec", "cedrus",
                             "allwinner,sun50i-h6-video-engine", "cedrus"),
    # mt8183.dtsi: vcodec_dec: video-codec@16020000; MTK_VCODEC_DEC_NAME.
    "mediatek": VpuDescription("16020000.video-codec", "mtk-vcodec-dec",
                               "mediatek,mt8183-vcodec-dec", "mtk-vcodec-dec"),
}


@dataclasses.dataclass
class Device:
    sysfs_path: str
    node: str | None = None
    properties: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    attributes: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    links: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def render(self) -> str:
        lines = [f"P: {self.sysfs_path}"]
        if self.node:
            lines.append(f"N: {self.node}")
        lines += [f"E: {key}={value}" for key, value in self.properties]
        # Attribute values are C-escaped; sysfs files end in a newline.
        lines += [f"A: {key}={_escape(value)}\\n" for key, value in self.attributes]
        lines += [f"L: {key}={target}" for key, target in self.links]
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def _char_device(sysfs_path: str, node: tuple[str, int, int], subsystem: str,
                 parent_link: str, extra_properties=(), extra_attributes=()) -> Device:
    name, major, minor = node
    return Device(
        sysfs_path=sysfs_path,
        node=name,
        properties=[("DEVNAME", f"/dev/{name}"), ("MAJOR", str(major)),
                    ("MINOR", str(minor)), ("SUBSYSTEM", subsystem),
                    *extra_properties],
        attributes=[("dev", f"{major}:{minor}"), *extra_attributes],
        links=[("device", parent_link)])


def testbed_devices(profile: str = "hantro", with_drm: bool = True,
                    with_v4l2: bool = True) -> list[Device]:
    """Devices in umockdev-record order: each device before its parents."""
    if profile not in VPUS:
        raise ValueError(f"unknown profile {profile!r}; known: {', '.join(VPUS)}")
    devices: list[Device] = []
    if with_drm:
        devices.append(_char_device(
            "/devices/platform/vgem/drm/renderD128", RENDER_NODE, "drm",
            "../../../vgem", extra_properties=[("DEVTYPE", "drm_minor")]))
        devices.append(Device(
            sysfs_path="/devices/platform/vgem",
            properties=[("DRIVER", "vgem"), ("MODALIAS", "platform:vgem"),
                        ("SUBSYSTEM", "platform")],
            attributes=[("modalias", "platform:vgem")]))
    if with_v4l2:
        vpu = VPUS[profile]
        vpu_path = f"/devices/platform/{vpu.platform_name}"
        devices.append(_char_device(
            f"{vpu_path}/media0", MEDIA_NODE, "media", "../../" + vpu.platform_name,
            extra_attributes=[("model", vpu.driver)]))
        devices.append(_char_device(
            f"{vpu_path}/video4linux/video0", VIDEO_NODE, "video4linux",
            "../../../" + vpu.platform_name,
            extra_properties=[("ID_V4L_VERSION", "2"),
                              ("ID_V4L_CAPABILITIES", ":"),
                              ("ID_V4L_PRODUCT", vpu.video_name)],
            extra_attributes=[("name", vpu.video_name), ("index", "0"),
                              ("dev_debug", "0")]))
        devices.append(Device(
            sysfs_path=vpu_path,
            properties=[("DRIVER", vpu.driver),
                        ("OF_COMPATIBLE_0", vpu.of_compatible),
                        ("OF_COMPATIBLE_N", "1"),
                        ("MODALIAS", f"of:NvideoT(null)C{vpu.of_compatible}"),
                        ("SUBSYSTEM", "platform")],
            attributes=[("modalias", f"of:NvideoT(null)C{vpu.of_compatible}")]))
    return devices


def testbed_text(profile: str = "hantro", with_drm: bool = True,
                 with_v4l2: bool = True) -> str:
    return "\n".join(device.render() for device in
                     testbed_devices(profile, with_drm, with_v4l2))


def write_testbed(path: Path, profile: str = "hantro", with_drm: bool = True,
                  with_v4l2: bool = True) -> Path:
    path = Path(path)
    path.write_text(testbed_text(profile, with_drm, with_v4l2), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="the .umockdev file to write ('-': stdout)")
    parser.add_argument("--profile", choices=sorted(VPUS), default="hantro")
    parser.add_argument("--no-drm", action="store_true", help="leave out renderD128")
    parser.add_argument("--no-v4l2", action="store_true", help="leave out media0/video0")
    args = parser.parse_args(argv)
    text = testbed_text(args.profile, not args.no_drm, not args.no_v4l2)
    if str(args.output) == "-":
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
