"""Shared fixtures. Invariants every run proves (checked by pipelines.reconcile and asserted here):

1. Every input row ends in exactly one outcome: matched, break, quarantined, no_settlement_expected
   (or reference, for FX rates). Counts add up per file.
2. Per file and currency, the amounts of all outcomes add up to the amounts that came in.
3. No item is used twice in a pairing; every match balances within the tolerance recorded on it.
4. Net positions recomputed from the staged lines and matched bank credits equal the published ones.
5. Same inputs and rules give byte-identical outputs.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
logging.getLogger("great_expectations").setLevel(logging.WARNING)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def project_root() -> Path:
    return PROJECT_ROOT
