"""The declared settlement CSV layouts (Worldpay, PIX, UPI): their samples under data_samples/formats and
malformed variants. One module for the three because they share ``psputil.SettlementCsv``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from format_helpers import ctx, rejects, write

from pipelines.core.config import PROJECT_ROOT
from pipelines.core.schema import table
from pipelines.formats import pix, upi, worldpay
from pipelines.formats.registry import get, table_of

SAMPLES = PROJECT_ROOT / "data_samples" / "formats"


def test_registry() -> None:
    assert (get("worldpay_settlement"), get("pix_settlement"), get("upi_settlement")) == (
        worldpay.parse,
        pix.parse,
        upi.parse,
    )
    assert {table_of(f) for f in ("worldpay_settlement", "pix_settlement", "upi_settlement")} == {
        "psp_settlement_lines"
    }


def test_worldpay_sample() -> None:
    result = worldpay.parse(next((SAMPLES / "worldpay").glob("*.csv")), ctx("worldpay_settlement", "psp"))
    f = result.frame
    assert result.rejects.height == 0 and f.schema == table("psp_settlement_lines").polars_schema()
    assert f.select("record_type", "gross_minor", "fee_minor", "net_minor", "currency").rows() == [
        ("payment", 12000, 59, 11941, "GBP"),
        ("payment", 3550, 39, 3511, "GBP"),
        ("refund", -2000, 10, -2010, "GBP"),
        ("chargeback", -6000, 1500, -7500, "GBP"),
        ("fee", 0, 500, -500, "GBP"),
        ("payment", 5400, 84, 5316, "JPY"),
    ]
    assert f["payout_date"].to_list() == [dt.date(2026, 11, 27)] * 6


def test_worldpay_row_rejects(tmp_path: Path) -> None:
    path = next((SAMPLES / "worldpay").glob("*.csv"))
    text = path.read_text().replace("119.41", "119.40").replace(",REFUND,", ",VOID,").replace("5400,54", "5400.5,54")
    result = worldpay.parse(write(tmp_path, text), ctx("worldpay_settlement", "psp"))
    assert rejects(result) == [
        (2, "Net Settlement Amount", "net 119.40 is not gross minus fees (11941 minor units)"),
        (4, "Transaction Type", "unknown Transaction Type 'VOID'"),
        (7, "Gross Settlement Amount", "'5400.5' has more decimals than the currency allows"),
    ]


def test_pix_sample_balances_to_zero() -> None:
    result = pix.parse(
        next((SAMPLES / "pix").glob("*.csv")), ctx("pix_settlement", "psp", "America/Sao_Paulo", delimiter=";")
    )
    f = result.frame
    assert result.rejects.height == 0
    assert f["record_type"].to_list() == ["payment", "payment", "refund", "chargeback", "fee", "payout"]
    assert f["net_minor"].to_list() == [15000, 8990, -5000, -3000, -240, -15750]
    assert int(f["net_minor"].sum()) == 0
    assert set(f["currency"]) == {"BRL"}
    assert f["booked_at"][0] == dt.datetime(2026, 11, 26, 13, 15, tzinfo=dt.UTC)


def test_upi_sample_and_failed_line(tmp_path: Path) -> None:
    path = next((SAMPLES / "upi").glob("*.csv"))
    f = upi.parse(path, ctx("upi_settlement", "psp", "Asia/Kolkata")).frame
    assert f.select("record_type", "gross_minor", "fee_minor", "tax_minor", "net_minor").rows() == [
        ("payment", 149900, 0, 0, 149900),
        ("payment", 2500000, 7500, 1350, 2491150),
        ("refund", -49900, 0, 0, -49900),
        ("payment", 12050, 0, 0, 12050),
    ]
    assert f["payout_id"].to_list() == ["UTIBR52026112700001"] * 4
    result = upi.parse(
        write(tmp_path, path.read_text().replace("neha@paytm,SUCCESS", "neha@paytm,FAILED")),
        ctx("upi_settlement", "psp"),
    )
    assert rejects(result) == [(5, "Status", "status 'FAILED' is not a settled line")]
