"""Content-based format detection: what a file is, from its first bytes, never from its name.

``detect(path)`` returns the registered format name, the CSV options that go with it, and the evidence
("root element BkToCstmrStmt", "header has Psp Reference, Batch Number ..."). CSV number formats are
not guessed from the values: a report variant whose header identifies it (the Spanish PayPal statement,
say) carries the separators its provider documents for it, and the evidence says so. A file that
matches nothing raises ``FileRejected`` with what was seen.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.core.channels import CsvOptions
from pipelines.formats import iso20022
from pipelines.formats.base import FileRejected
from pipelines.formats.csvutil import cr_line_ends, refuse_wide_text

HEAD_BYTES = 64 * 1024

XML_ROOTS = {
    "BkToCstmrStmt": ("camt053", "ISO 20022 camt.053 bank-to-customer statement"),
    "BkToCstmrDbtCdtNtfctn": ("camt054", "ISO 20022 camt.054 debit/credit notification"),
    "BkToCstmrAcctRpt": ("camt052", "ISO 20022 camt.052 account report"),
    "CstmrPmtStsRpt": ("pain002", "ISO 20022 pain.002 customer payment status report"),
    "CstmrCdtTrfInitn": ("pain001", "ISO 20022 pain.001 credit transfer initiation"),
    "CstmrDrctDbtInitn": ("pain008", "ISO 20022 pain.008 direct debit initiation"),
}


@dataclass(frozen=True)
class Detection:
    format: str
    evidence: str
    csv: CsvOptions = field(default_factory=CsvOptions)
    csv_note: str | None = None


@dataclass(frozen=True)
class CsvSignature:
    """A CSV report recognised by header names (all of ``required`` present, with ``delimiter``)."""

    format: str
    description: str
    required: tuple[str, ...]
    options: CsvOptions = field(default_factory=CsvOptions)
    note: str | None = None


def _signatures() -> list[CsvSignature]:
    semicolon = CsvOptions(delimiter=";")
    return [
        CsvSignature(
            "adyen_sdr", "Adyen settlement details report", ("Merchant Account", "Psp Reference", "Batch Number")
        ),
        CsvSignature(
            "stripe_payout_recon",
            "Stripe itemised payout reconciliation report",
            ("automatic_payout_id", "reporting_category", "net"),
        ),
        CsvSignature(
            "paypal",
            "PayPal activity download / statement (English)",
            ("Date", "Time", "Currency", "Gross", "Net", "Transaction ID"),
            CsvOptions(thousands=","),
            "English PayPal exports write amounts as 1,234.56 (thousands ',', decimal '.')",
        ),
        CsvSignature(
            "paypal",
            "PayPal statement (Spanish)",
            ("Fecha", "Hora", "Divisa", "Bruto", "Neto", "Id. de transacción"),
            CsvOptions(decimal=",", thousands="."),
            "Spanish PayPal exports write amounts as 1.234,56 (decimal ',', thousands '.')",
        ),
        CsvSignature(
            "braintree",
            "Braintree transaction level fee report",
            ("Merchant Account ID", "Transaction ID", "Settlement Amount", "Settlement Currency"),
        ),
        CsvSignature(
            "ratepay", "Ratepay settlement report", ("SHOP_ID", "PAYMENTDATE", "AMOUNT", "FEETYPE"), semicolon
        ),
        CsvSignature(
            "checkout_financial_actions",
            "Checkout.com financial actions report",
            ("Action ID", "Action Type", "Payout ID", "Holding Currency"),
        ),
        CsvSignature(
            "worldpay_settlement",
            "Worldpay settlement detail report",
            ("Merchant ID", "Transaction Type", "Settlement Currency", "Net Settlement Amount"),
        ),
        CsvSignature(
            "pix_settlement", "PIX settlement statement", ("endToEndId", "txid", "valor", "horario"), semicolon
        ),
        CsvSignature("upi_settlement", "UPI settlement report", ("UPI Transaction ID", "RRN", "Transaction Amount")),
        CsvSignature("orders_csv", "platform orders extract", ("order_id", "psp_channel", "status", "amount")),
        CsvSignature("fx_rates_csv", "FX rates", ("rate_date", "base_currency", "quote_currency", "rate")),
    ]


def _text_head(path: Path) -> str:
    """The first bytes of the file as text: UTF-8 (undecodable bytes replaced), lines ending with a carriage
    return alone made lines; UTF-16 or UTF-32 text, or a first line holding a NUL byte, rejected."""
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    refuse_wide_text(head)
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    head = cr_line_ends(head)
    first = head.lstrip().split(b"\n", 1)[0]
    if b"\x00" in first:
        at = head.index(b"\x00")
        line, start = head.count(b"\n", 0, at) + 1, head.rfind(b"\n", 0, at) + 1
        raise FileRejected(
            f"binary content: NUL byte (\\x00) at byte {at - start + 1} of line {line}; not a text or XML file of "
            "a format the pipeline reads (or UTF-16 text without a byte-order mark)"
        )
    return head.decode("utf-8", errors="replace")


def _xml(head: str) -> Detection | None:
    if not head.lstrip().startswith("<"):
        return None
    root = iso20022.root_name(head.encode("utf-8"))
    if root in XML_ROOTS:
        name, what = XML_ROOTS[root]
        return Detection(name, f"XML root element {root}: {what}")
    raise FileRejected(f"XML file with root element {root!r}: not a message format the pipeline reads")


def _swift(head: str) -> Detection | None:
    tags = set(re.findall(r"(?m)^\x01?:(\d{2}[A-Z]?):", head))
    if "20" not in tags or not tags & {"61", "60F", "60M", "62F", "62M", "90D", "90C"}:
        return None
    interim = bool(tags & {"34F", "13D", "90D", "90C"} or re.search(r"\{2:[IO]942", head))
    kind = "mt942" if interim else "mt940"
    found = ", ".join(f":{t}:" for t in sorted(tags))
    return Detection(kind, f"SWIFT {kind.upper()} tags {found}")


def _bai2(head: str) -> Detection | None:
    first = head.lstrip().split("\n", 1)[0]
    if first.startswith("01,") and re.search(r"(^|\n|/\s*)02,", head) and re.search(r"(^|\n|/\s*)03,", head):
        return Detection("bai2", "BAI2 records 01 (file header), 02 (group) and 03 (account)")
    return None


def _nacha(head: str) -> Detection | None:
    lines = head.split("\n", 2)
    first = lines[0].rstrip("\r")
    if re.match(r"^101[ \d]\d{9}[ \d]\d{9}\d{6}\d{4}[A-Z0-9 ]", first) and len(first) <= 94:
        return Detection(
            "nacha", "NACHA file header record (type 1, priority 01, routing numbers, 94-character layout)"
        )
    return None


def _cnab(head: str) -> Detection | None:
    first = head.split("\n", 1)[0].rstrip("\r")
    if re.match(r"^\d{3}00000", first) and "RETORNO" not in first[:20]:
        return Detection("cnab240", "CNAB 240 file header (bank code, lot 0000, record type 0)")
    if first.startswith("02RETORNO") or (
        first.startswith("0") and len(first) in range(390, 401) and "RETORNO" in first
    ):
        return Detection("cnab400", "CNAB 400 return file header ('02RETORNO')")
    return None


def _csv(head: str) -> Detection | None:
    first = head.split("\n", 1)[0].rstrip("\r")
    for signature in _signatures():
        try:
            names = {n.strip() for n in next(csv.reader([first], delimiter=signature.options.delimiter), [])}
        except csv.Error:  # not a CSV record with this delimiter (a carriage return inside it, say)
            continue
        if all(r in names for r in signature.required):
            return Detection(
                signature.format,
                f"{signature.description}: header has {', '.join(signature.required)}",
                signature.options,
                signature.note,
            )
    return None


def _stl(head: str) -> Detection | None:
    first = head.lstrip().split("\n", 1)[0]
    if re.match(r'^"?RH"?,', first) and re.search(r'(?m)^"?CH"?,', head):
        return Detection("paypal_stl", "PayPal settlement report rows RH (report header) and CH (column header)")
    return None


DETECTORS: Sequence[Callable[[str], Detection | None]] = (_xml, _swift, _bai2, _nacha, _cnab, _stl, _csv)


def detect(path: Path) -> Detection:
    head = _text_head(path)
    if not head.strip():
        raise FileRejected("file is empty")
    for detector in DETECTORS:
        found = detector(head)
        if found is not None:
            return found
    first = head.lstrip().split("\n", 1)[0][:60]
    raise FileRejected(f"format not recognised from the content (first line {first!r}); give it with --format")
