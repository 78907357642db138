"""Property test: on random order and settlement sets every invariant of the run holds."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import polars as pl
from helpers import bank, order, psp, settings_in, stage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.channels import load_channels
from pipelines.reconcile import reconcile
from pipelines.rules import load_rules

CURRENCIES = ["EUR", "CLP", "BHD", "GBP"]


@st.composite
def day(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    n = draw(st.integers(1, 25))
    orders, lines = [], []
    for i in range(n):
        cur = draw(st.sampled_from(CURRENCIES))
        amount = draw(st.integers(1, 10**7))
        status = draw(st.sampled_from(["succeeded", "succeeded", "refunded", "failed", "expired"]))
        ref = draw(st.sampled_from([f"r{i}", f"r{i % 3}", None]))
        orders.append(order(f"o{i}", amount, cur, status=status, psp_reference=ref))
        for _ in range(draw(st.integers(0, 2))):
            delta = draw(st.sampled_from([0, 0, 1, -2, 3, 500]))
            lcur = draw(st.sampled_from([cur, cur, cur, "EUR"]))
            lines.append(
                psp(
                    draw(st.sampled_from([ref, f"x{i}", None])),
                    amount + delta,
                    lcur,
                    merchant_reference=draw(st.sampled_from([f"o{i}", f"o{(i + 1) % n}", None])),
                    fee=draw(st.integers(0, 50)),
                    payout_id=draw(st.sampled_from(["P1", "P2", None])),
                )
            )
    if not lines or all(line["psp_reference"] is None and line["merchant_reference"] is None for line in lines):
        lines.append(psp("solo", 100))
    for k in range(draw(st.integers(0, 3))):
        lines.append(
            psp(
                None,
                0,
                record_type=draw(st.sampled_from(["fee", "payout", "adjustment"])),
                net=-draw(st.integers(1, 1000)),
                payout_id=f"P{k % 2 + 1}",
            )
        )
    credits = [
        bank(
            draw(st.sampled_from(["P1", "P2", "P9", None])),
            draw(st.integers(1, 10**6)),
            draw(st.sampled_from(CURRENCIES)),
            direction=draw(st.sampled_from(["credit", "credit", "debit"])),
        )
        for _ in range(draw(st.integers(0, 4)))
    ]
    return orders, lines, credits


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(day())
def test_every_item_has_exactly_one_outcome(data: tuple[list[dict[str, Any]], ...]) -> None:
    orders, lines, credits = data
    with tempfile.TemporaryDirectory() as tmp:
        s = settings_in(Path(tmp))
        statuses = {"fo": stage(s, "orders", orders, "fo"), "fp": stage(s, "psp_settlement_lines", lines, "fp")}
        if credits:
            statuses["fb"] = stage(s, "bank_statement_lines", credits, "fb")
        # reconcile raises InvariantError when an invariant fails; the summary records each check
        r = reconcile(s, "2026-11-26", load_rules(s.rules), load_channels(s.rules), statuses, {})
        check(r, orders, lines, credits)


def check(r: Any, orders: list[Any], lines: list[Any], credits: list[Any]) -> None:
    assert all(inv["ok"] for inv in r.summary["invariants"].values())
    assert r.outcomes.height == len(orders) + len(lines) + len(credits)
    assert r.outcomes.select("item_table", "file_id", "line_no").is_duplicated().sum() == 0
    one_to_one = r.matches.filter(pl.col("rule_id") != "payout_batch_to_bank_credit")
    assert one_to_one.group_by("match_id").len()["len"].to_list() == [2] * one_to_one["match_id"].n_unique()
    assert one_to_one.select("item_table", "file_id", "line_no").is_duplicated().sum() == 0
    for m in one_to_one.partition_by("match_id"):
        assert abs(int(m["amount_difference_minor"][0])) <= int(m["tolerance_minor"][0])
