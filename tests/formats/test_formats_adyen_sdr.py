"""Adyen Settlement Details Report parser: canonical values, time zones, row rejects, real report files."""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from pipelines.core.channels import Channel
from pipelines.core.schema import table
from pipelines.formats.adyen_sdr import TABLE, parse
from pipelines.formats.base import REJECT_SCHEMA, FileRejected, ParseContext, ParseResult
from pipelines.formats.registry import get, table_of

UTC = dt.UTC
CORPUS = Path(os.environ.get("RECON_CORPUS", "/work/shared/corpus")) / "psp_adyen"

# Columns deliberately in another order than Adyen's and without the Reserved columns: read by name.
HEADER = (
    "Type,Merchant Account,Batch Number,Psp Reference,Merchant Reference,Payment Method,Creation Date,TimeZone,"
    "Booking Date,Booking Date TimeZone,Gross Currency,Gross Debit (GC),Gross Credit (GC),Exchange Rate,"
    "Net Currency,Net Debit (NC),Net Credit (NC),Commission (NC),Markup (NC),Scheme Fees (NC),Interchange (NC),"
    "Modification Reference"
)


def ctx(timezone: str = "Europe/Amsterdam") -> ParseContext:
    channel = Channel(id="adyen_eu", kind="psp", location=".", format="adyen_sdr", timezone=timezone)
    return ParseContext(channel=channel, file_id="a" * 64, file_name="settlement_detail_report_batch_1042.csv")


def write(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "settlement_detail_report_batch_1042.csv"
    path.write_text(HEADER + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def rejects(result: ParseResult) -> list[tuple[int, str, str]]:
    return [(r["line_no"], r["field"], r["reason"]) for r in result.rejects.iter_rows(named=True)]


def test_registry() -> None:
    assert get("adyen_sdr") is parse
    assert table_of("adyen_sdr") == TABLE == "psp_settlement_lines"


def test_lines_map_to_exact_canonical_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            "Settled,PayPlatformEU,1042,PSP1,ORD-1,visa,2026-11-25 10:00:00,CET,2026-11-26 23:50:00,CET,"
            "EUR,,100.00,1,EUR,,98.50,,0.60,0.20,0.70,M1",
            "Refunded,PayPlatformEU,1042,PSP2,ORD-2,mc,2026-11-25 11:00:00,CET,2026-11-26 23:50:00,CET,"
            "EUR,20.00,,1,EUR,20.10,,0.10,,,,M2",
            "Chargeback,PayPlatformEU,1042,PSP3,,visa,2026-11-25 12:00:00,CET,2026-11-26 23:50:00,CET,"
            "EUR,15.00,,,EUR,15.00,,,,,,M3",
            "Settled,PayPlatformEU,1042,PSP4,ORD-4,visa,2026-11-25 13:00:00,CET,2026-11-26 23:50:00,CET,"
            "USD,,10.00,950.123456,CLP,,9501,,,,,M4",
            "Settled,PayPlatformEU,1042,,ORD-5,benefit,2026-11-25 14:00:00,CET,2026-11-26 23:50:00,CET,"
            "BHD,,1.234,1,BHD,,1.200,0.034,,,,M5",
            "Fee,PayPlatformEU,1042,,,,2026-11-26 23:30:00,CET,,,,,,,EUR,0.25,,,,,,Transaction Fees",
            "MerchantPayout,PayPlatformEU,1042,,,,2026-11-27 00:46:38,CET,2026-11-27 00:46:38,CET,"
            ',,,,EUR,62.15,,,,,,"TX1 batch 1042, PayPlatformEU"',
            "Balancetransfer,PayPlatformEU,1042,,,,2026-11-26 08:00:00,CET,,,,,,,EUR,,5.00,,,,,from batch 1041",
        ],
    )
    result = parse(path, ctx())
    assert result.rows_in == 8 and result.rejects.height == 0
    f = result.frame
    assert f.schema == table(TABLE).polars_schema()
    assert f["line_no"].to_list() == [2, 3, 4, 5, 6, 7, 8, 9]
    assert f["record_type"].to_list() == [
        "payment",
        "refund",
        "chargeback",
        "payment",
        "payment",
        "fee",
        "payout",
        "adjustment",
    ]
    assert f["gross_minor"].to_list() == [10000, -2000, -1500, 1000, 1234, None, None, None]
    assert f["gross_currency"].to_list() == ["EUR", "EUR", "EUR", "USD", "BHD", None, None, None]
    assert f["net_minor"].to_list() == [9850, -2010, -1500, 9501, 1200, -25, -6215, 500]
    assert f["currency"].to_list() == ["EUR", "EUR", "EUR", "CLP", "BHD", "EUR", "EUR", "EUR"]
    assert f["fee_minor"].to_list() == [150, 10, 0, 0, 34, 0, 0, 0]
    assert f["exchange_rate"].to_list() == [
        Decimal("1"),
        Decimal("1"),
        None,
        Decimal("950.123456"),
        Decimal("1"),
        None,
        None,
        None,
    ]
    assert f["psp_reference"].to_list() == ["PSP1", "PSP2", "PSP3", "PSP4", None, None, None, None]
    assert f["merchant_reference"].to_list() == ["ORD-1", "ORD-2", None, "ORD-4", "ORD-5", None, None, None]
    assert f["payment_method"].to_list() == ["visa", "mc", "visa", "visa", "benefit", None, None, None]
    # the batch pays out three net currencies: one payout each, all named by the batch on the bank side
    assert f["payout_id"].to_list() == [
        *["PayPlatformEU-1042-EUR"] * 3,
        "PayPlatformEU-1042-CLP",
        "PayPlatformEU-1042-BHD",
        *["PayPlatformEU-1042-EUR"] * 3,
    ]
    assert set(f["payout_reference"]) == {"PayPlatformEU-1042"}
    assert set(f["merchant_account"]) == {"PayPlatformEU"}
    # Booking Date wins over Creation Date; CET is the Amsterdam wall clock, stored as UTC.
    assert f["booked_at"].to_list()[0] == dt.datetime(2026, 11, 26, 22, 50, tzinfo=UTC)
    # Fee line has no Booking Date: Creation Date in TimeZone.
    assert f["booked_at"].to_list()[5] == dt.datetime(2026, 11, 26, 22, 30, tzinfo=UTC)
    # The payout is booked 23:46:38 UTC on the 26th, which is already the 27th in Amsterdam.
    assert f["booked_at"].to_list()[6] == dt.datetime(2026, 11, 26, 23, 46, 38, tzinfo=UTC)
    assert f["business_date"].to_list()[6] == dt.date(2026, 11, 27)
    assert f["business_date"].to_list()[:6] == [dt.date(2026, 11, 26)] * 6


def test_time_zone_labels_and_dst(tmp_path: Path) -> None:
    row = "Settled,PayPlatformEU,7,P{n},O{n},visa,{created},{tz},{booking},{btz},EUR,,1.00,1,EUR,,1.00,,,,,M"
    path = write(
        tmp_path,
        [
            # 02:30 on 25 Oct 2026 happens twice in Amsterdam: the earlier (CEST, UTC+2) instant is taken.
            row.format(n=1, created="2026-10-24 10:00:00", tz="CET", booking="2026-10-25 02:30:00", btz="CET"),
            # The CEST label is also the Amsterdam wall clock.
            row.format(n=2, created="2026-07-01 12:00:00", tz="CEST", booking="", btz=""),
            # IANA names are honoured: 23:30 in London (UTC in winter) is 00:30 next day in Amsterdam.
            row.format(n=3, created="2026-11-26 23:30:00", tz="Europe/London", booking="", btz=""),
            # Winter time: CET is UTC+1.
            row.format(n=4, created="2026-11-26 00:30:00", tz="CET", booking="", btz=""),
        ],
    )
    result = parse(path, ctx())
    assert result.rejects.height == 0
    assert result.frame["booked_at"].to_list() == [
        dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        dt.datetime(2026, 7, 1, 10, 0, tzinfo=UTC),
        dt.datetime(2026, 11, 26, 23, 30, tzinfo=UTC),
        dt.datetime(2026, 11, 25, 23, 30, tzinfo=UTC),
    ]
    assert result.frame["business_date"].to_list() == [
        dt.date(2026, 10, 25),
        dt.date(2026, 7, 1),
        dt.date(2026, 11, 27),
        dt.date(2026, 11, 26),
    ]
    # The same lines in a UTC channel fall on the UTC calendar day.
    assert parse(path, ctx("UTC")).frame["business_date"].to_list() == [
        dt.date(2026, 10, 25),
        dt.date(2026, 7, 1),
        dt.date(2026, 11, 26),
        dt.date(2026, 11, 25),
    ]


def test_row_rejects_name_line_field_and_reason(tmp_path: Path) -> None:
    ok = "Settled,PayPlatformEU,7,P1,O1,visa,2026-11-26 10:00:00,CET,,,EUR,,10.00,1,EUR,,9.90,0.10,,,,M"
    path = write(
        tmp_path,
        [
            ok,
            ok.replace("Settled", "Payout2"),
            ok.replace(",P1,O1,", ",,,"),
            ok.replace(",9.90,", ",1O.00,"),
            ok.replace(",9.90,", ",10.123,"),
            ok.replace(",EUR,,9.90,", ",CLP,,1500.5,").replace(",0.10,", ",,"),
            ok.replace(",EUR,,9.90,", ",XYZ,,9.90,"),
            ok.replace(",CET,", ",Mars/Olympus,"),
            ok.replace("2026-11-26 10:00:00", "26.11.2026 10:00"),
            ok.replace(",9.90,", ",,"),
            ok.replace(",CET,,,", ",CET,2026-03-29 02:30:00,CET,"),
            ok.replace(",1,EUR,", ",abc,EUR,"),
            ok.replace(",EUR,,10.00,", ",,,10.00,"),
            ok.replace(",0.10,", ",x,"),
            ok.replace(",EUR,,9.90,", ",BHD,,9.9001,").replace(",0.10,", ",,"),
            ok.replace("Settled", ""),
            ok.replace("Settled", "Refunded").replace(",P1,O1,", ",,,"),
            ok.replace("Settled", "Fee").replace(",P1,O1,", ",,,"),
        ],
    )
    result = parse(path, ctx())
    assert result.rows_in == 18
    assert result.frame["line_no"].to_list() == [2, 19]
    assert rejects(result) == [
        (3, "Type", "unknown Type 'Payout2'"),
        (4, "Psp Reference", "missing key: neither Psp Reference nor Merchant Reference is given"),
        (5, "Net Credit (NC)", "'1O.00' is not a decimal amount"),
        (6, "Net Credit (NC)", "'10.123' has more decimals than the currency allows"),
        (7, "Net Credit (NC)", "'1500.5' has more decimals than the currency allows"),
        (8, "Net Currency", "unknown ISO 4217 currency 'XYZ'"),
        (9, "TimeZone", "unknown time zone 'Mars/Olympus'"),
        (10, "Creation Date", "'26.11.2026 10:00' is not a timestamp (YYYY-MM-DD HH:MM:SS)"),
        (11, "Net Credit (NC)", "Net Debit (NC) and Net Credit (NC) are both empty"),
        (12, "Booking Date", "'2026-03-29 02:30:00' does not exist in time zone CET (DST gap)"),
        (13, "Exchange Rate", "'abc' is not a decimal number"),
        (14, "Gross Currency", "currency is missing"),
        (15, "Commission (NC)", "'x' is not a decimal amount"),
        (16, "Net Credit (NC)", "'9.9001' has more decimals than the currency allows"),
        (17, "Type", "Type is missing"),
        (18, "Psp Reference", "missing key: neither Psp Reference nor Merchant Reference is given"),
    ]
    assert result.rejects.schema == REJECT_SCHEMA
    line4 = result.rejects.filter(pl.col("line_no") == 4).row(0, named=True)
    assert line4["amount_minor"] == 990 and line4["currency"] == "EUR"
    assert line4["raw"] == ok.replace(",P1,O1,", ",,,")
    line5 = result.rejects.filter(pl.col("line_no") == 5).row(0, named=True)
    assert line5["amount_minor"] is None and line5["currency"] == "EUR"
    # A fee line needs no payment reference (line 19 is kept).
    assert result.frame.row(1, named=True)["record_type"] == "fee"


def test_non_ascii_digits_in_a_fee_reject_the_row_naming_the_field(tmp_path: Path) -> None:
    """A fee written with Arabic-Indic digits is a row reject naming the column and the value, never a 0 fee."""
    ok = "Fee,PayPlatformEU,7,,,,2026-11-26 10:00:00,CET,,,EUR,,,,EUR,0.10,,0.10,,,,M"
    arabic = ok.replace(",0.10,,0.10,", ",0.10,,\u0660.\u0661\u0660,")
    mixed = ok.replace(",0.10,,0.10,", ",0.10,,0.\u0661\u0660,")
    signs = ok.replace(",0.10,,0.10,", ",0.10,,+-0.10,")
    result = parse(write(tmp_path, [ok, arabic, mixed, signs]), ctx())
    assert result.rows_in == 4
    assert result.frame["line_no"].to_list() == [2]
    assert result.frame["net_minor"].to_list() == [-10] and result.frame["fee_minor"].to_list() == [10]
    assert rejects(result) == [
        (3, "Commission (NC)", "'\u0660.\u0661\u0660' has non-ASCII digits (only 0-9 are accepted)"),
        (4, "Commission (NC)", "'0.\u0661\u0660' has non-ASCII digits (only 0-9 are accepted)"),
        (5, "Commission (NC)", "'+-0.10' has more than one sign"),
    ]


def test_missing_header_column_rejects_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sdr.csv"
    path.write_text(HEADER.replace("Net Currency,", "") + "\n", encoding="utf-8")
    with pytest.raises(FileRejected, match="lacks required column\\(s\\): 'Net Currency'"):
        parse(path, ctx())


def test_empty_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "sdr.csv"
    path.write_bytes(b"")
    with pytest.raises(FileRejected, match="^file is empty$"):
        parse(path, ctx())


corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="sample corpus not available")


@corpus
def test_real_report_batch_380() -> None:
    result = parse(CORPUS / "oca_adyen_settlement_detail_report_batch_380.csv", ctx())
    f = result.frame
    assert result.rows_in == 228 and f.height == 228 and result.rejects.height == 0
    counts = dict(f.group_by("record_type").len().iter_rows())
    assert counts == {"payment": 220, "refund": 6, "fee": 1, "payout": 1}
    sums = {r["record_type"]: r for r in f.group_by("record_type").agg(pl.col("^.*_minor$").sum()).to_dicts()}
    assert sums["payment"]["net_minor"] == 5643852 and sums["payment"]["gross_minor"] == 5682775
    assert sums["refund"]["net_minor"] == -109235 and sums["refund"]["gross_minor"] == -109195
    assert sums["fee"]["net_minor"] == -3810
    assert f["fee_minor"].sum() == 38963
    payout = f.filter(pl.col("record_type") == "payout")
    others = f.filter(pl.col("record_type") != "payout")
    assert payout["net_minor"].item() == -5530807 == -others["net_minor"].sum()
    assert set(f["currency"]) == {"USD"}
    assert set(f["payout_id"]) == {"YOURCOMPANY_ACCOUNT-380"}
    first = f.row(0, named=True)
    assert first["line_no"] == 2 and first["psp_reference"] == "1829098024817852"
    assert (first["gross_minor"], first["net_minor"], first["fee_minor"]) == (3145, 3115, 30)
    # Booking Date 2021-01-06 23:50:00 CET
    assert first["booked_at"] == dt.datetime(2021, 1, 6, 22, 50, tzinfo=UTC)
    assert first["business_date"] == dt.date(2021, 1, 6)
    last = f.row(-1, named=True)
    assert last["line_no"] == 229 and last["record_type"] == "payout"
    assert last["business_date"] == dt.date(2021, 1, 7)


@corpus
def test_real_report_batch_238_without_booking_date_columns() -> None:
    result = parse(CORPUS / "oca_adyen_settlement_detail_report_batch_238_balancetransfer.csv", ctx())
    f = result.frame
    assert result.rows_in == 3 and result.rejects.height == 0
    assert f["record_type"].to_list() == ["adjustment", "fee", "adjustment"]
    assert f["net_minor"].to_list() == [45433199, -9, -45433190]
    assert f["net_minor"].sum() == 0
    # No Booking Date column in this layout: Creation Date 2022-02-22 00:24:23 CET.
    assert f["booked_at"].to_list()[0] == dt.datetime(2022, 2, 21, 23, 24, 23, tzinfo=UTC)
    assert f["business_date"].to_list() == [dt.date(2022, 2, 22), dt.date(2022, 3, 2), dt.date(2022, 3, 2)]
    assert set(f["payout_id"]) == {"YOURCOMPANY_ACCOUNT-238"}
