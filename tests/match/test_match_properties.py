"""Property tests: on random order and settlement sets every invariant of the run holds, with the project's
rules and with a rule set of every cardinality (one-to-one, one-to-many, many-to-one, bounded many-to-many,
FX and fuzzy)."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

import polars as pl
from helpers import bank, order, psp, settings_in, stage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from match_helpers import ORDERS_PSP, PSP_BANK, fx, rule, rules_dir, run_case

from pipelines.core.channels import load_channels
from pipelines.match.rules import load_rules
from pipelines.run.reconcile import reconcile

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
        r = reconcile(s, dt.date(2026, 11, 26), load_rules(s.rules), load_channels(s.rules), statuses, {})
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


# --------------------------------------------------------------------------------------------------
# every cardinality at once: one-to-one, split settlements, FX, fuzzy, batches, bounded many-to-many
# --------------------------------------------------------------------------------------------------
ALL_KINDS = {
    "10_orders_psp.yaml": ORDERS_PSP
    + rule(
        "exact",
        """
left: {filter: {status: [succeeded, refunded]}}
right: {filter: {record_type: [payment]}}
keys: [{left: psp_reference, right: psp_reference}]
amount: {left: amount_minor, right: gross_minor, tolerance_minor: 1}
currency: {left: currency, right: gross_currency}
""",
    )
    + rule(
        "fx_merchant_reference",
        """
left: {filter: {status: [succeeded, refunded]}}
right: {filter: {record_type: [payment]}}
keys: [{left: order_id, right: merchant_reference, normalise: [trim, casefold]}]
amount: {left: amount_minor, right: gross_minor, tolerance_bps: 50}
currency: {left: currency, right: gross_currency, fx: {date: {side: left, column: business_date}}}
""",
        priority=20,
    )
    + rule(
        "split",
        """
kind: one_to_many
left: {filter: {status: [succeeded, refunded]}}
right: {filter: {record_type: [payment]}, group_by: [merchant_reference]}
keys: [{left: order_id, right: merchant_reference}]
amount: {left: amount_minor, right: gross_minor}
currency: {left: currency, right: gross_currency}
max_group_size: 3
""",
        priority=30,
    )
    + rule(
        "fuzzy",
        """
kind: fuzzy
left: {filter: {status: [succeeded, refunded]}}
right: {filter: {record_type: [payment]}}
fuzzy: {left: order_id, right: merchant_reference, function: levenshtein, min_similarity: 0.6}
amount: {left: amount_minor, right: gross_minor}
currency: {left: currency, right: gross_currency}
""",
        priority=90,
    ),
    "20_psp_bank.yaml": PSP_BANK
    + rule(
        "batch",
        """
kind: many_to_one
left: {filter: {record_type: [payment, fee]}, group_by: [channel, payout_id]}
right: {filter: {direction: [credit]}}
keys: [{left: payout_id, right: end_to_end_id}]
amount: {left: net_minor, right: amount_minor, tolerance_minor: 2}
currency: {left: currency, right: currency}
""",
        priority=100,
    )
    + rule(
        "lines_to_credits",
        """
kind: many_to_many
left: {filter: {record_type: [adjustment]}, group_by: [payout_id]}
right: {filter: {direction: [credit]}, group_by: [end_to_end_id]}
keys: [{left: payout_id, right: end_to_end_id}]
amount: {left: net_minor, right: amount_minor}
currency: {left: currency, right: currency}
max_group_size: 3
""",
        priority=110,
    ),
}
ONE_TO_ONE = {"exact", "fx_merchant_reference", "fuzzy"}


@st.composite
def mixed_day(draw: st.DrawFn) -> tuple[list[dict[str, Any]], ...]:
    n = draw(st.integers(1, 12))
    orders, lines = [], []
    for i in range(n):
        cur = draw(st.sampled_from(["EUR", "GBP", "JPY", "BHD"]))
        amount = draw(st.integers(10, 10**5))
        orders.append(
            order(
                f"o{i}",
                amount,
                cur,
                status=draw(st.sampled_from(["succeeded", "refunded", "failed"])),
                psp_reference=draw(st.sampled_from([f"r{i}", f"r{i % 2}", None])),
            )
        )
        shape = draw(st.sampled_from(["exact", "fx", "split", "fuzzy", "none", "twice"]))
        if shape in ("exact", "twice"):
            for _ in range(1 if shape == "exact" else 2):
                lines.append(
                    psp(
                        f"r{i}",
                        amount + draw(st.sampled_from([0, 1, -1, 2])),
                        cur,
                        payout_id=draw(st.sampled_from(["P1", "P2"])),
                    )
                )
        elif shape == "fx":
            lines.append(psp(f"x{i}", draw(st.integers(10, 10**5)), "EUR", merchant_reference=f" O{i} "))
        elif shape == "split":
            k = draw(st.integers(2, 4))
            part = amount // k
            for j in range(k):
                gross = part if j < k - 1 else amount - part * (k - 1)
                lines.append(psp(f"s{i}{j}", gross + draw(st.sampled_from([0, 0, 1])), cur, merchant_reference=f"o{i}"))
        elif shape == "fuzzy":
            lines.append(psp(f"z{i}", amount, cur, merchant_reference=f"0{i}"))
    for k in range(draw(st.integers(0, 4))):
        lines.append(
            psp(
                None,
                0,
                record_type=draw(st.sampled_from(["fee", "adjustment"])),
                net=-draw(st.integers(1, 500)),
                payout_id=f"P{k % 3 + 1}",
            )
        )
    if not lines:
        lines.append(psp("solo", 100))
    credits = [
        bank(
            draw(st.sampled_from(["P1", "P2", "P3", None])),
            draw(st.integers(1, 10**5)),
            draw(st.sampled_from(["EUR", "GBP"])),
            direction=draw(st.sampled_from(["credit", "credit", "debit"])),
        )
        for _ in range(draw(st.integers(0, 5)))
    ]
    return orders, lines, credits


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mixed_day())
def test_every_cardinality_keeps_every_invariant(data: tuple[list[dict[str, Any]], ...]) -> None:
    orders, lines, credits = data
    with tempfile.TemporaryDirectory() as tmp:
        rules = rules_dir(Path(tmp), ALL_KINDS)
        rates = [fx("GBP", "0.85"), fx("JPY", "160"), fx("BHD", "0.41")]
        check_all_kinds(run_case(Path(tmp), orders, lines, credits, rules=rules, rates=rates), orders, lines, credits)


def check_all_kinds(r: Any, orders: list[Any], lines: list[Any], credits: list[Any]) -> None:
    assert all(inv["ok"] for inv in r.summary["invariants"].values())
    assert r.outcomes.height == len(orders) + len(lines) + len(credits) + 3
    assert r.outcomes.select("item_table", "file_id", "line_no").is_duplicated().sum() == 0
    m = r.matches
    # no item is used twice within a pairing, whatever the kind of the rules that took it
    pairing_of = {"exact": 1, "fx_merchant_reference": 1, "split": 1, "fuzzy": 1, "batch": 2, "lines_to_credits": 2}
    used = m.with_columns(pl.col("rule_id").replace_strict(pairing_of).alias("pairing"))
    assert used.select("pairing", "item_table", "file_id", "line_no").is_duplicated().sum() == 0
    for g in m.partition_by("match_id"):
        kind, diff, tol = g["rule_kind"][0], int(g["amount_difference_minor"][0]), int(g["tolerance_minor"][0])
        left = int(g.filter(pl.col("side") == "left")["amount_minor"].sum())
        right = int(g.filter(pl.col("side") == "right")["amount_minor"].sum())
        assert left - right == diff and abs(diff) <= tol
        if g["rule_id"][0] in ONE_TO_ONE:
            assert g.height == 2
        if kind == "one_to_many":
            assert g.filter(pl.col("side") == "left").height == 1 and g.height <= 4
        if kind == "many_to_many":
            assert g.filter(pl.col("side") == "left").height <= 3 and g.filter(pl.col("side") == "right").height <= 3
        if kind == "fuzzy":
            assert g["confidence"].unique().to_list() == ["low"]
