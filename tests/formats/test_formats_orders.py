"""Order extract parsers (CSV and Parquet): canonical values, row rejects and file rejects."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from pipelines.core.channels import Channel, CsvOptions
from pipelines.core.schema import table
from pipelines.formats.base import REJECT_SCHEMA, FileRejected, ParseContext, ParseResult
from pipelines.formats.orders import TABLE, parse, parse_parquet
from pipelines.formats.registry import get, table_of

UTC = dt.UTC
HEADER = "order_id,psp_channel,psp_reference,merchant_account,status,amount,currency,created_at"


def ctx(timezone: str = "UTC", cutoff: dt.time = dt.time(0, 0), csv: CsvOptions | None = None) -> ParseContext:
    channel = Channel(
        id="orders",
        kind="orders",
        location=".",
        format="orders_csv",
        timezone=timezone,
        cutoff=cutoff,
        csv=csv or CsvOptions(),
    )
    return ParseContext(channel=channel, file_id="f" * 64, file_name="orders.csv")


def write(tmp_path: Path, text: str, name: str = "orders.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def rejects(result: ParseResult) -> list[tuple[int, str, str]]:
    return [(r["line_no"], r["field"], r["reason"]) for r in result.rejects.iter_rows(named=True)]


def test_registry_maps_both_variants() -> None:
    assert get("orders_csv") is parse
    assert get("orders_parquet") is parse_parquet
    assert table_of("orders_csv") == table_of("orders_parquet") == TABLE == "orders"


def test_valid_rows_map_to_exact_canonical_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"{HEADER}\n"
        "ORD-1,adyen_eu,4959072055585474,PayPlatformEU,succeeded,128.90,EUR,2026-11-26T06:00:01Z\n"
        "ORD-2,adyen_eu,,PayPlatformEU,refunded,1500,CLP,2026-11-26T23:59:59Z\n"
        "ORD-3,stripe_eu,ch_1,acct_1,pending,1.234,BHD,2026-11-26T10:00:00.250+01:00\n"
        "ORD-4,stripe_eu,ch_2, ,failed,500,JPY,2026-11-27T00:00:00Z\n"
        " ORD-5 ,adyen_eu,x,y,EXPIRED,0.5,eur,2026-11-26T12:00:00Z\n",
    )
    result = parse(path, ctx())
    assert result.table == "orders"
    assert result.rows_in == 5
    assert result.rejects.height == 0 and result.rows_rejected == 0
    frame = result.frame
    assert frame.schema == table(TABLE).polars_schema()
    assert frame["line_no"].to_list() == [2, 3, 4, 5, 6]
    assert frame["order_id"].to_list() == ["ORD-1", "ORD-2", "ORD-3", "ORD-4", "ORD-5"]
    assert frame["amount_minor"].to_list() == [12890, 1500, 1234, 500, 50]
    assert frame["currency"].to_list() == ["EUR", "CLP", "BHD", "JPY", "EUR"]
    assert frame["status"].to_list() == ["succeeded", "refunded", "pending", "failed", "expired"]
    assert frame["psp_reference"].to_list() == ["4959072055585474", None, "ch_1", "ch_2", "x"]
    assert frame["merchant_account"].to_list() == ["PayPlatformEU", "PayPlatformEU", "acct_1", None, "y"]
    assert frame["created_at"].to_list() == [
        dt.datetime(2026, 11, 26, 6, 0, 1, tzinfo=UTC),
        dt.datetime(2026, 11, 26, 23, 59, 59, tzinfo=UTC),
        dt.datetime(2026, 11, 26, 9, 0, 0, 250000, tzinfo=UTC),
        dt.datetime(2026, 11, 27, 0, 0, tzinfo=UTC),
        dt.datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
    ]
    assert frame["business_date"].to_list() == [dt.date(2026, 11, 26)] * 3 + [
        dt.date(2026, 11, 27),
        dt.date(2026, 11, 26),
    ]
    assert set(frame["file_id"]) == {"f" * 64} and set(frame["channel"]) == {"orders"}


def test_business_date_uses_channel_zone_cutoff_and_dst(tmp_path: Path) -> None:
    # Europe/Amsterdam with an 18:00 cut-off. 16:30 UTC is 18:30 CEST on 24 Oct (rolls over to the 25th)
    # but 17:30 CET on 25 Oct, after the clocks went back (stays on the 25th).
    path = write(
        tmp_path,
        f"{HEADER}\n"
        "A,adyen_eu,,,succeeded,1.00,EUR,2026-10-24T16:30:00Z\n"
        "B,adyen_eu,,,succeeded,1.00,EUR,2026-10-25T16:30:00Z\n"
        "C,adyen_eu,,,succeeded,1.00,EUR,2026-10-25T16:59:59Z\n"
        "D,adyen_eu,,,succeeded,1.00,EUR,2026-10-25T17:00:00Z\n",
    )
    result = parse(path, ctx("Europe/Amsterdam", dt.time(18, 0)))
    assert result.frame["business_date"].to_list() == [
        dt.date(2026, 10, 25),
        dt.date(2026, 10, 25),
        dt.date(2026, 10, 25),
        dt.date(2026, 10, 26),
    ]


def test_row_rejects_name_line_field_and_reason(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"{HEADER}\n"
        "OK-1,adyen_eu,r,m,succeeded,10.00,EUR,2026-11-26T10:00:00Z\n"
        "B-2,adyen_eu,r,m,succeeded,12.3x,EUR,2026-11-26T10:00:00Z\n"
        "B-3,adyen_eu,r,m,succeeded,12.345,EUR,2026-11-26T10:00:00Z\n"
        "B-4,adyen_eu,r,m,succeeded,1500.5,CLP,2026-11-26T10:00:00Z\n"
        "B-5,adyen_eu,r,m,succeeded,1.2345,BHD,2026-11-26T10:00:00Z\n"
        "B-6,adyen_eu,r,m,succeeded,10.00,XYZ,2026-11-26T10:00:00Z\n"
        ",adyen_eu,r,m,succeeded,10.00,EUR,2026-11-26T10:00:00Z\n"
        "B-8,,r,m,succeeded,10.00,EUR,2026-11-26T10:00:00Z\n"
        "B-9,adyen_eu,r,m,shipped,10.00,EUR,2026-11-26T10:00:00Z\n"
        "B-10,adyen_eu,r,m,succeeded,10.00,EUR,26/11/2026 10:00\n"
        "B-11,adyen_eu,r,m,succeeded,10.00,EUR,2026-11-26T10:00:00\n"
        "B-12,adyen_eu,r,m,succeeded,-10.00,EUR,2026-11-26T10:00:00Z\n"
        "B-13,adyen_eu,r,m,succeeded,,EUR,2026-11-26T10:00:00Z\n"
        ",,r,m,succeeded,10.00,,2026-11-26T10:00:00Z\n"
        "OK-15,adyen_eu,r,m,succeeded,1500,CLP,2026-11-26T10:00:00Z\n",
    )
    result = parse(path, ctx())
    assert result.rows_in == 15
    assert result.frame["order_id"].to_list() == ["OK-1", "OK-15"]
    assert result.frame["line_no"].to_list() == [2, 16]
    assert rejects(result) == [
        (3, "amount", "'12.3x' is not a decimal amount"),
        (4, "amount", "'12.345' has more decimals than the currency allows"),
        (5, "amount", "'1500.5' has more decimals than the currency allows"),
        (6, "amount", "'1.2345' has more decimals than the currency allows"),
        (7, "currency", "unknown ISO 4217 currency 'XYZ'"),
        (8, "order_id", "order_id is missing"),
        (9, "psp_channel", "psp_channel is missing"),
        (10, "status", "unknown status 'shipped' (expected one of succeeded, refunded, failed, expired, pending)"),
        (11, "created_at", "'26/11/2026 10:00' is not an ISO 8601 timestamp with Z or a UTC offset"),
        (12, "created_at", "'2026-11-26T10:00:00' is not an ISO 8601 timestamp with Z or a UTC offset"),
        (13, "amount", "amount must not be negative (-10.00)"),
        (14, "amount", "amount is missing"),
        (15, "currency", "currency is missing"),
        (15, "order_id", "order_id is missing"),
        (15, "psp_channel", "psp_channel is missing"),
    ]
    assert result.rows_rejected == 13
    assert result.rejects.schema == REJECT_SCHEMA
    first = result.rejects.row(0, named=True)
    assert first["raw"] == "B-2,adyen_eu,r,m,succeeded,12.3x,EUR,2026-11-26T10:00:00Z"
    assert first["currency"] == "EUR" and first["amount_minor"] is None
    wrong_decimals = result.rejects.filter(pl.col("line_no") == 6).row(0, named=True)
    assert wrong_decimals["currency"] == "BHD"


def test_csv_options_bom_crlf_quotes_and_latin1(tmp_path: Path) -> None:
    text = (
        "\ufeff" + HEADER.replace(",", ";") + "\r\n"
        'ORD-1;adyen_eu;;"Caf\u00e9; M\u00fcller";succeeded;1.234,56;EUR;2026-11-26T10:00:00Z\r\n'
        "\r\n"
        'ORD-2;adyen_eu;;"line one\r\nline two";succeeded;7,5;EUR;2026-11-26T10:00:00Z\r\n'
        "ORD-3;adyen_eu;;x;succeeded;1.500;CLP;2026-11-26T10:00:00Z\r\n"
    )
    options = CsvOptions(delimiter=";", decimal=",", thousands=".", encoding="cp1252")
    path = tmp_path / "orders.csv"
    path.write_bytes(text[1:].encode("cp1252"))
    result = parse(path, ctx(csv=options))
    assert result.rows_in == 3
    assert result.frame["line_no"].to_list() == [2, 4, 6]
    assert result.frame["merchant_account"].to_list() == ["Caf\u00e9; M\u00fcller", "line one\r\nline two", "x"]
    assert result.frame["amount_minor"].to_list() == [123456, 750, 1500]

    utf8 = tmp_path / "orders_utf8.csv"
    utf8.write_bytes(text.encode("utf-8"))
    result = parse(utf8, ctx(csv=options.model_copy(update={"encoding": "utf-8"})))
    assert result.frame["merchant_account"].to_list()[0] == "Caf\u00e9; M\u00fcller"
    assert result.frame["line_no"].to_list() == [2, 4, 6]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty"),
        (b"\xef\xbb\xbf\r\n", "file is empty"),
        (
            b"order_id,psp_channel,status,amount,created_at\nA,adyen_eu,succeeded,1.00,2026-11-26T10:00:00Z\n",
            "header (line 1) lacks required column(s): 'currency'",
        ),
        (
            (HEADER + "\nA,adyen_eu,,,succeeded,1.00,EUR,2026-11-26T10:00:00Z,extra\n").encode(),
            "ragged rows: the header has 8 fields but line 2 has 9 fields",
        ),
        (
            (HEADER + "\nA,adyen_eu,,,succeeded,1.00,EUR,2026-11-26T10:00:00Z\nB,adyen_eu,succeeded\n").encode(),
            "ragged rows: the header has 8 fields but line 3 has 3 fields",
        ),
        (
            (HEADER + '\nA,adyen_eu,,"open,succeeded,1.00,EUR,2026-11-26T10:00:00Z\n').encode(),
            "unterminated quoted field in the record starting on line 2",
        ),
        ((HEADER + "\nA,adyen_eu,,,succeeded,1.00,EUR,\xff\n").encode("latin-1"), "not valid UTF-8"),
    ],
)
def test_file_rejects(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(content)
    with pytest.raises(FileRejected, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        parse(path, ctx())


def test_header_only_file_has_no_rows(tmp_path: Path) -> None:
    result = parse(write(tmp_path, HEADER + "\n"), ctx())
    assert result.rows_in == 0 and result.frame.height == 0 and result.rejects.height == 0
    assert result.frame.schema == table(TABLE).polars_schema()


def test_parquet_with_amount_minor_and_text_amounts(tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    pl.DataFrame(
        {
            "order_id": ["P-1", "P-2", "P-3", None],
            "psp_channel": ["adyen_eu", "stripe_eu", "adyen_eu", "adyen_eu"],
            "psp_reference": ["r1", None, "r3", "r4"],
            "merchant_account": ["m", "m", "m", "m"],
            "status": ["succeeded", "refunded", "succeeded", "succeeded"],
            "amount_minor": [1500, None, 1234, 100],
            "amount": [None, "12.34", "1.234", "9.99"],
            "currency": ["CLP", "EUR", "BHD", "EUR"],
            "created_at": [dt.datetime(2026, 11, 26, 23, 30, tzinfo=UTC)] * 4,
        },
        schema_overrides={"amount_minor": pl.Int64},
    ).write_parquet(path)
    result = parse_parquet(path, ctx("Europe/Amsterdam"))
    assert result.rows_in == 4
    assert result.frame["order_id"].to_list() == ["P-1", "P-2", "P-3"]
    assert result.frame["amount_minor"].to_list() == [1500, 1234, 1234]
    assert result.frame["line_no"].to_list() == [1, 2, 3]
    assert result.frame["business_date"].to_list() == [dt.date(2026, 11, 27)] * 3  # 00:30 CET
    assert rejects(result) == [
        (4, "amount", "amount '9.99' disagrees with amount_minor 100"),
        (4, "order_id", "order_id is missing"),
    ]
    assert result.frame.schema == table(TABLE).polars_schema()


def test_parquet_decimal_amounts_and_naive_timestamps(tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    pl.DataFrame(
        {
            "order_id": ["P-1", "P-2", "P-3"],
            "psp_channel": ["adyen_eu"] * 3,
            "status": ["succeeded"] * 3,
            "amount": [Decimal("1500.00"), Decimal("12.30"), Decimal("1.50")],
            "currency": ["CLP", "EUR", "JPY"],
            "created_at": [dt.datetime(2026, 11, 26, 10, 0)] * 3,
        },
        schema_overrides={"amount": pl.Decimal(18, 2)},
    ).write_parquet(path)
    result = parse_parquet(path, ctx())
    assert result.frame["amount_minor"].to_list() == [1500, 1230]
    assert result.frame["created_at"].to_list() == [dt.datetime(2026, 11, 26, 10, 0, tzinfo=UTC)] * 2
    assert result.frame["psp_reference"].to_list() == [None, None]
    assert rejects(result) == [(3, "amount", "'1.5' has more decimals than the currency allows")]


def test_parquet_float_amount_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    pl.DataFrame(
        {
            "order_id": ["P-1"],
            "psp_channel": ["adyen_eu"],
            "status": ["succeeded"],
            "amount": [12.34],
            "currency": ["EUR"],
            "created_at": ["2026-11-26T10:00:00Z"],
        }
    ).write_parquet(path)
    with pytest.raises(FileRejected, match="column 'amount' is floating point"):
        parse_parquet(path, ctx())


def test_parquet_missing_columns_and_garbage(tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    pl.DataFrame({"order_id": ["P-1"], "psp_channel": ["adyen_eu"]}).write_parquet(path)
    with pytest.raises(FileRejected, match="lacks required column.*status.*amount or amount_minor"):
        parse_parquet(path, ctx())
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"not parquet at all")
    with pytest.raises(FileRejected, match="not readable as Parquet"):
        parse_parquet(garbage, ctx())


def test_direction_method_country_and_status_time(tmp_path: Path) -> None:
    """The extended contract: direction (default payin), payment method, country, status time; bad values are
    rejected row by row naming the field and value; an extract of the older contract reads as pay-ins."""
    path = write(
        tmp_path,
        f"{HEADER},direction,payment_method,country,status_at\n"
        "W-1,sepa_out,E2E-1,PayPlatformEU,succeeded,25.00,EUR,2026-11-26T06:00:00Z,Withdrawal,SEPA_Credit_Transfer,de,"
        "2026-11-26T06:05:00Z\n"
        "P-1,adyen_eu,8815,PayPlatformEU,succeeded,10.00,EUR,2026-11-26T06:00:00Z,,card,,\n"
        "X-1,adyen_eu,8816,PayPlatformEU,succeeded,10.00,EUR,2026-11-26T06:00:00Z,refund,card,DE,\n"
        "X-2,adyen_eu,8817,PayPlatformEU,succeeded,10.00,EUR,2026-11-26T06:00:00Z,payin,card,DEU,\n"
        "X-3,adyen_eu,8818,PayPlatformEU,succeeded,10.00,EUR,2026-11-26T06:00:00Z,payin,card,DE,yesterday\n",
    )
    result = parse(path, ctx())
    got = result.frame.select("order_id", "direction", "payment_method", "country", "status_at").rows()
    assert got == [
        ("W-1", "withdrawal", "sepa_credit_transfer", "DE", dt.datetime(2026, 11, 26, 6, 5, tzinfo=UTC)),
        ("P-1", "payin", "card", None, None),
    ]
    assert rejects(result) == [
        (4, "direction", "unknown direction 'refund' (expected payin or withdrawal)"),
        (5, "country", "country 'DEU' is not an ISO 3166-1 alpha-2 code"),
        (6, "status_at", "'yesterday' is not an ISO 8601 timestamp with Z or a UTC offset"),
    ]
    old = parse(
        write(tmp_path, f"{HEADER}\nP-2,adyen_eu,1,m,succeeded,1.00,EUR,2026-11-26T06:00:00Z\n", "o.csv"), ctx()
    )
    assert old.frame.select("direction", "payment_method", "country").rows() == [("payin", None, None)]
