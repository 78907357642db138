"""Formula cells in the published CSVs are neutralised (OWASP CSV Injection: a leading ``'``), in text columns
only; numeric columns stay numbers and the Parquet twins keep the raw values; the HTML report escapes them."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from helpers import DAY, bank, order, psp, settings_in, stage

from pipelines.breaks import lifecycle
from pipelines.catalog.store import lifecycle_frames
from pipelines.core import schema
from pipelines.core.channels import load_channels
from pipelines.match.rules import load_rules
from pipelines.publish import csvsafe
from pipelines.publish.outputs import switch, write_outputs
from pipelines.publish.report import _banners
from pipelines.run.reconcile import reconcile
from pipelines.run.result import RunResult
from pipelines.validate.staging import rows_quarantine_path, write_parquet_atomic

HYPERLINK = '=HYPERLINK("http://x","y")'
PLUS = "+1+2"
AT = "@SUM(A1)"
MINUS = "-2+3"
TAB = "\tTAB"
CR = "\r=CR"
RAW = "=cmd|' /C calc'!A0,-12.50,EUR"


# ---- the rule --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("first", ["=", "+", "-", "@", "\t", "\r"])
def test_each_formula_start_is_prefixed(first: str) -> None:
    assert csvsafe.neutralise(first + "x") == "'" + first + "x"
    assert csvsafe.neutralise(first) == "'" + first


@pytest.mark.parametrize("value", [None, "", "abc", "a=b", " =1", "'=1", "1-2", "\n=1", "ORD-1", "é"])
def test_other_values_are_unchanged(value: str | None) -> None:
    assert csvsafe.neutralise(value) == value


def test_frame_rule_text_columns_only() -> None:
    values = [HYPERLINK, PLUS, AT, MINUS, TAB, CR, None, "", "ok", "-"]
    frame = pl.DataFrame(
        {
            "text": values,
            "cat": pl.Series(values, dtype=pl.Categorical),
            "enum": pl.Series(["=a", "b"] * 5, dtype=pl.Enum(["=a", "b"])),
            "amount": pl.Series([-1250, 5, -1, 0, None, -7, 1, 2, 3, -4], dtype=pl.Int64),
            "day": [dt.date(2026, 11, 26)] * 10,
            "rate": pl.Series([Decimal("-1.5")] * 10, dtype=pl.Decimal(38, 12)),
        }
    )
    out = csvsafe.neutralise_frame(frame)
    want = [csvsafe.neutralise(v) for v in values]
    assert out["text"].to_list() == want
    assert out["cat"].to_list() == want
    assert out["enum"].to_list() == ["'=a", "b"] * 5
    assert out["amount"].dtype == pl.Int64 and out["amount"].to_list() == frame["amount"].to_list()
    assert out["day"].equals(frame["day"]) and out["rate"].equals(frame["rate"])
    assert csvsafe.neutralise_frame(frame.select("amount")).equals(frame.select("amount"))


# ---- a run's published CSVs ---------------------------------------------------------------------------
ORDERS = [
    order(HYPERLINK, 1250, psp_reference=PLUS),  # matched
    order(AT, 500, psp_reference="r3", status="failed"),  # status_mismatch: breaks.csv and order_feedback.csv
    order(MINUS, 700, psp_reference="nothing"),  # order_not_settled
]
LINES = [
    psp(PLUS, 1250, fee=20, payout_id="P1"),
    psp("r3", 500, payout_id="P1"),
    psp(TAB, 900, payout_id="P2"),  # psp_line_without_order
    psp(None, 0, record_type="fee", net=-30, payout_id="P1"),  # a negative amount
    psp(None, 0, record_type="payout", net=-1700, payout_id="P1"),
]
QUARANTINED = {
    "file_id": "f_psp",
    "file_name": "f_psp",
    "channel": "adyen_eu",
    "line_no": len(LINES) + 2,
    "field": "gross",
    "reason": "-not a decimal amount",
    "raw": RAW,
    "amount_minor": -1250,
    "currency": "EUR",
}


def _run(tmp_path: Path, resolutions: dict[str, tuple[str, str, str]] | None = None) -> tuple[RunResult, Path]:
    s = settings_in(tmp_path)
    statuses = {
        "f_orders": stage(s, "orders", ORDERS, "f_orders"),
        "f_psp": stage(s, "psp_settlement_lines", LINES, "f_psp"),
        "f_bank": stage(s, "bank_statement_lines", [bank("P1", 1700)], "f_bank"),
    }
    q = schema.table("quarantine").conform(pl.DataFrame([QUARANTINED]))
    write_parquet_atomic(q, rows_quarantine_path(s, "adyen_eu", "f_psp"))
    statuses["f_psp"] = dataclasses.replace(statuses["f_psp"], rows_in=len(LINES) + 1, rows_quarantined=1)
    history = lifecycle.History(resolutions=resolutions or {})
    result = reconcile(
        s, DAY, load_rules(s.rules), load_channels(s.rules), statuses, {k: k for k in statuses}, history=history
    )
    folder = write_outputs(result, lifecycle_frames(DAY, result.run_id, result))
    return result, switch(s, DAY, folder)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _one(rows: list[dict[str, str]], **where: str) -> dict[str, str]:
    found = [r for r in rows if all(r[k] == v for k, v in where.items())]
    assert len(found) == 1, (where, found)
    return found[0]


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    first, _ = _run(tmp_path_factory.mktemp("first"))
    tab_break = first.breaks.filter(pl.col("item_ref") == TAB)["break_id"][0]
    _, out = _run(tmp_path_factory.mktemp("resolved"), {tab_break: ("accept", "=ops", "+<b>note</b>")})
    return out


def test_matches_are_parquet_only(published: Path) -> None:
    """Matches are a machine output: Parquet with the raw values, no CSV twin."""
    assert not (published / "matches.csv").exists()
    raw = pl.read_parquet(published / "matches.parquet")
    assert set(raw["item_ref"].to_list()) >= {HYPERLINK, PLUS}
    assert raw["amount_minor"].dtype == pl.Int64 and -30 in raw["amount_minor"].to_list()


def test_breaks_csv(published: Path) -> None:
    rows = _read_csv(published / "breaks.csv")
    tab = _one(rows, break_type="psp_line_without_order")
    assert tab["item_ref"] == "'" + TAB
    assert (tab["resolved_by"], tab["resolution_note"]) == ("'=ops", "'+<b>note</b>")
    assert tab["reason"].startswith("PSP payment \tTAB")  # not at the start of the cell: unchanged
    status = _one(rows, break_type="status_mismatch")
    assert (status["item_ref"], status["counter_ref"]) == ("r3", "'" + AT)
    assert _one(rows, break_type="order_not_settled")["item_ref"] == "'" + MINUS
    raw = pl.read_parquet(published / "breaks.parquet")
    assert set(raw["item_ref"].to_list()) >= {TAB, MINUS}
    assert raw.filter(pl.col("item_ref") == TAB).select("resolved_by", "resolution_note").row(0) == (
        "=ops",
        "+<b>note</b>",
    )


def test_order_feedback_csv(published: Path) -> None:
    rows = _read_csv(published / "order_feedback.csv")
    assert {r["order_id"] for r in rows} == {"'" + AT, "'" + MINUS}
    assert set(pl.read_parquet(published / "order_feedback.parquet")["order_id"].to_list()) == {AT, MINUS}


def test_quarantine_csv(published: Path) -> None:
    row = _one(_read_csv(published / "quarantine.csv"), line_no=str(QUARANTINED["line_no"]))
    assert (row["raw"], row["reason"], row["field"]) == ("'" + RAW, "'-not a decimal amount", "gross")
    assert (row["amount_minor"], row["currency"]) == ("-1250", "EUR")
    raw = pl.read_parquet(published / "quarantine.parquet").row(0, named=True)
    assert {k: raw[k] for k in QUARANTINED} == QUARANTINED


def test_numbers_stay_numbers(published: Path) -> None:
    positions = _read_csv(published / "positions.csv")[0]
    assert positions["fees_minor"] == "-50" and positions["variance_minor"] == "-900"
    funds = _read_csv(published / "fund_verification.csv")[0]
    assert funds["variance_minor"] == "-900"
    assert funds["explanation"].startswith("received -9.00 EUR")


def test_report_escapes_data(published: Path) -> None:
    page = (published / "report.html").read_text(encoding="utf-8")
    assert "<b>note</b>" not in page and "+&lt;b&gt;note&lt;/b&gt;" in page
    assert "&#x27;@SUM(A1)" not in page and "@SUM(A1)" in page  # the report shows the raw value, HTML-escaped


def test_report_late_banner_escapes_every_value() -> None:
    late: dict[str, Any] = {"channel": "<c>", "rows": "<r>", "row_date": "<d>", "lag_days": "<l>"}
    (banner,) = _banners({"intake": {"late": [late]}})
    assert "<c>" not in banner and "<r>" not in banner and "<d>" not in banner and "<l>" not in banner
    assert "&lt;r&gt; row(s) of &lt;d&gt;, &lt;l&gt; day(s) late" in banner
