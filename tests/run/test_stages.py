"""Unit tests per stage: money, schemas, calendars, business dates, ingest, normalise, publish."""

from __future__ import annotations

import datetime as dt
import json
import sys
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from helpers import settings_in

from pipelines.catalog.store import Catalog
from pipelines.core import calendars, money, schema
from pipelines.core.channels import Channel
from pipelines.formats.base import business_date
from pipelines.ingest.landing import pull_channel, register
from pipelines.validate import contracts as validate


# ---- money -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.34", "EUR", 1234),
        ("1500", "CLP", 1500),
        ("0.125", "BHD", 125),
        ("(3.20)", "GBP", -320),
        ("5-", "EUR", -500),
        ("-0.01", "EUR", -1),
        (".5", "EUR", 50),
        ("7", "JPY", 7),
    ],
)
def test_parse_minor_exact(text: str, currency: str, minor: int) -> None:
    m, e = money.parse_minor(pl.col("a"), pl.col("c"))
    out = pl.DataFrame({"a": [text], "c": [currency]}).select(m.alias("m"), e.alias("e"))
    assert out.row(0) == (minor, None)
    assert (
        money.to_minor(text.strip("()-") if "(" in text or text.endswith("-") else text, currency) == abs(minor)
        or minor < 0
    )


@pytest.mark.parametrize(
    ("text", "currency", "reason"),
    [
        ("1.234", "EUR", "more decimals than the currency allows"),
        ("10.5", "CLP", "more decimals"),
        ("12.3x", "EUR", "is not a decimal amount"),
        ("", "EUR", "amount is missing"),
        ("1", "XAU", "no known currency"),
        ("1,5", "EUR", "is not a decimal amount"),
    ],
)
def test_parse_minor_rejects(text: str, currency: str, reason: str) -> None:
    m, e = money.parse_minor(pl.col("a"), pl.col("c"))
    out = pl.DataFrame({"a": [text], "c": [currency]}).select(m.alias("m"), e.alias("e"))
    assert out["m"][0] is None
    assert reason in out["e"][0]


def test_declared_separators_and_conversion() -> None:
    m, e = money.parse_minor(pl.col("a"), pl.col("c"), decimal=",", thousands=".")
    out = pl.DataFrame({"a": ["1.234,56"], "c": ["EUR"]}).select(m.alias("m"), e.alias("e"))
    assert out.row(0) == (123456, None)
    assert money.format_minor(-5, "EUR") == "-0.05" and money.format_minor(1500, "CLP") == "1500"
    assert money.format_minor(1, "BHD") == "0.001"
    # 100.00 EUR at 1.0825 -> 108.25 USD; half-even at the last step: 0.125 -> 0.12
    assert money.convert_minor(10000, "EUR", "USD", Decimal("1.0825")) == 10825
    assert money.convert_minor(1, "EUR", "USD", Decimal("12.5")) == 12
    assert money.convert_minor(3, "EUR", "USD", Decimal("12.5")) == 38


# ---- schemas: one source for Polars, DuckDB and Great Expectations ------------------------------------
def test_everything_is_derived_from_schema_files() -> None:
    import duckdb

    for name in (
        "orders",
        "psp_settlement_lines",
        "bank_statement_lines",
        "fx_rates",
        "matches",
        "breaks",
        "positions",
        "run_manifest",
    ):
        t = schema.table(name)
        con = duckdb.connect()
        con.execute(t.duckdb_ddl())
        cols = [r[0] for r in con.execute(f"DESCRIBE {name}").fetchall()]
        assert cols == t.column_names
        assert list(t.polars_schema().names()) == t.column_names
        suite = validate.build_suite(name)
        kinds = [e.expectation_type for e in suite.expectations]
        assert kinds[0] == "expect_table_columns_to_match_ordered_list"
        assert kinds.count("expect_column_values_to_not_be_null") == sum(not c.nullable for c in t.columns)


def _fx_frame(quote: str = "GBP") -> pl.DataFrame:
    return schema.table("fx_rates").conform(
        pl.DataFrame(
            {
                "file_id": ["f"],
                "line_no": [2],
                "channel": ["fx"],
                "business_date": [dt.date(2026, 11, 26)],
                "base_currency": ["EUR"],
                "quote_currency": [quote],
                "rate": [Decimal("0.86")],
            }
        )
    )


def test_contract_failure_names_the_expectation() -> None:
    good = _fx_frame()
    assert validate.validate_frame("fx_rates", good).success
    bad = good.with_columns(pl.lit("gbp").alias("quote_currency"), pl.lit(None, pl.String).alias("channel"))
    out = validate.validate_frame("fx_rates", bad)
    assert not out.success
    assert any("match_regex" in f and "quote_currency" in f for f in out.failed)
    assert any("not_be_null" in f and "channel" in f for f in out.failed)


def test_a_passing_structure_is_validated_once_per_column_set_and_a_failing_one_each_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs: list[str] = []
    real = validate._run

    def counted(table_name: str, part: str, frame: pl.DataFrame) -> dict[str, Any]:
        runs.append(part)
        return real(table_name, part, frame)

    monkeypatch.setattr(validate, "_STRUCTURE_PASSED", {})
    fresh = [validate.validate_frame("fx_rates", f) for f in (_fx_frame(), _fx_frame("USD"), _fx_frame("usd"))]
    monkeypatch.setattr(validate, "_STRUCTURE_PASSED", {})
    monkeypatch.setattr(validate, "_run", counted)
    kept = [validate.validate_frame("fx_rates", f) for f in (_fx_frame(), _fx_frame("USD"), _fx_frame("usd"))]
    assert runs.count("structure") == 1  # once for the column set, whatever the values
    assert [(o.success, o.failed, o.result) for o in kept] == [(o.success, o.failed, o.result) for o in fresh]
    assert [o.success for o in kept] == [True, True, False]

    runs.clear()
    renamed = _fx_frame().rename({"rate": "fx_rate"})
    failing = [validate.validate_frame("fx_rates", renamed) for _ in range(2)]
    assert runs.count("structure") == 2 * 2  # a failing structure is never kept (each validation runs it twice)
    assert all(not o.success and any("match_ordered_list" in f for f in o.failed) for o in failing)


def test_a_presence_only_column_is_validated_as_its_presence_with_the_same_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # order_id's one expectation is "not null": it reaches the validation library as its presence, which
    # must fail the same rows the same way as the text itself would
    n = 30_000  # above the size where distinct text stays text
    t = schema.table("orders")
    frame = t.conform(
        pl.DataFrame(
            {
                "file_id": ["f"] * n,
                "line_no": list(range(2, n + 2)),
                "channel": ["orders"] * n,
                "business_date": [dt.date(2026, 11, 26)] * n,
                "order_id": [None if i % 7919 == 5 else f"ORD-{i:08d}" for i in range(n)],
                "psp_channel": ["adyen_eu"] * n,
                "status": ["succeeded"] * n,
                "amount_minor": [100] * n,
                "currency": ["EUR"] * n,
                "created_at": [dt.datetime(2026, 11, 26, 12, tzinfo=dt.UTC)] * n,
            }
        )
    )
    assert "order_id" in validate.presence_only_columns("orders")
    assert "currency" not in validate.presence_only_columns("orders")  # it has a pattern
    as_presence = validate.validate_frame("orders", frame)
    monkeypatch.setattr(validate, "presence_only_columns", lambda table_name: set())
    as_text = validate.validate_frame("orders", frame)
    assert not as_presence.success and as_presence.failed == as_text.failed
    assert any("not_be_null" in f and "order_id" in f and "unexpected=4" in f for f in as_presence.failed)

    def results(outcome: validate.ValidationOutcome) -> list[tuple[Any, ...]]:
        return [
            (
                r["expectation_config"]["type"],
                r["expectation_config"]["kwargs"].get("column"),
                r["success"],
                r["result"],
            )
            for r in outcome.result["results"]
        ]

    assert results(as_presence) == results(as_text)


def _validated_in_a_stager(
    frames: list[pl.DataFrame],
) -> list[tuple[bool, list[str], dict[str, Any], bool, bool, bool]]:
    import gc

    from pipelines.core.deferred import Deferred

    return [
        (
            o.success,
            o.failed,
            o.result,
            "sqlalchemy" in sys.modules and sys.modules["sqlalchemy"] is not None,
            all(isinstance(sys.modules[name], Deferred) for name in validate.UNUSED_MODULES),
            gc.isenabled() and gc.get_freeze_count() > 10_000,
        )
        for o in (validate.validate_frame("orders", f) for f in frames)
    ]


def test_a_stager_validates_as_this_process_does_without_the_libraries_it_leaves_out() -> None:
    from pipelines.run.workers import start_normalisers

    good = _orders_frame(300)
    bad = good.with_columns(
        pl.when(pl.col("line_no") == 7).then(pl.lit("SETTLED")).otherwise(pl.col("status")).alias("status"),
        pl.when(pl.col("line_no") == 9).then(None).otherwise(pl.col("currency")).alias("currency"),
    )
    here = [(o.success, o.failed, o.result) for o in (validate.validate_frame("orders", f) for f in (good, bad))]
    with start_normalisers(1) as pool:
        there = pool.stagers.submit(_validated_in_a_stager, [good, bad]).result()
    assert [t[:3] for t in there] == here
    assert here[0][0] and not here[1][0] and len(here[1][1]) == 2
    assert not any(t[3] for t in there)  # the stager ran without SQLAlchemy
    assert all(t[4] for t in there)  # and never loaded the modules it defers
    assert all(t[5] for t in there)  # what its start built is out of the collector's sight, which is on


# ---- calendars and business dates ---------------------------------------------------------------------
def _orders_frame(n: int) -> pl.DataFrame:
    return schema.table("orders").conform(
        pl.DataFrame(
            {
                "file_id": ["f"] * n,
                "line_no": list(range(2, n + 2)),
                "channel": ["orders"] * n,
                "business_date": [dt.date(2026, 11, 26)] * n,
                "order_id": [f"ORD-{i:08d}" for i in range(n)],
                "psp_channel": ["adyen_eu"] * n,
                "status": ["succeeded", "failed", "pending"] * (n // 3) + ["expired"] * (n % 3),
                "amount_minor": [100 + i for i in range(n)],
                "currency": ["EUR", "GBP", "BRL", "CLP"] * (n // 4) + ["MXN"] * (n % 4),
                "created_at": [dt.datetime(2026, 11, 26, 12, tzinfo=dt.UTC)] * n,
                "country": [None, "NL", "BR"] * (n // 3) + ["GB"] * (n % 3),
            }
        )
    )


@pytest.mark.parametrize(
    "spoil",
    [
        None,
        pl.when(pl.col("line_no") == 77).then(pl.lit("SETTLED")).otherwise(pl.col("status")).alias("status"),
        pl.when(pl.col("line_no") == 90).then(pl.lit(-1)).otherwise(pl.col("amount_minor")).alias("amount_minor"),
        pl.when(pl.col("line_no") == 5).then(pl.lit(0)).otherwise(pl.col("line_no")).alias("line_no"),
        pl.when(pl.col("line_no") > 900).then(None).otherwise(pl.col("currency")).alias("currency"),
        pl.when(pl.col("line_no") == 3).then(pl.lit("nl")).otherwise(pl.col("country")).alias("country"),
        pl.when(pl.col("line_no") == 4).then(None).otherwise(pl.col("created_at")).alias("created_at"),
    ],
)
def test_values_are_validated_on_their_decisive_rows_with_the_whole_frames_outcome(spoil: pl.Expr | None) -> None:
    frame = _orders_frame(1_000)
    if spoil is not None:
        frame = frame.with_columns(spoil)
    constrained = frame.select(validate.constrained_columns("orders"))
    decisive = validate.decisive_rows("orders", constrained)
    assert decisive.height < 20 and decisive.schema == constrained.schema
    whole = validate._validate("orders", frame, constrained)
    quick = validate._validate("orders", frame, decisive)
    assert quick.success == whole.success == (spoil is None)

    def failing(outcome: validate.ValidationOutcome) -> list[tuple[str, str]]:
        return [(r["expectation_config"]["type"], r["expectation_config"]["kwargs"]["column"])
                for r in outcome.result["results"] if not r["success"]]  # fmt: skip

    assert failing(quick) == failing(whole)
    # a failing frame is reported with the whole frame's counts
    assert validate.validate_frame("orders", frame).failed == whole.failed


def test_business_days_skip_weekends_and_holidays() -> None:
    assert calendars.add_business_days(dt.date(2026, 11, 27), 1, "NL") == dt.date(2026, 11, 30)  # Fri -> Mon
    assert calendars.add_business_days(dt.date(2026, 12, 24), 1, "NL") == dt.date(2026, 12, 28)  # 25/26 Dec
    assert calendars.add_business_days(dt.date(2026, 12, 24), 1, None) == dt.date(2026, 12, 25)
    assert calendars.add_business_days(dt.date(2026, 11, 28), 0, "BR") == dt.date(2026, 11, 30)  # Sat -> Mon


def test_business_date_cutoff_across_dst() -> None:
    # Amsterdam, cut-off 22:00 local. 2026-03-29 has 23 hours, 2026-10-25 has 25.
    instants = [
        dt.datetime(2026, 3, 28, 20, 59, tzinfo=dt.UTC),  # 21:59 CET  -> 03-28
        dt.datetime(2026, 3, 28, 21, 0, tzinfo=dt.UTC),  # 22:00 CET  -> 03-29
        dt.datetime(2026, 3, 29, 19, 59, tzinfo=dt.UTC),  # 21:59 CEST -> 03-29
        dt.datetime(2026, 3, 29, 20, 0, tzinfo=dt.UTC),  # 22:00 CEST -> 03-30
        dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC),  # 02:30 CEST (first pass) -> 10-25
        dt.datetime(2026, 10, 25, 1, 30, tzinfo=dt.UTC),  # 02:30 CET (second pass) -> 10-25
        dt.datetime(2026, 10, 25, 20, 59, tzinfo=dt.UTC),  # 21:59 CET  -> 10-25
        dt.datetime(2026, 10, 25, 21, 0, tzinfo=dt.UTC),  # 22:00 CET  -> 10-26
    ]
    frame = pl.DataFrame({"ts": instants}, schema={"ts": pl.Datetime("us", "UTC")})
    got = frame.select(business_date(pl.col("ts"), "Europe/Amsterdam", dt.time(22, 0)))["ts"].to_list()
    d = dt.date
    assert got == [
        d(2026, 3, 28),
        d(2026, 3, 29),
        d(2026, 3, 29),
        d(2026, 3, 30),
        d(2026, 10, 25),
        d(2026, 10, 25),
        d(2026, 10, 25),
        d(2026, 10, 26),
    ]


# ---- ingest -------------------------------------------------------------------------------------------
def test_ingest_is_content_addressed_and_idempotent(tmp_path: Path) -> None:
    s = settings_in(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a.csv").write_bytes(b"same bytes\n")
    (inbox / "b.csv").write_bytes(b"same bytes\n")
    (inbox / ".hidden.csv").write_bytes(b"temp\n")
    (inbox / "c.txt").write_bytes(b"not matching the pattern\n")
    ch = Channel(id="inbox", kind="psp", location=str(inbox), pattern="*.csv", format="adyen_sdr")
    now = dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.UTC)
    records, skipped = pull_channel(ch, s, now)
    assert [r.file_name for r in records] == ["a.csv", "b.csv"] and skipped == []
    assert records[0].file_id == records[1].file_id
    landed = Path(records[0].landing_path)
    assert landed.read_bytes() == b"same bytes\n" and landed.parent.parent.name == "inbox"
    cat = Catalog(s.catalog_path)
    counts = register(cat, records, now)
    assert (counts["new"], counts["duplicate"]) == (1, 1)
    records2, _ = pull_channel(ch, s, now)
    counts = register(cat, records2, now)
    assert (counts["new"], counts["duplicate"]) == (0, 2)
    assert len(cat.files_of_channel("inbox")) == 1
    assert not list(landed.parent.glob(".part-*"))


# ---- normalise: row and file quarantine --------------------------------------------------------------
def test_unreadable_file_is_quarantined_whole(tmp_path: Path) -> None:
    from pipelines.validate.normalise import normalise_file
    from pipelines.validate.staging import file_quarantine_dir

    s = settings_in(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "statement.xml").write_bytes(b"<Document><BkToCstmrStmt><Stmt>")  # truncated XML
    ch = Channel(id="bank_x", kind="bank", location=str(inbox), pattern="*.xml", format="camt053")
    records, _ = pull_channel(ch, s, dt.datetime(2026, 11, 27, tzinfo=dt.UTC))
    st = normalise_file(records[0], ch, s, dt.date(2026, 11, 26))
    assert st.status == "quarantined" and "statement.xml" in (st.reason or "")
    folder = file_quarantine_dir(s, "bank_x", records[0].file_id)
    assert (folder / "statement.xml").read_bytes() == b"<Document><BkToCstmrStmt><Stmt>"
    assert json.loads((folder / "reason.json").read_text())["reason"] == st.reason
    assert not list((s.staging).rglob("*.parquet"))


def test_files_of_a_channel_validated_together_are_staged_or_quarantined_as_one_by_one(tmp_path: Path) -> None:
    """``stage_files`` validates a channel's files in one go; a file breaking the contract is still the only
    one quarantined, with its own validation result, and what is staged is what staging each alone gives."""
    from pipelines.catalog.store import FileRecord
    from pipelines.formats.base import ParseResult, empty_rejects
    from pipelines.validate.normalise import ChannelStager, stage_file, stage_files
    from pipelines.validate.staging import file_quarantine_dir

    ch = Channel(id="fx_x", kind="reference", location=str(tmp_path), pattern="*.csv", format="fx_rates_csv")

    def parsed(n: int, quote: str = "GBP") -> tuple[FileRecord, ParseResult]:
        file_id = f"{n:064x}"
        landed = tmp_path / "landed" / file_id
        landed.parent.mkdir(exist_ok=True)
        landed.write_text(f"file {n}\n")
        rec = FileRecord(file_id, "fx_x", f"rates_{n}.csv", str(landed), 7, str(landed), "2026-11-27T00:00:00Z")
        frame = schema.table("fx_rates").conform(
            pl.DataFrame(
                {
                    "file_id": [file_id] * 3,
                    "line_no": [2, 3, 4],
                    "channel": ["fx_x"] * 3,
                    "business_date": [dt.date(2026, 11, 26)] * 3,
                    "base_currency": ["EUR"] * 3,
                    "quote_currency": ["USD", quote, "JPY"],
                    "rate": [Decimal("1.08"), Decimal("0.86"), Decimal("162.3")],
                }
            )
        )
        return rec, ParseResult(table="fx_rates", frame=frame, rejects=empty_rejects(), rows_in=3)

    files = [parsed(1), parsed(2, quote="gbp"), parsed(3)]  # the second breaks the quote currency's pattern
    together, alone = settings_in(tmp_path / "together"), settings_in(tmp_path / "alone")
    statuses = stage_files(files, ch, together, dt.date(2026, 11, 26))
    one_by_one = [stage_file(rec, ch, alone, dt.date(2026, 11, 26), result) for rec, result in files]
    assert [st.status for st in statuses] == ["staged", "quarantined", "staged"]
    assert statuses == one_by_one
    for rec, _ in files:
        for s in (together, alone):
            assert (file_quarantine_dir(s, "fx_x", rec.file_id) / "validation.json").exists() == (
                rec.file_id == files[1][0].file_id
            )
    assert json.loads((file_quarantine_dir(together, "fx_x", files[1][0].file_id) / "validation.json").read_text()) == (
        json.loads((file_quarantine_dir(alone, "fx_x", files[1][0].file_id) / "validation.json").read_text())
    )
    staged = {
        s: {p.relative_to(s.staging): p.read_bytes() for p in s.staging.rglob("*.parquet")} for s in (together, alone)
    }
    assert len(staged[together]) == 2 and staged[together] == staged[alone]
    # the files of a channel wait for their validation in batches of about the row limit, statuses in order
    stager = ChannelStager(ch, settings_in(tmp_path / "batched"), dt.date(2026, 11, 26), limit=5)
    for rec, result in [parsed(4), parsed(5), parsed(6)]:
        stager.add(rec, result)
    assert len(list((tmp_path / "batched").rglob("*.parquet"))) == 2  # the first two filled a batch
    assert [st.file_id for st in stager.statuses()] == [f"{n:064x}" for n in (4, 5, 6)]
    assert len(list((tmp_path / "batched").rglob("*.parquet"))) == 3


# ---- publish: atomic switch, replace never append ----------------------------------------------------
def test_publish_switches_atomically(tmp_path: Path) -> None:
    from pipelines.run import stages as pipeline

    home = tmp_path / "home"
    pipeline.run_all(dt.date(2026, 11, 26), "nightly", str(home))
    out = home / "outputs" / "2026-11-26"
    assert out.is_symlink()
    seen: list[bool] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.append((out / "summary.json").exists() and (out / "report.html").exists())

    t = threading.Thread(target=reader)
    t.start()
    for _ in range(3):
        pipeline.reconcile_and_publish(dt.date(2026, 11, 26), "rerun", str(home))
    stop.set()
    t.join()
    assert seen and all(seen)
    assert len(list((home / "outputs" / ".runs" / "2026-11-26").iterdir())) == 2  # current + previous
    assert json.loads((out / "summary.json").read_text())["mode"] == "rerun"


def test_parsing_in_one_step_and_staging_in_another_is_normalising(tmp_path: Path) -> None:
    """``recon run`` parses a channel in one worker process and stages it in another: the same statuses,
    staging files and quarantine as ``normalise_channel``, and nothing of the hand-over is left behind."""
    import shutil

    import yaml

    from pipelines.core.config import PROJECT_ROOT
    from pipelines.run import stages as pipeline

    rules = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules)
    inbox = tmp_path / "bank"
    inbox.mkdir()
    for sample in (PROJECT_ROOT / "data_samples" / "bank").glob("camt053_*.xml"):
        shutil.copy(sample, inbox)
    (inbox / "camt053_truncated.xml").write_bytes(b"<Document><BkToCstmrStmt><Stmt>")
    path = rules / "channels" / "bank_eu.yaml"
    raw = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**raw, "location": str(inbox)}))

    homes = {name: str(tmp_path / name) for name in ("one", "split")}
    for home in homes.values():
        pipeline.register_files([pipeline.ingest_channel("bank_eu", home, str(rules))], home, str(rules))
    one = pipeline.normalise_channel("bank_eu", dt.date(2026, 11, 26), homes["one"], str(rules))
    parsed = pipeline.parse_channel("bank_eu", dt.date(2026, 11, 26), homes["split"], str(rules))
    assert sorted("parked" in p for p in parsed) == [False, True]  # the truncated file is quarantined at once
    assert list((tmp_path / "split" / "tmp" / "parsed").glob("*.arrow"))
    split = pipeline.stage_channel("bank_eu", dt.date(2026, 11, 26), homes["split"], str(rules), parsed)

    assert sorted(s["status"] for s in one) == ["quarantined", "staged"]
    assert sorted(split, key=lambda s: s["file_id"]) == sorted(one, key=lambda s: s["file_id"])
    for sub in ("staging", "quarantine"):
        files = {
            p.relative_to(tmp_path / name / sub): p.read_bytes()
            for name in homes
            for p in (tmp_path / name / sub).rglob("*")
            if p.is_file()
        }
        assert files and all(
            (tmp_path / "one" / sub / rel).read_bytes() == (tmp_path / "split" / sub / rel).read_bytes()
            for rel in files
        )
    assert not list((tmp_path / "split" / "tmp" / "parsed").glob("*"))
