"""``recon rules explain`` and ``recon rules diff``: the matching of a business date, re-run from staging.

Both load the date's staged canonical tables into a scratch in-memory DuckDB with the functions the run
uses (``match.load.load_day``, ``match.engine.run_matching``); nothing is written to the workspace.

- ``rules explain --date D --item ID``: why an item matched (rule, partners, differences) or why it did not
  (for every rule that could take it: the nearest candidates and which condition each failed). ``ID`` is
  ``file_id:line_no`` or a value of one of the item's text columns (order id, PSP reference, payout id,
  end-to-end id, ...).
- ``rules diff --date D --rules NEW_DIR``: the day with the current rules and with ``NEW_DIR``'s, and per
  rule the matches gained and lost and the breaks opened and closed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from rich.table import Table

from pipelines.cli.options import date_arg
from pipelines.core import config
from pipelines.core.channels import RulesError
from pipelines.match.diff import diff_snapshots, snapshot
from pipelines.match.rules import RuleSet, load_rules

console = Console()
MAX_ROWS = 8  # items of one match listed by `rules explain`


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``explain`` and ``diff`` to the ``rules`` command (given its subparsers, or the top-level ones)."""
    target = subparsers
    if "rules" in subparsers.choices and "check" not in subparsers.choices:
        rules_parser = subparsers.choices["rules"]
        target = next(a for a in rules_parser._actions if isinstance(a, argparse._SubParsersAction))
    explain = target.add_parser("explain", help="why an item of a business date matched or did not")
    explain.add_argument("--date", type=date_arg, required=True, help="business date YYYY-MM-DD")
    explain.add_argument("--item", required=True, help="file_id:line_no, or an order id, reference, payout id, ...")
    explain.add_argument("--candidates", type=int, default=3, help="nearest candidates shown per rule")
    explain.set_defaults(func=cmd_explain)
    diff = target.add_parser("diff", help="what new rules change on a business date, per rule")
    diff.add_argument("--date", type=date_arg, required=True, help="business date YYYY-MM-DD")
    diff.add_argument("--rules", dest="new_rules", required=True, help="folder of the new rules (with matching/)")
    diff.add_argument("--examples", type=int, default=5, help="changed matches and breaks listed per rule")
    diff.add_argument("--json", action="store_true", help="print the differences as JSON")
    diff.set_defaults(func=cmd_diff)


@contextmanager
def loaded_day(home: str | None, rules: str | None, day: dt.date) -> Iterator[duckdb.DuckDBPyConnection]:
    """A scratch in-memory DuckDB holding what the run of ``day`` takes in (or took, if it ran), loaded as the
    run loads it."""
    from pipelines.breaks.lifecycle import History
    from pipelines.catalog.store import open_catalog
    from pipelines.match.load import STAGED_TABLES, load_day
    from pipelines.run.intake import plan

    settings = config.settings(home, rules)
    history = History()
    intake = plan(settings, day, {})
    catalog = open_catalog(settings)
    if catalog.exists():
        try:
            history = catalog.history_for(day)
            intake = plan(settings, day, catalog.file_statuses(), catalog.run_inputs(), catalog.run_dates())
        except duckdb.Error:  # a catalog without run history yet
            history = History()
    con = duckdb.connect()
    try:
        load_day(con, settings, day, history, {t: intake.paths(t) for t in STAGED_TABLES})
        yield con
    finally:
        con.close()


def _apply_lifecycle(con: duckdb.DuckDBPyConnection, home: str | None, rules: str | None, day: dt.date) -> None:
    """What the run does after matching (every item listed once, then): the stable break ids it publishes
    (the ids `recon breaks` lists and `breaks resolve` takes), expected delays as pending, resolutions."""
    import polars as pl

    from pipelines.breaks.lifecycle import History, apply, load_policy
    from pipelines.catalog.store import open_catalog
    from pipelines.core import schema
    from pipelines.core.channels import load_channels
    from pipelines.run.manifest import register_items

    settings = config.settings(home, rules)
    history = History()
    catalog = open_catalog(settings)
    if catalog.exists():
        try:
            history = catalog.history_for(day)
        except duckdb.Error:  # a catalog without run history yet
            pass
    register_items(con, pl.DataFrame(schema=schema.table("quarantine").polars_schema()), {})
    ruleset = load_rules(settings.rules)
    kept, found = ruleset.kept_break_types(), ruleset.found_break_types()
    apply(con, day, load_channels(settings.rules), load_policy(settings.rules), history, kept, found)


def _current_rules(args: argparse.Namespace) -> RuleSet:
    return load_rules(config.settings(args.home, args.rules).rules)


# --------------------------------------------------------------------------------------------------
# explain
# --------------------------------------------------------------------------------------------------
def cmd_explain(args: argparse.Namespace) -> int:
    from pipelines.match.engine import run_matching
    from pipelines.match.explain import explain_item, find_items

    ruleset = _current_rules(args)
    with loaded_day(args.home, args.rules, args.date) as con:
        run_matching(con, ruleset)
        _apply_lifecycle(con, args.home, args.rules, args.date)
        found = find_items(con, args.item, limit=6)
        if not found:
            console.print(f"No item of {args.date} is {args.item!r} (file_id:line_no or a reference).", markup=False)
            return 1
        for table, item_id in found[:5]:
            render_explanation(explain_item(con, ruleset, table, item_id, limit=args.candidates))
        if len(found) > 5:
            console.print(f"... more items carry {args.item!r}; name one by file_id:line_no.", markup=False)
    return 0


def _fmt(minor: Any, currency: Any) -> str:
    from pipelines.match.explain import format_money

    return format_money(minor, currency)


def render_explanation(e: Any) -> None:
    console.rule(f"{e.label}  ({e.item_table}, file {e.file_id[:12]} line {e.line_no})")
    console.print(
        f"Amount {_fmt(e.amount_minor, e.currency)}; decided by pairing {e.owner or '(none)'}; outcome: {e.outcome}",
        markup=False,
    )
    for m in e.matches:
        where = "" if m["owner"] else " (in another pairing; it does not decide the outcome)"
        console.print(f"Matched by rule {m['rule_id']} in {m['pairing']}, match {m['match_id']}{where}:", markup=False)
        t = Table(show_edge=False)
        for col in ("side", "item", "compared amount", "own amount", "fee", "fx rate"):
            t.add_column(col)
        first = m["rows"][0] if m["rows"] else {}
        shown = [r for r in m["rows"] if r["item_id"] == e.item_id or r["side"] == "right"][:MAX_ROWS]
        shown += [r for r in m["rows"] if r not in shown][: max(0, MAX_ROWS - len(shown))]
        for r in sorted(shown, key=lambda r: (r["side"], r["item_id"])):
            t.add_row(
                r["side"],
                str(r["item_label"]),
                _fmt(r["amount_minor"], r["currency"]),
                _fmt(r["original_amount_minor"], r["original_currency"]),
                "" if r["fee_minor"] is None else _fmt(r["fee_minor"], r["original_currency"]),
                "" if r["fx_rate"] is None else f"{r['fx_rate']} of {r['fx_rate_date']}",
            )
        console.print(t)
        if len(m["rows"]) > len(shown):
            console.print(f"  ... and {len(m['rows']) - len(shown)} more item(s) in this match", markup=False)
        if first:
            extra = ""
            if first.get("similarity") is not None:
                extra = f"; similarity {first['similarity']}, confidence {first['confidence']}"
            console.print(
                f"  difference {_fmt(first['amount_difference_minor'], first['currency'])}, tolerance "
                f"{_fmt(first['tolerance_minor'], first['currency'])}"
                + (f" ({first['tolerance_bps']} bps)" if first.get("tolerance_bps") else "")
                + f"; kind {first['rule_kind']}{extra}",
                markup=False,
            )
    for b in e.breaks:
        console.print(f"Break {b['break_type']} ({b['break_id']}): {b['reason']}", markup=False)
    console.print("Rules that could take it, in priority order:", markup=False)
    for r in e.rules:
        head = f"  {r.rule_id} ({r.kind}, priority {r.priority}, {r.pairing}, as {r.side} item)"
        console.print(head + (f": {r.note}" if r.note else ""), markup=False)
        for c in r.candidates:
            verdict = (
                "passes every condition"
                if c.passes
                else "fails " + ", ".join(k.condition for k in c.checks if not k.ok)
            )
            console.print(f"    candidate {c.label}: {verdict}", markup=False)
            for k in c.checks:
                console.print(f"      [{'ok' if k.ok else 'FAIL'}] {k.condition}: {k.detail}", markup=False)


# --------------------------------------------------------------------------------------------------
# diff
# --------------------------------------------------------------------------------------------------
def _new_rules_dir(path: str) -> Path:
    p = Path(path)
    if (p / "matching").is_dir():
        return p
    if p.name == "matching" and p.is_dir():
        return p.parent
    raise RulesError(f"{p}: not a rules folder (expected {p / 'matching'})")


def run_diff(
    home: str | None, rules: str | None, day: dt.date, old: RuleSet, new: RuleSet, examples: int
) -> dict[str, Any]:
    from pipelines.match.engine import run_matching

    with loaded_day(home, rules, day) as con:
        before = snapshot(con, run_matching(con, old))
        after = snapshot(con, run_matching(con, new))
    result = diff_snapshots(before, after, examples)
    result.update({"business_date": day.isoformat(), "rules_before": old.version_hash, "rules_after": new.version_hash})
    return result


def cmd_diff(args: argparse.Namespace) -> int:
    old = _current_rules(args)
    new = load_rules(_new_rules_dir(args.new_rules))
    result = run_diff(args.home, args.rules, args.date, old, new, args.examples)
    if args.json:
        console.print_json(json.dumps(result, default=str))
        return 0
    t = Table(title=f"{args.date}: rules {result['rules_before']} -> {result['rules_after']}")
    for col in ("rule", "matches before", "after", "gained", "lost", "breaks opened", "closed"):
        t.add_column(col, justify="left" if col == "rule" else "right", no_wrap=col == "rule")
    for rid, r in result["rules"].items():
        t.add_row(
            rid,
            "-" if r["matches_before"] is None else str(r["matches_before"]),
            "-" if r["matches_after"] is None else str(r["matches_after"]),
            str(r["matches_gained"]),
            str(r["matches_lost"]),
            str(r["breaks_opened"]),
            str(r["breaks_closed"]),
        )
    tot = result["totals"]
    t.add_row(
        "total",
        str(tot["matches_before"]),
        str(tot["matches_after"]),
        str(tot["matches_gained"]),
        str(tot["matches_lost"]),
        str(tot["breaks_opened"]),
        str(tot["breaks_closed"]),
    )
    console.print(t)
    for rid, r in result["rules"].items():
        ex = r["examples"]
        for kind in ("gained", "lost", "opened", "closed"):
            for line in ex[kind]:
                console.print(f"{rid}: {kind}: {line}", markup=False)
    return 0
