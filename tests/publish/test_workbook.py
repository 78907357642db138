"""The run's workbook (``recon_<date>.xlsx``) and the decimal amount columns of the CSVs.

What the workbook guarantees, checked here on the sample day read back with openpyxl:

1. Sheets Summary, Breaks, Positions, Fund verification, Quarantine; each with a frozen header row and an
   autofilter over its header and rows.
2. Every amount (``*_minor``) is a number in major units, exactly the minor units scaled by the currency's
   ISO 4217 exponent, with as many decimals in its number format (JPY and CLP 0, EUR 2, BHD 3).
3. References and ids are text cells (a 16-digit PSP reference stays text); a text beginning with a formula
   character is stored neutralised (``csvsafe``: a leading ``'``); no cell is a formula.
4. The Breaks sheet has the empty resolution columns after ``break_id``, with the list of actions.
5. The same data gives the same bytes.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest

from pipelines.breaks.lifecycle import ACTIONS
from pipelines.core import money
from pipelines.publish import amounts
from pipelines.publish.workbook import (
    BREAKS,
    FUNDS,
    POSITIONS,
    QUARANTINE,
    RESOLUTION_COLUMNS,
    SHEETS,
    SUMMARY,
    WorkbookData,
    summary_rows,
    workbook_name,
    write_workbook,
)
from pipelines.run import stages as pipeline

DAY = dt.date(2026, 11, 26)
HYPERLINK = '=HYPERLINK("http://x","y")'


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample day's published outputs."""
    home = tmp_path_factory.mktemp("home")
    out = pipeline.run_all(DAY, "nightly", str(home))
    return Path(out["output"])


@pytest.fixture(scope="module")
def book(published: Path) -> Any:
    return openpyxl.load_workbook(published / workbook_name(DAY))


def _frames(published: Path) -> dict[str, pl.DataFrame]:
    return {n: pl.read_parquet(published / f"{n}.parquet") for n in ("breaks", "positions", "fund_verification")} | {
        "quarantine": pl.read_parquet(published / "quarantine.parquet")
    }


def _data(published: Path, **frames: pl.DataFrame) -> WorkbookData:
    f = _frames(published) | frames
    return WorkbookData(
        business_date=DAY,
        rules_version="v1",
        summary={},
        breaks=f["breaks"],
        positions=f["positions"],
        fund_verification=f["fund_verification"],
        quarantine=f["quarantine"],
    )


def _rows(sheet: Any) -> list[dict[str, Any]]:
    """The sheet's data rows as {header: cell}."""
    header = [c.value for c in sheet[1]]
    return [dict(zip(header, row, strict=False)) for row in sheet.iter_rows(min_row=2)]


def _decimals(number_format: str) -> int:
    """The decimals an amount's number format shows ('#,##0.00;-#,##0.00' -> 2)."""
    positive = number_format.split(";")[0]
    return len(positive.split(".")[1]) if "." in positive else 0


def _exact(value: Any) -> Decimal:
    """A number cell read back, as the decimal it was written (its shortest repr)."""
    assert isinstance(value, int | float) and not isinstance(value, bool), value
    return Decimal(repr(value))


# ---- the published workbook of the sample day ----------------------------------------------------------------
def test_sheets_frozen_header_and_autofilter(book: Any, published: Path) -> None:
    assert book.sheetnames == list(SHEETS)
    heights = {
        BREAKS: pl.read_parquet(published / "breaks.parquet").height,
        POSITIONS: pl.read_parquet(published / "positions.parquet").height,
        FUNDS: pl.read_parquet(published / "fund_verification.parquet").height,
        QUARANTINE: pl.read_parquet(published / "quarantine.parquet").height,
    }
    assert all(h > 0 for h in heights.values()), heights
    for sheet in book.worksheets:
        assert sheet.freeze_panes == ("B2" if sheet.title == BREAKS else "A2"), sheet.title
        last = openpyxl.utils.get_column_letter(sheet.max_column)
        assert sheet.auto_filter.ref == f"A1:{last}{sheet.max_row}", sheet.title
        if sheet.title in heights:
            assert sheet.max_row == heights[sheet.title] + 1
        assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row), sheet.title


def test_document_properties_name_the_run(book: Any, published: Path) -> None:
    props = {p.name: p.value for p in book.custom_doc_props}
    run = json.loads((published / ".catalog" / "run.json").read_text())
    assert props == {"business_date": DAY.isoformat(), "rules_version": run["rules_version"]}
    assert book.properties.created == dt.datetime(2026, 11, 26)  # the business date, not the clock


def test_psp_reference_and_ids_are_text(book: Any, published: Path) -> None:
    rows = _rows(book[BREAKS])
    psp_refs = [r["item_ref"] for r in rows if str(r["item_ref"].value or "").isdigit()]
    assert any(len(c.value) == 16 for c in psp_refs), [c.value for c in psp_refs]
    for cell in psp_refs:
        assert cell.data_type == "s" and isinstance(cell.value, str) and cell.number_format == "@"
    raw = pl.read_parquet(published / "breaks.parquet")
    assert [r["break_id"].value for r in rows] == raw["break_id"].to_list()
    for name in ("break_id", "file_id", "counter_ref", "counter_file_id"):
        assert all(r[name].data_type == "s" for r in rows if r[name].value is not None), name
    quarantined = _rows(book[QUARANTINE])
    assert all(r["file_id"].data_type == "s" and len(r["file_id"].value) == 64 for r in quarantined)


def test_amounts_are_exact_numbers_with_the_currency_decimals(book: Any, published: Path) -> None:
    raw = pl.read_parquet(published / "breaks.parquet")
    rows = _rows(book[BREAKS])
    assert "amount_minor" not in [c.value for c in book[BREAKS][1]]  # shown as `amount`, in major units
    assert {"amount_minor", "counter_amount_minor", "amount_reporting_minor"} <= set(amounts.amount_columns(raw))
    seen: set[str] = set()
    for want, row in zip(raw.iter_rows(named=True), rows, strict=True):
        for minor, currency in amounts.amount_columns(raw).items():  # the money-at-risk ones too, when present
            shown = minor.removesuffix("_minor")
            if want[minor] is None:
                assert row[shown].value is None
                continue
            cell, exponent = row[shown], money.exponent(want[currency])
            assert cell.data_type == "n"
            assert _exact(cell.value) == Decimal(want[minor]).scaleb(-exponent)
            assert _decimals(cell.number_format) == exponent, (want[currency], cell.number_format)
            seen.add(want[currency])
    assert {"CLP", "EUR"} <= seen  # a currency without decimals and one with two
    clp = [r for r in _rows(book[POSITIONS]) if r["currency"].value == "CLP"]
    assert clp and all(_decimals(r["net_expected"].number_format) == 0 for r in clp)
    assert all(isinstance(r["net_expected"].value, int) for r in clp)


def test_breaks_sheet_has_the_resolution_columns(book: Any) -> None:
    sheet = book[BREAKS]
    header = [c.value for c in sheet[1]]
    at = header.index("break_id")
    assert tuple(header[at + 1 : at + 4]) == RESOLUTION_COLUMNS
    rows = _rows(sheet)
    assert all(r[c].value is None for r in rows for c in RESOLUTION_COLUMNS)
    assert all(r[c].number_format == "@" for r in rows for c in RESOLUTION_COLUMNS)  # typed values stay text
    (validation,) = sheet.data_validations.dataValidation
    column = openpyxl.utils.get_column_letter(header.index("resolve_action") + 1)
    assert validation.type == "list" and str(validation.sqref) == f"{column}2:{column}{sheet.max_row}"
    assert validation.formula1 == '"' + ",".join(ACTIONS) + '"'


def test_summary_sheet(book: Any, published: Path) -> None:
    rows = [tuple(c.value for c in r) for r in book[SUMMARY].iter_rows(min_row=2)]
    assert rows[0][:3] == ("run", "business_date", dt.datetime(2026, 11, 26))
    figures = {(s, i): (v, c) for s, i, v, c in rows}
    assert figures[("breaks", "total")] == (23, None)
    assert figures[("invariants", "amounts_conserved")] == ("holds", None)
    # an amount of summary.json is in major units, in its currency
    value, currency = figures[("net_by_currency", "CLP / net_expected")]
    assert currency == "CLP" and isinstance(value, int)
    value, currency = figures[("net_by_currency", "BRL / net_expected_reporting")]
    assert currency == "EUR" and _exact(value) == _exact(value).quantize(Decimal("0.01"))


# ---- written from frames: other currencies, hostile text, future columns, determinism ----------------------
def test_jpy_bhd_clp_and_formula_text(tmp_path: Path, published: Path) -> None:
    breaks = pl.read_parquet(published / "breaks.parquet")
    first = breaks.row(0, named=True)
    planted = [
        first | {"break_id": "Bjpy", "item_ref": HYPERLINK, "amount_minor": 123456, "currency": "JPY"},
        first | {"break_id": "Bbhd", "item_ref": "+1+2", "amount_minor": -1234567, "currency": "BHD"},
        first | {"break_id": "Bclp", "item_ref": "@SUM(A1)", "amount_minor": 5, "currency": "CLP"},
        first
        | {"break_id": "Bminus", "item_ref": "-2+3", "amount_minor": -5, "currency": "EUR", "resolved_by": "=ops"},
    ]
    frame = pl.concat([breaks, pl.DataFrame(planted, schema=breaks.schema)])
    path = write_workbook(_data(published, breaks=frame), tmp_path / "w.xlsx")
    rows = {r["break_id"].value: r for r in _rows(openpyxl.load_workbook(path)[BREAKS])}
    expected = {
        "Bjpy": ("'" + HYPERLINK, Decimal(123456), 0),
        "Bbhd": ("'+1+2", Decimal("-1234.567"), 3),
        "Bclp": ("'@SUM(A1)", Decimal(5), 0),
        "Bminus": ("'-2+3", Decimal("-0.05"), 2),
    }
    for break_id, (ref, amount, decimals) in expected.items():
        row = rows[break_id]
        assert row["item_ref"].value == ref and row["item_ref"].data_type == "s"
        assert _exact(row["amount"].value) == amount and _decimals(row["amount"].number_format) == decimals
    assert rows["Bminus"]["resolved_by"].value == "'=ops"
    assert rows["Bjpy"]["amount"].number_format == "#,##0;-#,##0"


def test_money_at_risk_columns_when_the_breaks_have_them(tmp_path: Path, published: Path) -> None:
    breaks = pl.read_parquet(published / "breaks.parquet")
    with_risk = breaks.with_columns(
        pl.lit(1005, pl.Int64).alias("at_risk_minor"),
        pl.lit("BHD").alias("at_risk_currency"),
        pl.lit(-250, pl.Int64).alias("at_risk_reporting_minor"),
        pl.lit(DAY).alias("fx_rate_date"),
        pl.lit("orders_2026-11-26.csv").alias("file_name"),
    )
    path = write_workbook(_data(published, breaks=with_risk), tmp_path / "w.xlsx")
    rows = _rows(openpyxl.load_workbook(path)[BREAKS])
    assert rows and all(_exact(r["at_risk"].value) == Decimal("1.005") for r in rows)
    assert all(_decimals(r["at_risk"].number_format) == 3 for r in rows)
    assert all(_exact(r["at_risk_reporting"].value) == Decimal("-2.50") for r in rows)  # EUR, the reporting currency
    assert all(r["file_name"].data_type == "s" and r["fx_rate_date"].is_date for r in rows)


def test_unknown_currency_amount_is_not_a_number(tmp_path: Path, published: Path) -> None:
    q = pl.read_parquet(published / "quarantine.parquet")
    odd = q.head(1).with_columns(pl.lit(1234, pl.Int64).alias("amount_minor"), pl.lit("XYZ").alias("currency"))
    path = write_workbook(_data(published, quarantine=odd), tmp_path / "w.xlsx")
    (row,) = _rows(openpyxl.load_workbook(path)[QUARANTINE])
    assert row["amount"].value == "1234 minor units" and row["amount"].data_type == "s"


def test_empty_frames(tmp_path: Path, published: Path) -> None:
    empty = {n: f.head(0) for n, f in _frames(published).items()}
    path = write_workbook(_data(published, **empty), tmp_path / "w.xlsx")
    book = openpyxl.load_workbook(path)
    assert [s.max_row for s in book.worksheets[1:]] == [1, 1, 1, 1]
    assert [c.value for c in book[BREAKS][1]][1:5] == ["break_id", *RESOLUTION_COLUMNS]
    assert all(s.freeze_panes and s.auto_filter.ref for s in book.worksheets)


def test_same_data_same_bytes(tmp_path: Path, published: Path) -> None:
    data = _data(published)
    first = write_workbook(data, tmp_path / "a.xlsx").read_bytes()
    assert write_workbook(data, tmp_path / "b.xlsx").read_bytes() == first
    assert b"2026-11-26T00:00:00Z" in _core_xml(tmp_path / "a.xlsx")


def _core_xml(path: Path) -> bytes:
    import zipfile

    with zipfile.ZipFile(path) as z:
        return z.read("docProps/core.xml")


def test_summary_rows_amounts_and_lists() -> None:
    data = WorkbookData(
        business_date=DAY,
        rules_version="v",
        summary={
            "money_at_risk": {
                "total_reporting_minor": 12345,
                "reporting_currency": "EUR",
                "by_counterparty": [
                    {"counterparty": "adyen_eu", "currency": "JPY", "at_risk_minor": 500, "at_risk_reporting_minor": 3}
                ],
                "by_bucket": [{"bucket": "0-1", "at_risk_reporting_minor": 7}],
            },
            "completeness": {"complete": False, "reasons": ["no bank statement", "=late"]},
            "positions": [{"counterparty": "x"}],
            "loose_reporting_minor": 9,
            "invariants": {"one_outcome": {"ok": False, "detail": ["3 rows"]}},
        },
        breaks=pl.DataFrame(),
        positions=pl.DataFrame(),
        fund_verification=pl.DataFrame(),
        quarantine=pl.DataFrame(),
    )
    rows = summary_rows(data)
    assert ("completeness", "reasons", "no bank statement; =late", None) in rows
    assert ("money_at_risk", "total_reporting", Decimal("123.45"), "EUR") in rows
    assert ("money_at_risk", "by_counterparty / adyen_eu / JPY / at_risk", Decimal(500), "JPY") in rows
    # an amount in the reporting currency its parent names, never in the element's own currency
    assert ("money_at_risk", "by_counterparty / adyen_eu / JPY / at_risk_reporting", Decimal("0.03"), "EUR") in rows
    assert ("money_at_risk", "by_bucket / 0-1 / at_risk_reporting", Decimal("0.07"), "EUR") in rows
    assert ("figures", "loose_reporting_minor", 9, None) in rows  # no currency known: kept in minor units
    assert ("invariants", "one_outcome", "FAILED 3 rows", None) in rows
    assert not any(r[0] == "positions" for r in rows)  # on their own sheet
    assert [r[0] for r in rows[2:4]] == ["completeness", "completeness"]  # what an analyst reads first


# ---- CSVs: decimal amount columns -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("table", "pairs"),
    [
        (
            "breaks",
            {"amount": "currency", "counter_amount": "counter_currency", "amount_reporting": "reporting_currency"},
        ),
        ("positions", {"net_expected": "currency", "variance": "currency", "fees": "currency"}),
        ("fund_verification", {"expected": "currency", "received": "currency", "variance": "currency"}),
        ("net_by_currency", {"net_expected": "currency", "net_expected_reporting": "reporting_currency"}),
        ("quarantine", {"amount": "currency"}),
    ],
)
def test_csv_decimal_columns(published: Path, table: str, pairs: dict[str, str]) -> None:
    with (published / f"{table}.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    raw = pl.read_parquet(published / f"{table}.parquet")
    assert rows and len(rows) == raw.height
    assert not set(pairs) & set(raw.columns)  # the Parquet file keeps its contract's columns only
    # every amount of the table (the money-at-risk ones too, when the contract has them), after its columns
    every = {minor.removesuffix("_minor"): currency for minor, currency in amounts.amount_columns(raw).items()}
    assert pairs.items() <= every.items()
    assert list(rows[0])[: len(raw.columns)] == raw.columns and set(list(rows[0])[len(raw.columns) :]) == set(every)
    for row in rows:
        for shown, currency in every.items():
            minor = row[f"{shown}_minor"]
            known = row[currency] in money.exponents()
            want = money.format_minor(int(minor), row[currency]) if minor and known else ""
            assert row[shown] == want, (table, shown, row)
    assert any(row[next(iter(pairs))] for row in rows)


def test_decimal_text_matches_format_minor() -> None:
    cases = [(m, c) for c in ("EUR", "JPY", "BHD", "CLP", "CLF") for m in (0, 1, -1, 5, -5, 99, 100, -1234567, 10**15)]
    frame = pl.DataFrame({"x_minor": [m for m, _ in cases], "currency": [c for _, c in cases]})
    out = amounts.with_decimal_text(frame)
    assert out["x"].to_list() == [money.format_minor(m, c) for m, c in cases]
    nulls = amounts.with_decimal_text(pl.DataFrame({"amount_minor": [1, None], "currency": ["XYZ", "EUR"]}))
    assert nulls["amount"].to_list() == [None, None]


@pytest.mark.parametrize(
    ("amount", "columns", "currency"),
    [
        ("amount_minor", ["currency"], "currency"),
        ("counter_amount_minor", ["currency", "counter_currency"], "counter_currency"),
        ("amount_reporting_minor", ["currency", "reporting_currency"], "reporting_currency"),
        ("at_risk_minor", ["currency", "at_risk_currency", "reporting_currency"], "at_risk_currency"),
        ("at_risk_reporting_minor", ["currency", "at_risk_currency", "reporting_currency"], "reporting_currency"),
        ("net_expected_minor", ["currency"], "currency"),
        ("amount_reporting_minor", ["currency"], None),
        ("rows_minor", ["channel"], None),
        ("amount", ["currency"], None),
    ],
)
def test_currency_column(amount: str, columns: list[str], currency: str | None) -> None:
    assert amounts.currency_column(amount, columns) == currency
