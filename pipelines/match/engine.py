"""Match engine: the compiled rules of every pairing run in DuckDB, rule by rule in priority order.

Matching keeps the pairs passing every condition of a rule (``compile.pairs_sql``) and takes, pass after
pass, the pairs in which each side is the other's unique best. Ties are never broken by row order: a tied
item stays for a later rule or becomes an ``ambiguous match`` break (``classify``).

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
import functools
import logging
from dataclasses import dataclass, field
from typing import Any

import duckdb
import polars as pl

from pipelines.core import calendars, sqlfiles
from pipelines.core.sqlfiles import ident
from pipelines.match.classify import classify_pairing, classify_unowned, drop_normalised_keys
from pipelines.match.compile import (
    Compiled,
    Params,
    admitted_sql,
    compile_rules,
    execute,
    filter_sql,
    members_sql,
    not_duplicate_sql,
    pairs_sql,
    units_sql,
)
from pipelines.match.rules import MATCHABLE_TABLES, Rule, RuleFile, RuleSet

log = logging.getLogger(__name__)
MAX_PASSES = 32
SIDES = ("left", "right")


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> Any:
    rows = con.execute(sql, params or {}).fetchall()
    return rows[0][0] if rows else None


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(_scalar(con, f"SELECT count(*) FROM {table}") or 0)  # table names here are internal constants


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# --------------------------------------------------------------------------------------------------
# partitions of the first pairing
# --------------------------------------------------------------------------------------------------
OTHER_PARTITION = "other"
# what matching a partition leaves for the join: the partitioned pairing's rows of these tables
PARTITION_TABLES = ("match_rows", "break_list", "break_items", "settled_outcomes", "classified_members")


@dataclass(frozen=True)
class Partition:
    """One partition of the partitioned pairing (``RuleSet.partitioned``): the items whose partition column
    holds ``name``, or, for ``OTHER_PARTITION``, every value no other partition is named by (and nulls).
    ``named``: the names of every partition but ``other``; together they cover every item exactly once."""

    name: str
    named: tuple[str, ...]

    def where(self, column: str, alias: str) -> str:
        col = f"{alias}.{ident(column)}"
        if self.name != OTHER_PARTITION:
            return f"{col} = {_literal(self.name)}"
        if not self.named:
            return "TRUE"
        return f"({col} IS NULL OR {col} NOT IN ({', '.join(_literal(v) for v in self.named)}))"


def partitions(values: list[str]) -> list[Partition]:
    """The partitions of the values ``values`` (the PSP channels' ids), and ``other``."""
    named = tuple(sorted(set(values) - {OTHER_PARTITION}))
    return [Partition(v, named) for v in (*named, OTHER_PARTITION)]


def _in_partition(rf: RuleFile, part: Partition | None, side: str, alias: str) -> str:
    if part is None or rf.pairing.partition is None:
        return "TRUE"
    return part.where(rf.pairing.partition.column(side), alias)


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
        execute(
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
                cases.append(f"WHEN {admitted_sql(rf.rules, side_name, 't', params)} THEN {params.bind(pname)}")
        if not cases:
            execute(
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
        execute(con, sql, params)


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(_scalar(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = $name", {"name": name}))


def mark_duplicates(con: duckdb.DuckDBPyConnection, pname: str, rf: RuleFile) -> None:
    """Items repeating an earlier item of their side on the side's declared columns are set aside as duplicates
    (``excluded``): the first is matched as any other item, each repetition becomes a break of the pairing's
    duplicate type (``classify``).

    Right side (``duplicates``): among the items the pairing's rules admit, the first by own business date,
    file and line. Left side (``left_duplicates``): among the items the pairing admits or owns (an order repeated
    with a status no rule accepts is a repetition too), the first by file and line, an item carried from an
    earlier run before the ones this run takes (it was received first, and keeps its outcome); a repetition
    an earlier pairing set aside is neither marked again nor offered to any pairing (``not_duplicate_sql``)."""
    for side in ("left", "right"):
        cols = rf.pairing.duplicate_columns(side)
        if not cols:
            continue
        table = getattr(rf.pairing, side)
        params = Params()
        scope = admitted_sql(rf.rules, side, "r", params)
        order = "r.business_date, r.file_id, r.line_no"
        if side == "left":
            scope = (
                f"({scope} OR EXISTS (SELECT 1 FROM owner AS o WHERE o.item_table = {params.bind(table)} "
                f"AND o.item_id = r.item_id AND o.pairing = {params.bind(pname)}))"
            )
            # a repetition an earlier pairing set aside is one break already (and offered nowhere)
            scope += " AND NOT EXISTS (SELECT 1 FROM excluded AS x WHERE x.side = 'left' AND x.item_id = r.item_id)"
            order = "r.file_id, r.line_no"
            if _has_table(con, "carried"):
                order = (
                    f"EXISTS (SELECT 1 FROM carried AS c WHERE c.item_table = {params.bind(table)} "
                    f"AND c.file_id = r.file_id AND c.line_no = r.line_no) DESC, {order}"
                )
        sql = sqlfiles.render(
            "mark_duplicates",
            table=ident(table),
            partition=", ".join(f"r.{ident(c)}" for c in cols),
            order=order,
            scope=scope,
            pairing=params.bind(pname),
            side=params.bind(side),
        )
        execute(con, sql, params)


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
    def start(
        cls, pname: str, rf: RuleFile, pairing_no: int, carried: bool = False, part: Partition | None = None
    ) -> WorkingSets:
        """The canonical tables, less duplicates set aside and, with ``carried``, less the items an earlier
        run already matched in this pairing; with ``part``, only the items of that partition."""
        ws = cls(pname, rf, pairing_no)
        ws.source = {"left": ident(rf.pairing.left), "right": ident(rf.pairing.right)}
        ws.columns = {side: referenced_columns(rf.rules, side) for side in ("left", "right")}
        if (key := rf.pairing.partition) is not None:
            ws.columns = {side: sorted({*cols, key.column(side)}) for side, cols in ws.columns.items()}
        ws.restrict = {s: f"{not_duplicate_sql(rf, s)} AND {_in_partition(rf, part, s, 'a')}" for s in SIDES}
        if carried:
            for side in ("left", "right"):
                ws.restrict[side] += (
                    f" AND NOT EXISTS (SELECT 1 FROM carried_matches AS cm WHERE cm.pairing = $pairing "
                    f"AND cm.side = '{side}' AND cm.item_id = a.item_id)"
                )
        return ws

    def sql(self, side: str, params: Params) -> str:
        """A SELECT of the side's open items (admitted by one of the pairing's rules, unused)."""
        admitted = admitted_sql(self.rf.rules, side, "a", params)
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
            admitted=admitted_sql(self.rf.rules, side, "a", params),
            restrict=self.restrict[side],
        )
        params.values.update({"pairing": self.pname, "side": side})
        execute(con, sql, params)
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
        execute(con, sqlfiles.render("match_record_pair", chosen=chosen, **refs), params)
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
            execute(con, sql, params)
            continue
        excl = c.side(side).sum_exclude
        amount = c.item_amount(side, "a")
        member = f"CASE WHEN {filter_sql(excl, 'a', params)} THEN 0 ELSE {amount} END" if excl else amount
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
        execute(con, sql, params)


def run_rule(con: duckdb.DuckDBPyConnection, c: Compiled, ws: WorkingSets) -> int:
    """Match one rule on the pairing's open items; return the number of matches."""
    params = Params(values={"pairing": c.pname})
    sources: dict[str, str] = {}
    for side in ("left", "right"):
        if c.grouped(side):
            build = Params(values={"pairing": c.pname})
            sql = units_sql(c, side, f"({ws.sql(side, build)})", build)
            execute(con, f"CREATE OR REPLACE TEMP TABLE {ident('mu_' + side)} AS {sql}", build)
            sources[side] = f"SELECT * FROM {ident('mu_' + side)}"
        else:
            sources[side] = units_sql(c, side, f"({ws.sql(side, params)})", params)
    pairs = pairs_sql(c, sources["left"], sources["right"], params)
    columns = ", ".join(f"x.{col}" for col in _cand_columns(c))
    execute(con, sqlfiles.render("match_candidates", columns=columns, pairs=pairs), params)
    if not _count(con, "cand"):
        return 0
    con.execute("CREATE OR REPLACE TEMP TABLE taken (side VARCHAR, item_id BIGINT)")
    execute(con, sqlfiles.load("match_select_isolated"))
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
        execute(con, select_best, rank)
        found = _count(con, "chosen")
        if not found:
            break
        _record(con, c, "chosen", ws)
        total += found
    if total:
        execute(
            con,
            "INSERT INTO used_items SELECT $pairing_no, CASE WHEN side = 'left' THEN 0 ELSE 1 END, item_id FROM taken",
            {"pairing_no": c.pairing_no},
        )
        for side in ("left", "right"):
            ws.shrink(con, side)
    return total


# --------------------------------------------------------------------------------------------------
# pairings: carried matches, every pairing in turn, scratch tables
# --------------------------------------------------------------------------------------------------
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


@dataclass
class PartitionResult:
    """What matching one partition decided: its rows of ``PARTITION_TABLES`` (relations or files readable by
    ``read_parquet``, per table) and its matches per rule."""

    rows: dict[str, str]
    per_rule: dict[str, int]


def run_matching(
    con: duckdb.DuckDBPyConnection,
    ruleset: RuleSet,
    *,
    part: Partition | None = None,
    joined: list[PartitionResult] | None = None,
) -> dict[str, int]:
    """Run every pairing's rules in priority order, then classify what is left. Returns matches per rule.

    With ``part``: only the first pairing (``RuleSet.partitioned``), on that partition's items; its rows of
    ``PARTITION_TABLES`` are the partition's result. With ``joined`` (the results of every partition): the
    first pairing's matches and breaks are those rows, and the other pairings run as usual. A pair never crosses
    partitions (``compile.pairs_sql``) and ownership and duplicates are decided on all items in both, so the
    joined result is the one-process result.

    Needs the canonical tables, ``fx_rates``, ``currency_exponents`` and the ``fmt_money`` macro in ``con``
    (as ``reconcile`` loads them).
    """
    if (part is not None or joined is not None) and ruleset.partitioned() is None:
        raise ValueError("the first pairing declares no partition")
    compiled = compile_rules(ruleset)
    execute(
        con,
        sqlfiles.load("match_state"),
        {"rule_ids": [c.rule.id for c in compiled], "pairings": [p for p, _ in ruleset.pairings()]},
    )
    execute(con, sqlfiles.load("match_macros"))
    execute(con, sqlfiles.load("item_views"))
    drop_normalised_keys(con)  # of tables loaded before
    prepare_reference(con, compiled)
    compute_owners(con, ruleset)
    carried = _carry_matches(con, compiled)
    per_rule: dict[str, int] = {}
    pairings = ruleset.pairings()
    for pairing_no, (pname, rf) in enumerate(pairings[:1] if part is not None else pairings, start=1):
        mark_duplicates(con, pname, rf)
        mine = [c for c in compiled if c.pname == pname]
        if joined is not None and pairing_no == 1:
            per_rule.update(_join_partitions(con, joined, mine))
            continue
        ws = WorkingSets.start(pname, rf, pairing_no, carried=pname in carried, part=part)
        for c in mine:
            per_rule[c.rule.id] = run_rule(con, c, ws)
            log.info("rule %s: %d match(es)", c.rule.id, per_rule[c.rule.id])
        classify_pairing(con, pname, rf, mine, ws, scope=functools.partial(_in_partition, rf, part))
    if part is None:
        classify_unowned(con)
    return per_rule


def _join_partitions(
    con: duckdb.DuckDBPyConnection, results: list[PartitionResult], mine: list[Compiled]
) -> dict[str, int]:
    """The first pairing's rows decided by its partitions, in the tables matching fills, and the items its
    matches used (``used_items``, as ``run_rule`` records them)."""
    for table in PARTITION_TABLES:
        for res in results:
            con.execute(f"INSERT INTO {ident(table)} SELECT * FROM {res.rows[table]}")
    if mine:
        con.execute(
            "INSERT INTO used_items SELECT 1, CASE WHEN side = 'left' THEN 0 ELSE 1 END, item_id FROM match_rows "
            "WHERE pairing = $pairing",
            {"pairing": mine[0].pname},
        )
    return {c.rule.id: sum(res.per_rule.get(c.rule.id, 0) for res in results) for c in mine}


# the matching stage's working tables: not needed once its matches, breaks and outcomes are recorded
SCRATCH_TABLES = (
    "used_items", "taken", "chosen", "chosen_isolated", "chosen_members", "classified_members", "cand",
    "cand_rest", "ranked", "multi_l", "multi_r", "mu_left", "mu_right", "pu", "cu", "near", "near_typed",
    "near_claims", "gnear", "gnear_typed", "gpairs", "group_claims", "group_ties", "leftover", "leftover_breaks",
    "unmatched_right", "dup_breaks", "unowned", "near_left",
)  # fmt: skip


def release_scratch(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the working tables of ``run_matching`` (its working sets too), so that a caller that goes on to
    publish has their memory back. ``recon rules explain`` needs them and does not call this."""
    sets = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE regexp_full_match(table_name, 'w[0-9]+_(left|right)_[0-9]+')"
    ).fetchall()
    for name in [*SCRATCH_TABLES, *(str(r[0]) for r in sets)]:
        con.execute(f"DROP TABLE IF EXISTS {ident(name)}")
    drop_normalised_keys(con)
