"""The fault matrix (``bench/faults.py``, also ``python -m bench.faults``): every crash point of a run (a real
SIGKILL), lost staging, catalog or published folder, two runs at once, a full disk and a read-only workspace
(tmpfs mounts: root only). Each must end with the workspace byte-identical to the uninterrupted sequence (or,
where the fault destroyed what only a re-run restores, refused with the command that repairs it), no row lost
and no traceback shown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import faults

MOUNTS = faults.can_mount()
SCENARIOS = faults.scenarios(mounts=True)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[faults.Lab]:
    lab = faults.Lab(Path(tmp_path_factory.mktemp("faults")))
    lab.prepare()
    yield lab


def test_the_uninterrupted_sequence_publishes_three_days(lab: faults.Lab) -> None:
    for day in (faults.D1, faults.D2, faults.D3):
        assert "summary.json" in lab.baseline[day] and ".catalog/run.json" in lab.baseline[day]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_fault(lab: faults.Lab, name: str) -> None:
    if name.startswith(("disk-full", "read-only")) and not MOUNTS:
        pytest.skip("mounting a tmpfs needs root")
    row = SCENARIOS[name](lab)
    calls = "\n".join(f"  rc {c.rc}: recon {' '.join(c.argv[4:])}\n{c.err[-600:]}" for c in row.calls)
    assert row.ok, f"{row.scenario}: {row.happened}; {row.outcome}; lost {row.rows_lost}\n{calls}"
    if name.startswith("crash:"):
        assert row.happened.startswith("killed"), row.happened
    if name.startswith(("disk-full", "read-only")):
        assert row.calls[0].rc != 0 and row.calls[0].err.strip().count("\n") == 0, row.calls[0].err


@pytest.fixture(scope="module")
def hostile_rows(lab: faults.Lab) -> dict[str, faults.Row]:
    """Every hostile delivery of ``faults.HOSTILE`` dropped beside day 2's files, one run."""
    return {r.scenario: r for r in faults.hostile(lab)}


@pytest.mark.parametrize("name", [f"hostile: {n.decode('ascii', 'backslashreplace')}" for _, n, _, _ in faults.HOSTILE])
def test_hostile_delivery(hostile_rows: dict[str, faults.Row], name: str) -> None:
    row = hostile_rows[name]
    call = row.calls[0]
    assert row.ok, f"{row.scenario}: {row.happened}; {row.outcome}\n  rc {call.rc}\n{call.err[-1500:]}"
