"""UPI merchant settlement report (India's Unified Payments Interface) to ``psp_settlement_lines``.

Layout, documented here (NPCI's raw and NTSL settlement files go to member banks and are not public): the
merchant settlement report acquiring banks and payment aggregators hand out, one line per UPI
transaction settled to the merchant, comma-separated, UTF-8:

``UPI Transaction ID,RRN,Order ID,Transaction Type,Transaction Date,Transaction Amount,MDR,GST,Net Amount,
Settlement Date,Settlement UTR,Payer VPA,Status``

- ``Transaction Type``: PAY or COLLECT (payments), REFUND, CHARGEBACK, ADJUSTMENT;
- amounts in INR with a decimal point, unsigned (refunds and chargebacks are debits); MDR is the fee and
  GST the tax on it, both costs; Net Amount = Transaction Amount - MDR - GST on every row;
- ``Transaction Date``: ISO 8601 with offset (+05:30); ``Settlement UTR`` the bank transfer that paid
  the settlement out (the payout id);
- ``Status``: SUCCESS; a FAILED or PENDING line is not a settled line and is rejected.

The RRN (retrieval reference number) is the PSP reference, the Order ID ours. Sample:
``data_samples/formats/upi/``.
"""

from __future__ import annotations

from pathlib import Path

from pipelines.formats.base import ParseContext, ParseResult
from pipelines.formats.psputil import TABLE, SettlementCsv, parse_settlement_csv

CONTROL_TOTALS = "net = amount - MDR - GST on every row"
SPEC = SettlementCsv(
    required=("UPI Transaction ID", "RRN", "Transaction Type", "Transaction Amount", "Transaction Date"),
    type_column="Transaction Type",
    type_map={
        "pay": "payment",
        "collect": "payment",
        "refund": "refund",
        "chargeback": "chargeback",
        "adjustment": "adjustment",
    },
    gross="Transaction Amount",
    fees=("MDR",),
    tax="GST",
    net="Net Amount",
    fixed_currency="INR",
    timestamp="Transaction Date",
    psp_reference="RRN",
    merchant_reference="Order ID",
    related_reference="UPI Transaction ID",
    payout_id="Settlement UTR",
    payout_date="Settlement Date",
    status="Status",
    excluded_statuses=("failed", "pending"),
    signed=False,
)

__all__ = ["CONTROL_TOTALS", "SPEC", "TABLE", "parse"]


def parse(path: Path, ctx: ParseContext) -> ParseResult:
    return parse_settlement_csv(path, ctx, SPEC)
