"""The withdrawals of the multi-day scenario (``samplegen.scenario``, which holds their plan): the rails they go
out through, their orders, the rails' status files and the bank debits that execute them.

Files (under the scenario's folder)::

    rails/sepa/pain002_<date>.xml        channel sepa_out (pain002): the bank's status report on the day's SEPA batch
    rails/pix/pain002_pix_<date>.xml     channel pix_out  (pain002): the PIX participant's status report
    rails/ach/odfi_<date>.ach            channel ach_out  (nacha): the day's originations and the returns that came

The debits go on the scenario's camt.053 (EUR, BRL and USD accounts) as debit entries (``booked_debits``). The
status files are written by ``samplegen.rails``, as the sample day's are.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from samplegen import plan, rails
from samplegen.bank import _iban
from samplegen.columns import Day


@dataclass(frozen=True)
class Rail:
    """A rail the platform pays withdrawals out through: its channel (folder, file pattern, format, time zone), its
    currency, the payment method its orders name, the customers' country, the bank transaction code of its debits
    and its index in ``samplegen.plan``."""

    channel: str
    folder: str
    pattern: str
    format: str
    timezone: str
    currency: str
    method: str
    country: str
    code: tuple[str, str, str]
    plan_rail: int


_SEPA = ("PMNT", "ICDT", "ESCT")
RAILS = {
    "sepa": Rail(
        "sepa_out",
        "rails/sepa",
        "pain002_*.xml",
        "pain002",
        "Europe/Amsterdam",
        "EUR",
        "sepa_credit_transfer",
        "NL",
        _SEPA,
        plan.SEPA,
    ),
    "pix": Rail(
        "pix_out",
        "rails/pix",
        "pain002_pix_*.xml",
        "pain002",
        "America/Sao_Paulo",
        "BRL",
        "pix",
        "BR",
        ("PMNT", "ICDT", "DMCT"),
        plan.PIX_RAIL,
    ),
    "ach": Rail(
        "ach_out",
        "rails/ach",
        "*.ach",
        "nacha",
        "America/New_York",
        "USD",
        "ach",
        "US",
        ("PMNT", "ICDT", "ACDT"),
        plan.ACH,
    ),
}
# the rails' windows (business days a withdrawal may wait for its debit) on their calendars
RAIL_SETTLEMENT: dict[str, dict[str, Any]] = {
    "sepa_out": {"calendar": "ECB", "window_business_days": 1},
    "pix_out": {"calendar": "BR", "window_business_days": 0},
    "ach_out": {"calendar": "NYSE", "window_business_days": 2},
}
ACH_RDFI = "011000015"  # the receiving bank of the customers' ACH accounts


@dataclass(frozen=True)
class Debit:
    """A bank debit executing a withdrawal: the day it is booked, and an amount or account currency of its own
    (None: the withdrawal's)."""

    day: dt.date
    amount: int | None = None
    currency: str | None = None


@dataclass(frozen=True)
class Withdrawal:
    """A withdrawal ``W<seq>``: its order (``status`` in the order system on its day), its rail's status report
    (``report``: the pain.002 transaction status of SEPA and PIX, with its ``reason``; an ACH credit is acknowledged
    in the ODFI's file of its day), the bank debits that execute it and, for ACH, the day and R code of a return."""

    seq: int
    rail: str
    amount: int  # minor units
    day: dt.date
    status: str = "succeeded"
    report: str | None = "ACSC"
    reason: str | None = None
    debits: tuple[Debit, ...] = ()
    returned: tuple[dt.date, str] | None = None

    @property
    def order_id(self) -> str:
        return f"W{self.seq}"

    @property
    def channel(self) -> str:
        return RAILS[self.rail].channel

    @property
    def currency(self) -> str:
        return RAILS[self.rail].currency

    @property
    def payment_method(self) -> str:
        return RAILS[self.rail].method

    @property
    def country(self) -> str:
        return RAILS[self.rail].country

    @property
    def created_at(self) -> dt.datetime:
        """Creation instant (UTC): 09:<seq> on its day."""
        return dt.datetime.combine(self.day, dt.time(9, self.seq), tzinfo=dt.UTC)

    @property
    def end_to_end_id(self) -> str:
        """What the bank debit and the rail's report carry: the order id (ACH: the NACHA individual id, the order
        id without punctuation)."""
        return self.order_id.replace("-", "") if self.rail == "ach" else self.order_id

    def rail_order(self) -> rails.WithdrawalOrder:
        """The withdrawal as the rail files of ``samplegen.rails`` write it (the customer's account from its seq)."""
        n = self.seq
        if self.rail == "sepa":
            account, routing = _iban("NL", f"RABO{4100000000 + n:010d}"), None
        elif self.rail == "pix":
            account, routing = f"{1000 + n:04d}-{40000000 + n:08d}-{n % 10}", None
        else:
            account, routing = f"{770000000000 + n:012d}", ACH_RDFI
        spec = plan.Withdrawal("scenario", RAILS[self.rail].plan_rail, self.status, self.report, self.reason)
        created = int(self.created_at.timestamp())
        customer = plan.CUSTOMERS[n % len(plan.CUSTOMERS)]
        return rails.WithdrawalOrder(
            n, self.order_id, spec, self.amount, created, self.country, customer, account, routing
        )


@dataclass(frozen=True)
class OtherDebit:
    """A debit of the statement that no withdrawal explains (a supplier payment)."""

    day: dt.date
    end_to_end_id: str
    amount: int
    currency: str
    creditor: str
    remittance: str


@dataclass(frozen=True)
class BookedDebit:
    """A debit entry of a day's statement: account currency, end-to-end id, amount, creditor, remittance text and
    bank transaction code."""

    currency: str
    end_to_end_id: str
    amount: int
    creditor: str
    remittance: str
    code: tuple[str, str, str]


def booked_debits(
    withdrawals: tuple[Withdrawal, ...], others: tuple[OtherDebit, ...], day: dt.date
) -> list[BookedDebit]:
    """The debits booked on ``day``: the withdrawals', in their order, then the others."""
    out = [
        BookedDebit(
            d.currency or w.currency,
            w.end_to_end_id,
            w.amount if d.amount is None else d.amount,
            w.rail_order().customer,
            f"{w.payment_method.upper()} WITHDRAWAL {w.order_id}",
            RAILS[w.rail].code,
        )
        for w in withdrawals
        for d in w.debits
        if d.day == day
    ]
    out += [
        BookedDebit(o.currency, o.end_to_end_id, o.amount, o.creditor, o.remittance, _SEPA)
        for o in others
        if o.day == day
    ]
    return out


def ach_position(withdrawals: tuple[Withdrawal, ...], w: Withdrawal) -> int:
    """The position (from 1) of an ACH withdrawal among the originations of its day's ODFI file."""
    return [x for x in withdrawals if x.rail == "ach" and x.day == w.day].index(w) + 1


def rail_files(withdrawals: tuple[Withdrawal, ...], day: dt.date, accounts: dict[str, str]) -> dict[str, str]:
    """The rails' files of ``day`` by path: SEPA's and PIX's pain.002 on the withdrawals of the day, the ODFI's
    NACHA file with the day's ACH originations and the returns that come that day (a rail with nothing: no file).
    ``accounts``: our account per currency (the debtor account the pain.002 names)."""
    when = Day.of(day)
    files: dict[str, str] = {}
    for rail, name, agent in (
        ("sepa", f"pain002_{day}.xml", ("BICFI", plan.BANK_BIC)),
        ("pix", f"pain002_pix_{day}.xml", ("Nm", escape(plan.PIX_BANK))),
    ):
        mine = [(i, w.rail_order()) for i, w in enumerate(withdrawals) if w.rail == rail and w.day == day]
        if mine:
            text, _ = rails.pain002(when, RAILS[rail].plan_rail, mine, accounts[RAILS[rail].currency], agent)
            files[f"{RAILS[rail].folder}/{name}"] = text
    originated = [w.rail_order() for w in withdrawals if w.rail == "ach" and w.day == day]
    returned = [
        rails.AchReturn(w.rail_order(), w.returned[1], rails.ach_trace(ach_position(withdrawals, w)))
        for w in withdrawals
        if w.returned is not None and w.returned[0] == day
    ]
    if originated or returned:
        text, _, _ = rails.nacha(when, originated, returned)
        files[f"{RAILS['ach'].folder}/odfi_{day}.ach"] = text
    return files
