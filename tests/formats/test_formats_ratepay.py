"""Ratepay settlement report parser: signs from our side, record types from the description."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from format_helpers import ctx, rejects, write

from pipelines.core.schema import table
from pipelines.formats.ratepay import TABLE, parse
from pipelines.formats.registry import get, table_of

HEADER = '"SHOP_ID";"PAYMENTDATE";"AMOUNT";"SHOPSORDER_ID";"INVOICENUMBER";"DESCRIPTION";"FEETYPE";"TRANSACTION_ID"\r\n'


def row(amount: str, description: str, tx: str = "T-1", date: str = "2026-11-26") -> str:
    return f'"123";"{date}";"{amount}";"ORD-1";"INV-1";"{description}";"1";"{tx}"\r\n'


def test_registry() -> None:
    assert get("ratepay") is parse
    assert table_of("ratepay") == TABLE == "psp_settlement_lines"


def test_rows_from_our_side(tmp_path: Path) -> None:
    text = HEADER + "".join(
        [
            row("-100.00", "Factoring-Kaufpreis FmV"),
            row("2.50", "RatePAYdisagio"),
            row("0.99", "Transaktionsgebühr Käufer"),
            row("10.00", "Kulanz Käufer (Tr.)"),
            row("5.00", "Something new"),
            row("1.234", "Factoring-Kaufpreis FmV"),
            row("1.00", "Factoring-Kaufpreis FmV", date="26.11.2026"),
        ]
    )
    result = parse(write(tmp_path, text), ctx("ratepay", "psp", "Europe/Berlin", delimiter=";"))
    f = result.frame
    assert f.schema == table(TABLE).polars_schema()
    assert f.select("record_type", "gross_minor", "fee_minor", "net_minor").rows() == [
        ("payment", 10000, 0, 10000),
        ("fee", None, 250, -250),
        ("fee", None, 99, -99),
        ("adjustment", -1000, 0, -1000),
    ]
    assert f["payout_id"].to_list() == ["123-2026-11-26"] * 4
    assert f["business_date"].to_list() == [dt.date(2026, 11, 26)] * 4
    assert f["booked_at"][0] == dt.datetime(2026, 11, 25, 23, 0, tzinfo=dt.UTC)
    assert rejects(result) == [
        (6, "DESCRIPTION", "unknown DESCRIPTION 'Something new' (no known settlement keyword)"),
        (7, "AMOUNT", "'1.234' has more decimals than the currency allows"),
        (8, "PAYMENTDATE", "'26.11.2026' is not a date (YYYY-MM-DD)"),
    ]
