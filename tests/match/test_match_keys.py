"""Keys: normalisations declared per key, and fuzzy references as a last resort of lower confidence.

Each inline row carries the outcome it must end in (see match_helpers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from helpers import order, psp
from match_helpers import EXACT_PSP_REFERENCE, ORDERS_PSP, assert_expected, break_of, rule, rules_dir, run_case


def merchant_rule(key_yaml: str) -> str:
    return ORDERS_PSP + merchant_entry("by_merchant_reference", key_yaml)


def merchant_entry(rule_id: str, key_yaml: str, tolerance: int = 0, priority: int = 10) -> str:
    return rule(
        rule_id,
        f"""
left: {{filter: {{status: [succeeded]}}}}
right: {{filter: {{record_type: [payment]}}}}
keys:
  - {key_yaml}
amount: {{left: amount_minor, right: gross_minor, tolerance_minor: {tolerance}}}
currency: {{left: currency, right: gross_currency}}
""",
        priority=priority,
    )


@pytest.mark.parametrize(
    ("key", "order_id", "reference", "matched"),
    [
        ("{left: order_id, right: merchant_reference}", "ORD-1", " ORD-1 ", False),  # exact by default
        ("{left: order_id, right: merchant_reference, normalise: [trim]}", "ORD-1", "  ORD-1 ", True),
        ("{left: order_id, right: merchant_reference, normalise: [casefold]}", "ORD-A2", "ord-a2", True),
        ("{left: order_id, right: merchant_reference, normalise: [strip_punctuation]}", "ORD-3", "ORD.3/", True),
        ("{left: order_id, right: merchant_reference, normalise: [remove_spaces]}", "ORD4", "OR D 4", True),
        (
            "{left: order_id, right: merchant_reference, right_normalise: [{strip_prefix: 'REF:'}]}",
            "ORD-5",
            "REF:ORD-5",
            True,
        ),
        (  # a prefix is removed only at the start
            "{left: order_id, right: merchant_reference, right_normalise: [{strip_prefix: 'REF:'}]}",
            "ORD-5",
            "XREF:ORD-5",
            False,
        ),
        (
            "{left: order_id, right: merchant_reference, right_normalise: [{regex_extract: 'ORD-[0-9]+'}]}",
            "ORD-66",
            "Payment for ORD-66, thanks",
            True,
        ),
        (
            "{left: order_id, right: merchant_reference, "
            "right_normalise: [{regex_extract: 'ref=([A-Z0-9-]+);', group: 1}]}",
            "ORD-7",
            "x ref=ORD-7; y",
            True,
        ),
        (
            "{left: order_id, right: merchant_reference, normalise: [{first_chars: 8}]}",
            "ORD-0008-A",
            "ORD-0008-B",
            True,
        ),
        (
            "{left: order_id, right: merchant_reference, normalise: [{first_chars: 10}]}",
            "ORD-0008-A",
            "ORD-0008-B",
            False,
        ),
        (  # steps apply in order: trim, then case, then the prefix
            "{left: order_id, right: merchant_reference, left_normalise: [casefold], "
            "right_normalise: [trim, casefold, {strip_prefix: 'mr/'}]}",
            "ORD-9",
            "  MR/ord-9 ",
            True,
        ),
    ],
)
def test_key_normalisations(tmp_path: Path, key: str, order_id: str, reference: str, matched: bool) -> None:
    rules = rules_dir(tmp_path, {"10_orders_psp.yaml": merchant_rule(key)})
    orders = [order(order_id, 1000, expected="matched" if matched else "order_not_settled")]
    lines = [psp("p1", 1000, merchant_reference=reference, expected="matched" if matched else "psp_line_without_order")]
    r = run_case(tmp_path, orders, lines, rules=rules)
    assert_expected(r, "orders", orders)
    assert_expected(r, "psp_settlement_lines", lines)


def test_a_key_normalised_to_nothing_never_matches(tmp_path: Path) -> None:
    # no match of the pattern on either side gives no key at all, not an empty key that pairs them
    key = "{left: order_id, right: merchant_reference, normalise: [{regex_extract: 'ORD-[0-9]+'}]}"
    rules = rules_dir(tmp_path, {"10_orders_psp.yaml": merchant_rule(key)})
    orders = [order("none here", 1000, expected="order_not_settled")]
    lines = [psp("p1", 1000, merchant_reference="nor here", expected="psp_line_without_order")]
    r = run_case(tmp_path, orders, lines, rules=rules)
    assert_expected(r, "orders", orders)
    assert_expected(r, "psp_settlement_lines", lines)


def fuzzy_rules(function: str = "jaro_winkler", min_similarity: str = "0.9", tolerance: int = 0) -> str:
    return (
        ORDERS_PSP
        + EXACT_PSP_REFERENCE
        + rule(
            "fuzzy_merchant_reference",
            f"""
kind: fuzzy
left: {{filter: {{status: [succeeded]}}}}
right: {{filter: {{record_type: [payment]}}}}
keys: [{{left: merchant_account, right: merchant_account}}]
fuzzy: {{left: order_id, right: merchant_reference, normalise: [casefold], function: {function},
        min_similarity: {min_similarity}}}
amount: {{left: amount_minor, right: gross_minor, tolerance_minor: {tolerance}}}
currency: {{left: currency, right: gross_currency}}
""",
            priority=90,
        )
    )


def test_fuzzy_reference_is_a_low_confidence_last_resort(tmp_path: Path) -> None:
    rules = rules_dir(tmp_path, {"10_orders_psp.yaml": fuzzy_rules()})
    acct: dict[str, Any] = {"merchant_account": "M1"}
    orders = [
        order("ORD-20261126-0000113", 1000, psp_reference="r1", expected="matched:by_psp_reference", **acct),
        order("ORD-20261126-0000222", 2500, expected="matched:fuzzy_merchant_reference", **acct),
        order("ORD-20261126-0000333", 3000, expected="order_not_settled", **acct),  # amount differs by 1
        order("ORD-20261126-0000444", 4000, expected="order_not_settled", **acct),  # reference too different
        order("ORD-20261126-0000555", 5000, expected="order_not_settled", merchant_account="M2"),  # other account
    ]
    lines = [
        # the exact rule takes this one even though its merchant reference is also nearly the order id
        psp("r1", 1000, merchant_reference="ord-20261126-0000113", expected="matched:by_psp_reference", **acct),
        psp("x2", 2500, merchant_reference="ORD-20261126-0000232", expected="matched:fuzzy_merchant_reference", **acct),
        psp("x3", 3001, merchant_reference="ORD-20261126-0000333", expected="psp_line_without_order", **acct),
        psp("x4", 4000, merchant_reference="INVOICE 7781", expected="psp_line_without_order", **acct),
        psp("x5", 5000, merchant_reference="ORD-20261126-0000555", expected="psp_line_without_order", **acct),
    ]
    r = run_case(tmp_path, orders, lines, rules=rules)
    assert_expected(r, "orders", orders)
    assert_expected(r, "psp_settlement_lines", lines)
    fuzzy = r.matches.filter(pl.col("rule_id") == "fuzzy_merchant_reference")
    assert fuzzy["confidence"].unique().to_list() == ["low"]
    assert fuzzy["rule_kind"].unique().to_list() == ["fuzzy"]
    similarity = fuzzy["similarity"].unique().to_list()
    assert len(similarity) == 1 and 0.9 <= float(similarity[0]) < 1
    exact = r.matches.filter(pl.col("rule_id") == "by_psp_reference")
    assert exact["confidence"].unique().to_list() == ["high"] and exact["similarity"].is_null().all()


@pytest.mark.parametrize(("reference", "matched"), [("ORD-12345X", True), ("ORD-1234XX", False)])
def test_levenshtein_similarity_at_its_threshold(tmp_path: Path, reference: str, matched: bool) -> None:
    # 10 characters: one edit is a similarity of exactly 0.9 (accepted), two edits 0.8 (refused)
    rules = rules_dir(tmp_path, {"10_orders_psp.yaml": fuzzy_rules("levenshtein", "0.9")})
    orders = [order("ORD-123456", 700, merchant_account="M1", expected="matched" if matched else "order_not_settled")]
    lines = [
        psp(
            "zz",
            700,
            merchant_reference=reference,
            merchant_account="M1",
            expected="matched" if matched else "psp_line_without_order",
        )
    ]
    r = run_case(tmp_path, orders, lines, rules=rules)
    assert_expected(r, "orders", orders)
    assert_expected(r, "psp_settlement_lines", lines)
    if matched:
        assert float(r.matches["similarity"][0]) == 0.9


def test_fuzzy_tie_is_ambiguous(tmp_path: Path) -> None:
    # two orders are equally similar to one line, same account, currency and amount: no coin toss
    rules = rules_dir(tmp_path, {"10_orders_psp.yaml": fuzzy_rules()})
    orders = [
        order("ORD-20261126-0000771", 900, merchant_account="M1", expected="ambiguous_match"),
        order("ORD-20261126-0000772", 900, merchant_account="M1", expected="ambiguous_match"),
    ]
    lines = [
        psp("x", 900, merchant_reference="ORD-20261126-0000770", merchant_account="M1", expected="ambiguous_match")
    ]
    r = run_case(tmp_path, orders, lines, rules=rules)
    assert_expected(r, "orders", orders)
    assert_expected(r, "psp_settlement_lines", lines)
    assert r.matches.height == 0


@pytest.mark.parametrize(
    ("key", "order_id", "reference"),
    [
        ("{left: order_id, right: merchant_reference}", "ORD-1", "ORD-1"),
        ("{left: order_id, right: merchant_reference, normalise: [strip_punctuation, casefold]}", "ORD-2", "ord2"),
        ("{left: order_id, right: merchant_reference, left_normalise: [casefold]}", "ORD-3", "ord-3"),
        ("{left: order_id, right: merchant_reference, right_normalise: [casefold]}", "ord-4", "ORD-4"),
        # keys outside ASCII, and deletions of spaces and ends
        ("{left: order_id, right: merchant_reference, normalise: [strip_punctuation, casefold]}", "ÖRD-5é", "örd5É"),
        # "İ" folds to "i", which a case-insensitive pattern does not match: found as a key outside ASCII
        ("{left: order_id, right: merchant_reference, normalise: [strip_punctuation, casefold]}", "İD-9", "id9"),
        ("{left: order_id, right: merchant_reference, normalise: [casefold, remove_spaces]}", "OR D\t6", "ord6"),
        ("{left: order_id, right: merchant_reference, normalise: [trim, strip_punctuation]}", " (ORD.7) ", "ORD7"),
        # a step the pattern does not cover: the normalised keys of every order are looked up instead
        ("{left: order_id, right: merchant_reference, normalise: [{first_chars: 5}, casefold]}", "ORD-8xx", "ord-8"),
    ],
)
def test_a_near_miss_is_found_through_the_key_as_normalised(
    tmp_path: Path, key: str, order_id: str, reference: str
) -> None:
    # the unmatched line's nearest order shares its key only once both are normalised; a second rule on the
    # same normalised key finds it again (the probe reads the left items by their normalised key)
    rules_yaml = merchant_rule(key) + merchant_entry("by_merchant_reference_again", key, tolerance=1, priority=30)
    rules = rules_dir(tmp_path, {"10_orders_psp.yaml": rules_yaml})
    orders = [order(order_id, 1000, expected="amount_mismatch"), order("ORD-99", 500, expected="order_not_settled")]
    lines = [psp("p1", 1200, merchant_reference=reference, expected="amount_mismatch")]
    r = run_case(tmp_path, orders, lines, rules=rules)
    assert_expected(r, "orders", orders)
    assert_expected(r, "psp_settlement_lines", lines)
    found = break_of(r, "psp_settlement_lines", 2)
    assert found["break_type"] == "amount_mismatch"
    assert found["counter_line_no"] == 2 and found["counter_table"] == "orders"
