"""Hostile deliveries in a channel's folder: every fault leaves correct state or a clear refusal, and the other
files of the channel go on.

1. A file whose name is not valid UTF-8 is refused alone (its name shown with ``\\xNN`` escapes); the other
   files are landed and registered, this pull and the next.
2. A zero-byte file is quarantined at ingestion (as before) and registered as a file of its own, which
   normalisation quarantines whole with the reason ``empty file (0 bytes)``: the run's manifest and summary
   show it. The same empty file listed again is a recorded no-op; bytes delivered later under its name are
   landed as a new file, never taken for a replacement.

The file registry's tests run on both catalog backends (``catalog_backend``); the end-to-end run on the
DuckDB file only (``tests/run/test_catalog_backends.py`` runs the sample day on both).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import polars as pl
import pytest
from helpers import local_orders_channel as channel

from pipelines.catalog.store import FileRecord, IngestEvent, open_catalog
from pipelines.core import config
from pipelines.core.channels import Channel
from pipelines.core.config import PROJECT_ROOT, Settings
from pipelines.ingest import landing as ingest
from pipelines.validate.normalise import normalise_files
from pipelines.validate.staging import file_quarantine_dir

NOW = dt.datetime(2026, 11, 27, 3, 30, tzinfo=dt.UTC)
DAY = dt.date(2026, 11, 26)
ORDERS = (PROJECT_ROOT / "data_samples" / "orders" / "orders_2026-11-26.csv").read_bytes()

pytestmark = pytest.mark.usefixtures("catalog_backend")


def run(ch: Channel, settings: Settings) -> tuple[list[FileRecord], list[IngestEvent], dict[str, int]]:
    records, events = ingest.pull_channel(ch, settings, NOW)
    return records, events, ingest.register(open_catalog(settings), records, NOW, events)


def undecodable(folder: Path, name: bytes, data: bytes) -> None:
    """A file named by bytes that are not UTF-8, as another system may leave it in a shared folder."""
    with open(os.path.join(os.fsencode(folder), name), "wb") as handle:
        handle.write(data)


def test_a_name_that_is_not_utf8_is_refused_alone(inbox: Path, settings: Settings) -> None:
    (inbox / "orders_a.csv").write_bytes(b"order_id\n1\n")
    undecodable(inbox, b"orders_\xff\xfe.csv", b"order_id\n2\n")
    (inbox / "orders_z.csv").write_bytes(b"order_id\n3\n")
    for _ in range(2):  # the next pull is not stopped either
        records, events, counts = run(channel(inbox), settings)
        assert sorted(r.file_name for r in records) == ["orders_a.csv", "orders_z.csv"]
        (event,) = events
        assert (event.outcome, event.file_name) == ("refused", "orders_\\xff\\xfe.csv")
        assert event.reason == "name is not valid UTF-8: orders_\\xff\\xfe.csv (each byte that is not shown as \\xNN)"
        assert event.source_path == str(inbox / "orders_\\xff\\xfe.csv")
        assert counts["refused"] == 1
    catalog = open_catalog(settings)
    assert sorted(f.file_name for f in catalog.files_of_channel("orders_local")) == ["orders_a.csv", "orders_z.csv"]
    (stored,) = catalog.ingest_events(outcome="refused")
    assert (stored["file_name"], stored["times_seen"]) == ("orders_\\xff\\xfe.csv", 2)


def test_a_sub_folder_whose_name_is_not_utf8_is_refused_with_its_files(inbox: Path, settings: Settings) -> None:
    (inbox / "orders_a.csv").write_bytes(b"order_id\n1\n")
    os.mkdir(os.path.join(os.fsencode(inbox), b"day\xe9"))
    undecodable(inbox, b"day\xe9/orders_b.csv", b"order_id\n2\n")
    records, events, _ = run(channel(inbox, recursive=True), settings)
    assert [r.file_name for r in records] == ["orders_a.csv"]
    assert [(e.outcome, e.file_name) for e in events] == [("refused", "day\\xe9/orders_b.csv")]


def test_register_makes_every_text_utf8_before_the_catalog(settings: Settings, tmp_path: Path) -> None:
    """Whatever a transport hands over, a name that is not UTF-8 never stops the registration of every file."""
    landed = tmp_path / "landed"
    landed.write_bytes(b"x\n")
    rec = FileRecord(
        "f" * 64, "orders_local", "bad\udcff.csv", "/in/bad\udcff.csv", 2, str(landed), "2026-11-27T00:00:00Z"
    )
    event = IngestEvent("orders_local", "/in/x\udcfe.csv", "reason", "refused", "x\udcfe.csv")
    counts = ingest.register(open_catalog(settings), [rec], NOW, [event])
    assert (counts["new"], counts["refused"]) == (1, 1)
    (stored,) = open_catalog(settings).files_of_channel("orders_local")
    assert (stored.file_name, stored.source_path) == ("bad\\xff.csv", "/in/bad\\xff.csv")


def test_an_empty_file_is_a_visible_refusal_of_its_own(inbox: Path, settings: Settings) -> None:
    (inbox / "orders_1.csv").write_bytes(ORDERS)
    (inbox / "orders_2.csv").write_bytes(b"")
    ch = channel(inbox)
    records, events, counts = run(ch, settings)
    assert [r.file_name for r in records] == ["orders_1.csv"]
    (event,) = events
    assert (event.file_name, event.outcome, event.reason) == ("orders_2.csv", "quarantined", "empty file (0 bytes)")
    assert (counts["new"], counts["quarantined"]) == (1, 1)  # counted once, as quarantined

    catalog = open_catalog(settings)
    files = {f.file_name: f for f in catalog.files_of_channel(ch.id)}
    assert sorted(files) == ["orders_1.csv", "orders_2.csv"] and files["orders_2.csv"].size_bytes == 0
    statuses = {s.file_id: s for s in normalise_files(list(files.values()), ch, settings, DAY)}
    empty = statuses[files["orders_2.csv"].file_id]
    assert (empty.status, empty.reason, empty.rows_in, empty.assigned_date) == (
        "quarantined",
        "orders_2.csv: empty file (0 bytes)",
        0,
        DAY,
    )
    assert statuses[files["orders_1.csv"].file_id].status == "staged"
    folder = file_quarantine_dir(settings, ch.id, empty.file_id)
    assert json.loads((folder / "reason.json").read_text())["reason"] == "orders_2.csv: empty file (0 bytes)"
    assert (folder / "orders_2.csv").read_bytes() == b""
    catalog.record_file_statuses(list(statuses.values()), NOW)

    # listed again unchanged: a recorded no-op, nothing new to normalise
    records, events, counts = run(ch, settings)
    assert counts["new"] == 0 and [e.reason for e in events] == ["empty file (0 bytes)"]
    assert len(catalog.files_of_channel(ch.id)) == 2

    # the bytes come later under the same name: a new file, not a replacement of the empty one
    (inbox / "orders_2.csv").write_bytes(ORDERS.replace(b"2026-11-26T", b"2026-11-25T"))
    records, events, counts = run(ch, settings)
    assert (counts["new"], counts["replaced"], events) == (1, 0, [])
    assert len(catalog.files_of_channel(ch.id)) == 3


def test_the_same_empty_bytes_in_two_channels_are_two_refusals(tmp_path: Path, settings: Settings) -> None:
    ids = []
    for name in ("orders_a", "orders_b"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "orders.csv").write_bytes(b"")
        ch = channel(folder, id=name)
        run(ch, settings)
        (rec,) = open_catalog(settings).files_of_channel(name)
        (status,) = normalise_files([rec], ch, settings, DAY)
        assert status.status == "quarantined" and status.reason == "orders.csv: empty file (0 bytes)"
        ids.append(rec.file_id)
    assert ids[0] != ids[1]


@pytest.mark.parametrize("catalog_backend", ["duckdb"], indirect=True)
def test_a_run_shows_hostile_deliveries_and_reconciles_the_rest(tmp_path: Path) -> None:
    """End to end on the sample day: an empty orders file, an orders file whose name is not UTF-8 and orders
    rows dated in the year 9999 or holding a NUL in their PSP reference; the day is still reconciled, its
    invariants hold, and the run's manifest, summary and quarantine say what was refused."""
    from pipelines.cli.main import main

    for name in ("rules", "data_samples"):
        shutil.copytree(PROJECT_ROOT / name, tmp_path / name)
    orders = tmp_path / "data_samples" / "orders"
    (orders / "orders_2026-11-26_extra.csv").write_bytes(b"")
    undecodable(orders, b"orders_\xff.csv", ORDERS)
    sample = orders / "orders_2026-11-26.csv"
    header = ORDERS.decode().splitlines()[0]
    sample.write_text(
        sample.read_text()
        + "ORD-X-1,adyen_eu,PSPX1,PayPlatformEU,succeeded,1.00,EUR,9999-11-26T10:00:00Z,payin,card,NL\n"
        + "ORD-X-2,adyen_eu,PSP\x00X2,PayPlatformEU,succeeded,2.00,EUR,2026-11-26T10:00:00Z,payin,card,NL\n"
    )
    assert header.startswith("order_id,")
    home, rules = str(tmp_path / "var"), str(tmp_path / "rules")
    assert main(["--home", home, "--rules", rules, "run", "--date", DAY.isoformat()]) == 0
    out = Path(home) / "outputs" / DAY.isoformat()
    summary = json.loads((out / "summary.json").read_text())
    assert all(inv["ok"] for inv in summary["invariants"].values())
    assert "orders_2026-11-26_extra.csv" in summary["quarantined_files"]
    manifest = pl.read_parquet(out / "run_manifest.parquet").filter(pl.col("channel") == "orders")
    assert manifest.filter(pl.col("file_name") == "orders_2026-11-26_extra.csv")["file_status"].to_list() == [
        "quarantined"
    ]
    quarantine = pl.read_parquet(out / "quarantine.parquet").filter(pl.col("file_name") == "orders_2026-11-26.csv")
    reasons = quarantine["reason"].to_list()
    assert any("field created_at 9999-11-26T10:00:00Z is outside the plausible dates" in r for r in reasons)
    assert quarantine.filter(pl.col("field") == "record")["reason"].str.starts_with("NUL byte").to_list() == [True]
    refused = open_catalog(config.settings(home, rules)).ingest_events("orders", "refused")
    assert [e["file_name"] for e in refused] == ["orders_\\xff.csv"]
