"""The HTML report of a run (``report.html``), the page finance analysts work from.

Rendered with Jinja2 from ``templates/`` (autoescape on: every value of the run is escaped) into one
self-contained file: inline CSS, inline script, charts as inline SVG drawn here, no network (its Content
Security Policy allows nothing to be fetched). Deterministic: the same run in the same workspace (its earlier
published dates, its landed files) gives the same bytes: no clock, no random, every ordering explicit.

What it shows, in order:

1. **Money at risk** (``summary["money_at_risk"]``): the total in the reporting currency, new / carried /
   closed, by counterparty x currency, by aging bucket, by SLA state. Hidden when the summary has none.
2. **Breaks**: sortable (click a header), filterable (type, channel, counterparty, currency, status, SLA,
   aging) and searchable (any reference, id, file name or word of the reason); by default by money at risk,
   then age. Each row opens a detail: both sides' file name and line, the raw records, the nearest candidate,
   the failed check and the rule, the lifecycle. At most ``REPORT_ROW_LIMIT`` rows (all are in the CSV and
   the workbook); the raw records are read for the first ``RAW_DETAIL_LIMIT`` of them only, from the landed
   files (``landing/<channel>/<sha[:2]>/<sha>``), each file read once, up to the last line wanted.
3. **Charts**: open breaks, money at risk and match rate over the last runs (the published summaries of the
   earlier dates beside this one, and ``metric_trend``), match rate by channel and by currency, fund
   verification variance.
4. The tables: closed breaks (type, amount, what closed them: the rule or the person), fund verification,
   positions, net per currency, order feedback, input files, quarantined rows (with the raw row), metrics,
   invariants.

Links to the previous business date (the latest earlier date published in the same outputs folder) and the
next one (the next weekday) are relative (``../<date>/report.html``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from pipelines.core import money
from pipelines.publish.report_charts import BarRow, _px, fund_variance_chart, hbars, match_rate_charts
from pipelines.publish.report_charts import trend_charts as trend_charts
from pipelines.publish.report_format import _has, _text, fmt_rate
from pipelines.publish.report_format import fmt_amount as fmt_amount
from pipelines.publish.report_raw import RawRecord as RawRecord
from pipelines.publish.report_raw import raw_records as raw_records
from pipelines.publish.report_raw import workspace_of
from pipelines.run.result import RunResult

TEMPLATES = Path(__file__).parent / "templates"
REPORT_ROW_LIMIT = 2000  # breaks and quarantined rows listed on the page (all are in the CSVs and the workbook)
RAW_DETAIL_LIMIT = 200  # breaks (the first by money at risk) whose detail shows the raw records of their files
TOP_RISK_ROWS = 8  # counterparty x currency rows on the first screen (the others in a fold)
AGING_ORDER = ("0-1", "2-3", "4-7", "8-30", ">30")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

#: which check a break of each type failed, in the words of ``recon rules explain``
FAILED_CHECK = {
    "amount_mismatch": "amount: the two sides differ by more than the rule's tolerance",
    "payout_amount_mismatch": "amount: the payout's items do not add up to the bank credit",
    "withdrawal_amount_mismatch": "amount: the bank debit differs from the withdrawal",
    "currency_mismatch": "currency: the two sides are in different currencies",
    "withdrawal_currency_mismatch": "currency: the bank debit is in another currency than the withdrawal",
    "status_mismatch": "filter: the counterpart's status is not one the rule accepts",
    "withdrawal_status_mismatch": "filter: the rail's status contradicts the withdrawal's status",
    "withdrawal_rejected_but_debited": "filter: the withdrawal was rejected, yet the bank debited it",
    "withdrawal_returned": "filter: the rail returned a withdrawal the order system shows as succeeded",
    "outside_date_window": "date: the two sides are further apart than the rule's date window",
    "duplicate_settlement_line": "duplicate: repeats a line already received (same reference, type, amounts)",
    "duplicate_order": "duplicate: repeats an order already received",
    "withdrawal_debited_twice": "duplicate: the bank debited the same withdrawal twice",
    "psp_line_without_order": "keys: no order shares the line's keys",
    "order_not_settled": "keys: no settlement line shares the order's keys within its settlement window",
    "payout_without_bank_credit": "keys: no bank credit carries the payout's reference",
    "bank_credit_without_payout": "keys: no payout shares the credit's keys",
    "debit_without_withdrawal": "keys: no withdrawal shares the debit's end-to-end id",
    "withdrawal_not_executed": "keys: no bank debit for the withdrawal within its rail's window",
    "bank_debit_unexplained": "filter: no rule accepts this kind of bank debit",
    "no_applicable_rule": "filter: no rule accepts the item",
    "ambiguous_match": "unique: more than one candidate qualifies",
    "file_replaced": "file: new bytes under a file name already received",
    "expected_file_missing": "delivery: an expected file did not arrive",
    "order_timeout": "time: no verdict within the channel's order timeout",
}
_AMOUNT_TYPES = ("amount_mismatch", "payout_amount_mismatch", "withdrawal_amount_mismatch")
_TABLE_LABEL = {
    "orders": "order",
    "psp_settlement_lines": "PSP line",
    "bank_statement_lines": "bank line",
    "payment_status": "rail status",
}
_CLOSED_BY = {
    "matched": "matched",
    "resolved": "resolved by hand",
    "superseded": "superseded by another break",
    "pending": "pending again (an expected delay)",
    "cleared": "its condition cleared",
}


# --------------------------------------------------------------------------------------------------
# the breaks table
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Side:
    role: str  # "item" or "counterpart"
    label: str  # order, PSP line, bank line, rail status
    ref: str
    file_name: str
    file_id: str
    line_no: int | None
    amount: str
    raw: RawRecord | None


@dataclass(frozen=True)
class BreakRow:
    order: int  # position in the default order (money at risk, then age)
    break_id: str
    break_type: str
    status: str
    channel: str
    counterparty: str
    currency: str
    item_ref: str
    at_risk: str  # in the reporting currency ("" when there is no rate)
    at_risk_item: str  # in the item's currency, when it is not the reporting currency
    at_risk_sort: int
    amount: str
    amount_sort: int
    age_days: int
    aging_bucket: str
    sla: str
    sla_days: int | None
    rule: str
    reason: str
    search: str
    sides: list[Side]
    failed_check: str
    difference: str
    fx: str
    first_seen: str
    last_seen: str
    resolution: str
    explain: str
    raw_shown: bool


def _file_names(result: RunResult) -> dict[str, str]:
    return dict(result.manifest.select("file_id", "file_name").iter_rows()) if result.manifest.height else {}


def ordered_breaks(breaks: pl.DataFrame) -> pl.DataFrame:
    """Breaks by money at risk in the reporting currency (largest first, no rate last), then age (oldest
    first), then id: the page's default order."""
    risk = "at_risk_reporting_minor" if "at_risk_reporting_minor" in breaks.columns else "amount_reporting_minor"
    return breaks.with_columns(pl.col(risk).abs().alias("_risk")).sort(
        ["_risk", "age_days", "break_id"], descending=[True, True, False], nulls_last=True
    )


def break_rows(result: RunResult, landing: Path | None) -> tuple[list[BreakRow], bool]:
    """The breaks as the page lists them (at most ``REPORT_ROW_LIMIT``), and whether their money at risk is
    the ``at_risk_*`` columns (else the item's whole amount in the reporting currency)."""
    frame = ordered_breaks(result.breaks).head(REPORT_ROW_LIMIT)
    at_risk = _has(frame, "at_risk_minor", "at_risk_currency", "at_risk_reporting_minor")
    names = _file_names(result)
    day = result.business_date.isoformat()
    records = frame.to_dicts()

    def name_of(row: dict[str, Any], prefix: str) -> str:
        given = row.get(f"{prefix}file_name")
        file_id = row.get(f"{prefix}file_id")
        return _text(given) or names.get(_text(file_id), "") or (f"file {file_id[:12]}…" if file_id else "")

    wanted: list[tuple[str, int]] = []
    for r in records[:RAW_DETAIL_LIMIT]:
        for prefix in ("", "counter_"):
            if r.get(f"{prefix}file_id") and r.get(f"{prefix}line_no") is not None:
                wanted.append((r[f"{prefix}file_id"], int(r[f"{prefix}line_no"])))
    raws = raw_records(landing, wanted)

    rows = []
    for i, r in enumerate(records):
        reporting = r["reporting_currency"]
        if at_risk:
            risk_reporting, risk_item, risk_ccy = (
                r["at_risk_reporting_minor"],
                r["at_risk_minor"],
                r["at_risk_currency"],
            )
        else:
            risk_reporting = None if r["amount_reporting_minor"] is None else abs(r["amount_reporting_minor"])
            risk_item, risk_ccy = abs(r["amount_minor"]), r["currency"]
        sides = []
        for prefix, role in (("", "item"), ("counter_", "counterpart")):
            table = r.get(f"{prefix}table") if prefix else r["item_table"]
            if not table and not r.get(f"{prefix}ref"):
                continue
            file_id, line_no = _text(r.get(f"{prefix}file_id")), r.get(f"{prefix}line_no")
            amount_ccy = r["counter_currency"] if prefix else r["currency"]
            label = _TABLE_LABEL.get(_text(table), _text(table))
            if not prefix and not file_id and line_no is None and table == "psp_settlement_lines":
                label = "payout (group of PSP lines)"  # a payout batch: its lines are in its file(s)
            sides.append(
                Side(
                    role,
                    label,
                    _text(r.get(f"{prefix}ref") if prefix else r["item_ref"]),
                    name_of(r, prefix),
                    file_id,
                    line_no,
                    fmt_amount(r[f"{prefix}amount_minor"], amount_ccy),
                    raws.get((file_id, int(line_no))) if line_no is not None else None,
                )
            )
        difference = ""
        if (
            r["counter_amount_minor"] is not None
            and r["counter_currency"] == r["currency"]
            and r["amount_minor"] != r["counter_amount_minor"]
        ):
            difference = fmt_amount(r["amount_minor"] - r["counter_amount_minor"], r["currency"])
        fx = ""
        if r.get("fx_rate") is not None and r["currency"] != reporting:
            fx = f"{fmt_rate(r['fx_rate'])} {r['currency']} per {reporting}"
            if r.get("fx_rate_date") is not None:
                fx += f" (rate of {r['fx_rate_date'].isoformat()})"
        resolution = ""
        if r["resolution_action"]:
            resolution = f"{r['resolution_action']} by {_text(r['resolved_by'])}"
            if r["resolution_note"]:
                resolution += f": {r['resolution_note']}"
        explain = ""
        if r["file_id"] and r["line_no"] is not None:
            explain = f"recon rules explain --date {day} --item {r['file_id']}:{r['line_no']}"
        elif r["item_ref"]:
            explain = f"recon rules explain --date {day} --item {r['item_ref']}"
        counterparty = _text(r.get("counterparty")) or r["channel"]
        search = " ".join(
            _text(v)
            for v in (
                r["break_id"],
                r["break_type"],
                r["status"],
                r["channel"],
                counterparty,
                r["item_ref"],
                r["counter_ref"],
                name_of(r, ""),
                name_of(r, "counter_"),
                r["closest_rule"],
                r["reason"],
                r["resolved_by"],
            )
            if v
        ).lower()
        rows.append(
            BreakRow(
                order=i,
                break_id=r["break_id"],
                break_type=r["break_type"],
                status=r["status"],
                channel=r["channel"],
                counterparty=counterparty,
                currency=r["currency"],
                item_ref=_text(r["item_ref"]),
                at_risk=fmt_amount(risk_reporting, reporting) if risk_reporting is not None else "",
                at_risk_item=fmt_amount(risk_item, risk_ccy) if risk_ccy != reporting else "",
                at_risk_sort=-1 if risk_reporting is None else int(risk_reporting),
                amount=fmt_amount(r["amount_minor"], r["currency"]),
                amount_sort=int(r["amount_reporting_minor"] if r["amount_reporting_minor"] is not None else 0),
                age_days=int(r["age_days"]),
                aging_bucket=r["aging_bucket"],
                sla=_text(r["sla_status"]) or "none",
                sla_days=r["sla_days"],
                rule=_text(r["closest_rule"]),
                reason=r["reason"],
                search=search,
                sides=sides,
                failed_check=FAILED_CHECK.get(r["break_type"], ""),
                difference=difference,
                fx=fx,
                first_seen=r["first_seen"].isoformat(),
                last_seen=r["last_seen"].isoformat(),
                resolution=resolution,
                explain=explain,
                raw_shown=i < RAW_DETAIL_LIMIT,
            )
        )
    return rows, at_risk


@dataclass(frozen=True)
class FilterOption:
    value: str
    count: int


def filter_options(rows: Sequence[BreakRow]) -> dict[str, list[FilterOption]]:
    """The values each filter offers (those of the rows listed), with their counts."""

    def options(values: Iterable[str], order: Sequence[str] = ()) -> list[FilterOption]:
        counts: dict[str, int] = {}
        for v in values:
            counts[v] = counts.get(v, 0) + 1
        rank = {v: i for i, v in enumerate(order)}
        keys = sorted(counts, key=lambda v: (rank.get(v, len(rank)), v))
        return [FilterOption(k, counts[k]) for k in keys]

    return {
        "type": options(r.break_type for r in rows),
        "channel": options(r.channel for r in rows),
        "counterparty": options(r.counterparty for r in rows),
        "currency": options(r.currency for r in rows),
        "status": options((r.status for r in rows), ("open", "resolved")),
        "sla": options((r.sla for r in rows), ("breached", "within", "none")),
        "aging": options((r.aging_bucket for r in rows), AGING_ORDER),
    }


# --------------------------------------------------------------------------------------------------
# money at risk (summary), history, charts, closed breaks
# --------------------------------------------------------------------------------------------------
def money_at_risk(summary: dict[str, Any]) -> dict[str, Any] | None:
    """The first screen's figures from ``summary["money_at_risk"]`` (None when the run has none)."""
    mar = summary.get("money_at_risk")
    if not isinstance(mar, dict) or "total_reporting_minor" not in mar:
        return None
    ccy = str(mar.get("reporting_currency", ""))

    def rep(value: Any) -> str:
        return fmt_amount(value, ccy) if value is not None else "no rate"

    by_cc = sorted(
        mar.get("by_counterparty_currency", []),
        key=lambda r: (-(r.get("at_risk_reporting_minor") or 0), r["counterparty"], r["currency"]),
    )
    cc_rows = [
        {
            "counterparty": r["counterparty"],
            "currency": r["currency"],
            "breaks": r["breaks"],
            "at_risk": fmt_amount(r["at_risk_minor"], r["currency"]),
            "at_risk_reporting": rep(r.get("at_risk_reporting_minor")),
            "magnitude": Decimal(r.get("at_risk_reporting_minor") or 0),
        }
        for r in by_cc
    ]
    top = max((r["magnitude"] for r in cc_rows), default=Decimal(0))
    for r in cc_rows:
        r["share"] = _px(r["magnitude"] * 100 / top) if top else "0.0"
    aging = {r["aging_bucket"]: r for r in mar.get("by_aging", [])}
    aging_chart = hbars(
        "Money at risk by age (days open)",
        [
            BarRow(
                bucket,
                Decimal(aging[bucket].get("at_risk_reporting_minor") or 0) if bucket in aging else Decimal(0),
                (
                    f"{rep(aging[bucket].get('at_risk_reporting_minor'))} · {aging[bucket]['breaks']} "
                    + ("break" if aging[bucket]["breaks"] == 1 else "breaks")
                    if aging.get(bucket, {}).get("breaks")
                    else "none"
                ),
                "t-bad" if bucket in (">30", "8-30") else ("t-warn" if bucket == "4-7" else ""),
                f"{bucket} days",
                (("aging", bucket),),
            )
            for bucket in AGING_ORDER
        ],
        label_width=50,
        bar_width=200,
        value_width=200,
    )
    sla_rows = [
        {
            "sla_status": _text(r.get("sla_status")) or "none",
            "breaks": r["breaks"],
            "at_risk_reporting": rep(r.get("at_risk_reporting_minor")),
        }
        for r in sorted(
            mar.get("by_sla", []),
            key=lambda r: (
                ("breached", "within").index(r["sla_status"]) if r.get("sla_status") in ("breached", "within") else 2
            ),
        )
    ]
    flow = {
        k: {"breaks": mar.get(k, {}).get("breaks", 0), "at_risk": rep(mar.get(k, {}).get("at_risk_reporting_minor"))}
        for k in ("new", "carried", "closed")
    }
    return {
        "reporting_currency": ccy,
        "total": rep(mar.get("total_reporting_minor")),
        "open_breaks": mar.get("open_breaks", 0),
        "top": cc_rows[:TOP_RISK_ROWS],
        "more": cc_rows[TOP_RISK_ROWS:],
        "aging_chart": aging_chart,
        "sla": sla_rows,
        "flow": flow,
    }


def published_dates(result: RunResult) -> list[dt.date]:
    """Business dates published in the outputs folder this run publishes into, before this run's date."""
    home = workspace_of(result)
    if home is None or not (home / "outputs").is_dir():
        return []
    dates = []
    for p in (home / "outputs").iterdir():
        if _DATE.match(p.name) and (p / "report.html").exists():
            day = dt.date.fromisoformat(p.name)
            if day < result.business_date:
                dates.append(day)
    return sorted(dates)


def next_business_date(day: dt.date) -> dt.date:
    """The next weekday: the nightly runs are on business days (a holiday's link leads to no report yet)."""
    nxt = day + dt.timedelta(days=1)
    while nxt.weekday() >= 5:
        nxt += dt.timedelta(days=1)
    return nxt


def closed_rows(result: RunResult, previous: dt.date | None) -> list[dict[str, str]]:
    """The breaks this run closed with their type, amount and what closed them (the rule of the match, or
    the person who resolved them): from the columns of ``closed_breaks`` where it has them, else as this
    run (a resolved break) or the previous run (``outputs/<previous>/breaks.parquet``) showed the break."""
    closed = result.closed_breaks
    if not closed.height:
        return []
    known: dict[str, dict[str, Any]] = {}
    home = workspace_of(result)
    if previous is not None and home is not None:
        path = home / "outputs" / previous.isoformat() / "breaks.parquet"
        if path.exists():
            known.update({r["break_id"]: r for r in pl.read_parquet(path).to_dicts()})
    known.update({r["break_id"]: r for r in result.breaks.to_dicts()})
    rows = []
    for c in closed.to_dicts():
        b = {**known.get(c["break_id"], {}), **{k: v for k, v in c.items() if v is not None}}
        amount = fmt_amount(b.get("amount_minor"), b.get("currency"))
        at_risk = fmt_amount(b.get("at_risk_minor"), b.get("at_risk_currency"))
        reporting = fmt_amount(b.get("at_risk_reporting_minor"), b.get("reporting_currency"))
        if reporting and reporting != at_risk:
            at_risk = f"{at_risk} ({reporting})" if at_risk else reporting
        how = _CLOSED_BY.get(c["closed_by"], c["closed_by"])
        by = ""
        if c["closed_by"] == "matched" and c.get("rule_id"):
            by = f"rule {c['rule_id']}" + (f" (match {c['match_id']})" if c.get("match_id") else "")
        elif b.get("resolved_by"):
            by = f"{_text(b.get('resolution_action'))} by {b['resolved_by']}".strip()
            if b.get("resolution_note"):
                by += f": {b['resolution_note']}"
        rows.append(
            {
                "break_id": c["break_id"],
                "break_type": _text(b.get("break_type")) or "unknown",
                "item_ref": _text(b.get("item_ref")),
                "amount": amount,
                "at_risk": at_risk,
                "closed_by": how,
                "by": by,
            }
        )
    return rows


# --------------------------------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------------------------------
def _wbr(value: Any) -> Markup:
    """Escape, and let a long identifier wrap after its underscores, dots and slashes."""
    return Markup(re.sub(r"([_./])", r"\1<wbr>", str(escape(_text(value)))))


def _read(name: str) -> Markup:
    """An inline stylesheet or script of ``templates/`` (written by the project, not escaped)."""
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    if "</" + "style" in text or "</" + "script" in text:
        raise ValueError(f"{name} may not close its own element")
    return Markup(text)


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["wbr"] = _wbr
    env.filters["amount"] = fmt_amount
    env.filters["rate"] = fmt_rate
    return env


def _banners(s: dict[str, Any]) -> list[str]:
    """A red banner when the day is incomplete (files missing, or no row at all), an amber one for late rows."""
    macros = environment().get_template("_banners.html.j2").module
    out = []
    state = s.get("completeness", {})
    if state and not state.get("complete", True):
        out.append(str(macros.incomplete(state.get("reasons", []))))  # type: ignore[attr-defined]
    late = s.get("intake", {}).get("late", [])
    if late:
        out.append(str(macros.late(late)))  # type: ignore[attr-defined]
    return out


_DIMENSIONS = ("direction", "channel", "payment_method", "country", "currency", "break_type", "rail")


def metric_rows(metrics: pl.DataFrame) -> list[list[str]]:
    """The run's metrics as text rows: metric, statistic, group, value, counts."""
    rows = []
    for r in metrics.iter_rows(named=True):
        group = ", ".join(f"{d}={r[d]}" for d in _DIMENSIONS if r[d] is not None) or "all"
        if r["unit"] == "minor_units":
            figure = fmt_amount(r["amount_minor"], r["currency"])
        else:
            figure = "" if r["value"] is None else f"{r['value']} {r['unit']}"
        counts = f"{r['numerator']} / {r['denominator']}" if r["numerator"] is not None else _text(r["denominator"])
        rows.append([r["metric"], r["statistic"], group, figure, counts])
    return rows


def context(result: RunResult) -> dict[str, Any]:
    """Everything the template shows, computed from the run."""
    home = workspace_of(result)
    landing = home / "landing" if home is not None else None
    rows, at_risk = break_rows(result, landing)
    earlier = published_dates(result)
    previous = earlier[-1] if earlier else None
    nxt = next_business_date(result.business_date)
    s = result.summary
    reporting = result.breaks["reporting_currency"][0] if result.breaks.height else ""
    mar = money_at_risk(s)
    if mar is not None:
        reporting = mar["reporting_currency"]
    trend = result.metric_trend
    return {
        "r": result,
        "day": result.business_date.isoformat(),
        "weekday": result.business_date.strftime("%A"),
        "previous": previous.isoformat() if previous else None,
        "next": nxt.isoformat(),
        "banners": [Markup(b) for b in _banners(s)],
        "mar": mar,
        "reporting": reporting,
        "breaks": rows,
        "breaks_total": result.breaks.height,
        "breaks_open": result.breaks.filter(pl.col("status") == "open").height if result.breaks.height else 0,
        "at_risk_columns": at_risk,
        "row_limit": REPORT_ROW_LIMIT,
        "raw_limit": RAW_DETAIL_LIMIT,
        "filters": filter_options(rows),
        "listed_risk": fmt_amount(
            sum(b.at_risk_sort for b in rows if b.at_risk_sort > 0 and b.status == "open"), reporting
        ),
        "reporting_exponent": money.exponents().get(reporting, 2),
        "trend_charts": trend_charts(result, earlier),
        "trend": {"columns": trend.columns[1:], "rows": [list(r) for r in trend.iter_rows()]} if trend.height else None,
        "match_charts": match_rate_charts(result),
        "fund_chart": fund_variance_chart(result),
        "closed": closed_rows(result, previous),
        "rows_in": s.get("rows_in", {}),
        "outcomes": s.get("outcomes", {}),
        "by_type": s.get("breaks", {}).get("by_type", {}),
        "per_rule": s.get("matches", {}).get("per_rule", {}),
        "invariants": s.get("invariants", {}),
        "positions": result.positions.to_dicts(),
        "net": result.net_by_currency.to_dicts(),
        "funds": result.fund_verification.to_dicts(),
        "feedback": result.order_feedback.to_dicts(),
        "files": result.manifest.to_dicts(),
        "quarantine": result.quarantine.head(REPORT_ROW_LIMIT).to_dicts(),
        "quarantine_total": result.quarantine.height,
        "metrics": metric_rows(result.metrics),
        "css": _read("report.css"),
        "js": _read("report.js"),
    }


def render_report(result: RunResult) -> str:
    """The page of a run (``report.html``)."""
    return environment().get_template("report.html.j2").render(**context(result))
