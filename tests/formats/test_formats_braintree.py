"""Braintree transaction level fee report parser."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from format_helpers import ctx, rejects, write

from pipelines.core.schema import table
from pipelines.formats.braintree import TABLE, parse
from pipelines.formats.registry import get, table_of

HEADER = (
    "Merchant Account ID,Transaction ID,Original Transaction ID,Transaction Type,Presentment Currency,"
    "Presentment Amount,Settlement Currency,Settlement Amount,Settlement Date,Disbursement Date,Exchange Rate,"
    "Order ID,Card Brand,Discount,Total Fee Amount\n"
)


def test_registry() -> None:
    assert get("braintree") is parse
    assert table_of("braintree") == TABLE == "psp_settlement_lines"


def test_sales_refunds_and_rejects(tmp_path: Path) -> None:
    text = HEADER + (
        "eur_acct,tx1,,sale,USD,1085.00,EUR,993.53,2026-11-26,2026-11-28,0.9157,ORD-1,Visa,0.0190,29.10\n"
        "eur_acct,tx2,tx1,credit,USD,100.00,EUR,91.57,2026-11-26,2026-11-28,0.9157,ORD-1,Visa,0.0190,0.00\n"
        "eur_acct,tx3,,void,USD,1.00,EUR,1.00,2026-11-26,,,,Visa,,\n"
        "eur_acct,tx4,,sale,USD,1.00,EUR,1.001,2026-11-26,,,,Visa,,\n"
    )
    result = parse(write(tmp_path, text), ctx("braintree", "psp"))
    f = result.frame
    assert f.schema == table(TABLE).polars_schema()
    assert f.select("record_type", "psp_reference", "related_reference", "merchant_reference").rows() == [
        ("payment", "tx1", None, "ORD-1"),
        ("refund", "tx2", "tx1", "ORD-1"),
    ]
    assert f["gross_minor"].to_list() == [108500, -10000]
    assert f["gross_currency"].to_list() == ["USD", "USD"]
    assert f["fee_minor"].to_list() == [2910, 0]
    assert f["net_minor"].to_list() == [96443, -9157]
    assert f["currency"].to_list() == ["EUR", "EUR"]
    assert f["exchange_rate"].to_list() == [Decimal("0.9157")] * 2
    assert f["payout_date"].to_list() == [dt.date(2026, 11, 28)] * 2
    assert rejects(result) == [
        (4, "Transaction Type", "unknown Transaction Type 'void'"),
        (5, "Settlement Amount", "'1.001' has more decimals than the currency allows"),
    ]
