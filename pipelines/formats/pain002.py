"""ISO 20022 pain.002 to ``payment_status``: see ``pain`` for the documentation, rows and control totals."""

from __future__ import annotations

from pathlib import Path

from pipelines.formats.base import ParseContext, ParseResult
from pipelines.formats.pain import CONTROL_TOTALS, TABLE, parse_pain

__all__ = ["CONTROL_TOTALS", "TABLE", "parse"]


def parse(path: Path, ctx: ParseContext) -> ParseResult:
    return parse_pain(path, ctx, "002")
