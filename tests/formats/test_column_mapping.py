"""Column mapping (``csv.columns``) for CSV extracts whose headers differ: orders and FX rates.

An extract with other headers, another column order, another delimiter and a decimal comma parses to the
same canonical frame as the sample layout; rejects name the headers as they are in the file; a mapping
the format cannot use, or whose header the file lacks, is refused with the channel file and the field.
"""

from __future__ import annotations

import csv
import io
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT_ROOT
from format_helpers import ctx, rejects, write
from pydantic import ValidationError

from pipelines.core.channels import Channel, CsvOptions, RulesError, load_channels
from pipelines.formats import csvutil, fx_rates, orders
from pipelines.formats.base import FileRejected, ParseResult

ORDERS_SAMPLE = PROJECT_ROOT / "data_samples" / "orders" / "orders_2026-11-26.csv"
FX_SAMPLE = PROJECT_ROOT / "data_samples" / "fx" / "fx_rates_2026-11-26.csv"

# an order system exporting ``OrderRef;Amount;Ccy;...``: other names, another order, one extra column
ORDERS_COLUMNS = {
    "order_id": "OrderRef",
    "amount": "Amount",
    "currency": "Ccy",
    "status": "State",
    "created_at": "Created (UTC)",
    "psp_channel": "Processor",
    "psp_reference": "PSP Ref",
    "merchant_account": "Merchant",
    "direction": "Direction",
    "payment_method": "Method",
    "country": "Country",
}
FX_COLUMNS = {"quote_currency": "To", "base_currency": "From", "rate": "Px", "rate_date": "Day"}


def parse_orders(path: Path, **options: Any) -> ParseResult:
    return orders.parse(path, ctx("orders_csv", "orders", **options))


def parse_fx(path: Path, **options: Any) -> ParseResult:
    return fx_rates.parse(path, ctx("fx_rates_csv", "reference", **options))


def relaid(sample: Path, columns: dict[str, str], decimal_column: str, extra: str) -> str:
    """The sample with the mapped headers, the columns in the mapping's order, an ``extra`` column first,
    ``;`` as delimiter and a decimal comma in ``decimal_column``."""
    rows = list(csv.DictReader(io.StringIO(sample.read_text(encoding="utf-8"))))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerow([extra, *columns.values()])
    for n, row in enumerate(rows):
        row[decimal_column] = row[decimal_column].replace(".", ",")
        writer.writerow([f"note {n}", *(row[name] for name in columns)])
    return out.getvalue()


def test_an_orders_extract_with_other_headers_parses_to_the_sample_frame(tmp_path: Path) -> None:
    expected = parse_orders(ORDERS_SAMPLE)
    path = write(tmp_path, relaid(ORDERS_SAMPLE, ORDERS_COLUMNS, "amount", "Comment"), "orders.csv")
    result = parse_orders(path, delimiter=";", decimal=",", columns=ORDERS_COLUMNS)
    assert result.frame.equals(expected.frame)
    assert result.rows_in == expected.rows_in and result.rows_rejected == expected.rows_rejected > 0
    # the same rows are rejected for the same fields, named by the file's headers
    assert [(line, field) for line, field, _ in rejects(result)] == [
        (line, ORDERS_COLUMNS[field]) for line, field, _ in rejects(expected)
    ]


def test_an_fx_file_with_other_headers_parses_to_the_sample_frame(tmp_path: Path) -> None:
    expected = parse_fx(FX_SAMPLE)
    path = write(tmp_path, relaid(FX_SAMPLE, FX_COLUMNS, "rate", "Source"), "fx.csv")
    result = parse_fx(path, delimiter=";", decimal=",", columns=FX_COLUMNS)
    assert expected.frame.height > 0 and result.frame.equals(expected.frame)
    assert result.rows_in == expected.rows_in and result.rejects.height == expected.rejects.height == 0


def test_a_partial_mapping_keeps_the_other_names(tmp_path: Path) -> None:
    header = ORDERS_SAMPLE.read_text(encoding="utf-8").replace("order_id,", "OrderRef,", 1)
    result = parse_orders(write(tmp_path, header, "orders.csv"), columns={"order_id": "OrderRef"})
    assert result.frame.equals(parse_orders(ORDERS_SAMPLE).frame)


def test_a_file_column_named_like_a_mapped_column_is_not_read(tmp_path: Path) -> None:
    text = (
        "order_id,psp_channel,status,amount,Total,currency,created_at\n"
        "O1,adyen_eu,succeeded,999.99,12.50,EUR,2026-11-26T06:00:00Z\n"
    )
    result = parse_orders(write(tmp_path, text, "orders.csv"), columns={"amount": "Total"})
    assert result.frame["amount_minor"].to_list() == [1250]


def test_order_rejects_name_the_headers_of_the_file(tmp_path: Path) -> None:
    columns = {"order_id": "Ref", "psp_channel": "Psp", "status": "State", "amount": "Amount"}
    columns |= {"currency": "Ccy", "created_at": "Created"}
    text = (
        "Ref;Psp;State;Amount;Ccy;Created\n"
        ";adyen_eu;succeeded;1,00;EUR;2026-11-26T06:00:00Z\n"
        "O2;adyen_eu;;1,00;EUR;2026-11-26T06:00:00Z\n"
        "O3;adyen_eu;weird;1,00;EUR;2026-11-26T06:00:00Z\n"
        "O4;adyen_eu;succeeded;;EUR;2026-11-26T06:00:00Z\n"
        "O5;adyen_eu;succeeded;-1,00;EUR;2026-11-26T06:00:00Z\n"
        "O6;adyen_eu;succeeded;1,00;;2026-11-26T06:00:00Z\n"
        "O7;;succeeded;1,00;EUR;\n"
        "O8;adyen_eu;succeeded;1,00;EUR;2026-11-26T06:00:00Z\n"
    )
    result = parse_orders(write(tmp_path, text, "orders.csv"), delimiter=";", decimal=",", columns=columns)
    assert result.frame["order_id"].to_list() == ["O8"]
    assert rejects(result) == [
        (2, "Ref", "Ref is missing"),
        (3, "State", "State is missing"),
        (4, "State", "unknown State 'weird' (expected one of succeeded, refunded, failed, expired, pending)"),
        (5, "Amount", "Amount is missing"),
        (6, "Amount", "Amount must not be negative (-1,00)"),
        (7, "Ccy", "Ccy is missing"),
        (8, "Created", "Created is missing"),
        (8, "Psp", "Psp is missing"),
    ]
    assert result.rejects["raw"][0] == ";adyen_eu;succeeded;1,00;EUR;2026-11-26T06:00:00Z"


def test_fx_rejects_name_the_headers_of_the_file(tmp_path: Path) -> None:
    text = (
        "Day;From;To;Px\n"
        ";EUR;GBP;0,8\n"
        "2026-11-26;;GBP;0,8\n"
        "2026-11-26;EUR;EUR;1\n"
        "2026-11-26;EUR;USD;-1\n"
        "2026-11-26;EUR;CHF;\n"
        "2026-11-26;EUR;JPY;160\n"
        "2026-11-26;EUR;JPY;161\n"
    )
    result = parse_fx(write(tmp_path, text, "fx.csv"), delimiter=";", decimal=",", columns=FX_COLUMNS)
    assert result.frame.select("quote_currency", "rate").rows() == [("JPY", Decimal(160))]
    assert rejects(result) == [
        (2, "Day", "Day is missing"),
        (3, "From", "From is missing"),
        (4, "To", "To equals From"),
        (5, "Px", "Px must be positive, got '-1'"),
        (6, "Px", "Px is missing"),
        (8, "Day,From,To", "rate for this date and currency pair already given on line 7"),
    ]


def test_without_a_mapping_the_messages_are_unchanged(tmp_path: Path) -> None:
    text = "rate_date,base_currency,quote_currency,rate\n2026-11-26,,GBP,0.8\n2026-11-26,EUR,EUR,1\n"
    assert rejects(parse_fx(write(tmp_path, text, "fx.csv"))) == [
        (2, "base_currency", "currency is missing"),
        (3, "quote_currency", "quote_currency equals base_currency"),
    ]


def test_a_mapped_header_missing_in_the_file_rejects_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, ORDERS_SAMPLE.read_text(encoding="utf-8"), "orders.csv")
    with pytest.raises(FileRejected) as exc:
        parse_orders(path, columns={"amount": "Amount", "psp_reference": "PSP Ref"})
    assert str(exc.value) == (
        "header (line 1) lacks the mapped column(s): "
        "'Amount' (csv.columns.amount), 'PSP Ref' (csv.columns.psp_reference)"
    )
    fx = write(tmp_path, "Day;From;To;Rate\n2026-11-26;EUR;GBP;0,8\n", "fx.csv")
    with pytest.raises(FileRejected, match=r"lacks the mapped column\(s\): 'Px' \(csv.columns.rate\)"):
        parse_fx(fx, delimiter=";", columns=FX_COLUMNS)


def test_an_unmapped_required_column_is_still_required(tmp_path: Path) -> None:
    path = write(tmp_path, "OrderRef,psp_channel,status,amount,currency\nO1,a,succeeded,1,EUR\n", "orders.csv")
    with pytest.raises(FileRejected, match=r"lacks required column\(s\): 'created_at'"):
        parse_orders(path, columns={"order_id": "OrderRef"})


def test_the_reader_refuses_a_mapping_of_columns_its_parser_does_not_read(tmp_path: Path) -> None:
    path = write(tmp_path, "a,B\n1,2\n", "x.csv")
    with pytest.raises(FileRejected, match="csv.columns maps column\\(s\\) this format does not read: c"):
        csvutil.read_csv(path, CsvOptions(columns={"a": "a", "c": "B"}), ["a"])
    src = csvutil.read_csv(path, CsvOptions(columns={"b": "B"}), ["a"], ["b"])
    assert src.columns == ["a", "b"] and src.label("b") == "B" and src.label("a") == "a"


@pytest.mark.parametrize(
    ("fmt", "columns", "message"),
    [
        (
            "orders_csv",
            {"amount_eur": "Amount"},
            "csv.columns: unknown column(s) 'amount_eur' for format orders_csv; it reads order_id, psp_channel,",
        ),
        ("fx_rates_csv", {"currency": "Ccy"}, "unknown column(s) 'currency' for format fx_rates_csv"),
        ("orders_parquet", {"amount": "Amount"}, "csv.columns: format orders_parquet takes no column mapping"),
        ("adyen_sdr", {"Type": "Kind"}, "csv.columns: format adyen_sdr takes no column mapping"),
        ("orders_csv", {"amount": " "}, "empty header for column(s) amount"),
        ("orders_csv", {"": "Amount"}, "a column name is empty"),
        ("orders_csv", {"amount": "X", "currency": "X"}, "one header given to several columns: 'X' (amount, currency)"),
    ],
)
def test_a_bad_mapping_is_refused_with_its_field(fmt: str, columns: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError) as exc:
        Channel.model_validate(
            {"id": "ch", "kind": "orders", "location": ".", "format": fmt, "csv": {"columns": columns}}
        )
    assert message in str(exc.value)
    assert [e["loc"][0] for e in exc.value.errors()] == ["csv"]


def bad_rules(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules)
    with (rules / "channels" / "orders.yaml").open("a", encoding="utf-8") as handle:
        handle.write('csv:\n  delimiter: ";"\n  columns: {order_id: OrderRef, order_ref: Ref}\n')
    with (rules / "channels" / "fx_ecb.yaml").open("a", encoding="utf-8") as handle:
        handle.write("csv:\n  columns: {rate: Px, base_currency: Px}\n")
    return rules


def test_loading_names_the_channel_file_and_field(tmp_path: Path) -> None:
    with pytest.raises(RulesError) as exc:
        load_channels(bad_rules(tmp_path))
    lines = str(exc.value).splitlines()
    assert lines == [
        f"{tmp_path / 'rules/channels/fx_ecb.yaml'}: channel fx_ecb: field 'csv.columns': Value error, "
        "one header given to several columns: 'Px' (rate, base_currency)",
        f"{tmp_path / 'rules/channels/orders.yaml'}: channel orders: field 'csv': Value error, "
        "csv.columns: unknown column(s) 'order_ref' for format orders_csv; it reads order_id, psp_channel, status, "
        "amount, currency, created_at, psp_reference, merchant_account, direction, payment_method, country, status_at",
    ]


def test_rules_check_reports_a_bad_mapping(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines.cli.main import main

    rules = bad_rules(tmp_path)
    assert main(["rules", "check", str(rules)]) == 1
    out = capsys.readouterr().out.replace("\n", "")
    assert "fx_ecb.yaml: channel fx_ecb: field 'csv.columns'" in out
    assert "orders.yaml: channel orders: field 'csv': Value error, csv.columns: unknown column(s) 'order_ref'" in out


def test_a_good_mapping_loads_and_rules_check_accepts_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines.cli.main import main

    rules = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules)
    with (rules / "channels" / "orders.yaml").open("a", encoding="utf-8") as handle:
        handle.write('csv:\n  delimiter: ";"\n  columns: {order_id: " OrderRef ", amount: Amount}\n')
    assert load_channels(rules)["orders"].csv.columns == {"order_id": "OrderRef", "amount": "Amount"}
    assert main(["rules", "check", str(rules)]) == 0
    assert "8 channel(s)" in capsys.readouterr().out  # orders, adyen_eu, stripe_eu, bank_eu, fx_ecb, 3 rails
    assert CsvOptions().columns == {}
