"""The emulated decoder's counters (V4L2_EMU_COUNTERS).

Each process that loaded the emulator appends one JSON line at exit, e.g.
{"pid":1,"profile":"hantro","frames_decoded":17,"errors":0,
 "dpb_mismatches":0,"requests_allocated":4,"max_requests_in_flight":2,
 "ioctls":{"VIDIOC_QBUF":34}}.
A run's totals are the sum over all lines (a GStreamer run has a registry
scanner child as well as the pipeline process); `max_*` fields take the
maximum instead.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path


class CountersError(ValueError):
    pass


@dataclasses.dataclass
class CounterTotals:
    processes: int = 0
    frames_decoded: int = 0
    errors: int = 0
    dpb_mismatches: int = 0
    requests_allocated: int = 0
    max_requests_in_flight: int = 0
    profiles: set[str] = dataclasses.field(default_factory=set)
    ioctls: dict[str, int] = dataclasses.field(default_factory=dict)

    def summary(self) -> str:
        return (f"processes={self.processes} frames_decoded={self.frames_decoded} "
                f"errors={self.errors} dpb_mismatches={self.dpb_mismatches} "
                f"requests_allocated={self.requests_allocated} "
                f"max_requests_in_flight={self.max_requests_in_flight}")


def _count(record: dict, key: str, line_number: int) -> int:
    value = record.get(key, 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise CountersError(f"line {line_number}: {key} is {value!r}, not a count")
    return value


def sum_counter_lines(text: str) -> CounterTotals:
    totals = CounterTotals()
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise CountersError(f"line {line_number}: not JSON ({error})") from error
        if not isinstance(record, dict):
            raise CountersError(f"line {line_number}: not a JSON object")
        totals.processes += 1
        totals.frames_decoded += _count(record, "frames_decoded", line_number)
        totals.errors += _count(record, "errors", line_number)
        totals.dpb_mismatches += _count(record, "dpb_mismatches", line_number)
        totals.requests_allocated += _count(record, "requests_allocated", line_number)
        totals.max_requests_in_flight = max(
            totals.max_requests_in_flight,
            _count(record, "max_requests_in_flight", line_number))
        if isinstance(record.get("profile"), str):
            totals.profiles.add(record["profile"])
        ioctls = record.get("ioctls", {})
        if not isinstance(ioctls, dict):
            raise CountersError(f"line {line_number}: ioctls is not an object")
        for name in ioctls:
            totals.ioctls[name] = totals.ioctls.get(name, 0) + _count(
                ioctls, name, line_number)
    return totals


def read_counters(path: Path) -> CounterTotals:
    """Totals of a counters file; a missing file means no process loaded the emulator."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return CounterTotals()
    return sum_counter_lines(text)


def hardware_decode_failure(totals: CounterTotals, output_frames: int,
                            expected_profile: str | None = None) -> str | None:
    """Why the counters do not prove that every output frame went through the
    emulated decoder, or None when they do."""
    if totals.processes == 0:
        return ("no emulator counters were written: the emulated decoder was not "
                "loaded or the process crashed")
    if totals.frames_decoded == 0:
        if totals.errors:
            return (f"the emulated decoder decoded no frames and counted "
                    f"{totals.errors} errors")
        return "the emulated decoder decoded no frames (software fallback?)"
    if totals.frames_decoded < output_frames:
        return (f"the emulated decoder decoded {totals.frames_decoded} pictures for "
                f"{output_frames} output frames (partial software fallback?)")
    if totals.errors:
        return f"the emulated decoder counted {totals.errors} errors"
    if expected_profile and totals.profiles and totals.profiles != {expected_profile}:
        return (f"emulator ran profile(s) {', '.join(sorted(totals.profiles))}, "
                f"not {expected_profile}")
    return None
