"""The bank side of a day: the camt.053 statement (one credit per payout, less the planted gaps, plus the
planted unknown credit and charges) and the FX rates file."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from pipelines.core import money
from samplegen.columns import Day
from samplegen.outcome import Payout
from samplegen.plan import (
    ACCOUNT_OWNER,
    ADYEN_CHANNEL,
    ADYEN_PAYER,
    BANK_BIC,
    BANK_CURRENCIES,
    BANK_NAME,
    CAMT_NAMESPACE,
    CLP,
    CURRENCIES,
    EUR,
    FX_BASE,
    FX_HEADER,
    GBP,
    MERCHANT_ACCOUNT,
    MXN,
    PAYOUT_SHORTFALL_MINOR,
    SETTLEMENT_ZONE,
    STRIPE_CHANNEL,
    STRIPE_PAYER,
    USD,
)

# --- Bank statement -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    currency: int
    credit: bool
    amount_minor: int
    end_to_end_id: str | None
    remittance: str
    counterparty: str
    code: tuple[str, str, str]
    tag: str  # payout id it pays, or the planted case
    reference: str | None = None  # the bank's entry reference; None: drawn when the statement is written
    value_date: dt.date | None = None  # None: the next day


def _iban(country: str, bban: str) -> str:
    """IBAN with its ISO 13616 check digits."""
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


def account_ids(seed: int) -> dict[int, str]:
    rng = np.random.default_rng([seed, 53])
    base = int(rng.integers(10**8, 9 * 10**8))
    return {cur: _iban("NL", f"INGB{base * 10 + i:010d}") for i, cur in enumerate(BANK_CURRENCIES)}


def opening_balances(rng: np.random.Generator, usd: int) -> dict[int, int]:
    """Opening balances of every account (minor units) drawn as ``camt053`` draws them, ``usd`` for USD (the
    first statement of a sharded day; the later ones open with the closing balances of the one before)."""
    out: dict[int, int] = {}
    for cur in BANK_CURRENCIES:
        scale = 10 ** money.exponent(CURRENCIES[cur])
        out[cur] = usd if cur == USD else int(rng.integers(50_000, 400_000)) * scale + int(rng.integers(0, scale))
    return out


def camt053(
    rng: np.random.Generator,
    day: Day,
    entries: list[Entry],
    accounts: dict[int, str],
    openings: dict[int, int] | None = None,
    part: int | None = None,
) -> tuple[str, list[int]]:
    """camt.053.001.08 text with one statement per currency account; line of every entry's start tag.

    ``openings``: the opening balance (minor units) of the accounts not drawn from ``rng`` (the accounts
    withdrawals are paid from, so that adding them leaves the draws of the pay-in statements as they were).
    ``part``: the statement's number among the day's statements of a sharded day (in its ids)."""
    zone = ZoneInfo(SETTLEMENT_ZONE)
    start = dt.datetime(day.date.year, day.date.month, day.date.day, tzinfo=zone)
    end = start.replace(hour=23, minute=59, second=59)
    next_day = day.date + dt.timedelta(days=1)
    created = dt.datetime(next_day.year, next_day.month, next_day.day, 5, 42, 17, tzinfo=zone)
    out: list[str] = ['<?xml version="1.0" encoding="UTF-8"?>', f'<Document xmlns="{CAMT_NAMESPACE}">']
    out += [
        "  <BkToCstmrStmt>",
        "    <GrpHdr>",
        f"      <MsgId>CAMT053-{day.compact}-{int(rng.integers(10**5, 10**6))}</MsgId>",
        f"      <CreDtTm>{created.isoformat()}</CreDtTm>",
        "      <MsgPgntn>",
        "        <PgNb>1</PgNb>",
        "        <LastPgInd>true</LastPgInd>",
        "      </MsgPgntn>",
        "    </GrpHdr>",
    ]
    lines_of: list[int] = [0] * len(entries)
    sequence = day.date.timetuple().tm_yday
    for cur in BANK_CURRENCIES:
        ccy = CURRENCIES[cur]
        mine = [(i, e) for i, e in enumerate(entries) if e.currency == cur]
        credits = sum(e.amount_minor for _, e in mine if e.credit)
        debits = sum(e.amount_minor for _, e in mine if not e.credit)
        scale = 10 ** money.exponent(ccy)
        if openings is not None and cur in openings:
            opening = openings[cur]
        else:
            opening = int(rng.integers(50_000, 400_000)) * scale + int(rng.integers(0, scale))
        closing = opening + credits - debits
        net = credits - debits

        def amt(minor: int, c: str = ccy) -> str:
            return money.format_minor(minor, c)

        def balance(code: str, minor: int, c: str = ccy) -> list[str]:
            return [
                "      <Bal>",
                "        <Tp>",
                "          <CdOrPrtry>",
                f"            <Cd>{code}</Cd>",
                "          </CdOrPrtry>",
                "        </Tp>",
                f'        <Amt Ccy="{c}">{amt(abs(minor))}</Amt>',
                f"        <CdtDbtInd>{'CRDT' if minor >= 0 else 'DBIT'}</CdtDbtInd>",
                "        <Dt>",
                f"          <Dt>{day.date.isoformat()}</Dt>",
                "        </Dt>",
                "      </Bal>",
            ]

        out += [
            "    <Stmt>",
            f"      <Id>{day.compact}-{ccy}-{sequence:03d}{'' if part is None else f'-{part + 1:03d}'}</Id>",
            f"      <ElctrncSeqNb>{sequence if part is None else sequence * 1000 + part + 1}</ElctrncSeqNb>",
            f"      <LglSeqNb>{sequence}</LglSeqNb>",
            f"      <CreDtTm>{created.isoformat()}</CreDtTm>",
            "      <FrToDt>",
            f"        <FrDtTm>{start.isoformat()}</FrDtTm>",
            f"        <ToDtTm>{end.isoformat()}</ToDtTm>",
            "      </FrToDt>",
            "      <Acct>",
            "        <Id>",
            f"          <IBAN>{accounts[cur]}</IBAN>",
            "        </Id>",
            f"        <Ccy>{ccy}</Ccy>",
            "        <Ownr>",
            f"          <Nm>{escape(ACCOUNT_OWNER)}</Nm>",
            "        </Ownr>",
            "        <Svcr>",
            "          <FinInstnId>",
            f"            <BICFI>{BANK_BIC}</BICFI>",
            f"            <Nm>{escape(BANK_NAME)}</Nm>",
            "          </FinInstnId>",
            "        </Svcr>",
            "      </Acct>",
            *balance("OPBD", opening),
            *balance("CLBD", closing),
            "      <TxsSummry>",
            "        <TtlNtries>",
            f"          <NbOfNtries>{len(mine)}</NbOfNtries>",
            f"          <Sum>{amt(credits + debits)}</Sum>",
            "          <TtlNetNtry>",
            f"            <Amt>{amt(abs(net))}</Amt>",
            f"            <CdtDbtInd>{'CRDT' if net >= 0 else 'DBIT'}</CdtDbtInd>",
            "          </TtlNetNtry>",
            "        </TtlNtries>",
            "        <TtlCdtNtries>",
            f"          <NbOfNtries>{sum(1 for _, e in mine if e.credit)}</NbOfNtries>",
            f"          <Sum>{amt(credits)}</Sum>",
            "        </TtlCdtNtries>",
            "        <TtlDbtNtries>",
            f"          <NbOfNtries>{sum(1 for _, e in mine if not e.credit)}</NbOfNtries>",
            f"          <Sum>{amt(debits)}</Sum>",
            "        </TtlDbtNtries>",
            "      </TxsSummry>",
        ]
        for i, e in mine:
            lines_of[i] = len(out) + 1
            indicator = "CRDT" if e.credit else "DBIT"
            party = "Dbtr" if e.credit else "Cdtr"
            reference = e.reference or f"{day.compact}{cur}{int(rng.integers(10**9, 10**10))}"
            value_date = e.value_date or next_day
            out += [
                "      <Ntry>",
                f"        <NtryRef>{reference[-12:]}</NtryRef>",
                f'        <Amt Ccy="{ccy}">{amt(e.amount_minor)}</Amt>',
                f"        <CdtDbtInd>{indicator}</CdtDbtInd>",
                "        <Sts>",
                "          <Cd>BOOK</Cd>",
                "        </Sts>",
                "        <BookgDt>",
                f"          <Dt>{day.date.isoformat()}</Dt>",
                "        </BookgDt>",
                "        <ValDt>",
                f"          <Dt>{value_date.isoformat()}</Dt>",
                "        </ValDt>",
                f"        <AcctSvcrRef>{reference}</AcctSvcrRef>",
                "        <BkTxCd>",
                "          <Domn>",
                f"            <Cd>{e.code[0]}</Cd>",
                "            <Fmly>",
                f"              <Cd>{e.code[1]}</Cd>",
                f"              <SubFmlyCd>{e.code[2]}</SubFmlyCd>",
                "            </Fmly>",
                "          </Domn>",
                "        </BkTxCd>",
                "        <NtryDtls>",
                "          <TxDtls>",
                "            <Refs>",
                f"              <EndToEndId>{escape(e.end_to_end_id or 'NOTPROVIDED')}</EndToEndId>",
                "            </Refs>",
                f'            <Amt Ccy="{ccy}">{amt(e.amount_minor)}</Amt>',
                f"            <CdtDbtInd>{indicator}</CdtDbtInd>",
                "            <RltdPties>",
                f"              <{party}>",
                "                <Pty>",
                f"                  <Nm>{escape(e.counterparty)}</Nm>",
                "                </Pty>",
                f"              </{party}>",
                "            </RltdPties>",
                "            <RmtInf>",
                f"              <Ustrd>{escape(e.remittance)}</Ustrd>",
                "            </RmtInf>",
                "          </TxDtls>",
                "        </NtryDtls>",
                "      </Ntry>",
            ]
        out.append("    </Stmt>")
    out += ["  </BkToCstmrStmt>", "</Document>"]
    return "\n".join(out) + "\n", lines_of


def bank_entries(rng: np.random.Generator, day: Day, payouts: list[Payout], plant: bool) -> list[Entry]:
    """One credit per payout (less the planted gaps), plus the planted unknown credit and charges."""
    entries: list[Entry] = []
    for p in payouts:
        cur = CURRENCIES.index(p.currency)
        if plant and p.channel == ADYEN_CHANNEL and cur == CLP:
            continue  # payout_without_bank_credit
        amount = p.amount_minor
        if plant and p.channel == STRIPE_CHANNEL and cur == MXN:
            amount -= PAYOUT_SHORTFALL_MINOR  # payout_amount_mismatch
        code = ("PMNT", "RCDT", "ESCT" if cur == EUR else "XBCT")
        if p.channel == ADYEN_CHANNEL:
            batch = p.payout_id.rsplit("-", 1)[1]
            text, payer = f"ADYEN PAYOUT BATCH {batch} {MERCHANT_ACCOUNT}", ADYEN_PAYER
        else:
            text, payer = f"STRIPE PAYOUT {p.payout_id}", STRIPE_PAYER
        entries.append(Entry(cur, True, amount, p.payout_id, text, payer, code, p.payout_id))
    if plant:
        year = day.date.year
        invoice = int(rng.integers(1000, 9999))
        entries.append(
            Entry(
                GBP,
                True,
                int(rng.integers(500, 5000)) * 100,
                f"HLT-{year}-{invoice}",
                f"INVOICE {year}-{invoice} PAYPLATFORM",
                "Harbour Lane Trading Ltd",
                ("PMNT", "RCDT", "XBCT"),
                "bank_credit_without_payout",
            )
        )
        entries.append(
            Entry(
                EUR,
                False,
                3750,
                None,
                f"ACCOUNT CHARGES {day.date.strftime('%Y-%m')}",
                BANK_NAME,
                ("ACMT", "MDOP", "CHRG"),
                "bank_debit_unexplained",
            )
        )
    return entries


# --- FX -------------------------------------------------------------------------------------------


def fx_rates(rng: np.random.Generator, day: Day) -> pl.DataFrame:
    rows = []
    for quote, text, decimals in FX_BASE:
        units = int(text.replace(".", ""))
        moved = units + int(rng.integers(-units // 200, units // 200 + 1))  # within +-0.5 %
        digits = str(moved).rjust(decimals + 1, "0")
        rows.append((day.date.isoformat(), "EUR", quote, f"{digits[:-decimals]}.{digits[-decimals:]}"))
    return pl.DataFrame(rows, schema=list(FX_HEADER), orient="row")
