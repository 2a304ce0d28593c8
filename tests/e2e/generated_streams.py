#!/usr/bin/env python3
"""Makes the generated streams (tools/make-streams: full range, crop,
long-term references) in a private folder, then decodes them with one client
through tools/conformance. Extra arguments go to the runner.

  generated_streams.py --build-dir B --sets pixels,ltr -- --client ffmpeg [--profile cedrus]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

TOOLS_DIR = Path(__file__).resolve().parent.parent.parent / "tools"
sys.path.insert(0, str(TOOLS_DIR))

from conformance_lib import build, generated, runner  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--build-dir", type=Path, required=True)
    parser.add_argument("--sets", default=",".join(generated.SETS))
    parser.add_argument("runner_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    sets = tuple(s for s in args.sets.split(",") if s)
    runner_args = [a for a in args.runner_args if a != "--"]
    with tempfile.TemporaryDirectory(prefix="generated-streams-") as directory:
        out_dir = Path(directory)
        try:
            made = generated.generate(out_dir, sets,
                                      args.build_dir.resolve() / build.ARTIFACTS["openh264"])
        except generated.GenerationError as error:
            print(f"generated streams: {error}", file=sys.stderr)
            return 1
        for stream in made:
            print(f"# {stream.spec.name}: {stream.frames} frames, [{stream.syntax}], "
                  f"second opinion: {stream.second_opinion}", flush=True)
        return runner.main([str(out_dir / "manifest.tsv"), "--build-dir", str(args.build_dir),
                            "--no-build", *runner_args])


if __name__ == "__main__":
    sys.exit(main())
