"""Plausibility of the rows before staging: a row dated far from the run's business date, a reference holding a
control character or longer than the channel allows, and a NUL byte anywhere in a row are quarantined row by
row, with a reason naming the file, line, field, value and rule; the other rows of the file are staged.

Invariants asserted after every normalisation here:

1. every row of the file is staged or quarantined, once: ``rows_in == rows_staged + rows_quarantined``;
2. a quarantined line is nowhere in staging, and every staged line passed every rule.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from helpers import settings_in

from pipelines.catalog.store import FileRecord, FileStatus
from pipelines.core.channels import Channel, DateWindow, RulesError, load_channels
from pipelines.core.config import PROJECT_ROOT, Settings
from pipelines.ingest import landing as ingest
from pipelines.validate.normalise import normalise_file
from pipelines.validate.plausibility import REFERENCE_COLUMNS
from pipelines.validate.staging import rows_quarantine_path

DAY = dt.date(2026, 11, 26)
NOW = dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.UTC)
HEADER = "order_id,psp_channel,psp_reference,merchant_account,status,amount,currency,created_at"


def order_line(order_id: str, created: str = "2026-11-26T10:00:00Z", psp_reference: str = "PSP1") -> str:
    return f"{order_id},adyen_eu,{psp_reference},PayPlatformEU,succeeded,10.00,EUR,{created}"


def normalise(tmp_path: Path, lines: list[str], **channel: Any) -> tuple[FileStatus, pl.DataFrame, pl.DataFrame, str]:
    """Land an orders file of ``lines`` (after the header) and normalise it for the run of DAY: its status,
    staged rows, quarantined rows and file name."""
    settings = settings_in(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    name = "orders_2026-11-26.csv"
    (inbox / name).write_bytes(("\n".join([HEADER, *lines]) + "\n").encode("utf-8"))
    ch = Channel.model_validate(
        {"id": "orders", "kind": "orders", "format": "orders_csv", "location": str(inbox), "pattern": "*.csv"} | channel
    )
    (rec,), _ = ingest.pull_channel(ch, settings, NOW)
    status = normalise_file(rec, ch, settings, DAY)
    return status, staged(settings), quarantined(settings, rec), name


def staged(settings: Settings) -> pl.DataFrame:
    files = sorted(settings.staging.rglob("*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files]).sort("line_no") if files else pl.DataFrame()


def quarantined(settings: Settings, rec: FileRecord) -> pl.DataFrame:
    path = rows_quarantine_path(settings, rec.channel, rec.file_id)
    return pl.read_parquet(path) if path.exists() else pl.DataFrame()


def assert_accounted(status: FileStatus, staged_rows: pl.DataFrame, quarantine: pl.DataFrame) -> None:
    assert status.rows_in == status.rows_staged + status.rows_quarantined
    assert status.rows_staged == staged_rows.height
    q_lines = set(quarantine["line_no"].to_list()) if quarantine.height else set()
    assert status.rows_quarantined == len(q_lines)
    assert not q_lines & set(staged_rows["line_no"].to_list() if staged_rows.height else [])


def test_rows_dated_far_from_the_run_are_quarantined_row_by_row(tmp_path: Path) -> None:
    status, rows, quarantine, name = normalise(
        tmp_path,
        [
            order_line("ORD-1"),
            order_line("ORD-2", created="9999-12-31T10:00:00Z"),
            order_line("ORD-3", created="1970-01-01T00:00:00Z"),
            order_line("ORD-4", created="2026-11-20T10:00:00Z"),
        ],
    )
    assert_accounted(status, rows, quarantine)
    assert status.status == "staged" and rows["order_id"].to_list() == ["ORD-1", "ORD-4"]
    assert status.business_dates == [dt.date(2026, 11, 20), DAY]  # the far dates move no row out of the day
    by_line = {(r["line_no"], r["field"]): r["reason"] for r in quarantine.iter_rows(named=True)}
    assert set(by_line) == {(3, "business_date"), (3, "created_at"), (4, "business_date"), (4, "created_at")}
    window = (
        "outside the plausible dates 2025-10-22 to 2026-12-27 (400 days before to 31 days after the run's "
        "business date 2026-11-26; channel orders dates.days_before / dates.days_after)"
    )
    assert by_line[(3, "created_at")] == f"{name}: line 3: field created_at 9999-12-31T10:00:00Z is {window}"
    assert by_line[(4, "business_date")] == f"{name}: line 4: field business_date 1970-01-01 is {window}"
    raw = quarantine.filter(pl.col("line_no") == 3)["raw"][0]
    assert "order_id=ORD-2" in raw and "amount_minor=1000" in raw
    assert quarantine.filter(pl.col("line_no") == 3)["amount_minor"].to_list() == [1000, 1000]


@pytest.mark.parametrize(
    ("created", "kept"),
    [
        ("2026-11-16T00:00:00Z", True),  # 10 days before: the first plausible date
        ("2026-11-15T23:59:59Z", False),
        ("2026-11-28T23:59:59Z", True),  # 2 days after: the last plausible date
        ("2026-11-29T00:00:00Z", False),
    ],
)
def test_the_date_window_is_the_channels_and_exact_at_its_edges(tmp_path: Path, created: str, kept: bool) -> None:
    status, rows, quarantine, _ = normalise(
        tmp_path, [order_line("ORD-1", created=created)], dates={"days_before": 10, "days_after": 2}
    )
    assert_accounted(status, rows, quarantine)
    assert (status.rows_staged, status.rows_quarantined) == ((1, 0) if kept else (0, 1))
    if not kept:
        assert "2026-11-16 to 2026-11-28 (10 days before to 2 days after" in quarantine["reason"][0]


def test_references_with_control_characters_or_too_long_are_quarantined(tmp_path: Path) -> None:
    status, rows, quarantine, name = normalise(
        tmp_path,
        [
            order_line("ORD-1"),
            order_line("ORD-2", psp_reference="AB\x00CD"),  # a NUL byte in a reference
            order_line("ORD\x1b[31m-3"),  # an escape sequence in the order id
            order_line("ORD-4", psp_reference="R" * 21),
            order_line("ORD-5", psp_reference="R" * 20),  # exactly the limit
            order_line("ORD\u200b-6"),  # a zero-width space: looks like ORD-6, never matches it
        ],
        references={"max_chars": 20},
    )
    assert_accounted(status, rows, quarantine)
    assert rows["order_id"].to_list() == ["ORD-1", "ORD-5"]
    by_line = {r["line_no"]: (r["field"], r["reason"]) for r in quarantine.iter_rows(named=True)}
    assert by_line[3][0] == "record" and "NUL byte" in by_line[3][1]  # the record itself holds a NUL byte
    assert by_line[4] == (
        "order_id",
        f"{name}: line 4: field order_id holds a control character \\x1b at character 4 (a reference holds "
        "none): 'ORD\\x1b[31m-3'",
    )
    assert by_line[5] == (
        "psp_reference",
        f"{name}: line 5: field psp_reference is 21 characters long, above the limit of 20 "
        f"(channel orders references.max_chars): '{'R' * 21}'",
    )
    assert by_line[7] == (
        "order_id",
        f"{name}: line 7: field order_id holds a control character \\u200b at character 4 (a reference holds "
        "none): 'ORD\\u200b-6'",
    )


def test_a_long_value_is_shown_cut_and_escaped(tmp_path: Path) -> None:
    status, _, quarantine, _ = normalise(tmp_path, [order_line("ORD-1", psp_reference="x" * 150 + "\t" + "x" * 150)])
    assert status.rows_quarantined == 1
    reasons = sorted(quarantine["reason"].to_list())
    assert any("is 301 characters long, above the limit of 256" in r for r in reasons)
    assert any("holds a control character \\x09 at character 151" in r for r in reasons)
    assert all("... (301 characters)" in r and len(r) < 400 for r in reasons)


def test_a_nul_byte_in_a_column_the_format_does_not_read_is_not_accepted(tmp_path: Path) -> None:
    header_extra = HEADER + ",note"
    settings = settings_in(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    lines = [header_extra, order_line("ORD-1") + ",fine", order_line("ORD-2") + ",bad\x00note"]
    (inbox / "orders.csv").write_bytes(("\n".join(lines) + "\n").encode())
    ch = Channel(id="orders", kind="orders", format="orders_csv", location=str(inbox), pattern="*.csv")
    (rec,), _ = ingest.pull_channel(ch, settings, NOW)
    status = normalise_file(rec, ch, settings, DAY)
    quarantine = quarantined(settings, rec)
    assert_accounted(status, staged(settings), quarantine)
    assert quarantine.select("line_no", "field").rows() == [(3, "record")]
    assert quarantine["reason"][0].startswith("NUL byte (\\x00) in the record, at byte ")


def test_reference_columns_are_text_columns_of_their_tables() -> None:
    from pipelines.core import schema

    for table, columns in REFERENCE_COLUMNS.items():
        t = schema.table(table)
        assert all(t.column(c).type == "string" for c in columns), table


def _rules_with(tmp_path: Path, extra: str) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules)
    with (rules / "channels" / "orders.yaml").open("a", encoding="utf-8") as handle:
        handle.write(extra)
    return rules


def test_channel_options_load_with_their_defaults_and_are_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pipelines.cli.main import main

    defaults = load_channels(PROJECT_ROOT / "rules")["orders"]
    assert (defaults.dates.days_before, defaults.dates.days_after, defaults.references.max_chars) == (400, 31, 256)
    assert DateWindow().bounds(DAY) == (dt.date(2025, 10, 22), dt.date(2026, 12, 27))

    good = _rules_with(tmp_path / "good", "dates: {days_before: 40, days_after: 3}\nreferences: {max_chars: 64}\n")
    orders = load_channels(good)["orders"]
    assert (orders.dates.days_before, orders.dates.days_after, orders.references.max_chars) == (40, 3, 64)
    assert main(["rules", "check", str(good)]) == 0

    bad = _rules_with(tmp_path / "bad", "dates: {days_before: -1, days: 3}\nreferences: {max_chars: 0}\n")
    with pytest.raises(RulesError) as exc:
        load_channels(bad)
    text = str(exc.value)
    assert "orders.yaml: channel orders: field 'dates.days_before': Input should be greater than or equal to 0" in text
    assert "field 'dates.days': Extra inputs are not permitted" in text
    assert "field 'references.max_chars': Input should be greater than or equal to 1" in text
    capsys.readouterr()
    assert main(["rules", "check", str(bad)]) == 1
    assert "field 'dates.days_before'" in capsys.readouterr().out


def test_screening_keeps_the_kind_of_result_and_what_it_carries() -> None:
    """A parser may return a ``ParseResult`` subclass carrying more (its control checks): screening keeps it."""
    from dataclasses import dataclass, field

    from pipelines.core import schema
    from pipelines.formats.base import ParseResult, empty_rejects
    from pipelines.validate.plausibility import screen

    @dataclass
    class Carrying(ParseResult):
        notes: list[str] = field(default_factory=list)

    frame = schema.table("fx_rates").conform(
        pl.DataFrame(
            {
                "file_id": ["f" * 64] * 2,
                "line_no": [2, 3],
                "channel": ["fx"] * 2,
                "business_date": [DAY, dt.date(9999, 1, 1)],
                "base_currency": ["EUR"] * 2,
                "quote_currency": ["USD", "GBP"],
                "rate": [1, 2],
            }
        )
    )
    given = Carrying("fx_rates", frame, empty_rejects(), 2, notes=["checked"])
    channel = Channel(id="fx", kind="reference", location=".", format="fx_rates_csv")
    out = screen(given, channel, "rates.csv", DAY)
    assert isinstance(out, Carrying) and out.notes == ["checked"]
    assert (out.rows_in, out.frame["line_no"].to_list(), out.rejects.select("line_no", "currency").rows()) == (
        2,
        [2],
        [(3, "GBP")],
    )
    assert screen(given, channel, "rates.csv", None) is given  # no run date: no window
