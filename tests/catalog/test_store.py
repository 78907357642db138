"""The catalog's interface, the same on both backends (each test runs once on the DuckDB file, once on a
PostgreSQL database: ``catalog_backend``).

1. Every method gives the same results: the same records, the same frames with the same dtypes and column
   order (dates as dates, money as int64 minor units or Decimal, never a float), rows in the same order.
2. Text orders bytewise (as DuckDB does), whatever the PostgreSQL database's collation.
3. A write of several statements is one transaction: a process killed inside ``commit_run`` leaves the
   catalog as it was.
4. A fresh catalog reads as empty; creating the schema is idempotent, and safe from several sessions at once.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
import threading
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from conftest import PROJECT_ROOT
from pg_server import CatalogBackend, PgCluster
from polars.testing import assert_frame_equal

from pipelines.catalog.backends import PostgresBackend, masked, schema_version
from pipelines.catalog.store import (
    LIFECYCLE_TABLES,
    METRIC_COLUMNS,
    Catalog,
    FileRecord,
    FileStatus,
    IngestEvent,
    RunRow,
    open_catalog,
)
from pipelines.core import config, schema
from pipelines.core.config import Settings
from pipelines.core.failpoints import ENV as FAILPOINT_ENV

pytestmark = pytest.mark.usefixtures("catalog_backend")

D1, D2, D3 = dt.date(2026, 11, 25), dt.date(2026, 11, 26), dt.date(2026, 11, 27)
T1 = dt.datetime(2026, 11, 26, 3, 0, 0, 123456, tzinfo=dt.UTC)
T2 = dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.UTC)
ID_A, ID_B, ID_C = ("a" * 64, "b" * 64, "c" * 64)


@pytest.fixture
def catalog(settings: Settings) -> Catalog:
    """The catalog of the test's workspace (``settings_in``), on the test's backend."""
    return open_catalog(settings)


def record(file_id: str, name: str, channel: str = "adyen_eu", identity: str = "") -> FileRecord:
    return FileRecord(
        file_id, channel, name, f"/in/{channel}/{name}", 42, f"/home/landing/{file_id}", "2026-11-26T03:00:00.123456Z",
        remote_identity=identity,
    )  # fmt: skip


def status(file_id: str, channel: str, dates: list[dt.date], state: str = "staged") -> FileStatus:
    return FileStatus(
        file_id, channel, "adyen_sdr", "psp_settlement_lines", state, None if state == "staged" else "bad header",
        10, 9 if state == "staged" else 0, 1 if state == "staged" else 10, dates, min(dates), "2 passed",
    )  # fmt: skip


def frames(day: dt.date, run_id: str, amount: int = 1250) -> dict[str, pl.DataFrame]:
    """What a run of ``day`` leaves in each lifecycle table, with the dtypes ``lifecycle_frames`` gives."""
    metrics = schema.table("metrics").polars_schema()
    return {
        "open_items": pl.DataFrame(
            {
                "as_of_date": [day, day],
                "item_table": ["orders", "psp_settlement_lines"],
                "file_id": [ID_A, ID_B],
                "line_no": [7, 2],
                "item_business_date": [D1, day],
                "channel": ["orders", "adyen_eu"],
                "status": ["break", "pending"],
                "break_id": ["B1", None],
                "used_in": [None, "orders_psp|right|M1"],
            },
            schema_overrides={"line_no": pl.Int64},
        ),
        "break_log": pl.DataFrame(
            {
                "as_of_date": [day, day],
                "break_id": ["B1", "B2"],
                "break_type": ["amount_mismatch", "order_not_settled"],
                "channel": ["adyen_eu", "orders"],
                "item_ref": ["ORD-1", None],
                "amount_minor": [amount, -99],
                "currency": ["EUR", "JPY"],
                "status": ["open", "open"],
                "run_id": [run_id, run_id],
            },
            schema_overrides={"amount_minor": pl.Int64},
        ),
        "break_closures": pl.DataFrame(
            {"as_of_date": [day], "break_id": ["B0"], "run_id": [run_id], "rule_id": ["r1"], "match_id": [None]},
            schema_overrides={"match_id": pl.String},
        ),
        "position_log": pl.DataFrame(
            {
                "as_of_date": [day, day],
                "counterparty": ["b", "Bank"],
                "currency": ["EUR", "EUR"],
                "value_date": [D3, D3],
                "net_expected_minor": [9_007_199_254_740_993, -5],  # above 2^53: exact, never through a float
                "received_minor": [0, -5],
            },
            schema_overrides={"net_expected_minor": pl.Int64, "received_minor": pl.Int64},
        ),
        "receipt_log": pl.DataFrame(
            {"as_of_date": [day], "counterparty": ["Bank"], "currency": ["EUR"], "value_date": [D3]}
        ).with_columns(received_minor=pl.lit(-5, pl.Int64)),
        "run_inputs": pl.DataFrame(
            {
                "as_of_date": [day, day],
                "file_id": [ID_A, ID_B],
                "channel": ["orders", "adyen_eu"],
                "item_table": ["orders", "quarantine"],
                "row_date": [D1, day],
                "rows": [12, 3],
                "late_days": [1, None],
            },
            schema_overrides={"rows": pl.Int64, "late_days": pl.Int32},
        ),
        "metric_log": pl.DataFrame(
            {
                "as_of_date": [day, day],
                "metric": ["match_rate", "money_at_risk"],
                "statistic": ["rate", "sum"],
                "unit": ["ratio", "minor"],
                "group_by": ["all", "currency"],
                "direction": [None, "payin"],
                "channel": [None, None],
                "payment_method": [None, None],
                "country": [None, None],
                "currency": [None, "EUR"],
                "break_type": [None, None],
                "rail": [None, None],
                "numerator": [364, None],
                "denominator": [400, None],
                "value": [Decimal("0.910000"), None],
                "amount_minor": [None, amount],
            },
            schema={"as_of_date": pl.Date, **{c: metrics[c] for c in METRIC_COLUMNS}},
        ),
    }


def run_row(day: dt.date, run_id: str, finished: dt.datetime, mode: str = "nightly") -> RunRow:
    started = finished - dt.timedelta(minutes=1)
    return RunRow(run_id, day, mode, "v1", started, finished, {"ok": True}, f".runs/{run_id}")


def test_a_fresh_catalog_reads_as_empty_and_exists_once_opened(catalog: Catalog) -> None:
    assert not catalog.exists()
    assert catalog.published() == {} and catalog.run_dates() == [] and catalog.file_statuses() == {}
    inputs = catalog.run_inputs()
    assert inputs.height == 0
    assert inputs.schema == pl.Schema(
        {"as_of_date": pl.Date, "file_id": pl.String, "channel": pl.String, "item_table": pl.String,
         "row_date": pl.Date, "rows": pl.Int64, "late_days": pl.Int32}
    )  # fmt: skip
    assert catalog.exists()  # a read creates the schema, as the DuckDB file is created on first open
    catalog.ensure_schema()
    catalog.ensure_schema()  # idempotent
    h = catalog.history_for(D2)
    assert h.previous_date is None and h.positions.height == 0 and h.metrics.columns[0] == "business_date"


def test_deliveries_register_once_and_come_back_as_registered(catalog: Catalog) -> None:
    first = [record(ID_A, "a.csv", identity="42|100"), record(ID_A, "again.csv"), record(ID_B, "b.csv")]
    events = [
        IngestEvent("adyen_eu", "/in/adyen_eu/growing.csv", "still growing", "pending", "growing.csv"),
        IngestEvent("adyen_eu", "/in/adyen_eu/x.csv", "new bytes under a known name", "replaced", "x.csv", ID_C,
                    ID_A, 7, "42|200", "/q/x"),
    ]  # fmt: skip
    assert catalog.register_deliveries(first, T1, events) == [(ID_A, "new"), (ID_A, "duplicate"), (ID_B, "new")]
    assert catalog.known_file_ids([ID_A, ID_C]) == {ID_A} and catalog.known_file_ids([]) == set()
    assert catalog.files_of_channel("adyen_eu") == [record(ID_A, "a.csv"), record(ID_B, "b.csv")]
    assert catalog.file_names(["adyen_eu", "stripe_eu"]) == {ID_A: "a.csv", ID_B: "b.csv"}
    assert catalog.file_names(["stripe_eu"]) == {} and catalog.file_names([]) == {}
    assert sorted((d["source_path"], d["outcome"]) for d in catalog.deliveries()) == [
        ("/in/adyen_eu/a.csv", "new"),
        ("/in/adyen_eu/again.csv", "duplicate"),
        ("/in/adyen_eu/b.csv", "new"),
    ]  # one time for the three: in no order among them
    state = catalog.ingest_state("adyen_eu")
    assert state.accepted == {"/in/adyen_eu/a.csv": ID_A, "/in/adyen_eu/again.csv": ID_A, "/in/adyen_eu/b.csv": ID_B}
    assert {p: (o.identity, o.outcome) for p, o in state.objects.items()} == {
        "/in/adyen_eu/a.csv": ("42|100", "new"),
        "/in/adyen_eu/x.csv": ("42|200", "replaced"),
    }
    assert state.files == {ID_A: record(ID_A, "a.csv")}
    # seen again: the pending file delivered, the replaced one seen a second time
    later = [record(ID_C, "growing.csv")]
    assert catalog.register_deliveries(later, T2, events[1:]) == [(ID_C, "new")]
    assert catalog.pending_files() == []
    (replaced,) = catalog.replaced_files("adyen_eu")
    assert (replaced["times_seen"], replaced["first_seen"], replaced["last_seen"]) == (2, T1, T2)
    assert replaced["size_bytes"] == 7 and replaced["previous_file_id"] == ID_A
    assert catalog.ingest_events("nowhere") == []
    journal = catalog.file_journal()
    assert [e["file_id"] for e in journal] == [ID_A, ID_B, ID_C]
    assert journal[0]["arrived_at"] == "2026-11-26T03:00:00.123456Z"
    assert journal[0]["observed_at"] == "2026-11-26T03:00:00.123456+00:00"
    assert journal[0]["remote_identity"] == "42|100"


def test_file_statuses_come_back_as_recorded_and_are_replaced(catalog: Catalog) -> None:
    statuses = [status(ID_B, "stripe_eu", [D2, D1]), status(ID_A, "adyen_eu", [D2], "quarantined")]
    catalog.record_file_statuses(statuses, T1, journal_it=False)
    assert catalog.file_statuses() == {ID_A: statuses[1], ID_B: statuses[0]}
    assert list(catalog.file_statuses()) == [ID_A, ID_B]
    assert catalog.file_statuses("stripe_eu") == {ID_B: statuses[0]}
    again = replace(statuses[1], status="staged", reason=None, controls=None)
    catalog.record_file_statuses([again], T2, journal_it=False)
    assert catalog.file_statuses("adyen_eu") == {ID_A: again}


def test_a_committed_run_comes_back_with_the_same_frames_and_a_rerun_replaces_it(catalog: Catalog) -> None:
    catalog.commit_run(run_row(D1, "run-d1", T1), frames(D1, "run-d1"))
    catalog.commit_run(run_row(D2, "run-d2", T2), frames(D2, "run-d2"))
    assert catalog.run_dates() == [D1, D2]
    assert catalog.published() == {
        D1: {"run_id": "run-d1", "output_folder": ".runs/run-d1", "mode": "nightly"},
        D2: {"run_id": "run-d2", "output_folder": ".runs/run-d2", "mode": "nightly"},
    }
    inputs = pl.concat([frames(D1, "run-d1")["run_inputs"], frames(D2, "run-d2")["run_inputs"]])
    assert_frame_equal(catalog.run_inputs(), inputs.sort("as_of_date", "file_id", "item_table", "row_date"))

    h = catalog.history_for(D3)
    assert h.previous_date == D2
    sent = frames(D2, "run-d2")
    assert_frame_equal(
        h.open_breaks, pl.DataFrame({"break_id": ["B1", "B2"], "break_type": ["amount_mismatch", "order_not_settled"]})
    )
    assert_frame_equal(h.open_items, sent["open_items"].drop("as_of_date").sort("item_table", "file_id", "line_no"))
    positions = pl.concat([frames(d, "r")["position_log"] for d in (D1, D2)]).drop("as_of_date", "received_minor")
    assert_frame_equal(h.positions, positions.sort(pl.all()))
    assert h.positions["counterparty"].to_list() == ["Bank", "Bank", "b", "b"]  # bytewise: "B" < "b"
    assert h.receipts["received_minor"].dtype == pl.Int64
    metrics = pl.concat([frames(d, "r")["metric_log"] for d in (D1, D2)]).rename({"as_of_date": "business_date"})
    assert_frame_equal(h.metrics, metrics.sort(pl.all(), nulls_last=True))
    assert h.metrics.schema == schema.table("metrics").polars_schema()
    assert h.first_seen == {"B1": D1, "B2": D1}

    # the re-run of D2 replaces what D2's run left, and is the date's published run from then on
    catalog.commit_run(run_row(D2, "run-d2b", T2 + dt.timedelta(hours=1), "rerun"), frames(D2, "run-d2b", 999))
    assert catalog.published()[D2] == {"run_id": "run-d2b", "output_folder": ".runs/run-d2b", "mode": "rerun"}
    assert [(r["run_id"], r["business_date"], r["mode"]) for r in catalog.runs(D2)] == [
        ("run-d2", "2026-11-26", "nightly"),
        ("run-d2b", "2026-11-26", "rerun"),
    ]
    assert len(catalog.runs()) == 3 and catalog.runs(D3) == []
    h = catalog.history_for(D3)
    assert h.open_items.height == 2 and h.metrics.filter(pl.col("business_date") == D2)["amount_minor"][1] == 999
    assert catalog.break_dates("B1") == {D1: "open", D2: "open"}
    # a date's rows an older version did not keep (no frame) are emptied, not left from the earlier run
    catalog.commit_run(run_row(D2, "run-d2c", T2 + dt.timedelta(hours=2)), {})
    assert catalog.history_for(D3).open_items.height == 0 and catalog.break_dates("B1") == {D1: "open"}


def test_resolutions_are_appended_and_the_latest_one_applies(catalog: Catalog) -> None:
    catalog.commit_run(run_row(D1, "run-d1", T1), frames(D1, "run-d1"))
    with pytest.raises(KeyError, match="no break 'B9'"):
        catalog.add_resolution("B9", "accept", "n", "me", T1)
    first = catalog.add_resolution("B1", "write_off", "too small", "ana@ops", T1)
    second = catalog.add_resolution("B1", "reopen", "not so small", "bo@ops", T2)
    assert [r["resolution_id"] for r in catalog.resolutions("B1")] == [first, second]
    assert catalog.resolutions()[1]["recorded_at"] == T2
    assert catalog.history_for(D2).resolutions == {"B1": ("reopen", "bo@ops", "not so small")}
    entries = [{**r, "recorded_at": r["recorded_at"].isoformat()} for r in catalog.resolutions()]
    assert catalog.insert_resolutions(entries) == 0  # known by id: nothing twice


def test_text_is_ordered_bytewise_whatever_the_database_collation(catalog: Catalog) -> None:
    ids = ["b" + "0" * 63, "B" + "0" * 63, "a_" + "0" * 62, "aa" + "0" * 62]
    catalog.record_file_statuses([status(i, "adyen_eu", [D2]) for i in ids], T1, journal_it=False)
    assert list(catalog.file_statuses()) == sorted(ids)  # Python compares code points: bytes of UTF-8
    events = [IngestEvent(c, f"/in/{c}", "refused") for c in ("b", "Bank", "bank_eu", "bankx", "ä")]
    catalog.register_deliveries([], T1, events, journal_it=False)
    assert [e["channel"] for e in catalog.ingest_events()] == sorted(e.channel for e in events)


def _commit_in_a_process(settings: Settings, day: dt.date, run_id: str, folder: Path, failpoint: str) -> int:
    """``commit_run`` in a child process that kills itself (SIGKILL) at ``failpoint``; its exit code."""
    folder.mkdir()
    for table, frame in frames(day, run_id).items():
        frame.write_parquet(folder / f"{table}.parquet")
    script = textwrap.dedent(
        f"""
        import datetime as dt, pathlib, polars as pl
        from pipelines.catalog.store import RunRow, open_catalog
        from pipelines.core import config
        folder = pathlib.Path({str(folder)!r})
        frames = {{p.stem: pl.read_parquet(p) for p in folder.glob("*.parquet")}}
        now = dt.datetime.now(dt.UTC)
        run = RunRow({run_id!r}, dt.date.fromisoformat({day.isoformat()!r}), "rerun", "v1", now, now, {{}}, "x")
        open_catalog(config.settings({str(settings.home)!r}, None)).commit_run(run, frames)
        """
    )
    env = {**os.environ, FAILPOINT_ENV: failpoint}
    return subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env, capture_output=True).returncode


def test_a_process_killed_inside_the_commit_leaves_the_catalog_as_it_was(
    catalog: Catalog, settings: Settings, tmp_path: Path
) -> None:
    catalog.commit_run(run_row(D1, "run-d1", T1), frames(D1, "run-d1"))
    catalog.commit_run(run_row(D2, "run-d2", T2), frames(D2, "run-d2"))
    before = (catalog.published(), catalog.runs(), catalog.run_inputs(), catalog.history_for(D3).open_items)
    assert _commit_in_a_process(settings, D2, "run-killed", tmp_path / "killed", "catalog-commit") == -9
    after = (catalog.published(), catalog.runs(), catalog.run_inputs(), catalog.history_for(D3).open_items)
    assert after[:2] == before[:2]
    assert_frame_equal(after[2], before[2])
    assert_frame_equal(after[3], before[3])
    # and the catalog takes the next commit (no lock or half transaction left behind)
    assert _commit_in_a_process(settings, D2, "run-done", tmp_path / "done", "none") == 0
    assert catalog.published()[D2]["run_id"] == "run-done"


def test_calls_inside_a_held_catalog_share_one_session_and_a_failed_write_leaves_nothing(
    catalog: Catalog, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    catalog.commit_run(run_row(D1, "run-d1", T1), frames(D1, "run-d1"))
    before = (catalog.published(), catalog.runs(), catalog.run_inputs())
    opened: list[bool] = []
    real_connect = type(catalog.backend).connect

    def counted(backend: Any, read_only: bool = False) -> Any:
        opened.append(read_only)
        return real_connect(backend, read_only)

    monkeypatch.setattr(type(catalog.backend), "connect", counted)
    broken = frames(D2, "run-d2")
    broken["open_items"] = broken["open_items"].with_columns(pl.lit(1).alias("not_a_column"))
    with catalog.held():
        other = open_catalog(settings)  # another Catalog of the same location shares the held session
        other.register_deliveries([record(ID_A, "a.csv")], T1, [])
        assert set(catalog.file_statuses()) == set() and catalog.known_file_ids([ID_A, ID_B]) == {ID_A}
        with pytest.raises(Exception):  # noqa: B017 (the database's own error, which differs between them)
            other.commit_run(run_row(D2, "run-d2", T2), broken)  # fails inside its transaction
        # what the failed commit had begun is rolled back: the session goes on from the state before it
        assert (catalog.published(), catalog.runs()) == before[:2]
        assert_frame_equal(catalog.run_inputs(), before[2])
        with catalog.held():  # nested: the same session
            catalog.commit_run(run_row(D2, "run-d2", T2), frames(D2, "run-d2"))
    assert opened == [False]  # one (writing) session for all of the above
    assert catalog.published()[D2]["run_id"] == "run-d2" and catalog.known_file_ids([ID_A]) == {ID_A}
    assert len(opened) == 3  # outside the held span every call opens its own session again


def test_sessions_creating_the_schema_at_once(catalog_backend: CatalogBackend, settings: Settings) -> None:
    if catalog_backend.url is None:
        pytest.skip("a DuckDB file admits one writing process at a time: the workspace lock keeps them apart")
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def create() -> None:
        try:
            start.wait()
            open_catalog(settings).ensure_schema()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert open_catalog(settings).exists()


def test_the_catalog_url_chooses_the_backend(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(config.CATALOG_URL_ENV, "")
    assert config.settings(tmp_path).catalog_url is None
    assert open_catalog(config.settings(tmp_path)).location == str(tmp_path.resolve() / "catalog.duckdb")
    monkeypatch.setenv(config.CATALOG_URL_ENV, "mysql://u:hunter2@db/recon")
    with pytest.raises(ValueError, match="RECON_CATALOG_URL must be a postgresql:// URL") as refused:
        config.settings(tmp_path)
    assert "hunter2" not in str(refused.value)
    monkeypatch.setenv(config.CATALOG_URL_ENV, "postgresql://u:hunter2@db:5433/recon?sslmode=require")
    chosen = open_catalog(config.settings(tmp_path))
    assert isinstance(chosen.backend, PostgresBackend) and chosen.home == tmp_path.resolve()
    assert chosen.location == "postgresql://u:***@db:5433/recon?sslmode=require"


def test_over_tcp_with_a_password(pg_cluster: PgCluster, catalog_backend: CatalogBackend, tmp_path: Path) -> None:
    if catalog_backend.url is None:
        pytest.skip("PostgreSQL only")
    url = pg_cluster.tcp_url(catalog_backend.databases[0])
    catalog = open_catalog(Settings(home=tmp_path, rules=tmp_path, catalog_url=url))
    catalog.commit_run(run_row(D1, "run-d1", T1), frames(D1, "run-d1"))
    assert catalog.run_dates() == [D1] and "recon-test-secret" not in catalog.location
    assert masked(url) == catalog.location and schema_version().startswith("recon catalog ")


def test_every_lifecycle_table_is_written_by_a_run(catalog: Catalog) -> None:
    assert set(frames(D1, "r")) == set(LIFECYCLE_TABLES)
    with catalog.connect(read_only=True) as con:
        columns = {
            t: [r[0] for r in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = ? ORDER BY ordinal_position", [t]).fetchall()]
            for t in LIFECYCLE_TABLES
        }  # fmt: skip
    assert columns == {t: f.columns for t, f in frames(D1, "r").items()}
