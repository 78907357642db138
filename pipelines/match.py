"""Match: rules from ``rules/matching`` compiled to SQL and run in DuckDB, rule by rule in priority order.

Every identifier that reaches the SQL comes from a rule that was checked against ``schemas/`` and is
quoted by ``sqlfiles.ident``; every value (filter values, tolerances, windows, rule ids) is bound.

Each input item is *owned* by exactly one pairing (the first whose rules admit it, else the first that
names its table); its outcome is decided there: matched, a break, or (for items no rule admits) the
pairing's declared outcome. Items may still take part in matches of other pairings (a payment line
matched to its order is also a member of its payout batch), but those do not decide its outcome.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import duckdb

from pipelines import sqlfiles
from pipelines.rules import MATCHABLE_TABLES, NON_BREAK_OUTCOMES, Rule, RuleFile, RuleSet, Side
from pipelines.sqlfiles import ident

log = logging.getLogger(__name__)
MAX_PASSES = 8


@dataclass
class Params:
    """Named parameters of one statement: fragments reference ``$name`` and values are bound."""

    values: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}"


def _filter_sql(side: Side, alias: str, params: Params) -> str:
    parts = [
        f"{alias}.{ident(col)} IN ({', '.join(params.bind(v) for v in values)})"
        for col, values in sorted(side.filter.items())
    ]
    return "(" + " AND ".join(parts) + ")" if parts else "TRUE"


def _filter_values_sql(side: Side, alias: str) -> str:
    cols = sorted(side.filter)
    if not cols:
        return "''"
    return (
        "concat_ws(', ', "
        + ", ".join(f"'{c}=' || coalesce(CAST({alias}.{ident(c)} AS VARCHAR), 'null')" for c in cols)
        + ")"
    )


def _admitted_sql(rules: list[Rule], side_name: str, alias: str, params: Params) -> str:
    exprs = [_filter_sql(getattr(r, side_name), alias, params) for r in rules]
    return "(" + " OR ".join(exprs) + ")" if exprs else "FALSE"


def _execute(con: duckdb.DuckDBPyConnection, sql: str, params: Params | dict[str, Any] | None = None) -> None:
    sqlfiles.execute(con, sql, params.values if isinstance(params, Params) else params)


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()  # table names here are internal constants
    return int(row[0]) if row else 0


def _exhausted(con: duckdb.DuckDBPyConnection, found: int) -> bool:
    """True when the pairs just taken used every candidate of one side: another pass cannot find more."""
    row = con.execute("SELECT count(DISTINCT l_id), count(DISTINCT r_id) FROM cand").fetchone()
    return row is None or found >= min(int(row[0]), int(row[1]))


# --------------------------------------------------------------------------------------------------
# ownership and duplicates
# --------------------------------------------------------------------------------------------------
def compute_owners(con: duckdb.DuckDBPyConnection, ruleset: RuleSet) -> None:
    pairings = ruleset.pairings()
    for tbl in MATCHABLE_TABLES:
        params = Params()
        cases: list[str] = []
        first: str | None = None
        for pname, rf in pairings:
            for side_name in ("left", "right"):
                if getattr(rf.pairing, side_name) != tbl:
                    continue
                first = first or pname
                cases.append(f"WHEN {_admitted_sql(rf.rules, side_name, 't', params)} THEN {params.bind(pname)}")
        if not cases:
            _execute(
                con,
                f"INSERT INTO owner SELECT {params.bind(tbl)}, item_id, NULL, FALSE FROM {ident(tbl)}",
                params,
            )
            continue
        admitted_case = "CASE " + " ".join(cases) + " ELSE NULL END"
        sql = (
            f"INSERT INTO owner SELECT {params.bind(tbl)}, t.item_id, "
            f"coalesce({admitted_case}, {params.bind(first)}), ({admitted_case}) IS NOT NULL "
            f"FROM {ident(tbl)} AS t"
        )
        _execute(con, sql, params)


def mark_duplicates(con: duckdb.DuckDBPyConnection, pname: str, rf: RuleFile) -> None:
    """Right items repeating an earlier item on the declared columns are set aside as duplicates."""
    cols = rf.pairing.duplicates
    if not cols:
        return
    params = Params()
    right = ident(rf.pairing.right)
    part = ", ".join(f"r.{ident(c)}" for c in cols)
    order = "r.file_id, r.line_no"
    admitted = _admitted_sql(rf.rules, "right", "r", params)
    sql = sqlfiles.render(
        "mark_duplicates",
        right_table=right,
        partition=part,
        order=order,
        admitted=admitted,
        pairing=params.bind(pname),
    )
    _execute(con, sql, params)


# --------------------------------------------------------------------------------------------------
# rules
# --------------------------------------------------------------------------------------------------
def _date_fragments(rule: Rule, left_date: str | None, params: Params) -> tuple[str, str]:
    w = rule.date_window_days
    if w is None:
        return "0", "TRUE"
    ld = left_date or f"l.{ident(w.left)}"
    rd = f"r.{ident(w.right)}"
    gap = f"abs(date_diff('day', {ld}, {rd}))"
    ok = f"(date_diff('day', {ld}, {rd}) BETWEEN {params.bind(w.min_days)} AND {params.bind(w.max_days)})"
    return gap, ok


def run_one_to_one(con: duckdb.DuckDBPyConnection, pname: str, rf: RuleFile, rule: Rule) -> int:
    total = 0
    for _ in range(MAX_PASSES):
        params = Params()
        gap, ok = _date_fragments(rule, None, params)
        sql = sqlfiles.render(
            "match_one_to_one_candidates",
            left_table=ident(rf.pairing.left),
            right_table=ident(rf.pairing.right),
            l_amount=ident(rule.amount.left),
            r_amount=ident(rule.amount.right),
            l_currency=ident(rule.currency.left),
            r_currency=ident(rule.currency.right),
            key_join=" AND ".join(f"l.{ident(k.left)} = r.{ident(k.right)}" for k in rule.keys),
            left_filter=_filter_sql(rule.left, "l", params),
            right_filter=_filter_sql(rule.right, "r", params),
            date_gap=gap,
            date_ok=ok,
        )
        params.values.update({"tolerance": rule.amount.tolerance_minor, "pairing": pname})
        _execute(con, sql, params)
        _execute(con, sqlfiles.load("match_select_mutual_best"))
        found = _count(con, "chosen")
        if not found:
            break
        record = Params()
        sql = sqlfiles.render(
            "match_record_one_to_one",
            left_table=ident(rf.pairing.left),
            right_table=ident(rf.pairing.right),
            l_amount=ident(rule.amount.left),
            r_amount=ident(rule.amount.right),
            l_currency=ident(rule.currency.left),
            r_currency=ident(rule.currency.right),
        )
        record.values.update(
            {
                "rule_id": rule.id,
                "pairing": pname,
                "tolerance": rule.amount.tolerance_minor,
                "left_table": rf.pairing.left,
                "right_table": rf.pairing.right,
            }
        )
        _execute(con, sql, record)
        total += found
        if _exhausted(con, found):
            break
    return total


def _group_fragments(rule: Rule, params: Params) -> dict[str, str]:
    cols = rule.left.group_by or []
    excl = Side(filter=rule.amount.sum_exclude)
    return {
        "group_cols_l": ", ".join(f"l.{ident(c)}" for c in cols),
        "group_select": ", ".join(f"l.{ident(c)} AS {ident(c)}" for c in cols),
        "group_not_null": " AND ".join(f"l.{ident(c)} IS NOT NULL" for c in cols),
        "sum_exclude": _filter_sql(excl, "l", params) if rule.amount.sum_exclude else "FALSE",
        "group_key": "concat_ws('|', " + ", ".join(f"g.{ident(c)}" for c in cols) + ")",
    }


def build_groups(
    con: duckdb.DuckDBPyConnection, pname: str, rf: RuleFile, rule: Rule, skip_broken: bool = False
) -> None:
    params = Params()
    g = _group_fragments(rule, params)
    extra = "TRUE"
    if skip_broken:
        extra = (
            f"NOT EXISTS (SELECT 1 FROM classified_members c WHERE c.pairing = {params.bind(pname)} "
            "AND c.item_id = l.item_id)"
        )
    w = rule.date_window_days
    sql = sqlfiles.render(
        "match_aggregate_groups",
        left_table=ident(rf.pairing.left),
        l_amount=ident(rule.amount.left),
        l_currency=ident(rule.currency.left),
        l_date=f"l.{ident(w.left)}" if w else "NULL::DATE",
        left_filter=_filter_sql(rule.left, "l", params) + f" AND {extra}",
        group_cols_l=g["group_cols_l"],
        group_select=g["group_select"],
        group_not_null=g["group_not_null"],
        sum_exclude=g["sum_exclude"],
    )
    params.values["pairing"] = pname
    _execute(con, sql, params)


def run_aggregate(con: duckdb.DuckDBPyConnection, pname: str, rf: RuleFile, rule: Rule) -> int:
    total = 0
    for _ in range(MAX_PASSES):
        build_groups(con, pname, rf, rule)
        params = Params()
        gap, ok = _date_fragments(rule, "g.g_date", params)
        sql = sqlfiles.render(
            "match_aggregate_candidates",
            right_table=ident(rf.pairing.right),
            r_amount=ident(rule.amount.right),
            r_currency=ident(rule.currency.right),
            key_join=" AND ".join(f"g.{ident(k.left)} = r.{ident(k.right)}" for k in rule.keys),
            right_filter=_filter_sql(rule.right, "r", params),
            date_gap=gap,
            date_ok=ok,
        )
        params.values.update({"tolerance": rule.amount.tolerance_minor, "pairing": pname})
        _execute(con, sql, params)
        _execute(con, sqlfiles.load("match_select_mutual_best"))
        found = _count(con, "chosen")
        if not found:
            break
        record = Params()
        gf = _group_fragments(rule, record)
        sql = sqlfiles.render(
            "match_record_aggregate",
            left_table=ident(rf.pairing.left),
            right_table=ident(rf.pairing.right),
            l_amount=ident(rule.amount.left),
            l_currency=ident(rule.currency.left),
            r_amount=ident(rule.amount.right),
            r_currency=ident(rule.currency.right),
            group_key=gf["group_key"],
            sum_exclude=gf["sum_exclude"],
        )
        record.values.update(
            {
                "rule_id": rule.id,
                "pairing": pname,
                "tolerance": rule.amount.tolerance_minor,
                "left_table": rf.pairing.left,
                "right_table": rf.pairing.right,
            }
        )
        _execute(con, sql, record)
        total += found
        if _exhausted(con, found):
            break
    return total


# --------------------------------------------------------------------------------------------------
# breaks: the nearest candidate of every unmatched item and the condition it failed
# --------------------------------------------------------------------------------------------------
def _vocab(rf: RuleFile) -> dict[str, str]:
    return {k: str(v) for k, v in rf.pairing.breaks.model_dump().items()}


def classify_pairing(con: duckdb.DuckDBPyConnection, pname: str, rf: RuleFile) -> None:
    vocab = _vocab(rf)
    lt, rt = rf.pairing.left, rf.pairing.right
    one_rules = [r for r in sorted(rf.rules, key=lambda r: (r.priority, r.id)) if r.kind == "one_to_one"]
    agg_rules = [r for r in sorted(rf.rules, key=lambda r: (r.priority, r.id)) if r.kind == "aggregate_to_one"]

    # 1. duplicates set aside before matching
    _execute(
        con,
        sqlfiles.render("break_duplicates", right_table=ident(rt), right_items=ident(f"items_{rt}")),
        {"pairing": pname, "break_type": vocab["duplicate"], "right_table": rt},
    )

    # 2. unmatched right items of one-to-one rules: nearest left candidate under each rule
    _execute(con, sqlfiles.load("near_reset"), {"pairing": pname, "right_table": rt})
    for rank, rule in enumerate(one_rules):
        p = Params()
        _, date_ok = _date_fragments(rule, None, p)
        w = rule.date_window_days
        sql = sqlfiles.render(
            "near_one_to_one",
            left_table=ident(lt),
            right_table=ident(rt),
            key_join=" AND ".join(f"l.{ident(k.left)} = r.{ident(k.right)}" for k in rule.keys),
            left_filter=_filter_sql(rule.left, "l", p),
            right_filter=_filter_sql(rule.right, "r", p),
            left_values=_filter_values_sql(rule.left, "l"),
            l_amount=ident(rule.amount.left),
            r_amount=ident(rule.amount.right),
            l_currency=ident(rule.currency.left),
            r_currency=ident(rule.currency.right),
            date_ok=date_ok,
            l_date=f"CAST(l.{ident(w.left)} AS VARCHAR)" if w else "NULL",
            r_date=f"CAST(r.{ident(w.right)} AS VARCHAR)" if w else "NULL",
        )
        p.values.update(
            {
                "pairing": pname,
                "rank": rank,
                "rule_id": rule.id,
                "tolerance": rule.amount.tolerance_minor,
                "right_table": rt,
                "window": (f"{w.min_days}..{w.max_days} days" if w else "any"),
            }
        )
        _execute(con, sql, p)
    if one_rules:
        _execute(
            con,
            sqlfiles.render("break_near_one_to_one", left_items=ident(f"items_{lt}"), right_items=ident(f"items_{rt}")),
            {
                "pairing": pname,
                "left_table": lt,
                "right_table": rt,
                **{f"v_{k}": v for k, v in vocab.items()},
            },
        )

    # 3. unmatched groups of aggregate rules: nearest right candidate
    for rule in agg_rules:
        build_groups(con, pname, rf, rule, skip_broken=True)
        p = Params()
        _, date_ok = _date_fragments(rule, "g.g_date", p)
        gf = _group_fragments(rule, p)
        sql = sqlfiles.render(
            "break_near_aggregate",
            right_table=ident(rt),
            left_items=ident(f"items_{lt}"),
            right_items=ident(f"items_{rt}"),
            left_table=ident(lt),
            key_join=" AND ".join(f"g.{ident(k.left)} = r.{ident(k.right)}" for k in rule.keys),
            right_filter=_filter_sql(rule.right, "r", p),
            r_amount=ident(rule.amount.right),
            r_currency=ident(rule.currency.right),
            date_ok=date_ok,
            group_key=gf["group_key"],
            key_ref="concat_ws('|', " + ", ".join(f"g.{ident(k.left)}" for k in rule.keys) + ")",
        )
        p.values.update(
            {
                "pairing": pname,
                "rule_id": rule.id,
                "tolerance": rule.amount.tolerance_minor,
                "left_table": lt,
                "right_table": rt,
                **{
                    f"v_{k}": v
                    for k, v in vocab.items()
                    if k in ("left_unmatched", "amount", "currency", "date", "duplicate", "ambiguous")
                },
            }
        )
        _execute(con, sql, p)

    # 4. everything this pairing owns that is still without an outcome
    first_rule = sorted(rf.rules, key=lambda r: (r.priority, r.id))[0].id
    for side, tbl, unmatched_key, not_admitted_key in (
        ("left", lt, "left_unmatched", "left_not_admitted"),
        ("right", rt, "right_unmatched", "right_not_admitted"),
    ):
        not_admitted = vocab[not_admitted_key]
        _execute(
            con,
            sqlfiles.render("break_leftovers", table=ident(tbl), items=ident(f"items_{tbl}")),
            {
                "pairing": pname,
                "side": side,
                "item_table": tbl,
                "break_type": vocab[unmatched_key],
                "not_admitted_break": None if not_admitted in NON_BREAK_OUTCOMES else not_admitted,
                "not_admitted_outcome": not_admitted if not_admitted in NON_BREAK_OUTCOMES else None,
                "closest_rule": first_rule,
            },
        )


def classify_unowned(con: duckdb.DuckDBPyConnection) -> None:
    """Items of a table that no pairing names: a break of type no_applicable_rule each."""
    for tbl in MATCHABLE_TABLES:
        _execute(con, sqlfiles.render("break_unowned", items=ident(f"items_{tbl}")), {"item_table": tbl})


def run_matching(con: duckdb.DuckDBPyConnection, ruleset: RuleSet) -> dict[str, int]:
    """Run every pairing's rules in priority order, then classify what is left. Returns matches per rule."""
    _execute(con, sqlfiles.load("match_state"))
    _execute(con, sqlfiles.load("item_views"))
    compute_owners(con, ruleset)
    per_rule: dict[str, int] = {}
    for pname, rf in ruleset.pairings():
        mark_duplicates(con, pname, rf)
        for rule in sorted(rf.rules, key=lambda r: (r.priority, r.id)):
            if rule.kind == "one_to_one":
                per_rule[rule.id] = run_one_to_one(con, pname, rf, rule)
            else:
                per_rule[rule.id] = run_aggregate(con, pname, rf, rule)
            log.info("rule %s: %d match(es)", rule.id, per_rule[rule.id])
        classify_pairing(con, pname, rf)
    classify_unowned(con)
    return per_rule
