"""Running small inline reconciliation cases for the matching tests.

Every inline row carries ``expected``: ``"matched"`` (or ``"matched:<rule id>"`` to name the rule that
decided it), a break type, or another outcome. ``run_case`` stages the rows (line numbers 2, 3, ...),
reconciles the day with a given rules folder (which proves every run invariant) and returns the result.
"""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
from helpers import DAY, settings_in, stage

from bench.match import PAIRING_ORDERS_PSP, PAIRING_PAYOUTS_BANK
from pipelines.core.channels import load_channels
from pipelines.core.config import PROJECT_ROOT, Settings
from pipelines.match.rules import load_rules
from pipelines.run.reconcile import reconcile
from pipelines.run.result import RunResult

ORDERS_PSP = 'version: "test.1"\n' + PAIRING_ORDERS_PSP

PSP_BANK = 'version: "test.1"\n' + PAIRING_PAYOUTS_BANK

ORDERS_BANK = """\
version: "test.1"
pairing:
  left: orders
  right: bank_statement_lines
  breaks:
    left_unmatched: order_not_settled
    right_unmatched: bank_credit_without_payout
    amount: amount_mismatch
    currency: currency_mismatch
    status: status_mismatch
    left_not_admitted: no_settlement_expected
    right_not_admitted: bank_debit_unexplained
rules:
"""


def rule(rule_id: str, body: str, priority: int = 10) -> str:
    """One rule entry of a rule file: id, description, owner, priority and the given YAML body."""
    lines = [
        f"  - id: {rule_id}",
        f"    description: test rule {rule_id}",
        "    owner: tests",
        f"    priority: {priority}",
    ]
    lines += ["    " + line if line.strip() else line for line in body.strip("\n").splitlines()]
    return "\n".join(lines) + "\n"


# one-to-one on the PSP reference: succeeded orders against payment lines, same gross and currency
EXACT_PSP_REFERENCE = rule(
    "by_psp_reference",
    """
left: {filter: {status: [succeeded]}}
right: {filter: {record_type: [payment]}}
keys: [{left: psp_reference, right: psp_reference}]
amount: {left: amount_minor, right: gross_minor}
currency: {left: currency, right: gross_currency}
""",
)


def rules_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    """A rules folder: the project's channels and the given matching files only."""
    out = tmp_path / "rules"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(PROJECT_ROOT / "rules" / "channels", out / "channels")
    (out / "matching").mkdir(parents=True)
    for name, text in files.items():
        (out / "matching" / name).write_text(text, encoding="utf-8")
    return out


def fx(quote: str, rate: str, base: str = "EUR", day: dt.date = DAY) -> dict[str, Any]:
    return {
        "business_date": day,
        "base_currency": base,
        "quote_currency": quote,
        "rate": Decimal(rate),
        "channel": "fx_ecb",
    }


# the body of one rule: succeeded orders against payment lines by PSP reference, same gross and currency
BY_PSP_REFERENCE = """
left: {filter: {status: [succeeded]}}
right: {filter: {record_type: [payment]}}
keys: [{left: psp_reference, right: psp_reference}]
amount: {left: amount_minor, right: gross_minor}
currency: {left: currency, right: gross_currency}
"""


def run_case(
    tmp_path: Path,
    orders: list[dict[str, Any]],
    lines: list[dict[str, Any]],
    credits: list[dict[str, Any]] | None = None,
    rules: Path | None = None,
    rates: list[dict[str, Any]] | None = None,
    status_rows: list[dict[str, Any]] | None = None,
) -> RunResult:
    base = settings_in(tmp_path)
    s = Settings(home=base.home, rules=rules) if rules is not None else base
    statuses = {}
    for table, rows, fid in (
        ("orders", orders, "f_orders"),
        ("psp_settlement_lines", lines, "f_psp"),
        ("bank_statement_lines", credits or [], "f_bank"),
        ("fx_rates", rates or [], "f_fx"),
        ("payment_status", status_rows or [], "f_rail"),
    ):
        if rows:
            strip = [{k: v for k, v in r.items() if k != "expected"} for r in rows]
            statuses[fid] = stage(s, table, strip, fid)
    return reconcile(s, DAY, load_rules(s.rules), load_channels(s.rules), statuses, {k: k for k in statuses})


def outcome_of(result: RunResult, table: str, line_no: int) -> str:
    o = result.outcomes.filter((pl.col("item_table") == table) & (pl.col("line_no") == line_no))
    assert o.height == 1, f"{table} line {line_no} has {o.height} outcomes"
    ref = o["ref"][0]
    if o["outcome"][0] == "break":
        return str(result.breaks.filter(pl.col("break_id") == ref)["break_type"][0])
    if o["outcome"][0] == "matched":
        rule_id = result.matches.filter(pl.col("match_id") == ref)["rule_id"][0]
        return f"matched:{rule_id}"
    return str(o["outcome"][0])


def assert_expected(result: RunResult, table: str, rows: list[dict[str, Any]]) -> None:
    got = [outcome_of(result, table, i + 2) for i in range(len(rows))]
    want = [r["expected"] for r in rows]
    got = [g if ":" in w else g.split(":")[0] for g, w in zip(got, want, strict=True)]
    assert got == want, f"{table}: got {got}, expected {want}"


def match_of(result: RunResult, table: str, line_no: int) -> pl.DataFrame:
    """All rows of the match the item takes part in (in any pairing)."""
    m = result.matches
    ids = m.filter((pl.col("item_table") == table) & (pl.col("line_no") == line_no))["match_id"].unique()
    return m.filter(pl.col("match_id").is_in(ids.implode()))


def break_of(result: RunResult, table: str, line_no: int) -> dict[str, Any]:
    o = result.outcomes.filter((pl.col("item_table") == table) & (pl.col("line_no") == line_no))
    return result.breaks.filter(pl.col("break_id") == o["ref"][0]).row(0, named=True)
