"""The invariants every run proves before anything is published (README, "Invariants every run proves").

1. every input row has exactly one outcome, and counts add up per file;
2. per file and currency, the amounts of all outcomes add up to the amounts that came in;
3. no item is used twice in a pairing; every match balances within the tolerance recorded on it;
4. net positions recomputed independently from the staged lines and matched credits equal the published ones,
   and so do the withdrawal positions (what the platform owes out per rail, currency and value date, against the
   debits the bank booked), recomputed from the staged orders and the published matches and breaks;
6. over the whole workspace, every staged unit (a file's rows of one table and date, or its quarantined rows)
   dated on or before the run's date was taken by exactly one run, with the rows it holds now: nothing
   received is left unreconciled (README, "Time model"; ``recon coverage`` lists any that is not).

A run whose invariants do not all hold is not published: its folder is kept as ``<run>.failed`` with the
summary, and ``InvariantError`` names the invariants and their details.
"""

from __future__ import annotations

import json
import shutil
from typing import Any

import duckdb
import polars as pl

from pipelines.clearing.positions import recompute_positions, recompute_withdrawal_positions
from pipelines.core import sqlfiles
from pipelines.core.channels import Channel
from pipelines.run.intake import taken_paths
from pipelines.run.result import RunResult


class InvariantError(AssertionError):
    """A run invariant does not hold; the run is not published."""


def check_invariants(
    con: duckdb.DuckDBPyConnection, result: RunResult, uncovered: pl.DataFrame, channels: dict[str, Channel]
) -> dict[str, dict[str, Any]]:
    """Invariants 1-4 and 6 of README, each with its figures; ``ok`` false where one does not hold.
    ``uncovered``: the units of the workspace not taken by exactly one run (``run.intake``); ``channels``: the
    run's channels (the rails' cycles and calendars give the withdrawals' value dates)."""
    out: dict[str, dict[str, Any]] = {}
    con.register("manifest_src", result.manifest.select("file_id", "file_status", "rows_in", "rows_carried"))
    con.execute("CREATE OR REPLACE TEMP TABLE manifest_rows AS SELECT * FROM manifest_src")

    # 1. every input row has exactly one outcome; counts add up per file
    problems = sqlfiles.frame(con, sqlfiles.load("invariant_one_outcome"))
    staged_manifest = result.manifest.filter(pl.col("file_status") == "staged")
    staged_rows = int(staged_manifest["rows_in"].sum()) + int(staged_manifest["rows_carried"].sum())
    n_outcomes = con.sql("SELECT count(*) FROM out_outcomes").fetchall()[0]
    out["one_outcome_per_row"] = {
        "ok": problems.height == 0,
        "rows_in": staged_rows,
        "outcomes": int(n_outcomes[0]) if n_outcomes else 0,
        "detail": problems.head(10).to_dicts(),
    }

    # 2. per file and currency, amounts of all outcomes add up to the amounts that came in
    bad = sqlfiles.frame(con, sqlfiles.load("invariant_amounts"))
    per_currency = sqlfiles.frame(
        con,
        "SELECT currency, outcome, CAST(sum(amount_minor) AS BIGINT) AS amount_minor FROM out_outcomes "
        "WHERE outcome <> 'reference' GROUP BY ALL ORDER BY ALL",
    )
    out["amounts_conserved"] = {
        "ok": bad.height == 0,
        "per_currency_and_outcome": {
            f"{r['currency']}:{r['outcome']}": int(r["amount_minor"] or 0) for r in per_currency.iter_rows(named=True)
        },
        "detail": bad.head(10).to_dicts(),
    }

    # 3. no item used twice in a pairing; every match balances within its recorded tolerance
    match_problems = sqlfiles.frame(con, sqlfiles.load("invariant_matches"))
    matches = int(match_problems.filter(pl.col("problem") == "matches")["n"].sum())
    reused = match_problems.filter(pl.col("problem") == "used_twice")
    unbalanced = match_problems.filter(pl.col("problem") == "unbalanced")
    out["no_item_used_twice"] = {
        "ok": reused.height == 0,
        "reused": reused.height,
        "detail": reused.head(10).to_dicts(),
    }
    out["matches_balance"] = {
        "ok": unbalanced.height == 0,
        "matches": matches,
        "detail": unbalanced.head(10).to_dicts(),
    }

    # 4. positions recomputed from the staged lines and the matched bank credits (pay-ins), and from the staged
    # orders and the bank debits paired with them (withdrawals), equal the published ones
    out["positions_recomputed"] = positions_invariant(result, channels)

    # 6. every staged unit dated on or before the run's date was taken by exactly one run
    out["every_row_taken"] = {
        "ok": uncovered.height == 0,
        "units_taken": result.intake.height,
        "rows_taken": int(result.intake["rows"].sum()),
        "detail": uncovered.drop("path").head(10).to_dicts(),
    }
    return out


def positions_invariant(result: RunResult, channels: dict[str, Channel]) -> dict[str, Any]:
    """Invariant 4: the published positions against their independent recomputation, pay-ins per counterparty and
    currency (``recompute_positions``), withdrawals per rail, currency and value date
    (``recompute_withdrawal_positions``); the detail lists the rows that differ."""
    recomputed = recompute_positions(taken_paths(result.intake, "psp_settlement_lines"), result)
    published = (
        result.positions.filter(pl.col("direction") == "payin")
        .group_by("counterparty", "currency")
        .agg(pl.col("net_expected_minor").sum(), pl.col("received_minor").sum())
        .sort("counterparty", "currency")
    )
    key = ["counterparty", "currency", "value_date"]
    owed = recompute_withdrawal_positions(taken_paths(result.intake, "orders"), result, channels)
    published_owed = (
        result.positions.filter(pl.col("direction") == "withdrawal")
        .select(*key, "net_expected_minor", "received_minor")
        .sort(key)
    )
    payins_ok, withdrawals_ok = recomputed.equals(published), owed.equals(published_owed)
    detail: list[Any] = []
    if not payins_ok:
        detail.append({"payin": {"recomputed": recomputed.to_dicts(), "published": published.to_dicts()}})
    if not withdrawals_ok:
        differ = owed.join(published_owed, on=key, how="full", coalesce=True, suffix="_published").filter(
            (pl.col("net_expected_minor").ne_missing(pl.col("net_expected_minor_published")))
            | (pl.col("received_minor").ne_missing(pl.col("received_minor_published")))
        )
        detail.append({"withdrawal": differ.sort(key).to_dicts()})
    return {
        "ok": payins_ok and withdrawals_ok,
        "positions": result.positions.height,
        "withdrawal_positions": published_owed.height,
        "detail": detail,
    }


def refuse_if_broken(result: RunResult, invariants: dict[str, dict[str, Any]]) -> None:
    """Raise ``InvariantError`` when an invariant does not hold, the run's folder set aside as ``.failed``."""
    failed = [name for name, inv in invariants.items() if not inv["ok"]]
    if not failed:
        return
    folder = result.folder
    failed_dir = folder.with_name(folder.name + ".failed")
    shutil.rmtree(failed_dir, ignore_errors=True)
    folder.rename(failed_dir)
    (failed_dir / "summary.json").write_text(json.dumps(result.summary, indent=2, sort_keys=True, default=str))
    raise InvariantError(
        f"{result.business_date.isoformat()}: invariant(s) failed: {', '.join(failed)}: "
        + "; ".join(str(invariants[n]["detail"]) for n in failed)
    )
