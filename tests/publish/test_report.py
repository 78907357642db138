"""The HTML report (``pipelines.publish.report``) on small runs built here: exact amounts, the money at risk
section, the default order of the breaks, the raw records of the landed files, the links to the previous and
next business dates, closed breaks, the trend over earlier runs, escaping, determinism and the bounds that keep
a run with many thousands of breaks quick to render. The browser tests (``test_report_browser.py``) drive the
page of the sample day."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from pipelines.core import schema
from pipelines.publish import report
from pipelines.publish.report import fmt_amount, render_report
from pipelines.run.result import RunResult

DAY = dt.date(2026, 11, 27)  # a Friday
SHA_ORDERS = "a" * 64
SHA_BANK = "b" * 64


def empty(table: str) -> pl.DataFrame:
    return pl.DataFrame(schema=schema.table(table).polars_schema())


def brk(n: int, **over: Any) -> dict[str, Any]:
    """A break of the ``breaks`` contract: an open order not settled, 10.00 EUR at risk, unless told."""
    row: dict[str, Any] = {
        "business_date": DAY,
        "break_id": f"B{n:016x}",
        "break_type": "order_not_settled",
        "channel": "orders",
        "counterparty": "adyen_eu",
        "item_table": "orders",
        "item_ref": f"ORD-{n:07d}",
        "amount_minor": 1000,
        "currency": "EUR",
        "item_count": 1,
        "reason": f"order ORD-{n:07d} (10.00 EUR) has no counterpart under any rule of 10_orders_psp.yaml",
        "status": "open",
        "first_seen": DAY,
        "last_seen": DAY,
        "age_days": 0,
        "aging_bucket": "0-1",
        "at_risk_minor": 1000,
        "at_risk_currency": "EUR",
        "at_risk_reporting_minor": 1000,
        "amount_reporting_minor": 1000,
        "reporting_currency": "EUR",
        "fx_rate": Decimal(1),
        "closest_rule": "order_psp_reference_exact",
    }
    return {**row, **over}


def frame(table: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    if not rows:
        return empty(table)
    return schema.table(table).conform(pl.DataFrame(rows, infer_schema_length=None))


def run_folder(home: Path, day: dt.date = DAY) -> Path:
    """A run folder laid out as ``outputs.new_run_folder`` lays it out in workspace ``home``."""
    folder = home / "outputs" / ".runs" / day.isoformat() / "r1-abc"
    folder.mkdir(parents=True)
    return folder


def result_of(
    breaks: list[dict[str, Any]],
    folder: Path,
    summary: dict[str, Any] | None = None,
    closed: list[dict[str, Any]] | None = None,
    day: dt.date = DAY,
) -> RunResult:
    return RunResult(
        business_date=day,
        run_id="r1",
        mode="nightly",
        rules_version="v1",
        folder=folder,
        breaks=frame("breaks", breaks),
        positions=empty("positions"),
        manifest=empty("run_manifest"),
        quarantine=empty("quarantine"),
        closed_breaks=frame("closed_breaks", closed or []),
        order_feedback=empty("order_feedback"),
        fund_verification=empty("fund_verification"),
        net_by_currency=empty("net_by_currency"),
        open_items=pl.DataFrame(),
        receipts=pl.DataFrame(),
        intake=pl.DataFrame(),
        completeness={"complete": True, "reasons": []},
        summary=summary or {"breaks": {"open": len(breaks)}},
    )


def listed_ids(page: str) -> list[str]:
    """The break ids of the breaks table, in the page's order."""
    return re.findall(r'<tbody class="brk" id="brk-([^"]+)"', page)


# ---- amounts ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (123456, "EUR", "1,234.56 EUR"),
        (-5, "EUR", "-0.05 EUR"),
        (0, "EUR", "0.00 EUR"),
        (1234, "JPY", "1,234 JPY"),
        (2733902, "CLP", "2,733,902 CLP"),
        (5, "BHD", "0.005 BHD"),
        (-1234567, "KWD", "-1,234.567 KWD"),
        # beyond 2**53: a float would print ...456.80
        (123456789012345678, "EUR", "1,234,567,890,123,456.78 EUR"),
    ],
)
def test_amounts_are_exact_to_the_currency_exponent(minor: int, currency: str, shown: str) -> None:
    assert fmt_amount(minor, currency) == shown


def test_an_amount_without_currency_or_minor_unit() -> None:
    assert fmt_amount(None, "EUR") == "" and fmt_amount(5, None) == ""
    assert fmt_amount(0, "XXX") == ""  # a file break: no amount known
    assert fmt_amount(7, "XXX") == "7 (minor units) XXX"


def test_page_amounts_are_the_exact_figures(tmp_path: Path) -> None:
    big = 123456789012345678
    rows = [brk(1, amount_minor=big, at_risk_minor=big, at_risk_reporting_minor=big, amount_reporting_minor=big)]
    page = render_report(result_of(rows, run_folder(tmp_path)))
    assert "1,234,567,890,123,456.78 EUR" in page
    assert f'data-s-risk="{big}"' in page  # the script sums these as BigInt: exact too


# ---- money at risk ---------------------------------------------------------------------------------------
MONEY_AT_RISK = {
    "reporting_currency": "EUR",
    "total_reporting_minor": 1234567,
    "open_breaks": 3,
    "by_counterparty_currency": [
        {
            "counterparty": "adyen_eu",
            "currency": "CLP",
            "breaks": 1,
            "at_risk_minor": 2733902,
            "at_risk_reporting_minor": 270196,
        },
        {
            "counterparty": "stripe_eu",
            "currency": "MXN",
            "breaks": 2,
            "at_risk_minor": 1000,
            "at_risk_reporting_minor": None,
        },
    ],
    "by_aging": [
        {"aging_bucket": "0-1", "breaks": 2, "at_risk_reporting_minor": 1000},
        {"aging_bucket": ">30", "breaks": 1, "at_risk_reporting_minor": 1233567},
    ],
    "by_sla": [
        {"sla_status": "breached", "breaks": 1, "at_risk_reporting_minor": 1233567},
        {"sla_status": "none", "breaks": 2, "at_risk_reporting_minor": 1000},
    ],
    "new": {"breaks": 2, "at_risk_reporting_minor": 1000},
    "carried": {"breaks": 1, "at_risk_reporting_minor": 1233567},
    "closed": {"breaks": 4, "at_risk_reporting_minor": 99},
}


def test_money_at_risk_heads_the_page(tmp_path: Path) -> None:
    summary = {"money_at_risk": MONEY_AT_RISK, "breaks": {"open": 3}}
    page = render_report(result_of([brk(1)], run_folder(tmp_path), summary))
    risk = page.index('id="risk"')
    assert risk < page.index('id="breaks"')
    section = page[risk : page.index('id="breaks"')]
    assert '<div class="big" id="risk-total">12,345.67 EUR</div>' in section
    assert "across 3 open breaks" in section
    assert "2,733,902 CLP" in section and "2,701.96 EUR" in section
    assert "no rate" in section  # the MXN row has no reporting amount
    assert re.search(r">closed</th><td class=\"num\">4</td><td class=\"num\">0.99 EUR<", section)
    assert 'data-filter-aging="&gt;30"' in section  # a bar of the aging chart filters the table
    assert 'data-filter-sla="breached"' in section


def test_without_money_at_risk_the_section_is_left_out(tmp_path: Path) -> None:
    page = render_report(result_of([brk(1)], run_folder(tmp_path)))
    assert 'id="risk"' not in page and 'href="#risk"' not in page
    assert 'id="breaks-table"' in page


# ---- the breaks table ------------------------------------------------------------------------------------
def test_breaks_default_to_money_at_risk_then_age(tmp_path: Path) -> None:
    rows = [
        brk(1, at_risk_reporting_minor=500, age_days=1),
        brk(2, at_risk_reporting_minor=9000, age_days=0),
        brk(3, at_risk_reporting_minor=500, age_days=9, aging_bucket="8-30"),
        brk(4, at_risk_reporting_minor=None, fx_rate=None),  # no rate: last
        brk(5, at_risk_reporting_minor=0, at_risk_minor=0, break_type="expected_file_missing"),
    ]
    page = render_report(result_of(rows, run_folder(tmp_path)))
    assert listed_ids(page) == [brk(n)["break_id"] for n in (2, 3, 1, 5, 4)]
    assert 'data-key="risk" data-attr="data-s-risk" data-numeric aria-sort="descending"' in page


def test_filters_offer_the_values_of_the_listed_breaks(tmp_path: Path) -> None:
    rows = [
        brk(1, sla_status="breached", sla_days=1, age_days=3, aging_bucket="2-3"),
        brk(2, channel="bank_eu", counterparty="bank_eu", currency="GBP", break_type="bank_credit_without_payout"),
        brk(3, status="resolved", resolution_action="write_off", resolved_by="ana@ops"),
    ]
    page = render_report(result_of(rows, run_folder(tmp_path)))
    for key, value in [
        ("type", "bank_credit_without_payout"),
        ("channel", "bank_eu"),
        ("counterparty", "adyen_eu"),
        ("currency", "GBP"),
        ("status", "resolved"),
        ("sla", "breached"),
        ("aging", "2-3"),
    ]:
        block = page[page.index(f'data-filter="{key}"') :]
        block = block[: block.index("</select>")]
        assert f'<option value="{value}">' in block, key
    # the resolved break counts in the listing, not in the money still at risk
    assert 'data-status="resolved"' in page and 'data-open-risk="0"' in page
    assert '<span id="brk-risk">20.00 EUR</span>' in page


def test_every_value_is_escaped(tmp_path: Path) -> None:
    evil = '<script>alert("x")</script>'
    rows = [brk(1, reason=evil, item_ref=evil, counterparty=evil, resolution_note=evil, resolution_action="accept")]
    page = render_report(result_of(rows, run_folder(tmp_path)))
    assert evil not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page


def test_the_page_is_self_contained_and_deterministic(tmp_path: Path) -> None:
    result = result_of([brk(n) for n in range(5)], run_folder(tmp_path))
    page = render_report(result)
    assert page == render_report(result)
    assert "default-src 'none'" in page  # its Content Security Policy lets nothing be fetched
    assert not re.search(r"\b(src|href)=\"(?!#|\.\./\d{4}-\d{2}-\d{2}/report\.html|data:)", page)
    assert "<script>" in page and "<style>" in page and "<svg" in page


def test_many_breaks_render_quickly_within_the_bounds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    n = 20_000
    rows = [brk(i, at_risk_reporting_minor=i, at_risk_minor=i, age_days=i % 40) for i in range(n)]
    wanted: list[int] = []
    real = report.raw_records

    def counted(landing: Path | None, lines: list[tuple[str, int]]) -> dict[tuple[str, int], report.RawRecord]:
        wanted.append(len(lines))
        return real(landing, lines)

    monkeypatch.setattr(report, "raw_records", counted)
    rows = [{**r, "file_id": SHA_ORDERS, "line_no": i + 2} for i, r in enumerate(rows)]
    result = result_of(rows, run_folder(tmp_path))
    started = time.perf_counter()
    page = render_report(result)
    seconds = time.perf_counter() - started
    assert seconds < 20, seconds
    ids = listed_ids(page)
    assert len(ids) == report.REPORT_ROW_LIMIT and ids[0] == brk(n - 1)["break_id"]
    assert f"The first {report.REPORT_ROW_LIMIT} breaks by money at risk are listed; all {n} are in" in page
    assert wanted == [report.RAW_DETAIL_LIMIT]  # raw records looked up for the first breaks only


# ---- the detail: both sides, raw records -----------------------------------------------------------------
ORDERS_CSV = (
    "order_id,psp_channel,status,amount,currency\n"
    "ORD-0000001,adyen_eu,succeeded,10.00,EUR\n"
    'ORD-0000002,adyen_eu,"succeeded, late",12.50,EUR\n'
)
CAMT = """<Document>
  <Stmt>
    <Ntry>
      <NtryRef>111</NtryRef>
      <Amt Ccy="EUR">12.00</Amt>
    </Ntry>
    <Ntry>
      <NtryRef>222</NtryRef>
    </Ntry>
  </Stmt>
</Document>
"""


def landed(home: Path, channel: str, file_id: str, text: str) -> None:
    path = home / "landing" / channel / file_id[:2] / file_id
    path.parent.mkdir(parents=True)
    path.write_text(text)


def test_detail_shows_both_sides_with_their_raw_records(tmp_path: Path) -> None:
    landed(tmp_path, "orders", SHA_ORDERS, ORDERS_CSV)
    landed(tmp_path, "bank_eu", SHA_BANK, CAMT)
    row = brk(
        1,
        break_type="withdrawal_amount_mismatch",
        item_table="bank_statement_lines",
        item_ref="111",
        file_id=SHA_BANK,
        file_name="camt053_2026-11-27.xml",
        line_no=3,
        amount_minor=1200,
        counter_table="orders",
        counter_ref="ORD-0000002",
        counter_file_id=SHA_ORDERS,
        counter_file_name="orders_2026-11-27.csv",
        counter_line_no=3,
        counter_amount_minor=1250,
        counter_currency="EUR",
        at_risk_minor=50,
        at_risk_reporting_minor=50,
    )
    page = render_report(result_of([row], run_folder(tmp_path)))
    detail = page[page.index('<tr class="detail"') :]
    assert '<span class="fname">camt053_2026-11-27.xml</span>, <span class="line">line 3</span>' in detail
    assert '<span class="fname">orders_2026-11-27.csv</span>, <span class="line">line 3</span>' in detail
    # the XML element read to its closing tag, dedented; the CSV line with its header's names
    assert "<pre" in detail and "&lt;Ntry&gt;\n  &lt;NtryRef&gt;111&lt;/NtryRef&gt;" in detail
    assert "&lt;/Ntry&gt;</pre>" in detail and "222" not in detail
    assert "<dt>status</dt><dd>succeeded, late</dd>" in detail and "<dt>amount</dt><dd>12.50</dd>" in detail
    assert "<dt>Difference</dt><dd>-0.50 EUR</dd>" in detail
    assert "amount: the bank debit differs from the withdrawal" in detail
    assert f"recon rules explain --date {DAY.isoformat()} --item {SHA_BANK}:3" in detail


def test_detail_without_landing_says_so(tmp_path: Path) -> None:
    page = render_report(result_of([brk(1, file_id=SHA_ORDERS, line_no=2)], run_folder(tmp_path)))
    assert "The raw record is not in this workspace's landing area." in page


# ---- links, closed breaks, history -----------------------------------------------------------------------
def published(home: Path, day: dt.date, summary: dict[str, Any], breaks: list[dict[str, Any]] | None = None) -> None:
    folder = home / "outputs" / day.isoformat()
    folder.mkdir(parents=True)
    (folder / "report.html").write_text("<!doctype html>")
    (folder / "summary.json").write_text(json.dumps(summary))
    if breaks is not None:
        frame("breaks", breaks).write_parquet(folder / "breaks.parquet")


def test_links_to_the_previous_run_and_the_next_business_date(tmp_path: Path) -> None:
    published(tmp_path, dt.date(2026, 11, 20), {})
    published(tmp_path, dt.date(2026, 11, 25), {})
    published(tmp_path, dt.date(2026, 11, 30), {})  # a later date does not change the page
    page = render_report(result_of([], run_folder(tmp_path)))
    assert '<a id="prev-day" rel="prev" href="../2026-11-25/report.html"' in page
    assert '<a id="next-day" rel="next" href="../2026-11-30/report.html"' in page  # Friday -> Monday
    first = render_report(result_of([], run_folder(tmp_path / "alone")))
    assert "no earlier run" in first and 'id="prev-day"' not in first


def test_closed_breaks_show_type_amount_and_what_closed_them(tmp_path: Path) -> None:
    before = dt.date(2026, 11, 26)
    published(
        tmp_path,
        before,
        {},
        [
            brk(1, business_date=before, amount_minor=4900, currency="EUR", item_ref="881500"),
            brk(2, business_date=before, break_type="psp_line_without_order", amount_minor=2475, item_ref="P-9"),
        ],
    )
    closed = [
        {
            "as_of_date": DAY,
            "break_id": brk(2)["break_id"],
            "closed_by": "matched",
            "run_id": "r1",
            "rule_id": "order_psp_reference_exact",
            "match_id": "M1",
            "break_type": "psp_line_without_order",
            "at_risk_minor": 2475,
            "at_risk_currency": "EUR",
            "at_risk_reporting_minor": 2475,
            "reporting_currency": "EUR",
        },
        {
            "as_of_date": DAY,
            "break_id": brk(1)["break_id"],
            "closed_by": "resolved",
            "run_id": "r1",
            "resolved_by": "ana@ops",
            "break_type": "order_not_settled",
            "at_risk_minor": 100,
            "at_risk_currency": "USD",
            "at_risk_reporting_minor": 95,
            "reporting_currency": "EUR",
        },
    ]
    page = render_report(result_of([], run_folder(tmp_path), closed=closed))
    section = page[page.index('id="closed"') : page.index('id="files"')]
    assert 'Breaks closed by this run <span class="muted">2</span>' in section
    assert "psp_<wbr>line_<wbr>without_<wbr>order" in section and "24.75 EUR" in section
    assert "rule order_psp_reference_exact (match M1)" in section
    assert "49.00 EUR" in section and "1.00 USD (0.95 EUR)" in section and "by ana@ops" in section
    assert "resolved by hand" in section


def test_trend_charts_read_the_earlier_runs(tmp_path: Path) -> None:
    for i, d in enumerate((dt.date(2026, 11, 24), dt.date(2026, 11, 25), dt.date(2026, 11, 26))):
        published(
            tmp_path,
            d,
            {
                "breaks": {"open": 3 + i},
                "money_at_risk": {"reporting_currency": "EUR", "total_reporting_minor": 1000 * (i + 1)},
                "metrics": [{"metric": "match_rate", "group_by": "all", "value": "0.9"}],
            },
        )
    summary = {"breaks": {"open": 7}, "money_at_risk": {**MONEY_AT_RISK, "total_reporting_minor": 4000}}
    result = result_of([brk(1)], run_folder(tmp_path), summary)
    opened, risk, rate = report.trend_charts(result, report.published_dates(result))
    assert [(c.label, c.value, c.current) for c in opened.columns] == [
        ("11-24", "3", False),
        ("11-25", "4", False),
        ("11-26", "5", False),
        ("11-27", "7", True),
    ]
    assert [c.value for c in risk.columns] == ["10.00 EUR", "20.00 EUR", "30.00 EUR", "40.00 EUR"]
    assert risk.title == "Money at risk (EUR)"
    assert [c.value for c in rate.columns] == ["90.00%", "90.00%", "90.00%", "n/a"]  # this run has no metrics
    heights = [float(c.height) for c in opened.columns]
    assert heights == sorted(heights) and heights[-1] > heights[0] > 0


def test_late_and_incomplete_banners(tmp_path: Path) -> None:
    summary = {
        "breaks": {"open": 0},
        "completeness": {"complete": False, "reasons": ["stripe_eu: expected file missing"]},
        "intake": {"late": [{"channel": "orders", "rows": 2, "row_date": "2026-11-26", "lag_days": 1}]},
    }
    page = render_report(result_of([], run_folder(tmp_path), summary))
    assert "INCOMPLETE: this day is not all clear" in page and "stripe_eu: expected file missing" in page
    assert "orders: 2 row(s) of 2026-11-26, 1 day(s) late" in page
    assert '<p class="ok">No break.</p>' in page
