#!/usr/bin/env python3
"""Unit tests of the conformance runner's pieces (tools/conformance_lib,
tools/umockdev/testbed.py).  The end-to-end runs are separate meson tests."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
import unittest
from pathlib import Path

TOOLS_DIR = Path(__file__).resolve().parent.parent.parent / "tools"
sys.path.insert(0, str(TOOLS_DIR))
sys.path.insert(0, str(TOOLS_DIR / "umockdev"))

from conformance_lib import (clients, counters, h264_trace, manifest, mmco_rewrite,  # noqa: E402
                             rawvideo, runner)
import testbed  # noqa: E402

SHARED_MANIFEST = (TOOLS_DIR.parent.parent / "shared" / "conformance" / "h264"
                   / "manifest.tsv")


class ManifestTest(unittest.TestCase):
    def setUp(self):
        self.dir = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, self.dir)

    def write(self, text: str) -> Path:
        path = self.dir / "manifest.tsv"
        path.write_text(text, encoding="utf-8")
        return path

    def test_reads_columns_by_header_name_and_resolves_files(self):
        path = self.write("expected_md5\tname\tfile\tfeatures\n"
                          f"{'a' * 32}\tone\tstreams/one.264\t176x144\n")
        [stream] = manifest.read_manifest(path)
        self.assertEqual(stream.name, "one")
        self.assertEqual(stream.expected_md5, "a" * 32)
        self.assertEqual(stream.path, self.dir.resolve() / "streams" / "one.264")
        self.assertEqual(stream.features, "176x144")

    def test_rejects_missing_column(self):
        path = self.write("name\tfile\nx\ty\n")
        with self.assertRaisesRegex(manifest.ManifestError, "expected_md5"):
            manifest.read_manifest(path)

    def test_rejects_malformed_md5_and_duplicates(self):
        with self.assertRaisesRegex(manifest.ManifestError, "not an MD5"):
            manifest.read_manifest(self.write("name\tfile\texpected_md5\nx\ty\tnope\n"))
        with self.assertRaisesRegex(manifest.ManifestError, "duplicate"):
            manifest.read_manifest(self.write(
                f"name\tfile\texpected_md5\nx\ty\t{'b' * 32}\nx\tz\t{'c' * 32}\n"))

    def test_only_keeps_manifest_order_and_rejects_unknown_names(self):
        path = self.write("name\tfile\texpected_md5\n" + "".join(
            f"s{i}\tf{i}\t{'d' * 32}\n" for i in range(4)))
        streams = manifest.read_manifest(path)
        self.assertEqual([s.name for s in manifest.select_streams(streams, ["s3", "s1"])],
                         ["s1", "s3"])
        with self.assertRaisesRegex(manifest.ManifestError, "nothere"):
            manifest.select_streams(streams, ["nothere"])

    @unittest.skipUnless(SHARED_MANIFEST.is_file(), "shared manifest not present")
    def test_shared_manifest_parses_and_every_file_exists(self):
        streams = manifest.read_manifest(SHARED_MANIFEST)
        self.assertEqual(len(streams), 50)
        for stream in streams:
            self.assertTrue(stream.path.is_file(), stream.path)


class RawVideoTest(unittest.TestCase):
    def test_packed_sizes_round_chroma_up(self):
        self.assertEqual(rawvideo.packed_i420_frame_size(176, 144), 176 * 144 * 3 // 2)
        self.assertEqual(rawvideo.packed_i420_frame_size(3, 3), 9 + 2 * 2 * 2)

    def test_gstreamer_layout_pads_rows_to_four_bytes(self):
        layout = rawvideo.gstreamer_i420_layout(178, 100)
        self.assertEqual([p.stride for p in layout.planes], [180, 92, 92])
        self.assertEqual([p.offset for p in layout.planes], [0, 18000, 22600])
        self.assertEqual(layout.frame_size, 27200)
        self.assertFalse(layout.is_packed)
        self.assertTrue(rawvideo.gstreamer_i420_layout(352, 288).is_packed)

    def test_padded_frames_hash_like_their_packed_planes(self):
        width, height = 178, 6
        padded_layout = rawvideo.gstreamer_i420_layout(width, height)
        packed = bytearray()
        padded = bytearray()
        for frame in range(3):
            padded_frame = bytearray(b"\xee" * padded_layout.frame_size)
            for index, plane in enumerate(padded_layout.planes):
                for row in range(plane.rows):
                    content = bytes((frame * 7 + index * 31 + row * 3 + x) % 251
                                    for x in range(plane.width))
                    start = plane.offset + row * plane.stride
                    padded_frame[start:start + plane.width] = content
                    packed += content
            padded += padded_frame
        with tempfile.NamedTemporaryFile() as video:
            video.write(padded)
            video.flush()
            digest = rawvideo.digest_file(Path(video.name), padded_layout)
        self.assertEqual(digest, rawvideo.VideoDigest(hashlib.md5(packed).hexdigest(), 3, 0))

    def test_truncated_output_reports_leftover_bytes(self):
        layout = rawvideo.packed_i420_layout(16, 16)
        with tempfile.NamedTemporaryFile() as video:
            video.write(b"\x10" * (layout.frame_size * 2 + 5))
            video.flush()
            digest = rawvideo.digest_file(Path(video.name), layout)
        self.assertEqual((digest.frames, digest.leftover_bytes), (2, 5))


def synthetic_i420(width: int, height: int, frame: int) -> list[bytes]:
    """Y, Cb, Cr planes (packed rows) with distinct sample values."""
    chroma_width, chroma_rows = (width + 1) // 2, (height + 1) // 2
    return [bytes((frame * 13 + index * 71 + row * 7 + x * 3) % 256 for row in range(rows)
                  for x in range(plane_width))
            for index, (plane_width, rows) in enumerate(
                [(width, height), (chroma_width, chroma_rows), (chroma_width, chroma_rows)])]


def as_nv12(planes: list[bytes]) -> bytes:
    interleaved = bytearray(2 * len(planes[1]))
    interleaved[0::2] = planes[1]
    interleaved[1::2] = planes[2]
    return planes[0] + bytes(interleaved)


def crop_plane(plane: bytes, width: int, left: int, top: int, out_width: int,
               out_rows: int) -> bytes:
    return b"".join(plane[(top + row) * width + left:(top + row) * width + left + out_width]
                    for row in range(out_rows))


class Nv12AndCropTest(unittest.TestCase):
    """The ffmpeg/mpv hardware paths write NV12 as downloaded, with the top/left
    crop still in it: hashing must give the packed I420 MD5 of the window."""

    def digest(self, data: bytes, layout: rawvideo.FrameLayout) -> rawvideo.VideoDigest:
        with tempfile.NamedTemporaryFile() as video:
            video.write(data)
            video.flush()
            return rawvideo.digest_file(Path(video.name), layout)

    def test_nv12_hashes_like_its_planar_frames(self):
        frames = [synthetic_i420(22, 10, f) for f in range(3)]
        layout = rawvideo.nv12_layout(22, 10)
        self.assertFalse(layout.is_packed)     # same size as I420, other layout
        self.assertEqual(layout.frame_size, rawvideo.packed_i420_frame_size(22, 10))
        digest = self.digest(b"".join(as_nv12(f) for f in frames), layout)
        expected = hashlib.md5(b"".join(b"".join(f) for f in frames)).hexdigest()
        self.assertEqual(digest, rawvideo.VideoDigest(expected, 3, 0))

    def test_top_left_crop_is_cut_from_every_plane(self):
        full_width, full_height, left, top = 24, 14, 4, 6
        width, height = full_width - left, full_height - top
        frames = [synthetic_i420(full_width, full_height, f) for f in range(2)]
        layout = rawvideo.crop_layout(rawvideo.nv12_layout(full_width, full_height), left, top)
        self.assertEqual((layout.width, layout.height), (width, height))
        expected = hashlib.md5()
        for y, cb, cr in frames:
            expected.update(crop_plane(y, full_width, left, top, width, height))
            for chroma in (cb, cr):
                expected.update(crop_plane(chroma, full_width // 2, left // 2, top // 2,
                                           width // 2, height // 2))
        digest = self.digest(b"".join(as_nv12(f) for f in frames), layout)
        self.assertEqual(digest, rawvideo.VideoDigest(expected.hexdigest(), 2, 0))

    def test_crop_outside_the_frame_is_refused(self):
        with self.assertRaises(ValueError):
            rawvideo.crop_layout(rawvideo.nv12_layout(16, 16), 16, 0)

    def test_packed_copy_writes_the_i420_frames(self):
        frame = synthetic_i420(8, 4, 1)
        with tempfile.TemporaryDirectory() as directory:
            source, copy = Path(directory) / "in.nv12", Path(directory) / "out.i420"
            source.write_bytes(as_nv12(frame))
            rawvideo.digest_file(source, rawvideo.nv12_layout(8, 4), packed_copy=copy)
            self.assertEqual(copy.read_bytes(), b"".join(frame))


TRACE = """[trace_headers @ 0x1] Sequence Parameter Set
[trace_headers @ 0x1] 3           nal_unit_type                                           00111 = 7
[trace_headers @ 0x1] 8           profile_idc                                          01100100 = 100
[trace_headers @ 0x1] 24          chroma_format_idc                                          010 = 1
[trace_headers @ 0x1] 60          frame_mbs_only_flag                                          0 = 0
[trace_headers @ 0x1] 67          frame_cropping_flag                                          1 = 1
[trace_headers @ 0x1] 68          frame_crop_left_offset                                   00101 = 4
[trace_headers @ 0x1] 73          frame_crop_right_offset                                      1 = 0
[trace_headers @ 0x1] 74          frame_crop_top_offset                                      011 = 2
[trace_headers @ 0x1] 77          frame_crop_bottom_offset                                   010 = 1
[trace_headers @ 0x1] 80          video_full_range_flag                                        1 = 1
[trace_headers @ 0x1] Slice Header
[trace_headers @ 0x1] 3           nal_unit_type                                           00101 = 5
[trace_headers @ 0x1] 8           first_mb_in_slice                                            1 = 0
[trace_headers @ 0x1] 48          long_term_reference_flag                                     1 = 1
[trace_headers @ 0x1] Slice Header
[trace_headers @ 0x1] 3           nal_unit_type                                           00001 = 1
[trace_headers @ 0x1] 8           first_mb_in_slice                                            1 = 0
[trace_headers @ 0x1] 40          modification_of_pic_nums_idc                               011 = 2
[trace_headers @ 0x1] 43          long_term_pic_num                                            1 = 0
[trace_headers @ 0x1] 44          modification_of_pic_nums_idc                                 1 = 3
[trace_headers @ 0x1] 50          memory_management_control_operation                      00100 = 4
[trace_headers @ 0x1] 55          max_long_term_frame_idx_plus1                              011 = 2
[trace_headers @ 0x1] 58          memory_management_control_operation                    0000111 = 6
[trace_headers @ 0x1] 65          long_term_frame_idx                                          1 = 0
[trace_headers @ 0x1] 66          memory_management_control_operation                          1 = 0
"""


class H264TraceTest(unittest.TestCase):
    def test_crop_window_in_luma_samples(self):
        trace = h264_trace.parse(TRACE)
        # 4:2:0 with frame_mbs_only_flag 0: CropUnitX 2, CropUnitY 4 (7-19, 7-20).
        self.assertEqual(h264_trace.crop_window(trace.sps[0]),
                         h264_trace.CropWindow(left=8, right=0, top=8, bottom=4))
        self.assertEqual(h264_trace.crop_window({"frame_cropping_flag": 0}),
                         h264_trace.CropWindow())
        self.assertEqual(h264_trace.crop_window({"frame_cropping_flag": 1, "chroma_format_idc": 0,
                                                 "frame_crop_left_offset": 3}).left, 3)

    def test_long_term_marking_is_summarised(self):
        summary = h264_trace.long_term_summary(h264_trace.parse(TRACE))
        self.assertEqual(summary.pictures, 2)
        self.assertEqual(summary.idr_long_term, 1)
        self.assertEqual(summary.mmco, {4: 1, 6: 1})
        # The IDR holds LongTermFrameIdx 0; MMCO 6 assigns 0 again.
        self.assertEqual(summary.long_term_idx_reused, 1)
        self.assertEqual(summary.long_term_predictions, 1)
        self.assertEqual(summary.patterns(), ["IDR long-term", "MMCO 4", "MMCO 6",
                                              "LongTermFrameIdx reuse",
                                              "long-term ref in list modification"])


def marking_trace(pictures: list[dict], max_num_ref_frames: int = 3) -> h264_trace.Trace:
    """A trace of frames: each dict has frame_num, idr, ref, long (IDR
    long_term_reference_flag) and mmcos [(operation, {argument: value})]."""
    sps = {"log2_max_frame_num_minus4": 0, "max_num_ref_frames": max_num_ref_frames}
    slices = []
    for picture in pictures:
        fields = {"first_mb_in_slice": 0, "frame_num": picture["frame_num"],
                  "nal_ref_idc": 1 if picture.get("ref", True) else 0}
        if picture.get("long"):
            fields["long_term_reference_flag"] = 1
        mmcos = [h264_trace.Mmco(op, args) for op, args in picture.get("mmcos", [])]
        if mmcos:
            fields["adaptive_ref_pic_marking_mode_flag"] = 1
        slices.append(h264_trace.Slice(5 if picture.get("idr") else 1, fields, mmcos))
    return h264_trace.Trace(slices, [sps])


def refs(*entries) -> set[h264_trace.Reference]:
    return {h264_trace.Reference(frame_num, idx) for frame_num, idx in entries}


class ReferenceMarkingTest(unittest.TestCase):
    """8.2.5 on frames: what the DPB must hold when each picture is decoded."""

    def test_sliding_window_drops_the_oldest_short_term_frame(self):
        dpbs = h264_trace.reference_marking(marking_trace(
            [{"frame_num": 0, "idr": True}, {"frame_num": 1}, {"frame_num": 2},
             {"frame_num": 3}, {"frame_num": 4, "ref": False}, {"frame_num": 4}],
            max_num_ref_frames=2))
        self.assertEqual(set(dpbs[3]), refs((1, None), (2, None)))
        self.assertEqual(set(dpbs[5]), refs((2, None), (3, None)))   # the non-reference frame left no mark

    def test_long_term_operations(self):
        dpbs = h264_trace.reference_marking(marking_trace([
            {"frame_num": 0, "idr": True, "long": True},                 # LongTermFrameIdx 0
            {"frame_num": 1, "mmcos": [(4, {"max_long_term_frame_idx_plus1": 3})]},
            {"frame_num": 2, "mmcos": [(3, {"difference_of_pic_nums_minus1": 0,
                                            "long_term_frame_idx": 2})]},   # frame 1 -> idx 2
            {"frame_num": 3, "mmcos": [(6, {"long_term_frame_idx": 0})]},   # replaces the IDR at idx 0
            {"frame_num": 4, "mmcos": [(2, {"long_term_pic_num": 2})]},     # frame 1 (idx 2) unused
            {"frame_num": 5, "mmcos": [(1, {"difference_of_pic_nums_minus1": 0})]},  # frame 4 unused
            {"frame_num": 6, "mmcos": [(4, {"max_long_term_frame_idx_plus1": 0})]},  # no long-term
            {"frame_num": 7, "mmcos": [(5, {})]},                        # then counts as frame_num 0
            {"frame_num": 1},
        ]))
        dpbs = [set(dpb) for dpb in dpbs]
        self.assertEqual(dpbs[1], refs((0, 0)))
        self.assertEqual(dpbs[3], refs((0, 0), (1, 2), (2, None)))
        self.assertEqual(dpbs[4], refs((2, None), (1, 2), (3, 0)))
        self.assertEqual(dpbs[5], refs((2, None), (3, 0), (4, None)))
        self.assertEqual(dpbs[6], refs((2, None), (3, 0), (5, None)))
        self.assertEqual(dpbs[7], refs((2, None), (5, None), (6, None)))
        self.assertEqual(dpbs[8], refs((0, None)))

    def test_an_idr_has_an_empty_dpb_and_a_bad_mmco_is_reported(self):
        dpbs = h264_trace.reference_marking(marking_trace(
            [{"frame_num": 0, "idr": True}, {"frame_num": 1}, {"frame_num": 0, "idr": True}]))
        self.assertEqual(dpbs[2], [])
        with self.assertRaises(h264_trace.MarkingError):
            h264_trace.reference_marking(marking_trace(
                [{"frame_num": 0, "idr": True},
                 {"frame_num": 1, "mmcos": [(1, {"difference_of_pic_nums_minus1": 5})]}]))


class MmcoRewriteTest(unittest.TestCase):
    def test_exp_golomb_and_marking_bits(self):
        writer = mmco_rewrite.BitWriter()
        for value in (0, 1, 2, 3, 7):
            writer.ue(value)
        self.assertEqual("".join(map(str, writer.bits)), "1" "010" "011" "00100" "0001000")
        bits = mmco_rewrite._marking_bits([h264_trace.Mmco(2, {"long_term_pic_num": 1}),
                                           h264_trace.Mmco(6, {"long_term_frame_idx": 1})])
        # flag 1, ue(2) ue(1), ue(6) ue(1), ue(0)
        self.assertEqual("".join(map(str, bits)), "1" "011" "010" "00111" "010" "1")

    def test_emulation_prevention_round_trip(self):
        rbsp = bytes([0x65, 0, 0, 1, 0, 0, 0, 0, 0, 3, 0x80])
        nal = mmco_rewrite.escape(rbsp)
        self.assertEqual(nal, bytes([0x65, 0, 0, 3, 1, 0, 0, 3, 0, 0, 3, 0, 3, 0x80]))
        self.assertEqual(mmco_rewrite.unescape(nal), rbsp)

    def test_reuse_of_an_index_gets_an_explicit_mmco2(self):
        trace = marking_trace([
            {"frame_num": 0, "idr": True, "long": True},
            {"frame_num": 1, "mmcos": [(6, {"long_term_frame_idx": 0})]},   # idx 0 held by the IDR
            {"frame_num": 2, "mmcos": [(6, {"long_term_frame_idx": 1})]},   # free: unchanged
        ])
        plans = mmco_rewrite.plan_explicit_unmarking(trace)
        self.assertIsNone(plans[0])
        self.assertEqual([(op.operation, op.arguments) for op in plans[1]],
                         [(2, {"long_term_pic_num": 0}), (6, {"long_term_frame_idx": 0})])
        self.assertIsNone(plans[2])


def counter_line(**fields) -> str:
    record = {"pid": 1, "profile": "hantro", "frames_decoded": 0, "errors": 0,
              "dpb_mismatches": 0, "requests_allocated": 0,
              "max_requests_in_flight": 0, "ioctls": {}}
    record.update(fields)
    return json.dumps(record)


class CountersTest(unittest.TestCase):
    def test_sums_all_processes_and_takes_the_maximum_in_flight(self):
        text = "\n".join([
            counter_line(pid=1, frames_decoded=0, requests_allocated=0,
                         ioctls={"VIDIOC_QUERYCAP": 1}),
            counter_line(pid=2, frames_decoded=17, errors=1, dpb_mismatches=2,
                         requests_allocated=4, max_requests_in_flight=3,
                         ioctls={"VIDIOC_QUERYCAP": 1, "VIDIOC_QBUF": 34}),
            counter_line(pid=3, frames_decoded=3, max_requests_in_flight=1),
        ]) + "\n"
        totals = counters.sum_counter_lines(text)
        self.assertEqual(totals.processes, 3)
        self.assertEqual(totals.frames_decoded, 20)
        self.assertEqual(totals.errors, 1)
        self.assertEqual(totals.dpb_mismatches, 2)
        self.assertEqual(totals.requests_allocated, 4)
        self.assertEqual(totals.max_requests_in_flight, 3)
        self.assertEqual(totals.ioctls, {"VIDIOC_QUERYCAP": 2, "VIDIOC_QBUF": 34})

    def test_rejects_garbage(self):
        with self.assertRaises(counters.CountersError):
            counters.sum_counter_lines("{not json\n")
        with self.assertRaises(counters.CountersError):
            counters.sum_counter_lines(counter_line(frames_decoded=-1))

    def test_missing_file_means_no_process_loaded_the_emulator(self):
        totals = counters.read_counters(Path("/nonexistent/counters.jsonl"))
        self.assertEqual(totals.processes, 0)
        self.assertIn("not loaded", counters.hardware_decode_failure(totals, 1))

    def test_failure_reasons(self):
        def failure(frames_decoded, errors=0, output_frames=10, profile="hantro"):
            totals = counters.sum_counter_lines(counter_line(
                frames_decoded=frames_decoded, errors=errors, profile=profile))
            return counters.hardware_decode_failure(totals, output_frames, "hantro")
        self.assertIn("software fallback", failure(0))
        self.assertIn("3 errors", failure(0, errors=3))
        self.assertIn("partial", failure(9))
        self.assertIn("errors", failure(10, errors=1))
        self.assertIn("profile", failure(10, profile="cedrus"))
        self.assertIsNone(failure(10))
        self.assertIsNone(failure(20))  # field pictures count twice


class TestbedTest(unittest.TestCase):
    def test_declares_the_three_nodes_with_their_numbers(self):
        text = testbed.testbed_text("cedrus")
        for expected in ("N: dri/renderD128", "A: dev=226:128\\n", "E: SUBSYSTEM=drm",
                         "N: media0", "A: dev=238:0\\n", "E: SUBSYSTEM=media",
                         "N: video0", "A: dev=81:0\\n", "E: SUBSYSTEM=video4linux",
                         "E: DRIVER=cedrus"):
            self.assertIn(expected, text)
        # umockdev-record order: a device precedes its parent.
        self.assertLess(text.index("/vgem/drm/renderD128"), text.index("P: /devices/platform/vgem\n"))

    def test_parts_can_be_left_out(self):
        self.assertNotIn("media0", testbed.testbed_text(with_v4l2=False))
        self.assertNotIn("renderD128", testbed.testbed_text(with_drm=False))
        with self.assertRaises(ValueError):
            testbed.testbed_text("nosuch")

    @unittest.skipUnless(shutil.which("umockdev-run"), "umockdev not installed")
    def test_umockdev_builds_sysfs_lookups_by_device_number(self):
        with tempfile.TemporaryDirectory() as directory:
            path = testbed.write_testbed(Path(directory) / "t.umockdev")
            completed = runner.subprocess.run(
                ["umockdev-run", "-d", str(path), "--", "sh", "-c",
                 "cat /sys/dev/char/81:0/uevent /sys/dev/char/238:0/uevent "
                 "/sys/dev/char/226:128/uevent; test -d /sys/dev/char/226:128/device/drm"],
                capture_output=True, text=True, check=False)
        self.assertEqual(completed.returncode, 0, completed.stderr)
        # sysfs uevent files name nodes relative to /dev, as the kernel does.
        for expected in ("DEVNAME=video0", "DEVNAME=media0", "DEVNAME=dri/renderD128"):
            self.assertIn(expected, completed.stdout)


class ClientCommandTest(unittest.TestCase):
    def context(self, directory: Path) -> clients.RunContext:
        return clients.RunContext(run_dir=directory, profile="rkvdec",
                                  driver_dir=Path("/build/src"),
                                  emulator_lib=Path("/build/tools/emulator/libemu.so"),
                                  testbed=directory / "t.umockdev")

    def test_hardware_ffmpeg_preloads_emulator_and_selects_the_driver(self):
        with tempfile.TemporaryDirectory() as directory:
            work = Path(directory)
            invocation = clients.FfmpegClient().invocation(Path("/s.264"), work,
                                                           self.context(work))
        argv = invocation.argv
        self.assertEqual(argv[argv.index("-hwaccel") + 1], "vaapi")
        self.assertIn("+allow_profile_mismatch", argv)
        self.assertNotIn("-hwaccel_output_format", argv)
        self.assertTrue(invocation.env["LD_PRELOAD"].startswith("/build/tools/emulator/libemu.so"))
        self.assertEqual(invocation.env["LIBVA_DRIVERS_PATH"], "/build/src")
        self.assertEqual(invocation.env["LIBVA_DRIVER_NAME"], "v4l2_request")
        self.assertEqual(invocation.env["V4L2_EMU_PROFILE"], "rkvdec")
        self.assertEqual(invocation.env["V4L2_EMU_COUNTERS"], str(invocation.counters_path))

    def test_hardware_paths_write_nv12_unconverted_and_software_paths_crop_exactly(self):
        with tempfile.TemporaryDirectory() as directory:
            work = Path(directory)
            context = self.context(work)
            ffmpeg = clients.FfmpegClient().invocation(Path("/s.264"), work, context).argv
            ffmpeg_sw = clients.FfmpegSoftwareClient().invocation(Path("/s.264"), work, context).argv
            mpv = clients.MpvClient().invocation(Path("/s.264"), work, context).argv
            mpv_sw = clients.MpvSoftwareClient().invocation(Path("/s.264"), work, context).argv
        self.assertEqual(ffmpeg[ffmpeg.index("-pix_fmt") + 1], "nv12")
        self.assertNotIn("-pix_fmt", ffmpeg_sw)     # libavcodec's own format, no swscale
        self.assertIn("+unaligned", ffmpeg_sw)
        self.assertIn("--vf=format=nv12", mpv)
        self.assertIn("--vd-lavc-o=flags=+unaligned", mpv_sw)
        self.assertEqual(clients.FfmpegClient.crops, clients.CROPS_RIGHT_BOTTOM)
        self.assertEqual(clients.MpvClient.crops, clients.CROPS_RIGHT_BOTTOM)
        self.assertEqual(clients.GstClient.crops, clients.CROPS_ALL)

    def test_crop_left_to_the_application_is_applied_and_said(self):
        geometry = clients.Geometry(182, 150, h264_trace.CropWindow(left=8, right=2, top=6, bottom=4))
        layout = clients.FfmpegClient().output_layout(geometry)
        self.assertEqual((layout.width, layout.height), (182, 150))
        self.assertEqual(layout.frame_size, rawvideo.packed_i420_frame_size(190, 156))
        note = clients.FfmpegClient().crop_note(geometry)
        self.assertIn("left 8 and top 6", note)
        self.assertIn("190x156", note)
        self.assertIsNone(clients.FfmpegSoftwareClient().crop_note(geometry))
        self.assertIsNone(clients.FfmpegClient().crop_note(clients.Geometry(176, 144)))

    def test_v4l2codecs_runs_without_the_va_driver_under_umockdev(self):
        with tempfile.TemporaryDirectory() as directory:
            work = Path(directory)
            invocation = clients.V4l2CodecsClient().invocation(Path("/s.264"), work,
                                                               self.context(work))
        self.assertEqual(invocation.argv[:2], ["umockdev-run", "-d"])
        self.assertIn("v4l2slh264dec", invocation.argv)
        self.assertNotIn("LIBVA_DRIVER_NAME", invocation.env)
        self.assertIn("LD_PRELOAD", invocation.env)

    def test_software_variants_are_not_hardware_clients(self):
        for name in ("ffmpeg-sw", "gst-sw", "mpv-sw"):
            self.assertFalse(clients.CLIENTS[name].hardware, name)
        for name in clients.PUBLIC_CLIENTS:
            self.assertTrue(clients.CLIENTS[name].hardware, name)


@unittest.skipUnless(SHARED_MANIFEST.is_file() and shutil.which("ffmpeg"),
                     "needs the shared streams and ffmpeg")
class SilentFallbackTest(unittest.TestCase):
    """A hardware client whose frames were decoded in software (right MD5,
    no emulator counters) must fail."""

    class SoftwareDecodingPosingAsHardware(clients.FfmpegSoftwareClient):
        hardware = True     # judged as a hardware run ...
        hwaccel = False     # ... but ffmpeg decodes in software, as in a fallback
        counters_text = None

        def _env(self, context, counters_path):
            return clients._base_env()  # no emulator preloaded

        def invocation(self, stream_path, work_dir, context):
            invocation = super().invocation(stream_path, work_dir, context)
            invocation.counters_path = work_dir / "counters.jsonl"
            if self.counters_text is not None:
                invocation.counters_path.write_text(self.counters_text)
            return invocation

    def run_stream(self, counters_text):
        client = self.SoftwareDecodingPosingAsHardware()
        client.counters_text = counters_text
        stream = next(s for s in manifest.read_manifest(SHARED_MANIFEST)
                      if s.name == "BA1_Sony_D")
        with tempfile.TemporaryDirectory() as directory:
            context = clients.RunContext(run_dir=Path(directory), profile="hantro")
            return runner.check_stream(stream, client, context, Path(directory))

    def test_right_md5_without_counters_fails(self):
        result = self.run_stream(None)
        self.assertFalse(result.passed)
        self.assertIn("counters", result.reason)

    def test_right_md5_with_too_few_decoded_frames_fails(self):
        result = self.run_stream(counter_line(frames_decoded=16) + "\n")
        self.assertFalse(result.passed)
        self.assertIn("partial", result.reason)

    def test_right_md5_with_every_frame_decoded_passes(self):
        result = self.run_stream(counter_line(frames_decoded=17) + "\n")
        self.assertTrue(result.passed, result.reason)


if __name__ == "__main__":
    unittest.main(verbosity=2)
