"""PayPal activity / statement CSV parser: languages, declared number formats, date order, time zones,
record types, row rejects and the running-balance control total."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from format_helpers import ctx, rejects, write

from pipelines.core.schema import table
from pipelines.formats import controls
from pipelines.formats.base import FileRejected
from pipelines.formats.paypal import TABLE, parse
from pipelines.formats.registry import get, table_of

HEADER = (
    '"Date","Time","TimeZone","Name","Type","Status","Currency","Gross","Fee","Net","Transaction ID",'
    '"Reference Txn ID","Invoice Number","Balance"\n'
)
ROWS = [
    '"29/11/2026","10:00:00","PST","A","Website Payment","Completed","USD","1,000.00","-29.30",'
    '"970.70","T1","","ORD-1","970.70"',
    '"29/11/2026","11:00:00","PST","","Payment Refund","Completed","USD","-100.00","2.90","-97.10",'
    '"T2","T1","ORD-1","873.60"',
    '"30/11/2026","12:00:00","PST","","General Withdrawal","Pending","USD","-873.60","0.00",'
    '"-873.60","T3","","","0.00"',
    '"30/11/2026","12:00:00","America/Los_Angeles","","Payment Hold","Completed","JPY","-500","0",'
    '"-500","T4","","","-500"',
]


def csv(rows: list[str], header: str = HEADER) -> str:
    return header + "\n".join(rows) + "\n"


def test_registry() -> None:
    assert get("paypal") is parse
    assert table_of("paypal") == TABLE == "psp_settlement_lines"


def test_english_activity_download(tmp_path: Path) -> None:
    result = parse(write(tmp_path, csv(ROWS)), ctx("paypal", "psp", "Europe/Amsterdam", thousands=","))
    f = result.frame
    assert result.rejects.height == 0 and f.schema == table(TABLE).polars_schema()
    assert f["record_type"].to_list() == ["payment", "refund", "payout", "adjustment"]
    assert f["gross_minor"].to_list() == [100000, -10000, -87360, -500]
    assert f["fee_minor"].to_list() == [2930, -290, 0, 0]
    assert f["net_minor"].to_list() == [97070, -9710, -87360, -500]
    assert f["balance_minor"].to_list() == [97070, 87360, 0, -500]
    assert f["currency"].to_list() == ["USD", "USD", "USD", "JPY"]
    assert f["psp_reference"].to_list() == ["T1", "T2", "T3", "T4"]
    assert f["related_reference"].to_list() == [None, "T1", None, None]
    assert f["merchant_reference"].to_list() == ["ORD-1", "ORD-1", None, None]
    assert f["status"].to_list() == ["Completed", "Completed", "Pending", "Completed"]
    assert f["booked_at"][0] == dt.datetime(2026, 11, 29, 18, 0, tzinfo=dt.UTC)  # 10:00 PST
    assert f["business_date"].to_list() == [dt.date(2026, 11, 29)] * 2 + [dt.date(2026, 11, 30)] * 2


def test_spanish_statement_with_decimal_comma_and_padded_header(tmp_path: Path) -> None:
    header = (
        '"Fecha","Hora","Zona horaria","Descripción","Divisa","Bruto","Comisión","Neto","Saldo",'
        '"Id. de transacción",,,,\n'
    )
    rows = [
        '"2/1/2020","11:05:56","Europe/Berlin","Pago estándar","EUR","4.049,37","-1,78","4.047,59","4.626,81","TID1"'
    ]
    f = parse(write(tmp_path, csv(rows, header)), ctx("paypal", "psp", decimal=",", thousands=".")).frame
    assert f.select("record_type", "gross_minor", "fee_minor", "net_minor", "balance_minor").rows() == [
        ("payment", 404937, 178, 404759, 462681)
    ]
    assert f["booked_at"][0] == dt.datetime(2020, 1, 2, 10, 5, 56, tzinfo=dt.UTC)  # day-first, Spanish convention


def test_row_rejects(tmp_path: Path) -> None:
    rows = [
        ROWS[0],
        '"29/11/2026","11:00:00","PST","","Mystery Thing","Completed","USD","1.00","0.00","1.00","T5","","",""',
        '"29/11/2026","11:00:00","PST","","Website Payment","Completed","USD","10.00","-1.00","8.00","T6","","",""',
        '"29/11/2026","11:00:00","XST","","Website Payment","Completed","XYZ","10.00","0.00","10.00","T7","","",""',
        '"29/11/2026","25:00:00","PST","","Website Payment","Completed","USD","10.001","0.00","10.00","","","",""',
    ]
    result = parse(write(tmp_path, csv(rows)), ctx("paypal", "psp", thousands=","))
    assert result.frame["psp_reference"].to_list() == ["T1"]
    assert rejects(result) == [
        (3, "Type", "unknown transaction type 'Mystery Thing'"),
        (4, "Net", "net 8.00 is not gross 10.00 + fee -1.00"),
        (5, "Currency", "unknown ISO 4217 currency 'XYZ'"),
        (5, "TimeZone", "unknown time zone 'XST'"),
        (6, "Gross", "'10.001' has more decimals than the currency allows"),
        (6, "Time", "'25:00:00' is not a time (HH:MM:SS)"),
        (6, "Transaction ID", "Transaction ID is missing"),
    ]


def test_thousands_separator_must_be_declared(tmp_path: Path) -> None:
    result = parse(write(tmp_path, csv(ROWS[:1])), ctx("paypal", "psp"))
    assert rejects(result)[0] == (2, "Gross", "'1,000.00' is not a decimal amount")


def test_running_balance_break_rejects_the_file(tmp_path: Path) -> None:
    rows = [*ROWS[:1], ROWS[1].replace('"873.60"', '"873.70"')]
    with pytest.raises(FileRejected) as caught:
        parse(write(tmp_path, csv(rows)), ctx("paypal", "psp", thousands=","))
    assert str(caught.value) == (
        "running balance does not agree: line 3: balance 970.70 USD + net -97.10 = 873.60 but the report states 873.70"
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            csv([ROWS[0].replace("29/11/2026", "11/29/2026"), ROWS[1]]),
            "Date: 1 dates are only valid day-first (D/M/YYYY) and 1 only month-first",
        ),
        (
            csv([ROWS[0].replace("29/11/2026", "1/11/2026")]),
            "Date: every date fits both D/M/YYYY and M/D/YYYY; the date order cannot be known",
        ),
        ('"When","What"\n"1","2"\n', "header is not a PayPal activity or statement header in a known language"),
        ("", "file is empty"),
    ],
)
def test_unreadable_files(tmp_path: Path, text: str, reason: str) -> None:
    with pytest.raises(FileRejected) as caught:
        parse(write(tmp_path, text), ctx("paypal", "psp", thousands=","))
    assert str(caught.value).startswith(reason)


def test_latin1_file_read_with_declared_encoding(tmp_path: Path) -> None:
    text = csv([ROWS[0].replace('"A"', '"Müller"')])
    path = write(tmp_path, text, encoding="latin-1")
    with pytest.raises(FileRejected, match="not valid UTF-8: byte 0xfc on line 2"):
        parse(path, ctx("paypal", "psp", thousands=","))
    assert parse(path, ctx("paypal", "psp", thousands=",", encoding="latin-1")).frame.height == 1


def test_running_balance_is_reported_passed_or_skipped_around_an_unreadable_row(tmp_path: Path) -> None:
    full = parse(write(tmp_path, csv(ROWS)), ctx("paypal", "psp", thousands=","))
    assert [(c.name, c.status) for c in controls.checks_of(full) or []] == [("running balance", "passed")]
    broken = ROWS[1].replace('"873.60"', '"8x3.60"')
    partial = parse(write(tmp_path, csv([ROWS[0], broken, ROWS[2]])), ctx("paypal", "psp", thousands=","))
    [check] = controls.checks_of(partial) or []
    assert (check.status, check.detail) == (
        "skipped",
        "1 row(s) with an unreadable amount, currency or balance: the rows next to them unchecked",
    )
