"""Clearing beyond one date: multilateral net per currency, and fund verification of expected payouts
against the bank credits received for them, across the runs recorded so far."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from decimal import Decimal

import polars as pl

from pipelines.breaks import lifecycle
from pipelines.core import money, schema


def net_by_currency(
    positions: pl.DataFrame, day: dt.date, reporting_currency: str, fx: dict[str, Decimal]
) -> pl.DataFrame:
    """Net across counterparties per currency, converted to the reporting currency at the date's rate; a
    withdrawal position (owed out, debited) counts with a minus sign."""
    sign = pl.when(pl.col("direction") == "withdrawal").then(-1).otherwise(1) if "direction" in positions.columns else 1
    agg = (
        positions.with_columns(
            pl.col("net_expected_minor") * sign, pl.col("received_minor") * sign
        )  # withdrawals are owed out and debited: they count against the pay-ins of their currency
        .group_by("currency")
        .agg(
            pl.col("counterparty").n_unique().cast(pl.Int64).alias("counterparties"),
            pl.col("net_expected_minor").sum(),
            pl.col("received_minor").sum(),
        )
        .sort("currency")
    )
    rows = []
    for r in agg.iter_rows(named=True):
        converted, rate = lifecycle.convert(int(r["net_expected_minor"]), r["currency"], reporting_currency, fx)
        rows.append(
            {
                "business_date": day,
                "currency": r["currency"],
                "counterparties": r["counterparties"],
                "net_expected_minor": int(r["net_expected_minor"]),
                "received_minor": int(r["received_minor"]),
                "variance_minor": int(r["received_minor"]) - int(r["net_expected_minor"]),
                "reporting_currency": reporting_currency,
                "net_expected_reporting_minor": converted,
                "fx_rate": rate,
                "fx_rate_date": day if rate is not None else None,
            }
        )
    t = schema.table("net_by_currency")
    return t.conform(pl.DataFrame(rows, schema=t.polars_schema())) if rows else pl.DataFrame(schema=t.polars_schema())


def fund_verification(
    day: dt.date,
    positions: pl.DataFrame,
    receipts: pl.DataFrame,
    history_positions: pl.DataFrame,
    history_receipts: pl.DataFrame,
    breaks: pl.DataFrame,
    withdrawal_counterparties: Collection[str] = (),
) -> pl.DataFrame:
    """Expected payouts (positions of every run so far) against credits received (every run so far); for the
    rails (``withdrawal_counterparties``, and every counterparty of a withdrawal position of the date), the
    withdrawals owed out against the debits the bank booked for them (direction ``withdrawal``)."""
    rails = set(withdrawal_counterparties)
    if "direction" in positions.columns:
        rails |= set(positions.filter(pl.col("direction") == "withdrawal")["counterparty"].to_list())
    expected = (
        pl.concat(
            [
                history_positions.select("counterparty", "currency", "value_date", "net_expected_minor"),
                positions.select("counterparty", "currency", "value_date", "net_expected_minor"),
            ]
        )
        .group_by("counterparty", "currency", "value_date")
        .agg(pl.col("net_expected_minor").sum().alias("expected_minor"))
    )
    received = (
        pl.concat(
            [
                history_receipts.select("counterparty", "currency", "value_date", "received_minor"),
                receipts.select("counterparty", "currency", "value_date", "received_minor"),
            ]
        )
        .group_by("counterparty", "currency", "value_date")
        .agg(pl.col("received_minor").sum())
    )
    joined = (
        expected.join(received, on=["counterparty", "currency", "value_date"], how="full", coalesce=True)
        .with_columns(pl.col("expected_minor").fill_null(0), pl.col("received_minor").fill_null(0))
        .sort("value_date", "counterparty", "currency")
    )
    mismatch = breaks.filter(pl.col("break_type") == "payout_amount_mismatch")
    rows = []
    for r in joined.iter_rows(named=True):
        expected_minor, received_minor = int(r["expected_minor"]), int(r["received_minor"])
        variance = received_minor - expected_minor
        cur = r["currency"]
        out = r["counterparty"] in rails
        if r["value_date"] > day and received_minor == 0:
            status, text = "not_due", f"value date {r['value_date']} is after {day}"
        elif variance == 0:
            status, text = "received", "debited in full" if out else "received in full"
        elif received_minor == 0:
            what = "bank debit for the withdrawals of" if out else "bank credit for"
            status, text = "missing", f"no {what} {money.format_minor(expected_minor, cur)} {cur} due"
        elif out:
            status = "short" if variance < 0 else "over"
            text = (
                f"debited {money.format_minor(variance, cur)} {cur} against the withdrawals due "
                "(see the withdrawal breaks of the rail)"
            )
        else:
            status = "short" if variance < 0 else "over"
            notes = mismatch.filter((pl.col("channel") == r["counterparty"]) & (pl.col("currency") == cur))
            why = "; ".join(notes["reason"].to_list()) or "credits do not add up to the payouts due"
            text = f"received {money.format_minor(variance, cur)} {cur} against the payouts due: {why}"
        rows.append(
            {
                "as_of_date": day,
                "counterparty": r["counterparty"],
                "currency": cur,
                "value_date": r["value_date"],
                "expected_minor": expected_minor,
                "received_minor": received_minor,
                "variance_minor": variance,
                "status": status,
                "explanation": text,
                "direction": "withdrawal" if out else "payin",
            }
        )
    t = schema.table("fund_verification")
    return t.conform(pl.DataFrame(rows, schema=t.polars_schema())) if rows else pl.DataFrame(schema=t.polars_schema())
