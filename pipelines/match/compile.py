"""Compile: matching rules turned into SQL fragments and statements; nothing here decides a match.

Every identifier that reaches the SQL comes from a rule that was checked against ``schemas/`` and is
quoted by ``sqlfiles.ident``; every value (filter values, prefixes, patterns, tolerances, windows, rule
ids, calendars) is bound through ``Params`` (``execute`` runs a statement with them).

A rule compares *units*: single items, or groups of items sharing the rule's ``group_by`` columns. Its
pairs (``sql/match_pairs.sql``) join the left and right units on the normalised keys and evaluate every
condition of the rule (currency or FX rate, amount within tolerance, date window, similarity, group size).
The same pairs serve matching (``engine``), break classification (``classify``) and explanations
(``explain``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

import duckdb

from pipelines.core import sqlfiles
from pipelines.core.sqlfiles import ident
from pipelines.match.rules import BusinessDateWindow, NormStep, Rule, RuleFile, RuleSet, Side


@dataclass
class Params:
    """Named parameters of one statement: fragments reference ``$name`` and values are bound."""

    values: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}"


def execute(con: duckdb.DuckDBPyConnection, sql: str, params: Params | dict[str, Any] | None = None) -> None:
    sqlfiles.execute(con, sql, params.values if isinstance(params, Params) else params)


class OpenItems(Protocol):
    """The items each side of a pairing still offers (``engine.WorkingSets``), as a SELECT."""

    def sql(self, side: str, params: Params) -> str: ...


# --------------------------------------------------------------------------------------------------
# fragments: filters, keys, amounts
# --------------------------------------------------------------------------------------------------
def filter_sql(side: Side | dict[str, list[str]], alias: str, params: Params) -> str:
    filt = side.filter if isinstance(side, Side) else side
    parts = [
        f"{alias}.{ident(col)} IN ({', '.join(params.bind(v) for v in values)})" for col, values in sorted(filt.items())
    ]
    return "(" + " AND ".join(parts) + ")" if parts else "TRUE"


def filter_values_sql(side: Side, alias: str) -> str:
    cols = sorted(side.filter)
    if not cols:
        return "''"
    return (
        "concat_ws(', ', "
        + ", ".join(f"'{c}=' || coalesce(CAST({alias}.{ident(c)} AS VARCHAR), 'null')" for c in cols)
        + ")"
    )


def admitted_sql(rules: list[Rule], side_name: str, alias: str, params: Params) -> str:
    exprs = [filter_sql(getattr(r, side_name), alias, params) for r in rules]
    return "(" + " OR ".join(exprs) + ")" if exprs else "FALSE"


def not_duplicate_sql(rf: RuleFile, side: str, alias: str = "a") -> str:
    """A condition on ``alias`` (an item of the side): not set aside as a duplicate by this pairing, nor as a
    left-side repetition (``left_duplicates``: a repeated order) by any pairing: a repeated order is one in
    every pairing it could take part in (binds ``$pairing``). Right-side duplicates stay pairing-local: a PSP
    line repeated against the orders is still a member of its payout batch."""
    own = f"(x.pairing = $pairing AND x.side = '{side}')" if rf.pairing.duplicate_columns(side) else "FALSE"
    return f"NOT EXISTS (SELECT 1 FROM excluded AS x WHERE x.item_id = {alias}.item_id AND (x.side = 'left' OR {own}))"


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


# The steps ``key_pattern`` covers: case, and steps that only delete characters (as the class of characters
# each may delete: whitespace for ``trim`` anywhere, a superset of its ends)
_DELETING = {"strip_punctuation": "[:punct:]", "remove_spaces": r"\x00-\x20\x7f", "trim": r"\x00-\x20\x7f"}
PATTERN_KEYS = 256  # the most keys one pattern looks up
PATTERN_STEPS = frozenset({"casefold", *_DELETING})


def _pattern_char(c: str) -> str:
    return c if c.isascii() and c.isalnum() else f"\\x{{{ord(c):x}}}"


def key_pattern(steps: list[NormStep], keys: list[str]) -> str | None:
    """A regular expression (for ``regexp_full_match``) that every ASCII text whose key normalised by
    ``steps`` is one of ``keys`` matches; it may match other texts too. Each key's characters in order, any
    run of the characters the steps delete around and between them, case ignored when the steps fold it: on
    ASCII text folding case and deleting characters commute, and each of its characters folds as the pattern's
    case-insensitive match does (which also matches a few characters more). None when a step changes text
    otherwise (a prefix, an extraction, a length), or there are no keys or more than ``PATTERN_KEYS``.
    Texts with a character outside ASCII are for the caller to keep."""
    ops = {s.op for s in steps}
    if not ops <= PATTERN_STEPS or not keys or len(keys) > PATTERN_KEYS:
        return None
    deleted = sorted({_DELETING[op] for op in ops if op in _DELETING})
    gap = f"[{''.join(deleted)}]*" if deleted else ""
    alternatives = [gap + "".join(_pattern_char(c) + gap for c in key) for key in sorted(set(keys))]
    return ("(?i)" if "casefold" in ops else "") + "(?:" + "|".join(alternatives) + ")"


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
        """What names a unit in breaks and explanations: the side's ``ref`` column, else its key columns."""
        own = self.side(side).ref
        cols = [own] if own else self.key_cols(side) or ([getattr(self.rule.fuzzy, side)] if self.rule.fuzzy else [])
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
    if (part := c.rf.pairing.partition) is not None:
        keys += f"a.{ident(part.column(side))} AS pk, "  # pairs never cross partitions (``pairs_sql``)
    if c.grouped(side):
        group_by = c.side(side).group_by or []
        excl = c.side(side).sum_exclude
        amount = c.item_amount(side, "a")
        member = f"CASE WHEN {filter_sql(excl, 'a', params)} THEN 0 ELSE {amount} END" if excl else amount
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
            where=f"{filter_sql(c.side(side), 'a', params)} AND {restrict}",
            group_not_null=" AND ".join(f"a.{ident(g)} IS NOT NULL" for g in group_by),
            group_cols=", ".join(f"a.{ident(g)}" for g in group_by),
        )
    fz = "CAST(NULL AS VARCHAR)"
    if c.rule.fuzzy is not None:
        f = c.rule.fuzzy
        fz = norm_expr(f"a.{ident(f.left if side == 'left' else f.right)}", f.steps(side), params)
    filt = filter_sql(c.side(side), "a", params)
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
    where = " AND ".join([filter_sql(c.side(side), "a", params), *(f"a.{ident(g)} IS NOT NULL" for g in group_by)])
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
    if c.rf.pairing.partition is not None:
        join_on = " AND ".join(x for x in (join_on, "l.pk IS NOT DISTINCT FROM r.pk") if x)

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
