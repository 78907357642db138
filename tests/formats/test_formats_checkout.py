"""Checkout.com financial actions report parser: breakdown rows folded into one line per action, FX,
whole-action rejection (sample: data_samples/formats/checkout)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from format_helpers import ctx, write

from pipelines.core.config import PROJECT_ROOT
from pipelines.core.schema import table
from pipelines.formats.checkout import TABLE, parse
from pipelines.formats.registry import get, table_of

SAMPLE = next((PROJECT_ROOT / "data_samples" / "formats" / "checkout").glob("*.csv"))


def test_registry() -> None:
    assert get("checkout_financial_actions") is parse
    assert table_of("checkout_financial_actions") == TABLE == "psp_settlement_lines"


def test_actions_become_canonical_lines() -> None:
    result = parse(SAMPLE, ctx("checkout_financial_actions", "psp"))
    f = result.frame
    assert result.rejects.height == 0 and f.schema == table(TABLE).polars_schema()
    assert result.rows_in == 3
    assert f.select("line_no", "record_type", "gross_minor", "gross_currency", "fee_minor", "net_minor").rows() == [
        (2, "payment", 6540, "EUR", 37, 6503),
        (6, "payment", 10800, "USD", 50, 9950),
        (8, "refund", -1000, "EUR", 10, -1010),
    ]
    assert f["exchange_rate"].to_list() == [None, Decimal("0.925925925926"), None]
    assert f["payout_id"].to_list() == ["00000000CFJU"] * 3
    assert f["merchant_reference"].to_list() == ["ORD-20261126-0000401", "ORD-20261126-0000402", "ORD-20261126-0000401"]


def test_a_bad_row_rejects_its_whole_action(tmp_path: Path) -> None:
    text = SAMPLE.read_text().replace("Scheme Fees,EUR,EUR,-0.04,-0.04", "Scheme Fees,EUR,EUR,-0.04,-0.045")
    result = parse(write(tmp_path, text), ctx("checkout_financial_actions", "psp"))
    assert result.frame["line_no"].to_list() == [6, 8]
    reasons = {(r["line_no"], r["reason"]) for r in result.rejects.iter_rows(named=True)}
    assert (4, "'-0.045' has more decimals than the currency allows") in reasons
    assert (2, "another row of action act_5u6hbh5kxhxu5jyfhvm3zf5b2i (line 4) was rejected") in reasons
    assert result.rows_in == 2 + 4
