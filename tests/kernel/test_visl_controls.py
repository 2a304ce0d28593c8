#!/usr/bin/env python3
"""Unit tests of tools/kernel/visl_controls.py: visl's H.264 trace text ->
per-request JSON objects, and the field-by-field comparison.

data/visl-h264-two-requests.trace is a real capture from visl (6.12) under
our driver: request 4 of HPCAFL_BRCM_C in slice mode (a B field of a PAFF
stream) and request 1 of test_scalinglist_jm (a P frame with non-flat
scaling lists). Usage: test_visl_controls.py <tools/kernel dir>
"""

import copy
import sys
import unittest
from pathlib import Path

sys.dont_write_bytecode = True
TOOLS_DIR = Path(sys.argv.pop(1)) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "tools/kernel"
sys.path.insert(0, str(TOOLS_DIR))
import visl_controls  # noqa: E402

FIXTURE = Path(__file__).resolve().parent / "data/visl-h264-two-requests.trace"


def fixture_lines(text_edits=()):
    text = FIXTURE.read_text()
    for old, new in text_edits:
        if old not in text:
            raise AssertionError(f"fixture lacks {old!r}")
        text = text.replace(old, new, 1)
    return text.splitlines(keepends=True)


class ConvertTest(unittest.TestCase):
    def setUp(self):
        self.requests = visl_controls.trace_to_requests(fixture_lines())

    def test_one_object_per_device_run(self):
        self.assertEqual(len(self.requests), 2)
        for request in self.requests:
            self.assertEqual(sorted(request), sorted(visl_controls.CONTROL_KEYS))
            self.assertEqual(len(request["decode_params"]["dpb"]), 16)
            self.assertEqual(len(request["slice_params"]), 1)
            self.assertEqual(len(request["slice_params"][0]["ref_pic_list0"]), 32)
            self.assertEqual(len(request["slice_params"][0]["ref_pic_list1"]), 32)
            self.assertEqual(len(request["sps"]["offset_for_ref_frame"]), 255)

    def test_field_picture_values_and_flags(self):
        b_field = self.requests[0]
        self.assertEqual(b_field["sps"]["profile_idc"], 100)
        self.assertEqual(b_field["sps"]["constraint_set_flags"], 0)
        decode = b_field["decode_params"]
        # "flags FIELD_PIC|BFRAME"
        self.assertEqual(decode["flags"], 0x02 | 0x10)
        self.assertEqual(decode["frame_num"], 2)
        self.assertEqual(decode["top_field_order_cnt"], 65537)
        self.assertEqual(decode["pic_order_cnt_bit_size"], 8)
        # "[0]: reference_ts 2000, pic_num 3 frame_num 1 fields TOP_FIELD_REF|BOTTOM_FIELD_REF
        #  top_field_order_cnt 65539 bottom_field_order_cnt 65539 flags VALID|ACTIVE|FIELD"
        self.assertEqual(decode["dpb"][0], {
            "reference_ts": 2000, "pic_num": 3, "frame_num": 1, "fields": 3,
            "top_field_order_cnt": 65539, "bottom_field_order_cnt": 65539, "flags": 0x01 | 0x02 | 0x08})
        self.assertEqual(decode["dpb"][1]["flags"], 0)
        slice_params = b_field["slice_params"][0]
        self.assertEqual(slice_params["slice_type"], 1)  # "B"
        self.assertEqual(slice_params["ref_pic_list0"][0], {"fields": 1, "index": 0})  # TOP_FIELD_REF
        self.assertEqual(slice_params["ref_pic_list1"][0], {"fields": 2, "index": 0})  # BOTTOM_FIELD_REF

    def test_scaling_lists_from_hex_dump(self):
        matrix = self.requests[1]["scaling_matrix"]
        self.assertEqual(len(matrix["scaling_list_4x4"]), 6)
        self.assertEqual(len(matrix["scaling_list_8x8"]), 6)
        self.assertEqual(matrix["scaling_list_4x4"][0][:4], [0x11, 0x11, 0x10, 0x10])
        self.assertEqual(matrix["scaling_list_4x4"][1][:4], [0x06, 0x0c, 0x13, 0x1a])
        self.assertEqual(matrix["scaling_list_4x4"][5][15], 0x1b)
        self.assertEqual(matrix["scaling_list_8x8"][0][:3], [0x06, 0x0a, 0x0d])
        self.assertEqual(matrix["scaling_list_8x8"][1][:2], [0x09, 0x0d])
        self.assertEqual(self.requests[1]["pps"]["flags"] & 0x80, 0x80)  # SCALING_MATRIX_PRESENT

    def test_signed_fields_printed_unsigned(self):
        # visl prints s8 slice_alpha_c0_offset_div2 with %u, s16 weights as
        # unsigned hex and s16 chroma weights as little-endian bytes.
        requests = visl_controls.trace_to_requests(fixture_lines([
            ("slice_alpha_c0_offset_div2 0", "slice_alpha_c0_offset_div2 4294967294"),
            ("weight_factor[0].luma_weight {0x0,0x0,", "weight_factor[0].luma_weight {0xffff,0x1,"),
            ("weight_factor[0].chroma_weight {\n00 00 00 00", "weight_factor[0].chroma_weight {\nfe ff 01 00"),
            ("flags FIELD_PIC|BFRAME", "flags FIELD_PIC|BFRAME|0x40"),
        ]))
        first = requests[0]
        self.assertEqual(first["slice_params"][0]["slice_alpha_c0_offset_div2"], -2)
        factors = first["pred_weights"][0]["weight_factors"][0]
        self.assertEqual(factors["luma_weight"][:3], [-1, 1, 0])
        self.assertEqual(factors["chroma_weight"][0], [-2, 1])
        self.assertEqual(len(factors["chroma_weight"]), 32)
        self.assertEqual(first["decode_params"]["flags"], 0x02 | 0x10 | 0x40)

    def test_truncated_trace_is_an_error(self):
        lines = fixture_lines()
        last_event = max(i for i, line in enumerate(lines) if "v4l2_ctrl_h264_pred_weights:" in line)
        with self.assertRaises(visl_controls.TraceError):
            visl_controls.trace_to_requests(lines[:last_event])

    def test_unknown_flag_name_is_an_error(self):
        with self.assertRaises(visl_controls.TraceError):
            visl_controls.trace_to_requests(fixture_lines([("flags FIELD_PIC|BFRAME", "flags FIELD_PIC|NEW")]))


class CompareTest(unittest.TestCase):
    def setUp(self):
        self.kernel = visl_controls.trace_to_requests(fixture_lines())
        # The emulator's record: slice_params as one object, extra keys of its own.
        self.emulated = []
        for request in copy.deepcopy(self.kernel):
            request["slice_params"] = request["slice_params"][0]
            request.update({"device": 0, "timestamp": 1, "decoded": 1, "dpb_mismatches": 0})
            self.emulated.append(request)

    def test_identical_records_have_no_difference(self):
        self.assertEqual(visl_controls.compare_requests(self.kernel, self.emulated), [])

    def test_each_differing_field_is_named_with_both_values(self):
        self.emulated[1]["decode_params"]["dpb"][0]["pic_num"] = 7
        self.emulated[0]["slice_params"]["ref_pic_list1"][0]["fields"] = 3
        differences = visl_controls.compare_requests(self.kernel, self.emulated)
        self.assertEqual(sorted(differences), sorted([
            "request 1 (picture 1): decode_params.dpb[0].pic_num: kernel=0 emulator=7",
            "request 0 (picture 0): slice_params.ref_pic_list1[0].fields: kernel=2 emulator=3",
        ]))

    def test_controls_the_emulator_did_not_record_are_not_compared(self):
        # A control absent from a request keeps a stale value in visl.
        del self.emulated[0]["scaling_matrix"]
        del self.emulated[0]["pred_weights"]
        self.kernel[0]["scaling_matrix"]["scaling_list_4x4"][0][0] = 99
        self.assertEqual(visl_controls.compare_requests(self.kernel, self.emulated), [])

    def test_slices_of_one_picture_share_its_index(self):
        second_slice = copy.deepcopy(self.kernel[0])
        second_slice["slice_params"][0]["first_mb_in_slice"] = 22
        requests = [self.kernel[0], second_slice, self.kernel[1]]
        self.assertEqual(visl_controls.picture_indices(requests, slice_based=True), [0, 0, 1])
        self.assertEqual(visl_controls.picture_indices(requests, slice_based=False), [0, 1, 2])

    def test_request_count_and_missing_fields_are_reported(self):
        del self.emulated[1]
        del self.emulated[0]["sps"]["level_idc"]
        differences = visl_controls.compare_requests(self.kernel, self.emulated)
        self.assertIn("request count: kernel=2 emulator=1", differences)
        self.assertTrue(any(d.startswith("request 0 (picture 0): sps.level_idc: kernel=") and d.endswith("emulator=<absent>")
                            for d in differences), differences)


if __name__ == "__main__":
    unittest.main(verbosity=2)
