"""The breaks of a run and what the lifecycle leaves behind: the date's breaks (matching's and files delivered
again with other bytes) with the names of their files, enriched with ids, ages, SLAs and money at risk; the items
that stay open; the breaks closed since the previous run (and what the previous run showed of them); and the
order-status feedback for the order system."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from typing import Any

import duckdb
import polars as pl
import pyarrow.parquet as pq

from pipelines.breaks import at_risk, lifecycle
from pipelines.core import schema, sqlfiles
from pipelines.core.config import Settings


def replaced_breaks(replaced: list[dict[str, Any]], day: dt.date, settings: Settings) -> pl.DataFrame:
    """Files delivered again under an ingested name with other bytes: a break each, until resolved."""
    rows = []
    for r in sorted(replaced, key=lambda r: (r["channel"], r["source_path"], r["file_id"])):
        where = settings.relative(r.get("quarantine_path") or "")
        rows.append(
            {
                "business_date": day,
                "break_id": "B"
                + hashlib.sha256(f"{r['channel']}|{r['source_path']}|{r['file_id']}".encode()).hexdigest()[:16],
                "break_type": "file_replaced",
                "channel": r["channel"],
                "item_table": "files",
                "item_ref": r["file_name"],
                "file_id": r["file_id"],
                "file_name": r["file_name"],
                "amount_minor": 0,
                "currency": "XXX",
                "counter_table": "files",
                "counter_ref": r.get("previous_file_id"),
                "item_count": 0,
                "reason": f"{r['file_name']} was delivered again with other bytes (SHA-256 {r['file_id'][:12]}…, "
                f"ingested before as {str(r.get('previous_file_id'))[:12]}…); the new bytes are kept in "
                f"{where} and were not processed",
            }
        )
    return pl.DataFrame(rows) if rows else pl.DataFrame()


def label_with_file(
    reason: str, channel: str | None, line_no: int | None, file_name: str | None, counterpart: bool = False
) -> str:
    """``reason`` with the first label ``(<channel> line <n>)`` of an item made ``(<file name> line <n>,
    <channel>)``; for a repeated order, ``at line <n> repeats`` (the item) or ``at line <n> of another file`` (its
    ``counterpart``) naming the file."""
    if file_name is None or line_no is None:
        return reason
    said = f" at line {line_no} of another file" if counterpart else f" at line {line_no} repeats "
    named = f" at line {line_no} of {file_name}" if counterpart else f" at line {line_no} of {file_name} repeats "
    label = f"({channel} line {line_no})"
    if channel is not None and label in reason:
        return reason.replace(label, f"({file_name} line {line_no}, {channel})", 1)
    return reason.replace(said, named, 1)


def name_files(found: pl.DataFrame) -> pl.DataFrame:
    """Reasons that say where an item and its counterpart came from name their files as received (the item's
    label comes first in a reason, its counterpart's after it: ``label_with_file``), not only their channel."""
    if not found.height or "file_name" not in found.columns:
        return found
    reasons = [
        label_with_file(
            label_with_file(r["reason"], r["channel"], r["line_no"], r["file_name"]),
            r["counter_channel"],
            r["counter_line_no"],
            r["counter_file_name"],
            counterpart=True,
        )
        for r in found.select(
            "reason", "channel", "line_no", "file_name", "counter_channel", "counter_line_no", "counter_file_name"
        ).iter_rows(named=True)
    ]
    return found.with_columns(pl.Series("reason", reasons, dtype=pl.String))


def day_breaks(
    con: duckdb.DuckDBPyConnection,
    day: dt.date,
    policy: lifecycle.BreakPolicy,
    history: lifecycle.History,
    fx: dict[str, Decimal],
    replaced: list[dict[str, Any]],
    settings: Settings,
    operational: pl.DataFrame | None = None,
    file_names: dict[str, str] | None = None,
) -> pl.DataFrame:
    """Every break of the date, with its lifecycle fields (``lifecycle.enrich_breaks``): matching's, files
    delivered again with other bytes, and ``operational`` ones (expected files missing). ``file_names`` (file id
    -> the name it was received under) names the files of the items and counterparts, in their columns and in
    the reasons (``name_files``)."""
    names = sorted((file_names or {}).items())
    lifecycle.temp_table(
        con,
        "break_file_names",
        pl.DataFrame(names, schema={"file_id": pl.String, "file_name": pl.String}, orient="row"),
    )
    found = pl.concat(
        [
            name_files(sqlfiles.frame(con, sqlfiles.load("out_breaks"), {"business_date": day})),
            replaced_breaks(replaced, day, settings),
            operational if operational is not None else pl.DataFrame(),
        ],
        how="diagonal_relaxed",
    )
    return lifecycle.enrich_breaks(found, day, policy, history, fx)


def open_items(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The items still open at the end of the date, carried into the next run."""
    return sqlfiles.frame(con, sqlfiles.load("lifecycle_open_items"))


SHOWN_BEFORE = {
    "break_id": pl.String,
    "break_type": pl.String,
    "counterparty": pl.String,
    "item_ref": pl.String,
    "at_risk_minor": pl.Int64,
    "at_risk_currency": pl.String,
}


def shown_before(settings: Settings, previous_date: dt.date | None) -> pl.DataFrame:
    """The breaks the run of ``previous_date`` published (``SHOWN_BEFORE`` columns): what a break this run closes
    was, and the money that was at risk in it. A run published before breaks carried their money at risk gets it
    from its amounts (``at_risk.at_risk_minor``); none when there is no such run."""
    empty = pl.DataFrame(schema=SHOWN_BEFORE)
    if previous_date is None:
        return empty
    path = settings.outputs / previous_date.isoformat() / "breaks.parquet"
    if not path.exists():
        return empty
    before = pl.read_parquet(path)
    if "at_risk_minor" not in before.columns:
        risks = [
            at_risk.at_risk_minor(
                r["break_type"], r["amount_minor"], r["currency"], r["counter_amount_minor"], r["counter_currency"]
            )
            for r in before.iter_rows(named=True)
        ]
        before = before.with_columns(
            pl.Series("at_risk_minor", [m for m, _ in risks], dtype=pl.Int64),
            pl.Series("at_risk_currency", [c for _, c in risks], dtype=pl.String),
        )
    if "counterparty" not in before.columns:
        before = before.with_columns(pl.col("channel").alias("counterparty"))
    return before.select([pl.col(c).cast(t) for c, t in SHOWN_BEFORE.items()])


def closed_breaks(
    con: duckdb.DuckDBPyConnection,
    day: dt.date,
    run_id: str,
    day_breaks: pl.DataFrame,
    before: pl.DataFrame | None = None,
    resolutions: dict[str, tuple[str, str, str]] | None = None,
    reporting_currency: str = "EUR",
    fx: dict[str, Decimal] | None = None,
) -> pl.DataFrame:
    """Every break open before this run (on a carried item, or open at the end of the previous run: the table
    ``previous_breaks`` of ``lifecycle.apply``) that is not
    open any more, with what closed it: a match (and its rule), a resolution (and who made it), another break, a
    pending state, or its condition cleared (a missing file arrived, a payout's credit came); and what it was as
    the previous run showed it (``before``, from ``shown_before``), with the money that was at risk in it converted
    at this run's rates (``fx``)."""
    con.register("breaks_now_src", day_breaks.filter(pl.col("status") == "open").select("break_id"))
    con.execute("CREATE OR REPLACE TEMP TABLE breaks_now AS SELECT * FROM breaks_now_src")
    closed = sqlfiles.frame(con, sqlfiles.load("lifecycle_closures"), {"business_date": day, "run_id": run_id})
    shown = before if before is not None else pl.DataFrame(schema=SHOWN_BEFORE)
    closed = closed.join(shown.unique("break_id", keep="first"), on="break_id", how="left", maintain_order="left")
    by = [
        (resolutions or {}).get(r["break_id"], ("", None, ""))[1] if r["closed_by"] == "resolved" else None
        for r in closed.iter_rows(named=True)
    ]
    converted = [
        None
        if r["at_risk_minor"] is None
        else at_risk.to_reporting(r["at_risk_minor"], r["at_risk_currency"], reporting_currency, fx or {})[0]
        for r in closed.iter_rows(named=True)
    ]
    closed = closed.with_columns(
        pl.Series("resolved_by", by, dtype=pl.String),
        pl.Series("at_risk_reporting_minor", converted, dtype=pl.Int64),
        pl.lit(reporting_currency).alias("reporting_currency"),
    )
    return schema.table("closed_breaks").conform(closed)


EMPTY_STAGED_WITHDRAWALS = (
    "CREATE OR REPLACE TEMP TABLE staged_withdrawals AS SELECT end_to_end_key(order_id) AS order_key, order_id, "
    "psp_channel, status, payment_method, CAST(file_id AS VARCHAR) AS file_id, line_no FROM orders LIMIT 0"
)


def staged_order_files(settings: Settings, day: dt.date) -> list[str]:
    """The staged Parquet files of the orders dated on or before ``day``."""
    return sorted(
        str(p)
        for p in (settings.staging / "orders").glob("business_date=*/channel=*/*.parquet")
        if p.parent.parent.name <= f"business_date={day.isoformat()}"
    )


def staged_withdrawals(con: duckdb.DuckDBPyConnection, settings: Settings, day: dt.date) -> None:
    """Table ``staged_withdrawals`` (``sql/staged_withdrawals.sql``): the withdrawal orders staged on or before
    ``day`` that this run's items name by end-to-end id although an earlier run may have decided them
    (``sql/staged_withdrawal_keys.sql``: the rail's returns, the debits of withdrawal breaks carried without their
    order). They give those breaks their order-feedback row and a return its rail in the return rate."""
    sqlfiles.execute(con, sqlfiles.load("staged_withdrawal_keys"))
    keys = con.execute("SELECT count(*) FROM staged_withdrawal_keys").fetchall()
    # files staged before orders had a direction hold pay-ins only
    files = [f for f in staged_order_files(settings, day) if "direction" in pq.read_schema(f).names]
    if files and keys[0][0]:
        sqlfiles.execute(con, sqlfiles.load("staged_withdrawals"), {"files": files})
    else:
        con.execute(EMPTY_STAGED_WITHDRAWALS)


def order_feedback(con: duckdb.DuckDBPyConnection, settings: Settings, day: dt.date) -> pl.DataFrame:
    """Orders to correct in the order system (refunds of orders staged on this date or earlier among them), pay-ins
    (``sql/order_feedback.sql``) and withdrawals (``sql/withdrawal_feedback.sql``, with the action to take; the
    breaks whose withdrawal an earlier run decided find it in ``staged_withdrawals``, run first)."""
    staged_orders = staged_order_files(settings, day)
    if staged_orders:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE staged_orders AS SELECT order_id, psp_channel, status "
            "FROM read_parquet($files) WHERE order_id IN "
            "(SELECT merchant_reference FROM psp_settlement_lines WHERE record_type = 'refund')",
            {"files": staged_orders},
        )
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE staged_orders AS SELECT order_id, psp_channel, status FROM orders")
    payins = sqlfiles.frame(con, sqlfiles.load("order_feedback"), {"business_date": day})
    withdrawals = sqlfiles.frame(con, sqlfiles.load("withdrawal_feedback"), {"business_date": day})
    return schema.table("order_feedback").conform(pl.concat([payins, withdrawals], how="diagonal_relaxed"))
