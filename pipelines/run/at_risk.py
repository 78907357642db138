"""Money at risk of a run, in figures: ``summary.json``'s ``money_at_risk`` (docs/money-at-risk.md).

Over the run's open breaks (a resolved break is not at risk), each counted with its ``at_risk_minor`` (item
currency) and ``at_risk_reporting_minor`` (reporting currency, at the business date's reference rate): the total,
per counterparty and currency, per aging bucket and per SLA state; the open breaks split into new (first seen by
this run) and carried (first seen by an earlier one); and the breaks this run closed (``closed_breaks``, with the
money at risk the previous run showed, at this run's rate). A break whose currency has no rate on the date is
counted in ``breaks`` but not in the reporting-currency sums; its counterparty and currency row shows
``at_risk_reporting_minor`` as null. Integers only: minor units.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from pipelines.breaks.lifecycle import AGING_BUCKETS

#: the SLA states of ``by_sla``: within, breached, and none (a type without an SLA)
SLA_STATES = ("within", "breached", "none")


def _reporting_sum(frame: pl.DataFrame) -> int:
    """Sum of ``at_risk_reporting_minor`` over the rows that have one."""
    return int(frame["at_risk_reporting_minor"].drop_nulls().sum()) if frame.height else 0


def _count(frame: pl.DataFrame) -> dict[str, int]:
    return {"breaks": frame.height, "at_risk_reporting_minor": _reporting_sum(frame)}


def by_counterparty_currency(open_breaks: pl.DataFrame) -> list[dict[str, Any]]:
    """One row per counterparty and currency of the open breaks, the largest reporting amount first (a row
    without one last), then by counterparty and currency."""
    if not open_breaks.height:
        return []
    rows = []
    grouped = open_breaks.group_by("counterparty", "at_risk_currency").agg(
        pl.len().alias("breaks"),
        pl.col("at_risk_minor").sum(),
        pl.col("at_risk_reporting_minor").sum(),
        pl.col("at_risk_reporting_minor").is_null().any().alias("unconverted"),
    )
    for r in grouped.iter_rows(named=True):
        rows.append(
            {
                "counterparty": str(r["counterparty"]),
                "currency": str(r["at_risk_currency"]),
                "breaks": int(r["breaks"]),
                "at_risk_minor": int(r["at_risk_minor"]),
                "at_risk_reporting_minor": None if r["unconverted"] else int(r["at_risk_reporting_minor"]),
            }
        )
    return sorted(
        rows,
        key=lambda r: (
            r["at_risk_reporting_minor"] is None,
            -(r["at_risk_reporting_minor"] or 0),
            r["counterparty"],
            r["currency"],
        ),
    )


def money_at_risk(breaks: pl.DataFrame, closed: pl.DataFrame, day: dt.date, reporting_currency: str) -> dict[str, Any]:
    """``summary.json``'s ``money_at_risk`` of a run: its ``breaks`` (``breaks`` contract) and ``closed``
    (``closed_breaks`` contract) of business date ``day``."""
    open_breaks = breaks.filter(pl.col("status") == "open")
    sla = open_breaks.with_columns(pl.col("sla_status").fill_null("none"))
    return {
        "reporting_currency": reporting_currency,
        "total_reporting_minor": _reporting_sum(open_breaks),
        "open_breaks": open_breaks.height,
        "by_counterparty_currency": by_counterparty_currency(open_breaks),
        "by_aging": [
            {"aging_bucket": label, **_count(open_breaks.filter(pl.col("aging_bucket") == label))}
            for _, _, label in AGING_BUCKETS
        ],
        "by_sla": [{"sla_status": state, **_count(sla.filter(pl.col("sla_status") == state))} for state in SLA_STATES],
        "new": _count(open_breaks.filter(pl.col("first_seen") == day)),
        "carried": _count(open_breaks.filter(pl.col("first_seen") < day)),
        "closed": _count(closed),
    }
