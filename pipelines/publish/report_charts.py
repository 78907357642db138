"""The report's charts: their geometry computed here, drawn as SVG by the templates (``_charts.html.j2``): aging, the
trend over the last runs, match rate by channel and currency, fund verification variance."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import polars as pl

from pipelines.publish.report_format import _has, _major, _text, fmt_amount, fmt_percent
from pipelines.publish.report_raw import workspace_of
from pipelines.run.result import RunResult

HISTORY_RUNS = 7  # runs the trend charts show, this one included
FUND_CHART_ROWS = 20  # fund verification rows charted (the largest variances)


# --------------------------------------------------------------------------------------------------
# charts: geometry computed here, drawn as SVG by the templates (_charts.html.j2)
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Bar:
    label: str
    value: str  # the figure written beside the bar, exact
    x: str  # left edge of the bar in the chart's units (text with fixed decimals: deterministic bytes)
    width: str
    tone: str = ""  # t-ok, t-warn, t-bad, t-muted (the colour of the bar)
    note: str = ""
    filter: tuple[tuple[str, str], ...] = ()  # breaks filters a click on the bar sets


@dataclass(frozen=True)
class HBarChart:
    """Horizontal bars, one row each: a label, a bar from ``origin`` (the left edge for figures of one sign,
    the middle for variances that go both ways) and its exact figure in a column at the right."""

    title: str
    bars: list[Bar]
    label_width: int
    bar_width: int
    value_width: int
    origin: str
    both_ways: bool
    row_height: int = 22

    @property
    def width(self) -> int:
        return self.label_width + self.bar_width + self.value_width

    @property
    def height(self) -> int:
        return self.row_height * len(self.bars) + 6

    @property
    def value_x(self) -> int:
        return self.label_width + self.bar_width + 8


@dataclass(frozen=True)
class Column:
    label: str
    value: str
    x: str
    y: str
    height: str
    current: bool

    @property
    def middle(self) -> str:
        return _px(Decimal(self.x) + Decimal(COLUMN_WIDTH) / 2)

    @property
    def value_y(self) -> str:
        return _px(Decimal(self.y) - 4)


COLUMN_WIDTH = 30


@dataclass(frozen=True)
class ColumnChart:
    """Vertical columns over the last runs, the current run marked."""

    title: str
    columns: list[Column]
    empty: str = ""
    width: int = 380
    height: int = 150
    base: int = 124  # y of the axis
    column_width: int = COLUMN_WIDTH


@dataclass(frozen=True)
class BarRow:
    """One row of an ``hbars`` chart: its label, the magnitude the bar is drawn to (geometry only), the exact
    figure written beside it, a tone, a note (the tooltip) and the breaks filters a click sets."""

    label: str
    magnitude: Decimal
    value: str
    tone: str = ""
    note: str = ""
    filter: tuple[tuple[str, str], ...] = ()


def _px(value: Decimal | float | int) -> str:
    return f"{float(value):.1f}"


def _scale(values: Sequence[Decimal], room: int, top: Decimal | None = None) -> list[Decimal]:
    """Lengths of ``values`` in ``room`` units, the largest magnitude (or ``top``) filling it."""
    top = top if top is not None else max((abs(v) for v in values), default=Decimal(0))
    if not top:
        return [Decimal(0) for _ in values]
    return [min(abs(v), top) * room / top for v in values]


def hbars(
    title: str,
    rows: Sequence[BarRow],
    *,
    both_ways: bool = False,
    label_width: int = 150,
    bar_width: int = 260,
    value_width: int = 190,
    top: Decimal | None = None,
) -> HBarChart:
    """Horizontal bars; ``both_ways``: negative figures to the left of the middle; ``top``: the figure that
    fills the bar (default the largest)."""
    room = bar_width // 2 if both_ways else bar_width
    origin = Decimal(label_width + (room if both_ways else 0))
    lengths = _scale([r.magnitude for r in rows], room - 2, top)
    bars = [
        Bar(
            r.label, r.value, _px(origin - length if r.magnitude < 0 else origin), _px(length), r.tone, r.note, r.filter
        )
        for r, length in zip(rows, lengths, strict=True)
    ]
    return HBarChart(title, bars, label_width, bar_width, value_width, _px(origin), both_ways)


def columns(title: str, points: Sequence[tuple[dt.date, Decimal | None, str]], day: dt.date) -> ColumnChart:
    """``points``: (business date, magnitude for the geometry or None when the run has no figure, exact text)."""
    chart = ColumnChart(title, [])
    if not any(p[1] is not None for p in points):
        return ColumnChart(title, [], empty="no figure in the runs shown")
    slot = Decimal(chart.width - 20) / max(len(points), 1)
    heights = _scale([p[1] if p[1] is not None else Decimal(0) for p in points], chart.base - 24)
    cols = []
    for i, ((date, magnitude, text), height) in enumerate(zip(points, heights, strict=True)):
        x = Decimal(10) + slot * i + (slot - chart.column_width) / 2
        shown = text if magnitude is not None else "n/a"
        cols.append(Column(date.strftime("%m-%d"), shown, _px(x), _px(chart.base - height), _px(height), date == day))
    return ColumnChart(title, cols)


def _earlier_summary(result: RunResult, day: dt.date) -> dict[str, Any]:
    home = workspace_of(result)
    if home is None:
        return {}
    try:
        loaded = json.loads((home / "outputs" / day.isoformat() / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _match_rate_all(metrics: Iterable[dict[str, Any]]) -> Decimal | None:
    for m in metrics:
        if m.get("metric") == "match_rate" and m.get("group_by") == "all" and m.get("value") is not None:
            return Decimal(str(m["value"]))
    return None


def trend_charts(result: RunResult, earlier: Sequence[dt.date]) -> list[ColumnChart]:
    """Open breaks, money at risk (reporting currency) and match rate of the last ``HISTORY_RUNS`` runs:
    the published summaries of the earlier dates, and this run's."""
    days = [*earlier[-(HISTORY_RUNS - 1) :], result.business_date]
    summaries = {d: _earlier_summary(result, d) for d in days[:-1]}
    summaries[result.business_date] = result.summary
    this_rate = _match_rate_all(result.metrics.to_dicts()) if result.metrics.height else None
    opened: list[tuple[dt.date, Decimal | None, str]] = []
    risk: list[tuple[dt.date, Decimal | None, str]] = []
    rates: list[tuple[dt.date, Decimal | None, str]] = []
    ccy = ""
    for d in days:
        s = summaries[d]
        n = s.get("breaks", {}).get("open")
        opened.append((d, Decimal(n) if n is not None else None, str(n)))
        mar = s.get("money_at_risk") or {}
        total = mar.get("total_reporting_minor")
        ccy = ccy or _text(mar.get("reporting_currency"))
        if total is not None and mar.get("reporting_currency"):
            risk.append(
                (d, _major(int(total), mar["reporting_currency"]), fmt_amount(total, mar["reporting_currency"]))
            )
        else:
            risk.append((d, None, ""))
        rate = this_rate if d == result.business_date else _match_rate_all(s.get("metrics", []))
        rates.append((d, rate, fmt_percent(rate)))
    return [
        columns("Open breaks", opened, result.business_date),
        columns(f"Money at risk ({ccy})" if ccy else "Money at risk", risk, result.business_date),
        columns("Match rate", rates, result.business_date),
    ]


def _rate_bar(label: str, matched: int, total: int) -> BarRow:
    rate = (Decimal(matched) / Decimal(total)).quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)
    tone = "t-ok" if rate >= Decimal("0.99") else ("t-warn" if rate >= Decimal("0.9") else "t-bad")
    return BarRow(label, rate, f"{fmt_percent(rate)} ({matched}/{total})", tone, f"{matched} of {total} items matched")


def match_rate_charts(result: RunResult) -> list[HBarChart]:
    """Match rate by channel (the run's metrics) and by currency (its outcomes, counted as ``sql/metrics.sql``
    counts the match rate: matched over matched, break, pending and no settlement expected); a full bar is 100%."""
    charts = []
    m = result.metrics
    if m.height:
        rows = m.filter(
            (pl.col("metric") == "match_rate") & (pl.col("statistic") == "rate") & (pl.col("group_by") == "channel")
        ).sort("channel")
        bars = [
            _rate_bar(str(r["channel"]), int(r["numerator"]), int(r["denominator"]))
            for r in rows.to_dicts()
            if r["denominator"]
        ]
        if bars:
            charts.append(
                hbars("Match rate by channel", bars, label_width=90, bar_width=240, value_width=150, top=Decimal(1))
            )
    path = result.folder / "outcomes.parquet"
    if path.exists():
        counted = (
            pl.scan_parquet(path)
            .filter(pl.col("outcome").is_in(["matched", "break", "pending", "no_settlement_expected"]))
            .group_by(pl.col("currency").fill_null("unknown"))
            .agg((pl.col("outcome") == "matched").sum().alias("matched"), pl.len().alias("total"))
            .sort("currency")
            .collect()
        )
        bars = [_rate_bar(r["currency"], int(r["matched"]), int(r["total"])) for r in counted.to_dicts()]
        if bars:
            charts.append(
                hbars("Match rate by currency", bars, label_width=90, bar_width=240, value_width=150, top=Decimal(1))
            )
    return charts


def fund_variance_chart(result: RunResult) -> HBarChart | None:
    """The variance of each fund verification row (expected against received), the largest first, scaled in
    the reporting currency with the date's rates so that currencies compare; each bar labelled exactly in its
    own currency."""
    fv = result.fund_verification.filter(pl.col("variance_minor") != 0) if result.fund_verification.height else None
    if fv is None or not fv.height:
        return None
    rates: dict[str, Decimal] = {}
    for frame in (result.breaks, result.net_by_currency):  # the date's reference rates, as the run used them
        if frame.height and _has(frame, "currency", "fx_rate"):
            rates.update(dict(frame.filter(pl.col("fx_rate").is_not_null()).select("currency", "fx_rate").iter_rows()))
    rows = []
    for r in fv.to_dicts():
        rate = rates.get(r["currency"])
        major = _major(int(r["variance_minor"]), r["currency"])
        rows.append((major / Decimal(rate) if rate else Decimal(0), r))
    rows.sort(key=lambda t: (-abs(t[0]), t[1]["counterparty"], t[1]["currency"], t[1]["value_date"]))
    tones = {"short": "t-bad", "missing": "t-bad", "over": "t-warn", "not_due": "t-muted"}
    bars = [
        BarRow(
            f"{r['counterparty']} {r['currency']} {r['value_date'].strftime('%m-%d')}",
            scaled,
            f"{fmt_amount(r['variance_minor'], r['currency'])} · {r['status']}",
            tones.get(r["status"], ""),
            f"{r['direction']}: expected {fmt_amount(r['expected_minor'], r['currency'])}, "
            f"received {fmt_amount(r['received_minor'], r['currency'])}: {r['explanation']}",
        )
        for scaled, r in rows[:FUND_CHART_ROWS]
    ]
    settled = result.fund_verification.height - fv.height
    return hbars(
        f"Received - expected, where they differ (bars in the reporting currency; {settled} "
        f"{'row' if settled == 1 else 'rows'} without variance)",
        bars,
        both_ways=True,
        label_width=170,
        bar_width=300,
        value_width=230,
    )
