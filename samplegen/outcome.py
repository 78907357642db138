"""What a correct reconciliation of a written day finds: ``Expected`` with its payouts and planted cases."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Item:
    """One input item: file (relative to the day's folder), physical line, human reference, amount."""

    file: str
    line_no: int | None
    ref: str | None
    amount_minor: int | None
    currency: str | None


@dataclass(frozen=True)
class Case:
    """A planted case: the break (or tolerance match, or quarantined row) and the items it involves."""

    kind: str
    item: Item
    counter: Item | None
    note: str


@dataclass(frozen=True)
class Payout:
    payout_id: str
    channel: str
    currency: str
    amount_minor: int
    file: str
    line_no: int | None  # the MerchantPayout line (Adyen); Stripe payouts have no line of their own
    bank_amount_minor: int | None
    bank_line_no: int | None


@dataclass
class Expected:
    """What a correct reconciliation of the written day finds."""

    business_date: str
    seed: int
    planted: bool
    files: list[str]
    orders_rows: int
    psp_rows: int
    adyen_rows: int
    stripe_rows: int
    bank_rows: int
    fx_rows: int
    withdrawal_orders: int  # of orders_rows: the withdrawals (after the pay-ins)
    payment_status_rows: int  # the rails' status files: pain.002 statuses, NACHA originations and returns
    withdrawal_matches: dict[str, int]  # per withdrawal rule (30, 35, 40), the items it matches
    withdrawals_pending: int  # withdrawals still within their rail's window, without a debit
    withdrawal_breaks: dict[str, int]
    psp_rows_by_type: dict[str, int]
    matched_order_psp_pairs: int
    matched_by_tolerance: int
    payout_bank_matches: int
    breaks: dict[str, int]
    quarantined_rows: dict[str, int]
    no_settlement_expected: int
    payouts: list[Payout] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)
