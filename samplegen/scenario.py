"""A four-business-day scenario in the real file formats, for breaks over time, completeness and clearing.

Business dates Thu 2026-11-12, Fri 11-13, Mon 11-16 (a Mexican public holiday: Revolution Day) and
Tue 11-17, with the weekend between. The files of a day arrive with it (``write_all(out, DAYS[: k + 1])``
writes what has arrived by day k), but for the late ones of ``LATE_FILES``. Adyen pays out T+1, each currency
on its own calendar (EUR: TARGET2, GBP: London); Stripe pays out T+2, MXN in Mexican business days and USD in
NYSE days, so the Thursday MXN payout is due on Tuesday 11-17, the Friday one on Wednesday 11-18 and the
Monday one on Thursday 11-19. Every channel declares its deliveries: orders on weekdays, each PSP on the
business days of its calendar (Stripe: not on the Mexican holiday), the bank statement on Dutch business days,
the FX rates on TARGET2 days; a day with nothing to report still has its file (the day-1 bank statement has
no entries, Stripe's day-4 report is a header alone). What happens:

* order A3 settles a day late (pending on day 1, matched on day 2);
* order S2 is not settled within its one-day window: a break on day 2 that closes by itself when Stripe
  settles it on day 3;
* Adyen short-pays order A2 by 1.00 EUR on day 1: an amount mismatch, written off by an analyst after
  the day-2 run;
* a late file: order A6 of day 1 is in a second orders extract (``orders_2026-11-12_2.csv``) that comes
  with day 2's files. Adyen settled it on day 1, so its line is a ``psp_line_without_order`` break on day 1;
  day 2 takes the order, flags it late (1 day) and the break closes by matching;
* a missing file: Stripe's day-2 report comes with day 3's files. Day 2 is incomplete (an
  ``expected_file_missing`` break "stripe_mx 2026-11-13", order S3 pending); day 3 takes the report, flags
  its row late (3 days), matches S3 and lists the break as ``cleared``;
* a batch of two currencies: Adyen batch 102 pays out EUR and GBP, one payout per currency
  (``PayPlatformEU-102-EUR`` and ``-GBP``, whose credits both name ``PayPlatformEU-102``). The EUR credit
  comes on its value date, Monday 11-16; the GBP one never does: pending on day 2, a
  ``payout_without_bank_credit`` break from day 3 on, and EUR is unaffected;
* a failed order that is settled: A8 failed in the order system, yet Adyen settles it a business day later.
  It is pending on day 3 (its one-day window), a ``status_mismatch`` break with an order-feedback row
  (settled, suggested status succeeded) on day 4;
* a holiday of one currency only: Stripe's Thursday payouts are due T+2, USD on Monday 11-16 (NYSE is
  open) and MXN on Tuesday 11-17 (Monday is a Mexican holiday). On day 3 the USD one is received and the
  MXN one is not due yet (no break); it is received on day 4;
* an order that times out: T1 is still ``pending`` in the order system on day 1 and no PSP ever settles it.
  Adyen declares a pay-in timeout of ``TIMEOUTS`` (48 hours from the order's creation): T1 is pending on days 1
  and 2 and an ``order_timeout`` break from day 3 on (with an order-feedback row suggesting ``expired``), carried
  and aged on day 4;
* every other payout is pending until its value date, and matched to its bank credit when it arrives.

Withdrawals (``WITHDRAWALS``: money the platform sends out over a rail, each with its order, its rail's status
report and the bank debits that execute it) over SEPA (``sepa_out``: the bank's pain.002 and the debits on the EUR
account), PIX (``pix_out``: the PIX participant's pain.002, debits on the BRL account) and ACH (``ach_out``: the
ODFI's NACHA files, originations and returns, debits on the USD account), with their windows and timeouts
(``RAIL_SETTLEMENT``, ``TIMEOUTS``). The day-1 statement stays without entries: the day-1 withdrawals are debited
from day 2 on. What happens:

* W1 (SEPA) is debited the next business day (pending on day 1, matched on day 2); W5 and W15 (PIX) and W8's
  first debit match on their day, W12 (ACH) a day later;
* W2 (SEPA) is still ``pending`` in the order system 12 hours after its creation (SEPA's timeout here): an
  ``order_timeout`` on day 1 within its window, closed by its debit on day 2 (feedback ``mark_executed``);
* W4 (SEPA) is accepted but not debited within SEPA's window of one TARGET2 day: ``withdrawal_not_executed`` on
  day 2, closed when the debit comes on day 3;
* W6 (PIX) is pending in the order system and never debited: past its 60-minute timeout and PIX's window of 0 at
  once, it is ``withdrawal_not_executed`` (the verdict comes first, one break), carried to day 4;
* W13 (SEPA) is pending and never debited: ``order_timeout`` on day 3 (past its timeout, within the window), then
  ``withdrawal_not_executed`` on day 4 under the same break id;
* W7 failed (SEPA rejected it, AC04) yet was debited: ``withdrawal_rejected_but_debited`` (the rejection matches the
  failed order); W8 is debited twice: ``withdrawal_debited_twice``; W10 is debited 2.50 EUR more:
  ``withdrawal_amount_mismatch``; W11 is debited from the GBP account: ``withdrawal_currency_mismatch``; a EUR debit
  names no withdrawal: ``debit_without_withdrawal`` (all on day 2, W11 on day 3);
* W3 (ACH) is debited on day 2 and returned (R03) by the ODFI's file of day 3: ``withdrawal_returned`` with an
  order-feedback row to refund the wallet, though the order was decided (matched) by day 2's run; W9 (ACH) is
  returned (R02) the day it is debited and the order system has refunded it already: the return matches;
* W14 (SEPA) is rejected (AM05) on day 4 while the order system shows it succeeded: ``withdrawal_status_mismatch``,
  the order pending within its window.

Orders carry a payment method and a country (``METHODS``, ``COUNTRIES``; a withdrawal its rail's) so the metrics
of each day (payment success rate per channel, method, country and currency; latencies; match and break rates;
money at risk; time to resolve; withdrawal execution and return rates) follow from this plan.

``python -m samplegen.scenario --out data_samples/scenario`` writes the files and the rules folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import yaml

from pipelines.core import money
from samplegen.plan import ADYEN_HEADER, STRIPE_HEADER
from samplegen.scenario_rails import (
    RAIL_SETTLEMENT,
    RAILS,
    Debit,
    OtherDebit,
    Withdrawal,
    booked_debits,
    rail_files,
)

DAYS = (dt.date(2026, 11, 12), dt.date(2026, 11, 13), dt.date(2026, 11, 16), dt.date(2026, 11, 17))
MERCHANT = "PayPlatformEU"
EUR_IBAN = "NL33INGB6693512750"
MXN_IBAN = "NL51INGB4821337900"
ACCOUNTS = {
    "EUR": EUR_IBAN,
    "GBP": "NL23INGB3307125560",
    "MXN": MXN_IBAN,
    "USD": "NL78INGB5520914830",
    "BRL": "NL12INGB6120473381",
}
FX = {"MXN": "21.1540", "GBP": "0.8381", "USD": "1.0825", "BRL": "6.1840"}
PAYERS = {"adyen_eu": "Adyen N.V.", "stripe_mx": "Stripe Payments Europe Ltd"}
# how the PSP channels settle: a currency with its own calendar counts its payout cycle and order window in it
SETTLEMENT: dict[str, dict[str, Any]] = {
    "adyen_eu": {
        "cycle_business_days": 1,
        "calendar": "NL",
        "calendars": {"EUR": "ECB", "GBP": "XLON"},
        "model": "net",
        "window_business_days": 1,
    },
    "stripe_mx": {
        "cycle_business_days": 2,
        "calendar": "MX",
        "calendars": {"USD": "NYSE"},
        "model": "net",
        "window_business_days": 1,
    },
}


@dataclass(frozen=True)
class Order:
    order_id: str
    channel: str
    ref: str
    amount: int  # minor units
    currency: str
    day: dt.date
    status: str = "succeeded"
    extract: int = 1  # the orders file of its day that holds it (2: a second extract, ``orders_<day>_2.csv``)

    @property
    def payment_method(self) -> str:
        return METHODS[self.channel]

    @property
    def country(self) -> str:
        return COUNTRIES[self.currency]

    @property
    def created_at(self) -> dt.datetime:
        """Creation instant (UTC): 10:<position in ORDERS> on its day."""
        return dt.datetime.combine(self.day, dt.time(10, ORDERS.index(self)), tzinfo=dt.UTC)


@dataclass(frozen=True)
class Settlement:
    order: Order
    day: dt.date
    gross: int
    fee: int


ORDERS = (
    Order("A1", "adyen_eu", "8815000000000001", 10000, "EUR", DAYS[0]),
    Order("A2", "adyen_eu", "8815000000000002", 5000, "EUR", DAYS[0]),
    Order("A3", "adyen_eu", "8815000000000003", 3000, "EUR", DAYS[0]),
    Order("S1", "stripe_mx", "ch_S1", 100000, "MXN", DAYS[0]),
    Order("S2", "stripe_mx", "ch_S2", 50000, "MXN", DAYS[0]),
    Order("A4", "adyen_eu", "8815000000000004", 2000, "EUR", DAYS[1]),
    Order("S3", "stripe_mx", "ch_S3", 20000, "MXN", DAYS[1]),
    Order("A5", "adyen_eu", "8815000000000005", 1000, "EUR", DAYS[2]),
    Order("S4", "stripe_mx", "ch_S4", 4500, "USD", DAYS[0]),  # USD settles on the NYSE calendar
    Order("A6", "adyen_eu", "8815000000000006", 2500, "EUR", DAYS[0], extract=2),  # in a late second extract
    Order("A7", "adyen_eu", "8815000000000007", 4000, "GBP", DAYS[1]),  # the GBP half of batch 102
    Order("A8", "adyen_eu", "8815000000000008", 1500, "EUR", DAYS[2], status="failed"),  # yet Adyen settles it
    Order("A9", "adyen_eu", "8815000000000009", 6000, "EUR", DAYS[3]),
    Order("T1", "adyen_eu", "8815000000000010", 7000, "EUR", DAYS[0], status="pending"),  # never settled: times out
)
METHODS = {"adyen_eu": "card", "stripe_mx": "card_present"}
COUNTRIES = {"EUR": "NL", "GBP": "GB", "MXN": "MX", "USD": "US", "BRL": "BR"}
# how long an order may stay pending, per channel and direction (rules/channels: order_timeouts): a pay-in of
# Adyen 48 hours; a SEPA withdrawal 12 hours (shorter than its rail's window: the order system is late before the
# bank is), a PIX one an hour, an ACH one 72 hours
TIMEOUTS: dict[str, dict[str, int]] = {
    "adyen_eu": {"payin_minutes": 48 * 60},
    "sepa_out": {"withdrawal_minutes": 12 * 60},
    "pix_out": {"withdrawal_minutes": 60},
    "ach_out": {"withdrawal_minutes": 72 * 60},
}
_O = {o.order_id: o for o in ORDERS}
SETTLEMENTS = (
    Settlement(_O["A1"], DAYS[0], 10000, 100),
    Settlement(_O["A2"], DAYS[0], 4900, 50),  # short by 1.00 EUR
    Settlement(_O["A6"], DAYS[0], 2500, 25),  # its order comes a day later
    Settlement(_O["S1"], DAYS[0], 100000, 3000),
    Settlement(_O["S4"], DAYS[0], 4500, 135),
    Settlement(_O["A3"], DAYS[1], 3000, 30),  # one day late
    Settlement(_O["A4"], DAYS[1], 2000, 20),
    Settlement(_O["A7"], DAYS[1], 4000, 40),  # GBP: batch 102 pays out EUR and GBP
    Settlement(_O["S3"], DAYS[1], 20000, 600),  # in the Stripe report that comes with day 3's files
    Settlement(_O["A5"], DAYS[2], 1000, 10),
    Settlement(_O["S2"], DAYS[2], 50000, 1500),  # two days late: closes the day-2 break
    Settlement(_O["A8"], DAYS[3], 1500, 15),  # the failed order, settled a business day later
    Settlement(_O["A9"], DAYS[3], 6000, 60),
)
# files that come after their own day: (folder, own day, extract) -> the day whose files they come with
LATE_FILES = {
    ("orders", DAYS[0], 2): DAYS[1],  # a second orders extract of day 1
    ("stripe", DAYS[1], 1): DAYS[2],  # Stripe's report of day 2
}


# --- withdrawals (samplegen.scenario_rails) ---------------------------------------------------------------------
W = Withdrawal
WITHDRAWALS = (
    W(1, "sepa", 25000, DAYS[0], debits=(Debit(DAYS[1]),)),  # debited the next business day
    W(2, "sepa", 12000, DAYS[0], "pending", "ACSP", debits=(Debit(DAYS[1]),)),  # times out, then debited
    W(3, "ach", 30000, DAYS[0], report=None, debits=(Debit(DAYS[1]),), returned=(DAYS[2], "R03")),
    W(4, "sepa", 7500, DAYS[0], debits=(Debit(DAYS[2]),)),  # debited after SEPA's window
    W(5, "pix", 50000, DAYS[1], debits=(Debit(DAYS[1]),)),
    W(6, "pix", 70000, DAYS[1], "pending", "ACSP"),  # never debited
    W(7, "sepa", 30000, DAYS[1], "failed", "RJCT", "AC04", debits=(Debit(DAYS[1]),)),  # rejected, debited
    W(8, "sepa", 15000, DAYS[1], debits=(Debit(DAYS[1]), Debit(DAYS[1]))),  # debited twice
    W(9, "ach", 41000, DAYS[1], "refunded", None, debits=(Debit(DAYS[1]),), returned=(DAYS[1], "R02")),
    W(10, "sepa", 8000, DAYS[1], debits=(Debit(DAYS[1], amount=8250),)),  # debited 2.50 EUR more
    W(11, "sepa", 9500, DAYS[2], debits=(Debit(DAYS[2], currency="GBP"),)),  # from the GBP account
    W(12, "ach", 22000, DAYS[2], report=None, debits=(Debit(DAYS[3]),)),  # T+1
    W(13, "sepa", 4000, DAYS[2], "pending", "ACSP"),  # never debited: times out, then not executed
    W(14, "sepa", 6000, DAYS[3], report="RJCT", reason="AM05"),  # rejected while it shows succeeded
    W(15, "pix", 33000, DAYS[3], debits=(Debit(DAYS[3]),)),
)
# a EUR debit no withdrawal explains (debit_without_withdrawal)
OTHER_DEBITS = (
    OtherDebit(DAYS[1], "TRSY-20261113-01", 4500, "EUR", "Northwind Supplies B.V.", "SUPPLIER PAYMENT INV 88412"),
)


def arrival(folder: str, day: dt.date, extract: int = 1) -> dt.date:
    """The day whose files bring the file of ``folder``, ``day`` (and orders ``extract``)."""
    return LATE_FILES.get((folder, day, extract), day)


def _m(minor: int, currency: str) -> str:
    return money.format_minor(minor, currency)


def adyen_batch(day: dt.date) -> int:
    return 100 + DAYS.index(day) + 1


def adyen_payout_id(day: dt.date) -> str:
    """The batch name, which the bank credit of each of the batch's currencies names."""
    return f"{MERCHANT}-{adyen_batch(day)}"


def stripe_payout_id(day: dt.date, currency: str = "MXN") -> str:
    return f"po_{currency[:2]}{day:%Y%m%d}"


def net_of(day: dt.date, channel: str, currency: str | None = None) -> int:
    return sum(
        s.gross - s.fee
        for s in SETTLEMENTS
        if s.day == day and s.order.channel == channel and currency in (None, s.order.currency)
    )


@dataclass(frozen=True)
class Payout:
    channel: str
    day: dt.date
    currency: str
    payout_id: str  # an Adyen batch of several currencies: one payout per currency, ``<batch>-<currency>``
    reference: str  # what its bank credit names: the batch (Adyen), the payout id (Stripe)
    net: int
    value_date: dt.date


def payouts() -> list[Payout]:
    """Every payout of the scenario, with its value date (T+N business days of its currency's calendar)."""
    from pipelines.core import calendars

    out = []
    for day in DAYS:
        for channel in ("adyen_eu", "stripe_mx"):
            rule = SETTLEMENT[channel]
            currencies = sorted({s.order.currency for s in SETTLEMENTS if s.day == day and s.order.channel == channel})
            for cur in currencies:
                if channel == "adyen_eu":
                    reference = adyen_payout_id(day)
                    payout_id = reference if len(currencies) == 1 else f"{reference}-{cur}"
                else:
                    reference = payout_id = stripe_payout_id(day, cur)
                calendar = rule["calendars"].get(cur, rule["calendar"])
                value_date = calendars.add_business_days(day, rule["cycle_business_days"], calendar)
                out.append(Payout(channel, day, cur, payout_id, reference, net_of(day, channel, cur), value_date))
    return out


MISSING_CREDITS = {f"{MERCHANT}-102-GBP"}  # the bank never receives the GBP half of batch 102


def write_orders(out: Path, day: dt.date, extract: int = 1) -> None:
    """The orders extract of ``day``: its pay-ins, then (in the first extract) its withdrawals."""
    rows = [
        "order_id,psp_channel,psp_reference,merchant_account,status,amount,currency,created_at,payment_method,country,"
        "direction"
    ]
    for o in ORDERS:
        if o.day == day and o.extract == extract:
            rows.append(
                f"{o.order_id},{o.channel},{o.ref},{MERCHANT},{o.status},{_m(o.amount, o.currency)},"
                f"{o.currency},{o.created_at:%Y-%m-%dT%H:%M:%SZ},{o.payment_method},{o.country},payin"
            )
    for w in WITHDRAWALS:
        if w.day == day and extract == 1:
            rows.append(
                f"{w.order_id},{w.channel},,,{w.status},{_m(w.amount, w.currency)},{w.currency},"
                f"{w.created_at:%Y-%m-%dT%H:%M:%SZ},{w.payment_method},{w.country},withdrawal"
            )
    name = f"orders_{day}.csv" if extract == 1 else f"orders_{day}_{extract}.csv"
    _write(out / "orders" / name, "\n".join(rows) + "\n")


def write_adyen(out: Path, day: dt.date) -> None:
    lines = [s for s in SETTLEMENTS if s.day == day and s.order.channel == "adyen_eu"]
    if not lines:
        return
    batch = adyen_batch(day)
    rows = [",".join(ADYEN_HEADER)]

    def row(values: dict[str, str]) -> str:
        return ",".join(values.get(h, "") for h in ADYEN_HEADER)

    stamp = f"{day} 12:00:00"
    for s in lines:
        cur = s.order.currency
        rows.append(
            row(
                {
                    "Company Account": "PayPlatform",
                    "Merchant Account": MERCHANT,
                    "Psp Reference": s.order.ref,
                    "Merchant Reference": s.order.order_id,
                    "Payment Method": "visa",
                    "Creation Date": stamp,
                    "TimeZone": "CET",
                    "Type": "Settled",
                    "Modification Reference": s.order.ref,
                    "Gross Currency": cur,
                    "Gross Credit (GC)": _m(s.gross, cur),
                    "Exchange Rate": "1",
                    "Net Currency": cur,
                    "Net Credit (NC)": _m(s.gross - s.fee, cur),
                    "Markup (NC)": _m(s.fee, cur),
                    "Batch Number": str(batch),
                    "Booking Date": stamp,
                    "Booking Date TimeZone": "CET",
                }
            )
        )
    for cur in sorted({s.order.currency for s in lines}):  # one MerchantPayout line per currency
        rows.append(
            row(
                {
                    "Company Account": "PayPlatform",
                    "Merchant Account": MERCHANT,
                    "Creation Date": f"{day} 23:55:00",
                    "TimeZone": "CET",
                    "Type": "MerchantPayout",
                    "Modification Reference": f"batch {batch}",
                    "Net Currency": cur,
                    "Net Debit (NC)": _m(net_of(day, "adyen_eu", cur), cur),
                    "Batch Number": str(batch),
                    "Booking Date": f"{day} 23:55:00",
                    "Booking Date TimeZone": "CET",
                }
            )
        )
    _write(out / "adyen" / f"settlement_detail_report_batch_{batch}.csv", "\n".join(rows) + "\n")


def write_stripe(out: Path, day: dt.date) -> None:
    """Stripe's report of ``day``: a header alone on a Mexican business day without settlements."""
    from pipelines.core import calendars

    lines = [s for s in SETTLEMENTS if s.day == day and s.order.channel == "stripe_mx"]
    if not lines and not calendars.is_business_day(day, SETTLEMENT["stripe_mx"]["calendar"]):
        return
    rows = [",".join(STRIPE_HEADER)]
    for s in lines:
        cur = s.order.currency
        values = {
            "automatic_payout_id": stripe_payout_id(day, cur),
            "balance_transaction_id": f"txn_{s.order.order_id}",
            "created_utc": f"{day} 15:00:00",
            "created": f"{day} 15:00:00",
            "currency": cur.lower(),
            "gross": _m(s.gross, cur),
            "fee": _m(s.fee, cur),
            "net": _m(s.gross - s.fee, cur),
            "reporting_category": "charge",
            "source_id": s.order.ref,
            "description": f"Order {s.order.order_id}",
            "customer_facing_amount": _m(s.gross, cur),
            "customer_facing_currency": cur.lower(),
            "charge_id": s.order.ref,
            "payment_method_type": "card",
            "card_brand": "visa",
            "payment_metadata[order_id]": s.order.order_id,
        }
        rows.append(",".join(values.get(h, "") for h in STRIPE_HEADER))
    _write(out / "stripe" / f"payout_reconciliation_itemized_{day}.csv", "\n".join(rows) + "\n")


def bank_credits(day: dt.date) -> list[tuple[str, str, int, str]]:
    """(account currency, end-to-end id, amount, payer) of the credits booked on ``day``: each payout on its
    value date, but for the missing ones."""
    return [
        (p.currency, p.reference, p.net, PAYERS[p.channel])
        for p in payouts()
        if p.value_date == day and p.payout_id not in MISSING_CREDITS
    ]


def write_bank(out: Path, day: dt.date) -> None:
    """The day's camt.053 statement, one ``<Stmt>`` per account, with or without entries: the payouts' credits,
    then the withdrawals' debits."""
    credits = bank_credits(day)
    debits = booked_debits(WITHDRAWALS, OTHER_DEBITS, day)
    statements = []
    for cur, iban in ACCOUNTS.items():
        mine = [c for c in credits if c[0] == cur]
        paid = [d for d in debits if d.currency == cur]
        opening = 500000 + 1000 * DAYS.index(day)
        closing = opening + sum(c[2] for c in mine) - sum(d.amount for d in paid)
        entries = "".join(
            f"""
      <Ntry>
        <NtryRef>{day:%Y%m%d}-{cur}-{i + 1}</NtryRef>
        <Amt Ccy="{cur}">{_m(amount, cur)}</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Sts><Cd>BOOK</Cd></Sts>
        <BookgDt><Dt>{day}</Dt></BookgDt>
        <ValDt><Dt>{day}</Dt></ValDt>
        <AcctSvcrRef>SVC{day:%Y%m%d}{cur}{i + 1}</AcctSvcrRef>
        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
        <NtryDtls><TxDtls>
          <Refs><EndToEndId>{e2e}</EndToEndId></Refs>
          <RltdPties><Dbtr><Pty><Nm>{payer}</Nm></Pty></Dbtr></RltdPties>
          <RmtInf><Ustrd>PAYOUT {e2e}</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>"""
            for i, (_, e2e, amount, payer) in enumerate(mine)
        ) + "".join(
            f"""
      <Ntry>
        <NtryRef>{day:%Y%m%d}-{cur}-{len(mine) + i + 1}</NtryRef>
        <Amt Ccy="{cur}">{_m(d.amount, cur)}</Amt>
        <CdtDbtInd>DBIT</CdtDbtInd>
        <Sts><Cd>BOOK</Cd></Sts>
        <BookgDt><Dt>{day}</Dt></BookgDt>
        <ValDt><Dt>{day}</Dt></ValDt>
        <AcctSvcrRef>SVC{day:%Y%m%d}{cur}{len(mine) + i + 1}</AcctSvcrRef>
        <BkTxCd><Domn><Cd>{d.code[0]}</Cd><Fmly><Cd>{d.code[1]}</Cd><SubFmlyCd>{d.code[2]}</SubFmlyCd></Fmly></Domn></BkTxCd>
        <NtryDtls><TxDtls>
          <Refs><EndToEndId>{d.end_to_end_id}</EndToEndId></Refs>
          <RltdPties><Cdtr><Pty><Nm>{escape(d.creditor)}</Nm></Pty></Cdtr></RltdPties>
          <RmtInf><Ustrd>{d.remittance}</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>"""
            for i, d in enumerate(paid)
        )
        statements.append(f"""
    <Stmt>
      <Id>{day:%Y%m%d}-{cur}</Id>
      <ElctrncSeqNb>{DAYS.index(day) + 1}</ElctrncSeqNb>
      <CreDtTm>{day}T23:59:00+01:00</CreDtTm>
      <Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>{cur}</Ccy></Acct>
      <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="{cur}">{_m(opening, cur)}</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>
      <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="{cur}">{_m(closing, cur)}</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>{entries}
    </Stmt>""")
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>SCN-{day:%Y%m%d}</MsgId><CreDtTm>{day}T23:59:00+01:00</CreDtTm></GrpHdr>{"".join(statements)}
  </BkToCstmrStmt>
</Document>
"""
    _write(out / "bank" / f"camt053_{day}.xml", xml)


def write_fx(out: Path, day: dt.date) -> None:
    rows = ["rate_date,base_currency,quote_currency,rate"]
    rows += [f"{day},EUR,{cur},{rate}" for cur, rate in sorted(FX.items())]
    _write(out / "fx" / f"fx_rates_{day}.csv", "\n".join(rows) + "\n")


def write_rules(out: Path) -> None:
    """Channels of the scenario plus the project's matching rules (copied) and a break policy."""
    from pipelines.core.config import PROJECT_ROOT

    rules = out / "rules"
    (rules / "channels").mkdir(parents=True, exist_ok=True)
    (rules / "matching").mkdir(parents=True, exist_ok=True)
    # deliveries: a file per delivery day (a file with no rows counts for the day it is taken on); orders come
    # on weekdays (the scenario has no weekend orders), each PSP on the business days of its calendar, the
    # bank statement on Dutch business days, the FX rates on TARGET2 days
    channels: list[dict[str, Any]] = [
        {
            "id": "orders",
            "kind": "orders",
            "location": "orders",
            "pattern": "orders_*.csv",
            "format": "orders_csv",
            "deliveries": {"files_per_day": 1, "days": "business"},
        },
        {
            "id": "adyen_eu",
            "kind": "psp",
            "location": "adyen",
            "pattern": "settlement_detail_report_batch_*.csv",
            "format": "adyen_sdr",
            "timezone": "Europe/Amsterdam",
            "settlement": SETTLEMENT["adyen_eu"],
            "order_timeouts": TIMEOUTS["adyen_eu"],
            "deliveries": {"files_per_day": 1, "days": "business", "calendar": "NL"},
        },
        {
            "id": "stripe_mx",
            "kind": "psp",
            "location": "stripe",
            "pattern": "payout_reconciliation_itemized_*.csv",
            "format": "stripe_payout_recon",
            "timezone": "UTC",
            "settlement": SETTLEMENT["stripe_mx"],
            "deliveries": {"files_per_day": 1, "days": "business", "calendar": "MX"},
        },
        {
            "id": "bank_eu",
            "kind": "bank",
            "location": "bank",
            "pattern": "camt053_*.xml",
            "format": "camt053",
            "timezone": "Europe/Amsterdam",
            "deliveries": {"files_per_day": 1, "days": "business", "calendar": "NL"},
        },
        {
            "id": "fx_ecb",
            "kind": "reference",
            "location": "fx",
            "pattern": "fx_rates_*.csv",
            "format": "fx_rates_csv",
            "deliveries": {"files_per_day": 1, "days": "business", "calendar": "ECB"},
        },
    ]
    for rail in RAILS.values():  # no deliveries: a rail's files come on the days it has something to report
        channels.append(
            {
                "id": rail.channel,
                "kind": "rail",
                "location": rail.folder,
                "pattern": rail.pattern,
                "format": rail.format,
                "timezone": rail.timezone,
                "settlement": RAIL_SETTLEMENT[rail.channel],
                "order_timeouts": TIMEOUTS[rail.channel],
            }
        )
    for ch in channels:  # locations are relative to the folder holding the rules folder
        (out / str(ch["location"])).mkdir(parents=True, exist_ok=True)
        _write(rules / "channels" / f"{ch['id']}.yaml", yaml.safe_dump(ch, sort_keys=False))
    for f in sorted((PROJECT_ROOT / "rules" / "matching").glob("*.yaml")):
        # settlements here may come a week after the order (late settlement is part of the scenario)
        _write(rules / "matching" / f.name, f.read_text(encoding="utf-8").replace("max_days: 3}", "max_days: 7}"))
    policy = {
        "reporting_currency": "EUR",
        "sla_days": {
            "amount_mismatch": 1,
            "order_not_settled": 2,
            "withdrawal_not_executed": 1,
            "withdrawal_returned": 2,
        },
        # a withdrawal without its debit waits for its rail's window, as an unsettled order for its PSP's
        "pending": {
            "order_not_settled": "settlement_window",
            "payout_without_bank_credit": "settlement_cycle",
            "withdrawal_not_executed": "settlement_window",
        },
    }
    _write(rules / "breaks.yaml", yaml.safe_dump(policy, sort_keys=False))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def write_all(out: Path, days: tuple[dt.date, ...] = DAYS) -> None:
    """Write the files that have arrived with the files of ``days`` (all by default: every file), and the
    rules folder, under ``out``; a late file (``LATE_FILES``) comes with a later day's files."""
    for day in DAYS:
        for extract in sorted({o.extract for o in ORDERS if o.day == day}):
            if arrival("orders", day, extract) in days:
                write_orders(out, day, extract)
        for folder, write in (("adyen", write_adyen), ("stripe", write_stripe), ("bank", write_bank)):
            if arrival(folder, day) in days:
                write(out, day)
        if arrival("fx", day) in days:
            write_fx(out, day)
        if arrival("rails", day) in days:
            for path, text in rail_files(WITHDRAWALS, day, ACCOUNTS).items():
                _write(out / path, text)
    write_rules(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m samplegen.scenario")
    parser.add_argument("--out", default="data_samples/scenario")
    args = parser.parse_args(argv)
    write_all(Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
