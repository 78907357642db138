"""Rule files: validated on load with errors naming file, rule, field and what the field accepts; no string
of a rule can inject SQL (it is rejected on load, or bound as a value, or never reaches the SQL)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from helpers import order, psp
from match_helpers import BY_PSP_REFERENCE as BASE
from match_helpers import ORDERS_PSP, rule, rules_dir, run_case

from pipelines.core.channels import RulesError
from pipelines.match.rules import load_rules


def load_one(tmp_path: Path, body: str, extra: str = "") -> None:
    load_rules(rules_dir(tmp_path, {"10_x.yaml": ORDERS_PSP + rule("my_rule", body, priority=30) + extra}))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            BASE + "kind: one_to_few\n",
            "field 'kind': Input should be 'one_to_one', 'one_to_many', 'many_to_one', 'many_to_many' or 'fuzzy'",
        ),
        (
            BASE.replace("right: psp_reference}]", "right: psp_reference, normalise: [uppercase]}]"),
            "field 'keys[0].normalise[0]': Input should be 'trim', 'casefold', 'strip_punctuation'",
        ),
        (
            BASE.replace("right: psp_reference}]", "right: psp_reference, normalise: [{strip: x}]}]"),
            "parameterised ones are written {strip_prefix: TEXT}, {regex_extract: PATTERN, group: N}",
        ),
        (
            BASE.replace("right: gross_minor}", "right: gross_minor, tolerance_bps: 20000}"),
            "field 'amount.tolerance_bps': Input should be less than or equal to 10000; expected: relative "
            "tolerance in basis points of the right amount (0 to 10000)",
        ),
        (
            BASE.replace("right: gross_minor}", "right: gross_minor, tolerance_minor: -1}"),
            "field 'amount.tolerance_minor': Input should be greater than or equal to 0; expected: absolute "
            "tolerance in minor units of the currency",
        ),
        (BASE + "tolerance: 3\n", "field 'tolerance': Extra inputs are not permitted; allowed fields: id,"),
        (
            BASE.replace("right: gross_minor}", "right: gros_minor}"),
            "field 'amount.right': column 'gros_minor' does not exist in table psp_settlement_lines; allowed of type "
            "int64: line_no, gross_minor, fee_minor, net_minor",
        ),
        (
            BASE.replace("{status: [succeeded]}", "{statuz: [succeeded]}"),
            "field 'left.filter.statuz': column 'statuz' does not exist in table orders; allowed of type string:",
        ),
        (
            BASE.replace(
                "right: psp_reference}]", "right: psp_reference, right_normalise: [{regex_extract: '(?<=x)y'}]}]"
            ),
            "field 'keys[0].right_normalise[0].regex_extract': invalid RE2 pattern '(?<=x)y'",
        ),
        (
            BASE.replace(
                "right: psp_reference}]", "right: psp_reference, right_normalise: [{regex_extract: 'a(b)', group: 2}]}]"
            ),
            "group 2 but the pattern has 1 capture group(s)",
        ),
        (
            BASE
            + "date_window_business_days: {left: business_date, right: business_date, max_days: 2, calendar: XX}\n",
            "field 'date_window_business_days.calendar': unknown calendar 'XX'; allowed: an ISO 3166 country code",
        ),
        (
            BASE + "date_window_business_days: {left: business_date, right: business_date, min_days: 2, max_days: 1}\n",
            "field 'date_window_business_days': Value error, min_days (2) is greater than max_days (1)",
        ),
        (
            BASE.replace("right: gross_minor}", "right: gross_minor, fee: {side: right, column: fee_minor}}"),
            "field 'amount': Value error, fee and gross_side go together",
        ),
        (
            BASE.replace(
                "right: gross_currency}", "right: gross_currency, fx: {date: {side: left, column: order_id}}}"
            ),
            "field 'currency.fx.date.column': column 'order_id' of orders is string, expected date; allowed: "
            "business_date",
        ),
        (
            BASE.replace(
                "left: {filter: {status: [succeeded]}}", "kind: many_to_many\nleft: {group_by: [psp_reference]}"
            ).replace("right: {filter: {record_type: [payment]}}", "right: {group_by: [psp_reference]}"),
            "field 'max_group_size': a many_to_many rule must bound its groups (items per group, 1 to 10000)",
        ),
        (
            BASE.replace(
                "left: {filter: {status: [succeeded]}}", "kind: many_to_one\nleft: {group_by: [merchant_account]}"
            ),
            "field 'keys[0].left': 'psp_reference' must be one of left.group_by",
        ),
        (
            BASE.replace(
                "left: {filter: {status: [succeeded]}}", "left: {filter: {status: [succeeded]}, ref: order_id}"
            ),
            "field 'left.ref': 'order_id' must be one of left.group_by (a grouped side)",
        ),
        (
            BASE.replace("left: {filter: {status: [succeeded]}}", "left: {group_by: [psp_reference]}"),
            "field 'left.group_by': a one_to_one rule does not group its left side",
        ),
        (
            BASE.replace(
                "keys: [{left: psp_reference, right: psp_reference}]",
                "kind: fuzzy\nfuzzy: {left: order_id, right: merchant_reference, function: soundex,\n"
                "        min_similarity: 0.9}",
            ),
            "field 'fuzzy.function': Input should be 'jaro_winkler' or 'levenshtein'",
        ),
        (
            BASE.replace(
                "keys: [{left: psp_reference, right: psp_reference}]",
                "kind: fuzzy\nfuzzy: {left: order_id, right: merchant_reference, function: jaro_winkler,\n"
                "        min_similarity: 1.5}",
            ),
            "field 'fuzzy.min_similarity': Input should be less than or equal to 1; expected: similarity from 0 to 1",
        ),
        (BASE.replace("amount: {left: amount_minor, right: gross_minor}\n", ""), "field 'amount': Field required"),
    ],
)
def test_rule_errors_name_file_rule_field_and_what_it_accepts(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(RulesError) as exc:
        load_one(tmp_path, body)
    text = str(exc.value)
    assert "10_x.yaml: rule my_rule: " in text
    assert message in text


def test_a_fuzzy_rule_must_be_the_last_resort(tmp_path: Path) -> None:
    fuzzy = BASE.replace(
        "keys: [{left: psp_reference, right: psp_reference}]",
        "kind: fuzzy\nfuzzy: {left: order_id, right: merchant_reference, function: jaro_winkler, min_similarity: 0.9}",
    )
    with pytest.raises(RulesError, match="a fuzzy rule is a last resort; its priority \\(30\\) must be greater"):
        load_one(tmp_path, fuzzy, rule("exact_later", BASE, priority=40))
    load_one(tmp_path, fuzzy, rule("exact_first", BASE, priority=20))


def test_rules_check_prints_every_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines.cli.main import main

    bad = BASE.replace("right: gross_minor}", "right: gross_minor, tolerance_bps: -5}") + "kind: sideways\n"
    rules = rules_dir(tmp_path, {"10_x.yaml": ORDERS_PSP + rule("my_rule", bad)})
    assert main(["rules", "check", str(rules)]) == 1
    out = capsys.readouterr().out.replace("\n", " ")
    assert "rule my_rule: field 'amount.tolerance_bps'" in out and "basis points" in out
    assert "rule my_rule: field 'kind'" in out


def test_legacy_spelling_still_loads(project_root: Path) -> None:
    # the project's payout rule is written with kind aggregate_to_one and amount.sum_exclude
    rs = load_rules(project_root / "rules")
    payout = next(r for f in rs.files.values() for r in f.rules if r.id == "payout_batch_to_bank_credit")
    assert payout.kind == "many_to_one" and payout.left.sum_exclude == {"record_type": ["payout"]}


# --------------------------------------------------------------------------------------------------
# SQL injection through every string field of a rule
# --------------------------------------------------------------------------------------------------
VALUE = "x'); DROP TABLE orders; --"
NAME = 'amount_minor"; DROP TABLE orders; --'

FULL: dict[str, Any] = {
    "version": "t.1",
    "pairing": {
        "left": "orders",
        "right": "psp_settlement_lines",
        "duplicates": ["channel", "psp_reference", "gross_minor"],
        "breaks": {
            "left_unmatched": "order_not_settled",
            "right_unmatched": "psp_line_without_order",
            "amount": "amount_mismatch",
            "currency": "currency_mismatch",
            "status": "status_mismatch",
            "left_not_admitted": "no_settlement_expected",
        },
    },
    "rules": [
        {
            "id": "exact_fee_fx",
            "description": "every feature of a one-to-one rule",
            "owner": "tests",
            "priority": 10,
            "left": {"filter": {"status": ["succeeded"]}},
            "right": {"filter": {"record_type": ["payment"]}},
            "keys": [
                {
                    "left": "psp_reference",
                    "right": "psp_reference",
                    "right_normalise": ["trim", {"strip_prefix": "REF:"}, {"regex_extract": "[A-Za-z0-9]+"}],
                }
            ],
            "amount": {
                "left": "amount_minor",
                "right": "net_minor",
                "tolerance_bps": 5,
                "gross_side": "left",
                "fee": {"side": "right", "column": "fee_minor"},
            },
            "currency": {
                "left": "currency",
                "right": "currency",
                "fx": {"date": {"side": "left", "column": "business_date"}},
            },
            "date_window_business_days": {
                "left": "business_date",
                "right": "business_date",
                "max_days": 2,
                "calendar": "NL",
            },
        },
        {
            "id": "split",
            "description": "one order, several lines",
            "owner": "tests",
            "priority": 20,
            "kind": "one_to_many",
            "right": {
                "filter": {"record_type": ["payment"]},
                "group_by": ["merchant_reference"],
                "sum_exclude": {"payment_method": ["giftcard"]},
            },
            "keys": [{"left": "order_id", "right": "merchant_reference"}],
            "amount": {"left": "amount_minor", "right": "gross_minor"},
            "currency": {"left": "currency", "right": "gross_currency"},
            "max_group_size": 5,
        },
        {
            "id": "fuzzy_ref",
            "description": "last resort",
            "owner": "tests",
            "priority": 90,
            "kind": "fuzzy",
            "fuzzy": {
                "left": "order_id",
                "right": "merchant_reference",
                "function": "jaro_winkler",
                "min_similarity": 0.9,
                "normalise": [{"strip_prefix": "MR/"}],
            },
            "amount": {"left": "amount_minor", "right": "gross_minor"},
            "currency": {"left": "currency", "right": "gross_currency"},
        },
    ],
}

# (path, value, what must happen): "rejected" on load, or "runs" (bound as a value or never in the SQL)
INJECTIONS: list[tuple[tuple[Any, ...], Any, str]] = [
    (("version",), VALUE, "rejected"),
    (("pairing", "left"), VALUE, "rejected"),
    (("pairing", "duplicates", 0), NAME, "rejected"),
    (("pairing", "breaks", "amount"), VALUE, "rejected"),
    (("pairing", "breaks", "left_not_admitted"), VALUE, "rejected"),
    (("rules", 0, "id"), VALUE, "rejected"),
    (("rules", 0, "description"), VALUE, "runs"),
    (("rules", 0, "owner"), VALUE, "runs"),
    (("rules", 0, "kind"), VALUE, "rejected"),
    (("rules", 0, "left", "filter", NAME), ["succeeded"], "rejected"),
    (("rules", 0, "left", "filter", "status", 1), VALUE, "runs"),
    (("rules", 0, "right", "filter", "record_type", 1), VALUE, "runs"),
    (("rules", 0, "keys", 0, "left"), NAME, "rejected"),
    (("rules", 0, "keys", 0, "right"), NAME, "rejected"),
    (("rules", 0, "keys", 0, "right_normalise", 0), VALUE, "rejected"),
    (("rules", 0, "keys", 0, "right_normalise", 1, "strip_prefix"), VALUE, "runs"),
    (("rules", 0, "keys", 0, "right_normalise", 2, "regex_extract"), VALUE, "rejected"),  # not a valid pattern
    (("rules", 0, "keys", 0, "right_normalise", 2, "regex_extract"), "'; DROP TABLE orders; --", "runs"),
    (("rules", 0, "amount", "left"), NAME, "rejected"),
    (("rules", 0, "amount", "right"), NAME, "rejected"),
    (("rules", 0, "amount", "gross_side"), VALUE, "rejected"),
    (("rules", 0, "amount", "fee", "side"), VALUE, "rejected"),
    (("rules", 0, "amount", "fee", "column"), NAME, "rejected"),
    (("rules", 0, "currency", "left"), NAME, "rejected"),
    (("rules", 0, "currency", "right"), NAME, "rejected"),
    (("rules", 0, "currency", "fx", "date", "side"), VALUE, "rejected"),
    (("rules", 0, "currency", "fx", "date", "column"), NAME, "rejected"),
    (("rules", 0, "date_window_business_days", "left"), NAME, "rejected"),
    (("rules", 0, "date_window_business_days", "right"), NAME, "rejected"),
    (("rules", 0, "date_window_business_days", "calendar"), VALUE, "rejected"),
    (("rules", 1, "right", "group_by", 0), NAME, "rejected"),
    (("rules", 1, "right", "sum_exclude", NAME), ["x"], "rejected"),
    (("rules", 1, "right", "sum_exclude", "payment_method", 0), VALUE, "runs"),
    (("rules", 2, "fuzzy", "left"), NAME, "rejected"),
    (("rules", 2, "fuzzy", "right"), NAME, "rejected"),
    (("rules", 2, "fuzzy", "function"), VALUE, "rejected"),
    (("rules", 2, "fuzzy", "normalise", 0, "strip_prefix"), VALUE, "runs"),
]


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    node: Any = out
    for p in path[:-1]:
        node = node[p]
    last = path[-1]
    if isinstance(node, list) and isinstance(last, int) and last == len(node):
        node.append(value)
    else:
        node[last] = value
    return out


@pytest.mark.parametrize(("path", "value", "fate"), INJECTIONS, ids=lambda v: str(v)[:40])
def test_no_rule_string_can_inject_sql(tmp_path: Path, path: tuple[Any, ...], value: Any, fate: str) -> None:
    text = yaml.safe_dump(_set(FULL, path, value), sort_keys=False)
    rules = rules_dir(tmp_path, {"10_orders_psp.yaml": text})
    if fate == "rejected":
        with pytest.raises(RulesError):
            load_rules(rules)
        return
    orders = [
        order("o1", 1000, psp_reference="r1", expected="matched"),
        order("o2", 900, expected="matched"),
        order("o3", 500, expected="no_settlement_expected", status="failed"),
    ]
    lines = [
        psp("r1", 1000, fee=30, expected="matched"),
        psp("s1", 400, merchant_reference="o2", expected="matched"),
        psp("s2", 500, merchant_reference="o2", expected="matched"),
    ]
    r = run_case(tmp_path, orders, lines, rules=rules)
    # the run completed, every invariant held (reconcile raises otherwise) and the orders are all there
    assert r.outcomes.filter(pl.col("item_table") == "orders").height == 3
    assert all(inv["ok"] for inv in r.summary["invariants"].values())
    if path[-1] in ("description", "owner") or path[-2] in ("status", "record_type", "payment_method"):
        assert r.matches["match_id"].n_unique() == 2  # nothing changed: the value is just never equal
