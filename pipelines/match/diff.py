"""Diff: what new matching rules change on a business date, per rule (the logic of ``recon rules diff``).

``snapshot`` takes the matches (by rule and the set of their items) and the breaks that a matching run
left in a connection; ``diff_snapshots`` compares two of them: per rule the matches gained and lost and
the breaks opened and closed (by their closest rule), with examples. Both only read; nothing is printed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb
import polars as pl

from pipelines.match.rules import MATCHABLE_TABLES


@dataclass
class Snapshot:
    matches: pl.DataFrame  # rule_id, signature, members
    breaks: pl.DataFrame  # break_id, break_type, closest_rule, reason
    per_rule: dict[str, int] = field(default_factory=dict)


def snapshot(con: duckdb.DuckDBPyConnection, per_rule: dict[str, int]) -> Snapshot:
    """The matches (by rule and the set of their items) and the breaks of the matching in ``con``."""
    union = " UNION ALL ".join(f"SELECT item_id, item_label FROM items_{t}" for t in MATCHABLE_TABLES)
    matches = pl.from_arrow(
        con.sql(
            "SELECT CAST(m.rule_id AS VARCHAR) AS rule_id, "
            "string_agg(CAST(m.item_table AS VARCHAR) || ':' || CAST(m.item_id AS VARCHAR), ',' "
            "ORDER BY m.item_table, m.item_id) AS signature, "
            "string_agg(a.item_label, ' + ' ORDER BY m.side, m.item_id) AS members "
            f"FROM match_rows AS m JOIN ({union}) AS a ON a.item_id = m.item_id GROUP BY m.match_id, m.rule_id"
        ).to_arrow_table()
    )
    breaks = pl.from_arrow(
        con.sql(
            "SELECT break_id, break_type, coalesce(closest_rule, '(no rule)') AS closest_rule, reason FROM break_list"
        ).to_arrow_table()
    )
    assert isinstance(matches, pl.DataFrame) and isinstance(breaks, pl.DataFrame)
    return Snapshot(matches, breaks, per_rule)


def diff_snapshots(old: Snapshot, new: Snapshot, examples: int = 5) -> dict[str, Any]:
    """Per rule: matches before and after, gained and lost; breaks opened and closed (by their closest rule)."""
    gained = new.matches.join(old.matches, on=["rule_id", "signature"], how="anti")
    lost = old.matches.join(new.matches, on=["rule_id", "signature"], how="anti")
    opened = new.breaks.join(old.breaks, on="break_id", how="anti")
    closed = old.breaks.join(new.breaks, on="break_id", how="anti")
    rules = sorted(
        set(old.per_rule)
        | set(new.per_rule)
        | set(opened["closest_rule"].to_list())
        | set(closed["closest_rule"].to_list())
    )
    out: dict[str, Any] = {"rules": {}}
    for rid in rules:
        g = gained.filter(pl.col("rule_id") == rid)
        lo = lost.filter(pl.col("rule_id") == rid)
        op = opened.filter(pl.col("closest_rule") == rid)
        cl = closed.filter(pl.col("closest_rule") == rid)
        out["rules"][rid] = {
            "matches_before": old.per_rule.get(rid),
            "matches_after": new.per_rule.get(rid),
            "matches_gained": g.height,
            "matches_lost": lo.height,
            "breaks_opened": op.height,
            "breaks_closed": cl.height,
            "examples": {
                "gained": g["members"].head(examples).to_list(),
                "lost": lo["members"].head(examples).to_list(),
                "opened": [f"{r['break_type']}: {r['reason']}" for r in op.head(examples).iter_rows(named=True)],
                "closed": [f"{r['break_type']}: {r['reason']}" for r in cl.head(examples).iter_rows(named=True)],
            },
        }
    out["totals"] = {
        "matches_before": old.matches.height,
        "matches_after": new.matches.height,
        "matches_gained": gained.height,
        "matches_lost": lost.height,
        "breaks_before": old.breaks.height,
        "breaks_after": new.breaks.height,
        "breaks_opened": opened.height,
        "breaks_closed": closed.height,
    }
    return out
