"""Worldpay settlement detail report (CSV) to ``psp_settlement_lines``.

Layout: one line per settled transaction with its fees, as in Worldpay's merchant settlement detail
reports: Merchant ID, Batch ID, Transaction Date (ISO 8601 UTC), Settlement Date, Transaction Type,
Order Code (our reference), Worldpay Reference, Payment Method, Settlement Currency, Gross Settlement
Amount, Interchange Fee, Scheme Fee, Processing Fee, Net Settlement Amount, Payout Reference. No real
sample was available; this layout follows the published column descriptions as summarised here and is
exercised by ``data_samples/formats/worldpay/``. Columns are read by name, so extra columns are ignored.

Amounts are major-unit decimals, gross and net signed from our side (a refund or chargeback is negative),
fees positive costs. Net = gross - interchange - scheme - processing fee on every row, else the row is
rejected. The report has no file-level control total.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.formats.base import ParseContext, ParseResult
from pipelines.formats.psputil import TABLE, SettlementCsv, parse_settlement_csv

CONTROL_TOTALS = "net = gross - fees on every row"
SPEC = SettlementCsv(
    required=("Transaction Type", "Settlement Currency", "Gross Settlement Amount", "Net Settlement Amount"),
    type_column="Transaction Type",
    type_map={
        "sale": "payment",
        "capture": "payment",
        "refund": "refund",
        "chargeback": "chargeback",
        "chargeback_reversal": "chargeback",
        "fee": "fee",
        "adjustment": "adjustment",
        "payout": "payout",
    },
    gross="Gross Settlement Amount",
    fees=("Interchange Fee", "Scheme Fee", "Processing Fee"),
    net="Net Settlement Amount",
    currency="Settlement Currency",
    timestamp="Transaction Date",
    psp_reference="Worldpay Reference",
    merchant_reference="Order Code",
    payout_id="Payout Reference",
    payout_date="Settlement Date",
    batch_id="Batch ID",
    payment_method="Payment Method",
    merchant_account="Merchant ID",
)

__all__ = ["CONTROL_TOTALS", "SPEC", "TABLE", "parse"]


def parse(path: Path, ctx: ParseContext) -> ParseResult:
    return parse_settlement_csv(path, ctx, SPEC)
