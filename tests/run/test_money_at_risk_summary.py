"""``summary.json``'s ``money_at_risk`` (pipelines/run/at_risk.py, docs/money-at-risk.md) on small inline tables.

Invariants checked here:
1. Only open breaks are at risk; the total is the sum of their reporting amounts, and every breakdown (by
   counterparty and currency, by aging bucket, by SLA state, new + carried) adds up to it and to the open count.
2. A currency without a rate is counted in breaks but left out of the reporting sums, and its row says so (null).
3. Closed: the breaks this run closed, with the amounts ``closed_breaks`` carries.
4. Integers only (minor units), the exact keys other readers render.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import polars as pl

from pipelines.core import schema
from pipelines.run.at_risk import money_at_risk

DAY = dt.date(2026, 11, 26)
EARLIER = dt.date(2026, 11, 20)

KEYS = {
    "reporting_currency",
    "total_reporting_minor",
    "open_breaks",
    "by_counterparty_currency",
    "by_aging",
    "by_sla",
    "new",
    "carried",
    "closed",
}


def brk(
    break_id: str,
    counterparty: str,
    currency: str,
    at_risk: int,
    reporting: int | None,
    status: str = "open",
    first_seen: dt.date = DAY,
    aging: str = "0-1",
    sla: str | None = None,
) -> dict[str, Any]:
    return {
        "business_date": DAY,
        "break_id": break_id,
        "break_type": "order_not_settled",
        "channel": "orders",
        "counterparty": counterparty,
        "item_table": "orders",
        "amount_minor": at_risk,
        "currency": currency,
        "item_count": 1,
        "reason": "r",
        "status": status,
        "first_seen": first_seen,
        "last_seen": DAY,
        "age_days": (DAY - first_seen).days,
        "aging_bucket": aging,
        "sla_status": sla,
        "at_risk_minor": at_risk,
        "at_risk_currency": currency,
        "at_risk_reporting_minor": reporting,
        "reporting_currency": "EUR",
    }


def breaks(rows: list[dict[str, Any]]) -> pl.DataFrame:
    contract = schema.table("breaks")
    if not rows:
        return pl.DataFrame(schema=contract.polars_schema())
    return contract.conform(pl.DataFrame(rows, infer_schema_length=None))


def closed(rows: list[tuple[str, int | None]]) -> pl.DataFrame:
    frame = pl.DataFrame(
        [
            {
                "as_of_date": DAY,
                "break_id": b,
                "closed_by": "matched",
                "run_id": "r1",
                "at_risk_reporting_minor": amount,
            }
            for b, amount in rows
        ],
        schema={
            "as_of_date": pl.Date,
            "break_id": pl.String,
            "closed_by": pl.String,
            "run_id": pl.String,
            "at_risk_reporting_minor": pl.Int64,
        },
    )
    return schema.table("closed_breaks").conform(frame)


FRAME = breaks(
    [
        brk("B1", "stripe_eu", "MXN", 1000, 47, sla="within"),
        brk("B2", "stripe_eu", "MXN", 19600, 918, first_seen=EARLIER, aging="4-7", sla="breached"),
        brk("B3", "adyen_eu", "EUR", 5298, 5298),
        brk("B4", "adyen_eu", "EUR", 9999, 9999, status="resolved"),  # resolved: not at risk
        brk("B5", "bank_eu", "CHF", 500, None, first_seen=EARLIER, aging="8-30"),  # no CHF rate
    ]
)


def test_totals_and_breakdowns_add_up() -> None:
    got = money_at_risk(FRAME, closed([("B9", 120), ("B8", None)]), DAY, "EUR")
    assert set(got) == KEYS
    assert got["reporting_currency"] == "EUR"
    assert got["open_breaks"] == 4
    assert got["total_reporting_minor"] == 47 + 918 + 5298
    assert got["by_counterparty_currency"] == [
        {
            "counterparty": "adyen_eu",
            "currency": "EUR",
            "breaks": 1,
            "at_risk_minor": 5298,
            "at_risk_reporting_minor": 5298,
        },
        {
            "counterparty": "stripe_eu",
            "currency": "MXN",
            "breaks": 2,
            "at_risk_minor": 20600,
            "at_risk_reporting_minor": 965,
        },
        # no rate: counted, amount in its currency, no reporting amount; last
        {
            "counterparty": "bank_eu",
            "currency": "CHF",
            "breaks": 1,
            "at_risk_minor": 500,
            "at_risk_reporting_minor": None,
        },
    ]
    assert got["by_aging"] == [
        {"aging_bucket": "0-1", "breaks": 2, "at_risk_reporting_minor": 47 + 5298},
        {"aging_bucket": "2-3", "breaks": 0, "at_risk_reporting_minor": 0},
        {"aging_bucket": "4-7", "breaks": 1, "at_risk_reporting_minor": 918},
        {"aging_bucket": "8-30", "breaks": 1, "at_risk_reporting_minor": 0},
        {"aging_bucket": ">30", "breaks": 0, "at_risk_reporting_minor": 0},
    ]
    assert got["by_sla"] == [
        {"sla_status": "within", "breaks": 1, "at_risk_reporting_minor": 47},
        {"sla_status": "breached", "breaks": 1, "at_risk_reporting_minor": 918},
        {"sla_status": "none", "breaks": 2, "at_risk_reporting_minor": 5298},
    ]
    assert got["new"] == {"breaks": 2, "at_risk_reporting_minor": 47 + 5298}
    assert got["carried"] == {"breaks": 2, "at_risk_reporting_minor": 918}
    assert got["closed"] == {"breaks": 2, "at_risk_reporting_minor": 120}
    for part in ("by_aging", "by_sla"):
        assert sum(r["breaks"] for r in got[part]) == got["open_breaks"]
        assert sum(r["at_risk_reporting_minor"] for r in got[part]) == got["total_reporting_minor"]
    assert got["new"]["breaks"] + got["carried"]["breaks"] == got["open_breaks"]
    json.dumps(got)  # plain JSON: integers, strings, nulls


def test_a_run_without_breaks() -> None:
    got = money_at_risk(breaks([]), closed([]), DAY, "GBP")
    assert got["total_reporting_minor"] == 0 and got["open_breaks"] == 0
    assert got["by_counterparty_currency"] == []
    assert [r["breaks"] for r in got["by_aging"]] == [0] * 5
    assert got["closed"] == {"breaks": 0, "at_risk_reporting_minor": 0}
    assert got["reporting_currency"] == "GBP"
