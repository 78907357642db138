"""Match: rules from ``rules/matching`` compiled to SQL and run in DuckDB, rule by rule in priority order.

Every identifier that reaches the SQL comes from a rule that was checked against ``schemas/`` and is
quoted by ``sqlfiles.ident``; every value (filter values, prefixes, patterns, tolerances, windows, rule
ids, calendars) is bound.

A rule compares *units*: single items, or groups of items sharing the rule's ``group_by`` columns. Its
pairs (``sql/match_pairs.sql``) join the left and right units on the normalised keys and evaluate every
condition of the rule (currency or FX rate, amount within tolerance, date window, similarity, group size);
matching keeps the pairs passing them all and takes, pass after pass, the pairs in which each side is the
other's unique best. Ties are never broken by row order: a tied item stays for a later rule or becomes an
``ambiguous match`` break. The same pairs, with the failed conditions, explain every break and feed
``recon rules explain``.

Each pairing works on its own *working sets*: the items of each side its rules admit and it has not used
yet. They start as the canonical tables and shrink after every rule that matched, so later rules, the
break classification and the leftovers only see what is still open.

Each input item is *owned* by exactly one pairing (the first whose rules admit it, else the first that
names its table); its outcome is decided there: matched, a break, or (for items no rule admits) the
pairing's declared outcome. Items may still take part in matches of other pairings (a payment line
matched to its order is also a member of its payout batch), but those do not decide its outcome.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import duckdb
import polars as pl

from pipelines import calendars, sqlfiles
from pipelines.rules import (
    MATCHABLE_TABLES,
    NON_BREAK_OUTCOMES,
    BusinessDateWindow,
    NormStep,
    Rule,
    RuleFile,
    RuleSet,
    Side,
)
from pipelines.sqlfiles import ident

log = logging.getLogger(__name__)
MAX_PASSES = 32
_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")


@dataclass
class Params:
    """Named parameters of one statement: fragments reference ``$name`` and values are bound."""

    values: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}"


def _execute(con: duckdb.DuckDBPyConnection, sql: str, params: Params | dict[str, Any] | None = None) -> None:
    sqlfiles.execute(con, sql, params.values if isinstance(params, Params) else params)


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> Any:
    rows = con.execute(sql, params or {}).fetchall()
    return rows[0][0] if rows else None


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(_scalar(con, f"SELECT count(*) FROM {table}") or 0)  # table names here are internal constants


# --------------------------------------------------------------------------------------------------
# fragments: filters, keys, amounts
# --------------------------------------------------------------------------------------------------
def _filter_sql(side: Side | dict[str, list[str]], alias: str, params: Params) -> str:
    filt = side.filter if isinstance(side, Side) else side
    parts = [
        f"{alias}.{ident(col)} IN ({', '.join(params.bind(v) for v in values)})" for col, values in sorted(filt.items())
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


def norm_expr(column_sql: str, steps: list[NormStep], params: Params) -> str:
    """A key normalised step by step; an empty result is no key (NULL), so it never matches."""
    x = column_sql
    for s in steps:
        if s.op == "trim":
            x = f"trim({x})"
        elif s.op == "casefold":
            x = f"lower({x})"
        elif s.op == "strip_punctuation":
            x = f"regexp_replace({x}, '[[:punct:]]', '', 'g')"
        elif s.op == "remove_spaces":
            x = f"regexp_replace({x}, '\\s', '', 'g')"
        elif s.op == "strip_prefix":
            x = f"recon_strip_prefix({x}, {params.bind(s.value)})"
        elif s.op == "regex_extract":
            x = f"regexp_extract({x}, {params.bind(s.value)}, {params.bind(s.group)})"
        elif s.op == "first_chars":
            x = f"left({x}, {params.bind(s.n)})"
    return f"nullif({x}, '')" if steps else x


@dataclass(frozen=True)
class Compiled:
    """A rule with its pairing and its position: the source of every SQL fragment of the rule."""

    pname: str
    pairing_no: int
    rf: RuleFile
    rule: Rule
    rule_no: int

    def table(self, side: str) -> str:
        return self.rf.pairing.left if side == "left" else self.rf.pairing.right

    def side(self, side: str) -> Side:
        return self.rule.left if side == "left" else self.rule.right

    def grouped(self, side: str) -> bool:
        return self.rule.grouped(side)

    @property
    def tag(self) -> str:
        """Six hex digits of the rule id's hash: the prefix of the rule's match ids."""
        return hashlib.sha256(self.rule.id.encode()).hexdigest()[:6]

    @property
    def confidence(self) -> str:
        return "low" if self.rule.kind == "fuzzy" else "high"

    def key_cols(self, side: str) -> list[str]:
        return [k.left if side == "left" else k.right for k in self.rule.keys]

    def amount_col(self, side: str) -> str:
        return self.rule.amount.left if side == "left" else self.rule.amount.right

    def currency_col(self, side: str) -> str:
        return self.rule.currency.left if side == "left" else self.rule.currency.right

    def fee_on(self, side: str) -> bool:
        return self.rule.amount.fee is not None and self.rule.amount.fee.side == side

    def item_amount(self, side: str, a: str) -> str:
        """The amount an item counts with: its amount column, less its fee on the gross side, plus it on the net
        side."""
        col = f"{a}.{ident(self.amount_col(side))}"
        fee = self.rule.amount.fee
        if fee is None or fee.side != side:
            return col
        f = f"coalesce({a}.{ident(fee.column)}, 0)"
        return f"({col} - {f})" if self.rule.amount.gross_side == side else f"({col} + {f})"

    def item_fee(self, side: str, a: str) -> str:
        fee = self.rule.amount.fee
        if fee is None or fee.side != side:
            return "CAST(NULL AS BIGINT)"
        return f"coalesce({a}.{ident(fee.column)}, 0)"

    def date_expr(self, side: str, a: str) -> str:
        w = self.rule.date_window
        return f"{a}.{ident(w.left if side == 'left' else w.right)}" if w else "CAST(NULL AS DATE)"

    def fx_date_expr(self, side: str, a: str) -> str:
        fx = self.rule.currency.fx
        if fx is None or fx.date.side != side:
            return "CAST(NULL AS DATE)"
        return f"{a}.{ident(fx.date.column)}"

    def ref_expr(self, side: str, a: str) -> str:
        cols = self.key_cols(side) or ([getattr(self.rule.fuzzy, side)] if self.rule.fuzzy else [])
        if not cols:
            return "CAST(NULL AS VARCHAR)"
        return "concat_ws('|', " + ", ".join(f"{a}.{ident(c)}" for c in cols) + ")"

    def window_text(self) -> str:
        w = self.rule.date_window
        if w is None:
            return "any"
        if isinstance(w, BusinessDateWindow):
            return f"{w.min_days}..{w.max_days} business days ({w.calendar or 'weekends'})"
        return f"{w.min_days}..{w.max_days} days"


def compile_rules(ruleset: RuleSet) -> list[Compiled]:
    out: list[Compiled] = []
    for pairing_no, (pname, rf) in enumerate(ruleset.pairings(), start=1):
        for rule in rf.ordered():
            out.append(Compiled(pname, pairing_no, rf, rule, len(out) + 1))
    return out


# --------------------------------------------------------------------------------------------------
# units and pairs
# --------------------------------------------------------------------------------------------------
def units_sql(
    c: Compiled,
    side: str,
    source: str,
    params: Params,
    *,
    probe: bool = False,
    restrict: str = "TRUE",
    members: bool = False,
) -> str:
    """The units of one side of a rule drawn from ``source``.

    ``probe`` keeps every item, with ``f_ok`` telling whether the rule's filter accepts it (for break
    classification and explanations); otherwise only the items the filter accepts. A grouped side is
    always made of accepted items; ``members`` adds the list of its item ids.
    """
    key_cols = c.key_cols(side)
    steps = [k.steps(side) for k in c.rule.keys]
    keys = "".join(
        f"{norm_expr(f'a.{ident(col)}', st, params)} AS k{i}, "
        for i, (col, st) in enumerate(zip(key_cols, steps, strict=True))
    )
    if c.grouped(side):
        group_by = c.side(side).group_by or []
        excl = c.side(side).sum_exclude
        amount = c.item_amount(side, "a")
        member = f"CASE WHEN {_filter_sql(excl, 'a', params)} THEN 0 ELSE {amount} END" if excl else amount
        need_amounts = side == "left" and c.rule.currency.fx is not None
        return sqlfiles.render(
            "match_units_group",
            keys=keys,
            group_values="".join(f"a.{ident(g)} AS g{i}, " for i, g in enumerate(group_by)),
            member_amount=member,
            amounts=f"list({member} ORDER BY a.item_id)" if need_amounts else "CAST(NULL AS BIGINT[])",
            members="list(a.item_id ORDER BY a.item_id)" if members else "CAST(NULL AS BIGINT[])",
            currency=ident(c.currency_col(side)),
            u_date=c.date_expr(side, "a"),
            fx_d=c.fx_date_expr(side, "a"),
            ref=c.ref_expr(side, "a"),
            gkey="concat_ws('|', " + ", ".join(f"a.{ident(g)}" for g in group_by) + ")",
            source=source,
            where=f"{_filter_sql(c.side(side), 'a', params)} AND {restrict}",
            group_not_null=" AND ".join(f"a.{ident(g)} IS NOT NULL" for g in group_by),
            group_cols=", ".join(f"a.{ident(g)}" for g in group_by),
        )
    fz = "CAST(NULL AS VARCHAR)"
    if c.rule.fuzzy is not None:
        f = c.rule.fuzzy
        fz = norm_expr(f"a.{ident(f.left if side == 'left' else f.right)}", f.steps(side), params)
    filt = _filter_sql(c.side(side), "a", params)
    return sqlfiles.render(
        "match_units_single",
        keys=keys,
        fz=fz,
        amount=c.item_amount(side, "a"),
        currency=ident(c.currency_col(side)),
        u_date=c.date_expr(side, "a"),
        fx_d=c.fx_date_expr(side, "a"),
        orig=ident(c.amount_col(side)),
        fee=c.item_fee(side, "a"),
        f_ok=filt if probe else "TRUE",
        ref=c.ref_expr(side, "a"),
        source=source,
        where=restrict if probe else f"{filt} AND {restrict}",
    )


def members_sql(c: Compiled, side: str, source: str, params: Params) -> tuple[str, str]:
    """The items of a grouped side's units (a SELECT) and the condition joining them to their unit ``g``."""
    group_by = c.side(side).group_by or []
    where = " AND ".join([_filter_sql(c.side(side), "a", params), *(f"a.{ident(g)} IS NOT NULL" for g in group_by)])
    join = " AND ".join(f"a.{ident(g)} = g.g{i}" for i, g in enumerate(group_by))
    return f"SELECT a.* FROM {source} AS a WHERE {where}", join


def _tolerance_sql(c: Compiled, r_amount: str, params: Params) -> str:
    a = c.rule.amount
    if not a.tolerance_bps:
        return f"CAST({params.bind(a.tolerance_minor)} AS BIGINT)"
    return (
        f"CAST(greatest({params.bind(a.tolerance_minor)}, "
        f"CAST(abs({r_amount}) AS HUGEINT) * {params.bind(a.tolerance_bps)} // 10000) AS BIGINT)"
    )


def pairs_sql(
    c: Compiled, lu: str, ru: str, params: Params, join_type: str = "JOIN", used: tuple[str, ...] = ()
) -> str:
    """The pairs of a rule between left units ``lu`` and right units ``ru`` (SELECTs), every condition evaluated.

    For the sides named in ``used``, ``l_used`` / ``r_used`` tell whether the pairing already matched the
    item (evaluated on the joined pairs only); otherwise they are false.
    """
    rule = c.rule
    used_sql = {}
    for side_no, (side, x) in enumerate((("left", "l"), ("right", "r"))):
        used_sql[x] = (
            f"EXISTS (SELECT 1 FROM used_items AS ui WHERE ui.pairing_no = {params.bind(c.pairing_no)} "
            f"AND ui.side_no = {side_no} AND ui.item_id = {x}.u_id)"
            if side in used
            else "FALSE"
        )
    joins: list[str] = []
    if rule.kind == "fuzzy":
        block = [f"l.k{i} = r.k{i}" for i in range(len(rule.keys))] + ["l.currency = r.currency"]
        a = rule.amount
        if a.tolerance_minor == 0 and a.tolerance_bps == 0:
            block.append("l.amount = r.amount")
        else:
            block.append(f"abs(l.amount - r.amount) <= {_tolerance_sql(c, 'r.amount', params)}")
        join_on = " AND ".join(block)
        f = rule.fuzzy
        assert f is not None
        if f.function == "jaro_winkler":
            score = "CAST(round(jaro_winkler_similarity(l.fz, r.fz), 6) AS DECIMAL(9,6))"
        else:
            score = (
                "CAST(round(1 - levenshtein(l.fz, r.fz) / greatest(length(l.fz), length(r.fz), 1), 6) AS DECIMAL(9,6))"
            )
        sim_ok = f"coalesce(q.score >= CAST({params.bind(f.min_similarity)} AS DECIMAL(9,6)), FALSE)"
    else:
        join_on = " AND ".join(f"l.k{i} = r.k{i}" for i in range(len(rule.keys)))
        score, sim_ok = "CAST(NULL AS DECIMAL(9,6))", "TRUE"

    fx = rule.currency.fx
    if fx is None:
        l_cmp, cur_ok = "l.amount", "q.l_currency = q.r_currency"
        fx_num = fx_den = "CAST(NULL AS HUGEINT)"
        fx_rate, fx_rate_date = "CAST(NULL AS DECIMAL(38,12))", "CAST(NULL AS DATE)"
    else:
        day = f"{'l' if fx.date.side == 'left' else 'r'}.fx_d"
        joins.append(
            f"LEFT JOIN match_fx AS fx ON fx.rule_id = {params.bind(rule.id)} AND fx.day = {day} "
            "AND fx.from_ccy = l.currency AND fx.to_ccy = r.currency"
        )
        converted = (
            "list_sum(list_transform(l.amounts, lambda x: recon_fx_convert(x, fx.num, fx.den)))"
            if c.grouped("left")
            else "recon_fx_convert(l.amount, fx.num, fx.den)"
        )
        l_cmp = f"CASE WHEN l.currency = r.currency THEN l.amount WHEN fx.num IS NULL THEN NULL ELSE {converted} END"
        cur_ok = "(q.l_currency = q.r_currency OR q.fx_num IS NOT NULL)"
        fx_num = "CASE WHEN l.currency <> r.currency THEN fx.num END"
        fx_den = "CASE WHEN l.currency <> r.currency THEN fx.den END"
        fx_rate = "CASE WHEN l.currency <> r.currency THEN fx.rate END"
        fx_rate_date = "CASE WHEN l.currency <> r.currency THEN fx.rate_date END"

    w = rule.date_window
    if w is None:
        date_diff, date_ok = "CAST(NULL AS BIGINT)", "TRUE"
    else:
        if isinstance(w, BusinessDateWindow):
            cal = params.bind(w.calendar or "")
            joins.append(f"LEFT JOIN match_bizdays AS bdl ON bdl.calendar = {cal} AND bdl.d = l.u_date")
            joins.append(f"LEFT JOIN match_bizdays AS bdr ON bdr.calendar = {cal} AND bdr.d = r.u_date")
            date_diff = "bdr.idx - bdl.idx"
        else:
            date_diff = "date_diff('day', l.u_date, r.u_date)"
        date_ok = f"coalesce(q.date_diff BETWEEN {params.bind(w.min_days)} AND {params.bind(w.max_days)}, FALSE)"

    size_ok = "TRUE"
    if rule.max_group_size is not None:
        m = params.bind(rule.max_group_size)
        size_ok = f"coalesce(q.l_size <= {m} AND q.r_size <= {m}, FALSE)"

    return sqlfiles.render(
        "match_pairs",
        cur_ok=cur_ok,
        date_ok=date_ok,
        sim_ok=sim_ok,
        size_ok=size_ok,
        tol=_tolerance_sql(c, "p.r_cmp", params),
        l_cmp=l_cmp,
        fx_num=fx_num,
        fx_den=fx_den,
        fx_rate=fx_rate,
        fx_rate_date=fx_rate_date,
        score=score,
        date_diff=date_diff,
        lu=lu,
        ru=ru,
        l_used=used_sql["l"],
        r_used=used_sql["r"],
        join_type=join_type,
        join_on=join_on,
        joins="\n    ".join(joins),
    )


# --------------------------------------------------------------------------------------------------
# reference tables: FX rates per rule, business-day numbers per calendar
# --------------------------------------------------------------------------------------------------
def _date_range(con: duckdb.DuckDBPyConnection, parts: list[tuple[str, str]]) -> tuple[dt.date, dt.date] | None:
    lo: dt.date | None = None
    hi: dt.date | None = None
    for table, col in parts:
        row = con.execute(f"SELECT min({ident(col)}), max({ident(col)}) FROM {ident(table)}").fetchall()
        if row and row[0][0] is not None:
            lo = row[0][0] if lo is None else min(lo, row[0][0])
            hi = row[0][1] if hi is None else max(hi, row[0][1])
    return (lo, hi) if lo is not None and hi is not None else None


def prepare_reference(con: duckdb.DuckDBPyConnection, compiled: list[Compiled]) -> None:
    """Fill match_fx (exact rates of each FX rule for the days its items carry) and match_bizdays."""
    for c in compiled:
        fx = c.rule.currency.fx
        if fx is None:
            continue
        span = _date_range(con, [(c.table(fx.date.side), fx.date.column)])
        if span is None:
            continue
        _execute(
            con,
            sqlfiles.load("match_fx_rates"),
            {"rule_id": c.rule.id, "first_day": span[0], "last_day": span[1], "max_age": fx.max_rate_age_days},
        )
    cals: dict[str, list[tuple[str, str]]] = {}
    for c in compiled:
        w = c.rule.date_window_business_days
        if w is not None:
            cals.setdefault(w.calendar or "", []).extend([(c.table("left"), w.left), (c.table("right"), w.right)])
    rows: list[dict[str, Any]] = []
    for cal, parts in sorted(cals.items()):
        span = _date_range(con, parts)
        if span is None:
            continue
        day, idx = span[0], 0
        while day <= span[1]:
            if calendars.is_business_day(day, cal or None):
                idx += 1
            rows.append({"calendar": cal, "d": day, "idx": idx})
            day += dt.timedelta(days=1)
    if rows:
        frame = pl.DataFrame(rows, schema={"calendar": pl.String, "d": pl.Date, "idx": pl.Int64})
        con.register("match_bizdays_src", frame)
        con.execute("INSERT INTO match_bizdays SELECT * FROM match_bizdays_src")
        con.unregister("match_bizdays_src")


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
            f"INSERT INTO owner SELECT {params.bind(tbl)}, item_id, coalesce(p, {params.bind(first)}), p IS NOT NULL "
            f"FROM (SELECT t.item_id, {admitted_case} AS p FROM {ident(tbl)} AS t)"
        )
        _execute(con, sql, params)


def mark_duplicates(con: duckdb.DuckDBPyConnection, pname: str, rf: RuleFile) -> None:
    """Right items repeating an earlier item on the declared columns are set aside as duplicates."""
    cols = rf.pairing.duplicates
    if not cols:
        return
    params = Params()
    sql = sqlfiles.render(
        "mark_duplicates",
        right_table=ident(rf.pairing.right),
        partition=", ".join(f"r.{ident(c)}" for c in cols),
        order="r.file_id, r.line_no",
        admitted=_admitted_sql(rf.rules, "right", "r", params),
        pairing=params.bind(pname),
    )
    _execute(con, sql, params)


# --------------------------------------------------------------------------------------------------
# working sets: what each side of a pairing may still use
# --------------------------------------------------------------------------------------------------
def referenced_columns(rules: list[Rule], side: str) -> list[str]:
    """Every column of one side that a rule of the pairing reads."""
    cols: set[str] = set()
    for r in rules:
        s = r.left if side == "left" else r.right
        cols |= set(s.filter) | set(s.group_by or []) | set(s.sum_exclude)
        cols |= {k.left if side == "left" else k.right for k in r.keys}
        if r.fuzzy is not None:
            cols.add(r.fuzzy.left if side == "left" else r.fuzzy.right)
        cols.add(r.amount.left if side == "left" else r.amount.right)
        cols.add(r.currency.left if side == "left" else r.currency.right)
        if r.amount.fee is not None and r.amount.fee.side == side:
            cols.add(r.amount.fee.column)
        if r.date_window is not None:
            cols.add(r.date_window.left if side == "left" else r.date_window.right)
        if r.currency.fx is not None and r.currency.fx.date.side == side:
            cols.add(r.currency.fx.date.column)
    return sorted(cols - {"item_id"})


@dataclass
class WorkingSets:
    pname: str
    rf: RuleFile
    pairing_no: int
    source: dict[str, str] = field(default_factory=dict)
    restrict: dict[str, str] = field(default_factory=dict)
    columns: dict[str, list[str]] = field(default_factory=dict)
    version: int = 0

    @classmethod
    def start(cls, pname: str, rf: RuleFile, pairing_no: int, carried: bool = False) -> WorkingSets:
        """The canonical tables, less duplicates set aside and, with ``carried``, less the items an earlier
        run already matched in this pairing."""
        ws = cls(pname, rf, pairing_no)
        ws.source = {"left": ident(rf.pairing.left), "right": ident(rf.pairing.right)}
        ws.columns = {side: referenced_columns(rf.rules, side) for side in ("left", "right")}
        ws.restrict = {
            "left": "TRUE",
            "right": "NOT EXISTS (SELECT 1 FROM excluded AS x WHERE x.pairing = $pairing AND x.item_id = a.item_id)",
        }
        if carried:
            for side in ("left", "right"):
                ws.restrict[side] += (
                    f" AND NOT EXISTS (SELECT 1 FROM carried_matches AS cm WHERE cm.pairing = $pairing "
                    f"AND cm.side = '{side}' AND cm.item_id = a.item_id)"
                )
        return ws

    def sql(self, side: str, params: Params) -> str:
        """A SELECT of the side's open items (admitted by one of the pairing's rules, unused)."""
        admitted = _admitted_sql(self.rf.rules, side, "a", params)
        return f"SELECT a.* FROM {self.source[side]} AS a WHERE {admitted} AND {self.restrict[side]}"

    def shrink(self, con: duckdb.DuckDBPyConnection, side: str) -> None:
        """Drop the items the last rule took (``taken``): the first time into a narrow table of the open items,
        later by deleting from it."""
        if self.source[side].startswith('"w'):
            con.execute(
                f"DELETE FROM {self.source[side]} WHERE item_id IN (SELECT item_id FROM taken WHERE side = $side)",
                {"side": side},
            )
            return
        self.version += 1
        target = f"w{self.pairing_no}_{side}_{self.version}"
        params = Params()
        sql = sqlfiles.render(
            "match_working_set",
            target=ident(target),
            columns=", ".join(["a.item_id", *(f"a.{ident(col)}" for col in self.columns[side])]),
            source=self.source[side],
            admitted=_admitted_sql(self.rf.rules, side, "a", params),
            restrict=self.restrict[side],
        )
        params.values.update({"pairing": self.pname, "side": side})
        _execute(con, sql, params)
        self.source[side], self.restrict[side] = ident(target), "TRUE"


# --------------------------------------------------------------------------------------------------
# rules
# --------------------------------------------------------------------------------------------------
def _cand_columns(c: Compiled) -> list[str]:
    """The pair columns a rule's candidates carry: what selection and recording of this rule read."""
    cols = ["l_id", "r_id", "diff", "l_cmp", "r_cmp", "r_currency"]
    if c.rule.date_window is not None:
        cols.append("date_gap")
    if c.rule.kind == "fuzzy":
        cols.append("score")
    if c.rule.amount.tolerance_bps:
        cols.append("tol")
    if c.rule.currency.fx is not None:
        cols += ["l_currency", "fx_num", "fx_den", "fx_rate", "fx_rate_date"]
    for side, x in (("left", "l"), ("right", "r")):
        if c.fee_on(side) or (side == "left" and c.rule.currency.fx is not None):
            cols.append(f"{x}_orig")
        if c.fee_on(side):
            cols.append(f"{x}_fee")
    return cols


def _cand_ref(c: Compiled, name: str, params: Params) -> str:
    """A candidate column in SQL: the stored column, or the constant it is for this rule."""
    if name in _cand_columns(c):
        return f"c.{name}"
    constants = {
        "date_gap": "0",
        "score": "CAST(NULL AS DECIMAL(9,6))",
        "fx_num": "CAST(NULL AS HUGEINT)",
        "fx_den": "CAST(NULL AS HUGEINT)",
        "fx_rate": "CAST(NULL AS DECIMAL(38,12))",
        "fx_rate_date": "CAST(NULL AS DATE)",
        "l_currency": "c.r_currency",
        "l_orig": "c.l_cmp",
        "r_orig": "c.r_cmp",
        "l_fee": "CAST(NULL AS BIGINT)",
        "r_fee": "CAST(NULL AS BIGINT)",
    }
    if name == "tol":
        return f"CAST({params.bind(c.rule.amount.tolerance_minor)} AS BIGINT)"
    return constants[name]


def _record(con: duckdb.DuckDBPyConnection, c: Compiled, chosen: str, ws: WorkingSets) -> None:
    """Write the pairs in ``chosen`` as matches: one row per item of each side (members of a grouped side)."""
    base = {
        "rule_tag": c.tag,
        "rule_id": c.rule.id,
        "pairing": c.pname,
        "rule_kind": c.rule.kind,
        "confidence": c.confidence,
        "tolerance_bps": c.rule.amount.tolerance_bps or None,
    }
    if not (c.grouped("left") or c.grouped("right")):
        params = Params(values={**base, "left_table": c.table("left"), "right_table": c.table("right")})
        refs = {name: _cand_ref(c, name, params) for name in ("tol", "score", "fx_rate", "fx_rate_date")}
        for x in ("l", "r"):
            refs.update({f"{x}_{k}": _cand_ref(c, f"{x}_{k}", params) for k in ("fee", "orig", "currency")})
        _execute(con, sqlfiles.render("match_record_pair", chosen=chosen, **refs), params)
        return
    for side, x in (("left", "l"), ("right", "r")):
        params = Params(values={**base, "item_table": c.table(side)})
        common = {
            "side": side,
            "x": x,
            "chosen": chosen,
            "tol": _cand_ref(c, "tol", params),
            "score": _cand_ref(c, "score", params),
            "fx_rate": _cand_ref(c, "fx_rate", params),
            "fx_rate_date": _cand_ref(c, "fx_rate_date", params),
        }
        if not c.grouped(side):
            sql = sqlfiles.render(
                "match_record_single",
                **common,
                fee=_cand_ref(c, f"{x}_fee", params),
                orig=_cand_ref(c, f"{x}_orig", params),
                currency=_cand_ref(c, f"{x}_currency", params),
            )
            _execute(con, sql, params)
            continue
        excl = c.side(side).sum_exclude
        amount = c.item_amount(side, "a")
        member = f"CASE WHEN {_filter_sql(excl, 'a', params)} THEN 0 ELSE {amount} END" if excl else amount
        if side == "left" and c.rule.currency.fx is not None:
            member = f"CASE WHEN c.fx_num IS NULL THEN {member} ELSE recon_fx_convert({member}, c.fx_num, c.fx_den) END"
        params.values["pairing"] = c.pname
        members, member_join = members_sql(c, side, f"({ws.sql(side, params)})", params)
        sql = sqlfiles.render(
            "match_record_group",
            **common,
            member_cmp=member,
            member_fee=c.item_fee(side, "a"),
            orig=ident(c.amount_col(side)),
            currency=ident(c.currency_col(side)),
            units=ident(f"mu_{side}"),
            members=members,
            member_join=member_join,
        )
        _execute(con, sql, params)


def run_rule(con: duckdb.DuckDBPyConnection, c: Compiled, ws: WorkingSets) -> int:
    """Match one rule on the pairing's open items; return the number of matches."""
    params = Params(values={"pairing": c.pname})
    sources: dict[str, str] = {}
    for side in ("left", "right"):
        if c.grouped(side):
            build = Params(values={"pairing": c.pname})
            sql = units_sql(c, side, f"({ws.sql(side, build)})", build)
            _execute(con, f"CREATE OR REPLACE TEMP TABLE {ident('mu_' + side)} AS {sql}", build)
            sources[side] = f"SELECT * FROM {ident('mu_' + side)}"
        else:
            sources[side] = units_sql(c, side, f"({ws.sql(side, params)})", params)
    pairs = pairs_sql(c, sources["left"], sources["right"], params)
    columns = ", ".join(f"x.{col}" for col in _cand_columns(c))
    _execute(con, sqlfiles.render("match_candidates", columns=columns, pairs=pairs), params)
    if not _count(con, "cand"):
        return 0
    con.execute("CREATE OR REPLACE TEMP TABLE taken (side VARCHAR, item_id BIGINT)")
    _execute(con, sqlfiles.load("match_select_isolated"))
    total = _count(con, "cand") - _count(con, "cand_rest")
    if total:
        _record(con, c, "chosen_isolated", ws)
    rank = Params()
    select_best = sqlfiles.render(
        "match_select_mutual_best", score=_cand_ref(c, "score", rank), date_gap=_cand_ref(c, "date_gap", rank)
    )
    for _ in range(MAX_PASSES):
        if not _count(con, "cand_rest"):
            break
        _execute(con, select_best, rank)
        found = _count(con, "chosen")
        if not found:
            break
        _record(con, c, "chosen", ws)
        total += found
    if total:
        _execute(
            con,
            "INSERT INTO used_items SELECT $pairing_no, CASE WHEN side = 'left' THEN 0 ELSE 1 END, item_id FROM taken",
            {"pairing_no": c.pairing_no},
        )
        for side in ("left", "right"):
            ws.shrink(con, side)
    return total


# --------------------------------------------------------------------------------------------------
# breaks: the nearest candidate of every unmatched item and the condition it failed
# --------------------------------------------------------------------------------------------------
def _vocab(rf: RuleFile) -> dict[str, str]:
    return {k: str(v) for k, v in rf.pairing.breaks.model_dump().items()}


def _fee_notes(c: Compiled) -> dict[str, str]:
    notes = {"l_fee_note": "", "r_fee_note": ""}
    for side, key in (("left", "l_fee_note"), ("right", "r_fee_note")):
        if c.fee_on(side):
            notes[key] = "net of fee" if c.rule.amount.gross_side == side else "with fee"
    return notes


def _near_single(con: duckdb.DuckDBPyConnection, c: Compiled, ws: WorkingSets, rank: int) -> None:
    """Near rows of a one-to-one or fuzzy rule for the pairing's unmatched right items."""
    params = Params(values={"pairing": c.pname})
    primary = f"(SELECT a.* FROM {ident(c.table('right'))} AS a JOIN unmatched_right AS um ON um.item_id = a.item_id)"
    ru = units_sql(c, "right", primary, params)
    if c.rule.kind == "fuzzy":
        lu = units_sql(c, "left", f"({ws.sql('left', params)})", params, probe=True)
        restrict = "p.l_ok AND p.cur_ok AND p.amt_ok AND p.date_ok AND p.sim_ok"
        pairs = pairs_sql(c, lu, ru, params)
    else:
        lu = units_sql(c, "left", ident(c.table("left")), params, probe=True)
        restrict = "TRUE"
        pairs = pairs_sql(c, lu, ru, params, used=("left",))
    l_note, r_note = "''", "''"
    if c.rule.currency.fx is not None or c.fee_on("left"):
        l_note = sqlfiles.load("near_note_left")
    if c.fee_on("right"):
        r_note = "' (' || $r_fee_note || ' ' || fmt_money(p.r_fee, p.r_currency) || ')'"
    sql = sqlfiles.render(
        "near_pairs",
        pairs=pairs,
        restrict=restrict,
        left_table=ident(c.table("left")),
        l_values=_filter_values_sql(c.side("left"), "lv"),
        l_note=l_note,
        r_note=r_note,
    )
    params.values.update({"rank": rank, "rule_id": c.rule.id, "window": c.window_text(), **_fee_notes(c)})
    _execute(con, sql, params)


def _classify_groups(con: duckdb.DuckDBPyConnection, c: Compiled, ws: WorkingSets, vocab: dict[str, str]) -> None:
    """Breaks of the unmatched groups of a grouped rule, each with its nearest counterpart."""
    p_side = "left" if c.grouped("left") else "right"
    c_side = "right" if p_side == "left" else "left"
    params = Params(values={"pairing": c.pname})
    unclassified = (
        "NOT EXISTS (SELECT 1 FROM classified_members AS cm WHERE cm.pairing = $pairing AND cm.item_id = a.item_id)"
    )
    build = Params(values={"pairing": c.pname})
    sql = units_sql(c, p_side, f"({ws.sql(p_side, build)})", build, restrict=unclassified, members=True)
    _execute(con, f"CREATE OR REPLACE TEMP TABLE pu AS {sql}", build)
    units = {p_side: "SELECT * FROM pu"}
    used: tuple[str, ...] = ()
    if c.grouped(c_side):
        build = Params(values={"pairing": c.pname})
        sql = units_sql(c, c_side, f"({ws.sql(c_side, build)})", build, restrict=unclassified, members=True)
        _execute(con, f"CREATE OR REPLACE TEMP TABLE cu AS {sql}", build)
        units[c_side] = "SELECT * FROM cu"
    else:
        units[c_side] = units_sql(c, c_side, ident(c.table(c_side)), params)
        used = (c_side,)
    join_type = "LEFT JOIN" if p_side == "left" else "RIGHT JOIN"
    pairs = pairs_sql(c, units["left"], units["right"], params, join_type=join_type, used=used)
    p, q = ("l", "r") if p_side == "left" else ("r", "l")
    sign = "" if p_side == "left" else "-"
    _execute(con, sqlfiles.render("break_group_pairs", p=p, q=q, sign=sign, pairs=pairs), params)
    c_table, p_table = c.table(c_side), c.table(p_side)
    if c.grouped(c_side):
        c_members, c_units_join, counter_item = "cu.members", "LEFT JOIN cu ON cu.u_id = n.c_id", "NULL"
        tie_members, tie_join = "tu.members", "JOIN cu AS tu ON tu.u_id = g.c_id"
        c_label = (
            "'group ' || coalesce(cu.ref, '?') || ' (' || cu.n_members || ' ' || $c_table || ' items, total ' "
            "|| fmt_money(CAST(cu.amount AS BIGINT), cu.currency) || ')'"
        )
    else:
        c_members = "CASE WHEN n.c_id IS NULL THEN [] ELSE [n.c_id] END"
        c_units_join, counter_item, c_label = "", "c_id", "ci.item_label"
        tie_members, tie_join = "[g.c_id]", ""
    sql = sqlfiles.render(
        "break_near_group",
        c_members=c_members,
        c_label=c_label,
        p_units="pu",
        p_items=ident(f"items_{p_table}"),
        c_items=ident(f"items_{c_table}"),
        c_units_join=c_units_join,
        counter_item_id=counter_item,
        tie_members=tie_members,
        tie_join=tie_join,
    )
    unmatched = vocab["left_unmatched"] if p_side == "left" else vocab["right_unmatched"]
    _execute(
        con,
        sql,
        {
            "pairing": c.pname,
            "rule_id": c.rule.id,
            "p_table": p_table,
            "c_table": c_table,
            "max_size": c.rule.max_group_size if c.rule.max_group_size is not None else 2**62,
            "v_unmatched": unmatched,
            **{f"v_{k}": vocab[k] for k in ("amount", "currency", "date", "duplicate", "ambiguous")},
        },
    )


def classify_pairing(
    con: duckdb.DuckDBPyConnection, pname: str, rf: RuleFile, compiled: list[Compiled], ws: WorkingSets
) -> None:
    vocab = _vocab(rf)
    lt, rt = rf.pairing.left, rf.pairing.right
    singles = [c for c in compiled if not (c.grouped("left") or c.grouped("right"))]
    groups = [c for c in compiled if c.grouped("left") or c.grouped("right")]

    # 1. duplicates set aside before matching
    _execute(
        con,
        sqlfiles.render("break_duplicates", right_table=ident(rt), right_items=ident(f"items_{rt}")),
        {"pairing": pname, "break_type": vocab["duplicate"], "right_table": rt},
    )

    # 2. unmatched right items of one-to-one (and fuzzy) rules: nearest left candidate under each rule
    params = Params(values={"pairing": pname, "right_table": rt})
    _execute(con, sqlfiles.render("near_reset", work_right=ws.sql("right", params)), params)
    for rank, c in enumerate(singles):
        _near_single(con, c, ws, rank)
    if singles:
        _execute(
            con,
            sqlfiles.render("break_near_one_to_one", left_items=ident(f"items_{lt}"), right_items=ident(f"items_{rt}")),
            {"pairing": pname, "left_table": lt, "right_table": rt, **{f"v_{k}": v for k, v in vocab.items()}},
        )

    # 3. unmatched groups of grouped rules: nearest counterpart
    for c in groups:
        _classify_groups(con, c, ws, vocab)

    # 4. everything this pairing owns that is still without an outcome
    first_rule = rf.ordered()[0].id
    for side, tbl, unmatched_key, not_admitted_key in (
        ("left", lt, "left_unmatched", "left_not_admitted"),
        ("right", rt, "right_unmatched", "right_not_admitted"),
    ):
        not_admitted = vocab[not_admitted_key]
        params = Params(
            values={
                "pairing": pname,
                "side": side,
                "item_table": tbl,
                "break_type": vocab[unmatched_key],
                "not_admitted_break": None if not_admitted in NON_BREAK_OUTCOMES else not_admitted,
                "not_admitted_outcome": not_admitted if not_admitted in NON_BREAK_OUTCOMES else None,
                "closest_rule": first_rule,
            }
        )
        sql = sqlfiles.render("break_leftovers", work=ws.sql(side, params), items=ident(f"items_{tbl}"))
        _execute(con, sql, params)


def classify_unowned(con: duckdb.DuckDBPyConnection) -> None:
    """Items of a table that no pairing names: a break of type no_applicable_rule each."""
    for tbl in MATCHABLE_TABLES:
        _execute(con, sqlfiles.render("break_unowned", items=ident(f"items_{tbl}")), {"item_table": tbl})


def _carry_matches(con: duckdb.DuckDBPyConnection, compiled: list[Compiled]) -> set[str]:
    """Matches of earlier runs that carried items keep (``carried_used``, loaded by ``reconcile``): the items
    stay used in those pairings, so no rule of this run takes them again. Returns the pairings concerned."""
    exists = _scalar(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'carried_used'")
    if not exists:
        return set()
    pairings = sorted({c.pname for c in compiled})
    numbers = {c.pname: c.pairing_no for c in compiled}
    con.execute(
        "INSERT INTO carried_matches SELECT CAST(pairing AS recon_pairing), CAST(side AS recon_side), "
        "CAST(item_table AS recon_table), item_id, match_id FROM carried_used "
        "WHERE pairing IN (SELECT unnest(CAST($pairings AS VARCHAR[]))) AND side IN ('left', 'right')",
        {"pairings": pairings},
    )
    rows = con.execute("SELECT DISTINCT CAST(pairing AS VARCHAR) FROM carried_matches").fetchall()
    for (pname,) in rows:
        con.execute(
            "INSERT INTO used_items SELECT $no, CASE WHEN side = 'left' THEN 0 ELSE 1 END, item_id "
            "FROM carried_matches WHERE pairing = $pairing",
            {"no": numbers[pname], "pairing": pname},
        )
    return {str(r[0]) for r in rows}


def run_matching(con: duckdb.DuckDBPyConnection, ruleset: RuleSet) -> dict[str, int]:
    """Run every pairing's rules in priority order, then classify what is left. Returns matches per rule.

    Needs the canonical tables, ``fx_rates``, ``currency_exponents`` and the ``fmt_money`` macro in ``con``
    (as ``reconcile`` loads them).
    """
    compiled = compile_rules(ruleset)
    _execute(
        con,
        sqlfiles.load("match_state"),
        {"rule_ids": [c.rule.id for c in compiled], "pairings": [p for p, _ in ruleset.pairings()]},
    )
    _execute(con, sqlfiles.load("match_macros"))
    _execute(con, sqlfiles.load("item_views"))
    prepare_reference(con, compiled)
    compute_owners(con, ruleset)
    carried = _carry_matches(con, compiled)
    per_rule: dict[str, int] = {}
    for pairing_no, (pname, rf) in enumerate(ruleset.pairings(), start=1):
        mark_duplicates(con, pname, rf)
        ws = WorkingSets.start(pname, rf, pairing_no, carried=pname in carried)
        mine = [c for c in compiled if c.pname == pname]
        for c in mine:
            per_rule[c.rule.id] = run_rule(con, c, ws)
            log.info("rule %s: %d match(es)", c.rule.id, per_rule[c.rule.id])
        classify_pairing(con, pname, rf, mine, ws)
    classify_unowned(con)
    return per_rule


# the matching stage's working tables: not needed once its matches, breaks and outcomes are recorded
SCRATCH_TABLES = (
    "used_items", "taken", "chosen", "chosen_isolated", "chosen_members", "classified_members", "cand",
    "cand_rest", "ranked", "multi_l", "multi_r", "mu_left", "mu_right", "pu", "cu", "near", "near_typed",
    "near_claims", "gnear", "gnear_typed", "gpairs", "group_claims", "group_ties", "leftover", "leftover_breaks",
    "unmatched_right", "dup_breaks", "unowned",
)  # fmt: skip


def release_scratch(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the working tables of ``run_matching`` (its working sets too), so that a caller that goes on to
    publish has their memory back. ``recon rules explain`` needs them and does not call this."""
    sets = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE regexp_full_match(table_name, 'w[0-9]+_(left|right)_[0-9]+')"
    ).fetchall()
    for name in [*SCRATCH_TABLES, *(str(r[0]) for r in sets)]:
        con.execute(f"DROP TABLE IF EXISTS {ident(name)}")


# --------------------------------------------------------------------------------------------------
# explanations: why an item matched, or which condition each of its nearest candidates failed
# --------------------------------------------------------------------------------------------------
@dataclass
class Check:
    condition: str
    ok: bool
    detail: str


@dataclass
class Candidate:
    label: str
    table: str
    item_id: int | None
    checks: list[Check]

    @property
    def passes(self) -> bool:
        return all(c.ok for c in self.checks)


@dataclass
class RuleExplanation:
    pairing: str
    rule_id: str
    kind: str
    priority: int
    description: str
    side: str
    admitted: bool
    note: str
    candidates: list[Candidate] = field(default_factory=list)


@dataclass
class ItemExplanation:
    item_table: str
    item_id: int
    label: str
    file_id: str
    line_no: int
    amount_minor: int | None
    currency: str | None
    owner: str | None
    outcome: str
    matches: list[dict[str, Any]] = field(default_factory=list)
    breaks: list[dict[str, Any]] = field(default_factory=list)
    rules: list[RuleExplanation] = field(default_factory=list)


def _rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: Params | dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    values = params.values if isinstance(params, Params) else (params or {})
    names = set(_PARAM.findall(sql))
    cur = con.execute(sql, {k: values[k] for k in names})
    cols = [d[0] for d in cur.description or []]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def find_items(con: duckdb.DuckDBPyConnection, text: str, limit: int = 20) -> list[tuple[str, int]]:
    """Items whose ``file_id:line_no`` is ``text`` or one of whose text columns equals it."""
    from pipelines import schema

    parts = []
    for tbl in MATCHABLE_TABLES:
        cols = [c.name for c in schema.table(tbl).columns if c.type == "string" and c.allowed is None]
        cols = [c for c in cols if c not in ("channel", "currency")]
        match_any = " OR ".join(f"a.{ident(c)} = $q" for c in cols)
        parts.append(
            f"SELECT '{tbl}' AS item_table, a.item_id FROM {ident(tbl)} AS a "
            f"WHERE a.file_id || ':' || CAST(a.line_no AS VARCHAR) = $q OR {match_any}"
        )
    sql = " UNION ALL ".join(parts) + " ORDER BY item_table, item_id LIMIT $limit"
    return [(str(r[0]), int(r[1])) for r in con.execute(sql, {"q": text, "limit": limit}).fetchall()]


def _money(minor: Any, currency: Any) -> str:
    from pipelines import money

    if minor is None:
        return "none"
    try:
        return f"{money.format_minor(int(minor), str(currency))} {currency}"
    except (ValueError, TypeError):
        return f"{minor} {currency}"


def _checks(c: Compiled, row: dict[str, Any], mine: str, own_matches: set[str]) -> list[Check]:
    other = "right" if mine == "left" else "left"
    o = "l" if other == "left" else "r"
    rule = c.rule
    checks: list[Check] = []
    accepted = ", ".join(f"{k} in [{', '.join(v)}]" for k, v in sorted(c.side(other).filter.items())) or "any"
    checks.append(
        Check(f"{other} filter", bool(row[f"{o}_ok"]), f"{row.get('c_values') or 'accepted'} (rule accepts {accepted})")
    )
    by = row.get("c_used_by")
    if by and any(m in by for m in own_matches):
        checks.append(Check("not yet matched", True, f"matched with this item: rule {by}"))
    elif by:
        checks.append(Check("not yet matched", False, f"already matched by rule {by}"))
    else:
        checks.append(Check("not yet matched", not bool(row[f"{o}_used"]), "open"))
    lc, rc = row["l_currency"], row["r_currency"]
    if rule.currency.fx is None:
        checks.append(Check("currency", bool(row["cur_ok"]), f"{lc} vs {rc}"))
    elif row["fx_rate"] is not None:
        checks.append(
            Check("currency", bool(row["cur_ok"]), f"{lc} to {rc} at {row['fx_rate']} of {row['fx_rate_date']}")
        )
    else:
        fx = rule.currency.fx
        detail = (
            f"{lc} vs {rc}"
            if lc == rc
            else f"no {lc}/{rc} rate for its {fx.date.side} {fx.date.column} "
            f"(at most {fx.max_rate_age_days} day(s) old)"
        )
        checks.append(Check("currency", bool(row["cur_ok"]), detail))
    a = rule.amount
    tol = f"tolerance {_money(row['tol'], rc)}"
    if a.tolerance_bps:
        tol += f" ({a.tolerance_minor} minor units or {a.tolerance_bps} bps of the right amount)"
    fee = ""
    if a.fee is not None:
        fee = f"; fee {a.fee.column} of the {a.fee.side} side explains gross ({a.gross_side}) - fee = net"
    detail = (
        f"left {_money(row['l_cmp'], rc if row['fx_rate'] is not None else lc)} vs right {_money(row['r_cmp'], rc)}: "
        f"difference {_money(row['diff'], rc)}, {tol}{fee}"
    )
    checks.append(Check("amount", bool(row["amt_ok"]), detail))
    w = rule.date_window
    if w is not None:
        unit = "business days" if isinstance(w, BusinessDateWindow) else "days"
        dates = f"left {w.left} {row['l_date']}, right {w.right} {row['r_date']}: {row['date_diff']} {unit}"
        checks.append(Check("date", bool(row["date_ok"]), f"{dates}, window {w.min_days}..{w.max_days} {unit}"))
    if rule.fuzzy is not None:
        f = rule.fuzzy
        checks.append(
            Check("similarity", bool(row["sim_ok"]), f"{f.function} {row['score']} (at least {f.min_similarity})")
        )
    if rule.max_group_size is not None:
        sizes = f"{row['l_size']} and {row['r_size']} items (at most {rule.max_group_size})"
        checks.append(Check("group size", bool(row["size_ok"]), sizes))
    return checks


def _explain_rule(
    con: duckdb.DuckDBPyConnection, c: Compiled, side: str, item_id: int, limit: int, own_matches: set[str]
) -> RuleExplanation:
    other = "right" if side == "left" else "left"
    x, o = ("l", "r") if side == "left" else ("r", "l")
    rule = c.rule
    out = RuleExplanation(c.pname, rule.id, rule.kind, rule.priority, rule.description, side, False, "")
    params = Params(values={"pairing": c.pname, "me": item_id})
    table = ident(c.table(side))
    filt = _filter_sql(c.side(side), "a", params)
    row = _rows(
        con,
        f"SELECT {filt} AS ok, {_filter_values_sql(c.side(side), 'a')} AS vals FROM {table} AS a WHERE a.item_id = $me",
        params,
    )
    out.admitted = bool(row and row[0]["ok"])
    if not out.admitted:
        accepted = ", ".join(f"{k} in [{', '.join(v)}]" for k, v in sorted(c.side(side).filter.items()))
        out.note = (
            f"not accepted by the rule's {side} filter: it has {row[0]['vals'] if row else '?'}; accepts {accepted}"
        )
        return out
    if c.grouped(side):
        group_by = c.side(side).group_by or []
        same = " AND ".join(f"me.{ident(g)} = a.{ident(g)}" for g in group_by)
        restrict = f"EXISTS (SELECT 1 FROM {table} AS me WHERE me.item_id = $me AND {same})"
        mine = units_sql(c, side, table, params, restrict=restrict, members=True)
        unit = _rows(con, f"SELECT u_id, n_members, amount, currency, ref FROM ({mine})", params)
        if not unit:
            out.note = f"its {', '.join(group_by)} is empty: it belongs to no group"
            return out
        u = unit[0]
        out.note = (
            f"as a member of group {u['ref']} ({u['n_members']} items, total {_money(u['amount'], u['currency'])})"
        )
        my_id = int(u["u_id"])
    else:
        mine = units_sql(c, side, table, params, probe=True, restrict="a.item_id = $me")
        my_id = item_id
    used: tuple[str, ...] = ()
    if c.grouped(other):
        theirs = units_sql(c, other, ident(c.table(other)), params, members=True)
        label = (
            f"'group ' || coalesce(p.{o}_ref, '?') || ' (' || p.{o}_size || ' items, total ' "
            f"|| fmt_money(CAST(p.{o}_cmp AS BIGINT), p.{o}_currency) || ')'"
        )
        joins, values, used_by = "", "''", "CAST(NULL AS VARCHAR)"
    else:
        theirs = units_sql(c, other, ident(c.table(other)), params, probe=True)
        used = (other,)
        label = "ci.item_label"
        joins = (
            f"LEFT JOIN {ident('items_' + c.table(other))} AS ci ON ci.item_id = p.{o}_id "
            f"LEFT JOIN {ident(c.table(other))} AS cv ON cv.item_id = p.{o}_id "
            f"LEFT JOIN (SELECT item_id, min(CAST(rule_id AS VARCHAR) || ' (match ' || match_id || ')') AS by "
            f"FROM match_rows WHERE pairing = $pairing AND side = {params.bind(other)} GROUP BY item_id) AS ub "
            f"ON ub.item_id = p.{o}_id"
        )
        values, used_by = _filter_values_sql(c.side(other), "cv"), "ub.by"
    lu, ru = (mine, theirs) if side == "left" else (theirs, mine)
    pairs = pairs_sql(c, lu, ru, params, used=used)
    order = (
        f"p.{o}_used, NOT p.{o}_ok, NOT p.cur_ok, NOT p.amt_ok, NOT p.date_ok, NOT p.sim_ok, NOT p.size_ok, "
        f"p.score DESC NULLS LAST, abs(p.diff) NULLS LAST, p.{o}_id"
    )
    params.values.update({"my_id": my_id, "limit": limit})
    rows = _rows(
        con,
        f"SELECT p.*, {label} AS c_label, {values} AS c_values, {used_by} AS c_used_by "
        f"FROM ({pairs}) AS p {joins} WHERE p.{x}_id = $my_id ORDER BY {order} LIMIT $limit",
        params,
    )
    for r in rows:
        out.candidates.append(
            Candidate(
                str(r["c_label"]),
                c.table(other),
                None if c.grouped(other) else int(r[f"{o}_id"]),
                _checks(c, r, side, own_matches),
            )
        )
    if not rows:
        if rule.kind == "fuzzy":
            out.note = (
                f"no {c.table(other)} item has its blocking keys, currency and an amount within tolerance"
                if not out.note
                else out.note
            )
        else:
            keys = ", ".join(f"{k.left} = {k.right}" for k in rule.keys)
            out.note = (out.note + "; " if out.note else "") + f"no {c.table(other)} item shares its keys ({keys})"
    return out


def explain_item(
    con: duckdb.DuckDBPyConnection, ruleset: RuleSet, item_table: str, item_id: int, limit: int = 3
) -> ItemExplanation:
    """Why one item ended as it did, after ``run_matching`` ran in ``con``: its matches (rule, partners,
    differences) or breaks, and for every rule that could take it the nearest candidates with each
    condition passed or failed."""
    items = ident(f"items_{item_table}")
    info = _rows(con, f"SELECT * FROM {items} WHERE item_id = $id", {"id": item_id})
    if not info:
        raise KeyError(f"{item_table} has no item {item_id}")
    i = info[0]
    owner = _rows(
        con,
        "SELECT pairing, admitted FROM owner WHERE item_table = $t AND item_id = $id",
        {"t": item_table, "id": item_id},
    )
    out = ItemExplanation(
        item_table,
        item_id,
        str(i["item_label"]),
        str(i["file_id"]),
        int(i["line_no"]),
        i["amount_minor"],
        i["currency"],
        owner[0]["pairing"] if owner else None,
        "unknown",
    )
    union = " UNION ALL ".join(
        f"SELECT item_table, item_id, item_label FROM {ident('items_' + t)}" for t in MATCHABLE_TABLES
    )
    mine = _rows(
        con,
        "SELECT CAST(pairing AS VARCHAR) AS pairing, match_id, CAST(rule_id AS VARCHAR) AS rule_id FROM match_rows "
        "WHERE item_table = $t AND item_id = $id ORDER BY pairing",
        {"t": item_table, "id": item_id},
    )
    for m in mine:
        rows = _rows(
            con,
            f"SELECT CAST(m.side AS VARCHAR) AS side, CAST(m.item_table AS VARCHAR) AS item_table, m.item_id, "
            f"a.item_label, m.amount_minor, m.currency, m.original_amount_minor, m.original_currency, m.fee_minor, "
            f"m.amount_difference_minor, m.tolerance_minor, m.tolerance_bps, m.fx_rate, m.fx_rate_date, "
            f"m.similarity, CAST(m.confidence AS VARCHAR) AS confidence, CAST(m.rule_kind AS VARCHAR) AS rule_kind "
            f"FROM match_rows AS m JOIN ({union}) AS a ON a.item_id = m.item_id "
            f"WHERE m.match_id = $mid ORDER BY m.side, m.item_id",
            {"mid": m["match_id"]},
        )
        out.matches.append({**m, "owner": m["pairing"] == out.owner, "rows": rows})
    out.breaks = _rows(
        con,
        "SELECT b.break_id, b.break_type, b.pairing, b.closest_rule, b.reason FROM break_items AS bi "
        "JOIN break_list AS b ON b.break_id = bi.break_id WHERE bi.item_table = $t AND bi.item_id = $id",
        {"t": item_table, "id": item_id},
    )
    settled = _rows(
        con,
        "SELECT outcome FROM settled_outcomes WHERE item_table = $t AND item_id = $id",
        {"t": item_table, "id": item_id},
    )
    if any(m["owner"] for m in out.matches):
        out.outcome = "matched"
    elif out.breaks:
        out.outcome = "break: " + ", ".join(str(b["break_type"]) for b in out.breaks)
    elif settled:
        out.outcome = str(settled[0]["outcome"])
    for c in compile_rules(ruleset):
        for side in ("left", "right"):
            if c.table(side) == item_table:
                own = {str(m["match_id"]) for m in out.matches}
                out.rules.append(_explain_rule(con, c, side, item_id, limit, own))
    return out
