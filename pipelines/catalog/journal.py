"""Append-only journals beside the catalog: what cannot be recomputed from landing and outputs.

``<home>/journal/<name>.jsonl``, one JSON object per line, only ever appended to and fsynced before the
catalog is written. Three journals: ``files`` (every registered delivery), ``file_status`` (every file's
processing status when it was recorded) and ``resolutions`` (the manual resolutions: the audit log). With
landing (immutable, content-addressed) and the published outputs (each run folder carries its catalog
rows under ``.catalog/``), they are enough to rebuild a lost catalog (``recon catalog rebuild``).

A line torn by a crash while it was appended (the last line, not ending in a newline) is ignored by readers
and completed over by the next append: the entry it held never reached the catalog either, since the
catalog is written after the journal.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FILES = "files"
FILE_STATUS = "file_status"
RESOLUTIONS = "resolutions"


def journal_dir(home: Path) -> Path:
    return home / "journal"


def journal_path(home: Path, name: str) -> Path:
    return journal_dir(home) / f"{name}.jsonl"


def exists(home: Path, name: str) -> bool:
    return journal_path(home, name).exists()


def append(home: Path, name: str, entries: list[dict[str, Any]]) -> None:
    """Append ``entries`` (one line each) and fsync them: they are on disk when this returns."""
    if not entries:
        return
    path = journal_path(home, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(e, sort_keys=True, default=str, ensure_ascii=True) + "\n" for e in entries)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and _torn(path, size):
            text = "\n" + text  # a crash left a partial last line: start on a line of our own
        os.write(fd, text.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    from pipelines.run import s3home

    s3home.push_path(home, path)  # an S3 home: there too before the catalog is written (under the lock)


def _torn(path: Path, size: int) -> bool:
    with path.open("rb") as fh:
        fh.seek(size - 1)
        return fh.read(1) != b"\n"


def read(home: Path, name: str) -> list[dict[str, Any]]:
    """Every complete entry, in the order appended (a torn line is skipped)."""
    path = journal_path(home, name)
    if not path.exists():
        return []
    entries: list[dict[str, Any]] = []
    for line in path.read_bytes().split(b"\n"):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # torn by a crash mid-append: never reached the catalog
    return entries
