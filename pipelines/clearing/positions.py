"""Net positions per counterparty, currency and value date, and the bank credits received against them; for
withdrawals (direction ``withdrawal``), what the platform owes out per rail against the debits the bank booked.

``positions`` computes them in SQL from the run's tables (``sql/positions.sql``, ``sql/receipts.sql``);
``recompute_positions`` recomputes them independently, in Polars, from the staged Parquet and the published
matches, for the run's invariant 4.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

from pipelines.core import schema, sqlfiles
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
    all_lines = pl.read_parquet(files, columns=columns)
    lines = all_lines.filter(pl.col("record_type") != "payout")
    expected = lines.group_by("channel", "currency").agg(
        pl.col("net_minor").sum().alias("net_all"),
        pl.col("fee_minor").sum().alias("fees_all"),
        (pl.col("net_minor") + pl.col("fee_minor")).filter(pl.col("record_type") == "fee").sum().alias("fee_lines"),
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
        .join(all_lines.lazy().select("file_id", "line_no"), on=["file_id", "line_no"], how="semi")
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
        all_lines.select("channel", pl.col("payout_id").alias("item_ref")).unique(),
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
