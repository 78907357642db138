"""Stripe itemized payout reconciliation parser: canonical values, business dates and row rejects."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from pipelines.core.channels import Channel
from pipelines.core.schema import table
from pipelines.formats.base import REJECT_SCHEMA, FileRejected, ParseContext, ParseResult
from pipelines.formats.registry import get, table_of
from pipelines.formats.stripe_payout_recon import TABLE, parse

UTC = dt.UTC
HEADER = (
    "automatic_payout_id,automatic_payout_effective_at,balance_transaction_id,created_utc,created,"
    "available_on_utc,available_on,currency,gross,fee,net,reporting_category,source_id,description,"
    "customer_facing_amount,customer_facing_currency,charge_id,payment_intent_id,charge_created,"
    "payment_method_type,card_brand,payment_metadata[order_id]"
)


def line(
    *,
    payout: str = "po_1",
    created: str = "2026-11-26 10:03:11",
    currency: str = "eur",
    gross: str = "10.00",
    fee: str = "0.30",
    net: str = "9.70",
    category: str = "charge",
    source: str = "ch_1",
    facing_amount: str = "",
    facing_currency: str = "",
    charge: str = "ch_1",
    method: str = "card",
    order: str = "ORD-1",
) -> str:
    return (
        f"{payout},2026-11-27 00:00:00,txn_1,{created},{created},2026-11-27 00:00:00,2026-11-27 00:00:00,"
        f"{currency},{gross},{fee},{net},{category},{source},Order {order},{facing_amount},{facing_currency},"
        f"{charge},pi_1,{created},{method},visa,{order}"
    )


def ctx(timezone: str = "UTC") -> ParseContext:
    channel = Channel(id="stripe_eu", kind="psp", location=".", format="stripe_payout_recon", timezone=timezone)
    return ParseContext(channel=channel, file_id="s" * 64, file_name="payout_reconciliation_itemized.csv")


def write(tmp_path: Path, rows: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "payout_reconciliation_itemized.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def rejects(result: ParseResult) -> list[tuple[int, str, str]]:
    return [(r["line_no"], r["field"], r["reason"]) for r in result.rejects.iter_rows(named=True)]


def test_registry() -> None:
    assert get("stripe_payout_recon") is parse
    assert table_of("stripe_payout_recon") == TABLE == "psp_settlement_lines"


def test_lines_map_to_exact_canonical_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            line(),
            line(category="refund", gross="-4.00", fee="0.00", net="-4.00", source="re_1", charge="ch_1"),
            line(category="dispute", gross="-10.00", fee="15.00", net="-25.00", source="dp_1", charge="", order=""),
            line(category="stripe_fee", gross="-1.50", fee="0.00", net="-1.50", source="", charge="", order=""),
            line(category="payout", gross="-8.20", fee="0.00", net="-8.20", source="po_1", charge="", order=""),
            line(category="other_adjustment", gross="2.00", fee="0", net="2.00", source="ad_1", charge="", order=""),
            # Charged in CLP (no minor unit), settled in EUR: gross comes from the customer-facing amount.
            line(gross="10.53", fee="0.33", net="10.20", facing_amount="10000", facing_currency="clp", order="ORD-7"),
            line(currency="jpy", gross="1500", fee="54", net="1446", charge="ch_7", source="ch_7", order="ORD-8"),
            line(currency="bhd", gross="1.234", fee="0.034", net="1.200", method="", order="ORD-9"),
            line(payout="", created="2026-11-26 23:59:59", order="ORD-10"),
        ],
    )
    result = parse(path, ctx())
    assert result.rows_in == 10 and result.rejects.height == 0
    f = result.frame
    assert f.schema == table(TABLE).polars_schema()
    assert f["line_no"].to_list() == list(range(2, 12))
    assert f["record_type"].to_list() == [
        "payment",
        "refund",
        "chargeback",
        "fee",
        "payout",
        "adjustment",
        "payment",
        "payment",
        "payment",
        "payment",
    ]
    assert f["gross_minor"].to_list() == [1000, -400, -1000, -150, -820, 200, 10000, 1500, 1234, 1000]
    assert f["gross_currency"].to_list() == ["EUR"] * 6 + ["CLP", "JPY", "BHD", "EUR"]
    assert f["fee_minor"].to_list() == [30, 0, 1500, 0, 0, 0, 33, 54, 34, 30]
    assert f["net_minor"].to_list() == [970, -400, -2500, -150, -820, 200, 1020, 1446, 1200, 970]
    assert f["currency"].to_list() == ["EUR"] * 7 + ["JPY", "BHD", "EUR"]
    assert f["psp_reference"].to_list() == [
        "ch_1",
        "ch_1",
        "dp_1",
        None,
        "po_1",
        "ad_1",
        "ch_1",
        "ch_7",
        "ch_1",
        "ch_1",
    ]
    assert f["merchant_reference"].to_list() == [
        "ORD-1",
        "ORD-1",
        None,
        None,
        None,
        None,
        "ORD-7",
        "ORD-8",
        "ORD-9",
        "ORD-10",
    ]
    assert f["payout_id"].to_list() == ["po_1"] * 9 + [None]
    assert f["payment_method"].to_list()[:2] == ["card", "card"] and f["payment_method"].to_list()[8] is None
    assert f["merchant_account"].null_count() == 10 and f["exchange_rate"].null_count() == 10
    assert f["booked_at"].to_list()[0] == dt.datetime(2026, 11, 26, 10, 3, 11, tzinfo=UTC)
    assert f["business_date"].to_list() == [dt.date(2026, 11, 26)] * 10


def test_business_date_in_channel_zone_across_dst(tmp_path: Path) -> None:
    # 23:30 UTC is 00:30 the next day in Amsterdam both before (UTC+1) and after (UTC+2) the spring change;
    # 22:30 UTC is still the same day before the change but already the next day after it.
    path = write(
        tmp_path,
        [
            line(created="2026-03-28 22:30:00"),
            line(created="2026-03-28 23:30:00"),
            line(created="2026-03-29 22:30:00"),
        ],
    )
    assert parse(path, ctx("Europe/Amsterdam")).frame["business_date"].to_list() == [
        dt.date(2026, 3, 28),
        dt.date(2026, 3, 29),
        dt.date(2026, 3, 30),
    ]
    assert parse(path, ctx("UTC")).frame["business_date"].to_list() == [
        dt.date(2026, 3, 28),
        dt.date(2026, 3, 28),
        dt.date(2026, 3, 29),
    ]


def test_row_rejects_name_line_field_and_reason(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            line(),
            line(category="payout_fee_thing"),
            line(source="", charge="", order=""),
            line(net="9.7O"),
            line(net="9.705"),
            line(currency="clp", gross="1500.5", fee="0", net="1500"),
            line(currency="xyz"),
            line(created="26/11/2026 10:03"),
            line(net=""),
            line(facing_amount="12.00", facing_currency="abc"),
            line(category=""),
            line(currency="bhd", gross="1.2345", fee="0.000", net="1.200"),
        ],
    )
    result = parse(path, ctx())
    assert result.rows_in == 12
    assert result.frame["line_no"].to_list() == [2]
    assert rejects(result) == [
        (3, "reporting_category", "unknown reporting_category 'payout_fee_thing'"),
        (4, "source_id", "missing key: neither charge_id, source_id nor payment_metadata[order_id] is given"),
        (5, "net", "'9.7O' is not a decimal amount"),
        (6, "net", "'9.705' has more decimals than the currency allows"),
        (7, "gross", "'1500.5' has more decimals than the currency allows"),
        (8, "currency", "unknown ISO 4217 currency 'XYZ'"),
        (9, "created_utc", "'26/11/2026 10:03' is not a timestamp (YYYY-MM-DD HH:MM:SS)"),
        (10, "net", "net is missing"),
        (11, "customer_facing_currency", "unknown ISO 4217 currency 'ABC'"),
        (12, "reporting_category", "reporting_category is missing"),
        (13, "gross", "'1.2345' has more decimals than the currency allows"),
    ]
    assert result.rejects.schema == REJECT_SCHEMA
    row = result.rejects.filter(pl.col("line_no") == 6).row(0, named=True)
    assert row["currency"] == "EUR" and row["amount_minor"] is None
    assert row["raw"] == line(net="9.705")


def test_optional_columns_may_be_absent(tmp_path: Path) -> None:
    header = "automatic_payout_id,created_utc,currency,gross,fee,net,reporting_category,source_id"
    path = write(tmp_path, ["po_9,2026-11-26 08:00:00,gbp,5.00,0.20,4.80,charge,ch_9"], header=header)
    result = parse(path, ctx())
    row = result.frame.row(0, named=True)
    assert (row["psp_reference"], row["merchant_reference"], row["payment_method"]) == ("ch_9", None, None)
    assert (row["gross_minor"], row["gross_currency"], row["fee_minor"], row["net_minor"]) == (500, "GBP", 20, 480)


def test_missing_required_column_and_empty_file(tmp_path: Path) -> None:
    path = write(tmp_path, [], header="automatic_payout_id,created_utc,currency,gross,fee,net,source_id")
    with pytest.raises(FileRejected, match="'reporting_category'"):
        parse(path, ctx())
    path.write_bytes(b"")
    with pytest.raises(FileRejected, match="^file is empty$"):
        parse(path, ctx())


def test_payment_intent_and_payout_effective_date_are_kept(tmp_path: Path) -> None:
    # the payout is created on the 26th and arrives (automatic_payout_effective_at, UTC) on the 27th; the line
    # became available in the balance (available_on_utc) on the 27th too; the line stays dated by its creation
    path = write(
        tmp_path,
        [line(), line(category="refund", gross="-4.00", fee="0.00", net="-4.00", source="re_1", charge="ch_1")],
    )
    f = parse(path, ctx("Europe/Amsterdam")).frame
    assert (
        f.select("payment_intent_id", "payout_date", "settlement_date", "business_date").rows()
        == [
            ("pi_1", dt.date(2026, 11, 27), dt.date(2026, 11, 27), dt.date(2026, 11, 26)),
        ]
        * 2
    )
    assert f["psp_reference"].to_list() == ["ch_1", "ch_1"]


def test_utc_payout_date_column_and_unreadable_dates(tmp_path: Path) -> None:
    header = (
        "automatic_payout_id,automatic_payout_effective_at_utc,automatic_payout_effective_at,created_utc,currency,"
        "gross,fee,net,reporting_category,source_id,payment_intent_id,available_on"
    )
    rows = [
        # the UTC column wins over the report's time zone one
        "po_9,2026-11-30 00:00:00,2026-11-29 19:00:00,2026-11-26 08:00:00,usd,5.00,0.20,4.80,charge,ch_9,pi_9,"
        "2026-11-28",
        "po_9,,2026-11-30,2026-11-26 08:00:00,usd,5.00,0.20,4.80,charge,ch_8,,",
        "po_9,30/11/2026,,2026-11-26 08:00:00,usd,5.00,0.20,4.80,charge,ch_7,,soon",
    ]
    result = parse(write(tmp_path, rows, header=header), ctx())
    assert result.frame.select("payment_intent_id", "payout_date", "settlement_date").rows() == [
        ("pi_9", dt.date(2026, 11, 30), dt.date(2026, 11, 28)),
        (None, dt.date(2026, 11, 30), None),
    ]
    assert rejects(result) == [
        (4, "automatic_payout_effective_at", "'30/11/2026' is not a date or timestamp (YYYY-MM-DD[ HH:MM:SS])"),
        (4, "available_on", "'soon' is not a date or timestamp (YYYY-MM-DD[ HH:MM:SS])"),
    ]
