#!/usr/bin/env python3
"""Checks the DPB a client sends for long-term reference streams against the
marking process of the bitstream itself.

The emulator decodes from the slice data with libavcodec, so a wrong
long-term DPB entry would still give the right picture there; real hardware
(hantro, rkvdec through v4l2-h264.c's reflist builder) orders long-term
references by dpb[].frame_num/pic_num. So every decode job the emulator
records (V4L2_EMU_RECORD) is compared with the DPB that 8.2.5 gives for that
picture, computed from FFmpeg's trace_headers of the stream
(h264_trace.reference_marking): the same short-term FrameNums, the same
long-term entries with V4L2_H264_DPB_ENTRY_FLAG_LONG_TERM, frame_num =
LongTermFrameIdx and pic_num = LongTermPicNum, short-term pic_num =
FrameNumWrap (ext-ctrls-codec-stateless.rst, struct v4l2_h264_dpb_entry).

  ltr_dpb_check.py --build-dir B --client ffmpeg|gst|v4l2codecs [--profile P]
                   [--manifest M --only NAME,...]   (streams of another manifest too)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

TOOLS_DIR = Path(__file__).resolve().parent.parent.parent / "tools"
sys.path.insert(0, str(TOOLS_DIR))
sys.path.insert(0, str(TOOLS_DIR / "umockdev"))

from conformance_lib import build, clients, generated, h264_trace, manifest, runner  # noqa: E402
import testbed  # noqa: E402

DPB_VALID, DPB_LONG_TERM = 0x1, 0x4


def expected_entries(references: list[h264_trace.Reference], frame_num: int,
                     max_frame_num: int) -> list[tuple]:
    entries = []
    for ref in references:
        if ref.long_term:
            entries.append((True, ref.long_term_frame_idx, ref.long_term_frame_idx))
        else:
            wrap = ref.frame_num - max_frame_num if ref.frame_num > frame_num else ref.frame_num
            entries.append((False, ref.frame_num, wrap))
    return sorted(entries)


def recorded_entries(record: dict) -> list[tuple]:
    entries = []
    for entry in record["decode_params"]["dpb"]:
        if entry["flags"] & DPB_VALID:
            pic_num = entry["pic_num"]
            if pic_num >= 1 << 31:
                pic_num -= 1 << 32     # s32 in the uAPI
            entries.append((bool(entry["flags"] & DPB_LONG_TERM), entry["frame_num"], pic_num))
    return sorted(entries)


def compare(stream: Path, records: list[dict]) -> list[str]:
    trace = h264_trace.read(stream)
    expected = h264_trace.reference_marking(trace)
    pictures = h264_trace.first_slices(trace)
    max_frame_num = 1 << (trace.sps[0].get("log2_max_frame_num_minus4", 0) + 4)
    # One job per picture in decoding order (frame-based); a slice-based
    # device runs one job per slice, all with the picture's DPB.
    jobs = [r for r in records if r.get("decode_params")]
    by_picture: list[dict] = []
    for job in jobs:
        params = job["decode_params"]
        key = (params["frame_num"], params["top_field_order_cnt"], params.get("idr_pic_id"))
        if by_picture and by_picture[-1][0] == key:
            continue
        by_picture.append((key, job))
    problems = []
    if len(by_picture) < len(pictures):
        problems.append(f"{len(by_picture)} decode jobs recorded for {len(pictures)} pictures")
    long_term_entries = 0
    for index, (picture, references, (_, job)) in enumerate(zip(pictures, expected, by_picture)):
        frame_num = picture.fields.get("frame_num", 0)
        want = expected_entries(references, frame_num, max_frame_num)
        got = recorded_entries(job)
        long_term_entries += sum(1 for entry in got if entry[0])
        if want != got:
            problems.append(f"picture {index} (frame_num {frame_num}): DPB (long-term, "
                            f"frame_num, pic_num) {got}, the bitstream's marking gives {want}")
    if not problems and long_term_entries == 0:
        problems.append("no long-term DPB entry was sent at all")
    return problems


def run_client(client: clients.Client, context: clients.RunContext, stream: Path,
               work_dir: Path) -> list[dict]:
    invocation = client.invocation(stream, work_dir, context)
    record_path = work_dir / "record.jsonl"
    invocation.env["V4L2_EMU_RECORD"] = str(record_path)
    returncode, _ = runner.run_client(invocation.argv, invocation.env, work_dir, context.timeout)
    if returncode != 0:
        raise RuntimeError(f"{client.name} exited with {returncode}: "
                           f"{(work_dir / clients.STDERR_NAME).read_text(errors='replace')[-300:]}")
    if not record_path.is_file():
        raise RuntimeError("the emulator recorded no decode job")
    return [json.loads(line) for line in record_path.read_text().splitlines() if line.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build-dir", type=Path, required=True)
    parser.add_argument("--client", required=True, choices=("ffmpeg", "gst", "v4l2codecs"))
    parser.add_argument("--profile", default="hantro")
    parser.add_argument("--manifest", type=Path, help="also check these streams")
    parser.add_argument("--only", default="", help="names in --manifest")
    args = parser.parse_args()
    build_dir = args.build_dir.resolve()
    client = clients.CLIENTS[args.client]()
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="ltr-dpb-") as directory:
        run_dir = Path(directory)
        made = generated.generate(run_dir / "generated", ("ltr",),
                                  build_dir / build.ARTIFACTS["openh264"])
        streams = [(s.spec.name, s.path) for s in made]
        if args.manifest and args.manifest.is_file():
            names = [n for n in args.only.split(",") if n]
            streams += [(s.name, s.path) for s in
                        manifest.select_streams(manifest.read_manifest(args.manifest), names)]
        artifacts = build.ensure_artifacts(runner.PROJECT_DIR, build_dir, client.needs,
                                           allow_build=False)
        context = clients.RunContext(run_dir=run_dir, profile=args.profile,
                                     driver_dir=artifacts["driver"].parent if "driver" in artifacts else None,
                                     emulator_lib=artifacts["emulator"])
        if client.needs_testbed:
            context.testbed = testbed.write_testbed(run_dir / "devices.umockdev", args.profile)
        client.prepare(context)
        for name, path in streams:
            work_dir = run_dir / "work" / name
            work_dir.mkdir(parents=True)
            try:
                problems = compare(path, run_client(client, context, path, work_dir))
            except (RuntimeError, h264_trace.MarkingError, ValueError) as error:
                problems = [str(error)]
            if problems:
                failed += 1
                print(f"FAIL {name}: {problems[0]}" + (f" (+{len(problems) - 1} more)"
                                                       if len(problems) > 1 else ""), flush=True)
            else:
                passed += 1
                print(f"PASS {name}", flush=True)
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
