"""Crash points for the fault tests: ``RECON_FAILPOINT=<name>`` makes the process kill itself (SIGKILL, no
clean-up, as a power cut or the OOM killer would) when it reaches the point of that name.

Every step boundary of a run has one (``FAILPOINTS``). The fault matrix (``tests/run/test_fault_matrix.py``,
``python -m bench.faults``) runs the pipeline once per point and checks that the workspace is left in the
old state or the new one and that the re-run is byte-identical to an uninterrupted sequence. Unset (the
default) a failpoint costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "RECON_FAILPOINT"

#: the step boundaries of a run, in the order a run reaches them
FAILPOINTS = (
    "after-ingest",
    "after-register",
    "after-normalise",
    "after-record-statuses",
    "after-outputs-written",
    "catalog-commit",
    "after-catalog-commit",
    "after-switch",
)


def failpoint(name: str) -> None:
    """Die here, at once, when ``RECON_FAILPOINT`` names this point."""
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
