"""ISO 20022 bank-to-customer cash management messages (camt.052 report, camt.053 statement, camt.054
debit/credit notification) to ``bank_statement_lines``.

Column documentation: ISO 20022 message definitions ``camt.052/053/054.001.xx`` (Cash Management,
https://www.iso20022.org/iso-20022-message-definitions) and the usage guides (Common Global
Implementation, Swiss Payment Standards, EPC). Versions .02 to .13 are read alike (see ``iso20022``).

Rows. One row per ``<Ntry>``, unless the entry carries a breakdown: several ``<TxDtls>`` with their own
amounts. Then there is one row per ``<TxDtls>`` (``record_level`` = transaction), holding the
transaction's amount and direction, with the entry's amount in ``entry_amount_minor``: a batch booking
without breakdown stays one row, a batch with breakdown becomes its transactions, a netted batch
(credits and debits in one entry) keeps each transaction's own direction.

Control totals, each reported as passed, skipped (with why) or failed (``controls``); a failure rejects
the file with the figures:
- per statement (camt.052/053) and currency of its balances: opening (OPBD, else PRCD or ITBD) + booked
  credits - booked debits in that currency = closing (CLBD, else ITBD). A balance without ``CdtDbtInd`` is
  a credit, as ISO 20022 practice reads it (a leading '-' a debit). Opening and closing balances in
  different currencies, or an unreadable balance, reject the file (as MT940 does). Skipped: a statement
  without an opening or a closing balance, a sum with an unreadable entry (rejected as a row), entries in
  a currency the statement gives no balances in;
- per entry with a breakdown: the transactions' signed amounts add up to the entry's signed amount,
  and their number equals the batch's ``NbOfTxs`` and amount its ``TtlAmt`` when these are given
  (skipped when a transaction is in another currency or unreadable).
A message without any statement, report or notification is refused.

Amount details (``AmtDtls`` of the transaction, else of the entry): the instructed amount (else a
transaction amount in another currency than the row's) is ``original_amount_minor``/``original_currency``;
the first ``CcyXchg/XchgRate`` is ``exchange_rate`` as written (see ``iso20022.AmountDetails``).

Dates: ``booking_date`` is ``BookgDt``. An entry without one (always allowed for the unbooked statuses
PDNG, INFO and FUTR, which never count in the balance; missing from some real booked files too) takes
its value date, else the transaction's interbank settlement date, else the end of the period
(``FrToDt/ToDtTm``) or the creation date of its statement or notification; with none of these the row
is rejected.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import polars as pl

from pipelines.core import money
from pipelines.formats import controls as ctl
from pipelines.formats import iso20022 as x
from pipelines.formats.base import FileRejected, ParseContext, finish, split_valid

TABLE = "bank_statement_lines"

MESSAGES = {"052": "BkToCstmrAcctRpt", "053": "BkToCstmrStmt", "054": "BkToCstmrDbtCdtNtfctn"}
CONTAINERS = {"052": "Rpt", "053": "Stmt", "054": "Ntfctn"}
OPENING_CODES = ("OPBD", "PRCD", "ITBD")
CLOSING_CODES = ("CLBD", "ITBD")
BALANCE_CODES = frozenset(OPENING_CODES + CLOSING_CODES)
UNBOOKED_STATUSES = ("PDNG", "INFO", "FUTR")
DIRECTIONS = {"CRDT": "credit", "DBIT": "debit"}
FEE_SUBFAMILIES = ("CHRG", "COMM", "FEES", "CHRI", "SVCH")
INTEREST_SUBFAMILIES = ("INTR", "RIMB")
RETURN_SUBFAMILIES = ("RRTN", "UPDD", "ARET", "RPCR", "DAJT")
CREDIT_BTC_HINTS = ("RCDT", "RDDT", "RCCN", "RCHQ", "MCRD")

_STRING_FIELDS = (
    "_raw",
    "_amt",
    "_ccy",
    "_cdi",
    "_sts",
    "_bookg",
    "_val",
    "_fallback_date",
    "entry_ref",
    "bank_reference",
    "customer_reference",
    "transaction_id",
    "end_to_end_id",
    "remittance_info",
    "_dbtr_name",
    "_cdtr_name",
    "_dbtr_acct",
    "_cdtr_acct",
    "bank_tx_code",
    "creditor_reference",
    "creditor_reference_type",
    "mandate_id",
    "return_reason",
    "_chrg_error",
    "charges_currency",
    "_orig_amt",
    "original_currency",
    "_rate",
    "batch_id",
    "record_level",
    "_entry_amt",
    "_entry_ccy",
    "_entry_cdi",
    "_tx_error",
)
_INT_FIELDS = ("line_no", "_stmt", "_entry", "charges_minor", "batch_count")
_BOOL_FIELDS = ("reversal",)


@dataclass
class _Balance:
    code: str
    amount: x.Amount
    indicator: str | None

    def signed(self) -> tuple[int | None, str | None]:
        """Signed minor units, or why they cannot be read. Without ``CdtDbtInd`` the balance is a credit, as
        ISO 20022 practice reads an unsigned balance (a leading '-' makes it a debit)."""
        value, ccy = self.amount.value, self.amount.currency
        if value is None or ccy is None:
            return None, f"{self.code} balance has no {'amount' if value is None else 'currency (Amt/@Ccy)'}"
        negative = self.indicator is None and value.startswith("-")
        try:
            minor = money.to_minor(value[1:] if negative else value, ccy, signed=False)
        except (ValueError, ArithmeticError) as exc:
            return None, f"{self.code} balance amount '{value}' {ccy} is not valid: {exc}"
        if self.indicator is not None and self.indicator not in DIRECTIONS:
            return None, f"{self.code} balance CdtDbtInd '{self.indicator}' is neither CRDT nor DBIT"
        return (-minor if negative or self.indicator == "DBIT" else minor), None


@dataclass
class _Container:
    """A statement, report or notification: its id, account and balances."""

    container_id: str | None
    account_id: str | None
    created: str | None
    balances: list[_Balance] = field(default_factory=list)

    def balance(self, codes: tuple[str, ...], currency: str | None) -> _Balance | None:
        """The balance of the first of ``codes`` that the container gives in ``currency``."""
        for code in codes:
            for bal in self.balances:
                if bal.code == code and bal.amount.currency == currency:
                    return bal
        return None

    def scope(self, index: int) -> str:
        return f"statement {self.container_id or f'#{index + 1}'} (account {self.account_id})"


def _container(elem: Element) -> _Container:
    balances = [
        _Balance(
            code=x.text(bal, "Tp/CdOrPrtry/Cd", "Tp/CdOrPrtry/Prtry") or "",
            amount=x.amount(bal, "Amt"),
            indicator=x.text(bal, "CdtDbtInd"),
        )
        for bal in elem.iterfind("Bal")
    ]
    return _Container(
        container_id=x.text(elem, "Id"),
        account_id=x.account_id(elem, "Acct"),
        created=x.text(elem, "FrToDt/ToDtTm", "CreDtTm"),
        balances=balances,
    )


def _charges(elem: Element) -> tuple[int | None, str | None, str | None]:
    """(minor, currency, error) of the charges on an entry or transaction: the total, else the records."""
    total = x.amount(elem, "Chrgs/TtlChrgsAndTaxAmt")
    parts = [total] if total.value is not None else [x.amount(r, "Amt") for r in elem.iterfind("Chrgs/Rcrd")]
    parts = [p for p in parts if p.value is not None]
    if not parts:
        return None, None, None
    currencies = {p.currency for p in parts}
    if len(currencies) != 1 or None in currencies:
        return None, None, "charges are in several or no currencies"
    minors = [p.minor() for p in parts]
    if any(m is None for m in minors):
        bad = next(p for p, m in zip(parts, minors, strict=True) if m is None)
        return None, None, f"charge amount '{bad.value}' {bad.currency} is not a valid amount"
    return sum(m for m in minors if m is not None), parts[0].currency, None


def _remittance(tx: x.Flat) -> str | None:
    parts = tx.texts("RmtInf/Ustrd") + tx.texts("RmtInf/Strd/AddtlRmtInf")
    return " ".join(parts) or None


def _tx_fields(elem: Element) -> dict[str, Any]:
    tx = x.Flat(elem)
    cref, cref_type = x.creditor_reference(elem) if tx.has("RmtInf/Strd/CdtrRefInf") else (None, None)
    charges = _charges(elem) if tx.has("Chrgs") else (None, None, None)
    return {
        "customer_reference": x.reference(tx.text("Refs/InstrId")),
        "transaction_id": x.reference(tx.text("Refs/TxId")),
        "end_to_end_id": x.reference(tx.text("Refs/EndToEndId")),
        "_tx_bank_ref": tx.text("Refs/AcctSvcrRef"),
        "mandate_id": x.reference(tx.text("Refs/MndtId")),
        "remittance_info": _remittance(tx),
        "_dbtr_name": tx.party_name("Dbtr"),
        "_cdtr_name": tx.party_name("Cdtr"),
        "_dbtr_acct": tx.account_id("RltdPties/DbtrAcct"),
        "_cdtr_acct": tx.account_id("RltdPties/CdtrAcct"),
        "creditor_reference": cref,
        "creditor_reference_type": cref_type,
        "return_reason": tx.text("RtrInf/Rsn/Cd", "RtrInf/Rsn/Prtry"),
        "_tx_charges": charges,
        "_tx_fx": x.AmountDetails.of(tx),
        "_settled": tx.text("RltdDts/IntrBkSttlmDt"),
        "_tx_btc": tx.bank_tx_code(),
        "_tx_amount": tx.amount("Amt") if tx.text("Amt") else tx.amount("AmtDtls/TxAmt/Amt"),
        "_tx_cdi": tx.text("CdtDbtInd"),
    }


def _merge(details: list[dict[str, Any]]) -> dict[str, Any]:
    """Fields of several amount-less TxDtls as one: the first value of each, remittance texts joined."""
    merged: dict[str, Any] = {}
    for tx in details:
        for key, value in tx.items():
            if value is not None and merged.get(key) is None:
                merged[key] = value
    remittances = [tx["remittance_info"] for tx in details if tx.get("remittance_info")]
    if remittances:
        merged["remittance_info"] = " ".join(remittances)
    return merged


class _Reader:
    """Collects rows column by column while the XML streams past."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.columns: dict[str, list[Any]] = {n: [] for n in (*_STRING_FIELDS, *_INT_FIELDS, *_BOOL_FIELDS)}
        self.containers: list[_Container] = []
        self.entry_count = 0
        self.entries = x.LineLocator(data, "Ntry")
        self.txs = x.LineLocator(data, "TxDtls")
        self.breakdown_errors: list[str] = []
        self.breakdowns_added_up = 0
        self.breakdowns_skipped: list[ctl.Check] = []

    def add(self, row: dict[str, Any]) -> None:
        for name, values in self.columns.items():
            values.append(row.get(name))

    def entry(self, ntry: Element, container_index: int, container_created: str | None) -> None:
        line, start = self.entries.next()
        index = self.entry_count
        self.entry_count += 1
        tx_elems = ntry.findall("NtryDtls/TxDtls")
        tx_lines = [self.txs.next() for _ in tx_elems]
        flat = x.Flat(ntry, skip=frozenset({"NtryDtls"}))
        batch = ntry.find("NtryDtls/Btch")
        batch_flat = x.Flat(batch) if batch is not None else None
        amt = flat.amount("Amt")
        cdi = flat.text("CdtDbtInd")
        rvsl = (flat.text("RvslInd") or "").lower() == "true"
        status = flat.text("Sts/Cd", "Sts")
        chrg, chrg_ccy, chrg_err = _charges(ntry) if flat.has("Chrgs") else (None, None, None)
        nb_txs = batch_flat.text("NbOfTxs") if batch_flat else None
        batch_id = batch_flat.text("PmtInfId", "MsgId") if batch_flat else None
        btc = flat.bank_tx_code()
        base: dict[str, Any] = {
            "_stmt": container_index,
            "_entry": index,
            "_amt": amt.value,
            "_ccy": amt.currency,
            "_cdi": cdi,
            "_sts": status,
            "_bookg": flat.text("BookgDt/Dt", "BookgDt/DtTm"),
            "_val": flat.text("ValDt/Dt", "ValDt/DtTm"),
            # The account servicer's entry reference, else its reference for the booking (AcctSvcrRef).
            "entry_ref": flat.text("NtryRef", "AcctSvcrRef"),
            "bank_reference": flat.text("AcctSvcrRef"),
            "bank_tx_code": btc,
            "reversal": rvsl,
            "batch_id": batch_id,
            "batch_count": int(nb_txs) if nb_txs and nb_txs.isdigit() else None,
            "_entry_amt": amt.value,
            "_entry_ccy": amt.currency,
            "_entry_cdi": cdi,
        }
        raw_end = self.data.find(b"</", start)
        end_match = self.data.find(b"Ntry>", raw_end)
        raw = self.data[start : end_match + 5 if end_match >= 0 else len(self.data)].decode("utf-8", errors="replace")
        details = [_tx_fields(tx) for tx in tx_elems]
        amounts: list[tuple[x.Amount, str | None]] = [(d["_tx_amount"], d["_tx_cdi"]) for d in details]
        # A breakdown needs amounts: TxDtls that all lack one only describe the entry (merged into its row).
        # One TxDtls describes its entry (its amount may be the instructed one, in another currency).
        breakdown = len(tx_elems) > 1 and any(a.value is not None for a, _ in amounts)
        if not breakdown:
            tx = _merge(details)
            charges = (chrg, chrg_ccy, chrg_err) if chrg is not None or chrg_err else tx.get("_tx_charges")
            fx_details = [*(d["_tx_fx"] for d in details), x.AmountDetails.of(flat)]
            self.add(
                base
                | {k: v for k, v in tx.items() if not k.startswith("_tx") and k != "_settled" and v is not None}
                | x.fx_fields(amt.currency, fx_details, [a for a, _ in amounts])
                | {
                    "line_no": line,
                    "_raw": raw,
                    "record_level": "entry",
                    "_fallback_date": (tx.get("_settled") or container_created),
                    "charges_minor": charges[0] if charges else None,
                    "charges_currency": charges[1] if charges else None,
                    "_chrg_error": charges[2] if charges else None,
                    "bank_reference": base["bank_reference"] or tx.get("_tx_bank_ref"),
                    "_entry_amt": None,
                }
            )
            return
        total = batch_flat.amount("TtlAmt") if batch_flat else x.Amount(None, None)
        self._check_breakdown(line, amt, cdi, nb_txs, total, amounts)
        for (tx_line, tx_start), tx, (tx_amt, tx_cdi) in zip(tx_lines, details, amounts, strict=True):
            tx_end = self.data.find(b"TxDtls>", self.data.find(b"</", tx_start))
            tx_raw = self.data[tx_start : tx_end + 7].decode("utf-8", errors="replace")
            charges = tx["_tx_charges"]
            self.add(
                base
                | {k: v for k, v in tx.items() if not k.startswith("_tx") and v is not None}
                | x.fx_fields(tx_amt.currency, [tx["_tx_fx"]], [])
                | {
                    "line_no": tx_line,
                    "_raw": tx_raw,
                    "record_level": "transaction",
                    "_amt": tx_amt.value,
                    "_ccy": tx_amt.currency,
                    "_cdi": tx_cdi or cdi,
                    "_fallback_date": tx.get("_settled") or container_created,
                    "charges_minor": charges[0],
                    "charges_currency": charges[1],
                    "_chrg_error": charges[2],
                    "bank_reference": tx.get("_tx_bank_ref") or base["bank_reference"],
                    "bank_tx_code": tx.get("_tx_btc") or btc,
                    "_tx_error": None
                    if tx_amt.value is not None
                    else "transaction has no amount (Amt or AmtDtls/TxAmt)",
                }
            )

    def _check_breakdown(
        self,
        line: int,
        amt: x.Amount,
        cdi: str | None,
        nb_txs: str | None,
        total: x.Amount,
        amounts: list[tuple[x.Amount, str | None]],
    ) -> None:
        """The transactions of a breakdown must add up to their entry (and its batch figures)."""
        where = f"entry on line {line}"
        if nb_txs and nb_txs.isdigit() and int(nb_txs) != len(amounts):
            self.breakdown_errors.append(f"{where}: batch NbOfTxs is {nb_txs} but {len(amounts)} TxDtls are given")
        entry_minor = amt.minor()
        if entry_minor is None or cdi not in DIRECTIONS or amt.currency is None:
            why = "the entry's amount or direction is unreadable (its rows are rejected), so there is no sum to compare"
            self.breakdowns_skipped.append(ctl.skipped("batch breakdown", where, why))
            return
        signed = 0
        unsigned = 0
        for tx_amt, tx_cdi in amounts:
            minor = tx_amt.minor()
            direction = tx_cdi or cdi
            if minor is None or tx_amt.currency != amt.currency or direction not in DIRECTIONS:
                why = (
                    f"a transaction is in {tx_amt.currency}, the entry in {amt.currency}: no sum in one currency"
                    if minor is not None and direction in DIRECTIONS
                    else "a transaction's amount or direction is unreadable (that row is rejected)"
                )
                self.breakdowns_skipped.append(ctl.skipped("batch breakdown", where, why))
                return
            signed += -minor if direction == "DBIT" else minor
            unsigned += minor
        entry_signed = -entry_minor if cdi == "DBIT" else entry_minor
        ccy = amt.currency
        if signed != entry_signed:
            self.breakdown_errors.append(
                f"{where}: its {len(amounts)} transactions add up to {money.format_minor(signed, ccy)} {ccy} "
                f"but the entry books {money.format_minor(entry_signed, ccy)} {ccy} "
                f"(difference {money.format_minor(entry_signed - signed, ccy)})"
            )
        total_minor = total.minor()
        if total_minor is not None and total.currency == ccy and total_minor not in (entry_minor, unsigned):
            self.breakdown_errors.append(
                f"{where}: batch TtlAmt {total.value} {ccy} is neither the entry amount "
                f"{money.format_minor(entry_minor, ccy)} nor the sum of its transactions "
                f"{money.format_minor(unsigned, ccy)}"
            )
        self.breakdowns_added_up += 1

    def breakdown_checks(self) -> list[ctl.Check]:
        checks = list(self.breakdowns_skipped)
        if self.breakdowns_added_up:
            n = self.breakdowns_added_up
            what = "the signed sum of its transactions (and to NbOfTxs and TtlAmt where given)"
            scope = f"{n} batch {'entry' if n == 1 else 'entries'}"
            checks.insert(0, ctl.passed("batch breakdown", scope, f"each adds up to {what}"))
        return checks


def read(data: bytes, kind: str) -> tuple[pl.DataFrame, list[_Container], list[ctl.Check]]:
    """Stream the message: one row per entry or transaction (String columns), the containers and the batch
    breakdown checks (passed or skipped: a breakdown that does not add up rejects the file)."""
    message, container = MESSAGES[kind], CONTAINERS[kind]
    reader = _Reader(data)
    seen_root = False
    created: str | None = None
    pending: list[Element] = []
    for elem in x.iterparse(data, ("Ntry", container, message, "CreDtTm", "GrpHdr")):
        name = elem.tag
        if name == "Ntry":
            pending.append(elem)
        elif name == "GrpHdr":
            created = x.text(elem, "CreDtTm")
        elif name == container:
            head = _container(elem)
            head.created = head.created or created
            reader.containers.append(head)
            for ntry in pending:
                reader.entry(ntry, len(reader.containers) - 1, head.created)
            pending.clear()
            elem.clear()
        elif name == message:
            seen_root = True
    if not seen_root:
        found = x.root_name(data)
        known = {v: f"camt.{k}" for k, v in MESSAGES.items()}
        hint = f" ({found} is {known[found]})" if found in known else (f" (found {found})" if found else "")
        raise FileRejected(f"not a camt.{kind} message: no {message} element{hint}")
    if pending:
        raise FileRejected(f"<Ntry> outside a <{container}> element")
    if not reader.containers:
        raise FileRejected(f"camt.{kind} message has no <{container}> element: nothing is reported in it")
    reader.entries.finish()
    reader.txs.finish()
    if reader.breakdown_errors:
        raise FileRejected("batch breakdown does not add up: " + "; ".join(reader.breakdown_errors))
    schema = (
        {n: pl.String() for n in _STRING_FIELDS} | {n: pl.Int64() for n in _INT_FIELDS} | {"reversal": pl.Boolean()}
    )
    return pl.DataFrame(reader.columns, schema=schema), reader.containers, reader.breakdown_checks()


def _entry_sums(frame: pl.DataFrame) -> dict[tuple[int, str | None], dict[str, Any]]:
    """Per (statement, currency) of the booked entries: credits, debits, and the line of an unreadable entry."""
    entries = frame.unique("_entry", keep="first", maintain_order=True)
    booked = entries.filter(~pl.col("_sts").is_in(list(UNBOOKED_STATUSES)) | pl.col("_sts").is_null())
    minor, error = money.parse_minor(pl.col("_entry_amt_all"), pl.col("_entry_ccy"), signed=False, accounting=False)
    # An unreadable or negative amount is rejected on its own row; the sum is then unknown.
    readable = (
        money.currency_error(pl.col("_entry_ccy")).is_null()
        & pl.col("_e").is_null()
        & pl.col("_m").is_not_null()
        & (pl.col("_m") >= 0)
        & pl.col("_entry_cdi").is_in(list(DIRECTIONS))
    )
    return {
        (row["_stmt"], row["_entry_ccy"]): row
        for row in booked.with_columns(pl.coalesce("_entry_amt", "_amt").alias("_entry_amt_all"))
        .with_columns(minor.alias("_m"), error.alias("_e"))
        .group_by("_stmt", "_entry_ccy")
        .agg(
            pl.col("_m").filter(pl.col("_entry_cdi") == "CRDT").sum().alias("credits"),
            pl.col("_m").filter(pl.col("_entry_cdi") == "DBIT").sum().alias("debits"),
            pl.col("line_no").filter(~readable).first().alias("unreadable"),
            pl.len().alias("entries"),
        )
        .iter_rows(named=True)
    }


def _balance_checks(frame: pl.DataFrame, containers: list[_Container]) -> list[ctl.Check]:
    """Opening + booked credits - booked debits = closing, per statement and currency of its balances.

    A balance without ``CdtDbtInd`` is a credit (see ``_Balance.signed``). Each currency in which the statement
    gives both an opening and a closing balance is checked on the booked entries in that currency. Opening and
    closing balances in different currencies reject the file (as MT940 does), and so does a balance that cannot
    be read. The check is skipped, with the reason, when the statement lacks the balances or an entry's amount
    is unreadable (that row is rejected), and for entries in a currency without balances.
    """
    sums = _entry_sums(frame)
    checks: list[ctl.Check] = []
    for index, stmt in enumerate(containers):
        scope = stmt.scope(index)
        currencies = list(dict.fromkeys(b.amount.currency for b in stmt.balances if b.code in BALANCE_CODES))
        opened = [ccy for ccy in currencies if stmt.balance(OPENING_CODES, ccy)]
        closed = [ccy for ccy in currencies if stmt.balance(CLOSING_CODES, ccy)]
        pending = {ccy for (i, ccy) in sums if i == index}
        if not opened or not closed:
            ends = (("opening (OPBD, PRCD or ITBD)", opened), ("closing (CLBD or ITBD)", closed))
            missing = " and no ".join(end for end, given in ends if not given)
            checks.append(ctl.skipped("balance", scope, f"the statement gives no {missing} balance"))
            continue
        if None in currencies:
            checks.append(ctl.failed("balance", scope, f"{scope}: a balance has no currency (Amt/@Ccy)"))
            continue
        if set(opened) != set(closed):
            detail = f"{scope}: opening balance in {', '.join(map(str, opened))} but closing balance in "
            checks.append(ctl.failed("balance", scope, detail + ", ".join(map(str, closed))))
            continue
        # an unreadable entry (its row is rejected) leaves every sum of its statement unknown
        lines = [row["unreadable"] for (i, _), row in sums.items() if i == index and row["unreadable"] is not None]
        for ccy in opened:
            pending.discard(ccy)
            checks.append(_balance_check(stmt, index, str(ccy), sums.get((index, ccy)), min(lines, default=None)))
        for ccy in sorted(p for p in pending if p is not None):  # (one without a currency is unreadable)
            n = sums[(index, ccy)]["entries"]
            what = f"{n} booked entr{'y' if n == 1 else 'ies'} in {ccy}"
            checks.append(ctl.skipped("balance", scope, f"{what}, a currency in which the statement gives no balance"))
    return checks


def _balance_check(
    stmt: _Container, index: int, ccy: str, row: dict[str, Any] | None, unreadable: int | None
) -> ctl.Check:
    scope = stmt.scope(index)
    opening, closing = stmt.balance(OPENING_CODES, ccy), stmt.balance(CLOSING_CODES, ccy)
    assert opening is not None and closing is not None
    if opening is closing:
        return ctl.skipped("balance", scope, f"the only {ccy} balance is {opening.code}: no opening and closing pair")
    (open_minor, open_error), (close_minor, close_error) = opening.signed(), closing.signed()
    if open_minor is None or close_minor is None:
        return ctl.failed("balance", scope, f"{scope}: {open_error or close_error}")
    row = row or {"credits": 0, "debits": 0}
    if unreadable is not None:
        why = f"the booked entry on line {unreadable} has no readable amount, currency or direction (it is rejected)"
        return ctl.skipped("balance", scope, why + ": no sum")
    credits, debits = int(row["credits"] or 0), int(row["debits"] or 0)
    computed = open_minor + credits - debits
    f = [money.format_minor(m, ccy) for m in (open_minor, credits, debits, computed, close_minor)]
    if computed != close_minor:
        return ctl.failed(
            "balance",
            scope,
            f"{scope}: opening balance {f[0]} + credits {f[1]} - debits {f[2]} = {f[3]} {ccy}, but the closing "
            f"balance is {f[4]} {ccy} (difference {money.format_minor(close_minor - computed, ccy)})",
        )
    how = "" if opening.indicator and closing.indicator else " (a balance without CdtDbtInd read as a credit)"
    return ctl.passed(
        "balance",
        scope,
        f"{opening.code} {f[0]} + credits {f[1]} - debits {f[2]} = {closing.code} {f[4]} {ccy}{how}",
    )


def _record_type() -> pl.Expr:
    btc = pl.col("bank_tx_code").fill_null("")
    sub = btc.str.split("/").list.get(-1, null_on_oob=True)
    return (
        pl.when(pl.col("reversal"))
        .then(pl.lit("reversal"))
        .when(pl.col("return_reason").is_not_null() | sub.is_in(list(RETURN_SUBFAMILIES)))
        .then(pl.lit("return"))
        .when(sub.is_in(list(FEE_SUBFAMILIES)) | btc.str.contains("/CHRG/"))
        .then(pl.lit("fee"))
        .when(sub.is_in(list(INTEREST_SUBFAMILIES)))
        .then(pl.lit("interest"))
        .otherwise(pl.lit("payment"))
    )


def _date(text: pl.Expr) -> pl.Expr:
    return text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)


def parse_camt(path: Path, ctx: ParseContext, kind: str, *, max_bytes: int = x.MAX_BYTES) -> ctl.CheckedResult:
    """Read a camt.052 (``kind`` "052"), camt.053 ("053") or camt.054 ("054") message; ``max_bytes`` caps its size."""
    data = x.read_bytes(path, f"camt.{kind}", max_bytes)
    frame, containers, controls = read(data, kind)
    ids = {i: c.container_id for i, c in enumerate(containers)}
    accounts = {i: c.account_id for i, c in enumerate(containers)}
    frame = frame.with_columns(
        pl.col("_stmt").replace_strict(ids, default=None, return_dtype=pl.String).alias("statement_id"),
        pl.col("_stmt").replace_strict(accounts, default=None, return_dtype=pl.String).alias("account_id"),
        pl.col("_ccy").str.strip_chars().alias("currency"),
        pl.col("_entry_ccy").str.strip_chars(),
        pl.col("original_currency").str.strip_chars(),
    )
    if kind != "054":  # a notification has no balances
        controls = _balance_checks(frame, containers) + controls
    ctl.reject_failures(controls)
    minor, amount_error = money.parse_minor(pl.col("_amt"), pl.col("currency"), signed=False, accounting=False)
    entry_minor, _ = money.parse_minor(
        pl.col("_entry_amt"), pl.col("_entry_ccy"), required=False, signed=False, accounting=False
    )
    orig_minor, orig_error = money.parse_minor(
        pl.col("_orig_amt"), pl.col("original_currency"), required=False, signed=False, accounting=False
    )
    currency_error = money.currency_error(pl.col("currency"))
    frame = frame.with_columns(
        minor.alias("amount_minor"),
        entry_minor.alias("entry_amount_minor"),
        pl.when(money.currency_error(pl.col("original_currency")).is_null()).then(orig_minor).alias("_orig_minor"),
        pl.when(pl.col("_tx_error").is_not_null())
        .then(pl.col("_tx_error"))
        .when(currency_error.is_not_null())
        .then(pl.lit(None, pl.String))
        .when(pl.col("_amt").str.strip_chars().str.contains(r"^-[0-9.]+$|^[0-9.]+-$"))
        .then(pl.format("'{}' is negative; the direction is given by CdtDbtInd", pl.col("_amt")))
        .when(pl.col("_amt").str.strip_chars().str.contains(r"^\+[0-9.]+$"))
        .then(pl.format("'{}' has a sign; the direction is given by CdtDbtInd", pl.col("_amt")))
        .when(amount_error.is_not_null())
        .then(amount_error)
        .alias("_amount_error"),
        pl.when(pl.col("_tx_error").is_null()).then(currency_error).alias("_currency_error"),
        pl.col("_cdi").replace_strict(DIRECTIONS, default=None, return_dtype=pl.String).alias("direction"),
        _date(pl.col("_bookg")).alias("_booking"),
        _date(pl.col("_val")).alias("value_date"),
        pl.when(pl.col("_bookg").is_null())
        .then(pl.coalesce(_date(pl.col("_val")), _date(pl.col("_fallback_date"))))
        .alias("_fallback"),
    )
    frame = frame.with_columns(
        pl.coalesce("_booking", "_fallback").alias("booking_date"),
        pl.when(pl.col("direction") == "credit")
        .then(pl.col("_dbtr_name"))
        .otherwise(pl.col("_cdtr_name"))
        .alias("counterparty_name"),
        pl.when(pl.col("direction") == "credit")
        .then(pl.col("_dbtr_acct"))
        .otherwise(pl.col("_cdtr_acct"))
        .alias("counterparty_account"),
        pl.col("_sts").alias("entry_status"),
        _record_type().alias("record_type"),
    )
    rate_text = pl.col("_rate").str.strip_chars()
    frame = frame.with_columns(
        pl.when(rate_text.str.contains(r"^\d+(\.\d{1,12})?$"))
        .then(rate_text)
        .cast(pl.Decimal(38, 12), strict=False)
        .alias("exchange_rate"),
    )
    checks = {
        "Acct/Id": pl.when(pl.col("account_id").is_null()).then(
            pl.lit("statement has no account id (Acct/Id/IBAN or Acct/Id/Othr/Id)")
        ),
        "Amt": pl.col("_amount_error"),
        "Amt/@Ccy": pl.col("_currency_error"),
        "CdtDbtInd": pl.when(pl.col("_cdi").is_null())
        .then(pl.lit("CdtDbtInd is missing"))
        .when(pl.col("direction").is_null())
        .then(pl.format("'{}' is neither CRDT nor DBIT", pl.col("_cdi"))),
        "BookgDt": pl.when(pl.col("_bookg").is_null() & pl.col("_fallback").is_null())
        .then(pl.lit("booking date (BookgDt) is missing"))
        .when(pl.col("_bookg").is_not_null() & pl.col("_booking").is_null())
        .then(pl.format("'{}' is not a date", pl.col("_bookg"))),
        "ValDt": pl.when(pl.col("_val").is_not_null() & pl.col("value_date").is_null()).then(
            pl.format("'{}' is not a date", pl.col("_val"))
        ),
        "Chrgs": pl.col("_chrg_error"),
        "AmtDtls/InstdAmt": pl.when(pl.col("_orig_amt").is_not_null() & pl.col("_orig_minor").is_null()).then(
            pl.format(
                "instructed amount '{}' {} is not a valid amount", pl.col("_orig_amt"), pl.col("original_currency")
            )
        ),
        "XchgRate": pl.when(pl.col("_rate").is_not_null() & pl.col("exchange_rate").is_null()).then(
            pl.format("'{}' is not an exchange rate", pl.col("_rate"))
        ),
    }
    good, rejects = split_valid(
        frame, checks, raw=pl.col("_raw"), amount=pl.col("amount_minor"), currency=pl.col("currency")
    )
    good = good.with_columns(
        pl.col("booking_date").alias("business_date"),
        pl.col("_orig_minor").alias("original_amount_minor"),
        pl.when(pl.col("_orig_minor").is_null())
        .then(pl.lit(None, pl.String))
        .otherwise(pl.col("original_currency"))
        .alias("original_currency"),
        pl.when(pl.col("record_level") == "transaction").then(pl.col("entry_amount_minor")).alias("entry_amount_minor"),
    )
    return ctl.with_checks(finish(TABLE, good, rejects, ctx, frame.height), controls)
