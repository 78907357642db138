"""Ingestion from a local folder (the embedded default) keeps the same guarantees as SFTP and S3:
complete files only, exactly once, hostile names refused, empty files quarantined, nothing lost on a move.
Each test runs on both catalog backends (the file registry in DuckDB, then in PostgreSQL: ``catalog_backend``)."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

import pytest
from helpers import local_orders_channel as channel

from pipelines.catalog.store import FileRecord, IngestEvent, open_catalog
from pipelines.core.channels import Channel
from pipelines.core.config import Settings
from pipelines.ingest import landing as ingest

NOW = dt.datetime(2026, 11, 27, 3, 30, tzinfo=dt.UTC)

pytestmark = pytest.mark.usefixtures("catalog_backend")


def run(ch: Channel, settings: Settings, **kw: Any) -> tuple[list[FileRecord], list[IngestEvent], dict[str, int]]:
    records, events = ingest.pull_channel(ch, settings, NOW, **kw)
    return records, events, ingest.register(open_catalog(settings), records, NOW, events)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_same_bytes_are_a_recorded_noop_new_bytes_under_the_name_are_quarantined(
    inbox: Path, settings: Settings
) -> None:
    ch = channel(inbox)
    (inbox / "orders_1.csv").write_bytes(b"order_id\n1\n")
    _, _, counts = run(ch, settings)
    assert counts["new"] == 1
    (inbox / "orders_1_copy.csv").write_bytes(b"order_id\n1\n")
    _, _, counts = run(ch, settings)
    assert (counts["new"], counts["duplicate"]) == (0, 2)
    deliveries = open_catalog(settings).deliveries()
    assert [d["outcome"] for d in deliveries] == ["new", "duplicate", "duplicate"]

    (inbox / "orders_1.csv").write_bytes(b"order_id\n1\n2\n")
    records, events, counts = run(ch, settings)
    assert counts["replaced"] == 1 and [r.file_name for r in records] == ["orders_1_copy.csv"]
    (event,) = events
    assert event.previous_file_id == sha(b"order_id\n1\n") and event.file_id == sha(b"order_id\n1\n2\n")
    assert event.quarantine_path is not None
    assert Path(event.quarantine_path) == (settings.quarantine / "ingest" / ch.id / event.file_id / "orders_1.csv")
    assert (Path(event.quarantine_path).parent / "reason.json").exists()
    files = open_catalog(settings).files_of_channel(ch.id)
    assert [(f.file_id, Path(f.landing_path).read_bytes()) for f in files] == [
        (sha(b"order_id\n1\n"), b"order_id\n1\n")
    ]


def test_hostile_names_symlinks_and_empty_files(inbox: Path, settings: Settings, tmp_path: Path) -> None:
    (inbox / "ok.csv").write_bytes(b"ok\n")
    (inbox / "..\\escape.csv").write_bytes(b"bad\n")
    (inbox / "tab\there.csv").write_bytes(b"bad\n")
    (inbox / "empty.csv").write_bytes(b"")
    (tmp_path / "elsewhere.csv").write_bytes(b"outside\n")
    (inbox / "link.csv").symlink_to(tmp_path / "elsewhere.csv")
    (inbox / ".uploading.csv").write_bytes(b"hidden\n")
    records, events, counts = run(channel(inbox), settings)
    assert [r.file_name for r in records] == ["ok.csv"]
    assert {(e.file_name, e.outcome, e.reason) for e in events} == {
        ("..\\\\escape.csv", "refused", "name contains a backslash"),
        ("tab\\there.csv", "refused", "name contains control characters"),
        ("link.csv", "refused", "symlink points outside the channel folder"),
        ("empty.csv", "quarantined", "empty file (0 bytes)"),
    }
    assert (counts["refused"], counts["quarantined"]) == (3, 1)


def test_growing_file_is_pending_until_two_polls_agree(inbox: Path, settings: Settings) -> None:
    growing = inbox / "orders_growing.csv"
    growing.write_bytes(b"order_id\n")
    ch = channel(inbox, stability={"polls": 2, "interval_seconds": 5})
    waits: list[float] = []

    def writer_keeps_writing(seconds: float) -> None:  # stands in for the wait between the two listings
        waits.append(seconds)
        with growing.open("ab") as f:
            f.write(b"1\n")

    records, events, _ = run(ch, settings, sleep=writer_keeps_writing)
    assert records == [] and waits == [5]
    assert [(e.outcome, e.reason) for e in events] == [
        ("pending", "still being written: size or mtime changed between two polls")
    ]
    records, events, _ = run(ch, settings, sleep=waits.append)  # the writer is done
    assert [r.file_id for r in records] == [sha(b"order_id\n1\n")] and events == []
    assert open_catalog(settings).pending_files() == []


def test_marker_with_stem(inbox: Path, settings: Settings) -> None:
    (inbox / "orders_2026-11-26.csv").write_bytes(b"order_id\n1\n")
    ch = channel(inbox, pattern="orders_*", completion={"policy": "marker", "marker": "{stem}.ok"})
    records, events, _ = run(ch, settings)
    assert records == [] and [e.reason for e in events] == ["waiting for its completion marker orders_2026-11-26.ok"]
    (inbox / "orders_2026-11-26.ok").write_bytes(b"")
    records, events, _ = run(ch, settings)
    assert [r.file_name for r in records] == ["orders_2026-11-26.csv"] and events == []


def test_move_after_download_and_recovery_from_receipts(inbox: Path, settings: Settings) -> None:
    (inbox / "orders_1.csv").write_bytes(b"order_id\n1\n")
    ch = channel(inbox, move_after_download="processed")
    records, _ = ingest.pull_channel(ch, settings, NOW)  # landed and moved; then the task dies unregistered
    assert [r.file_name for r in records] == ["orders_1.csv"]
    assert (inbox / "processed" / "orders_1.csv").exists() and not (inbox / "orders_1.csv").exists()
    records, events, counts = run(ch, settings)  # the next pull hands it over from its receipt
    assert [r.file_name for r in records] == ["orders_1.csv"] and counts["new"] == 1 and events == []
    records, events, counts = run(ch, settings)
    assert records == [] and not any(ingest.receipts_dir(settings, ch.id).iterdir())
