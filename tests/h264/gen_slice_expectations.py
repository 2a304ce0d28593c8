#!/usr/bin/env python3
"""Derives expected slice-header values for the h264 unit tests from FFmpeg.

Runs `ffmpeg -bsf:v trace_headers` (FFmpeg's own CBS parser, independent of
ours) over conformance streams and writes one TSV row per coded slice NAL, in
stream order: the SPS/PPS context the slice header depends on, every slice
header syntax element the V4L2 controls use, and the bit sizes derived from
the traced bit positions (RBSP bits, NAL header included).

Usage: gen_slice_expectations.py CONFORMANCE_DIR OUT.tsv
"""
import re
import subprocess
import sys

# (stream file, max slices): chosen for POC types 0/1/2, multi-slice, long-term
# refs + MMCO, list modification, explicit WP (P and B), CABAC, PAFF, MBAFF,
# multiple IDRs, non-reference pictures, several PPS, per-slice deblocking.
STREAMS = [
    ("MR1_BT_A.h264", 80), ("MR2_MW_A.264", 60), ("MIDR_MW_D.264", 40), ("NRF_MW_E.264", 40),
    ("BA1_FT_C.264", 60), ("SVA_CL1_E.264", 60), ("CVWP2_TOSHIBA_E.264", 60), ("CAWP1_TOSHIBA_E.264", 60),
    ("CABA3_SVA_B.264", 60), ("CACQP3_Sony_D.jsv", 40), ("FRExt4_Panasonic.avc", 60), ("HCAFF1_HHI.264", 60),
    ("FRExt_MMCO4_Sony_B.264", 80), ("test_scalinglist_jm.264", 40), ("HPCVMOLQ_BRCM_B.264", 20),
    ("jm_1080p_allslice.264", 120), ("Freh7_B.264", 60),
]

LINE = re.compile(r"^\[trace_headers @ [^\]]*\] (\d+)\s+(\S+)\s+([01]+) = (-?\d+)$")
SECTION = re.compile(r"^\[trace_headers @ [^\]]*\] (Sequence Parameter Set|Picture Parameter Set|Slice Header|.*)$")

CONTEXT = ["chroma_format_idc", "separate_colour_plane", "log2_max_frame_num_minus4", "frame_mbs_only",
           "pic_order_cnt_type", "log2_max_pic_order_cnt_lsb_minus4", "delta_pic_order_always_zero",
           "bottom_field_pic_order_in_frame_present", "redundant_pic_cnt_present", "weighted_pred",
           "weighted_bipred_idc", "entropy_coding_mode", "deblocking_filter_control_present",
           "num_slice_groups_minus1", "slice_group_map_type", "slice_group_change_rate_minus1",
           "pic_size_in_map_units", "num_ref_idx_l0_default_active_minus1", "num_ref_idx_l1_default_active_minus1"]
EXPECTED = ["nal_ref_idc", "nal_unit_type", "first_mb_in_slice", "slice_type", "pic_parameter_set_id",
            "colour_plane_id", "frame_num", "field_pic", "bottom_field", "idr_pic_id", "pic_order_cnt_lsb",
            "delta_pic_order_cnt_bottom", "delta_pic_order_cnt0", "delta_pic_order_cnt1", "redundant_pic_cnt",
            "direct_spatial_mv_pred", "num_ref_idx_active_override", "num_ref_idx_l0_active_minus1",
            "num_ref_idx_l1_active_minus1", "has_pred_weight_table", "luma_log2_weight_denom",
            "chroma_log2_weight_denom", "luma_weight_l0_0", "luma_offset_l0_0", "long_term_reference",
            "adaptive_ref_pic_marking_mode", "cabac_init_idc", "slice_qp_delta", "sp_for_switch", "slice_qs_delta",
            "disable_deblocking_filter_idc", "slice_alpha_c0_offset_div2", "slice_beta_offset_div2",
            "slice_group_change_cycle", "header_bit_size", "dec_ref_pic_marking_bit_size", "pic_order_cnt_bit_size"]

MARKING = {"no_output_of_prior_pics_flag", "long_term_reference_flag", "adaptive_ref_pic_marking_mode_flag",
           "memory_management_control_operation", "difference_of_pic_nums_minus1", "long_term_pic_num",
           "long_term_frame_idx", "max_long_term_frame_idx_plus1"}
POC = {"pic_order_cnt_lsb", "delta_pic_order_cnt_bottom", "delta_pic_order_cnt[0]", "delta_pic_order_cnt[1]"}


def sections(path):
    out = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "trace", "-i", path, "-c", "copy",
                          "-bsf:v", "trace_headers", "-f", "null", "-"], capture_output=True, text=True).stderr
    current = None
    seen_packet = False
    for line in out.splitlines():
        m = LINE.match(line)
        if m:
            if current is not None:
                current[1].append((int(m.group(1)), m.group(2), len(m.group(3)), int(m.group(4))))
            continue
        s = SECTION.match(line)
        if not s:
            continue
        title = s.group(1)
        if title.startswith("Packet:"):
            seen_packet = True
        if current is not None:
            yield current
            current = None
        # The extradata copy of SPS/PPS precedes the first packet: parameter
        # sets only, never slices, so it is harmless to track it too.
        if title in ("Sequence Parameter Set", "Picture Parameter Set", "Slice Header"):
            current = (title, [], seen_packet)
    if current is not None:
        yield current


def values(elements):
    d = {}
    for _, name, _, value in elements:
        d.setdefault(name, value)
    return d


def slice_row(elements, sps_by_id, pps_by_id):
    v = values(elements)
    pps = pps_by_id[v["pic_parameter_set_id"]]
    sps = sps_by_id[pps["seq_parameter_set_id"]]
    chroma = sps.get("chroma_format_idc", 1)
    frame_mbs_only = sps["frame_mbs_only_flag"]
    ctx = {
        "chroma_format_idc": chroma,
        "separate_colour_plane": sps.get("separate_colour_plane_flag", 0),
        "log2_max_frame_num_minus4": sps["log2_max_frame_num_minus4"],
        "frame_mbs_only": frame_mbs_only,
        "pic_order_cnt_type": sps["pic_order_cnt_type"],
        "log2_max_pic_order_cnt_lsb_minus4": sps.get("log2_max_pic_order_cnt_lsb_minus4", 0),
        "delta_pic_order_always_zero": sps.get("delta_pic_order_always_zero_flag", 0),
        "bottom_field_pic_order_in_frame_present": pps["bottom_field_pic_order_in_frame_present_flag"],
        "redundant_pic_cnt_present": pps["redundant_pic_cnt_present_flag"],
        "weighted_pred": pps["weighted_pred_flag"],
        "weighted_bipred_idc": pps["weighted_bipred_idc"],
        "entropy_coding_mode": pps["entropy_coding_mode_flag"],
        "deblocking_filter_control_present": pps["deblocking_filter_control_present_flag"],
        "num_slice_groups_minus1": pps["num_slice_groups_minus1"],
        "slice_group_map_type": pps.get("slice_group_map_type", 0),
        "slice_group_change_rate_minus1": pps.get("slice_group_change_rate_minus1", 0),
        "pic_size_in_map_units": (sps["pic_width_in_mbs_minus1"] + 1) * (sps["pic_height_in_map_units_minus1"] + 1),
        "num_ref_idx_l0_default_active_minus1": pps["num_ref_idx_l0_default_active_minus1"],
        "num_ref_idx_l1_default_active_minus1": pps["num_ref_idx_l1_default_active_minus1"],
    }
    slice_type = v["slice_type"] % 5
    override = v.get("num_ref_idx_active_override_flag", 0)
    header_end = 0
    marking = [None, None]
    poc = [None, None]
    in_marking = False
    for pos, name, width, _ in elements:
        if name == "cabac_alignment_one_bit":
            continue
        header_end = max(header_end, pos + width)
        if name in ("no_output_of_prior_pics_flag", "adaptive_ref_pic_marking_mode_flag"):
            in_marking = True
        if name in ("cabac_init_idc", "slice_qp_delta"):
            in_marking = False
        if in_marking and name in MARKING:
            marking[0] = pos if marking[0] is None else marking[0]
            marking[1] = pos + width
        if name in POC:
            poc[0] = pos if poc[0] is None else poc[0]
            poc[1] = pos + width
    exp = {
        "nal_ref_idc": v["nal_ref_idc"], "nal_unit_type": v["nal_unit_type"],
        "first_mb_in_slice": v["first_mb_in_slice"], "slice_type": slice_type,
        "pic_parameter_set_id": v["pic_parameter_set_id"], "colour_plane_id": v.get("colour_plane_id", 0),
        "frame_num": v["frame_num"], "field_pic": v.get("field_pic_flag", 0),
        "bottom_field": v.get("bottom_field_flag", 0), "idr_pic_id": v.get("idr_pic_id", 0),
        "pic_order_cnt_lsb": v.get("pic_order_cnt_lsb", 0),
        "delta_pic_order_cnt_bottom": v.get("delta_pic_order_cnt_bottom", 0),
        "delta_pic_order_cnt0": v.get("delta_pic_order_cnt[0]", 0),
        "delta_pic_order_cnt1": v.get("delta_pic_order_cnt[1]", 0),
        "redundant_pic_cnt": v.get("redundant_pic_cnt", 0),
        "direct_spatial_mv_pred": v.get("direct_spatial_mv_pred_flag", 0),
        "num_ref_idx_active_override": override,
        "num_ref_idx_l0_active_minus1": v.get("num_ref_idx_l0_active_minus1",
                                              ctx["num_ref_idx_l0_default_active_minus1"]),
        "num_ref_idx_l1_active_minus1": v.get("num_ref_idx_l1_active_minus1",
                                              ctx["num_ref_idx_l1_default_active_minus1"]),
        "has_pred_weight_table": int("luma_log2_weight_denom" in v),
        "luma_log2_weight_denom": v.get("luma_log2_weight_denom", 0),
        "chroma_log2_weight_denom": v.get("chroma_log2_weight_denom", 0),
        "luma_weight_l0_0": v.get("luma_weight_l0[0]", 1 << v.get("luma_log2_weight_denom", 0)),
        "luma_offset_l0_0": v.get("luma_offset_l0[0]", 0),
        "long_term_reference": v.get("long_term_reference_flag", 0),
        "adaptive_ref_pic_marking_mode": v.get("adaptive_ref_pic_marking_mode_flag", 0),
        "cabac_init_idc": v.get("cabac_init_idc", 0), "slice_qp_delta": v["slice_qp_delta"],
        "sp_for_switch": v.get("sp_for_switch_flag", 0), "slice_qs_delta": v.get("slice_qs_delta", 0),
        "disable_deblocking_filter_idc": v.get("disable_deblocking_filter_idc", 0),
        "slice_alpha_c0_offset_div2": v.get("slice_alpha_c0_offset_div2", 0),
        "slice_beta_offset_div2": v.get("slice_beta_offset_div2", 0),
        "slice_group_change_cycle": v.get("slice_group_change_cycle", 0),
        "header_bit_size": header_end,
        "dec_ref_pic_marking_bit_size": 0 if marking[0] is None else marking[1] - marking[0],
        "pic_order_cnt_bit_size": 0 if poc[0] is None else poc[1] - poc[0],
    }
    if slice_type not in (0, 1, 3):
        exp["num_ref_idx_l0_active_minus1"] = ctx["num_ref_idx_l0_default_active_minus1"]
    if slice_type != 1:
        exp["num_ref_idx_l1_active_minus1"] = ctx["num_ref_idx_l1_default_active_minus1"]
    return ctx, exp


def main():
    conformance_dir, out_path = sys.argv[1], sys.argv[2]
    rows = []
    for name, limit in STREAMS:
        if limit == 0:
            continue
        sps_by_id, pps_by_id = {}, {}
        index = 0
        for title, elements, _ in sections(f"{conformance_dir}/streams/{name}"):
            v = values(elements)
            if title == "Sequence Parameter Set":
                sps_by_id[v["seq_parameter_set_id"]] = v
            elif title == "Picture Parameter Set":
                pps_by_id[v["pic_parameter_set_id"]] = v
            elif index < limit:
                ctx, exp = slice_row(elements, sps_by_id, pps_by_id)
                rows.append([name, str(index)] + [str(ctx[k]) for k in CONTEXT] + [str(exp[k]) for k in EXPECTED])
                index += 1
            else:
                index += 1
    with open(out_path, "w") as out:
        out.write("\t".join(["stream", "slice_index"] + CONTEXT + EXPECTED) + "\n")
        for row in rows:
            out.write("\t".join(row) + "\n")


if __name__ == "__main__":
    main()
