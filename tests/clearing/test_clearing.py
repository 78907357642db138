"""Clearing details on small inline tables: settlement models and order status feedback."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
from helpers import bank, order, psp, settings_in, stage

from pipelines.core.channels import load_channels
from pipelines.core.config import PROJECT_ROOT, Settings
from pipelines.match.rules import load_rules
from pipelines.run.reconcile import reconcile
from pipelines.run.result import RunResult


def _run(tmp_path: Path, model: str, orders: list, lines: list, credits: list) -> RunResult:
    rules = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules)
    f = rules / "channels" / "adyen_eu.yaml"
    f.write_text(f.read_text().replace("model: net", f"model: {model}"))
    s = Settings(home=settings_in(tmp_path).home, rules=rules)
    statuses = {"fo": stage(s, "orders", orders, "fo"), "fp": stage(s, "psp_settlement_lines", lines, "fp")}
    if credits:
        statuses["fb"] = stage(s, "bank_statement_lines", credits, "fb")
    return reconcile(s, dt.date(2026, 11, 26), load_rules(s.rules), load_channels(s.rules), statuses, {})


DAY_LINES = [
    psp("r1", 10000, fee=200, payout_id="P1"),
    psp("x9", -3000, record_type="refund", merchant_reference="o_old", fee=0, payout_id="P1"),
    psp(None, 0, record_type="fee", net=-50, payout_id="P1"),
]


def test_net_model_deducts_fees_and_refunds(tmp_path: Path) -> None:
    r = _run(tmp_path, "net", [order("o1", 10000, psp_reference="r1")], DAY_LINES, [bank("P1", 6750)])
    pos = r.positions.row(0, named=True)
    assert (pos["gross_captured_minor"], pos["refunds_minor"], pos["fees_minor"]) == (10000, -3000, -250)
    assert pos["net_expected_minor"] == 6750 and pos["received_minor"] == 6750 and pos["variance_minor"] == 0


def test_gross_model_leaves_fees_to_be_invoiced(tmp_path: Path) -> None:
    r = _run(tmp_path, "gross", [order("o1", 10000, psp_reference="r1")], DAY_LINES, [bank("P1", 6750)])
    pos = r.positions.row(0, named=True)
    assert pos["net_expected_minor"] == 10000 - 3000  # fees are not deducted from a gross settlement
    assert pos["variance_minor"] == 6750 - 7000
    assert all(inv["ok"] for inv in r.summary["invariants"].values())


def test_order_feedback_names_every_disagreement(tmp_path: Path) -> None:
    orders = [
        order("o1", 10000, psp_reference="r1"),
        order("o2", 500, psp_reference="r2"),  # succeeded, never settled
        order("o3", 700, psp_reference="r3", status="failed"),  # failed, but settled
        # an order of an earlier day, refunded at the PSP today, still succeeded here
        order("o_old", 3000, psp_reference="r_old", business_date=dt.date(2026, 11, 20)),
    ]
    lines = [*DAY_LINES, psp("r3", 700, payout_id="P1")]
    r = _run(tmp_path, "net", orders, lines, [])
    got = r.order_feedback.select("order_id", "internal_status", "settled_as", "suggested_status").sort("order_id")
    assert got.rows() == [
        ("o2", "succeeded", "not_settled", "unsettled"),
        ("o3", "failed", "settled", "succeeded"),
        # o_old was received (staged under its own date) and no run took it before: this run takes it, and it
        # never settled in its window, besides being refunded at the PSP
        ("o_old", "succeeded", "not_settled", "unsettled"),
        ("o_old", "succeeded", "refunded", "refunded"),
    ]
    assert r.order_feedback.filter(pl.col("order_id") == "o3")["evidence"][0].startswith("r3 (adyen_eu line")
