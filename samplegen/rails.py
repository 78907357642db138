"""The withdrawals of a day: their orders, the rails' status files and the bank debits that execute them.

Files (``<out>/rails/...``)::

    rails/sepa/pain002_<date>.xml        channel sepa_out  (pain002): the bank's status report on our SEPA batch
    rails/pix/pain002_pix_<date>.xml     channel pix_out   (pain002): the PIX participant's status report
    rails/ach/odfi_<date>.ach            channel ach_out   (nacha): the originations acknowledged, and returns

The debits go on the day's camt.053 (EUR and BRL accounts, and a USD account for ACH) as ``Entry`` rows.
Everything here draws from its own generator (``rng`` of ``[seed, date, 19]``), so the pay-in files of the day
are the same with and without withdrawals.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from xml.sax.saxutils import escape

import numpy as np
import polars as pl

from pipelines.core import money
from samplegen.bank import Entry, _iban
from samplegen.columns import Day
from samplegen.outcome import Case, Item
from samplegen.plan import (
    ACCOUNT_OWNER,
    ACH,
    ACH_COMPANY_ID,
    ACH_COMPANY_NAME,
    ACH_ODFI,
    ACH_ODFI_ROUTING,
    BANK_BIC,
    CLEAN_WITHDRAWALS,
    CURRENCIES,
    CUSTOMERS,
    EUR,
    PAIN002_NAMESPACE,
    PIX_BANK,
    PIX_RAIL,
    PLANTED_WITHDRAWALS,
    RAIL_CHANNELS,
    RAIL_CODES,
    RAIL_COUNTRY,
    RAIL_CURRENCY,
    RAIL_METHODS,
    REASON_TEXT,
    SEPA,
    SEPA_COUNTRIES,
    UNKNOWN_DEBIT_MINOR,
    Withdrawal,
)

# receiving banks of the ACH credits (ABA routing numbers with their check digit)
_RDFIS = ("011000015", "026009593", "121000248", "071000013", "111000025", "322271627")
_IBAN_BBAN = {"NL": ("RABO", 10), "DE": ("", 18), "FR": ("", 23), "BE": ("", 12), "ES": ("", 20), "IT": ("X", 22)}


@dataclass(frozen=True)
class WithdrawalOrder:
    seq: int
    order_id: str
    spec: Withdrawal
    amount_minor: int
    created: int  # epoch seconds, UTC
    country: str
    customer: str
    account: str  # IBAN (SEPA), agency-account (PIX), account number (ACH)
    routing: str | None  # ACH receiving bank

    @property
    def currency(self) -> str:
        return CURRENCIES[RAIL_CURRENCY[self.spec.rail]]

    @property
    def individual_id(self) -> str:
        """The order id as a NACHA individual id (15 characters, no punctuation)."""
        return self.order_id.replace("-", "")


@dataclass
class Rails:
    """The withdrawals of a day as written: their orders, status files and bank debits."""

    orders: list[WithdrawalOrder]
    files: list[str]
    status_rows: int
    entries: list[Entry]  # the debits, in the order they go on the statement
    debit_of: list[int | None]  # per entry: index of its withdrawal order (None: the unknown debit)
    report_line: dict[int, tuple[str, int]]  # order index -> (file, line) of its status / origination
    return_line: dict[int, tuple[str, int]]  # order index -> (file, line) of its return


def _amount(rng: np.random.Generator, rail: int) -> int:
    if rail == PIX_RAIL:
        return int(rng.integers(50, 5000)) * 100 + int(rng.choice([0, 0, 50]))
    if rail == ACH:
        return int(rng.integers(25, 2000)) * 100 + int(rng.choice([0, 0, 50, 99]))
    return int(rng.integers(20, 1500)) * 100 + int(rng.choice([0, 0, 50, 99]))


def _digits(rng: np.random.Generator, k: int) -> str:
    return "".join(str(d) for d in rng.integers(0, 10, size=k))


def draw_withdrawals(rng: np.random.Generator, day: Day, plant: bool) -> list[WithdrawalOrder]:
    """The clean withdrawals and, with ``plant``, the planted ones, in creation order."""
    specs = [*CLEAN_WITHDRAWALS, *(PLANTED_WITHDRAWALS if plant else ())]
    order = rng.permutation(len(specs))
    created = day.midnight + np.sort(rng.integers(6 * 3600, 18 * 3600, size=len(specs)))
    out = []
    for seq, (i, at) in enumerate(zip(order, created, strict=True), start=1):
        spec = specs[int(i)]
        if spec.rail == SEPA:
            country = str(rng.choice(SEPA_COUNTRIES))
            bank, width = _IBAN_BBAN[country]
            account, routing = _iban(country, bank + _digits(rng, width)), None
        elif spec.rail == PIX_RAIL:
            country, routing = RAIL_COUNTRY[PIX_RAIL], None
            account = f"{_digits(rng, 4)}-{_digits(rng, 8)}-{_digits(rng, 1)}"
        else:
            country = RAIL_COUNTRY[ACH]
            account, routing = _digits(rng, 12), str(rng.choice(_RDFIS))
        customer = CUSTOMERS[int(rng.integers(0, len(CUSTOMERS)))]
        out.append(
            WithdrawalOrder(
                seq,
                f"WDR-{day.compact}-{seq:04d}",
                spec,
                _amount(rng, spec.rail),
                int(at),
                country,
                customer,
                account,
                routing,
            )
        )
    return out


def render_withdrawals(orders: list[WithdrawalOrder], header: tuple[str, ...]) -> pl.DataFrame:
    """The withdrawals as rows of the orders extract (all text, the extract's columns)."""
    rows = [
        {
            "order_id": w.order_id,
            "psp_channel": RAIL_CHANNELS[w.spec.rail],
            "psp_reference": None,
            "merchant_account": None,
            "status": w.spec.status,
            "amount": money.format_minor(w.amount_minor, w.currency),
            "currency": w.currency,
            "created_at": dt.datetime.fromtimestamp(w.created, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "direction": "withdrawal",
            "payment_method": RAIL_METHODS[w.spec.rail],
            "country": w.country,
        }
        for w in orders
    ]
    return pl.DataFrame(rows, schema=dict.fromkeys(header, pl.String()))


# --- pain.002 -------------------------------------------------------------------------------------


def pain002(
    day: Day, rail: int, orders: list[tuple[int, WithdrawalOrder]], our_account: str, agent: tuple[str, str]
) -> tuple[str, dict[int, int]]:
    """A pain.002.001.10 status report on the day's payment batch of one rail; line of every TxInfAndSts."""
    ccy = CURRENCIES[RAIL_CURRENCY[rail]]
    name = "SEPA" if rail == SEPA else "PIX"
    original = f"PAYPLATFORM-{name}-{day.compact}-01"
    total = sum(w.amount_minor for _, w in orders)
    codes = sorted({w.spec.report or "" for _, w in orders})
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<Document xmlns="{PAIN002_NAMESPACE}">',
        "  <CstmrPmtStsRpt>",
        "    <GrpHdr>",
        f"      <MsgId>PSR-{name}-{day.compact}-0001</MsgId>",
        f"      <CreDtTm>{day.date.isoformat()}T17:30:00</CreDtTm>",
        "      <DbtrAgt>",
        "        <FinInstnId>",
        f"          <{agent[0]}>{agent[1]}</{agent[0]}>",
        "        </FinInstnId>",
        "      </DbtrAgt>",
        "    </GrpHdr>",
        "    <OrgnlGrpInfAndSts>",
        f"      <OrgnlMsgId>{original}</OrgnlMsgId>",
        "      <OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId>",
        f"      <OrgnlNbOfTxs>{len(orders)}</OrgnlNbOfTxs>",
        f"      <OrgnlCtrlSum>{money.format_minor(total, ccy)}</OrgnlCtrlSum>",
        f"      <GrpSts>{codes[0] if len(codes) == 1 else 'PART'}</GrpSts>",
    ]
    for code in codes:
        count = sum(1 for _, w in orders if w.spec.report == code)
        out += [
            "      <NbOfTxsPerSts>",
            f"        <DtldNbOfTxs>{count}</DtldNbOfTxs>",
            f"        <DtldSts>{code}</DtldSts>",
            "      </NbOfTxsPerSts>",
        ]
    out += [
        "    </OrgnlGrpInfAndSts>",
        "    <OrgnlPmtInfAndSts>",
        f"      <OrgnlPmtInfId>{original}-PMT1</OrgnlPmtInfId>",
    ]
    lines: dict[int, int] = {}
    for n, (i, w) in enumerate(orders, start=1):
        lines[i] = len(out) + 1
        out += [
            "      <TxInfAndSts>",
            f"        <StsId>{name}STS{day.compact}{n:04d}</StsId>",
            f"        <OrgnlInstrId>{original}-{n:04d}</OrgnlInstrId>",
            f"        <OrgnlEndToEndId>{w.order_id}</OrgnlEndToEndId>",
            f"        <TxSts>{w.spec.report}</TxSts>",
        ]
        if w.spec.reason:
            out += [
                "        <StsRsnInf>",
                "          <Rsn>",
                f"            <Cd>{w.spec.reason}</Cd>",
                "          </Rsn>",
                f"          <AddtlInf>{escape(REASON_TEXT[w.spec.reason])}</AddtlInf>",
                "        </StsRsnInf>",
            ]
        account = (
            [f"              <IBAN>{w.account}</IBAN>"]
            if rail == SEPA
            else ["              <Othr>", f"                <Id>{w.account}</Id>", "              </Othr>"]
        )
        out += [
            "        <OrgnlTxRef>",
            "          <Amt>",
            f'            <InstdAmt Ccy="{ccy}">{money.format_minor(w.amount_minor, ccy)}</InstdAmt>',
            "          </Amt>",
            "          <ReqdExctnDt>",
            f"            <Dt>{day.date.isoformat()}</Dt>",
            "          </ReqdExctnDt>",
            "          <Dbtr>",
            "            <Pty>",
            f"              <Nm>{escape(ACCOUNT_OWNER)}</Nm>",
            "            </Pty>",
            "          </Dbtr>",
            "          <DbtrAcct>",
            "            <Id>",
            f"              <IBAN>{our_account}</IBAN>",
            "            </Id>",
            "          </DbtrAcct>",
            "          <Cdtr>",
            "            <Pty>",
            f"              <Nm>{escape(w.customer)}</Nm>",
            "            </Pty>",
            "          </Cdtr>",
            "          <CdtrAcct>",
            "            <Id>",
            *account,
            "            </Id>",
            "          </CdtrAcct>",
            "        </OrgnlTxRef>",
            "      </TxInfAndSts>",
        ]
    out += ["    </OrgnlPmtInfAndSts>", "  </CstmrPmtStsRpt>", "</Document>"]
    return "\n".join(out) + "\n", lines


# --- NACHA ----------------------------------------------------------------------------------------


def _entry(tx: str, rdfi: str, account: str, cents: int, ident: str, name: str, addenda: bool, trace: str) -> str:
    return f"6{tx}{rdfi}{account:<17}{cents:010d}{ident:<15}{name[:22]:<22}  {'1' if addenda else '0'}{trace}"


def _batch(number: int, odfi: str, effective: str, entries: list[str]) -> list[str]:
    header = (
        f"5220{ACH_COMPANY_NAME:<16}{'':20}{ACH_COMPANY_ID}PPD{'WITHDRAWAL':<10}{effective}{effective}"
        f"   1{odfi}{number:07d}"
    )
    six = [r for r in entries if r[0] == "6"]
    hashed = sum(int(r[3:11]) for r in six) % 10**10
    credits = sum(int(r[29:39]) for r in six if r[2] in "1234")
    debits = sum(int(r[29:39]) for r in six if r[2] not in "1234")
    control = f"8220{len(entries):06d}{hashed:010d}{debits:012d}{credits:012d}{ACH_COMPANY_ID}{'':25}{odfi}{number:07d}"
    return [header, *entries, control]


@dataclass(frozen=True)
class AchReturn:
    """A return of an ACH credit we originated, in the ODFI's file of the day it comes: the order, the NACHA return
    reason (R code) and the trace number of the origination (``ach_trace`` of its position in its day's file)."""

    order: WithdrawalOrder
    code: str
    original_trace: str


def ach_trace(n: int) -> str:
    """The trace number of the n-th origination (from 1) of a day's ODFI file."""
    return f"{ACH_ODFI_ROUTING[:8]}{n:07d}"


def nacha(day: Day, originated: list[WithdrawalOrder], returned: list[AchReturn]) -> tuple[str, list[int], list[int]]:
    """The ODFI's file of the day: a batch of the credits we originated that day (acknowledged), a batch of the
    returns that came (addenda 99 with the R code and the original trace); the line of every origination and of
    every return entry."""
    effective = day.date.strftime("%y%m%d")
    odfi = ACH_ODFI_ROUTING[:8]
    originations = []
    for n, w in enumerate(originated, start=1):
        assert w.routing is not None
        originations.append(
            _entry("22", w.routing, w.account, w.amount_minor, w.individual_id, w.customer.upper(), False, ach_trace(n))
        )
    returns: list[str] = []
    for n, r in enumerate(returned, start=1):
        w = r.order
        assert w.routing is not None
        trace = f"{w.routing[:8]}{n:07d}"
        returns.append(
            _entry("21", ACH_ODFI_ROUTING, w.account, w.amount_minor, w.individual_id, w.customer.upper(), True, trace)
        )
        returns.append(f"799{r.code}{r.original_trace}{'':6}{w.routing[:8]}{'':44}{trace}")
    batches = [
        _batch(number, odfi, effective, entries)
        for number, entries in enumerate((e for e in (originations, returns) if e), start=1)
    ]
    header = f"101 {ACH_ODFI_ROUTING}{ACH_COMPANY_ID}{effective}2130A094101{ACH_ODFI:<23}{ACH_COMPANY_NAME:<23}{'':8}"
    body = [r for b in batches for r in b]
    six = [r for r in body if r[0] == "6"]
    count = sum(1 for r in body if r[0] in "67")
    hashed = sum(int(r[3:11]) for r in six) % 10**10
    credits = sum(int(r[29:39]) for r in six if r[2] in "1234")
    debits = sum(int(r[29:39]) for r in six if r[2] not in "1234")
    records = [header, *body]
    blocks = -(-(len(records) + 1) // 10)
    records.append(f"9{len(batches):06d}{blocks:06d}{count:08d}{hashed:010d}{debits:012d}{credits:012d}{'':39}")
    records += ["9" * 94] * (blocks * 10 - len(records))
    assert all(len(r) == 94 for r in records), [len(r) for r in records]
    origination_lines = [records.index(r) + 1 for r in originations]
    return_lines = [records.index(returns[2 * k]) + 1 for k in range(len(returned))]
    return "\n".join(records) + "\n", origination_lines, return_lines


def _nacha(day: Day, orders: list[tuple[int, WithdrawalOrder]]) -> tuple[str, dict[int, int], dict[int, int]]:
    """The ODFI's file of the day of the sample: its originations, and the returns of those the plan returns
    (the same day); line of every origination and of every return entry, by order index."""
    returns = [
        (i, AchReturn(w, w.spec.returned, ach_trace(n)))
        for n, (i, w) in enumerate(orders, start=1)
        if w.spec.returned is not None
    ]
    text, originated, returned = nacha(day, [w for _, w in orders], [r for _, r in returns])
    origination_line = {i: line for (i, _), line in zip(orders, originated, strict=True)}
    return_line = {i: line for (i, _), line in zip(returns, returned, strict=True)}
    return text, origination_line, return_line


# --- the day's rails ------------------------------------------------------------------------------


def write_rails(
    rng: np.random.Generator, day: Day, orders: list[WithdrawalOrder], accounts: dict[int, str], plant: bool
) -> tuple[Rails, dict[str, bytes]]:
    """The status files and the bank debits of ``orders``; returns them and the files' bytes by path."""
    files: dict[str, bytes] = {}
    report_line: dict[int, tuple[str, int]] = {}
    return_line: dict[int, tuple[str, int]] = {}
    status_rows = 0
    for rail, path in (
        (SEPA, f"rails/sepa/pain002_{day.date.isoformat()}.xml"),
        (PIX_RAIL, f"rails/pix/pain002_pix_{day.date.isoformat()}.xml"),
    ):
        mine = [(i, w) for i, w in enumerate(orders) if w.spec.rail == rail and w.spec.report]
        if not mine:
            continue
        agent = ("BICFI", BANK_BIC) if rail == SEPA else ("Nm", escape(PIX_BANK))
        text, lines = pain002(day, rail, mine, accounts[RAIL_CURRENCY[rail]], agent)
        files[path] = text.encode("utf-8")
        report_line |= {i: (path, line) for i, line in lines.items()}
        status_rows += len(mine)
    ach = [(i, w) for i, w in enumerate(orders) if w.spec.rail == ACH]
    if ach:
        path = f"rails/ach/odfi_{day.date.isoformat()}.ach"
        text, originated, returned = _nacha(day, ach)
        files[path] = text.encode("ascii")
        report_line |= {i: (path, line) for i, line in originated.items()}
        return_line |= {i: (path, line) for i, line in returned.items()}
        status_rows += len(originated) + len(returned)

    entries: list[Entry] = []
    debit_of: list[int | None] = []
    for i, w in enumerate(orders):
        for _ in range(w.spec.debits):
            cur = RAIL_CURRENCY[w.spec.rail] if w.spec.debit_currency is None else w.spec.debit_currency
            e2e = w.individual_id if w.spec.rail == ACH else w.order_id
            text = f"{RAIL_METHODS[w.spec.rail].upper()} WITHDRAWAL {w.order_id}"
            reference = f"{day.compact}W{_digits(rng, 10)}"
            entries.append(
                Entry(
                    cur,
                    False,
                    w.amount_minor + w.spec.debit_delta,
                    e2e,
                    text,
                    w.customer,
                    RAIL_CODES[w.spec.rail],
                    w.spec.tag,
                    reference,
                    day.date,
                )
            )
            debit_of.append(i)
    if plant:
        e2e = f"TRSY-{day.compact}-01"
        entries.append(
            Entry(
                EUR,
                False,
                UNKNOWN_DEBIT_MINOR,
                e2e,
                "SUPPLIER PAYMENT INV 88412",
                "Northwind Supplies B.V.",
                RAIL_CODES[SEPA],
                "debit_without_withdrawal",
                f"{day.compact}W{_digits(rng, 10)}",
                day.date,
            )
        )
        debit_of.append(None)
    return Rails(orders, sorted(files), status_rows, entries, debit_of, report_line, return_line), files


def usd_opening(rng: np.random.Generator) -> int:
    """The opening balance of the USD account (cents), from the withdrawals' generator."""
    return int(rng.integers(50_000, 400_000)) * 100 + int(rng.integers(0, 100))


NOTES = {
    "withdrawal_pending": "accepted (ACSP), no debit yet: pending within SEPA's window of 1 TARGET2 day",
    "withdrawal_rejected": "rejected (AC01) and failed in the order system, no debit: the rejection matches",
    "withdrawal_return_refunded": "returned (R02) and already refunded in the order system: the return matches",
    "withdrawal_not_executed": "PIX accepted it but no debit by the day's end (PIX window 0)",
    "withdrawal_rejected_but_debited": "rejected (AC04), failed in the order system, and debited all the same",
    "withdrawal_debited_twice": "a second debit of the same account, end-to-end id and amount",
    "withdrawal_returned": "returned (R03) while the order system shows it succeeded: refund to the wallet",
    "debit_without_withdrawal": "the debit's end-to-end id names no withdrawal",
    "withdrawal_amount_mismatch": "the debit is 2.50 EUR more than the withdrawal",
    "withdrawal_currency_mismatch": "debited from the GBP account for a EUR withdrawal",
    "withdrawal_status_mismatch": "rejected (AM05) while the order system shows it succeeded",
}


def withdrawal_cases(
    rails: Rails, orders_path: str, order_line: int, bank_path: str, bank_lines: list[int]
) -> list[Case]:
    """The planted withdrawal cases: the item that carries the break (or the clean outcome) and its counter.

    ``order_line``: line of the first withdrawal in the orders file; ``bank_lines``: the line of every
    entry of ``rails.entries``."""

    def order_item(i: int) -> Item:
        w = rails.orders[i]
        return Item(orders_path, order_line + i, w.order_id, w.amount_minor, w.currency)

    def status_item(i: int, lines: dict[int, tuple[str, int]]) -> Item:
        w = rails.orders[i]
        path, line = lines[i]
        return Item(path, line, w.order_id, w.amount_minor, w.currency)

    debits: dict[int, list[Item]] = {}
    cases: list[Case] = []
    for e, i, line in zip(rails.entries, rails.debit_of, bank_lines, strict=True):
        item = Item(bank_path, line, e.end_to_end_id, e.amount_minor, CURRENCIES[e.currency])
        if i is None:
            cases.append(Case("debit_without_withdrawal", item, None, NOTES["debit_without_withdrawal"]))
        else:
            debits.setdefault(i, []).append(item)
    for i, w in enumerate(rails.orders):
        tag = w.spec.tag
        if tag == "withdrawal_executed":
            continue
        note = NOTES[tag]
        if tag in ("withdrawal_rejected_but_debited", "withdrawal_amount_mismatch", "withdrawal_currency_mismatch"):
            cases.append(Case(tag, debits[i][0], order_item(i), note))
        elif tag == "withdrawal_debited_twice":
            cases.append(Case(tag, debits[i][1], order_item(i), note))
        elif tag in ("withdrawal_returned", "withdrawal_return_refunded"):
            cases.append(Case(tag, status_item(i, rails.return_line), order_item(i), note))
        elif tag in ("withdrawal_status_mismatch", "withdrawal_rejected"):
            cases.append(Case(tag, status_item(i, rails.report_line), order_item(i), note))
        else:  # withdrawal_not_executed, withdrawal_pending: the order itself
            cases.append(Case(tag, order_item(i), status_item(i, rails.report_line), note))
    return cases


# withdrawals without a debit whose rail's window has not passed (SEPA: 1 TARGET2 day): pending, no break
PENDING_TAGS = ("withdrawal_pending", "withdrawal_status_mismatch")
_OWED = ("succeeded", "pending", "refunded")
_ACCEPTED = ("ACCP", "ACSC", "ACSP", "ACTC", "ACWC")


def withdrawal_matches(orders: list[WithdrawalOrder]) -> dict[str, int]:
    """The matches each withdrawal rule makes, from the plan: a debit of the order's amount and currency
    (30), an acceptance or acknowledgement of an owed withdrawal or a rejection of a failed one (35), a return
    of a refunded one (40)."""
    specs = [w.spec for w in orders]
    return {
        "withdrawal_debit_end_to_end": sum(
            1 for s in specs if s.status in _OWED and s.debits and s.debit_delta == 0 and s.debit_currency is None
        ),
        "withdrawal_status_accepted": sum(
            1 for s in specs if s.status in _OWED and (s.rail == ACH or s.report in _ACCEPTED)
        ),
        "withdrawal_status_rejected": sum(1 for s in specs if s.status == "failed" and s.report == "RJCT"),
        "withdrawal_return_refunded": sum(1 for s in specs if s.returned and s.status == "refunded"),
    }
