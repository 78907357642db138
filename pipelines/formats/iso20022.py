"""Shared reading of ISO 20022 XML messages (camt.05x cash management, pain.00x payments initiation).

Safety: the XML is parsed with defusedxml (``forbid_dtd``: no DTD, so no entity expansion and no
external entity or reference can be declared) after a size check, in one linear pass. Elements are
matched by local name whatever the namespace (or its absence: some banks deliver without one), so any
message version is read the same way.

Line numbers: the parser does not report where an element starts, so the start tags of the repeated
elements (``<Ntry>``, ``<TxDtls>``, ...) are located in the raw bytes with a regular expression and
paired, in document order, with the elements the parser returns; a count mismatch rejects the file.

Encodings: the bytes are read as UTF-8 after ``as_utf8``: a UTF-16 or UTF-32 document (byte order mark,
or UTF-16 without one) or one whose XML declaration names another encoding is re-encoded first, so its
lines and raw texts read the same; an encoding that does not hold rejects the file naming it.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as DET

from pipelines.core import money
from pipelines.formats.base import FileRejected, read_limited

MAX_BYTES = 256 * 1024 * 1024
NOT_PROVIDED = "NOTPROVIDED"

_LOCAL_NAMES: dict[str, str] = {}


def local(tag: str) -> str:
    """Tag without its ``{namespace}`` part (memoised: a file has few distinct tags)."""
    name = _LOCAL_NAMES.get(tag)
    if name is None:
        name = _LOCAL_NAMES.setdefault(tag, tag.rpartition("}")[2])
    return name


def read_bytes(path: Path, what: str, max_bytes: int = MAX_BYTES) -> bytes:
    """The file's bytes as UTF-8 (see ``as_utf8``); rejected when above ``max_bytes`` or blank."""
    return as_utf8(read_limited(path, what, max_bytes))


# UTF-32 before UTF-16: the UTF-32 LE byte order mark begins with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32LE"),
    (codecs.BOM_UTF32_BE, "UTF-32BE"),
    (codecs.BOM_UTF16_LE, "UTF-16LE"),
    (codecs.BOM_UTF16_BE, "UTF-16BE"),
)
_NO_BOM_UTF16 = ((b"<\x00", "UTF-16LE"), (b"\x00<", "UTF-16BE"))
_DECLARED = re.compile(rb"""^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?\bencoding\s*=\s*["']([A-Za-z][A-Za-z0-9._-]*)["']""")
_DECLARED_TEXT = re.compile(r"""^(\s*<\?xml[^>]*?\bencoding\s*=\s*["'])([A-Za-z][A-Za-z0-9._-]*)(["'])""")
_UTF8 = frozenset({"utf8", "utf_8", "u8", "ascii", "us_ascii", "646"})


def as_utf8(data: bytes) -> bytes:
    """The document as UTF-8 bytes, which the line locator and the rows' raw text read.

    UTF-8 (with or without its byte order mark) and ASCII come back unchanged. A document in UTF-16 or
    UTF-32 (recognised by its byte order mark, or UTF-16 without one by its first character '<'), or in an
    encoding its XML declaration names (ISO-8859-1, windows-1252, ...), is decoded and re-encoded as UTF-8,
    its declaration then naming UTF-8; line numbers are kept. An unknown encoding, or bytes that are not in
    the encoding they claim, reject the file naming the encoding.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _transcode(data[len(bom) :], encoding, "its byte order mark")
    for start, encoding in _NO_BOM_UTF16:
        if data.startswith(start):
            return _transcode(data, encoding, "its first character '<' in two bytes")
    declared = _DECLARED.match(data)
    if declared is None:
        return data
    name = declared.group(1).decode("ascii")
    try:
        codec = codecs.lookup(name).name.replace("-", "_")
    except LookupError:
        raise FileRejected(f"the XML declaration names the encoding {name!r}, which is not known") from None
    if codec in _UTF8:
        return data
    if codec.startswith(("utf_16", "utf_32")):
        raise FileRejected(
            f"the XML declaration names the encoding {name!r}, but the file is not in it "
            "(no byte order mark, and its first character '<' is one byte)"
        )
    return _transcode(data, name, "its XML declaration")


def _transcode(data: bytes, encoding: str, because: str) -> bytes:
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise FileRejected(
            f"file is not valid {encoding} (the encoding {because} gives): byte {exc.start}: {exc.reason}"
        ) from None
    text = _DECLARED_TEXT.sub(r"\g<1>UTF-8\g<3>", text.removeprefix("\ufeff"), count=1)
    return text.encode("utf-8")


class LineLocator:
    """Line numbers of the start tags of one element name, in document order."""

    def __init__(self, data: bytes, name: str) -> None:
        self._data = data
        self._pattern = re.compile(rb"<([\w.-]+:)?" + name.encode() + rb"[\s>/]")
        self._name = name
        self._iter = self._spans()

    def _spans(self) -> Iterator[tuple[int, int]]:
        line, pos = 1, 0
        for match in self._pattern.finditer(self._data):
            line += self._data.count(b"\n", pos, match.start())
            pos = match.start()
            yield line, match.start()

    def next(self) -> tuple[int, int]:
        span = next(self._iter, None)
        if span is None:
            raise FileRejected(f"could not locate the <{self._name}> start tags in the file text")
        return span

    def finish(self) -> None:
        if next(self._iter, None) is not None:
            raise FileRejected(f"could not locate the <{self._name}> start tags: more in the text than parsed")


def iterparse(data: bytes, collect: Iterable[str]) -> Iterator[Element]:
    """Yield every element whose local name is in ``collect`` when it ends, its subtree namespace-free.

    The caller clears what it no longer needs. Raises ``FileRejected`` for DTDs, entities and external
    references, and for XML that is not well-formed.
    """
    wanted = frozenset(collect)
    try:
        for _event, elem in DET.iterparse(io.BytesIO(data), events=("end",), forbid_dtd=True):
            name = elem.tag = local(elem.tag)
            if name in wanted:
                yield elem
    except defusedxml.DefusedXmlException as exc:
        raise FileRejected(
            f"XML refused: DTD, entity declarations and external references are not allowed ({exc!r})"
        ) from None
    except ParseError as exc:
        raise FileRejected(f"not well-formed XML: {exc}") from None


def root_name(data: bytes) -> str | None:
    """Local name of the message element under ``Document`` (or the root), read from the first tags."""
    head = data[:4096]
    for match in re.finditer(rb"<(?:[\w.-]+:)?([A-Za-z][\w]*)[\s>/]", head):
        name = match.group(1).decode()
        if name != "Document":
            return name
    return None


def text(elem: Element, *paths: str) -> str | None:
    """Stripped text of the first non-empty element along the first of ``paths`` that has one."""
    for path in paths:
        first = elem.find(path)
        if first is None:
            continue
        value = (first.text or "").strip()
        if value:
            return value
        for node in elem.iterfind(path):  # the first match is empty: look at the others
            value = (node.text or "").strip()
            if value:
                return value
    return None


def texts(elem: Element, path: str) -> list[str]:
    return [value for node in elem.iterfind(path) if (value := (node.text or "").strip())]


def attr(elem: Element, path: str, name: str) -> str | None:
    for node in elem.iterfind(path):
        value = node.get(name)
        if value is not None:
            return value.strip()
    return None


def reference(value: str | None) -> str | None:
    """A reference, with ISO 20022's 'NOTPROVIDED' placeholder read as absent."""
    return value if value and value.upper() != NOT_PROVIDED else None


@dataclass(frozen=True)
class Amount:
    """An amount element as written: decimal text and currency attribute."""

    value: str | None
    currency: str | None

    def minor(self) -> int | None:
        """Unsigned minor units, or None when absent or unreadable (the row checks report why)."""
        if self.value is None or self.currency is None:
            return None
        try:
            return money.to_minor(self.value, self.currency, signed=False)
        except (ValueError, ArithmeticError):
            return None


def amount(elem: Element, path: str) -> Amount:
    node = elem.find(path)
    if node is None:
        return Amount(None, None)
    ccy = node.get("Ccy")
    return Amount((node.text or "").strip() or None, ccy.strip() if ccy else None)


def bank_tx_code(elem: Element) -> str | None:
    """Domain/family/sub-family code (``PMNT/RCDT/ESCT``), else the proprietary code."""
    for domain in elem.iterfind("BkTxCd/Domn"):
        parts = [text(domain, "Cd"), text(domain, "Fmly/Cd"), text(domain, "Fmly/SubFmlyCd")]
        if all(parts):
            return "/".join(p for p in parts if p)
    return text(elem, "BkTxCd/Prtry/Cd")


def account_id(elem: Element, path: str) -> str | None:
    return text(elem, f"{path}/Id/IBAN", f"{path}/Id/Othr/Id")


def party_name(elem: Element, role: str) -> str | None:
    return text(elem, f"RltdPties/{role}/Nm", f"RltdPties/{role}/Pty/Nm")


def creditor_reference(tx: Element) -> tuple[str | None, str | None]:
    """(reference, type) of the first structured creditor reference (SCOR, QRR, ISR, ...)."""
    for ref in tx.iterfind("RmtInf/Strd/CdtrRefInf"):
        value = text(ref, "Ref")
        if value:
            return value, text(ref, "Tp/CdOrPrtry/Cd", "Tp/CdOrPrtry/Prtry")
    return None, None


class Flat:
    """An element's subtree read once into ``path -> texts`` and ``path -> attributes`` (local names).

    Looking up twenty fields of an entry with ElementPath walks the subtree twenty times; this walks it
    once. Subtrees under a tag in ``skip`` are left out (an entry's transaction details, read on their own).
    """

    __slots__ = ("attrs", "values")

    def __init__(self, elem: Element, skip: frozenset[str] = frozenset()) -> None:
        values: dict[str, list[str]] = {}
        attrs: dict[str, dict[str, str]] = {}
        stack = [(child, child.tag) for child in reversed(elem) if child.tag not in skip]
        while stack:
            node, path = stack.pop()
            raw = node.text
            if raw is not None:
                value = raw.strip()
                if value:
                    values.setdefault(path, []).append(value)
            if node.attrib and path not in attrs:
                attrs[path] = node.attrib
            for child in reversed(node):
                stack.append((child, f"{path}/{child.tag}"))
        self.values = values
        self.attrs = attrs

    def text(self, *paths: str) -> str | None:
        for path in paths:
            found = self.values.get(path)
            if found:
                return found[0]
        return None

    def texts(self, path: str) -> list[str]:
        return self.values.get(path, [])

    def has(self, prefix: str) -> bool:
        return any(p.startswith(prefix) for p in self.values) or any(p.startswith(prefix) for p in self.attrs)

    def amount(self, path: str) -> Amount:
        ccy = self.attrs.get(path, {}).get("Ccy")
        return Amount(self.text(path), ccy.strip() if ccy else None)

    def bank_tx_code(self) -> str | None:
        parts = [self.text("BkTxCd/Domn/Cd"), self.text("BkTxCd/Domn/Fmly/Cd"), self.text("BkTxCd/Domn/Fmly/SubFmlyCd")]
        if all(parts):
            return "/".join(p for p in parts if p)
        return self.text("BkTxCd/Prtry/Cd")

    def account_id(self, path: str) -> str | None:
        return self.text(f"{path}/Id/IBAN", f"{path}/Id/Othr/Id")

    def party_name(self, role: str) -> str | None:
        return self.text(f"RltdPties/{role}/Nm", f"RltdPties/{role}/Pty/Nm")


FX_AMOUNTS = ("InstdAmt", "TxAmt", "CntrValAmt", "AnncdPstngAmt")


@dataclass(frozen=True)
class AmountDetails:
    """An entry's or transaction's amount details (``AmtDtls``): the instructed and transaction amounts and the
    first exchange rate given (``CcyXchg/XchgRate`` under InstdAmt, TxAmt, CntrValAmt or AnncdPstngAmt), as
    written. The rate converts ``CcyXchg/SrcCcy`` into ``TrgtCcy`` (target = source x rate, ``UnitCcy`` the
    source), in practice the original currency into the booked one."""

    instructed: Amount
    transaction: Amount
    rate: str | None

    @classmethod
    def of(cls, flat: Flat) -> AmountDetails:
        return cls(
            flat.amount("AmtDtls/InstdAmt/Amt"),
            flat.amount("AmtDtls/TxAmt/Amt"),
            flat.text(*(f"AmtDtls/{a}/CcyXchg/XchgRate" for a in FX_AMOUNTS)),
        )


def fx_fields(booked_ccy: str | None, details: list[AmountDetails], others: list[Amount]) -> dict[str, str | None]:
    """``_orig_amt``, ``original_currency`` and ``_rate`` of a row booked in ``booked_ccy``: the instructed amount
    (before charges or conversion), else the first transaction amount (then ``others``: amounts the row's details
    give for it) in another currency; the first rate given. ``details`` go from the most specific (the
    transaction) to the least (the entry)."""
    original = next((d.instructed for d in details if d.instructed.value is not None), None)
    if original is None:
        candidates = [d.transaction for d in details] + others
        original = next((a for a in candidates if a.value is not None and a.currency != booked_ccy), None)
    return {
        "_orig_amt": original.value if original else None,
        "original_currency": original.currency if original else None,
        "_rate": next((d.rate for d in details if d.rate is not None), None),
    }
