"""Fund verification of withdrawals: what the platform owes out per rail against the debits the bank booked,
across runs (a rail known from the channels even on a day without its positions). Amounts stay positive; the
direction says which way the money goes.

Invariants asserted here: every row carries a direction; a rail's row is ``withdrawal`` whether its expected
amount comes from the date's positions or from an earlier run's; net per currency counts withdrawals negative.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl

from pipelines.clearing import funds
from pipelines.core import schema

DAY = dt.date(2026, 11, 26)


def _positions(rows: list[tuple[str, str, int, int, str]]) -> pl.DataFrame:
    return schema.table("positions").conform(
        pl.DataFrame(
            [
                {
                    "business_date": DAY,
                    "counterparty": cp,
                    "currency": ccy,
                    "value_date": DAY,
                    "gross_captured_minor": 0,
                    "refunds_minor": 0,
                    "chargebacks_minor": 0,
                    "fees_minor": 0,
                    "adjustments_minor": 0,
                    "net_expected_minor": expected,
                    "received_minor": received,
                    "variance_minor": received - expected,
                    "direction": direction,
                }
                for cp, ccy, expected, received, direction in rows
            ]
        )
    )


def _receipts(rows: list[tuple[str, str, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"as_of_date": DAY, "counterparty": cp, "currency": c, "value_date": DAY, "received_minor": r}
            for cp, c, r in rows
        ],
        schema={
            "as_of_date": pl.Date,
            "counterparty": pl.String,
            "currency": pl.String,
            "value_date": pl.Date,
            "received_minor": pl.Int64,
        },
    )


def test_withdrawals_are_verified_against_debits_with_their_direction() -> None:
    today = _positions([("adyen_eu", "EUR", 1000, 1000, "payin"), ("sepa_out", "EUR", 500, 400, "withdrawal")])
    receipts = _receipts([("adyen_eu", "EUR", 1000), ("sepa_out", "EUR", 400)])
    # ach_out's withdrawals were owed in an earlier run; their debit comes today
    history = pl.DataFrame(
        {"counterparty": ["ach_out"], "currency": ["USD"], "value_date": [DAY], "net_expected_minor": [700]}
    )
    history_receipts = _receipts([])
    fv = funds.fund_verification(
        DAY,
        today,
        receipts,
        history,
        history_receipts.drop("as_of_date"),
        pl.DataFrame(
            {"break_type": [], "channel": [], "currency": [], "reason": []},
            schema={"break_type": pl.String, "channel": pl.String, "currency": pl.String, "reason": pl.String},
        ),
        ["ach_out", "sepa_out"],
    )
    got = {
        r["counterparty"]: (r["direction"], r["status"], r["expected_minor"], r["received_minor"])
        for r in fv.iter_rows(named=True)
    }
    assert got == {
        "adyen_eu": ("payin", "received", 1000, 1000),
        "sepa_out": ("withdrawal", "short", 500, 400),
        "ach_out": ("withdrawal", "missing", 700, 0),
    }
    assert "withdrawals" in fv.filter(pl.col("counterparty") == "ach_out")["explanation"][0]

    net = funds.net_by_currency(today, DAY, "EUR", {"EUR": Decimal(1)})
    assert net.select("net_expected_minor", "received_minor").row(0) == (500, 600)
