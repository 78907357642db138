"""Staging and quarantine paths, and atomic writes into them.

A staged file is ``staging/<table>/business_date=<D>/channel=<C>/<file_id>.parquet``; a file's unparsable rows
are ``quarantine/rows/<channel>/<file_id>.parquet``; a file quarantined whole is in
``quarantine/files/<channel>/<file_id>/``. Every write goes to a temporary name first and is renamed into place,
so a reader never sees a partial file.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.core.config import Settings

PARQUET_OPTS: dict[str, Any] = {"compression": "zstd", "compression_level": 1, "statistics": True}
#: the same settings for ``pyarrow.parquet.ParquetWriter`` (a file staged in pieces is written piece by piece)
PYARROW_PARQUET_OPTS: dict[str, Any] = {"compression": "zstd", "compression_level": 1, "write_statistics": True}


def write_parquet_atomic(frame: pl.DataFrame, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    frame.write_parquet(tmp, **PARQUET_OPTS)
    os.replace(tmp, dest)


def write_text_atomic(text: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, dest)


def staging_path(settings: Settings, table: str, day: dt.date, channel: str, file_id: str) -> Path:
    """Where the rows of a file dated ``day`` are staged: partitioned by table, business date and channel."""
    return settings.staging / table / f"business_date={day.isoformat()}" / f"channel={channel}" / f"{file_id}.parquet"


def rows_quarantine_path(settings: Settings, channel: str, file_id: str) -> Path:
    return settings.quarantine / "rows" / channel / f"{file_id}.parquet"


def file_quarantine_dir(settings: Settings, channel: str, file_id: str) -> Path:
    return settings.quarantine / "files" / channel / file_id
