"""Reference FX rate parser: exact decimal rates, business dates and row rejects."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from pipelines.core.channels import Channel, CsvOptions
from pipelines.core.schema import table
from pipelines.formats.base import REJECT_SCHEMA, FileRejected, ParseContext, ParseResult
from pipelines.formats.fx_rates import TABLE, parse
from pipelines.formats.registry import get, table_of

HEADER = "rate_date,base_currency,quote_currency,rate"


def ctx(csv: CsvOptions | None = None) -> ParseContext:
    channel = Channel(
        id="fx_ecb", kind="reference", location=".", format="fx_rates_csv", timezone="UTC", csv=csv or CsvOptions()
    )
    return ParseContext(channel=channel, file_id="x" * 64, file_name="fx_rates_2026-11-26.csv")


def write(tmp_path: Path, rows: list[str], header: str = HEADER) -> Path:
    path = tmp_path / "fx_rates_2026-11-26.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def rejects(result: ParseResult) -> list[tuple[int, str, str]]:
    return [(r["line_no"], r["field"], r["reason"]) for r in result.rejects.iter_rows(named=True)]


def test_registry() -> None:
    assert get("fx_rates_csv") is parse
    assert table_of("fx_rates_csv") == TABLE == "fx_rates"


def test_rates_are_exact_decimals(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            "2026-11-26,EUR,GBP,0.8370",
            "2026-11-26,EUR,BRL,6.1268",
            "2026-11-26,EUR,MXN,21.3653",
            "2026-11-26,EUR,CLP,1012.11",
            "2026-11-26,EUR,USD,1.0538",
            "2026-11-26,EUR,JPY,161.51",
            "2026-11-26,EUR,BHD,0.39467",
            "2026-11-25,eur,gbp, 0.123456789012 ",
        ],
    )
    result = parse(path, ctx())
    assert result.rows_in == 8 and result.rejects.height == 0
    f = result.frame
    assert f.schema == table(TABLE).polars_schema()
    assert f["line_no"].to_list() == list(range(2, 10))
    assert f["quote_currency"].to_list() == ["GBP", "BRL", "MXN", "CLP", "USD", "JPY", "BHD", "GBP"]
    assert set(f["base_currency"]) == {"EUR"}
    assert f["rate"].to_list() == [
        Decimal("0.8370"),
        Decimal("6.1268"),
        Decimal("21.3653"),
        Decimal("1012.11"),
        Decimal("1.0538"),
        Decimal("161.51"),
        Decimal("0.39467"),
        Decimal("0.123456789012"),
    ]
    assert f["business_date"].to_list() == [dt.date(2026, 11, 26)] * 7 + [dt.date(2026, 11, 25)]
    assert set(f["channel"]) == {"fx_ecb"} and set(f["file_id"]) == {"x" * 64}


def test_row_rejects_name_line_field_and_reason(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        [
            "2026-11-26,EUR,GBP,0.8370",
            "2026-11-26,EUR,BRL,6,1268",
            "2026-11-26,EUR,MXN,21.36x",
            "2026-11-26,EUR,CLP,1012.1100000000001",
            "2026-11-26,EUR,XYZ,1.5",
            ",EUR,USD,1.0538",
            "2026-11-26,,JPY,161.51",
            "26/11/2026,EUR,BHD,0.39467",
            "2026-11-26,EUR,USD,0",
            "2026-11-25,EUR,USD,-1.05",
            "2026-11-26,EUR,EUR,1",
            "2026-11-26,EUR,GBP,0.8371",
            "2026-11-26,EUR,JPY,",
        ],
        header=HEADER,
    )
    with pytest.raises(FileRejected, match="ragged rows: the header has 4 fields but line 3 has 5 fields"):
        parse(path, ctx())
    path = write(tmp_path, [r for r in path.read_text().splitlines()[1:] if r != "2026-11-26,EUR,BRL,6,1268"])
    result = parse(path, ctx())
    assert result.rows_in == 12
    assert result.frame["quote_currency"].to_list() == ["GBP"]
    assert rejects(result) == [
        (3, "rate", "'21.36x' is not a decimal number"),
        (4, "rate", "'1012.1100000000001' has more than 12 decimals"),
        (5, "quote_currency", "unknown ISO 4217 currency 'XYZ'"),
        (6, "rate_date", "rate_date is missing"),
        (7, "base_currency", "currency is missing"),
        (8, "rate_date", "'26/11/2026' is not a date (YYYY-MM-DD)"),
        (9, "rate", "rate must be positive, got '0'"),
        (10, "rate", "rate must be positive, got '-1.05'"),
        (11, "quote_currency", "quote_currency equals base_currency"),
        (12, "rate_date,base_currency,quote_currency", "rate for this date and currency pair already given on line 2"),
        (13, "rate", "rate is missing"),
    ]
    assert result.rejects.schema == REJECT_SCHEMA
    assert result.rejects.row(2, named=True)["currency"] == "XYZ"


def test_decimal_comma_and_semicolons(tmp_path: Path) -> None:
    path = write(tmp_path, ["2026-11-26;EUR;CLP;1012,11"], header=HEADER.replace(",", ";"))
    result = parse(path, ctx(CsvOptions(delimiter=";", decimal=",")))
    assert result.frame["rate"].to_list() == [Decimal("1012.11")]


def test_file_rejects(tmp_path: Path) -> None:
    path = write(tmp_path, ["2026-11-26,EUR,0.8370"], header="rate_date,base_currency,rate")
    with pytest.raises(FileRejected, match="lacks required column\\(s\\): 'quote_currency'"):
        parse(path, ctx())
    path.write_text("")
    with pytest.raises(FileRejected, match="^file is empty$"):
        parse(path, ctx())
