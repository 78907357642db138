"""Differential test: every corpus file of MT940/MT942, BAI2, camt.053 and NACHA is read by our parser and by one
maintained peer library, and the two readings must agree.

Peers (test-only dependencies: requirements-dev.txt, pinned in constraints.txt):
- ``mt-940`` for MT940 and MT942: ``mt940.parse_statements`` with ``mt940.Options.all()``, the maintainers' opt-in
  fixes. One of them matters here: the 5.x default signs a reversal of a credit (mark RC) as a credit, so the RC
  entries on lines 19 and 101 of ``mt940/betterplace_de_sepa_returns_sammler.sta`` would come out as credits, where
  they are debits (SWIFT; and the statements' balances add up only so);
- ``bai2`` for BAI2, with ``check_integrity=True``;
- ``pycamt`` for camt.053 (it reads statements and reports only: camt.054 has no peer here);
- ``carta-ach`` for NACHA. It gives the record fields as text; the test applies the NACHA rules to them (transaction
  code x1-x4 a credit, x5-x9 a debit; amounts in cents of USD).

Our side is read as a run reads it: the format detected from the content, the parser from the format registry.

Invariants, per file:
1. A file our parser rejects as inconsistent is listed in REJECTED with the reason, and the peer's own figures for
   it show an inconsistency too (or the peer refuses it as well): the rejection is the file's, not the parser's.
2. A file both read: the entries agree one by one in file order (currency, direction, amount), except the
   entries listed in PEER_DEFECTS; the entry counts agree and, per currency and direction, the counts and sums.
3. Statement opening and closing balances agree, statement by statement (MT940, camt.053).
4. The totals the file states, as the peer reads them (MT942 :90D:/:90C:, NACHA file control debits and
   credits), equal the sums of our entries.
5. Every listed peer defect is still observed: the peer still raises on a file it cannot read and still
   misreads each listed entry (a fixed peer fails the test until its entry is removed from the list).

Amounts are compared as integers of minor units: the peers' Decimal or text amounts are converted exactly
(``money.to_minor``), never through float. BAI2 balances are not compared: our parser reads none (the 03
summary amounts only count towards the account control total). The test skips when the corpus is absent,
as ``test_corpus.py`` does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

import mt940
import polars as pl
import pytest
from ach.parser import Parser as AchParser
from bai2 import bai2 as bai2_peer
from bai2.exceptions import IntegrityException, NotSupportedYetException
from format_helpers import corpus_or_skip
from pycamt.parser import Camt053Parser

from pipelines.core import money
from pipelines.core.channels import Channel
from pipelines.formats.base import FileRejected, ParseContext
from pipelines.formats.controls import checks_of
from pipelines.formats.detect import detect
from pipelines.formats.registry import get

CORPUS = corpus_or_skip()

# corpus folder -> the peer library that reads its files
PEERS = {"mt940": "mt-940", "mt942": "mt-940", "bai2": "bai2", "camt053": "pycamt", "nacha": "carta-ach"}


class PeerDefect(NamedTuple):
    """Where a peer is wrong about a file, and why (each checked by reading the file)."""

    line: int  # the entry's line (our ``line_no``), or the line of the record the peer fails on
    raises: type[Exception] | None  # the peer raises this on the whole file; None: it misreads the entry
    why: str


PEER_DEFECTS: dict[str, list[PeerDefect]] = {
    "mt940/oca_ing_nl_structured86.940": [
        PeerDefect(
            6,
            RuntimeError,
            "the statement number :28C:00000 is cut across lines 6 and 7 ('0000' + '0'), as this file cuts values "
            "anywhere (the :61: bank reference on lines 9-10 too); mt-940 keeps the line break inside the value, its "
            ":28C: pattern fails and it raises on the whole file instead of reading its 8 entries",
        )
    ],
    "bai2/moov_sample2_spec_multigroup_fundstype.bai2": [
        PeerDefect(
            7,
            NotSupportedYetException,
            "the 03 record on line 7 ends with type code 190, whose amount 500000 opens the 88 continuation on line "
            "8; an 88 record continues with a new field, but bai2 glues the two into one field '190500000' and "
            "raises on it as an unsupported type code",
        )
    ],
    "bai2/moov_sample3_usd_multirecord_lines.bai2": [
        PeerDefect(
            1,
            ValueError,
            "line 1 holds two records, the 01 file header and the 02 group header, each ended by '/' (lines 3, 10, "
            "11, 13 and 14 hold several too); bai2 splits records at line ends only, reads '2/   02' as the "
            "header's version number and raises",
        )
    ],
    "camt053/oca_camt053_v04_multi_currency.xml": [
        PeerDefect(
            96,
            None,
            "the entry books CHF 579.21 DBIT (its Amt, line 97; the statement's balances add up with it: 350777.85 "
            "+ 134.00 - 579.21 = 350332.64 CHF); pycamt replaces the entry's amount by the first Amt under its "
            "TxDtls, the transaction amount EUR 522.39 (line 143), but keeps the entry's currency: CHF 522.39",
        )
    ],
}

# file -> (what our rejection says, what the peer's own figures for the file show)
REJECTED: dict[str, tuple[str, str]] = {
    "mt940/jejik_deutschebank_de_ocmt_chgs.txt": (
        "opening balance 0.00 + credits 0.00 - debits 12.35 = -12.35 EUR, but the closing balance is 0.00 EUR",
        "statement 1: opening 0.00 + entries -12.35 = -12.35 EUR, but closing 0.00 EUR",
    ),
    "mt940/jejik_postfinance_ch_soh_etx.txt": (
        "opening balance 229.20 + credits 10.10 - debits 79.90 = 159.40 CHF, but the closing balance is 159.60 CHF",
        "statement 2: opening 229.20 + entries -69.80 = 159.40 CHF, but closing 159.60 CHF",
    ),
    "mt942/wolph_selfprovided_mt942_charges.sta": (
        ":90D: states 1 debit(s) totalling 2.30 EUR but the entries are 1 debit(s) totalling 0.42 EUR",
        "statement 1: :90D: states 1 debit(s) totalling 2.30 EUR, but the entries are 1 totalling 0.42 EUR",
    ),
    "bai2/moov_sample4_gs_ach_returns_no_slash.bai2": (
        "account 107049932 trailer (line 22) states 26 records but 18 are present",
        "refused: IntegrityException: Invalid number of records for Account. expected 26, found 18",
    ),
    # balances in EUR, SEK, CHF and JPY for one account: pycamt ignores balance currencies altogether
    "camt053/genkgo_camt053_v08.xml": (
        "opening balance in EUR but closing balance in SEK",
        "statement 1: opening 18.15 + credits 0.00 - debits 0.00 = 18.15 EUR, but closing -27.00 EUR",
    ),
    "camt053/oca_testbank_nl_camt053_v02_reversal_batch.xml": (
        "opening balance 15568.27 + credits 1405.31 - debits 1418.30 = 15555.28 EUR, but the closing balance is "
        "15121.12 EUR",
        "statement 1: opening 15568.27 + credits 1405.31 - debits 1418.30 = 15555.28 EUR, but closing 15121.12 EUR",
    ),
    "nacha/moov_usbank_ppd_iat_20110805A.ach": (
        "file control (line 93) states 5 batches but 4 are present",
        "file control states 5 batches, 4 are present",
    ),
}

Entry = tuple[str | None, str | None, int | None]  # currency, direction, amount in minor units
Sums = dict[tuple[str | None, str | None], tuple[int, int]]  # (currency, direction) -> (count, total minor)


@dataclass
class Reading:
    """What one parser makes of a file: its entries in file order, the statements' balances (currency, opening,
    closing in minor units) and the totals the file states per (currency, direction): (count or None, total)."""

    entries: list[Entry]
    lines: list[int] = field(default_factory=list)  # our side: the line of each entry
    balances: list[tuple[str, int, int]] = field(default_factory=list)
    stated: dict[tuple[str, str], tuple[int | None, int]] = field(default_factory=dict)

    def sums(self, skip: frozenset[int] = frozenset()) -> Sums:
        out: Sums = {}
        for i, (ccy, direction, minor) in enumerate(self.entries):
            if i in skip:
                continue
            count, total = out.get((ccy, direction), (0, 0))
            out[(ccy, direction)] = (count + 1, total + (minor or 0))
        return out


def corpus_files() -> list[str]:
    return sorted(str(p.relative_to(CORPUS)) for folder in PEERS for p in (CORPUS / folder).glob("*") if p.is_file())


# --- our parser ------------------------------------------------------------------------------------------------

# a passed balance check: "<opening tag or code> <amount> + credits <c> - debits <d> = <closing> <amount> <CCY>"
_BALANCE = re.compile(
    r"^\S+ (?P<open>-?\d+(?:\.\d+)?) \+ credits \S+ - debits \S+ = \S+ (?P<close>-?\d+(?:\.\d+)?) (?P<ccy>[A-Z]{3})\b"
)


def ours(name: str) -> Reading:
    """Our reading, through the format registry (raises ``FileRejected`` for an inconsistent file)."""
    path = CORPUS / name
    found = detect(path)
    channel = Channel(id="corpus", kind="bank", location=".", format=found.format, csv=found.csv)
    result = get(found.format)(path, ParseContext(channel=channel, file_id="c" * 64, file_name=path.name))
    assert result.rejects.height == 0, result.rejects.rows()
    frame = result.frame.sort("line_no")
    amounts = frame.select("currency", "direction", pl.col("amount_minor").cast(pl.Int64)).rows()
    balances = []
    for check in checks_of(result) or []:
        if check.name == "balance":
            m = _BALANCE.match(check.detail)
            assert check.status == "passed" and m is not None, check.line()
            ccy = m.group("ccy")
            balances.append((ccy, money.to_minor(m.group("open"), ccy), money.to_minor(m.group("close"), ccy)))
    return Reading(entries=[tuple(r) for r in amounts], lines=frame["line_no"].to_list(), balances=balances)


# --- the peers -------------------------------------------------------------------------------------------------


def _minor(amount: Decimal | str | None, currency: str | None) -> int | None:
    """Exact minor units of a peer's amount (Decimal or decimal text); None when it gives none."""
    if amount is None or currency is None:
        return None
    return money.to_minor(amount if isinstance(amount, Decimal) else Decimal(amount.strip()), currency)


def _fmt(minor: int, currency: str) -> str:
    return money.format_minor(minor, currency)


def _mt940_statements(name: str) -> list[mt940.models.Transactions]:
    return mt940.parse_statements(str(CORPUS / name), options=mt940.Options.all())


def _mt940_balance(data: dict[str, Any], end: str) -> tuple[str, int] | None:
    balance = data.get(f"final_{end}_balance") or data.get(f"intermediate_{end}_balance")
    if balance is None:
        return None
    amount = balance.amount
    minor = _minor(amount.amount, amount.currency)
    assert minor is not None
    return amount.currency, minor


def peer_mt940(name: str) -> Reading:
    reading = Reading(entries=[])
    for statement in _mt940_statements(name):
        for transaction in statement:
            amount = transaction.data["amount"]
            minor = _minor(abs(amount.amount), amount.currency)
            # the sign carries the direction, also of a zero amount ('D0,00' is -0.00)
            reading.entries.append((amount.currency, "debit" if amount.amount.is_signed() else "credit", minor))
        opening, closing = _mt940_balance(statement.data, "opening"), _mt940_balance(statement.data, "closing")
        if opening and closing:
            assert opening[0] == closing[0], (name, opening, closing)
            reading.balances.append((opening[0], opening[1], closing[1]))
        for key, direction in (("sum_debit_entries", "debit"), ("sum_credit_entries", "credit")):
            total = statement.data.get(key)
            if total is not None:
                count, minor = reading.stated.get((total.currency, direction), (0, 0))
                stated = _minor(abs(total.amount), total.currency)
                assert count is not None and stated is not None
                reading.stated[(total.currency, direction)] = (count + int(total.number), minor + stated)
    return reading


def peer_mt940_inconsistencies(name: str) -> list[str]:
    """Where the peer's own figures do not add up: balances, and :90D:/:90C: totals against the entries."""
    found = []
    for index, statement in enumerate(_mt940_statements(name), start=1):
        amounts = [t.data["amount"] for t in statement]
        opening, closing = _mt940_balance(statement.data, "opening"), _mt940_balance(statement.data, "closing")
        if opening and closing:
            ccy = opening[0]
            entries = sum(_minor(a.amount, ccy) or 0 for a in amounts)
            if opening[1] + entries != closing[1]:
                found.append(
                    f"statement {index}: opening {_fmt(opening[1], ccy)} + entries {_fmt(entries, ccy)} = "
                    f"{_fmt(opening[1] + entries, ccy)} {ccy}, but closing {_fmt(closing[1], ccy)} {ccy}"
                )
        for key, tag, debit in (("sum_debit_entries", ":90D:", True), ("sum_credit_entries", ":90C:", False)):
            total = statement.data.get(key)
            if total is None:
                continue
            ccy = total.currency
            mine = [_minor(abs(a.amount), ccy) or 0 for a in amounts if a.amount.is_signed() == debit]
            stated = _minor(abs(total.amount), ccy) or 0
            if (int(total.number), stated) != (len(mine), sum(mine)):
                what = "debit" if debit else "credit"
                found.append(
                    f"statement {index}: {tag} states {total.number} {what}(s) totalling {_fmt(stated, ccy)} {ccy}, "
                    f"but the entries are {len(mine)} totalling {_fmt(sum(mine), ccy)} {ccy}"
                )
    return found


def _bai2_file(name: str) -> Any:
    return bai2_peer.parse_from_string((CORPUS / name).read_text(encoding="utf-8"), check_integrity=True)


def peer_bai2(name: str) -> Reading:
    reading = Reading(entries=[])
    for group in _bai2_file(name).children:
        for account in group.children:
            # the spec's default currency, which the peer leaves to its caller
            ccy = account.header.currency or group.header.currency or "USD"
            for detail in account.children:
                direction = detail.type_code.transaction.value
                reading.entries.append(
                    (ccy, direction if direction in ("credit", "debit") else None, int(detail.amount))
                )
    return reading


def peer_bai2_inconsistencies(name: str) -> list[str]:
    try:
        _bai2_file(name)
    except IntegrityException as exc:
        return [f"refused: IntegrityException: {exc}"]
    return []


_CAMT_DIRECTIONS = {"CRDT": "credit", "DBIT": "debit"}


def _camt_currency(statement: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """pycamt gives no balance currency: the account's (Acct/Ccy), else that of its entries."""
    currencies = {statement.get("Currency")} - {None} or {row.get("Currency") for row in rows}
    assert len(currencies) == 1, f"no single currency for the balances: {currencies}"
    return str(currencies.pop())


def peer_camt053(name: str) -> Reading:
    parser = Camt053Parser.from_file(CORPUS / name)
    rows: list[dict[str, Any]] = parser.get_transactions()
    reading = Reading(entries=[])
    for row in rows:
        ccy = row.get("Currency")
        direction = _CAMT_DIRECTIONS.get(row.get("CreditDebitIndicator") or "")
        reading.entries.append((ccy, direction, _minor(row.get("Amount"), ccy)))
    for statement in parser.get_statement_info():
        ccy = _camt_currency(statement, rows)
        opening, closing = _minor(statement["OpeningBalance"], ccy), _minor(statement["ClosingBalance"], ccy)
        if opening is not None and closing is not None:
            reading.balances.append((ccy, opening, closing))
    return reading


def peer_camt053_inconsistencies(name: str) -> list[str]:
    parser = Camt053Parser.from_file(CORPUS / name)
    statements = parser.get_statement_info()
    rows = parser.get_transactions()
    assert len(statements) == 1, "the peer does not say which statement an entry is of: one statement only"
    ccy = _camt_currency(statements[0], rows)
    opening, closing = _minor(statements[0]["OpeningBalance"], ccy), _minor(statements[0]["ClosingBalance"], ccy)
    assert opening is not None and closing is not None
    sums = {"CRDT": 0, "DBIT": 0}
    for row in rows:
        sums[row["CreditDebitIndicator"]] += _minor(row["Amount"], ccy) or 0
    computed = opening + sums["CRDT"] - sums["DBIT"]
    if computed == closing:
        return []
    f = [_fmt(m, ccy) for m in (opening, sums["CRDT"], sums["DBIT"], computed, closing)]
    return [f"statement 1: opening {f[0]} + credits {f[1]} - debits {f[2]} = {f[3]} {ccy}, but closing {f[4]} {ccy}"]


def _ach(name: str) -> dict[str, Any]:
    data: dict[str, Any] = AchParser((CORPUS / name).read_text(encoding="utf-8")).as_dict()
    return data


def peer_nacha(name: str) -> Reading:
    data = _ach(name)
    reading = Reading(entries=[])
    for batch in data["batches"]:
        assert batch["batch_header"]["std_ent_cls_code"] != "IAT", "carta-ach has no IAT layout (no currency)"
        for entry in batch["entries"]:
            detail = entry["entry_detail"]
            code = detail["transaction_code"]
            direction = "credit" if code[1] in "1234" else "debit" if code[1] in "56789" else None
            reading.entries.append(("USD", direction, int(detail["amount"])))
    control = data["file_control"]
    reading.stated = {
        ("USD", "debit"): (None, int(control["debit_amount"])),
        ("USD", "credit"): (None, int(control["credit_amount"])),
    }
    return reading


def peer_nacha_inconsistencies(name: str) -> list[str]:
    data = _ach(name)
    stated, present = int(data["file_control"]["batch_count"]), len(data["batches"])
    return [f"file control states {stated} batches, {present} are present"] if stated != present else []


PEER_READ: dict[str, Callable[[str], Reading]] = {
    "mt940": peer_mt940,
    "mt942": peer_mt940,
    "bai2": peer_bai2,
    "camt053": peer_camt053,
    "nacha": peer_nacha,
}
PEER_INCONSISTENCIES: dict[str, Callable[[str], list[str]]] = {
    "mt940": peer_mt940_inconsistencies,
    "mt942": peer_mt940_inconsistencies,
    "bai2": peer_bai2_inconsistencies,
    "camt053": peer_camt053_inconsistencies,
    "nacha": peer_nacha_inconsistencies,
}


# --- the tests -------------------------------------------------------------------------------------------------


def test_every_file_of_a_format_with_a_peer_is_compared() -> None:
    files = corpus_files()
    assert len(files) == 27
    assert set(PEER_DEFECTS) <= set(files) and set(REJECTED) <= set(files)
    assert not set(PEER_DEFECTS) & set(REJECTED)


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_rejected_file_is_inconsistent_for_the_peer_too(name: str) -> None:
    ours_says, peer_says = REJECTED[name]
    with pytest.raises(FileRejected) as caught:
        ours(name)
    assert ours_says in str(caught.value)
    assert PEER_INCONSISTENCIES[name.split("/")[0]](name) == [peer_says]


@pytest.mark.parametrize("name", [n for n in corpus_files() if n not in REJECTED])
def test_peer_and_we_read_the_same_entries_balances_and_totals(name: str) -> None:
    mine = ours(name)
    defects = PEER_DEFECTS.get(name, [])
    fatal = [d for d in defects if d.raises is not None]
    if fatal:
        # the peer cannot read the file: nothing to compare, and the test says so if the peer learns to
        raises = fatal[0].raises
        assert raises is not None
        with pytest.raises(raises):
            PEER_READ[name.split("/")[0]](name)
        return
    peer = PEER_READ[name.split("/")[0]](name)
    assert len(peer.entries) == len(mine.entries), (len(peer.entries), len(mine.entries))
    differ = {
        mine.lines[i]: (ours_entry, peer_entry)
        for i, (ours_entry, peer_entry) in enumerate(zip(mine.entries, peer.entries, strict=True))
        if ours_entry != peer_entry
    }
    # (5) exactly the listed entries differ, each still misread by the peer
    assert sorted(differ) == sorted(d.line for d in defects), differ
    skip = frozenset(i for i, line in enumerate(mine.lines) if line in differ)
    # (2) counts and, per currency and direction, counts and sums (without the peer's listed misreadings)
    assert peer.sums(skip) == mine.sums(skip)
    # (3) balances, statement by statement
    assert peer.balances == mine.balances
    # (4) the file's stated totals, as the peer reads them, against our entries
    for (ccy, direction), (count, total) in peer.stated.items():
        our_count, our_total = mine.sums().get((ccy, direction), (0, 0))
        assert (count if count is not None else our_count, total) == (our_count, our_total), (ccy, direction)


def test_each_listed_peer_defect_names_an_entry_we_read() -> None:
    for name, defects in PEER_DEFECTS.items():
        if all(d.raises is None for d in defects):
            assert {d.line for d in defects} <= set(ours(name).lines), name
