"""The HTML report of a run: summary, positions, net per currency, fund verification, breaks, closures,
order feedback, files and quarantined rows, for finance analysts. Self-contained (no script, no external
resource); every value from the run is escaped."""

from __future__ import annotations

import html
from typing import Any

from pipelines.core import money
from pipelines.run.result import RunResult

REPORT_ROW_LIMIT = 5000


def fmt_amount(minor: int | None, currency: str | None) -> str:
    if minor is None or currency is None:
        return ""
    try:
        return f"{money.format_minor(int(minor), currency)} {currency}"
    except ValueError:
        return f"{minor} (minor units) {currency}"


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="{"num" if i in numeric else ""}">{html.escape("" if v is None else str(v))}</td>'
            for i, v in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1d2330}
h1{font-size:1.5rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d0d5dd;padding-bottom:.3rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0} th,td{border:1px solid #d0d5dd;padding:.25rem .5rem}
th{background:#f2f4f7;text-align:left} td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#067647;font-weight:600} .fail{color:#b42318;font-weight:600} .muted{color:#667085}
.banner{padding:.75rem 1rem;border-radius:4px;margin:1rem 0;font-weight:600}
.banner.incomplete{background:#fef3f2;border:2px solid #b42318;color:#b42318}
.banner.late{background:#fffaeb;border:1px solid #b54708;color:#93370d}
"""


def _banners(s: dict[str, Any]) -> list[str]:
    """A red banner when the day is incomplete (files missing, or no row at all), an amber one for late rows."""
    out = []
    state = s.get("completeness", {})
    if state and not state.get("complete", True):
        items = "".join(f"<li>{html.escape(str(r))}</li>" for r in state.get("reasons", []))
        out.append(
            f"<div class='banner incomplete' role='alert'>INCOMPLETE: this day is not all clear<ul>{items}</ul></div>"
        )
    late = s.get("intake", {}).get("late", [])
    if late:
        items = "".join(
            f"<li>{html.escape(str(r['channel']))}: {html.escape(str(r['rows']))} row(s) of "
            f"{html.escape(str(r['row_date']))}, {html.escape(str(r['lag_days']))} day(s) late</li>"
            for r in late
        )
        out.append(f"<div class='banner late'>Late rows taken in by this run<ul>{items}</ul></div>")
    return out


_DIMENSIONS = ("direction", "channel", "payment_method", "country", "currency", "break_type", "rail")


def _metrics(result: RunResult) -> list[str]:
    """The run's metrics (``run.metrics``: rates as exact decimals with their counts, latencies and ages in whole
    units, money at risk) and the trend of the headline figures over the last runs (a table, one column per
    business date)."""
    m = result.metrics
    parts = [f"<h2>Metrics ({m.height})</h2>"]
    rows = []
    for r in m.iter_rows(named=True):
        group = ", ".join(f"{d}={r[d]}" for d in _DIMENSIONS if r[d] is not None) or "all"
        if r["unit"] == "minor_units":
            figure = fmt_amount(r["amount_minor"], r["currency"])
        else:
            figure = "" if r["value"] is None else f"{r['value']} {r['unit']}"
        counts = f"{r['numerator']} / {r['denominator']}" if r["numerator"] is not None else r["denominator"]
        rows.append([r["metric"], r["statistic"], group, figure, counts])
    parts.append(_table(["metric", "statistic", "group", "value", "of (count)"], rows, {3, 4}))
    trend = result.metric_trend
    if trend.height:
        parts.append(f"<h2>Trend over the last runs ({len(trend.columns) - 1})</h2>")
        parts.append(
            _table(
                ["metric", *trend.columns[1:]],
                [list(r) for r in trend.iter_rows()],
                set(range(1, len(trend.columns))),
            )
        )
    return parts


def render_report(result: RunResult) -> str:
    s = result.summary
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Reconciliation {result.business_date.isoformat()}</title><style>{_CSS}</style></head><body>",
        f"<h1>Reconciliation of business date {result.business_date.isoformat()}</h1>",
        f"<p class='muted'>run {html.escape(result.run_id)} · mode {html.escape(result.mode)} · "
        f"rules version {html.escape(result.rules_version)}</p>",
        *_banners(s),
        "<h2>Summary</h2>",
    ]
    rows_in = s.get("rows_in", {})
    parts.append(_table(["table", "rows"], [[k, v] for k, v in rows_in.items()], {1}))
    parts.append(_table(["outcome", "rows"], [[k, v] for k, v in s.get("outcomes", {}).items()], {1}))
    parts.append(_table(["break type", "breaks"], [[k, v] for k, v in s["breaks"]["by_type"].items()], {1}))
    parts.append(_table(["rule", "matches"], [[k, v] for k, v in s["matches"]["per_rule"].items()], {1}))
    inv_rows = [[k, "holds" if v["ok"] else "FAILED"] for k, v in s.get("invariants", {}).items()]
    parts.append("<h2>Invariants</h2>" + _table(["invariant", "result"], inv_rows))

    parts.append("<h2>Net settlement positions</h2>")
    pos_rows = [
        [
            r["counterparty"],
            r["currency"],
            r["value_date"],
            fmt_amount(r["gross_captured_minor"], r["currency"]),
            fmt_amount(r["refunds_minor"], r["currency"]),
            fmt_amount(r["chargebacks_minor"], r["currency"]),
            fmt_amount(r["fees_minor"], r["currency"]),
            fmt_amount(r["adjustments_minor"], r["currency"]),
            fmt_amount(r["net_expected_minor"], r["currency"]),
            fmt_amount(r["received_minor"], r["currency"]),
            fmt_amount(r["variance_minor"], r["currency"]),
        ]
        for r in result.positions.to_dicts()
    ]
    parts.append(
        _table(
            [
                "counterparty",
                "currency",
                "value date",
                "gross captured",
                "refunds",
                "chargebacks",
                "fees",
                "adjustments",
                "net expected",
                "received",
                "variance",
            ],
            pos_rows,
            set(range(3, 11)),
        )
    )

    parts.append("<h2>Multilateral net per currency</h2>")
    parts.append(
        _table(
            ["currency", "counterparties", "net expected", "received", "variance", "in reporting currency", "rate"],
            [
                [
                    r["currency"],
                    r["counterparties"],
                    fmt_amount(r["net_expected_minor"], r["currency"]),
                    fmt_amount(r["received_minor"], r["currency"]),
                    fmt_amount(r["variance_minor"], r["currency"]),
                    fmt_amount(r["net_expected_reporting_minor"], r["reporting_currency"]),
                    r["fx_rate"],
                ]
                for r in result.net_by_currency.to_dicts()
            ],
            {1, 2, 3, 4, 5},
        )
    )
    parts.append("<h2>Fund verification</h2>")
    parts.append(
        _table(
            ["counterparty", "currency", "value date", "expected", "received", "variance", "status", "explanation"],
            [
                [
                    r["counterparty"],
                    r["currency"],
                    r["value_date"],
                    fmt_amount(r["expected_minor"], r["currency"]),
                    fmt_amount(r["received_minor"], r["currency"]),
                    fmt_amount(r["variance_minor"], r["currency"]),
                    r["status"],
                    r["explanation"],
                ]
                for r in result.fund_verification.to_dicts()
            ],
            {3, 4, 5},
        )
    )

    parts.extend(_metrics(result))

    parts.append(f"<h2>Breaks ({result.breaks.height})</h2>")
    br_rows = [
        [
            r["break_type"],
            r["status"]
            + (
                f" ({r['resolution_action']} by {r['resolved_by']}: {r['resolution_note']})"
                if r["resolution_action"]
                else ""
            ),
            r["age_days"],
            r["sla_status"] or "",
            r["channel"],
            r["item_ref"],
            fmt_amount(r["amount_minor"], r["currency"]),
            fmt_amount(r["amount_reporting_minor"], r["reporting_currency"]),
            r["counter_ref"],
            fmt_amount(r["counter_amount_minor"], r["counter_currency"]),
            r["closest_rule"],
            r["reason"],
            r["break_id"],
        ]
        for r in result.breaks.head(REPORT_ROW_LIMIT).to_dicts()
    ]
    headers = [
        "type",
        "status",
        "age (days)",
        "SLA",
        "channel",
        "item",
        "amount",
        "reporting amount",
        "counterpart",
        "counter amount",
        "closest rule",
        "reason",
        "break id",
    ]
    parts.append(_table(headers, br_rows, {2, 6, 7, 9}))
    if result.breaks.height > REPORT_ROW_LIMIT:
        parts.append(f"<p class='muted'>first {REPORT_ROW_LIMIT} shown; all are in breaks.csv</p>")

    if result.closed_breaks.height:
        parts.append(f"<h2>Breaks closed since the previous run ({result.closed_breaks.height})</h2>")
        parts.append(
            _table(
                ["break id", "closed by", "rule", "match"],
                [[r["break_id"], r["closed_by"], r["rule_id"], r["match_id"]] for r in result.closed_breaks.to_dicts()],
            )
        )
    if result.order_feedback.height:
        parts.append(f"<h2>Order status feedback ({result.order_feedback.height})</h2>")
        parts.append(
            _table(
                ["order", "internal status", "settled as", "suggested status", "evidence"],
                [
                    [r["order_id"], r["internal_status"], r["settled_as"], r["suggested_status"], r["evidence"]]
                    for r in result.order_feedback.to_dicts()
                ],
            )
        )

    parts.append("<h2>Input files</h2>")
    parts.append(
        _table(
            ["channel", "file", "status", "rows in", "staged", "quarantined"],
            [
                [r["channel"], r["file_name"], r["file_status"], r["rows_in"], r["rows_staged"], r["rows_quarantined"]]
                for r in result.manifest.to_dicts()
            ],
            {3, 4, 5},
        )
    )
    parts.append(f"<h2>Quarantined rows ({result.quarantine.height})</h2>")
    parts.append(
        _table(
            ["channel", "file", "line", "field", "reason"],
            [
                [r["channel"], r["file_name"], r["line_no"], r["field"], r["reason"]]
                for r in result.quarantine.head(REPORT_ROW_LIMIT).to_dicts()
            ],
            {2},
        )
    )
    parts.append("</body></html>\n")
    return "".join(parts)
