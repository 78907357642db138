"""``recon run`` parses a channel as soon as its files are registered, while the next channels are ingested and
registered (``stages.ingest_and_register`` feeding ``normalise_channels``): the workers are handed the files'
catalog records and never open the catalog, which a DuckDB file lets only one process hold while another writes
it. The run normalises every file of the sample day as before."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from conftest import tree_bytes
from helpers import hold_duckdb_file

from pipelines.run import stages

DAY = dt.date(2026, 11, 26)


def test_workers_given_the_records_never_open_the_catalog_another_process_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RECON_LOCK_WAIT_SECONDS", "1")  # how long a session waits for the catalog file
    home = str(tmp_path / "home")
    pulled = stages.ingest_channel("orders", home)
    stages.register_files([pulled], home)
    ctx = stages.context(home)
    records = [rec.to_dict() for rec in stages._new_files(ctx, "orders")]
    assert len(records) == 1
    holder = hold_duckdb_file(ctx.settings.home / "catalog.duckdb", 120)
    try:
        with pytest.raises(duckdb.IOException, match="lock"):  # reading the catalog itself would fail now
            stages.parse_channel("orders", DAY, home)
        parsed = stages.parse_channel("orders", DAY, home, None, records)
        assert [p["parked"]["file_id"] for p in parsed] == [records[0]["file_id"]]
        statuses = stages.stage_channel("orders", DAY, home, None, parsed, records)
    finally:
        holder.kill()
        holder.wait()
    assert [(s["file_id"], s["status"]) for s in statuses] == [(records[0]["file_id"], "staged")]
    assert statuses[0]["rows_staged"] > 0


def test_channels_are_normalised_as_they_arrive_and_publish_what_a_run_of_separate_stages_publishes(
    tmp_path: Path,
) -> None:
    arrived: list[tuple[str, float]] = []
    home = str(tmp_path / "arriving")
    ids = stages.channel_ids(home)

    def arriving() -> Iterator[str]:
        for cid in stages.ingest_and_register(ids, home):
            arrived.append((cid, time.perf_counter()))
            yield cid

    with stages.start_normalisers() as pool:
        statuses = stages.normalise_channels(ids, DAY, home, None, pool, arriving=arriving())
    assert [c for c, _ in arrived] == ids
    stages.record_statuses(statuses, home)
    stages.reconcile_and_publish(DAY, "nightly", home)

    separate = str(tmp_path / "separate")
    pulled = [stages.ingest_channel(c, separate) for c in stages.channel_ids(separate)]
    stages.register_files(pulled, separate)
    stages.record_statuses(stages.normalise_channels(stages.channel_ids(separate), DAY, separate), separate)
    stages.reconcile_and_publish(DAY, "nightly", separate)
    published = tree_bytes(Path(separate) / "outputs" / DAY.isoformat())
    assert len(published) > 10 and tree_bytes(Path(home) / "outputs" / DAY.isoformat()) == published


@pytest.mark.parametrize(
    ("arrive", "refusal"),
    [
        (["orders", "fx_ecb"], "channel 'fx_ecb' arrived but is not one to normalise, or arrived twice"),
        (["orders", "orders"], "channel 'orders' arrived but is not one to normalise, or arrived twice"),
        ([], "channel[(]s[)] to normalise that never arrived: orders"),
    ],
)
def test_channels_that_arrive_other_than_asked_are_refused(tmp_path: Path, arrive: list[str], refusal: str) -> None:
    home = str(tmp_path / "home")
    with stages.start_normalisers() as pool, pytest.raises(ValueError, match=refusal):
        stages.normalise_channels(["orders"], DAY, home, None, pool, arriving=iter(arrive))


def _staged(home: str) -> list[Path]:
    return sorted((Path(home) / "staging").rglob("*.parquet"))


def test_a_channel_is_staged_as_soon_as_it_is_parsed_while_the_next_is_still_being_ingested(tmp_path: Path) -> None:
    home = str(tmp_path / "home")
    ids = ["orders", "fx_ecb"]
    staged_before_next: list[Path] = []

    def arriving() -> Iterator[str]:
        registered = stages.ingest_and_register(ids, home)
        yield next(registered)
        deadline = time.monotonic() + 120  # the next channel is held back until the first one is staged
        while not _staged(home) and time.monotonic() < deadline:
            time.sleep(0.05)
        staged_before_next.extend(_staged(home))
        yield from registered

    with stages.start_normalisers() as pool:
        statuses = stages.normalise_channels(ids, DAY, home, None, pool, arriving=arriving())
    assert [p.name.split(".")[0] for p in staged_before_next] == [statuses[0][0]["file_id"]]
    assert [[s["status"] for s in st] for st in statuses] == [["staged"], ["staged"]]


def test_a_channel_parsed_after_its_run_failed_is_not_staged(tmp_path: Path) -> None:
    home = str(tmp_path / "home")

    def arriving() -> Iterator[str]:
        yield from stages.ingest_and_register(["orders"], home)
        raise RuntimeError("the next channel's server is down")

    with stages.start_normalisers() as pool, pytest.raises(RuntimeError, match="server is down"):
        stages.normalise_channels(["orders", "fx_ecb"], DAY, home, None, pool, arriving=arriving())
    assert _staged(home) == []
