"""Watching a process from outside: its open fds by kind, and its RSS.

The kinds separate what the VA driver owns (render node, video and media
nodes, request fds, exported dma-bufs) from the rest. On a real system those
are /dev/dri/renderD*, /dev/videoN, /dev/mediaN, anon_inode:[media_request]
and dma-buf fds; under the emulator they are memfds named emu-* and AF_UNIX
socket ends (video nodes and requests), which cannot be told apart from the
process's other sockets, so sockets are counted as one kind.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

# (kind, pattern on the readlink() text), first match wins.
FD_KINDS = [
    ("eventfd", re.compile(r"^anon_inode:\[eventfd\]$")),
    ("render-node", re.compile(r"^/dev/dri/renderD\d+$|^/memfd:emu-renderD\d+")),
    ("media-node", re.compile(r"^/dev/media\d+$|^/memfd:emu-media")),
    ("video-node", re.compile(r"^/dev/video\d+$")),
    ("media-request", re.compile(r"^anon_inode:\[?media_request\]?$")),
    ("capture-buffer", re.compile(r"^/dmabuf:|^anon_inode:dmabuf|^/memfd:emu-capture")),
    ("output-buffer", re.compile(r"^/memfd:emu-output")),
    ("socket", re.compile(r"^socket:")),
    ("pipe", re.compile(r"^pipe:")),
]
# What belongs to the VA driver (and, under the emulator, its device model).
DRIVER_KINDS = ("render-node", "media-node", "video-node", "media-request", "capture-buffer", "output-buffer")


def fd_census(pid: int) -> Counter:
    counts: Counter = Counter()
    try:
        entries = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return counts
    for entry in entries:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{entry}")
        except OSError:
            continue  # closed meanwhile
        for kind, pattern in FD_KINDS:
            if pattern.search(target):
                counts[kind] += 1
                break
        else:
            counts["other"] += 1
    counts["total"] = sum(v for k, v in counts.items() if k != "total")
    counts["driver"] = sum(counts[k] for k in DRIVER_KINDS)
    return counts


def rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


def find_child(parent_pid: int, process_type: str) -> int | None:
    """A Firefox child of the given type (its command line ends with the
    type: 'rdd', 'tab', 'gpu', ...), among the descendants of parent_pid."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    todo, found = [parent_pid], []
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            todo.append(child)
            try:
                # Children started by Firefox's fork server rewrite their
                # command line as one space-separated string.
                args = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").split()
            except OSError:
                continue
            if b"-contentproc" in args and args[-1].decode(errors="replace") == process_type:
                found.append(child)
    return min(found) if found else None
