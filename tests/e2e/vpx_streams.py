#!/usr/bin/env python3
"""Makes the VP8/VP9 streams (tools/conformance_lib/vpx_streams.py: vpxenc
and ffmpeg's libvpx, expected MD5 where libvpx and libavcodec agree) in a
private folder, then decodes them with one client through tools/conformance.
Extra arguments go to the runner.

  vpx_streams.py --build-dir B --codecs vp8 -- --client ffmpeg [--profile cedrus]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

TOOLS_DIR = Path(__file__).resolve().parent.parent.parent / "tools"
sys.path.insert(0, str(TOOLS_DIR))

from conformance_lib import generated, runner, vpx_streams  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build-dir", type=Path, required=True)
    parser.add_argument("--codecs", default=",".join(vpx_streams.CODECS))
    parser.add_argument("runner_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    codecs = tuple(c for c in args.codecs.split(",") if c)
    runner_args = [a for a in args.runner_args if a != "--"]
    with tempfile.TemporaryDirectory(prefix="vpx-streams-") as directory:
        out_dir = Path(directory)
        try:
            made = vpx_streams.generate(out_dir, codecs)
        except generated.GenerationError as error:
            print(f"vpx streams: {error}", file=sys.stderr)
            return 1
        for stream in made:
            print(f"# {stream.spec.name}: {stream.frames} frames, [{stream.syntax}], libvpx agrees",
                  flush=True)
        return runner.main([str(out_dir / "manifest.tsv"), "--build-dir", str(args.build_dir),
                            "--no-build", *runner_args])


if __name__ == "__main__":
    sys.exit(main())
