"""PayPal STL settlement report parser: row types, T-codes, minor-unit amounts with CR/DR, section and
report control totals (sample: data_samples/formats/paypal_stl)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from format_helpers import ctx, rejects, write

from pipelines.core.config import PROJECT_ROOT
from pipelines.core.schema import table
from pipelines.formats.base import FileRejected
from pipelines.formats.paypal_stl import TABLE, parse
from pipelines.formats.registry import get, table_of

SAMPLE = PROJECT_ROOT / "data_samples" / "formats" / "paypal_stl" / "STL-20261126.01.009.CSV"


def test_registry() -> None:
    assert get("paypal_stl") is parse
    assert table_of("paypal_stl") == TABLE == "psp_settlement_lines"


def test_sample_maps_to_canonical_lines() -> None:
    result = parse(SAMPLE, ctx("paypal_stl", "psp", "America/Los_Angeles"))
    f = result.frame
    assert result.rejects.height == 0 and f.schema == table(TABLE).polars_schema()
    assert f["record_type"].to_list() == ["payment", "payment", "refund", "chargeback", "payout", "payment"]
    assert f["gross_minor"].to_list() == [12000, 4599, -2500, -3000, -10000, 5000]
    assert f["fee_minor"].to_list() == [378, 163, -45, 2000, 0, 180]
    assert f["net_minor"].to_list() == [11622, 4436, -2455, -5000, -10000, 4820]
    assert f["currency"].to_list() == ["USD"] * 5 + ["JPY"]
    assert f["merchant_reference"].to_list()[:4] == [
        "ORD-20261126-0000501",
        "ORD-20261126-0000502",
        "ORD-20261120-0000410",
        "ORD-20261101-0000033",
    ]
    assert f["related_reference"][2] == "6RY98765ZY9876543"
    assert f["booked_at"][0] == dt.datetime(2026, 11, 26, 14, 14, 3, tzinfo=dt.UTC)
    assert f["line_no"].to_list() == [5, 6, 7, 8, 9, 10]


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ('"SC",6', '"SC",7', "control totals do not agree: SC (line 13) counts 7 rows but section has 6"),
        (
            '"SF","USD","16599"',
            '"SF","USD","16600"',
            "control totals do not agree: SF (line 11) USD: gross credits 166.00 stated, 165.99 in the rows",
        ),
        ('"FF",01\n', "", "file is truncated: no RF/RC/FF footer"),
        ('"RH",', '"XX",', "line 1: not an STL row"),
    ],
)
def test_broken_files_are_rejected(tmp_path: Path, old: str, new: str, reason: str) -> None:
    text = SAMPLE.read_text()
    assert old in text
    broken = text.replace(old, new)
    if old.startswith('"FF"'):
        broken = broken.replace('"RC",6\n', "").replace('"RF","USD","16599","15500","45","2541"\n', "")
    with pytest.raises(FileRejected) as caught:
        parse(write(tmp_path, broken), ctx("paypal_stl", "psp"))
    assert str(caught.value).startswith(reason)


def test_row_rejects(tmp_path: Path) -> None:
    text = SAMPLE.read_text().replace('"T0400"', '"X0400"').replace('"4599","USD"', '"45.99","USD"')
    text = text.replace('"SF","USD","16599","15500","45","2541"', '"SF","USD","12000","15500","45","2541"')
    text = text.replace('"RF","USD","16599"', '"RF","USD","12000"')
    result = parse(write(tmp_path, text), ctx("paypal_stl", "psp"))
    assert rejects(result) == [
        (6, "Gross Transaction Amount", "'45.99' is not an amount in minor units"),
        (9, "Transaction Event Code", "'X0400' is not a transaction event code (T + 4 digits)"),
    ]
