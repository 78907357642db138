"""The breaks of a run and what the lifecycle leaves behind: the date's breaks (matching's and files delivered
again with other bytes) enriched with ids, ages, SLAs and amounts at risk; the items that stay open; the
breaks closed since the previous run; and the order-status feedback for the order system."""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from typing import Any

import duckdb
import polars as pl
import pyarrow.parquet as pq

from pipelines.breaks import lifecycle
from pipelines.core import schema, sqlfiles
from pipelines.core.config import Settings


def replaced_breaks(replaced: list[dict[str, Any]], day: dt.date, settings: Settings) -> pl.DataFrame:
    """Files delivered again under an ingested name with other bytes: a break each, until resolved."""
    rows = []
    for r in sorted(replaced, key=lambda r: (r["channel"], r["source_path"], r["file_id"])):
        where = r.get("quarantine_path") or ""
        if where.startswith(str(settings.home)):
            where = where[len(str(settings.home)) + 1 :]
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


def day_breaks(
    con: duckdb.DuckDBPyConnection,
    day: dt.date,
    policy: lifecycle.BreakPolicy,
    history: lifecycle.History,
    fx: dict[str, Decimal],
    replaced: list[dict[str, Any]],
    settings: Settings,
    operational: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Every break of the date, with its lifecycle fields (``lifecycle.enrich_breaks``): matching's, files
    delivered again with other bytes, and ``operational`` ones (expected files missing)."""
    found = pl.concat(
        [
            sqlfiles.frame(con, sqlfiles.load("out_breaks"), {"business_date": day}),
            replaced_breaks(replaced, day, settings),
            operational if operational is not None else pl.DataFrame(),
        ],
        how="diagonal_relaxed",
    )
    return lifecycle.enrich_breaks(found, day, policy, history, fx)


def open_items(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The items still open at the end of the date, carried into the next run."""
    return sqlfiles.frame(con, sqlfiles.load("lifecycle_open_items"))


def closed_breaks(
    con: duckdb.DuckDBPyConnection,
    day: dt.date,
    run_id: str,
    day_breaks: pl.DataFrame,
) -> pl.DataFrame:
    """Every break open before this run (on a carried item, or open at the end of the previous run: the table
    ``previous_breaks`` of ``lifecycle.apply``) that is not
    open any more, with what closed it: a match (and its rule), a resolution, another break, a pending state,
    or its condition cleared (a missing file arrived, a payout's credit came)."""
    con.register("breaks_now_src", day_breaks.filter(pl.col("status") == "open").select("break_id"))
    con.execute("CREATE OR REPLACE TEMP TABLE breaks_now AS SELECT * FROM breaks_now_src")
    return schema.table("closed_breaks").conform(
        sqlfiles.frame(con, sqlfiles.load("lifecycle_closures"), {"business_date": day, "run_id": run_id})
    )


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
