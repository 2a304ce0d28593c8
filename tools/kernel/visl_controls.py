#!/usr/bin/env python3
"""visl's H.264 trace events -> one JSON object per request, and a
field-by-field comparison with the emulated decoder's V4L2_EMU_RECORD lines.

visl (drivers/media/test-drivers/visl) calls visl_trace_ctrls() once per
device_run, i.e. once per completed request, emitting in this order:
v4l2_ctrl_h264_sps, _pps, _scaling_matrix, _slice_params, 32 x
v4l2_h264_ref_pic_list0, 32 x _ref_pic_list1, v4l2_ctrl_h264_decode_params,
16 x v4l2_h264_dpb_entry, v4l2_ctrl_h264_pred_weights
(visl-dec.c, visl-trace-h264.h). The values are those the kernel holds for the
request after v4l2_ctrl_request_setup(), i.e. after the control core has
validated and normalised them.

The JSON shape (field names are the uAPI names of v4l2-controls.h, flags and
enums as integers):
  {"sps": {...}, "pps": {...},
   "scaling_matrix": {"scaling_list_4x4": [[16]*6], "scaling_list_8x8": [[64]*6]},
   "decode_params": {..., "dpb": [16 x {...}]},
   "slice_params": [{..., "ref_pic_list0": [32 x {"fields", "index"}], "ref_pic_list1": [...]}],
   "pred_weights": [{"luma_log2_weight_denom", "chroma_log2_weight_denom",
                     "weight_factors": [2 x {"luma_weight": [32], "luma_offset": [32],
                                             "chroma_weight": [32 x [2]], "chroma_offset": [32 x [2]]}]}]}
visl's SLICE_PARAMS and PRED_WEIGHTS controls hold one element, so those
lists have exactly one entry here.

Usage:
  visl_controls.py convert TRACE [-o OUT.jsonl]
  visl_controls.py compare VISL.jsonl EMU.jsonl [--label NAME]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

# Flag names as printed by __print_flags in visl-trace-h264.h -> uAPI bits.
SPS_CONSTRAINT_FLAGS = {f"CONSTRAINT_SET{i}_FLAG": 1 << i for i in range(6)}
SPS_FLAGS = {
    "SEPARATE_COLOUR_PLANE": 0x01, "QPPRIME_Y_ZERO_TRANSFORM_BYPASS": 0x02,
    "DELTA_PIC_ORDER_ALWAYS_ZERO": 0x04, "GAPS_IN_FRAME_NUM_VALUE_ALLOWED": 0x08,
    "FRAME_MBS_ONLY": 0x10, "MB_ADAPTIVE_FRAME_FIELD": 0x20, "DIRECT_8X8_INFERENCE": 0x40,
}
PPS_FLAGS = {
    "ENTROPY_CODING_MODE": 0x01, "BOTTOM_FIELD_PIC_ORDER_IN_FRAME_PRESENT": 0x02,
    "WEIGHTED_PRED": 0x04, "DEBLOCKING_FILTER_CONTROL_PRESENT": 0x08,
    "CONSTRAINED_INTRA_PRED": 0x10, "REDUNDANT_PIC_CNT_PRESENT": 0x20,
    "TRANSFORM_8X8_MODE": 0x40, "SCALING_MATRIX_PRESENT": 0x80,
}
SLICE_FLAGS = {"DIRECT_SPATIAL_MV_PRED": 0x01, "SP_FOR_SWITCH": 0x02}
SLICE_TYPES = {"P": 0, "B": 1, "I": 2, "SP": 3, "SI": 4}
REFERENCE_FIELDS = {"TOP_FIELD_REF": 0x1, "BOTTOM_FIELD_REF": 0x2, "FRAME_REF": 0x3}
DPB_FLAGS = {"VALID": 0x01, "ACTIVE": 0x02, "LONG_TERM": 0x04, "FIELD": 0x08}
DECODE_FLAGS = {"IDR_PIC": 0x01, "FIELD_PIC": 0x02, "BOTTOM_FIELD": 0x04, "PFRAME": 0x08, "BFRAME": 0x10}

# Trace line header: "<comm>-<pid> [cpu] <irq flags> <timestamp>: <event>: <text>"
_EVENT_HEADER = re.compile(r"\[\d+\]\s+(?:\S+\s+)?\d+\.\d+: (\w+): ?(.*)$")


class TraceError(ValueError):
    pass


def _flags(text: str, table: dict[str, int]) -> int:
    value = 0
    for name in filter(None, text.strip().split("|")):
        if name in table:
            value |= table[name]
        elif name.startswith("0x"):  # bits __print_flags has no name for
            value |= int(name, 16)
        else:
            raise TraceError(f"unknown flag {name!r}")
    return value


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _scalar(text: str) -> int:
    # %u of a promoted s8/s16 prints its 32-bit two's complement.
    value = int(text)
    return _signed(value, 32) if value >= 1 << 31 else value


def _array(text: str, bits: int) -> list[int]:
    # __print_array prints "{0x..,0x..}" with each element as unsigned hex.
    inner = text.strip().removeprefix("{").removesuffix("}")
    return [_signed(int(item, 16), bits) for item in inner.split(",") if item]


def _hex_bytes(text: str) -> list[int]:
    # __print_hex_dump: rows of two-digit hex bytes between the braces.
    return [int(byte, 16) for byte in re.findall(r"\b[0-9a-f]{2}\b", text)]


def _s16_pairs(raw: list[int]) -> list[list[int]]:
    # s16 [32][2] little-endian (x86 guest).
    values = [_signed(raw[i] | raw[i + 1] << 8, 16) for i in range(0, len(raw), 2)]
    return [values[i:i + 2] for i in range(0, len(values), 2)]


def _key_values(body: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in body.splitlines():
        if not line.strip():
            continue
        key, _, value = line.strip().partition(" ")
        fields[key] = value
    return fields


def _braced(body: str) -> dict[str, str]:
    # "name {....}" blocks that span lines (hex dumps).
    return {m.group(1): m.group(2) for m in re.finditer(r"([\w\[\].]+) \{([^}]*)\}", body)}


def parse_sps(body: str) -> dict:
    f = _key_values(body)
    sps = {}
    for key in ("profile_idc", "level_idc", "seq_parameter_set_id", "chroma_format_idc",
                "bit_depth_luma_minus8", "bit_depth_chroma_minus8", "log2_max_frame_num_minus4",
                "pic_order_cnt_type", "log2_max_pic_order_cnt_lsb_minus4", "max_num_ref_frames",
                "num_ref_frames_in_pic_order_cnt_cycle", "offset_for_non_ref_pic",
                "offset_for_top_to_bottom_field", "pic_width_in_mbs_minus1",
                "pic_height_in_map_units_minus1"):
        sps[key] = _scalar(f[key])
    sps["constraint_set_flags"] = _flags(f.get("constraint_set_flags", ""), SPS_CONSTRAINT_FLAGS)
    sps["offset_for_ref_frame"] = _array(f["offset_for_ref_frame"], 32)
    sps["flags"] = _flags(f.get("flags", ""), SPS_FLAGS)
    return sps


def parse_pps(body: str) -> dict:
    f = _key_values(body)
    pps = {key: _scalar(f[key]) for key in (
        "pic_parameter_set_id", "seq_parameter_set_id", "num_slice_groups_minus1",
        "num_ref_idx_l0_default_active_minus1", "num_ref_idx_l1_default_active_minus1",
        "weighted_bipred_idc", "pic_init_qp_minus26", "pic_init_qs_minus26",
        "chroma_qp_index_offset", "second_chroma_qp_index_offset")}
    pps["flags"] = _flags(f.get("flags", ""), PPS_FLAGS)
    return pps


def parse_scaling_matrix(body: str) -> dict:
    blocks = _braced(body)
    list4 = _hex_bytes(blocks["scaling_list_4x4"])
    list8 = _hex_bytes(blocks["scaling_list_8x8"])
    if len(list4) != 96 or len(list8) != 384:
        raise TraceError(f"scaling matrix with {len(list4)}/{len(list8)} bytes")
    return {"scaling_list_4x4": [list4[i:i + 16] for i in range(0, 96, 16)],
            "scaling_list_8x8": [list8[i:i + 64] for i in range(0, 384, 64)]}


def parse_pred_weights(body: str) -> dict:
    blocks = _braced(body)
    plain = _key_values(re.sub(r"[\w\[\].]+ \{[^}]*\}", "", body))
    weights = {"luma_log2_weight_denom": _scalar(plain["luma_log2_weight_denom"]),
               "chroma_log2_weight_denom": _scalar(plain["chroma_log2_weight_denom"]),
               "weight_factors": []}
    # __print_array output is braced too, so every list is in `blocks`.
    for i in range(2):
        prefix = f"weight_factor[{i}]."
        weights["weight_factors"].append({
            "luma_weight": _array(blocks[prefix + "luma_weight"], 16),
            "luma_offset": _array(blocks[prefix + "luma_offset"], 16),
            "chroma_weight": _s16_pairs(_hex_bytes(blocks[prefix + "chroma_weight"])),
            "chroma_offset": _s16_pairs(_hex_bytes(blocks[prefix + "chroma_offset"])),
        })
    return weights


def parse_slice_params(body: str) -> dict:
    f = _key_values(body)
    params = {key: _scalar(f[key]) for key in (
        "header_bit_size", "first_mb_in_slice", "colour_plane_id", "redundant_pic_cnt",
        "cabac_init_idc", "slice_qp_delta", "slice_qs_delta", "disable_deblocking_filter_idc",
        "slice_alpha_c0_offset_div2", "slice_beta_offset_div2",
        "num_ref_idx_l0_active_minus1", "num_ref_idx_l1_active_minus1")}
    slice_type = f["slice_type"].strip()
    params["slice_type"] = SLICE_TYPES[slice_type] if slice_type in SLICE_TYPES else int(slice_type, 0)
    params["flags"] = _flags(f.get("flags", ""), SLICE_FLAGS)
    params["ref_pic_list0"] = [None] * 32
    params["ref_pic_list1"] = [None] * 32
    return params


_REFERENCE = re.compile(r"\[(\d+)\]: fields (\S*) index (\d+)")
_DPB_ENTRY = re.compile(r"\[(\d+)\]: reference_ts (\d+), pic_num (\d+) frame_num (\d+) fields (\S*) "
                        r"top_field_order_cnt (-?\d+) bottom_field_order_cnt (-?\d+) flags (\S*)")


def parse_reference(text: str) -> tuple[int, dict]:
    m = _REFERENCE.search(text)
    if not m:
        raise TraceError(f"bad reference line {text!r}")
    return int(m.group(1)), {"fields": _flags(m.group(2), REFERENCE_FIELDS), "index": int(m.group(3))}


def parse_dpb_entry(text: str) -> tuple[int, dict]:
    m = _DPB_ENTRY.search(text)
    if not m:
        raise TraceError(f"bad dpb entry line {text!r}")
    return int(m.group(1)), {
        "reference_ts": int(m.group(2)), "pic_num": int(m.group(3)), "frame_num": int(m.group(4)),
        "fields": _flags(m.group(5), REFERENCE_FIELDS),
        "top_field_order_cnt": int(m.group(6)), "bottom_field_order_cnt": int(m.group(7)),
        "flags": _flags(m.group(8), DPB_FLAGS)}


def parse_decode_params(body: str) -> dict:
    f = _key_values(body)
    params = {key: _scalar(f[key]) for key in (
        "nal_ref_idc", "frame_num", "top_field_order_cnt", "bottom_field_order_cnt", "idr_pic_id",
        "pic_order_cnt_lsb", "delta_pic_order_cnt_bottom", "delta_pic_order_cnt0",
        "delta_pic_order_cnt1", "dec_ref_pic_marking_bit_size", "pic_order_cnt_bit_size",
        "slice_group_change_cycle")}
    params["flags"] = _flags(f.get("flags", ""), DECODE_FLAGS)
    params["dpb"] = [None] * 16
    return params


def _events(lines):
    """Yields (event name, text) with the continuation lines joined by \\n."""
    name, text = None, []
    for line in lines:
        line = line.rstrip("\n")
        if line.startswith("#"):
            continue
        m = _EVENT_HEADER.search(line)
        if m:
            if name is not None:
                yield name, "\n".join(text)
            name, text = m.group(1), [m.group(2)]
        elif name is not None:
            text.append(line)
        elif line.strip().startswith("CPU:") or "LOST" in line:
            raise TraceError(f"trace lost events: {line.strip()}")
    if name is not None:
        yield name, "\n".join(text)


def trace_to_requests(lines) -> list[dict]:
    """One dict per visl device_run, in completion order."""
    requests: list[dict] = []
    current: dict | None = None
    for name, text in _events(lines):
        if "LOST" in text and "events" in text:
            raise TraceError("trace lost events")
        if not name.startswith("v4l2_"):
            continue
        if name == "v4l2_ctrl_h264_sps":
            current = {"sps": parse_sps(text)}
            requests.append(current)
            continue
        if current is None:
            raise TraceError(f"{name} before any v4l2_ctrl_h264_sps")
        if name == "v4l2_ctrl_h264_pps":
            current["pps"] = parse_pps(text)
        elif name == "v4l2_ctrl_h264_scaling_matrix":
            current["scaling_matrix"] = parse_scaling_matrix(text)
        elif name == "v4l2_ctrl_h264_slice_params":
            current["slice_params"] = [parse_slice_params(text)]
        elif name in ("v4l2_h264_ref_pic_list0", "v4l2_h264_ref_pic_list1"):
            index, reference = parse_reference(text)
            current["slice_params"][0]["ref_pic_list" + name[-1]][index] = reference
        elif name == "v4l2_ctrl_h264_decode_params":
            current["decode_params"] = parse_decode_params(text)
        elif name == "v4l2_h264_dpb_entry":
            index, entry = parse_dpb_entry(text)
            current["decode_params"]["dpb"][index] = entry
        elif name == "v4l2_ctrl_h264_pred_weights":
            current["pred_weights"] = [parse_pred_weights(text)]
    for number, request in enumerate(requests):
        for control in ("sps", "pps", "scaling_matrix", "slice_params", "decode_params", "pred_weights"):
            if control not in request:
                raise TraceError(f"request {number}: no {control} event (truncated trace?)")
        slice_params = request["slice_params"][0]
        if None in slice_params["ref_pic_list0"] or None in slice_params["ref_pic_list1"] \
                or None in request["decode_params"]["dpb"]:
            raise TraceError(f"request {number}: incomplete reference list or DPB events")
    return requests


def read_trace(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", errors="replace") as trace:
        return trace_to_requests(trace)


# ---------------------------------------------------------------- comparison

def _flatten(value, path: str, out: dict) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key.startswith("reserved"):
                continue
            _flatten(item, f"{path}.{key}" if path else key, out)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _flatten(item, f"{path}[{i}]", out)
    else:
        out[path] = value


CONTROL_KEYS = ("sps", "pps", "scaling_matrix", "decode_params", "slice_params", "pred_weights")


def picture_indices(requests: list[dict], slice_based: bool) -> list[int]:
    """The picture (frame or field) each request belongs to: in frame mode
    every request is one; in slice mode a picture starts with a slice at
    macroblock 0 or with new DECODE_PARAMS."""
    indices: list[int] = []
    for number, request in enumerate(requests):
        if number == 0:
            indices.append(0)
            continue
        new_picture = (not slice_based
                       or request["slice_params"][0]["first_mb_in_slice"] == 0
                       or request["decode_params"] != requests[number - 1]["decode_params"])
        indices.append(indices[-1] + 1 if new_picture else indices[-1])
    return indices


def compare_requests(kernel: list[dict], emulated: list[dict], slice_based: bool = False) -> list[str]:
    """Every field that differs, as
    'request N (picture P): path: kernel=X emulator=Y'.

    Only the controls the emulator recorded for a request are compared (a
    control the driver did not set keeps a stale value in visl). visl holds
    one SLICE_PARAMS and one PRED_WEIGHTS element, so only the first element
    of those lists is compared."""
    differences: list[str] = []
    pictures = picture_indices(kernel, slice_based)
    if len(kernel) != len(emulated):
        differences.append(f"request count: kernel={len(kernel)} emulator={len(emulated)}")
    for number, (k_request, e_request) in enumerate(zip(kernel, emulated)):
        where = f"request {number} (picture {pictures[number]})"
        for control in CONTROL_KEYS:
            if control not in e_request:
                continue
            e_value = e_request[control]
            k_value = k_request.get(control)
            if control in ("slice_params", "pred_weights"):
                if not isinstance(e_value, list):
                    e_value = [e_value]
                if not e_value:
                    continue
                e_value, k_value = e_value[0], (k_value or [None])[0]
            e_fields: dict = {}
            k_fields: dict = {}
            _flatten(e_value, control, e_fields)
            _flatten(k_value, control, k_fields)
            for path in sorted(set(e_fields) | set(k_fields)):
                if path not in e_fields:
                    differences.append(f"{where}: {path}: kernel={k_fields[path]} emulator=<absent>")
                elif path not in k_fields:
                    differences.append(f"{where}: {path}: kernel=<absent> emulator={e_fields[path]}")
                elif k_fields[path] != e_fields[path]:
                    differences.append(f"{where}: {path}: kernel={k_fields[path]} emulator={e_fields[path]}")
    return differences


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    convert = sub.add_parser("convert", help="visl trace -> JSON lines")
    convert.add_argument("trace", type=Path)
    convert.add_argument("-o", "--output", type=Path)
    compare = sub.add_parser("compare", help="kernel JSON lines vs emulator record")
    compare.add_argument("kernel", type=Path)
    compare.add_argument("emulator", type=Path)
    compare.add_argument("--label", default="", help="prefix of every line, e.g. the stream and mode")
    compare.add_argument("--slice-based", action="store_true", help="requests are slices (picture numbering)")
    args = parser.parse_args(argv)

    if args.command == "convert":
        requests = read_trace(args.trace)
        text = "".join(json.dumps(request, separators=(",", ":")) + "\n" for request in requests)
        if args.output:
            args.output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
        return 0
    kernel = read_jsonl(args.kernel) if args.kernel.suffix == ".jsonl" else read_trace(args.kernel)
    differences = compare_requests(kernel, read_jsonl(args.emulator), args.slice_based)
    for line in differences:
        print(f"{args.label}: {line}" if args.label else line)
    print(f"{len(differences)} differing field(s) over {len(kernel)} kernel request(s)")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
