"""ISO 20022 camt.053 bank-to-customer statement (``BkToCstmrStmt``) to ``bank_statement_lines``.

Column documentation: ISO 20022 message definition ``camt.053.001.xx`` (BankToCustomerStatementV02 ..
V13, https://www.iso20022.org/iso-20022-message-definitions, Cash Management) and its usage guides
(e.g. the Common Global Implementation camt.053 guide). Any version is accepted: elements are matched
by local name, whatever the namespace. One row per ``<Ntry>``; statement balances (OPBD/PRCD and CLBD)
are checked against the entries.

The XML is parsed with defusedxml (no DTD, no entities, no external references) in one linear pass.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as DET
import polars as pl

from pipelines import money
from pipelines.formats.base import FileRejected, ParseContext, ParseResult, split_valid
from pipelines.schema import table

TABLE = "bank_statement_lines"
MAX_BYTES = 256 * 1024 * 1024
NOT_PROVIDED = "NOTPROVIDED"
OPENING_CODES = ("OPBD", "PRCD")
CLOSING_CODE = "CLBD"
# Entries with these statuses are not part of the booked balance.
UNBOOKED_STATUSES = ("PDNG", "INFO", "FUTR")
DIRECTIONS = {"CRDT": "credit", "DBIT": "debit"}

_NTRY_START = re.compile(rb"<([\w-]+:)?Ntry[\s>]")
_NTRY_END = re.compile(rb"</([\w-]+:)?Ntry\s*>")

_ENTRY_FIELDS = (
    "line_no",
    "_stmt",
    "_raw",
    "_amt",
    "_ccy",
    "_cdi",
    "_sts",
    "_bookg",
    "_val",
    "entry_ref",
    "end_to_end_id",
    "remittance_info",
    "_dbtr_name",
    "_cdtr_name",
    "bank_tx_code",
)


_LOCAL_NAMES: dict[str, str] = {}


def _local(tag: str) -> str:
    """Tag without its ``{namespace}`` part (memoised: a file has few distinct tags)."""
    name = _LOCAL_NAMES.get(tag)
    if name is None:
        name = _LOCAL_NAMES.setdefault(tag, tag.rpartition("}")[2])
    return name


def _all(elem: Element, path: str) -> list[Element]:
    """All descendants along ``path`` (local names separated by '/'), in document order.

    Tags are stripped of their namespace while parsing, so plain ElementPath lookups apply.
    """
    return elem.findall(path)


def _text(elem: Element, *paths: str) -> str | None:
    """Text of the first non-empty element along the first of ``paths`` that has one."""
    for path in paths:
        for node in _all(elem, path):
            text = (node.text or "").strip()
            if text:
                return text
    return None


def _attr(elem: Element, path: str, name: str) -> str | None:
    for node in _all(elem, path):
        value = node.get(name)
        if value is not None:
            return value.strip()
    return None


@dataclass
class _Balance:
    code: str
    amount: str | None
    currency: str | None
    indicator: str | None

    def signed_minor(self) -> int | None:
        """Signed minor units, or None when the balance is incomplete (no amount, currency or CdtDbtInd)."""
        if self.amount is None or self.currency is None or self.indicator not in DIRECTIONS:
            return None
        try:
            minor = money.to_minor(self.amount, self.currency)
        except (ValueError, ArithmeticError):
            return None
        return -minor if self.indicator == "DBIT" else minor


@dataclass
class _Statement:
    statement_id: str | None
    account_id: str | None
    balances: list[_Balance]

    def balance(self, codes: tuple[str, ...]) -> _Balance | None:
        for code in codes:
            for bal in self.balances:
                if bal.code == code:
                    return bal
        return None


def _statement(stmt: Element) -> _Statement:
    balances = [
        _Balance(
            code=_text(bal, "Tp/CdOrPrtry/Cd", "Tp/CdOrPrtry/Prtry") or "",
            amount=_text(bal, "Amt"),
            currency=_attr(bal, "Amt", "Ccy"),
            indicator=_text(bal, "CdtDbtInd"),
        )
        for bal in _all(stmt, "Bal")
    ]
    return _Statement(
        statement_id=_text(stmt, "Id"),
        account_id=_text(stmt, "Acct/Id/IBAN", "Acct/Id/Othr/Id"),
        balances=balances,
    )


def _bank_tx_code(entry: Element) -> str | None:
    for domain in _all(entry, "BkTxCd/Domn"):
        parts = [_text(domain, "Cd"), _text(domain, "Fmly/Cd"), _text(domain, "Fmly/SubFmlyCd")]
        if all(parts):
            return "/".join(p for p in parts if p)
    return _text(entry, "BkTxCd/Prtry/Cd")


def _party_name(entry: Element, role: str) -> str | None:
    return _text(entry, f"NtryDtls/TxDtls/RltdPties/{role}/Nm", f"NtryDtls/TxDtls/RltdPties/{role}/Pty/Nm")


def _entry(entry: Element) -> dict[str, Any]:
    end_to_end = next(iter(_all(entry, "NtryDtls/TxDtls/Refs/EndToEndId")), None)
    e2e = (end_to_end.text or "").strip() if end_to_end is not None else ""
    ustrd = [(n.text or "").strip() for n in _all(entry, "NtryDtls/TxDtls/RmtInf/Ustrd")]
    remittance = " ".join(t for t in ustrd if t)
    return {
        "_amt": _text(entry, "Amt"),
        "_ccy": _attr(entry, "Amt", "Ccy"),
        "_cdi": _text(entry, "CdtDbtInd"),
        "_sts": _text(entry, "Sts/Cd", "Sts"),
        "_bookg": _text(entry, "BookgDt/Dt", "BookgDt/DtTm"),
        "_val": _text(entry, "ValDt/Dt", "ValDt/DtTm"),
        "entry_ref": _text(entry, "NtryRef", "AcctSvcrRef"),
        "end_to_end_id": e2e if e2e and e2e != NOT_PROVIDED else None,
        "remittance_info": remittance or None,
        "_dbtr_name": _party_name(entry, "Dbtr"),
        "_cdtr_name": _party_name(entry, "Cdtr"),
        "bank_tx_code": _bank_tx_code(entry),
    }


def _entry_spans(data: bytes) -> Iterator[tuple[int, int, int]]:
    """(line, start offset, end offset) of every ``<Ntry>`` element in the raw bytes, in order."""
    ends = iter(_NTRY_END.finditer(data))
    line, pos = 1, 0
    for match in _NTRY_START.finditer(data):
        line += data.count(b"\n", pos, match.start())
        pos = match.start()
        end = next(ends, None)
        yield line, match.start(), end.end() if end is not None else len(data)


def _read(data: bytes) -> tuple[dict[str, list[Any]], list[_Statement]]:
    """One pass over the XML: entry fields (by column) and statement headers with balances."""
    columns: dict[str, list[Any]] = {name: [] for name in _ENTRY_FIELDS}
    statements: list[_Statement] = []
    spans = _entry_spans(data)
    seen_root = False
    try:
        for _event, elem in DET.iterparse(io.BytesIO(data), events=("end",), forbid_dtd=True):
            # Children end before their parent: by an entry's end its whole subtree is namespace-free.
            name = elem.tag = _local(elem.tag)
            if name == "Ntry":
                span = next(spans, None)
                if span is None:
                    raise FileRejected("could not locate the <Ntry> start tags in the file text")
                line, start, end = span
                columns["line_no"].append(line)
                columns["_stmt"].append(len(statements))
                columns["_raw"].append(data[start:end].decode("utf-8", errors="replace"))
                for key, value in _entry(elem).items():
                    columns[key].append(value)
                elem.clear()
            elif name == "Stmt":
                statements.append(_statement(elem))
                elem.clear()
            elif name == "BkToCstmrStmt":
                seen_root = True
    except defusedxml.DefusedXmlException as exc:
        raise FileRejected(
            f"XML refused: DTD, entity declarations and external references are not allowed ({exc!r})"
        ) from None
    except ParseError as exc:
        raise FileRejected(f"not well-formed XML: {exc}") from None
    if not seen_root:
        raise FileRejected("not a camt.053 statement: no BkToCstmrStmt element")
    if next(spans, None) is not None:
        raise FileRejected("could not locate the <Ntry> start tags: more tags in the text than entries parsed")
    return columns, statements


def _check_totals(frame: pl.DataFrame, statements: list[_Statement]) -> None:
    """Opening + credits - debits must equal closing for every statement whose balances are complete."""
    booked = frame.filter(~pl.col("_sts").is_in(list(UNBOOKED_STATUSES)) | pl.col("_sts").is_null())
    totals = {
        row["_stmt"]: row
        for row in booked.group_by("_stmt")
        .agg(
            pl.col("amount_minor").filter(pl.col("direction") == "credit").sum().alias("credits"),
            pl.col("amount_minor").filter(pl.col("direction") == "debit").sum().alias("debits"),
            (pl.col("_amount_ok") & pl.col("_direction_ok")).all().alias("readable"),
            pl.col("currency").unique().alias("currencies"),
        )
        .iter_rows(named=True)
    }
    for index, stmt in enumerate(statements):
        opening, closing = stmt.balance(OPENING_CODES), stmt.balance((CLOSING_CODE,))
        if opening is None or closing is None:
            continue
        open_minor, close_minor = opening.signed_minor(), closing.signed_minor()
        if open_minor is None or close_minor is None or opening.currency != closing.currency:
            continue  # incomplete or incomparable balances: no control total possible
        ccy = str(opening.currency)
        row = totals.get(index, {"credits": 0, "debits": 0, "readable": True, "currencies": [ccy]})
        if not row["readable"] or any(c != ccy for c in row["currencies"]):
            continue  # an unreadable entry is rejected on its own; the sum is then unknown
        credits, debits = int(row["credits"] or 0), int(row["debits"] or 0)
        computed = open_minor + credits - debits
        if computed != close_minor:
            opening_text, credits_text, debits_text, computed_text, closing_text, difference = (
                money.format_minor(m, ccy)
                for m in (open_minor, credits, debits, computed, close_minor, close_minor - computed)
            )
            raise FileRejected(
                f"statement {stmt.statement_id or f'#{index + 1}'} (account {stmt.account_id}): "
                f"opening balance {opening_text} + credits {credits_text} - debits {debits_text} "
                f"= {computed_text} {ccy}, but the closing balance is {closing_text} {ccy} (difference {difference})"
            )


def parse(path: Path, ctx: ParseContext) -> ParseResult:
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise FileRejected(f"file is {size} bytes, above the {MAX_BYTES} byte limit for camt.053")
    data = path.read_bytes()
    if not data.strip():
        raise FileRejected("file is empty")
    columns, statements = _read(data)
    schema = {name: pl.String() for name in _ENTRY_FIELDS} | {"line_no": pl.Int64(), "_stmt": pl.Int64()}
    frame = pl.DataFrame(columns, schema=schema)
    frame = frame.with_columns(
        pl.col("_stmt")
        .replace_strict({i: s.statement_id for i, s in enumerate(statements)}, default=None, return_dtype=pl.String)
        .alias("statement_id"),
        pl.col("_stmt")
        .replace_strict({i: s.account_id for i, s in enumerate(statements)}, default=None, return_dtype=pl.String)
        .alias("account_id"),
        pl.col("_ccy").str.strip_chars().alias("currency"),
    )
    minor, amount_error = money.parse_minor(pl.col("_amt"), pl.col("currency"))
    currency_error = money.currency_error(pl.col("currency"))
    frame = frame.with_columns(
        minor.alias("amount_minor"),
        pl.when(currency_error.is_not_null())
        .then(pl.lit(None, pl.String))
        .when(amount_error.is_not_null())
        .then(amount_error)
        .when(minor < 0)
        .then(pl.format("'{}' is negative; the direction is given by CdtDbtInd", pl.col("_amt")))
        .alias("_amount_error"),
        currency_error.alias("_currency_error"),
        pl.col("_cdi").replace_strict(DIRECTIONS, default=None, return_dtype=pl.String).alias("direction"),
        pl.col("_bookg").str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False).alias("booking_date"),
        pl.col("_val").str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False).alias("value_date"),
    )
    frame = frame.with_columns(
        (pl.col("_amount_error").is_null() & pl.col("_currency_error").is_null()).alias("_amount_ok"),
        pl.col("direction").is_not_null().alias("_direction_ok"),
        pl.when(pl.col("direction") == "credit")
        .then(pl.col("_dbtr_name"))
        .otherwise(pl.col("_cdtr_name"))
        .alias("counterparty_name"),
    )
    _check_totals(frame, statements)

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
        "BookgDt": pl.when(pl.col("_bookg").is_null())
        .then(pl.lit("booking date (BookgDt) is missing"))
        .when(pl.col("booking_date").is_null())
        .then(pl.format("'{}' is not a date", pl.col("_bookg"))),
        "ValDt": pl.when(pl.col("_val").is_not_null() & pl.col("value_date").is_null()).then(
            pl.format("'{}' is not a date", pl.col("_val"))
        ),
    }
    good, rejects = split_valid(
        frame, checks, raw=pl.col("_raw"), amount=pl.col("amount_minor"), currency=pl.col("currency")
    )
    good = good.with_columns(
        pl.lit(ctx.file_id).alias("file_id"),
        pl.lit(ctx.channel.id).alias("channel"),
        pl.col("booking_date").alias("business_date"),
    )
    return ParseResult(table=TABLE, frame=table(TABLE).conform(good), rejects=rejects, rows_in=frame.height)
