"""The metrics of a run (``docs/metrics.md``): computed in the run's DuckDB (``sql/metrics.sql``) from its orders,
matches, outcomes, breaks and closures; kept in the catalog (``metric_log``, committed with the run), published
(``metrics.parquet``/``.csv``, ``summary.json``, the report) and emitted as Airflow metrics
(``pipelines.publish.statsd``).

Rates are exact: numerator and denominator as counted, the rate a ``Decimal`` rounded half-even to 6 places.
Latencies and ages are whole minutes or days (``quantile_disc``: a value that occurred), money int64 minor units.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import duckdb
import polars as pl

from pipelines.breaks.lifecycle import History
from pipelines.core import schema, sqlfiles

RATE_PLACES = Decimal("0.000001")
#: how a break that is no longer open counts for time_to_resolve: resolved by hand, matched, or cleared
RESOLVED_BY = ("resolved", "matched", "cleared")
#: the rows of the metrics that the trend over the last runs shows (the whole run, or one direction)
TREND_GROUPS = ("all", "direction", "currency")
TREND_RUNS = 7
#: the breaks of a withdrawal order that decide its execution (besides a match): not executed, or paired with a
#: debit of another amount, currency or date. A pending, timed-out (``order_timeout``) or repeated order has no
#: verdict yet
WITHDRAWAL_VERDICTS = (
    "withdrawal_not_executed",
    "withdrawal_amount_mismatch",
    "withdrawal_currency_mismatch",
    "outside_date_window",
)


def exact_rate(numerator: int, denominator: int) -> Decimal | None:
    """``numerator / denominator`` half-even to 6 places, exactly (None for an empty population)."""
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(RATE_PLACES, rounding=ROUND_HALF_EVEN)


def closures(day: dt.date, breaks: pl.DataFrame, closed: pl.DataFrame, history: History) -> pl.DataFrame:
    """Breaks that stopped being open in this run (``closed_breaks``: resolved by hand, matched, cleared), each
    with its type and the days from its first run to this one."""
    types = dict(history.open_breaks.select("break_id", "break_type").iter_rows())
    types.update(dict(breaks.select("break_id", "break_type").iter_rows()))
    rows = [
        {
            "break_id": r["break_id"],
            "break_type": types.get(r["break_id"], "unknown"),
            "days": (day - history.first_seen.get(r["break_id"], day)).days,
        }
        for r in closed.iter_rows(named=True)
        if r["closed_by"] in RESOLVED_BY
    ]
    return pl.DataFrame(rows, schema={"break_id": pl.String, "break_type": pl.String, "days": pl.Int64})


def compute(
    con: duckdb.DuckDBPyConnection,
    day: dt.date,
    breaks: pl.DataFrame,
    closed: pl.DataFrame,
    history: History,
) -> pl.DataFrame:
    """The run's metrics, one row per metric, statistic and group, in the ``metrics`` contract. Reads the run's
    tables after its lifecycle and feedback steps (``staged_withdrawals`` of ``breaks.build`` among them)."""
    src = {
        "metric_breaks": breaks.select(
            "break_id",
            "break_type",
            "status",
            "amount_minor",
            "currency",
            "counter_amount_minor",
            "counter_currency",
            "at_risk_minor",
            "at_risk_currency",
        ),
        "metric_closures": closures(day, breaks, closed, history),
    }
    for name, frame in src.items():
        con.register(f"{name}_src", frame)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_src")
        con.unregister(f"{name}_src")
    raw = sqlfiles.frame(con, sqlfiles.load("metrics"), {"business_date": day, "verdicts": list(WITHDRAWAL_VERDICTS)})
    values = [
        exact_rate(r["numerator"], r["denominator"])
        if r["unit"] == "ratio"
        else (Decimal(r["whole"]) if r["whole"] is not None else None)
        for r in raw.iter_rows(named=True)
    ]
    out = raw.drop("whole").with_columns(pl.Series("value", values, dtype=pl.Decimal(38, 6)))
    return schema.table("metrics").conform(out)


def summary(metrics: pl.DataFrame) -> list[dict[str, Any]]:
    """The metrics as JSON-friendly rows (the rate as exact decimal text, empty dimensions left out)."""
    out = []
    for r in metrics.drop("business_date").iter_rows(named=True):
        row = {k: v for k, v in r.items() if v is not None}
        if "value" in row:
            row["value"] = str(row["value"])
        out.append(row)
    return out


def trend(current: pl.DataFrame, earlier: pl.DataFrame) -> pl.DataFrame:
    """The headline metrics (whole run, per direction, money at risk per currency) of the last ``TREND_RUNS``
    runs up to this one: one row per metric and group, one column per business date (``value`` or
    ``amount_minor`` as text, blank where a run had no such figure)."""
    frames = [f for f in (earlier, current) if f.height]
    if not frames:
        return pl.DataFrame()
    both = pl.concat([f.select(current.columns) for f in frames], how="vertical_relaxed").filter(
        pl.col("group_by").is_in(TREND_GROUPS) & pl.col("statistic").is_in(["rate", "total", "p50"])
    )
    dates = sorted(set(both["business_date"].to_list()))[-TREND_RUNS:]
    both = both.filter(pl.col("business_date").is_in(dates))
    label = pl.concat_str(
        [
            pl.col("metric"),
            pl.lit(" "),
            pl.col("statistic"),
            pl.lit(" "),
            pl.coalesce(pl.col("direction"), pl.col("currency"), pl.lit("all")),
        ]
    )
    shown = both.with_columns(
        label.alias("metric_group"),
        pl.coalesce(pl.col("value").cast(pl.String), pl.col("amount_minor").cast(pl.String)).alias("figure"),
        pl.col("business_date").cast(pl.String).alias("date"),
    )
    wide = shown.pivot(on="date", index="metric_group", values="figure", aggregate_function="first").sort(
        "metric_group"
    )
    return wide.select("metric_group", *[d.isoformat() for d in dates if d.isoformat() in wide.columns])
