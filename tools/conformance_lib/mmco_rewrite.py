"""Rewrites the reference marking of a CAVLC stream so that it uses MMCO 2
(long-term frame -> unused), which no Debian 12 encoder writes.

H.264 8.2.5.4.3/8.2.5.4.6: when MMCO 3 or 6 gives a LongTermFrameIdx that a
long-term frame already holds, that frame is marked unused implicitly. An
explicit MMCO 2 naming it (for frames LongTermPicNum = LongTermFrameIdx,
8-29) just before leaves every picture's marking, so every decoded picture,
unchanged: the rewritten stream must decode to the same pixels, which
tools/conformance_lib/generated.py checks with two decoders.

The bit positions come from FFmpeg's trace_headers (positions in the RBSP):
the bits before adaptive_ref_pic_marking_mode_flag and after the last MMCO are
copied as they are, only dec_ref_pic_marking() is written anew. CAVLC only:
a CABAC slice would need its alignment bits redone.
"""

from __future__ import annotations

from . import h264_trace


class RewriteError(ValueError):
    pass


class BitWriter:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def u(self, value: int, count: int) -> None:
        self.bits.extend((value >> (count - 1 - i)) & 1 for i in range(count))

    def ue(self, value: int) -> None:
        code = value + 1
        length = code.bit_length()
        self.u(0, length - 1)
        self.u(code, length)

    def extend(self, bits: list[int]) -> None:
        self.bits.extend(bits)


def _bits_of(data: bytes) -> list[int]:
    return [(byte >> (7 - i)) & 1 for byte in data for i in range(8)]


def _bytes_of(bits: list[int]) -> bytes:
    padded = bits + [0] * (-len(bits) % 8)
    return bytes(int("".join(map(str, padded[i:i + 8])), 2) for i in range(0, len(padded), 8))


def split_nal_units(stream: bytes) -> list[bytes]:
    """NAL units (without start codes) of an Annex B byte stream."""
    units, start, i = [], None, 0
    while i + 3 <= len(stream):
        if stream[i] == 0 and stream[i + 1] == 0 and stream[i + 2] == 1:
            if start is not None:
                units.append(stream[start:i].rstrip(b"\x00"))
            start = i = i + 3
            continue
        i += 1
    if start is not None:
        units.append(stream[start:])
    return units


def unescape(nal: bytes) -> bytes:
    out, zeros = bytearray(), 0
    for byte in nal:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def escape(rbsp: bytes) -> bytes:
    out, zeros = bytearray(), 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


_ARGUMENT_ORDER = {1: ("difference_of_pic_nums_minus1",), 2: ("long_term_pic_num",),
                   3: ("difference_of_pic_nums_minus1", "long_term_frame_idx"),
                   4: ("max_long_term_frame_idx_plus1",), 5: (), 6: ("long_term_frame_idx",)}


def _marking_bits(operations: list[h264_trace.Mmco]) -> list[int]:
    writer = BitWriter()
    writer.u(1, 1)                      # adaptive_ref_pic_marking_mode_flag
    for op in operations:
        writer.ue(op.operation)
        for name in _ARGUMENT_ORDER[op.operation]:
            writer.ue(op.arguments[name])
    writer.ue(0)
    return writer.bits


def _marking_span(slice_: h264_trace.Slice) -> tuple[int, int] | None:
    """RBSP bit range of an adaptive dec_ref_pic_marking(), or None."""
    start = end = None
    for position, name, bits, value in slice_.elements:
        if name == "adaptive_ref_pic_marking_mode_flag":
            if value != 1:
                return None
            start = position
        elif name == "memory_management_control_operation" and start is not None and value == 0:
            end = position + bits
            break
    return (start, end) if start is not None and end is not None else None


def plan_explicit_unmarking(trace: h264_trace.Trace) -> list[list[h264_trace.Mmco] | None]:
    """Per slice: the MMCO list with an MMCO 2 before each MMCO 3/6 whose
    LongTermFrameIdx is held by another long-term frame (None: unchanged)."""
    process = h264_trace.MarkingProcess(trace.sps[0])
    plans: list[list[h264_trace.Mmco] | None] = []
    for slice_ in trace.slices:
        if slice_.fields.get("first_mb_in_slice", 0) != 0:
            raise RewriteError("more than one slice per picture")
        plan = None
        if (slice_.fields.get("nal_ref_idc", 0) and not slice_.is_idr
                and slice_.fields.get("adaptive_ref_pic_marking_mode_flag")):
            plan = _with_explicit_unmarking(process.copy(), slice_)
        process.mark(slice_, plan)
        plans.append(plan)
    return plans


def _with_explicit_unmarking(scratch: h264_trace.MarkingProcess,
                             slice_: h264_trace.Slice) -> list[h264_trace.Mmco] | None:
    frame_num = slice_.fields.get("frame_num", 0)
    operations: list[h264_trace.Mmco] = []
    for op in slice_.mmcos:
        idx = op.arguments.get("long_term_frame_idx")
        if op.operation in (3, 6) and any(r.long_term_frame_idx == idx for r in scratch.refs):
            # For frames LongTermPicNum = LongTermFrameIdx (8-29).
            unmark = h264_trace.Mmco(2, {"long_term_pic_num": idx})
            scratch.apply(unmark, frame_num)
            operations.append(unmark)
        scratch.apply(op, frame_num)
        operations.append(op)
    return operations if len(operations) > len(slice_.mmcos) else None


def rewrite(stream: bytes, trace: h264_trace.Trace) -> tuple[bytes, int]:
    """The stream with explicit MMCO 2 operations; returns (bytes, MMCO 2 added)."""
    if any(sps.get("frame_mbs_only_flag", 1) == 0 for sps in trace.sps):
        raise RewriteError("field coding is not handled")
    if not trace.pps or any(pps.get("entropy_coding_mode_flag", 0) for pps in trace.pps):
        raise RewriteError("only CAVLC streams are handled (CABAC alignment bits)")
    plans = plan_explicit_unmarking(trace)
    slices = iter(zip(trace.slices, plans))
    out = bytearray()
    added = 0
    for nal in split_nal_units(stream):
        nal_unit_type = nal[0] & 0x1F
        if nal_unit_type in (1, 5):
            slice_, plan = next(slices)
            if plan is not None:
                nal = _rewrite_slice(nal, slice_, plan)
                added += sum(1 for op in plan if op.operation == 2) - sum(
                    1 for op in slice_.mmcos if op.operation == 2)
        out += b"\x00\x00\x00\x01" + nal
    return bytes(out), added


def _rewrite_slice(nal: bytes, slice_: h264_trace.Slice, plan: list[h264_trace.Mmco]) -> bytes:
    if nal[0] & 0x1F == 5:
        raise RewriteError("an IDR has no adaptive marking to rewrite")
    span = _marking_span(slice_)
    if span is None:
        raise RewriteError("no adaptive dec_ref_pic_marking() in the trace")
    bits = _bits_of(unescape(nal))
    # The RBSP ends with rbsp_stop_one_bit and zero bits (7.3.2.8, CAVLC).
    stop = len(bits) - 1 - bits[::-1].index(1)
    rewritten = bits[:span[0]] + _marking_bits(plan) + bits[span[1]:stop + 1]
    return escape(_bytes_of(rewritten))
