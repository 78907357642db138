"""Repeated orders: an order id the orders of a run carry more than once is reconciled once.

Invariants asserted here, after every run:

1. every row ends in exactly one outcome (``reconcile`` proves it; ``assert_expected`` reads it per row);
2. the first occurrence of an order id (by file and line; an order carried from an earlier run before the rows
   a run takes) is reconciled as if it were alone;
3. every repetition is a ``duplicate_order`` break of its own, naming the occurrence it repeats; no repetition
   makes a settlement line ``ambiguous_match``.

The duplicates are declared in the rules (``pairing.left_duplicates`` and ``breaks.left_duplicate``), as the
settlement lines' are (``pairing.duplicates``).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from conftest import PROJECT_ROOT
from helpers import order, psp
from match_helpers import BY_PSP_REFERENCE, ORDERS_PSP, assert_expected, break_of, match_of, rule, rules_dir, run_case
from payout_helpers import FRI, MON, Workspace

from pipelines.core.channels import RulesError
from pipelines.match.rules import load_rules


def test_each_repetition_is_a_duplicate_order_and_the_first_is_matched(tmp_path: Path) -> None:
    orders = [
        order("o1", 1000, psp_reference="r1", expected="matched"),
        order("o2", 500, psp_reference="r2", expected="matched"),
        order("o1", 1000, psp_reference="r1", expected="duplicate_order"),
        order("o3", 700, psp_reference="r3", expected="amount_mismatch"),
        order("o2", 500, psp_reference="r2", expected="duplicate_order"),
        order("o1", 1000, psp_reference="r1", expected="duplicate_order"),  # a third occurrence
        order("o3", 700, psp_reference="r3", expected="duplicate_order"),
        # the same id with another status or amount is still the same order, repeated
        order("o2", 900, psp_reference="r2", status="failed", expected="duplicate_order"),
        order("o4", 300, psp_reference="r4", status="failed", expected="no_settlement_expected"),
        order("o4", 300, psp_reference="r4", status="failed", expected="duplicate_order"),
        order("o5", 250, psp_reference="r5", expected="order_not_settled"),
        order("o5", 250, psp_reference="r5", expected="duplicate_order"),
    ]
    lines = [
        psp("r1", 1000, expected="matched"),
        psp("r2", 500, expected="matched"),
        psp("r3", 705, expected="amount_mismatch"),  # its order's repetition is no second candidate
    ]
    r = run_case(tmp_path, orders, lines)
    assert_expected(r, "orders", orders)
    assert_expected(r, "psp_settlement_lines", lines)
    assert "ambiguous_match" not in r.breaks["break_type"].to_list()

    # one break per repetition, each naming the occurrence it repeats (the first, never another repetition)
    dup = r.breaks.filter(pl.col("break_type") == "duplicate_order").sort("line_no")
    columns = ("item_ref", "line_no", "counter_table", "counter_ref", "counter_line_no", "item_count")
    assert dup.select(columns).rows() == [
        ("o1", 4, "orders", "o1", 2, 1),
        ("o2", 6, "orders", "o2", 3, 1),
        ("o1", 7, "orders", "o1", 2, 1),
        ("o3", 8, "orders", "o3", 5, 1),
        ("o2", 9, "orders", "o2", 3, 1),
        ("o4", 11, "orders", "o4", 10, 1),
        ("o5", 13, "orders", "o5", 12, 1),
    ]
    assert dup["reason"][0] == (
        "order o1 at line 4 of f_orders repeats line 2 of the same file (same order_id); only the first is reconciled"
    )
    assert dup.filter(pl.col("item_ref") == "o2")["amount_minor"].to_list() == [500, 900]  # each its own amount
    mismatch = break_of(r, "psp_settlement_lines", 4)
    assert (mismatch["counter_ref"], mismatch["counter_line_no"]) == ("o3", 5)
    assert match_of(r, "orders", 2)["line_no"].sort().to_list() == [2, 2]


def test_repetitions_across_files_keep_the_first_by_file_and_line(tmp_path: Path) -> None:
    """Two extracts in one run: the first occurrence is the one of the first file (by file id), then line."""
    from helpers import DAY, settings_in, stage

    from pipelines.core.channels import load_channels
    from pipelines.run.reconcile import reconcile

    s = settings_in(tmp_path)
    first = [order("o1", 1000, psp_reference="r1"), order("o2", 500, psp_reference="r2")]
    second = [order("o2", 500, psp_reference="r2"), order("o1", 1000, psp_reference="r1")]
    statuses = {
        "f_orders_a": stage(s, "orders", first, "f_orders_a"),
        "f_orders_b": stage(s, "orders", second, "f_orders_b"),
        "f_psp": stage(s, "psp_settlement_lines", [psp("r1", 1000), psp("r2", 500)], "f_psp"),
    }
    r = reconcile(s, DAY, load_rules(s.rules), load_channels(s.rules), statuses, {k: k for k in statuses})
    orders = r.outcomes.filter(pl.col("item_table") == "orders").sort("file_id", "line_no")
    assert orders.select("file_id", "line_no", "outcome").rows() == [
        ("f_orders_a", 2, "matched"),
        ("f_orders_a", 3, "matched"),
        ("f_orders_b", 2, "break"),
        ("f_orders_b", 3, "break"),
    ]
    dup = r.breaks.filter(pl.col("break_type") == "duplicate_order").sort("line_no")
    assert dup.select("file_id", "line_no", "counter_file_id", "counter_line_no").rows() == [
        ("f_orders_b", 2, "f_orders_a", 3),
        ("f_orders_b", 3, "f_orders_a", 2),
    ]
    assert dup["reason"][0] == (
        "order o2 at line 2 of f_orders_b repeats order o2 at line 3 of f_orders_a (same order_id); only the first is "
        "reconciled"
    )


SPLIT = rule(
    "order_split_settlements",
    """
kind: one_to_many
left: {filter: {status: [succeeded]}}
right: {filter: {record_type: [payment]}, group_by: [merchant_reference]}
keys: [{left: order_id, right: merchant_reference}]
amount: {left: amount_minor, right: gross_minor}
currency: {left: currency, right: gross_currency}
""",
)


def test_a_repeated_order_is_no_second_counterpart_of_a_grouped_rule(tmp_path: Path) -> None:
    declared = ORDERS_PSP.replace(
        "  breaks:\n", "  left_duplicates: [order_id]\n  breaks:\n    left_duplicate: duplicate_order\n"
    )
    rules = rules_dir(tmp_path, {"10_orders_psp.yaml": declared + SPLIT})
    orders = [
        order("o1", 1000, expected="matched"),
        order("o1", 1000, expected="duplicate_order"),
        order("o2", 600, expected="amount_mismatch"),
        order("o2", 600, expected="duplicate_order"),
    ]
    lines = [
        psp("a", 400, merchant_reference="o1", expected="matched"),
        psp("b", 600, merchant_reference="o1", expected="matched"),
        psp("c", 300, merchant_reference="o2", expected="amount_mismatch"),
        psp("d", 200, merchant_reference="o2", expected="amount_mismatch"),
    ]
    r = run_case(tmp_path, orders, lines, rules=rules)
    assert_expected(r, "orders", orders)
    assert_expected(r, "psp_settlement_lines", lines)
    group = r.breaks.filter(pl.col("break_type") == "amount_mismatch").row(0, named=True)
    assert group["counter_line_no"] == 4  # the first o2, not its repetition


def test_without_the_declaration_repeated_orders_are_ties(tmp_path: Path) -> None:
    """What the declaration changes: without ``left_duplicates`` two equal orders tie for one line."""
    rules = rules_dir(tmp_path, {"10_orders_psp.yaml": ORDERS_PSP + rule("by_ref", BY_PSP_REFERENCE)})
    orders = [
        order("o1", 1000, psp_reference="r1", expected="ambiguous_match"),
        order("o1", 1000, psp_reference="r1", expected="ambiguous_match"),
    ]
    lines = [psp("r1", 1000, expected="ambiguous_match")]
    r = run_case(tmp_path, orders, lines, rules=rules)
    assert_expected(r, "orders", orders)
    assert_expected(r, "psp_settlement_lines", lines)


@pytest.mark.parametrize(
    ("pairing", "message"),
    [
        (
            "  left_duplicates: [order_id]\n",
            "pairing: field 'breaks.left_duplicate': left_duplicates is declared; name the break type of a "
            "repeated orders item (e.g. duplicate_order)",
        ),
        (
            "  left_duplicates: [order_number]\n  breaks:\n    left_duplicate: duplicate_order\n",
            "pairing: field 'left_duplicates': column 'order_number' does not exist in table orders",
        ),
        (
            "  left_duplicates: [order_id]\n  breaks:\n    left_duplicate: double_order\n",
            "pairing: field 'breaks.left_duplicate': unknown break type 'double_order'",
        ),
    ],
)
def test_the_declaration_is_checked_on_load(tmp_path: Path, pairing: str, message: str) -> None:
    text = ORDERS_PSP
    if "  breaks:\n" in pairing:
        pairing, _, vocab = pairing.partition("  breaks:\n")
        text = text.replace("  breaks:\n", "  breaks:\n" + vocab)
    text = text.replace("  breaks:\n", pairing + "  breaks:\n", 1)
    with pytest.raises(RulesError) as err:
        load_rules(rules_dir(tmp_path, {"10_orders_psp.yaml": text + rule("by_ref", BY_PSP_REFERENCE)}))
    assert "10_orders_psp.yaml: " + message in str(err.value)


def test_project_rules_declare_repeated_orders() -> None:
    rf = load_rules(PROJECT_ROOT / "rules").files["10_orders_psp.yaml"]
    assert rf.pairing.left_duplicates == ["order_id"]
    assert rf.pairing.breaks.left_duplicate == "duplicate_order"
    assert "duplicate_order|order_not_settled" in load_rules(PROJECT_ROOT / "rules").kept_break_types()


# --------------------------------------------------------------------------------------------------
# over several runs: a carried occurrence is the first; a carried repetition stays a repetition
# --------------------------------------------------------------------------------------------------
def test_a_repetition_carried_without_its_matched_original_stays_a_duplicate(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.rows("orders", [order("ORD-D", 10000, "EUR", psp_reference="PSP-D", business_date=FRI)] * 2, "fo")
    ws.report(
        [
            "Settled,PayPlatformEU,7003,PSP-D,ORD-D,visa,2026-08-28 09:00:00,CET,2026-08-28 10:00:00,CET,"
            "EUR,,100.00,1,EUR,,99.00,,0.50,0.20,0.30,M1"
        ],
        name="settlement_detail_report_batch_7003.csv",
    )
    friday = ws.run(FRI)
    orders = friday.outcomes.filter(pl.col("item_table") == "orders").sort("line_no")
    assert orders.select("line_no", "outcome").rows() == [(2, "matched"), (3, "break")]
    dup = friday.breaks.filter(pl.col("item_table") == "orders")
    assert dup.select("break_type", "line_no", "counter_line_no").rows() == [("duplicate_order", 3, 2)]
    carried = ws.open_after(FRI).filter(pl.col("item_table") == "orders")
    assert carried.select("line_no", "status").rows() == [(3, "break")]

    monday = ws.run(MON).breaks.filter(pl.col("item_table") == "orders")
    assert monday.select("break_id", "break_type", "line_no").rows() == [(dup["break_id"][0], "duplicate_order", 3)]
    assert monday["reason"][0].startswith("duplicate of an order matched in an earlier run: ")
    assert monday["first_seen"][0] == FRI


def test_an_order_sent_again_repeats_the_carried_one(tmp_path: Path) -> None:
    """An order pending from Friday, sent again in Monday's extract: the carried order is the first (it was
    received first) and matches Monday's settlement line; Monday's row is the repetition."""
    ws = Workspace(tmp_path)
    pending = order("ORD-P", 10000, "EUR", psp_reference="PSP-P", business_date=FRI)
    ws.rows("orders", [pending], "fo_fri")
    friday = ws.run(FRI)
    assert friday.outcomes.filter(pl.col("item_table") == "orders")["outcome"].to_list() == ["pending"]

    ws.rows("orders", [order("ORD-X", 500, "EUR", psp_reference="PSP-X", business_date=MON), pending], "fa_mon")
    ws.report(
        [
            "Settled,PayPlatformEU,7004,PSP-P,ORD-P,visa,2026-08-31 09:00:00,CET,2026-08-31 10:00:00,CET,"
            "EUR,,100.00,1,EUR,,99.00,,0.50,0.20,0.30,M1"
        ],
        name="settlement_detail_report_batch_7004.csv",
    )
    monday = ws.run(MON)
    orders = monday.outcomes.filter(pl.col("item_table") == "orders").sort("file_id", "line_no")
    assert orders.select("file_id", "line_no", "outcome").rows() == [
        ("fa_mon", 2, "pending"),
        ("fa_mon", 3, "break"),
        ("fo_fri", 2, "matched"),
    ]
    dup = monday.breaks.filter(pl.col("break_type") == "duplicate_order")
    assert dup.select("file_id", "line_no", "counter_file_id", "counter_line_no").rows() == [("fa_mon", 3, "fo_fri", 2)]


# --------------------------------------------------------------------------------------------------
# end to end: a generated day whose orders extract carries every order twice
# --------------------------------------------------------------------------------------------------
def _generated_day(root: Path, day: dt.date, repeat: bool) -> tuple[str, str, int]:
    """A workspace over a generated day (the project's rules, channel folders under ``root``); with ``repeat``
    the orders extract carries all its rows a second time, after the first. Returns home, rules and the
    number of order rows of one copy."""
    from samplegen.day import write_day

    shutil.copytree(PROJECT_ROOT / "rules", root / "rules")
    write_day(root / "data_samples", day, 300, seed=1)
    extract = root / "data_samples" / "orders" / f"orders_{day.isoformat()}.csv"
    header, *rows = extract.read_text(encoding="utf-8").splitlines()
    if repeat:
        extract.write_text("\n".join([header, *rows, *rows]) + "\n", encoding="utf-8")
    return str(root / "var"), str(root / "rules"), len(rows)


def _published(home: str, day: dt.date, name: str) -> pl.DataFrame:
    return pl.read_parquet(Path(home) / "outputs" / day.isoformat() / f"{name}.parquet")


def _row_outcomes(home: str, day: dt.date, file_id: str) -> dict[int, str]:
    """Line -> its outcome, a break by its type."""
    outcomes = _published(home, day, "outcomes").filter(pl.col("file_id") == file_id)
    breaks = _published(home, day, "breaks").select(pl.col("break_id").alias("ref"), "break_type")
    joined = outcomes.join(breaks, on="ref", how="left")
    return {
        int(r["line_no"]): str(r["break_type"] if r["outcome"] == "break" else r["outcome"])
        for r in joined.iter_rows(named=True)
    }


def test_a_day_whose_orders_come_twice(tmp_path: Path) -> None:
    from pipelines.run import stages

    day = dt.date(2026, 11, 26)
    clean_home, clean_rules, n = _generated_day(tmp_path / "clean", day, repeat=False)
    twice_home, twice_rules, _ = _generated_day(tmp_path / "twice", day, repeat=True)
    stages.run_all(day, "nightly", clean_home, clean_rules)
    stages.run_all(day, "nightly", twice_home, twice_rules)
    clean = json.loads((Path(clean_home) / "outputs" / day.isoformat() / "summary.json").read_text())
    twice = json.loads((Path(twice_home) / "outputs" / day.isoformat() / "summary.json").read_text())

    # every invariant holds (every row one outcome, amounts add up per file and currency, ...)
    assert all(inv["ok"] for inv in twice["invariants"].values()), twice["invariants"]
    assert twice["rows_in"]["orders"] == 2 * clean["rows_in"]["orders"]

    # the first copy is reconciled exactly as the extract alone; matching is unchanged
    clean_file = _published(clean_home, day, "run_manifest").filter(pl.col("channel") == "orders")["file_id"][0]
    twice_file = _published(twice_home, day, "run_manifest").filter(pl.col("channel") == "orders")["file_id"][0]
    first = _row_outcomes(clean_home, day, clean_file)
    both = _row_outcomes(twice_home, day, twice_file)
    assert {line: both[line] for line in first} == first
    assert twice["matches"]["per_rule"] == clean["matches"]["per_rule"]

    # every repetition of a staged order is a duplicate_order break naming its first occurrence; a row
    # quarantined the first time is quarantined again
    repeated = {line: both[line + n] for line in first}
    assert repeated == {line: "quarantined" if o == "quarantined" else "duplicate_order" for line, o in first.items()}
    staged = sum(1 for o in first.values() if o != "quarantined")
    assert twice["breaks"]["by_type"] == {**clean["breaks"]["by_type"], "duplicate_order": staged}
    assert "ambiguous_match" not in twice["breaks"]["by_type"]
    dup = _published(twice_home, day, "breaks").filter(pl.col("break_type") == "duplicate_order")
    assert (dup["line_no"] - dup["counter_line_no"]).unique().to_list() == [n]
    assert (dup["item_ref"] == dup["counter_ref"]).all()
