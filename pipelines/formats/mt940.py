"""SWIFT MT940 customer statement and MT942 interim transaction report to ``bank_statement_lines``.

Column documentation: SWIFT Standards MT Category 9 (MT940 "Customer Statement Message", MT942 "Interim
Transaction Report"), fields :20: :25: :28C: :60a: :61: :86: :62a: :64: :65: :34F: :13D: :90D: :90C:;
the German DK/ZKA "Belegungsrichtlinien" for the ``?nn`` sub-fields of :86: (GVC, ?20-?29 purpose,
SEPA keywords EREF+ KREF+ MREF+ SVWZ+) and the ING "Mt940 Structured" guide for the ``/KEY/value``
layout of :86: (/EREF/ /RTRN/ /CNTP/ /REMI/ /MARF/ /CSID/).

What real files do, and how it is read:
- with or without the ``{1:}{2:}{3:}{4:`` envelope and ``-}`` trailer, SOH/ETX framing, CRLF, a free-text
  preamble before the first :20: (ignored), several statements in one file;
- a tag's value continues on the following lines; values are cut anywhere (even :28C: or a :61:
  bank reference), so continuation lines are joined without a separator when the text is structured
  (``?nn`` or ``/KEY/``) or the line was cut at the 65-character limit, else with a space;
- :61: with or without the entry date (also four spaces), with a funds code after the D/C mark
  (``CR``, ``DD``, ``DK``...), reversal marks RC/RD, non-standard type codes (``S   X``, ``MCI0``),
  amounts like ``300,`` and ``0,``; supplementary details ``/OCMT/`` (original amount) and
  ``/CHGS/`` (charges);
- a :86: right after a :61: belongs to that entry; any other :86: (before the first entry, after the
  closing balance) is statement information; proprietary ``:NS:`` lines after a :61: are read as
  its information too.

German :86: (``GVC?nn``): ?20-?29 and ?60-?63 joined; SEPA keywords EREF+ -> ``end_to_end_id``, KREF+ ->
``customer_reference`` (the :61: customer reference is often the bare keyword ``KREF+``), MREF+ ->
``mandate_id``, SVWZ+ -> ``remittance_info`` (without it: the posting text ?00, the purpose and any MTLG:
message), BREF+ -> ``bank_reference`` where :61: has none, OAMT+ / COAM+ -> original amount / charges in
the statement's currency where :61: has no /OCMT/ or /CHGS/, IBAN+ or ?31 -> ``counterparty_account``,
?32/?33 -> ``counterparty_name``, ?34 -> ``return_reason``.

Control totals, each reported as passed, skipped (with why) or failed (``controls``); a failure rejects
the file with the figures: per statement, opening balance (:60F: or :60M:) + credits - debits = closing
balance (:62F: or :62M:), in one currency; per MT942, the number and sum of debit and credit entries
equal :90D: and :90C:. A sum is skipped when an entry of the statement is unreadable (rejected as a row);
a statement with neither balances nor :90a: totals says so; one with only one of its balances is rejected.

The parser is written here rather than taken from a library: it must give each entry's line number
(every canonical row is traced to its bytes), and the libraries tried do not, nor read every corpus
file (see the formats' closing note).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.core import money
from pipelines.formats import controls as ctl
from pipelines.formats import csvutil
from pipelines.formats.base import FileRejected, ParseContext, finish, split_valid

TABLE = "bank_statement_lines"
CONTROL_TOTALS = (
    "opening balance + credits - debits = closing balance per statement (:60a:/:61:/:62a:); "
    "MT942 :90D:/:90C: count and sum"
)
MAX_BYTES = 256 * 1024 * 1024
LINE_LIMIT = 65

_TAG = re.compile(r"^:(\d{2}[A-Z]?|NS):(.*)$")
_ENVELOPE = re.compile(r"^\{[1-5]:")
_61 = re.compile(
    r"^(?P<vdate>\d{6})(?P<edate>\d{4}|\s{4})?(?P<mark>RC|RD|EC|ED|C|D)(?P<funds>[A-Z])?"
    r"(?P<amount>\d[\d,]*) ?(?P<type>[A-Z][A-Z0-9 ]{3})(?P<cref>.*?)(?://(?P<bref>.*))?$"
)
_BALANCE = re.compile(r"^(?P<mark>[CD])(?P<date>\d{6})(?P<ccy>[A-Z]{3})(?P<amount>\d[\d,]*)$")
_90 = re.compile(r"^(?P<count>\d+)(?P<ccy>[A-Z]{3})(?P<amount>\d[\d,]*)$")
_34F = re.compile(r"^(?P<ccy>[A-Z]{3})")
_OCMT = re.compile(r"/OCMT/([A-Z]{3})(\d[\d,]*)/")
_CHGS = re.compile(r"/CHGS/([A-Z]{3})(\d[\d,]*)/")
_GERMAN = re.compile(r"^\d{3}\?")
_GERMAN_FIELD = re.compile(r"\?(\d{2})")
_SEPA_KEYS = "EREF|KREF|MREF|CRED|DEBT|SVWZ|ABWA|ABWE|IBAN|BIC|OAMT|COAM|BREF|RREF"
_SEPA = re.compile(rf"({_SEPA_KEYS})\+")
_SEPA_BARE = re.compile(rf"(?:{_SEPA_KEYS})\+")
_SEPA_AMOUNT = re.compile(r"^\d[\d.]*,\d*|^\d+")
_ING_KEYS = (
    "EREF|PREF|MARF|CSID|CNTP|REMI|RTRN|BENM|ORDP|ULTD|ULTC|ULTB|PURP|ISDT|SUM|IREF|TRCD|CREF|BUSP|ACCW|SVCL|FX|OCMT"
)
_ING = re.compile(rf"/({_ING_KEYS})/")

MARKS = {"C": "credit", "D": "debit", "RC": "debit", "RD": "credit", "EC": "credit", "ED": "debit"}
RETURN_TYPES = ("RTI",)  # NRTI / FRTI: returned items
FEE_TYPES = ("CHG", "COM")  # NCHG / FCHG / NCOM
INTEREST_TYPES = ("INT",)
RETURN_GVC = ("108", "109", "159")
FEE_GVC = ("805", "806", "808", "809")

_FIELDS = (
    "_raw",
    "_amt",
    "_mark",
    "_vdate",
    "_edate",
    "_type",
    "customer_reference",
    "bank_reference",
    "_supplementary",
    "_info",
    "_ccy",
    "statement_id",
    "account_id",
    "end_to_end_id",
    "remittance_info",
    "counterparty_name",
    "counterparty_account",
    "mandate_id",
    "return_reason",
    "creditor_reference",
    "creditor_reference_type",
    "_gvc",
    "_orig_ccy",
    "_orig_amt",
    "_chg_ccy",
    "_chg_amt",
    "_error",
)


@dataclass
class _Tag:
    name: str
    line: int
    lines: list[str]

    def value(self) -> str:
        """The value with its continuation lines: cut anywhere, so joined without a separator."""
        return "".join(self.lines)


@dataclass
class _Statement:
    line: int
    tags: list[_Tag] = field(default_factory=list)


def _join(lines: list[str]) -> str:
    """Continuation lines as one value: no separator where the text is structured or cut at the limit."""
    if not lines:
        return ""
    out = lines[0]
    structured = bool(_GERMAN.match(lines[0]) or lines[0].startswith("/"))
    for prev, cur in zip(lines, lines[1:], strict=False):
        cut = len(prev) >= LINE_LIMIT - 4 or structured
        out += ("" if cut else " ") + cur
    return out


def _tokenise(text: str) -> tuple[list[_Statement], int]:
    """Statements as lists of tags with their first line; also the number of preamble lines skipped."""
    statements: list[_Statement] = []
    current: _Statement | None = None
    tag: _Tag | None = None
    preamble = 0
    lines = [line.rstrip("\r").replace("\x01", "").replace("\x03", "") for line in text.split("\n")]
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        match = _TAG.match(line)
        if match:
            name, value = match.group(1), match.group(2)
            if name == "20":
                current = _Statement(line=number)
                statements.append(current)
            if current is None:
                raise FileRejected(f"line {number}: tag :{name}: before the first :20: (transaction reference)")
            tag = _Tag(name=name, line=number, lines=[value.rstrip()])
            current.tags.append(tag)
        elif not stripped:
            continue
        elif stripped.startswith("-}") or (stripped == "-" and _ends_message(lines, number)):
            tag = None  # end of a message block
        elif _ENVELOPE.match(stripped) or stripped == "}":
            tag = None
        elif tag is not None:
            tag.lines.append(line.rstrip() if not tag.name == "86" else line.rstrip())
        elif current is None:
            preamble += 1
        else:
            raise FileRejected(f"line {number}: text outside any tag: {stripped[:40]!r}")
    return statements, preamble


def _ends_message(lines: list[str], number: int) -> bool:
    """A line '-' ends the message unless the text goes on with more of the value (a wrapped '-')."""
    for line in lines[number:]:
        stripped = line.strip()
        if stripped:
            return stripped.startswith((":20:", "{", "}", "-", ":")) and not stripped.startswith("://")
    return True


def _value_date(text: pl.Expr) -> pl.Expr:
    """YYMMDD to a date, years 80-99 in the 1900s."""
    yy = text.str.slice(0, 2).cast(pl.Int64, strict=False)
    century = pl.when(yy < 80).then(pl.lit("20")).otherwise(pl.lit("19"))
    valid = text.str.contains(r"^\d{6}$")
    return pl.when(valid).then(pl.concat_str([century, text])).str.to_date("%Y%m%d", strict=False)


def _booking_date(value: pl.Expr, mmdd: pl.Expr) -> pl.Expr:
    """Entry date MMDD in the year that puts it nearest the value date."""
    month = mmdd.str.slice(0, 2).cast(pl.Int64, strict=False)
    shift = month - value.dt.month().cast(pl.Int64)
    year = value.dt.year().cast(pl.Int64) + pl.when(shift < -6).then(1).when(shift > 6).then(-1).otherwise(0)
    text = pl.concat_str([year.cast(pl.String).str.zfill(4), mmdd.str.strip_chars()])
    return pl.when(mmdd.str.contains(r"^\d{4}$")).then(text).str.to_date("%Y%m%d", strict=False)


def _german(info: str) -> dict[str, Any]:
    """DK ``?nn`` sub-fields: GVC, posting text, purpose with SEPA keywords, counterparty, return code."""
    gvc = info[:3]
    parts = _GERMAN_FIELD.split(info[3:])
    sub: dict[str, str] = {}
    for code, value in zip(parts[1::2], parts[2::2], strict=False):
        sub[code] = sub.get(code, "") + value
    purpose = "".join(sub.get(str(n), "") for n in [*range(20, 30), *range(60, 64)])
    keyed: dict[str, str] = {}
    pieces = _SEPA.split(purpose)
    notes: list[str] = []  # older files put a message after a keyword's value, behind MTLG:
    for key, value in zip(pieces[1::2], pieces[2::2], strict=False):
        value, _, note = value.partition("MTLG:")
        keyed.setdefault(key, value.strip())
        notes += [note.strip()] if note.strip() else []
    free = pieces[0].strip() or None
    # SVWZ+ is the SEPA remittance information as the payer wrote it; without it, the posting text (?00), the
    # purpose as written and the messages
    posted = " ".join(filter(None, [sub.get("00", "").strip(), free if keyed else purpose or None, *notes])) or None
    remittance = keyed.get("SVWZ") or posted
    name = (sub.get("32", "") + sub.get("33", "")).strip() or None
    return {
        "_gvc": gvc,
        "end_to_end_id": _ref(keyed.get("EREF")),
        "customer_reference": _ref(keyed.get("KREF")),
        "bank_reference": _ref(keyed.get("BREF")),
        "mandate_id": _ref(keyed.get("MREF")),
        "_oamt": keyed.get("OAMT"),
        "_coam": keyed.get("COAM"),
        "remittance_info": remittance,
        "counterparty_name": name,
        "counterparty_account": (sub.get("31") or "").strip() or keyed.get("IBAN") or None,
        "return_reason": (sub.get("34") or "").strip() or None,
    }


def _ing(info: str) -> dict[str, Any]:
    """ING-style ``/KEY/value`` sub-fields."""
    parts = _ING.split(info)
    keyed: dict[str, str] = {}
    for key, value in zip(parts[1::2], parts[2::2], strict=False):
        keyed.setdefault(key, value)
    cntp = [p for p in keyed.get("CNTP", "").split("/")]
    remi = keyed.get("REMI", "")
    cref: str | None = None
    cref_type: str | None = None
    if remi.startswith("STRD/"):
        fields = remi.split("/")
        cref_type = fields[1] if len(fields) > 1 else None
        cref = fields[2] if len(fields) > 2 else None
        remittance = cref
    else:
        remittance = remi.removeprefix("USTD//").removeprefix("USTD/").strip("/ ") or None
    return {
        "end_to_end_id": _ref(keyed.get("EREF", "").strip("/")),
        "mandate_id": _ref(keyed.get("MARF", "").strip("/")),
        "return_reason": keyed.get("RTRN", "").strip("/").split("/")[0] or None,
        "counterparty_account": (cntp[0] if cntp else "").strip() or None,
        "counterparty_name": (cntp[2] if len(cntp) > 2 else "").strip() or None,
        "remittance_info": remittance or None,
        "creditor_reference": cref or None,
        "creditor_reference_type": cref_type,
    }


def _ref(value: str | None) -> str | None:
    """A reference; None when blank, 'NONREF', 'NOTPROVIDED' or a bare SEPA keyword ('KREF+': its value is in :86:)."""
    value = (value or "").strip()
    if not value or value.upper() in ("NOTPROVIDED", "NONREF") or _SEPA_BARE.fullmatch(value):
        return None
    return value


def _info_fields(info: str) -> dict[str, Any]:
    if _GERMAN.match(info):
        return _german(info)
    if _ING.search(info) and info.startswith("/"):
        return _ing(info)
    return {"remittance_info": info.strip() or None}


@dataclass
class _Checks:
    """The control checks of a file's statements, in order."""

    checks: list[ctl.Check] = field(default_factory=list)

    def add(self, check: ctl.Check) -> None:
        self.checks.append(check)

    def fail(self, name: str, where: str, detail: str) -> None:
        self.checks.append(ctl.failed(name, where, detail))


def _amount_minor(text: str, ccy: str) -> int | None:
    try:
        return money.to_minor(text.replace(",", "."), ccy, signed=False)
    except (ValueError, ArithmeticError):
        return None


def _statement_rows(stmt: _Statement, columns: dict[str, list[Any]], checks: _Checks) -> None:
    tags = {t.name: t for t in reversed(stmt.tags)}  # first occurrence of each tag
    reference = tags["20"].value().strip() if "20" in tags else None
    account = tags["25"].value().strip() if "25" in tags else None
    number = tags.get("28C") or tags.get("28")
    statement_id = "/".join(filter(None, [reference, number.value().strip() if number else None]))
    opening = tags.get("60F") or tags.get("60M")
    closing = tags.get("62F") or tags.get("62M")
    ccy: str | None = None
    for tag in (opening, closing, tags.get("90D"), tags.get("90C"), tags.get("34F")):
        if tag is not None:
            m = (_BALANCE if tag.name[:2] in ("60", "62") else _90 if tag.name[:2] == "90" else _34F).match(
                tag.value().strip()
            )
            if m:
                ccy = m.group("ccy")
                break
    entries: list[tuple[_Tag, list[_Tag]]] = []
    after_entry = False  # the previous tag was a :61: (an information tag right after it is the entry's)
    for tag in stmt.tags:
        if tag.name == "61":
            entries.append((tag, []))
            after_entry = True
        elif tag.name in ("86", "NS") and after_entry:
            entries[-1][1].append(tag)
            after_entry = False
        else:
            after_entry = False
    signed: dict[str, list[int]] = {"credit": [], "debit": []}
    unreadable: int | None = None  # line of the first entry that cannot be read
    for tag61, infos in entries:
        row = _entry_row(tag61, infos, ccy)
        row.update({"statement_id": statement_id or None, "account_id": account or None})
        for name, values in columns.items():
            values.append(row.get(name))
        direction = MARKS.get(row.get("_mark") or "")
        minor = _amount_minor(row["_amt"], ccy) if ccy and row.get("_amt") else None
        if direction is None or minor is None or row.get("_error"):
            unreadable = unreadable or tag61.line
        else:
            signed[direction].append(minor)
    where = f"statement {statement_id or '?'} (line {stmt.line}, account {account})"
    unknown = f"the entry on line {unreadable} cannot be read (it is rejected as a row), so the sum is unknown"
    _balance_check(where, opening, closing, signed, unknown if unreadable else None, checks)
    totals = [name for name in ("90D", "90C") if name in tags]
    if opening is None and closing is None and not totals:
        checks.add(ctl.skipped("balance", where, "the statement has no :60a:/:62a: balances nor :90D:/:90C: totals"))
    for name, direction in (("90D", "debit"), ("90C", "credit")):
        if name not in tags:
            continue
        m = _90.match(tags[name].value().strip())
        if m is None:
            checks.fail(name, where, f"{where}: :{name}:{tags[name].value()} is not count + currency + amount")
            continue
        if unreadable:
            checks.add(ctl.skipped(f":{name}: total", where, unknown))
            continue
        stated = _amount_minor(m.group("amount"), m.group("ccy"))
        count, total = len(signed[direction]), sum(signed[direction])
        tccy = m.group("ccy")
        if stated is None or int(m.group("count")) != count or stated != total:
            checks.fail(
                f":{name}: total",
                where,
                f"{where}: :{name}: states {int(m.group('count'))} {direction}(s) totalling "
                f"{money.format_minor(stated, tccy) if stated is not None else m.group('amount')} {tccy} "
                f"but the entries are {count} {direction}(s) totalling {money.format_minor(total, tccy)} {tccy}",
            )
        else:
            what = f"{count} {direction}(s) totalling {money.format_minor(total, tccy)} {tccy}, as stated"
            checks.add(ctl.passed(f":{name}: total", where, what))


def _balance_check(
    where: str,
    opening: _Tag | None,
    closing: _Tag | None,
    signed: dict[str, list[int]],
    unknown: str | None,
    checks: _Checks,
) -> None:
    """Opening balance + credits - debits = closing balance: passed, skipped (``unknown``: why the sum is) or failed."""
    if (opening is None) != (closing is None):
        missing = ":62F:/:62M: closing" if closing is None else ":60F:/:60M: opening"
        checks.fail("balance", where, f"{where}: no {missing} balance (truncated statement?)")
    if opening is None or closing is None:
        return
    o, c = _BALANCE.match(opening.value().strip()), _BALANCE.match(closing.value().strip())
    if o is None or c is None:
        bad = opening if o is None else closing
        checks.fail(
            "balance", where, f"{where}: balance :{bad.name}:{bad.value()} is not C/D + YYMMDD + currency + amount"
        )
        return
    if o.group("ccy") != c.group("ccy"):
        checks.fail("balance", where, f"{where}: opening balance in {o.group('ccy')} but closing in {c.group('ccy')}")
        return
    bccy = o.group("ccy")
    om, cm = _amount_minor(o.group("amount"), bccy), _amount_minor(c.group("amount"), bccy)
    if om is None or cm is None:
        checks.fail("balance", where, f"{where}: balance amount is not valid for {bccy}")
        return
    if unknown:
        checks.add(ctl.skipped("balance", where, unknown))
        return
    om, cm = (-om if o.group("mark") == "D" else om), (-cm if c.group("mark") == "D" else cm)
    credits, debits = sum(signed["credit"]), sum(signed["debit"])
    computed = om + credits - debits
    f = [money.format_minor(v, bccy) for v in (om, credits, debits, computed, cm, cm - computed)]
    if computed != cm:
        checks.fail(
            "balance",
            where,
            f"{where}: opening balance {f[0]} + credits {f[1]} - debits {f[2]} = {f[3]} {bccy}, "
            f"but the closing balance is {f[4]} {bccy} (difference {f[5]})",
        )
    else:
        what = f":{opening.name}: {f[0]} + credits {f[1]} - debits {f[2]} = :{closing.name}: {f[4]} {bccy}"
        checks.add(ctl.passed("balance", where, what))


def _entry_row(tag: _Tag, infos: list[_Tag], ccy: str | None) -> dict[str, Any]:
    head, rest = tag.lines[0], tag.lines[1:]
    row: dict[str, Any] = {"_ccy": ccy}
    raw_lines = [f":61:{tag.lines[0]}", *tag.lines[1:]]
    for info in infos:
        raw_lines += [f":{info.name}:{info.lines[0]}", *info.lines[1:]]
    row["_raw"] = "\n".join(raw_lines)
    m = _61.match(head)
    if m is None:
        row["_error"] = f"':61:{head}' is not value date + [entry date] + D/C mark + amount + type + reference"
        return row
    bref = m.group("bref")
    if bref is not None and rest and re.fullmatch(r"[A-Za-z0-9]+", rest[0]) and len(bref + rest[0]) <= 16:
        bref, rest = bref + rest[0], rest[1:]  # a bank reference cut across lines
    supplementary = "".join(rest)
    edate = m.group("edate")
    row.update(
        {
            "_amt": m.group("amount"),
            "_mark": m.group("mark"),
            "_vdate": m.group("vdate"),
            "_edate": edate if edate and edate.strip() else None,
            "_type": m.group("type"),
            "customer_reference": _ref(m.group("cref")),
            "bank_reference": _ref(bref),
            "_supplementary": supplementary or None,
        }
    )
    if ocmt := _OCMT.search(supplementary):
        row["_orig_ccy"], row["_orig_amt"] = ocmt.group(1), ocmt.group(2)
    if chgs := _CHGS.search(supplementary):
        row["_chg_ccy"], row["_chg_amt"] = chgs.group(1), chgs.group(2)
    if infos:
        text = " ".join(_join(i.lines) if i.name == "86" else " ".join(i.lines) for i in infos)
        row["_info"] = text
        fields = _info_fields(text)
        if fields.get("bank_reference") and row.get("bank_reference"):
            del fields["bank_reference"]  # the :61: bank reference stays; BREF+ fills it only where :61: has none
        row.update({k: v for k, v in fields.items() if v is not None})
        # SEPA original amount (OAMT+) and compensation (COAM+, the charges of a return) in the statement's currency,
        # where the :61: supplementary details give no /OCMT/ or /CHGS/
        for key, amount, currency in (("_oamt", "_orig_amt", "_orig_ccy"), ("_coam", "_chg_amt", "_chg_ccy")):
            found = _SEPA_AMOUNT.match((fields.get(key) or "").strip())
            if found and row.get(amount) is None:
                row[amount], row[currency] = found.group(0), ccy
    return row


def read(text: str) -> tuple[pl.DataFrame, list[ctl.Check]]:
    """Rows (String columns) of every statement and the control checks (passed, skipped or failed)."""
    statements, _preamble = _tokenise(text)
    if not statements:
        raise FileRejected("no :20: (transaction reference) tag: not an MT940/MT942 message")
    columns: dict[str, list[Any]] = {n: [] for n in ("line_no", *_FIELDS)}
    checks = _Checks()
    for stmt in statements:
        start = len(columns["line_no"])
        _statement_rows(stmt, {n: v for n, v in columns.items() if n != "line_no"}, checks)
        added = len(columns["_raw"]) - start
        lines = [t.line for t in stmt.tags if t.name == "61"]
        columns["line_no"].extend(lines[:added])
    schema = {n: pl.String() for n in _FIELDS} | {"line_no": pl.Int64()}
    return pl.DataFrame(columns, schema=schema), checks.checks


def _record_type() -> pl.Expr:
    kind = pl.col("_type").str.slice(1, 3)
    info = pl.col("_info").fill_null("").str.to_uppercase()
    return (
        pl.when(pl.col("_mark").is_in(["RC", "RD"]))
        .then(pl.lit("reversal"))
        .when(kind.is_in(list(RETURN_TYPES)) | pl.col("_gvc").is_in(list(RETURN_GVC)) | info.str.contains("/RTRN/"))
        .then(pl.lit("return"))
        .when(kind.is_in(list(FEE_TYPES)) | pl.col("_gvc").is_in(list(FEE_GVC)))
        .then(pl.lit("fee"))
        .when(kind.is_in(list(INTEREST_TYPES)))
        .then(pl.lit("interest"))
        .otherwise(pl.lit("payment"))
    )


def parse(path: Path, ctx: ParseContext) -> ctl.CheckedResult:
    text = csvutil.read_text(path, ctx.channel.csv.encoding, "MT940/MT942", MAX_BYTES)
    frame, controls = read(text)
    ctl.reject_failures(controls, "control totals do not agree: ")
    minor, amount_error = money.parse_minor(pl.col("_amt"), pl.col("_ccy"), decimal=",", signed=False, accounting=False)
    orig_minor, orig_error = money.parse_minor(
        pl.col("_orig_amt"), pl.col("_orig_ccy"), decimal=",", required=False, signed=False, accounting=False
    )
    chg_minor, chg_error = money.parse_minor(
        pl.col("_chg_amt"), pl.col("_chg_ccy"), decimal=",", required=False, signed=False, accounting=False
    )
    frame = frame.with_columns(
        minor.alias("amount_minor"),
        amount_error.alias("_amount_error"),
        money.currency_error(pl.col("_ccy")).alias("_currency_error"),
        orig_minor.alias("original_amount_minor"),
        orig_error.alias("_orig_error"),
        chg_minor.alias("charges_minor"),
        chg_error.alias("_chg_error"),
        pl.col("_mark").replace_strict(MARKS, default=None, return_dtype=pl.String).alias("direction"),
        _value_date(pl.col("_vdate")).alias("value_date"),
    )
    frame = frame.with_columns(
        _booking_date(pl.col("value_date"), pl.col("_edate")).alias("_entry_date"),
        _record_type().alias("record_type"),
        pl.col("_mark").is_in(["RC", "RD"]).alias("reversal"),
        pl.col("_type").alias("bank_tx_code"),
        pl.col("_ccy").alias("currency"),
        pl.when(pl.col("original_amount_minor").is_not_null()).then(pl.col("_orig_ccy")).alias("original_currency"),
        pl.when(pl.col("charges_minor").is_not_null()).then(pl.col("_chg_ccy")).alias("charges_currency"),
        pl.lit("entry").alias("record_level"),
        pl.lit("BOOK").alias("entry_status"),
    )
    frame = frame.with_columns(pl.coalesce("_entry_date", "value_date").alias("booking_date"))
    frame = frame.with_columns(
        pl.col("booking_date").alias("business_date"), pl.col("bank_reference").alias("entry_ref")
    )
    checks = {
        ":61:": pl.col("_error"),
        ":25:": pl.when(pl.col("_error").is_null() & pl.col("account_id").is_null()).then(
            pl.lit("statement has no account identification (:25:)")
        ),
        "currency": pl.when(pl.col("_error").is_null()).then(
            pl.when(pl.col("_ccy").is_null())
            .then(pl.lit("statement has no currency (no :60a:, :62a:, :90a: or :34F: balance)"))
            .otherwise(pl.col("_currency_error"))
        ),
        "amount": pl.when(pl.col("_error").is_null() & pl.col("_currency_error").is_null()).then(
            pl.col("_amount_error")
        ),
        "value date": pl.when(pl.col("_error").is_null() & pl.col("value_date").is_null()).then(
            pl.format("'{}' is not a date (YYMMDD)", pl.col("_vdate"))
        ),
        "entry date": pl.when(
            pl.col("_edate").is_not_null() & pl.col("value_date").is_not_null() & pl.col("_entry_date").is_null()
        ).then(pl.format("'{}' is not a date (MMDD)", pl.col("_edate"))),
        "/OCMT/": pl.col("_orig_error"),
        "/CHGS/": pl.col("_chg_error"),
    }
    good, rejects = split_valid(
        frame, checks, raw=pl.col("_raw"), amount=pl.col("amount_minor"), currency=pl.col("_ccy")
    )
    return ctl.with_checks(finish(TABLE, good, rejects, ctx, frame.height), controls)
