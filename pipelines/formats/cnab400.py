"""Brazilian CNAB 400 collection return file to ``payment_status``: see ``cnab`` for the layout and checks."""

from __future__ import annotations

from pathlib import Path

from pipelines.formats.base import ParseContext, ParseResult
from pipelines.formats.cnab import CONTROL_TOTALS, TABLE, parse_400

__all__ = ["CONTROL_TOTALS", "TABLE", "parse"]


def parse(path: Path, ctx: ParseContext) -> ParseResult:
    return parse_400(path, ctx)
