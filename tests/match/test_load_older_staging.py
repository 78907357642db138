"""Staged files of an older contract (staged before a canonical column was added) still load, next to newer
ones or alone: the absent column is filled as ``match.load.ADDED_COLUMNS`` says (a payout's reference is its
payout id), so a workspace carrying such rows over an upgrade reconciles them as before."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from helpers import DAY, bank, order, psp, settings_in, stage

from pipelines.core.channels import load_channels
from pipelines.match.rules import load_rules
from pipelines.run.reconcile import reconcile
from pipelines.validate.staging import staging_path


def _drop_payout_reference(settings_home: Path, file_id: str) -> None:
    path = next(settings_home.glob(f"staging/psp_settlement_lines/*/*/{file_id}.parquet"))
    pl.read_parquet(path).drop("payout_reference").write_parquet(path)


@pytest.mark.parametrize("all_old", [False, True])
def test_a_payout_staged_without_its_reference_still_matches_its_credit(tmp_path: Path, all_old: bool) -> None:
    s = settings_in(tmp_path)
    statuses = {
        "fo": stage(s, "orders", [order("o1", 1000, psp_reference="r1"), order("o2", 2000, psp_reference="r2")], "fo"),
        "fp_old": stage(s, "psp_settlement_lines", [psp("r1", 1000, payout_id="P-OLD")], "fp_old"),
        "fp_new": stage(s, "psp_settlement_lines", [psp("r2", 2000, payout_id="P-NEW")], "fp_new"),
        "fb": stage(s, "bank_statement_lines", [bank("P-OLD", 1000), bank("P-NEW", 2000)], "fb"),
    }
    _drop_payout_reference(s.home, "fp_old")
    if all_old:
        _drop_payout_reference(s.home, "fp_new")
    assert staging_path(s, "psp_settlement_lines", DAY, "adyen_eu", "fp_old").exists()
    r = reconcile(s, DAY, load_rules(s.rules), load_channels(s.rules), statuses, {k: k for k in statuses})
    # (the project's channels expect files this small case does not have: those breaks aside, none)
    assert r.breaks.filter(pl.col("break_type") != "expected_file_missing").height == 0
    assert r.summary["invariants"]["one_outcome_per_row"]["ok"]
    bank_matches = r.matches.filter(pl.col("item_table") == "bank_statement_lines")
    assert bank_matches.height == 2
