"""A break keeps its type across runs: a duplicate settlement line carried into the next run, without the
original it duplicates (matched and paid out the first day), is still a duplicate_settlement_line with the same
break id, not a psp_line_without_order."""

from __future__ import annotations

from pathlib import Path

from helpers import bank, order
from payout_helpers import FRI, MON, Workspace

LINE = (
    "Settled,PayPlatformEU,7003,PSP-D,ORD-D,visa,2026-08-28 09:00:00,CET,2026-08-28 10:00:00,CET,"
    "EUR,,100.00,1,EUR,,99.00,,0.50,0.20,0.30,M1"
)
PAYOUT = (
    'MerchantPayout,PayPlatformEU,7003,,,,2026-08-28 23:55:00,CET,,,,,,,EUR,198.00,,,,,,"TX1 batch 7003, PayPlatformEU"'
)


def test_a_carried_duplicate_stays_a_duplicate(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.rows("orders", [order("ORD-D", 10000, "EUR", psp_reference="PSP-D", business_date=FRI)], "fo")
    ws.report([LINE, LINE, PAYOUT], name="settlement_detail_report_batch_7003.csv")
    credit = bank("PayPlatformEU-7003", 19800, "EUR", business_date=FRI, booking_date=FRI, value_date=FRI)
    ws.rows("bank_statement_lines", [credit], "fb")
    friday = ws.run(FRI).breaks.select("break_id", "break_type", "item_ref")
    assert friday.rows() == [(friday["break_id"][0], "duplicate_settlement_line", "PSP-D")]
    carried = ws.open_after(FRI)
    assert carried.select("item_table", "line_no", "status").rows() == [("psp_settlement_lines", 3, "break")]

    monday = ws.run(MON).breaks
    assert monday.select("break_id", "break_type", "item_ref").rows() == friday.rows()
    assert monday["reason"][0].startswith("duplicate of a settlement line matched in an earlier run")
    assert monday["first_seen"][0] == FRI and monday["age_days"][0] == 3
