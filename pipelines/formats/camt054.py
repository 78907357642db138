"""ISO 20022 camt.054 bank-to-customer debit/credit notification (``BkToCstmrDbtCdtNtfctn``) to
``bank_statement_lines``.

Column documentation: ISO 20022 message definition ``camt.054.001.xx`` (BankToCustomerDebitCreditNotification
V02 .. V13, https://www.iso20022.org/iso-20022-message-definitions), the Swiss Payment Standards camt.054
guide (ESR/QR-bill credit notifications) and the CGI-MP camt.054 guide. Reading, rows, batch breakdowns and
control totals are those of ``camt`` (shared with camt.052/053): a notification has no balances, so its
control total is that every batch breakdown adds up to its entry.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.formats.base import ParseContext, ParseResult
from pipelines.formats.camt import TABLE, parse_camt

__all__ = ["CONTROL_TOTALS", "TABLE", "parse"]

CONTROL_TOTALS = "every batch breakdown adds up to its entry (count, total and signed sum)"


def parse(path: Path, ctx: ParseContext) -> ParseResult:
    return parse_camt(path, ctx, "054")
