"""A failed or expired order stays offered to its channel's settlement lines for the settlement window before
its outcome becomes final: a settlement line arriving a business day later (the usual T+1) gives a
status_mismatch and an order-feedback row, not a psp_line_without_order."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
from helpers import order
from payout_helpers import FRI, MON, TUE, Workspace

from pipelines.core.config import Settings

LATE_LINE = (
    "Settled,PayPlatformEU,7002,PSP-F,ORD-F,visa,2026-08-31 09:00:00,CET,2026-08-31 10:00:00,CET,"
    "EUR,,20.00,1,EUR,,19.80,,0.10,0.05,0.05,M9"
)


def _feedback(settings: Settings, day: dt.date) -> pl.DataFrame:
    return pl.read_parquet(settings.outputs / day.isoformat() / "order_feedback.parquet")


def _order_outcome(outcomes: pl.DataFrame) -> list[str]:
    return outcomes.filter(pl.col("item_table") == "orders")["outcome"].to_list()


def test_a_failed_order_whose_line_comes_a_business_day_later_is_a_status_mismatch(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.rows("orders", [order("ORD-F", 2000, "EUR", psp_reference="PSP-F", status="failed", business_date=FRI)], "fo")
    friday = ws.run(FRI)
    assert _order_outcome(friday.outcomes) == ["pending"]  # the window (1 business day) is still open
    assert ws.open_after(FRI).filter(pl.col("item_table") == "orders")["status"].to_list() == ["pending"]

    ws.report([LATE_LINE], name="settlement_detail_report_batch_7002.csv")
    monday = ws.run(MON)
    mismatch = monday.breaks.filter(pl.col("break_type") == "status_mismatch")
    assert mismatch.select("item_ref", "counter_ref").rows() == [("PSP-F", "ORD-F")]
    assert monday.breaks.filter(pl.col("break_type") == "psp_line_without_order").height == 0
    feedback = _feedback(ws.settings, MON).select("order_id", "internal_status", "settled_as", "suggested_status")
    assert feedback.rows() == [("ORD-F", "failed", "settled", "succeeded")]


def test_a_failed_order_with_no_line_in_its_window_ends_with_no_settlement_expected(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.rows("orders", [order("ORD-F", 2000, "EUR", psp_reference="PSP-F", status="failed", business_date=FRI)], "fo")
    assert _order_outcome(ws.run(FRI).outcomes) == ["pending"]
    monday = ws.run(MON)  # the window closes on Monday (a TARGET2 day): final, nothing carried
    assert _order_outcome(monday.outcomes) == ["no_settlement_expected"]
    assert monday.breaks.height == 0
    assert ws.open_after(MON).filter(pl.col("item_table") == "orders").height == 0
    assert ws.run(TUE).outcomes.filter(pl.col("item_table") == "orders").height == 0
