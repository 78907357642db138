"""A pairing partitioned by channel (``partition: {left: psp_channel, right: channel}``): an order pairs only
with lines of the PSP that processed it, for matching and for the near miss named in its break; each
partition matched on its own and joined gives the one-process result; the declaration is validated."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from helpers import DAY, order, psp, settings_in, stage
from match_helpers import EXACT_PSP_REFERENCE, ORDERS_PSP, rules_dir

from pipelines.core.channels import RulesError, load_channels
from pipelines.core.config import PROJECT_ROOT, Settings
from pipelines.match.engine import PARTITION_TABLES, PartitionResult, partitions, run_matching
from pipelines.match.rules import load_rules
from pipelines.run.reconcile import reconcile
from pipelines.run.result import RunResult


def _rules(tmp_path: Path, partitioned: bool) -> Path:
    header = ORDERS_PSP
    if partitioned:
        header = header.replace("  breaks:\n", "  partition: {left: psp_channel, right: channel}\n  breaks:\n", 1)
    return rules_dir(tmp_path / ("p" if partitioned else "u"), {"10_orders_psp.yaml": header + EXACT_PSP_REFERENCE})


def _run(tmp_path: Path, orders: list[dict[str, Any]], lines: list[dict[str, Any]], partitioned: bool) -> RunResult:
    """Reconcile the rows, each channel's lines in a file of its own (a file is one channel's), with the
    one-rule orders/PSP pairing, partitioned or not."""
    s = settings_in(tmp_path)
    s = Settings(home=s.home, rules=_rules(tmp_path, partitioned))
    strip = [{k: v for k, v in r.items() if k != "expected"} for r in orders]
    statuses = {"f_orders": stage(s, "orders", strip, "f_orders")}
    for ch in ("adyen_eu", "stripe_eu"):
        mine = [{k: v for k, v in r.items() if k != "expected"} for r in lines if r["channel"] == ch]
        statuses[f"f_{ch}"] = stage(s, "psp_settlement_lines", mine, f"f_{ch}")
    return reconcile(s, DAY, load_rules(s.rules), load_channels(s.rules), statuses, {k: k for k in statuses})


def _outcomes(result: RunResult, file_id: str) -> list[str]:
    """The outcome of each line of a file, a break by its type, in line order."""
    o = result.outcomes.filter(pl.col("file_id") == file_id).sort("line_no")
    types = dict(zip(result.breaks["break_id"], result.breaks["break_type"], strict=True))
    return [types[ref] if kind == "break" else kind for kind, ref in zip(o["outcome"], o["ref"], strict=True)]


def test_an_order_pairs_only_with_lines_of_its_own_channel(tmp_path: Path) -> None:
    orders = [
        order("A1", 1000, psp_reference="R1", psp_channel="adyen_eu"),
        # Adyen reports a payment under the reference of an order Stripe processed: not its settlement
        order("S1", 2000, psp_reference="R2", psp_channel="stripe_eu"),
        order("S2", 3000, psp_reference="R3", psp_channel="stripe_eu"),
    ]
    lines = [
        psp("R1", 1000, channel="adyen_eu", payout_id="PA"),
        psp("R2", 2000, channel="adyen_eu", payout_id="PA"),
        psp("R3", 3000, channel="stripe_eu", payout_id="PS"),
    ]
    result = _run(tmp_path / "p", orders, lines, partitioned=True)
    assert _outcomes(result, "f_orders") == ["matched", "order_not_settled", "matched"]
    assert _outcomes(result, "f_adyen_eu") == ["matched", "psp_line_without_order"]
    assert _outcomes(result, "f_stripe_eu") == ["matched"]
    # without the partition S1 pairs with the Adyen line, as if Adyen had settled an order Stripe processed
    result = _run(tmp_path / "u", orders, lines, partitioned=False)
    assert _outcomes(result, "f_orders") == ["matched", "matched", "matched"]


def test_a_near_miss_is_looked_for_in_the_same_partition_only(tmp_path: Path) -> None:
    orders = [
        order("A1", 1000, psp_reference="R1", psp_channel="adyen_eu"),
        order("S1", 1000, psp_reference="R1", psp_channel="stripe_eu"),
    ]
    lines = [psp("R1", 1001, channel="adyen_eu", payout_id="PA"), psp("X9", 5000, channel="stripe_eu", payout_id="PS")]
    result = _run(tmp_path, orders, lines, partitioned=True)
    # the Adyen line's near miss is the Adyen order (an amount mismatch), never the Stripe one
    assert _outcomes(result, "f_adyen_eu") == ["amount_mismatch"]
    assert _outcomes(result, "f_orders") == ["amount_mismatch", "order_not_settled"]
    (brk,) = result.breaks.filter(pl.col("break_type") == "amount_mismatch").rows(named=True)
    assert brk["item_table"] == "psp_settlement_lines" and "A1" in str(brk["reason"])


def _state(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    return {t: sorted(repr(row) for row in con.execute(f"SELECT * FROM {t}").fetchall()) for t in PARTITION_TABLES}


def test_each_partition_matched_alone_and_joined_is_the_one_process_result(tmp_path: Path) -> None:
    """Engine level, on the loaded state of a generated day: the union of the partitions' rows equals the first
    pairing's rows of the one-process run, and joining them gives every pairing's rows of that run."""
    from pipelines.match.load import STAGED_TABLES, load_day
    from pipelines.run.intake import plan
    from pipelines.run.reconcile import open_run
    from pipelines.run.stages import context, ingest_channel, normalise_channels, record_statuses, register_files
    from samplegen.day import write_day

    day = dt.date(2026, 11, 26)
    shutil.copytree(PROJECT_ROOT / "rules", tmp_path / "rules")
    write_day(tmp_path / "data_samples", day, 3000, seed=11)
    # harder than the generated day: every order comes twice (duplicates across partitions once moved) and
    # every 7th names the other PSP (its settlement is then in another partition)
    extract = tmp_path / "data_samples" / "orders" / f"orders_{day.isoformat()}.csv"
    with extract.open(newline="", encoding="utf-8") as fh:
        header, *rows = list(csv.reader(fh))
    col = header.index("psp_channel")
    other = {"adyen_eu": "stripe_eu", "stripe_eu": "adyen_eu"}
    moved = [[*r[:col], other.get(r[col], r[col]), *r[col + 1 :]] if i % 7 == 0 else r for i, r in enumerate(rows)]
    with extract.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows([header, *rows, *moved])
    home, r = str(tmp_path / "var"), str(tmp_path / "rules")
    ids = [c.id for c in load_channels(tmp_path / "rules").values()]
    register_files([ingest_channel(c, home, r) for c in ids], home, r)
    record_statuses(normalise_channels(ids, day, home, r), home, r)
    ctx = context(home, r)
    statuses = ctx.catalog.file_statuses()
    intake = plan(ctx.settings, day, statuses)
    taken = {t: intake.paths(t) for t in STAGED_TABLES}

    @contextlib.contextmanager
    def loaded() -> Iterator[duckdb.DuckDBPyConnection]:
        with open_run(ctx.settings) as con:
            load_day(con, ctx.settings, day, ctx.catalog.history_for(day), taken, set(statuses))
            yield con

    with loaded() as con:
        one = run_matching(con, ctx.ruleset)
        whole = _state(con)
    first = ctx.ruleset.pairings()[0][0]
    results: list[PartitionResult] = []
    union: dict[str, list[str]] = {t: [] for t in PARTITION_TABLES}
    names = [c.id for c in ctx.channels.values() if c.kind == "psp"]
    for n, part in enumerate(partitions(names)):
        with loaded() as con:
            per_rule = run_matching(con, ctx.ruleset, part=part)
            for t, got in _state(con).items():
                union[t] += got
                con.execute(f"COPY {t} TO '{tmp_path}/{n}_{t}.parquet' (FORMAT parquet)")
        results.append(
            PartitionResult({t: f"read_parquet('{tmp_path}/{n}_{t}.parquet')" for t in PARTITION_TABLES}, per_rule)
        )
    assert sum(len(v) for v in union.values()) > 0
    with loaded() as con:
        joined = run_matching(con, ctx.ruleset, joined=results)
        assert joined == one
        assert _state(con) == whole
        # the partitions' rows are the first pairing's rows of the one-process run, each exactly once
        mine = con.execute(f"SELECT count(*) FROM match_rows WHERE pairing = '{first}'").fetchone()
    assert mine is not None and len(union["match_rows"]) == mine[0] > 0


def test_only_the_first_pairing_may_be_partitioned_and_a_group_must_not_span_partitions(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", rules)
    f = rules / "matching" / "20_payouts_bank.yaml"
    f.write_text(f.read_text().replace("  breaks:\n", "  partition: {left: channel, right: channel}\n  breaks:\n", 1))
    with pytest.raises(RulesError) as exc:
        load_rules(rules)
    text = str(exc.value)
    assert "20_payouts_bank.yaml: pairing: field 'partition': only the first pairing" in text
    # grouped by payout, not by channel: a payout group could span two partitions
    f.write_text(f.read_text().replace("group_by: [channel, payout_id, payout_reference]", "group_by: [payout_id]"))
    with pytest.raises(RulesError) as exc:
        load_rules(rules)
    assert "rule payout_batch_to_bank_credit: field 'left.group_by': the pairing is partitioned by 'channel'" in str(
        exc.value
    )
