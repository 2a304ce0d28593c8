"""Reads FFmpeg's trace_headers output (`ffmpeg -bsf:v trace_headers`) into
per-slice records, and summarises the reference-marking syntax a stream
really contains (long-term references: IDR long_term_reference_flag, MMCO
1-6, LongTermFrameIdx reuse, long-term references in list modification).

FFmpeg's parser (cbs_h264) is independent of the encoders that made the
streams, so the summary proves what the bitstream holds, not what an encoder
was asked for.
"""

from __future__ import annotations

import collections
import dataclasses
import re
import subprocess
from pathlib import Path

_FIELD = re.compile(r"^\[trace_headers @ [^\]]*\]\s+(\d+)\s+(\S+)\s+([01]+)\s+=\s+(-?\d+)\s*$")
_SECTION = re.compile(r"^\[trace_headers @ [^\]]*\]\s+([A-Za-z][A-Za-z0-9 ,/\-]*)$")


@dataclasses.dataclass
class Mmco:
    operation: int
    arguments: dict[str, int]


@dataclasses.dataclass
class Slice:
    nal_unit_type: int
    fields: dict[str, int] = dataclasses.field(default_factory=dict)
    mmcos: list[Mmco] = dataclasses.field(default_factory=list)
    modifications: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    # Every syntax element as traced: (bit position in the RBSP, name, bits, value).
    elements: list[tuple[int, str, int, int]] = dataclasses.field(default_factory=list)

    @property
    def is_idr(self) -> bool:
        return self.nal_unit_type == 5


@dataclasses.dataclass
class Trace:
    slices: list[Slice]
    sps: list[dict[str, int]]
    pps: list[dict[str, int]] = dataclasses.field(default_factory=list)


def trace_headers(stream: Path, max_frames: int | None = None) -> str:
    """FFmpeg's trace of every header of `stream` (or of its first packets)."""
    argv = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "info", "-i", str(stream),
            "-c", "copy", "-bsf:v", "trace_headers"]
    if max_frames is not None:
        argv += ["-frames:v", str(max_frames)]
    argv += ["-f", "null", "-"]
    completed = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                               text=True, check=False)
    if completed.returncode != 0:
        raise ValueError(f"trace_headers failed on {stream}: {completed.stderr.strip()[-300:]}")
    return completed.stderr


_MMCO_ARGUMENTS = ("difference_of_pic_nums_minus1", "long_term_pic_num",
                   "long_term_frame_idx", "max_long_term_frame_idx_plus1")


def parse(text: str) -> Trace:
    slices: list[Slice] = []
    sps: list[dict[str, int]] = []
    pps: list[dict[str, int]] = []
    section = ""
    nal_unit_type = -1
    current: Slice | None = None
    current_sps: dict[str, int] | None = None
    pending_modification: int | None = None
    for line in text.splitlines():
        section_match = _SECTION.match(line)
        if section_match:
            section = section_match.group(1).strip()
            current = None
            current_sps = None
            if "Slice" in section and "Header" in section:
                current = Slice(nal_unit_type)
                slices.append(current)
            elif section.startswith("Sequence Parameter Set"):
                current_sps = {}
                sps.append(current_sps)
            elif section.startswith("Picture Parameter Set"):
                current_sps = {}    # the same field collection, kept apart
                pps.append(current_sps)
            continue
        field_match = _FIELD.match(line)
        if not field_match:
            continue
        position, name = int(field_match.group(1)), field_match.group(2)
        bits, value = len(field_match.group(3)), int(field_match.group(4))
        if name == "nal_unit_type":
            nal_unit_type = value
            if current is not None:
                current.nal_unit_type = value
        if current_sps is not None:
            current_sps.setdefault(name, value)
        if current is None:
            continue
        current.elements.append((position, name, bits, value))
        if name == "memory_management_control_operation":
            if value != 0:
                current.mmcos.append(Mmco(value, {}))
        elif name in _MMCO_ARGUMENTS and current.mmcos and "long_term_reference_flag" not in name:
            current.mmcos[-1].arguments[name] = value
        elif name == "modification_of_pic_nums_idc":
            pending_modification = value if value != 3 else None
        elif name in ("abs_diff_pic_num_minus1", "long_term_pic_num") and pending_modification is not None \
                and not current.mmcos:
            current.modifications.append((pending_modification, value))
            pending_modification = None
        else:
            current.fields.setdefault(name, value)
    return Trace(slices, sps, pps)


def read(stream: Path) -> Trace:
    return parse(trace_headers(stream))


@dataclasses.dataclass
class LongTermSummary:
    pictures: int
    field_pictures: int
    idr_long_term: int                  # IDRs with long_term_reference_flag = 1
    mmco: dict[int, int]                # operation -> pictures using it
    long_term_idx_reused: int           # MMCO 3/6 assigning an index already in use
    long_term_predictions: int          # list modifications naming a long_term_pic_num

    def patterns(self) -> list[str]:
        found = []
        if self.idr_long_term:
            found.append("IDR long-term")
        for operation in sorted(self.mmco):
            found.append(f"MMCO {operation}")
        if self.long_term_idx_reused:
            found.append("LongTermFrameIdx reuse")
        if self.long_term_predictions:
            found.append("long-term ref in list modification")
        if self.field_pictures:
            found.append("field pictures")
        return found

    def line(self) -> str:
        mmco = " ".join(f"{op}:{count}" for op, count in sorted(self.mmco.items())) or "none"
        return (f"pictures {self.pictures} (fields {self.field_pictures}), IDR long-term "
                f"{self.idr_long_term}, MMCO {mmco}, LongTermFrameIdx reused "
                f"{self.long_term_idx_reused}, long-term list modifications "
                f"{self.long_term_predictions}")


def first_slices(trace: Trace) -> list[Slice]:
    """One slice per picture (marking is repeated in every slice of a picture)."""
    return [s for s in trace.slices if s.fields.get("first_mb_in_slice", 0) == 0]


def long_term_summary(trace: Trace) -> LongTermSummary:
    pictures = first_slices(trace)
    mmco: collections.Counter[int] = collections.Counter()
    in_use: set[int] = set()
    reused = 0
    for picture in pictures:
        if picture.is_idr:
            in_use = {0} if picture.fields.get("long_term_reference_flag") else set()
            continue
        for operation in {m.operation for m in picture.mmcos}:
            mmco[operation] += 1
        for op in picture.mmcos:
            if op.operation == 5:
                in_use.clear()
            elif op.operation == 2:
                in_use.discard(op.arguments.get("long_term_pic_num", -1))
            elif op.operation == 4:
                limit = op.arguments.get("max_long_term_frame_idx_plus1", 0)
                in_use = {idx for idx in in_use if idx < limit}
            elif op.operation in (3, 6):
                idx = op.arguments.get("long_term_frame_idx", -1)
                if idx in in_use:
                    reused += 1
                in_use.add(idx)
    return LongTermSummary(
        pictures=len(pictures),
        field_pictures=sum(1 for p in pictures if p.fields.get("field_pic_flag")),
        idr_long_term=sum(1 for p in pictures if p.is_idr and p.fields.get("long_term_reference_flag")),
        mmco=dict(mmco),
        long_term_idx_reused=reused,
        long_term_predictions=sum(1 for p in pictures for idc, _ in p.modifications if idc == 2))


@dataclasses.dataclass(frozen=True)
class CropWindow:
    """The SPS frame cropping window in luma samples (7.4.2.1.1)."""
    left: int = 0
    right: int = 0
    top: int = 0
    bottom: int = 0


def crop_window(sps: dict[str, int]) -> CropWindow:
    if not sps.get("frame_cropping_flag"):
        return CropWindow()
    chroma_format_idc = sps.get("chroma_format_idc", 1)
    if sps.get("separate_colour_plane_flag"):
        chroma_format_idc = 0
    frame_mbs_only = sps.get("frame_mbs_only_flag", 1)
    # CropUnitX/CropUnitY (7-19..7-22): SubWidthC, SubHeightC * (2 - frame_mbs_only_flag).
    sub_width, sub_height = {0: (1, 1), 1: (2, 2), 2: (2, 1), 3: (1, 1)}[chroma_format_idc]
    unit_x = sub_width if chroma_format_idc else 1
    unit_y = (sub_height if chroma_format_idc else 1) * (2 - frame_mbs_only)
    return CropWindow(left=unit_x * sps.get("frame_crop_left_offset", 0),
                      right=unit_x * sps.get("frame_crop_right_offset", 0),
                      top=unit_y * sps.get("frame_crop_top_offset", 0),
                      bottom=unit_y * sps.get("frame_crop_bottom_offset", 0))


@dataclasses.dataclass(frozen=True)
class Reference:
    """A frame marked "used for reference" (8.2.5), as a DPB entry names it:
    V4L2's dpb[].frame_num is FrameNum for a short-term frame and
    LongTermFrameIdx for a long-term one (ext-ctrls-codec-stateless.rst)."""
    frame_num: int
    long_term_frame_idx: int | None = None

    @property
    def long_term(self) -> bool:
        return self.long_term_frame_idx is not None


class MarkingError(ValueError):
    pass


def frame_num_wrap(frame_num: int, current: int, max_frame_num: int) -> int:
    return frame_num - max_frame_num if frame_num > current else frame_num  # (8-27)


def apply_mmco(refs: list[Reference], op: Mmco, frame_num: int, max_frame_num: int,
                max_long_term_idx: int | None) -> tuple[list[Reference], int | None, int | None]:
    """One memory_management_control_operation on a frame (8.2.5.4); returns
    (references, MaxLongTermFrameIdx, LongTermFrameIdx given to the current
    picture by MMCO 6 or None)."""
    args = op.arguments
    if op.operation in (1, 3):
        pic_num_x = frame_num - (args.get("difference_of_pic_nums_minus1", 0) + 1)  # (8-39)
        matches = [r for r in refs if not r.long_term
                   and frame_num_wrap(r.frame_num, frame_num, max_frame_num) == pic_num_x]
        if not matches:
            raise MarkingError(f"MMCO {op.operation}: no short-term frame with PicNum {pic_num_x}")
        target = matches[0]
        refs = [r for r in refs if r is not target]
        if op.operation == 3:
            idx = args.get("long_term_frame_idx", 0)
            refs = [r for r in refs if r.long_term_frame_idx != idx]
            refs.append(Reference(target.frame_num, idx))
        return refs, max_long_term_idx, None
    if op.operation == 2:
        # For frames LongTermPicNum = LongTermFrameIdx (8-29).
        return ([r for r in refs if r.long_term_frame_idx != args.get("long_term_pic_num")],
                max_long_term_idx, None)
    if op.operation == 4:
        limit = args.get("max_long_term_frame_idx_plus1", 0) - 1
        kept = [r for r in refs if not r.long_term or r.long_term_frame_idx <= limit]
        return kept, (limit if limit >= 0 else None), None
    if op.operation == 5:
        return [], None, None
    if op.operation == 6:
        idx = args.get("long_term_frame_idx", 0)
        return [r for r in refs if r.long_term_frame_idx != idx], max_long_term_idx, idx
    raise MarkingError(f"unknown MMCO {op.operation}")


class MarkingProcess:
    """Decoded reference picture marking (8.2.5) on frames, picture by picture."""

    def __init__(self, sps: dict[str, int]):
        self.max_frame_num = 1 << (sps.get("log2_max_frame_num_minus4", 0) + 4)
        self.max_refs = max(sps.get("max_num_ref_frames", 1), 1)
        self.refs: list[Reference] = []
        self.max_long_term_idx: int | None = None

    def copy(self) -> "MarkingProcess":
        other = MarkingProcess({})
        other.__dict__.update(self.__dict__)
        other.refs = list(self.refs)
        return other

    def apply(self, op: Mmco, frame_num: int) -> int | None:
        """One MMCO; returns the LongTermFrameIdx MMCO 6 gives the current picture."""
        self.refs, self.max_long_term_idx, assigned = apply_mmco(
            self.refs, op, frame_num, self.max_frame_num, self.max_long_term_idx)
        return assigned

    def mark(self, picture: Slice, operations: list[Mmco] | None = None) -> None:
        """The marking after `picture` is decoded (`operations` in place of its MMCOs)."""
        if picture.fields.get("nal_ref_idc", 0) == 0:
            return
        frame_num = picture.fields.get("frame_num", 0)
        current_idx: int | None = None
        if picture.is_idr:
            self.refs = []
            long_term = picture.fields.get("long_term_reference_flag")
            self.max_long_term_idx = 0 if long_term else None
            current_idx = 0 if long_term else None
        elif picture.fields.get("adaptive_ref_pic_marking_mode_flag"):
            for op in picture.mmcos if operations is None else operations:
                assigned = self.apply(op, frame_num)
                if assigned is not None:
                    current_idx = assigned
                if op.operation == 5:
                    frame_num = 0   # after MMCO 5 the picture counts as frame_num 0 (7.4.3)
        elif len(self.refs) >= self.max_refs:
            # Sliding window (8.2.5.3): the short-term frame with the smallest FrameNumWrap goes.
            short = [r for r in self.refs if not r.long_term]
            if short:
                oldest = min(short, key=lambda r: frame_num_wrap(r.frame_num, frame_num,
                                                                 self.max_frame_num))
                self.refs = [r for r in self.refs if r is not oldest]
        self.refs.append(Reference(frame_num, current_idx))


def reference_marking(trace: Trace) -> list[list[Reference]]:
    """For each picture in decoding order, the frames marked as reference
    when it is decoded: the DPB a client must describe. Frames only (a field
    picture raises MarkingError)."""
    if not trace.sps:
        raise MarkingError("no SPS")
    process = MarkingProcess(trace.sps[0])
    dpbs: list[list[Reference]] = []
    for picture in first_slices(trace):
        if picture.fields.get("field_pic_flag"):
            raise MarkingError("field pictures are not modelled here")
        # An IDR predicts from nothing and its marking empties the DPB; the
        # clients (FFmpeg's idr(), GStreamer's DPB) drop it before decoding.
        dpbs.append([] if picture.is_idr else list(process.refs))
        process.mark(picture)
    return dpbs
