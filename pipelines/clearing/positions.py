"""Net positions per counterparty, currency and value date, and the bank credits received against them; for
withdrawals (direction ``withdrawal``), what the platform owes out per rail against the debits the bank booked.

``positions`` computes them in SQL from the run's tables (``sql/positions.sql``, ``sql/receipts.sql``,
``sql/withdrawal_positions.sql``); ``recompute_positions`` (pay-ins) and ``recompute_withdrawal_positions``
recompute them independently, in Polars and Python, from the staged Parquet and the published matches and breaks,
for the run's invariant 4.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl
import pyarrow.parquet as pq

from pipelines.core import calendars, schema, sqlfiles
from pipelines.core.channels import Channel
from pipelines.run.result import RunResult


def settlement_models(channels: dict[str, Channel]) -> pl.DataFrame:
    """Each PSP channel's settlement model (gross or net)."""
    rows = [{"channel": c.id, "model": c.settlement.model} for c in channels.values() if c.kind == "psp"]
    return pl.DataFrame(sorted(rows, key=lambda r: r["channel"]), schema={"channel": pl.String, "model": pl.String})


def rail_ids(channels: dict[str, Channel]) -> list[str]:
    """The channels of kind ``rail``: the counterparties of withdrawal positions and fund verification."""
    return sorted(c.id for c in channels.values() if c.kind == "rail")


def positions(
    con: duckdb.DuckDBPyConnection, day: dt.date, channels: dict[str, Channel]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The net positions of the lines the run took in, and the bank credits received for payouts (receipts); then
    the withdrawals the run took in per rail (owed out as ``net_expected_minor``, the bank debits booked for them
    as ``received_minor``, direction ``withdrawal``; ``sql/withdrawal_positions.sql``) and those debits."""
    con.register("channel_models_src", settlement_models(channels))
    con.execute("CREATE OR REPLACE TEMP TABLE channel_models AS SELECT * FROM channel_models_src")
    sqlfiles.execute(con, sqlfiles.load("positions"), {"business_date": day})
    sqlfiles.execute(con, sqlfiles.load("withdrawal_positions"), {"business_date": day})
    table = schema.table("positions")
    out = pl.concat(
        [
            table.conform(sqlfiles.frame(con, "SELECT * FROM positions_out")),
            table.conform(sqlfiles.frame(con, "SELECT * FROM withdrawal_positions_out")),
        ]
    ).sort("direction", "counterparty", "currency", "value_date")
    receipts = pl.concat(
        [
            sqlfiles.frame(con, sqlfiles.load("receipts"), {"business_date": day}),
            sqlfiles.frame(con, "SELECT * FROM withdrawal_receipts"),
        ],
        how="vertical_relaxed",
    )
    return out, receipts


def recompute_positions(files: list[str], result: RunResult) -> pl.DataFrame:
    """Positions per counterparty and currency (all value dates together) from the staged Parquet of the
    settlement lines the run took in (``files``), in Polars, independently of the SQL, and the published
    matches."""
    schema_cols = ["counterparty", "currency", "net_expected_minor", "received_minor"]
    if not files:
        return pl.DataFrame(
            schema={
                "counterparty": pl.String,
                "currency": pl.String,
                "net_expected_minor": pl.Int64,
                "received_minor": pl.Int64,
            }
        )
    columns = ["file_id", "line_no", "channel", "record_type", "currency", "net_minor", "fee_minor", "payout_id"]
    # scanned, never held whole: at tens of millions of lines the sums and the keys are streamed from the files
    all_lines = pl.scan_parquet(files).select(columns)
    expected = (
        all_lines.filter(pl.col("record_type") != "payout")
        .group_by("channel", "currency")
        .agg(
            pl.col("net_minor").sum().alias("net_all"),
            pl.col("fee_minor").sum().alias("fees_all"),
            (pl.col("net_minor") + pl.col("fee_minor")).filter(pl.col("record_type") == "fee").sum().alias("fee_lines"),
        )
        .collect(engine="streaming")
    )
    m = pl.scan_parquet(result.folder / "matches.parquet")
    bank = m.filter((pl.col("item_table") == "bank_statement_lines") & (pl.col("side") == "right")).collect()
    # only the batches of this date's own lines (a credit for an earlier date's batch counts there)
    psp_members = (
        m.filter(
            (pl.col("item_table") == "psp_settlement_lines")
            & (pl.col("side") == "left")
            & pl.col("match_id").is_in(bank["match_id"].implode())
        )
        .join(all_lines.select("file_id", "line_no"), on=["file_id", "line_no"], how="semi")
        .select("match_id", "channel")
        .unique()
        .collect()
    )
    matched_credits = bank.join(psp_members, on="match_id", suffix="_psp").select(
        pl.col("channel_psp").alias("channel"), "currency", "amount_minor"
    )
    b = result.breaks
    batch_breaks = b.filter(
        (pl.col("item_table") == "psp_settlement_lines")
        & pl.col("line_no").is_null()
        & (pl.col("counter_table") == "bank_statement_lines")
    ).join(
        all_lines.select("channel", pl.col("payout_id").alias("item_ref")).unique().collect(engine="streaming"),
        on=["channel", "item_ref"],
        how="semi",
    )
    claimed = (
        pl.scan_parquet(result.folder / "outcomes.parquet")
        .filter((pl.col("outcome") == "break") & (pl.col("item_table") == "bank_statement_lines"))
        .collect()
    )
    broken_credits = batch_breaks.join(
        claimed, left_on=["break_id", "counter_file_id", "counter_line_no"], right_on=["ref", "file_id", "line_no"]
    ).select(
        "channel", pl.col("counter_currency").alias("currency"), pl.col("counter_amount_minor").alias("amount_minor")
    )
    received = (
        pl.concat([matched_credits, broken_credits])
        .group_by("channel", "currency")
        .agg(pl.col("amount_minor").sum().alias("received_minor"))
    )
    gross_model = {
        r["counterparty"]
        for r in result.positions.iter_rows(named=True)
        if r["net_expected_minor"]
        != r["gross_captured_minor"]
        + r["refunds_minor"]
        + r["chargebacks_minor"]
        + r["fees_minor"]
        + r["adjustments_minor"]
    }
    out = expected.join(received, on=["channel", "currency"], how="left").with_columns(
        pl.when(pl.col("channel").is_in(list(gross_model)))
        .then(pl.col("net_all") + pl.col("fees_all") - pl.col("fee_lines"))
        .otherwise(pl.col("net_all"))
        .alias("net_expected_minor"),
        pl.col("received_minor").fill_null(0),
    )
    return (
        out.select(
            pl.col("channel").alias("counterparty"),
            "currency",
            pl.col("net_expected_minor").cast(pl.Int64),
            pl.col("received_minor").cast(pl.Int64),
        )
        .select(schema_cols)
        .sort("counterparty", "currency")
    )


#: withdrawals the platform owes out (to be executed, or executed and since refunded after a return)
OWED_STATUSES = ("succeeded", "pending", "refunded")
_WITHDRAWAL_KEY = ["counterparty", "currency", "value_date"]


def recompute_withdrawal_positions(files: list[str], result: RunResult, channels: dict[str, Channel]) -> pl.DataFrame:
    """What the platform owes out per rail, currency and value date, and the debits booked for it, recomputed
    from the staged Parquet of the orders the run took in (``files``: one partition per own date) and the published
    matches and breaks, without the run's SQL: owed, the withdrawal orders to execute (``OWED_STATUSES``) of a
    channel that exists, at their business date plus the rail's cycle in business days of the currency's calendar;
    debited, the bank debits in the order's currency paired with those orders (a match, or a
    ``withdrawal_amount_mismatch`` break: the debit was booked for another amount)."""
    empty = pl.DataFrame(
        schema={
            "counterparty": pl.String,
            "currency": pl.String,
            "value_date": pl.Date,
            "net_expected_minor": pl.Int64,
            "received_minor": pl.Int64,
        }
    )
    if not files:
        return empty
    columns = ["file_id", "line_no", "business_date", "psp_channel", "status", "amount_minor", "currency", "direction"]
    # a file staged before orders had a direction holds pay-ins only
    with_direction = [f for f in files if "direction" in pq.read_schema(f).names]
    if not with_direction:
        return empty
    orders = pl.concat(  # only the withdrawals are read into memory (the filter is pushed into the scans)
        [
            pl.scan_parquet(f)
            .select(columns)
            .filter((pl.col("direction") == "withdrawal") & pl.col("status").is_in(OWED_STATUSES))
            for f in with_direction
        ],
        how="vertical_relaxed",
    ).collect(engine="streaming")
    # each rail's value date per currency and business date, once (a handful of days and currencies)
    dates = []
    for ch, cur, day in orders.select("psp_channel", "currency", "business_date").unique().sort("*").iter_rows():
        rail = channels.get(ch)
        if rail is not None:
            cycle, calendar = rail.settlement.cycle_business_days, rail.settlement.calendar_for(cur)
            value = calendars.add_business_days(day, cycle, calendar)
            dates.append({"psp_channel": ch, "currency": cur, "business_date": day, "value_date": value})
    if not dates:
        return empty
    owed = orders.join(pl.DataFrame(dates), on=["psp_channel", "currency", "business_date"]).select(
        "file_id", "line_no", pl.col("psp_channel").alias("counterparty"), "currency", "value_date", "amount_minor"
    )
    m = pl.scan_parquet(result.folder / "matches.parquet").select(
        "match_id",
        "item_table",
        "file_id",
        "line_no",
        "amount_minor",
        "currency",
        "original_amount_minor",
        "original_currency",
    )
    order_rows = m.filter(pl.col("item_table") == "orders").select("match_id", "file_id", "line_no")
    bank_rows = m.filter(pl.col("item_table") == "bank_statement_lines").select(
        "match_id",
        pl.coalesce("original_amount_minor", "amount_minor").alias("debit_minor"),
        pl.coalesce("original_currency", "currency").alias("debit_ccy"),
    )
    matched = (
        order_rows.join(bank_rows, on="match_id").select("file_id", "line_no", "debit_minor", "debit_ccy").collect()
    )
    b = result.breaks
    other_amount = b.filter(
        (pl.col("break_type") == "withdrawal_amount_mismatch")
        & (pl.col("item_table") == "bank_statement_lines")
        & (pl.col("counter_table") == "orders")
    ).select(
        pl.col("counter_file_id").alias("file_id"),
        pl.col("counter_line_no").alias("line_no"),
        pl.col("amount_minor").abs().alias("debit_minor"),
        pl.col("currency").alias("debit_ccy"),
    )
    debits = (
        pl.concat([matched, other_amount])
        .join(owed, on=["file_id", "line_no"])
        .filter(pl.col("debit_ccy") == pl.col("currency"))
        .group_by(_WITHDRAWAL_KEY)
        .agg(pl.col("debit_minor").sum().alias("received_minor"))
    )
    return (
        owed.group_by(_WITHDRAWAL_KEY)
        .agg(pl.col("amount_minor").sum().alias("net_expected_minor"))
        .join(debits, on=_WITHDRAWAL_KEY, how="left")
        .select(
            *_WITHDRAWAL_KEY,
            pl.col("net_expected_minor").cast(pl.Int64),
            pl.col("received_minor").fill_null(0).cast(pl.Int64),
        )
        .sort(_WITHDRAWAL_KEY)
    )
