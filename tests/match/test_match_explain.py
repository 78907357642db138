"""``recon rules explain`` and ``recon rules diff`` on a small staged day."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest
from helpers import DAY, order, psp, settings_in, stage

from pipelines.cli import rules as rules_cli
from pipelines.match.engine import run_matching
from pipelines.match.explain import explain_item, find_items
from pipelines.match.rules import load_rules


@pytest.fixture
def day(tmp_path: Path, project_root: Path) -> tuple[Path, Path]:
    """A staged day (no run needed: the commands re-run matching from staging) and a copy of the rules."""
    s = settings_in(tmp_path)
    orders = [
        order("ORD-1", 1000, psp_reference="r1"),
        order("ORD-2", 1000, psp_reference="r2"),
        order("ORD-3", 2000, psp_reference="r3"),
        order("ORD-4", 500, psp_reference="r4", status="failed"),
    ]
    lines = [
        psp("r1", 1000),
        psp("x2", 1003, merchant_reference="ORD-2"),  # 3 minor units over the tolerance rule's 2
        psp("r3", 2000, "GBP"),
        psp("r4", 500),
    ]
    stage(s, "orders", orders, "f_orders")
    stage(s, "psp_settlement_lines", lines, "f_psp")
    rules = tmp_path / "rules"
    shutil.copytree(project_root / "rules", rules)
    return s.home, rules


def args(home: Path, rules: Path, **kw: object) -> argparse.Namespace:
    return argparse.Namespace(home=str(home), rules=str(rules), date=DAY, **kw)


def test_explain_a_match_names_rule_partner_and_difference(
    day: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    home, rules = day
    assert rules_cli.cmd_explain(args(home, rules, item="ORD-1", candidates=3)) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "outcome: matched" in out
    assert "Matched by rule order_psp_reference_exact" in out
    assert "PSP payment r1" in out and "difference 0.00 EUR, tolerance 0.00 EUR" in out


def test_explain_a_break_names_each_candidate_and_the_failed_condition(
    day: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    home, rules = day
    assert rules_cli.cmd_explain(args(home, rules, item="ORD-2", candidates=3)) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "outcome: break: amount_mismatch" in out
    assert "order_psp_reference_exact" in out and "no psp_settlement_lines item shares its keys" in out
    assert "candidate PSP payment x2 (adyen_eu line 3): fails amount" in out
    assert "[FAIL] amount: left 10.00 EUR vs right 10.03 EUR: difference -0.03 EUR, tolerance 0.02 EUR" in out
    assert "[ok] currency: EUR vs EUR" in out

    assert rules_cli.cmd_explain(args(home, rules, item="r3", candidates=3)) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "fails currency" in out and "[FAIL] currency: EUR vs GBP" in out

    assert rules_cli.cmd_explain(args(home, rules, item="ORD-4", candidates=3)) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "not accepted by the rule's left filter: it has direction=payin, status=failed" in out

    assert rules_cli.cmd_explain(args(home, rules, item="nothing-like-this", candidates=3)) == 1


def test_explain_structure(day: tuple[Path, Path]) -> None:
    home, rules = day
    ruleset = load_rules(rules)
    with rules_cli.loaded_day(str(home), str(rules), DAY) as con:
        run_matching(con, ruleset)
        [(table, item_id)] = find_items(con, "f_psp:3")  # file_id:line_no
        e = explain_item(con, ruleset, table, item_id)
    assert (e.item_table, e.outcome, e.owner) == (
        "psp_settlement_lines",
        "break: amount_mismatch",
        "10_orders_psp.yaml",
    )
    tolerance = next(r for r in e.rules if r.rule_id == "order_merchant_reference_tolerance")
    [candidate] = tolerance.candidates
    assert [c.condition for c in candidate.checks if not c.ok] == ["amount"]
    payout = next(r for r in e.rules if r.rule_id == "payout_batch_to_bank_credit")
    assert payout.admitted and payout.note.startswith("as a member of group P1 (4 items, total 45.03 EUR)")


def test_diff_shows_matches_gained_and_breaks_closed_per_rule(
    day: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    home, rules = day
    new = rules.parent / "new_rules"
    shutil.copytree(rules, new)
    f = new / "matching" / "10_orders_psp.yaml"
    f.write_text(f.read_text().replace("tolerance_minor: 2}", "tolerance_minor: 3}"))
    old_rs, new_rs = load_rules(rules), load_rules(new)
    result = rules_cli.run_diff(str(home), str(rules), DAY, old_rs, new_rs, examples=5)
    tol = result["rules"]["order_merchant_reference_tolerance"]
    assert (tol["matches_before"], tol["matches_after"], tol["matches_gained"], tol["matches_lost"]) == (0, 1, 1, 0)
    assert tol["breaks_closed"] == 1 and tol["breaks_opened"] == 0
    assert tol["examples"]["gained"] == ["order ORD-2 + PSP payment x2 (adyen_eu line 3)"]
    exact = result["rules"]["order_psp_reference_exact"]
    assert (exact["matches_gained"], exact["matches_lost"], exact["breaks_opened"], exact["breaks_closed"]) == (
        0,
        0,
        0,
        0,
    )
    assert result["totals"]["matches_gained"] == 1 and result["totals"]["breaks_closed"] == 1

    assert rules_cli.cmd_diff(args(home, rules, new_rules=str(new / "matching"), examples=5, json=False)) == 0
    out = capsys.readouterr().out
    assert "order_merchant_reference_tolerance" in out and "gained: order ORD-2" in " ".join(out.split())


def test_register_adds_explain_and_diff_under_rules() -> None:
    from pipelines.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "explain" not in sub.choices["rules"].format_help():
        rules_cli.register(sub)
    ns = parser.parse_args(["rules", "diff", "--date", "2026-11-26", "--rules", "x"])
    assert ns.func is rules_cli.cmd_diff and ns.new_rules == "x" and ns.rules is None
    ns = parser.parse_args(["rules", "explain", "--date", "2026-11-26", "--item", "ORD-1"])
    assert ns.func is rules_cli.cmd_explain and ns.item == "ORD-1"


def test_explain_names_the_break_id_the_run_published(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import datetime as dt

    import polars as pl

    from pipelines.cli.main import main
    from pipelines.run import stages

    home = str(tmp_path / "home")
    stages.run_all(dt.date(2026, 11, 26), "nightly", home)
    published = pl.read_parquet(tmp_path / "home" / "outputs" / "2026-11-26" / "breaks.parquet")
    order = "ORD-20261126-0000113"  # an amount mismatch of the sample day
    break_id = published.filter(pl.col("counter_ref") == order)["break_id"].to_list()
    assert len(break_id) == 1
    capsys.readouterr()
    assert main(["--home", home, "rules", "explain", "--date", "2026-11-26", "--item", order]) == 0
    out = capsys.readouterr().out
    assert break_id[0] in out
