"""Raw records for the report's break details: the lines of the landed files the breaks come from, read once per
file up to the last line needed."""

from __future__ import annotations

import csv
import re
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipelines.run.result import RunResult

RAW_MAX_LINES = 40  # lines of one raw record shown (an XML element is read up to its closing tag)
RAW_MAX_CHARS = 4000
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


# --------------------------------------------------------------------------------------------------
# raw records: the lines of the landed files the breaks come from
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RawRecord:
    line_no: int
    text: str  # the raw lines, as received (decoded as UTF-8, undecodable bytes replaced)
    fields: list[tuple[str, str]]  # header -> value, for a delimited file whose first line names the fields
    truncated: bool


def workspace_of(result: RunResult) -> Path | None:
    """The workspace a run's (not yet visible) folder ``outputs/.runs/<date>/<run>-*`` belongs to."""
    folder = result.folder
    if len(folder.parents) >= 4 and folder.parents[1].name == ".runs" and folder.parents[2].name == "outputs":
        return folder.parents[3]
    return None


def _landed(landing: Path, file_id: str) -> Path | None:
    if not _SHA256.match(file_id):
        return None
    found = sorted(landing.glob(f"*/{file_id[:2]}/{file_id}"))
    return found[0] if found else None


def _delimited(header: str, line: str) -> list[tuple[str, str]]:
    """Header -> value pairs when both lines split into the same number (> 2) of fields on one delimiter."""
    for delimiter in (",", ";", "\t", "|"):
        try:
            names = next(csv.reader([header], delimiter=delimiter))
            values = next(csv.reader([line], delimiter=delimiter))
        except (csv.Error, StopIteration):
            continue
        if len(names) > 2 and len(names) == len(values):
            return list(zip(names, values, strict=True))
    return []


def _record(lines: dict[int, str], line_no: int) -> RawRecord | None:
    first = lines.get(line_no)
    if first is None:
        return None
    taken = [first]
    stripped = first.lstrip()
    if stripped.startswith("<") and not stripped.startswith("</") and not stripped.rstrip().endswith("/>"):
        indent = len(first) - len(stripped)
        tag = re.match(r"<([\w:.-]+)", stripped)
        closing = f"</{tag.group(1)}" if tag else "</"
        n = line_no + 1
        while n in lines and len(taken) < RAW_MAX_LINES and closing not in stripped:
            taken.append(lines[n])
            if lines[n].lstrip().startswith(closing) and len(lines[n]) - len(lines[n].lstrip()) == indent:
                break
            n += 1
    text = textwrap.dedent("\n".join(taken))
    truncated = len(text) > RAW_MAX_CHARS or (len(taken) == RAW_MAX_LINES)
    fields: list[tuple[str, str]] = []
    if line_no > 1 and 1 in lines and not stripped.startswith("<"):
        fields = _delimited(lines[1], first)
    return RawRecord(line_no, text[:RAW_MAX_CHARS], fields, truncated)


def read_lines(path: Path, wanted: Iterable[int], after: int = RAW_MAX_LINES) -> dict[int, str]:
    """Lines ``wanted`` of a file (and line 1, a header, and up to ``after`` lines after each, for an element
    spanning several lines), reading only up to the last of them."""
    keep: set[int] = {1}
    for n in wanted:
        keep.update(range(n, n + after + 1))
    last = max(keep)
    out: dict[int, str] = {}
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, start=1):
            if n > last:
                break
            if n in keep:
                out[n] = raw.decode("utf-8", "replace").rstrip("\r\n").lstrip("\ufeff")
    return out


def raw_records(landing: Path | None, wanted: Sequence[tuple[str, int]]) -> dict[tuple[str, int], RawRecord]:
    """The raw record of each (file id, line) in ``wanted``, from the landed files."""
    if landing is None or not landing.is_dir():
        return {}
    by_file: dict[str, set[int]] = {}
    for file_id, line_no in wanted:
        by_file.setdefault(file_id, set()).add(line_no)
    out: dict[tuple[str, int], RawRecord] = {}
    for file_id in sorted(by_file):
        path = _landed(landing, file_id)
        if path is None:
            continue
        lines = read_lines(path, by_file[file_id])
        for line_no in sorted(by_file[file_id]):
            rec = _record(lines, line_no)
            if rec is not None:
                out[(file_id, line_no)] = rec
    return out
