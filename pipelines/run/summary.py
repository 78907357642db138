"""``summary.json``: what a run found, in figures (the money at risk of ``run.at_risk`` first, rows in, outcomes,
matches per rule, breaks by type, age and SLA, carried items, positions, net per currency, fund verification,
invariants, the metrics of ``run.metrics``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import polars as pl

from pipelines.match.rules import MATCHABLE_TABLES
from pipelines.run import at_risk, metrics
from pipelines.run.result import RunResult


def build_summary(
    con: duckdb.DuckDBPyConnection,
    result: RunResult,
    per_rule: dict[str, int],
    invariants: dict[str, dict[str, Any]],
    reporting_currency: str = "EUR",
) -> dict[str, Any]:
    counts = con.execute("SELECT item_table, outcome, count(*) FROM out_outcomes GROUP BY ALL ORDER BY ALL").fetchall()
    rows_in = {t: sum(int(n) for tbl, _, n in counts if tbl == t) for t in (*MATCHABLE_TABLES, "fx_rates")}
    by_outcome: dict[str, int] = {}
    for _, outcome, n in counts:
        by_outcome[str(outcome)] = by_outcome.get(str(outcome), 0) + int(n)
    by_outcome = dict(sorted(by_outcome.items()))
    breaks_by_type = {
        str(k): int(v) for k, v in result.breaks.group_by("break_type").len().sort("break_type").iter_rows()
    }
    return {
        "business_date": result.business_date.isoformat(),
        "run_id": result.run_id,
        "mode": result.mode,
        "rules_version": result.rules_version,
        "money_at_risk": at_risk.money_at_risk(
            result.breaks, result.closed_breaks, result.business_date, reporting_currency
        ),
        "files": result.manifest.select(
            "channel", "file_name", "file_id", "file_status", "rows_in", "rows_staged", "rows_quarantined"
        ).to_dicts(),
        "rows_in": rows_in,
        "outcomes": by_outcome,
        "matches": {
            "total": invariants["matches_balance"]["matches"],
            "per_rule": dict(sorted(per_rule.items())),
        },
        "breaks": {
            "total": result.breaks.height,
            "by_type": breaks_by_type,
            "open": int((result.breaks["status"] == "open").sum()),
            "resolved": int((result.breaks["status"] == "resolved").sum()),
            "closed_since_previous_run": result.closed_breaks.height,
            "by_aging_bucket": {
                str(k): int(v) for k, v in result.breaks.group_by("aging_bucket").len().sort("aging_bucket").iter_rows()
            },
            "sla_breached": int((result.breaks["sla_status"] == "breached").sum()),
        },
        "carried_forward_in": int(result.manifest["rows_carried"].sum()),
        "intake": _intake(result),
        "completeness": result.completeness,
        "open_items_out": result.open_items.height,
        "order_feedback": result.order_feedback.height,
        "net_by_currency": [
            {
                k: (v.isoformat() if isinstance(v, dt.date) else (str(v) if v is not None and k == "fx_rate" else v))
                for k, v in r.items()
            }
            for r in result.net_by_currency.to_dicts()
        ],
        "fund_verification": {
            str(k): int(v) for k, v in result.fund_verification.group_by("status").len().sort("status").iter_rows()
        },
        "quarantined_files": result.manifest.filter(pl.col("file_status") == "quarantined")["file_name"].to_list(),
        "positions": [
            {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in r.items()}
            for r in result.positions.to_dicts()
        ],
        "invariants": {k: {kk: vv for kk, vv in v.items()} for k, v in invariants.items()},
        "metrics": metrics.summary(result.metrics) if result.metrics.height else [],
    }


def _intake(result: RunResult) -> dict[str, Any]:
    """What the run took in: rows per own date, and the late ones per channel and date with their lag."""
    staged = result.intake.filter(pl.col("item_table") != "quarantine")
    late = (
        staged.filter(pl.col("late_days").is_not_null())
        .group_by("channel", "row_date", "late_days")
        .agg(pl.col("rows").sum())
        .sort("channel", "row_date")
    )
    by_date = staged.group_by("row_date").agg(pl.col("rows").sum()).sort("row_date")
    return {
        "rows_by_own_date": {r["row_date"].isoformat(): int(r["rows"]) for r in by_date.iter_rows(named=True)},
        "late_rows": int(late["rows"].sum()) if late.height else 0,
        "late": [
            {
                "channel": r["channel"],
                "row_date": r["row_date"].isoformat(),
                "lag_days": int(r["late_days"]),
                "rows": int(r["rows"]),
            }
            for r in late.iter_rows(named=True)
        ],
    }
