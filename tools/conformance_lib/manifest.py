"""The shared conformance manifest: a tab-separated table with a header row.

Required columns: name, file, expected_md5.  `file` is relative to the
manifest's folder.  Other columns (bytes, features, ffmpeg_md5, ...) are kept
but not required, so any manifest of this shape works.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

REQUIRED_COLUMNS = ("name", "file", "expected_md5")
_MD5_PATTERN = re.compile(r"^[0-9a-f]{32}$")


class ManifestError(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class Stream:
    name: str
    path: Path
    expected_md5: str
    features: str = ""
    extra: tuple[tuple[str, str], ...] = ()


def read_manifest(manifest_path: Path) -> list[Stream]:
    manifest_path = Path(manifest_path)
    base_dir = manifest_path.resolve().parent
    lines = manifest_path.read_text(encoding="utf-8").splitlines()
    rows = [line for line in lines if line.strip() and not line.startswith("#")]
    if not rows:
        raise ManifestError(f"{manifest_path}: empty manifest")

    header = rows[0].split("\t")
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise ManifestError(
            f"{manifest_path}: header lacks column(s) {', '.join(missing)}")
    index = {column: header.index(column) for column in header}

    streams: list[Stream] = []
    seen_names: set[str] = set()
    for line_number, row in enumerate(rows[1:], start=2):
        cells = row.split("\t")
        if len(cells) < len(header):
            raise ManifestError(
                f"{manifest_path}:{line_number}: {len(cells)} cells, "
                f"header has {len(header)}")
        name = cells[index["name"]].strip()
        expected_md5 = cells[index["expected_md5"]].strip().lower()
        if not _MD5_PATTERN.match(expected_md5):
            raise ManifestError(
                f"{manifest_path}:{line_number}: expected_md5 {expected_md5!r} "
                "is not an MD5 hex digest")
        if name in seen_names:
            raise ManifestError(f"{manifest_path}:{line_number}: duplicate name {name}")
        seen_names.add(name)
        extra = tuple((column, cells[i]) for column, i in index.items()
                      if column not in REQUIRED_COLUMNS and column != "features")
        streams.append(Stream(
            name=name,
            path=base_dir / cells[index["file"]].strip(),
            expected_md5=expected_md5,
            features=cells[index["features"]] if "features" in index else "",
            extra=extra))
    return streams


def select_streams(streams: list[Stream], only: list[str] | None) -> list[Stream]:
    """Keeps the streams named in `only` (manifest order); unknown names are an error."""
    if not only:
        return streams
    known = {stream.name for stream in streams}
    unknown = [name for name in only if name not in known]
    if unknown:
        raise ManifestError(f"--only names not in the manifest: {', '.join(unknown)}")
    wanted = set(only)
    return [stream for stream in streams if stream.name in wanted]
