"""ISO 20022 camt.053 bank-to-customer statement (``BkToCstmrStmt``) to ``bank_statement_lines``.

Column documentation: ISO 20022 message definition ``camt.053.001.xx`` (BankToCustomerStatementV02 ..
V13, https://www.iso20022.org/iso-20022-message-definitions, Cash Management) and its usage guides
(e.g. the Common Global Implementation camt.053 guide). Reading, rows, dates and control totals are
those of ``camt`` (shared with camt.052/054): one row per ``<Ntry>``, or per ``<TxDtls>`` for a batch
entry with a breakdown; statement balances (OPBD/PRCD/ITBD and CLBD/ITBD) checked against the booked
entries; an entry without ``BookgDt`` dated by its value date, else its statement's period end.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.formats import iso20022
from pipelines.formats.base import ParseContext, ParseResult
from pipelines.formats.camt import TABLE, parse_camt

__all__ = ["CONTROL_TOTALS", "MAX_BYTES", "TABLE", "parse"]

CONTROL_TOTALS = (
    "opening balance + credits - debits = closing balance, per statement; "
    "every batch breakdown adds up to its entry (count, total and signed sum)"
)
MAX_BYTES = iso20022.MAX_BYTES


def parse(path: Path, ctx: ParseContext) -> ParseResult:
    return parse_camt(path, ctx, "053", max_bytes=MAX_BYTES)
