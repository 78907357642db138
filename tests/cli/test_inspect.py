"""Content-based format detection and ``recon inspect``: the format, the counts and sums, the control
totals, and the precise reason for a rejected or unrecognised file, with the exit code."""

from __future__ import annotations

from pathlib import Path

import pytest
from format_helpers import write
from rich.console import Console

from pipelines.cli.inspect import inspect_file, main_inspect, render
from pipelines.formats.base import FileRejected
from pipelines.formats.detect import detect

MT940 = (
    ":20:S\n:25:ACC\n:28C:1\n:60F:C261125EUR10,00"
    "\n:61:2611261126C5,00NTRFNONREF\n:61:2611261126D2,50NTRFNONREF\n:62F:C261126EUR12,50\n-\n"
)


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ('<?xml version="1.0"?><Document xmlns="urn:x"><BkToCstmrStmt>', "camt053"),
        ("<Document><BkToCstmrDbtCdtNtfctn>", "camt054"),
        ("<?xml version='1.0'?>\n<Document><CstmrPmtStsRpt>", "pain002"),
        (MT940, "mt940"),
        (":20:S\n:25:A\n:34F:EUR0,\n:13D:2611261200+0100\n:61:2611261126C1,NTRFNONREF\n", "mt942"),
        ("\x01{1:F01X}{2:I940X}{4:\r\n:20:S\r\n:60F:C261125EUR1,\r\n", "mt940"),
        ("01,A,B,261126,0800,1,,,2/\n02,B,A,1,261126,,USD,2/\n03,1,,010,0,,/\n", "bai2"),
        ("101 09100001912345678902611261200A094101" + " " * 54 + "\n5200X\n", "nacha"),
        ("\ufeffMerchant Account,Psp Reference,Batch Number,Type\n", "adyen_sdr"),
        ('"SHOP_ID";"PAYMENTDATE";"AMOUNT";"FEETYPE"\n', "ratepay"),
        ("02RETORNO01COBRANCA       00000\n", "cnab400"),
    ],
)
def test_detection_from_content(tmp_path: Path, text: str, fmt: str) -> None:
    assert detect(write(tmp_path, text, "no-extension")).format == fmt


def test_detection_carries_the_documented_number_format(tmp_path: Path) -> None:
    found = detect(write(tmp_path, '"Fecha","Hora","Divisa","Bruto","Neto","Id. de transacción"\n'))
    assert (found.format, found.csv.decimal, found.csv.thousands) == ("paypal", ",", ".")
    assert "Spanish" in (found.csv_note or "")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "file is empty"),
        (
            "just some text\n",
            "format not recognised from the content (first line 'just some text'); give it with --format",
        ),
        (
            "<Document><Unknown/></Document>",
            "XML file with root element 'Unknown': not a message format the pipeline reads",
        ),
    ],
)
def test_unrecognised_files(tmp_path: Path, text: str, reason: str) -> None:
    with pytest.raises(FileRejected) as caught:
        detect(write(tmp_path, text))
    assert str(caught.value) == reason
    result = inspect_file(tmp_path / "file.txt")
    assert (result.status, result.exit_code, result.reason) == ("unknown", 2, reason)


def test_inspect_reports_sums_and_control(tmp_path: Path) -> None:
    result = inspect_file(write(tmp_path, MT940))
    assert (result.format, result.status, result.exit_code, result.rows_in, result.rows_read) == (
        "mt940",
        "read",
        0,
        2,
        2,
    )
    assert [(s.currency, s.group, s.count, s.total_text()) for s in result.sums] == [
        ("EUR", "credit", 1, "5.00"),
        ("EUR", "debit", 1, "2.50"),
    ]
    assert result.control is not None and result.control.startswith("agree (opening balance + credits - debits")
    console = Console(record=True, width=200)
    render(result, console)
    out = console.export_text()
    for needle in ("format: mt940 (detected) -> bank_statement_lines", "entries: 2", "EUR", "5.00", "control totals"):
        assert needle in out


def test_inspect_rejected_file_exit_code_and_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, MT940.replace("EUR12,50", "EUR12,40"))
    assert main_inspect(str(path), None) == 1
    out = capsys.readouterr().out
    assert "REJECTED" in out and "12.40 EUR" in out


def test_inspect_with_given_format_and_unknown_format(tmp_path: Path) -> None:
    path = write(tmp_path, MT940)
    given = inspect_file(path, "mt940")
    assert (given.detected, given.status) == (False, "read")
    unknown = inspect_file(path, "nope")
    assert unknown.exit_code == 2 and (unknown.reason or "").startswith("format 'nope' has no parser")
    assert inspect_file(tmp_path / "missing.txt").reason == f"no such file: {tmp_path / 'missing.txt'}"


def test_inspect_shows_row_rejects(tmp_path: Path) -> None:
    text = MT940.replace(":61:2611261126D2,50NTRFNONREF", ":61:2611261126D2,505NTRFNONREF")
    result = inspect_file(write(tmp_path, text))
    assert result.status == "read" and result.rows_rejected == 1
    assert result.rejects == [
        {"line_no": 6, "field": "amount", "reason": "'2,505' has more decimals than the currency allows"}
    ]


@pytest.mark.parametrize(
    ("folder", "fmt", "rows"),
    [
        ("paypal_stl", "paypal_stl", 6),
        ("checkout", "checkout_financial_actions", 3),
        ("worldpay", "worldpay_settlement", 6),
        ("pix", "pix_settlement", 6),
        ("upi", "upi_settlement", 4),
    ],
)
def test_own_samples_are_detected_and_read(folder: str, fmt: str, rows: int) -> None:
    from pipelines.core.config import PROJECT_ROOT

    path = next((PROJECT_ROOT / "data_samples" / "formats" / folder).iterdir())
    result = inspect_file(path)
    assert (result.format, result.status, result.rows_read, result.rows_rejected) == (fmt, "read", rows, 0)


def test_inspect_shows_the_own_dates_of_the_rows_in_the_channels_time_zone(tmp_path: Path) -> None:
    from pipelines.core.channels import Channel

    header = "order_id,psp_channel,psp_reference,merchant_account,status,amount,currency,created_at"
    rows = [
        "ORD-1,adyen_eu,r1,PayPlatformEU,succeeded,10.00,EUR,2026-11-26T12:00:00Z",
        "ORD-2,adyen_eu,r2,PayPlatformEU,succeeded,11.00,EUR,2026-11-26T23:30:00Z",  # 00:30 on the 27th in Amsterdam
    ]
    f = tmp_path / "orders_2026-11-26.csv"
    f.write_text("\n".join([header, *rows]) + "\n")
    utc = inspect_file(f, "orders_csv")
    assert utc.dates == [("2026-11-26", 2)] and utc.date_basis.startswith("UTC")
    amsterdam = Channel(id="orders_nl", kind="orders", location=".", format="orders_csv", timezone="Europe/Amsterdam")
    local = inspect_file(f, None, amsterdam)
    assert local.format == "orders_csv" and local.dates == [("2026-11-26", 1), ("2026-11-27", 1)]
    assert local.date_basis == "Europe/Amsterdam, cut-off 00:00, channel orders_nl"
