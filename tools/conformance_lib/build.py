"""Finds the driver, the emulator and the Firefox-pattern client in a meson
build directory, and builds them (meson setup + ninja) when they are missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# Artifact name -> path inside a build directory (the team's build contract).
ARTIFACTS = {
    "driver": Path("src/v4l2_request_drv_video.so"),
    "emulator": Path("tools/emulator/libv4l2-emulator.so"),
    "firefox": Path("tools/firefox-client/va-firefox-client"),
    "openh264": Path("tools/streams/openh264-ltr"),
}


class BuildError(RuntimeError):
    pass


def missing_artifacts(build_dir: Path, needed: tuple[str, ...]) -> list[str]:
    return [name for name in needed if not (build_dir / ARTIFACTS[name]).is_file()]


def _run(argv: list[str], cwd: Path) -> None:
    print(f"conformance: {' '.join(argv)}", file=sys.stderr, flush=True)
    # Build output goes to stderr: stdout carries only PASS/FAIL lines.
    completed = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                               stdout=sys.stderr, stderr=sys.stderr, check=False)
    if completed.returncode != 0:
        raise BuildError(f"`{' '.join(argv)}` exited with {completed.returncode}")


def ensure_artifacts(project_dir: Path, build_dir: Path, needed: tuple[str, ...],
                     allow_build: bool) -> dict[str, Path]:
    """Paths of the needed artifacts, building them first if they are missing."""
    missing = missing_artifacts(build_dir, needed)
    if missing and allow_build:
        if not (build_dir / "build.ninja").is_file():
            # The same configuration as tools/bootstrap.
            _run(["meson", "setup", str(build_dir), str(project_dir), "-Dwerror=true"],
                 cwd=project_dir)
        _run(["ninja", "-C", str(build_dir),
              *(str(ARTIFACTS[name]) for name in missing)], cwd=project_dir)
        missing = missing_artifacts(build_dir, needed)
    if missing:
        raise BuildError("missing in {}: {}".format(
            build_dir, ", ".join(str(ARTIFACTS[name]) for name in missing)))
    return {name: build_dir / ARTIFACTS[name] for name in needed}
