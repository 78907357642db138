"""Classify: what each pairing leaves unmatched, named as breaks once its rules have run.

Items set aside as duplicates before matching (either side) become duplicate breaks naming the item they
repeat, and are no candidate in any other item's break. Every unmatched item gets the nearest candidate of
each rule and the condition it failed (a near miss); an item tied between equally near candidates becomes an
``ambiguous match`` break, never settled by row order; unmatched groups of grouped rules are classified
against their nearest counterpart; what a pairing owns and still lacks an outcome gets its declared break or
outcome; an item no pairing names gets a ``no_applicable_rule`` break. Reads the working sets ``engine`` left
and the same pairs (``compile.pairs_sql``) matching used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import duckdb

from pipelines.core import sqlfiles
from pipelines.core.sqlfiles import ident
from pipelines.match.compile import (
    PATTERN_KEYS,
    PATTERN_STEPS,
    Compiled,
    OpenItems,
    Params,
    execute,
    filter_values_sql,
    key_pattern,
    norm_expr,
    not_duplicate_sql,
    pairs_sql,
    units_sql,
)
from pipelines.match.rules import MATCHABLE_TABLES, NON_BREAK_OUTCOMES, RuleFile


# --------------------------------------------------------------------------------------------------
# breaks: the nearest candidate of every unmatched item and the condition it failed
# --------------------------------------------------------------------------------------------------
def _vocab(rf: RuleFile) -> dict[str, str]:
    return {k: str(v) for k, v in rf.pairing.breaks.model_dump().items() if v is not None}


def _fee_notes(c: Compiled) -> dict[str, str]:
    notes = {"l_fee_note": "", "r_fee_note": ""}
    for side, key in (("left", "l_fee_note"), ("right", "r_fee_note")):
        if c.fee_on(side):
            notes[key] = "net of fee" if c.rule.amount.gross_side == side else "with fee"
    return notes


NORMALISED_KEYS = "nk_"  # prefix of the tables of normalised keys (``normalised_keys``)


def normalised_keys(con: duckdb.DuckDBPyConnection, c: Compiled) -> str:
    """A table (``item_id``, ``h``) of the hash of the first key of a rule's left side as the rule normalises
    it, for every item of the left table with a key: made once per table, column and normalisation while the
    run's tables stay loaded (``drop_normalised_keys``), so the rules that share a normalised key do not each
    normalise every item again. A hash (eight bytes) rather than the key: the table only narrows the items a
    probe reads (``_keyed_left``), the pairs then join on the keys themselves."""
    params = Params()
    key = norm_expr(f"a.{ident(c.key_cols('left')[0])}", c.rule.keys[0].steps("left"), params)
    select = f"SELECT a.item_id, {key} AS k FROM {ident(c.table('left'))} AS a"
    digest = hashlib.sha256(repr((select, sorted(params.values.items()))).encode()).hexdigest()[:16]
    name = NORMALISED_KEYS + digest
    sql = (
        f"CREATE TEMP TABLE IF NOT EXISTS {ident(name)} AS "
        f"SELECT item_id, hash(k) AS h FROM ({select}) WHERE k IS NOT NULL"
    )
    execute(con, sql, params)
    return name


def drop_normalised_keys(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the tables of ``normalised_keys`` (before the run's tables are loaded again, and with the scratch)."""
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary AND starts_with(table_name, $prefix)",
        {"prefix": NORMALISED_KEYS},
    ).fetchall()
    for (name,) in rows:
        con.execute(f"DROP TABLE IF EXISTS {ident(str(name))}")


def _keyed_left(con: duckdb.DuckDBPyConnection, c: Compiled, ru: str, params: Params) -> str:
    """The left items whose first key, normalised, is the first key of one of the right units ``ru``: the only
    ones a pair of a keyed rule can join (``pairs_sql`` joins on every key). A key compared as it is on the left
    is looked up as it is; one normalised on both sides (text then) through the hashes of ``normalised_keys``;
    otherwise (normalised on the left only: the join may compare text with another type) every left item. The
    ids are gathered first (``near_left``): few, so the rows are then looked up from them."""
    key, left = c.rule.keys[0], ident(c.table("left"))
    column = f"a.{ident(c.key_cols('left')[0])}"
    if not key.steps("left"):
        keyed = f"SELECT a.item_id FROM {left} AS a WHERE {column} IN (SELECT k0 FROM ({ru}))"
    elif key.steps("right"):
        pattern = _key_pattern(con, c, ru, params)
        if pattern == "":  # no unmatched item has a key: no left item can be near by key
            keyed = f"SELECT a.item_id FROM {left} AS a WHERE FALSE"
        elif pattern is not None:
            text = f"CAST({column} AS VARCHAR)"
            keyed = (
                f"SELECT a.item_id FROM {left} AS a "
                f"WHERE strlen({text}) <> length({text}) OR regexp_full_match({text}, {params.bind(pattern)})"
            )
        else:
            hashes = ident(normalised_keys(con, c))
            keyed = f"SELECT n.item_id FROM {hashes} AS n WHERE n.h IN (SELECT hash(k0) FROM ({ru}))"
    else:
        return left
    execute(con, f"CREATE OR REPLACE TEMP TABLE near_left AS {keyed}", params)
    return f"(SELECT a.* FROM {left} AS a WHERE a.item_id IN (SELECT item_id FROM near_left))"


def _key_pattern(con: duckdb.DuckDBPyConnection, c: Compiled, ru: str, params: Params) -> str | None:
    """``key_pattern`` of the left key's steps for the first keys of the right units ``ru`` (few: the unmatched
    items): the left items it matches, and those with a key outside ASCII, hold every item whose normalised
    key is one of them, found by a scan that neither normalises nor stores every key. ``""``: no keys."""
    if not set(s.op for s in c.rule.keys[0].steps("left")) <= PATTERN_STEPS:
        return None
    sql = f"SELECT DISTINCT k0 FROM ({ru}) WHERE k0 IS NOT NULL LIMIT {PATTERN_KEYS + 1}"
    keys = [str(r[0]) for r in sqlfiles.rows(con, sql, params.values)]
    return key_pattern(c.rule.keys[0].steps("left"), keys) if keys else ""


def _near_single(con: duckdb.DuckDBPyConnection, c: Compiled, ws: OpenItems, rank: int) -> None:
    """Near rows of a one-to-one or fuzzy rule for the pairing's unmatched right items."""
    params = Params(values={"pairing": c.pname})
    primary = f"(SELECT a.* FROM {ident(c.table('right'))} AS a JOIN unmatched_right AS um ON um.item_id = a.item_id)"
    ru = units_sql(c, "right", primary, params)
    if c.rule.kind == "fuzzy":
        lu = units_sql(c, "left", f"({ws.sql('left', params)})", params, probe=True)
        restrict = "p.l_ok AND p.cur_ok AND p.amt_ok AND p.date_ok AND p.sim_ok"
        pairs = pairs_sql(c, lu, ru, params)
    else:
        source = _keyed_left(con, c, ru, params) if c.rule.keys else ident(c.table("left"))
        lu = units_sql(c, "left", source, params, probe=True, restrict=not_duplicate_sql(c.rf, "left"))
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
        l_values=filter_values_sql(c.side("left"), "lv"),
        l_note=l_note,
        r_note=r_note,
    )
    params.values.update({"rank": rank, "rule_id": c.rule.id, "window": c.window_text(), **_fee_notes(c)})
    execute(con, sql, params)


def _classify_groups(con: duckdb.DuckDBPyConnection, c: Compiled, ws: OpenItems, vocab: dict[str, str]) -> None:
    """Breaks of the unmatched groups of a grouped rule, each with its nearest counterpart."""
    p_side = "left" if c.grouped("left") else "right"
    c_side = "right" if p_side == "left" else "left"
    params = Params(values={"pairing": c.pname})
    unclassified = (
        "NOT EXISTS (SELECT 1 FROM classified_members AS cm WHERE cm.pairing = $pairing AND cm.item_id = a.item_id)"
    )
    build = Params(values={"pairing": c.pname})
    sql = units_sql(c, p_side, f"({ws.sql(p_side, build)})", build, restrict=unclassified, members=True)
    execute(con, f"CREATE OR REPLACE TEMP TABLE pu AS {sql}", build)
    units = {p_side: "SELECT * FROM pu"}
    used: tuple[str, ...] = ()
    if c.grouped(c_side):
        build = Params(values={"pairing": c.pname})
        sql = units_sql(c, c_side, f"({ws.sql(c_side, build)})", build, restrict=unclassified, members=True)
        execute(con, f"CREATE OR REPLACE TEMP TABLE cu AS {sql}", build)
        units[c_side] = "SELECT * FROM cu"
    else:
        units[c_side] = units_sql(c, c_side, ident(c.table(c_side)), params, restrict=not_duplicate_sql(c.rf, c_side))
        used = (c_side,)
    join_type = "LEFT JOIN" if p_side == "left" else "RIGHT JOIN"
    pairs = pairs_sql(c, units["left"], units["right"], params, join_type=join_type, used=used)
    p, q = ("l", "r") if p_side == "left" else ("r", "l")
    sign = "" if p_side == "left" else "-"
    execute(con, sqlfiles.render("break_group_pairs", p=p, q=q, sign=sign, pairs=pairs), params)
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
    execute(
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


def _in_scope(alias: str, table: str, condition: str) -> str:
    """`` AND`` the item ``alias``.item_id is one of ``table``'s items meeting ``condition`` (on ``a``)."""
    if condition == "TRUE":
        return ""
    return f" AND {alias}.item_id IN (SELECT a.item_id FROM {ident(table)} AS a WHERE {condition})"


def classify_pairing(
    con: duckdb.DuckDBPyConnection,
    pname: str,
    rf: RuleFile,
    compiled: list[Compiled],
    ws: OpenItems,
    scope: Callable[[str, str], str] = lambda side, alias: "TRUE",
) -> None:
    """The breaks and outcomes of what the pairing leaves. ``scope(side, alias)``: the condition on a side's
    table (as ``alias``) of the items to classify (a partition's; the working sets are restricted alike)."""
    vocab = _vocab(rf)
    lt, rt = rf.pairing.left, rf.pairing.right
    singles = [c for c in compiled if not (c.grouped("left") or c.grouped("right"))]
    groups = [c for c in compiled if c.grouped("left") or c.grouped("right")]

    # 1. duplicates set aside before matching (each side that declares its duplicate columns)
    for side, tbl, break_key in (("left", lt, "left_duplicate"), ("right", rt, "duplicate")):
        cols = rf.pairing.duplicate_columns(side)
        if not cols or break_key not in vocab:
            continue
        execute(
            con,
            sqlfiles.render(
                "break_duplicates", items=ident(f"items_{tbl}"), in_scope=_in_scope("x", tbl, scope(side, "a"))
            ),
            {
                "pairing": pname,
                "side": side,
                "break_type": vocab[break_key],
                "item_table": tbl,
                "columns": ", ".join(cols),
            },
        )

    # 2. unmatched right items of one-to-one (and fuzzy) rules: nearest left candidate under each rule
    params = Params(values={"pairing": pname, "right_table": rt})
    execute(con, sqlfiles.render("near_reset", work_right=ws.sql("right", params)), params)
    for rank, c in enumerate(singles):
        _near_single(con, c, ws, rank)
    if singles:
        execute(
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
        sql = sqlfiles.render(
            "break_leftovers", work=ws.sql(side, params), items=ident(f"items_{tbl}"),
            in_scope=_in_scope("owner", tbl, scope(side, "a")),
        )  # fmt: skip
        execute(con, sql, params)


def classify_unowned(con: duckdb.DuckDBPyConnection) -> None:
    """Items of a table that no pairing names: a break of type no_applicable_rule each."""
    for tbl in MATCHABLE_TABLES:
        execute(con, sqlfiles.render("break_unowned", items=ident(f"items_{tbl}")), {"item_table": tbl})
