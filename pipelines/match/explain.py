"""Explain: why an item ended as it did, once ``engine.run_matching`` ran (``recon rules explain``).

Its matches (rule, partners, differences) or breaks, and for every rule that could take it the nearest
candidates with each condition passed or failed, drawn from the same pairs (``compile.pairs_sql``) that
matching uses. It only reads the connection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import duckdb

from pipelines.core.sqlfiles import ident
from pipelines.match.compile import (
    Compiled,
    Params,
    compile_rules,
    filter_sql,
    filter_values_sql,
    pairs_sql,
    units_sql,
)
from pipelines.match.rules import MATCHABLE_TABLES, BusinessDateWindow, RuleSet

_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")


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
    from pipelines.core import schema

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


def format_money(minor: Any, currency: Any) -> str:
    from pipelines.core import money

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
    tol = f"tolerance {format_money(row['tol'], rc)}"
    if a.tolerance_bps:
        tol += f" ({a.tolerance_minor} minor units or {a.tolerance_bps} bps of the right amount)"
    fee = ""
    if a.fee is not None:
        fee = f"; fee {a.fee.column} of the {a.fee.side} side explains gross ({a.gross_side}) - fee = net"
    detail = (
        f"left {format_money(row['l_cmp'], rc if row['fx_rate'] is not None else lc)} "
        f"vs right {format_money(row['r_cmp'], rc)}: "
        f"difference {format_money(row['diff'], rc)}, {tol}{fee}"
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
    filt = filter_sql(c.side(side), "a", params)
    row = _rows(
        con,
        f"SELECT {filt} AS ok, {filter_values_sql(c.side(side), 'a')} AS vals FROM {table} AS a WHERE a.item_id = $me",
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
            f"as a member of group {u['ref']} ({u['n_members']} items, "
            f"total {format_money(u['amount'], u['currency'])})"
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
        values, used_by = filter_values_sql(c.side(other), "cv"), "ub.by"
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
