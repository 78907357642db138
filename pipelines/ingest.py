"""Ingest: pull each new file of a channel into the content-addressed landing area.

Landing path: ``landing/<channel>/<sha256[:2]>/<sha256>``; the same bytes always land on the same path, so
landing is idempotent. Copies are atomic (temporary file, fsync, rename). Registration in the catalog is
a separate step (``register``) so per-channel tasks never write the catalog concurrently.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pipelines.catalog import Catalog, FileRecord
from pipelines.channels import Channel
from pipelines.config import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)
CHUNK = 1 << 20


class IngestError(RuntimeError):
    """A channel's source cannot be read."""


@dataclass(frozen=True)
class Skipped:
    channel: str
    source_path: str
    reason: str


def sha256_of(stream: BinaryIO) -> tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK):
        h.update(chunk)
        size += len(chunk)
    return h.hexdigest(), size


def landing_path(settings: Settings, channel: str, file_id: str) -> Path:
    return settings.landing / channel / file_id[:2] / file_id


def _atomic_copy(src: Path, dest: Path) -> tuple[str, int]:
    """Copy src to dest atomically, returning the SHA-256 and size of the bytes actually written."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
    try:
        h = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out, src.open("rb") as inp:
            while chunk := inp.read(CHUNK):
                out.write(chunk)
                h.update(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, dest)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return h.hexdigest(), size


def _list_local(channel: Channel, base: Path) -> list[Path]:
    folder = channel.local_folder(base)
    if not folder.is_dir():
        raise IngestError(f"channel {channel.id}: folder {folder} does not exist")
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and fnmatch.fnmatch(p.name, channel.pattern)
    )


def pull_channel(
    channel: Channel, settings: Settings, now: dt.datetime, base: Path | None = None
) -> tuple[list[FileRecord], list[Skipped]]:
    """Land every file of a local channel; return one record per file seen (new or already known)."""
    if channel.transport != "local":
        raise IngestError(f"channel {channel.id}: transport {channel.transport!r} is not available here")
    if base is None:
        base = settings.rules.parent if settings.rules.parent.exists() else PROJECT_ROOT
    records: list[FileRecord] = []
    skipped: list[Skipped] = []
    for path in _list_local(channel, base):
        try:
            with path.open("rb") as f:
                file_id, size = sha256_of(f)
        except OSError as exc:
            skipped.append(Skipped(channel.id, str(path), f"unreadable: {exc.strerror}"))
            continue
        dest = landing_path(settings, channel.id, file_id)
        if not dest.exists():
            landed_id, landed_size = _atomic_copy(path, dest)
            if landed_id != file_id:
                dest.unlink(missing_ok=True)
                skipped.append(Skipped(channel.id, str(path), "file changed while it was copied"))
                continue
            size = landed_size
        records.append(
            FileRecord(
                file_id=file_id,
                channel=channel.id,
                file_name=path.name,
                source_path=str(path),
                size_bytes=size,
                landing_path=str(dest),
                arrived_at=now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            )
        )
    log.info("channel %s: %d file(s) seen, %d skipped", channel.id, len(records), len(skipped))
    return records, skipped


def register(catalog: Catalog, records: list[FileRecord], now: dt.datetime) -> dict[str, int]:
    """Register landed files in the catalog (single writer). Same bytes twice is a recorded no-op."""
    outcomes = catalog.register_deliveries(records, now)
    counts = {"new": 0, "duplicate": 0}
    for _, outcome in outcomes:
        counts[outcome] += 1
    return counts
