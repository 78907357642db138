"""ISO 20022 payments initiation messages to ``payment_status``: pain.002 status reports (incl. the EU
Verification-of-Payee results) and the pain.001 / pain.008 instructions they answer.

Column documentation: ISO 20022 message definitions ``pain.001.001.xx`` (CustomerCreditTransferInitiation),
``pain.002.001.xx`` (CustomerPaymentStatusReport), ``pain.008.001.xx`` (CustomerDirectDebitInitiation),
the EPC SEPA implementation guidelines, the German DK variants (``pain.001.003.03``, ``pain.008.003.02``)
and the Swiss SPS variant (``pain.001.001.03.ch.02``); the EPC Verification of Payee rulebook (2025) for
the status codes RCVC (match), RVMC (close match), RVNM (no match) and RVNA (not possible). Elements are
read by local name, so a status report delivered without namespace is read too.

Rows. pain.002: one per ``TxInfAndSts``; a payment-information block without transaction statuses is
one row (scope payment_information), a report with neither one row for the group. pain.001/008: one
row per transaction (``initiated``), the side a later status, return or bank entry is matched to.

Control totals, a failure rejects the file with the figures: pain.001/008 group and payment-information
``NbOfTxs`` and ``CtrlSum`` against their transactions; pain.002 ``NbOfTxsPerSts`` against the
transaction statuses reported and against ``OrgnlNbOfTxs``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import polars as pl

from pipelines.core import money
from pipelines.formats import controls
from pipelines.formats import iso20022 as x
from pipelines.formats.base import FileRejected, ParseContext, ParseResult, finish, split_valid

TABLE = "payment_status"
CONTROL_TOTALS = "NbOfTxs and CtrlSum per group and payment information (pain.001/008); NbOfTxsPerSts (pain.002)"

STATUSES = {
    "ACCP": "accepted",
    "ACSC": "accepted",
    "ACSP": "accepted",
    "ACTC": "accepted",
    "ACWC": "accepted",
    "ACCC": "accepted",
    "ACWP": "accepted",
    "ACFC": "accepted",
    "PART": "accepted",
    "RCVD": "pending",
    "PDNG": "pending",
    "RJCT": "rejected",
    "CANC": "rejected",
    "RCVC": "verified_match",
    "RVMC": "verified_close_match",
    "RVNM": "verified_no_match",
    "RVNA": "verification_not_possible",
}
_COLUMNS = (
    "line_no",
    "_raw",
    "scope",
    "status_code",
    "reason_code",
    "reason_info",
    "message_id",
    "original_message_id",
    "batch_id",
    "end_to_end_id",
    "instruction_id",
    "transaction_id",
    "uetr",
    "_amt",
    "_ccy",
    "direction",
    "account_id",
    "counterparty_account",
    "counterparty_name",
    "_date",
    "_effective",
)


def _reason(elem: Element) -> tuple[str | None, str | None]:
    code = x.text(elem, "StsRsnInf/Rsn/Cd", "StsRsnInf/Rsn/Prtry")
    info = " ".join(x.texts(elem, "StsRsnInf/AddtlInf")) or None
    return code, info


def _decimal(text: str | None) -> Decimal | None:
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        return None


class _Rows:
    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {n: [] for n in _COLUMNS}

    def add(self, row: dict[str, Any]) -> None:
        for name, values in self.columns.items():
            values.append(row.get(name))

    def frame(self) -> pl.DataFrame:
        schema = {n: pl.String() for n in _COLUMNS} | {"line_no": pl.Int64()}
        return pl.DataFrame(self.columns, schema=schema)


def _raw(data: bytes, start: int, name: str) -> str:
    end = data.find(f"</{name}>".encode(), start)
    if end < 0:
        end = data.find(f":{name}>".encode(), start)
    return data[start : end + len(name) + 3 if end >= 0 else len(data)].decode("utf-8", errors="replace")


def _read_002(data: bytes) -> tuple[pl.DataFrame, list[str]]:
    rows = _Rows()
    errors: list[str] = []
    txs = x.LineLocator(data, "TxInfAndSts")
    pmts = x.LineLocator(data, "OrgnlPmtInfAndSts")
    groups = x.LineLocator(data, "OrgnlGrpInfAndSts")
    message_id = created = None
    group: dict[str, Any] = {}
    tx_statuses: list[str] = []
    seen_root = False
    pending: list[tuple[int, int, Element]] = []
    for elem in x.iterparse(
        data, ("GrpHdr", "OrgnlGrpInfAndSts", "OrgnlPmtInfAndSts", "TxInfAndSts", "CstmrPmtStsRpt")
    ):
        name = elem.tag
        if name == "GrpHdr":
            message_id, created = x.text(elem, "MsgId"), x.text(elem, "CreDtTm")
        elif name == "OrgnlGrpInfAndSts":
            line, start = groups.next()
            code, info = _reason(elem)
            group = {
                "line_no": line,
                "_raw": _raw(data, start, "OrgnlGrpInfAndSts"),
                "scope": "group",
                "status_code": x.text(elem, "GrpSts"),
                "reason_code": code,
                "reason_info": info,
                "original_message_id": x.text(elem, "OrgnlMsgId"),
                "_nb": x.text(elem, "OrgnlNbOfTxs"),
                "_per_status": [
                    (x.text(s, "DtldSts"), x.text(s, "DtldNbOfTxs")) for s in elem.iterfind("NbOfTxsPerSts")
                ],
            }
        elif name == "TxInfAndSts":
            pending.append((*txs.next(), elem))
        elif name == "OrgnlPmtInfAndSts":
            line, start = pmts.next()
            code, info = _reason(elem)
            base = {
                "scope": "payment_information",
                "batch_id": x.text(elem, "OrgnlPmtInfId"),
                "status_code": x.text(elem, "PmtInfSts"),
                "reason_code": code,
                "reason_info": info,
            }
            if not pending:
                rows.add(base | {"line_no": line, "_raw": _raw(data, start, "OrgnlPmtInfAndSts")})
            for tx_line, tx_start, tx in pending:
                tx_code, tx_info = _reason(tx)
                amount = x.amount(tx, "OrgnlTxRef/Amt/InstdAmt")
                status = x.text(tx, "TxSts") or base["status_code"]
                tx_statuses.append(status or "")
                rows.add(
                    base
                    | {
                        "line_no": tx_line,
                        "_raw": _raw(data, tx_start, "TxInfAndSts"),
                        "scope": "transaction",
                        "status_code": status,
                        "reason_code": tx_code or base["reason_code"],
                        "reason_info": tx_info or base["reason_info"] or group.get("reason_info"),
                        "end_to_end_id": x.reference(x.text(tx, "OrgnlEndToEndId")),
                        "instruction_id": x.reference(x.text(tx, "OrgnlInstrId")),
                        "transaction_id": x.text(tx, "StsId", "AcctSvcrRef"),
                        "uetr": x.text(tx, "OrgnlUETR"),
                        "_amt": amount.value,
                        "_ccy": amount.currency,
                        "direction": "credit",
                        "account_id": x.account_id(tx, "OrgnlTxRef/DbtrAcct"),
                        "counterparty_account": x.account_id(tx, "OrgnlTxRef/CdtrAcct"),
                        "counterparty_name": x.text(tx, "OrgnlTxRef/Cdtr/Pty/Nm", "OrgnlTxRef/Cdtr/Nm"),
                        "_effective": x.text(tx, "OrgnlTxRef/ReqdExctnDt/Dt", "OrgnlTxRef/ReqdExctnDt"),
                    }
                )
            pending.clear()
            elem.clear()
        elif name == "CstmrPmtStsRpt":
            seen_root = True
    if not seen_root:
        raise FileRejected("not a pain.002 status report: no CstmrPmtStsRpt element")
    if pending:
        raise FileRejected("TxInfAndSts outside an OrgnlPmtInfAndSts block")
    txs.finish()
    pmts.finish()
    if not rows.columns["line_no"]:
        if not group:
            raise FileRejected("pain.002 has neither OrgnlGrpInfAndSts nor OrgnlPmtInfAndSts")
        rows.add({k: v for k, v in group.items() if not k.startswith("_") or k == "_raw"})
    if group:
        stated = [(s, int(n)) for s, n in group["_per_status"] if s and n and n.isdigit()]
        if stated and group["_nb"] and group["_nb"].isdigit() and sum(n for _, n in stated) != int(group["_nb"]):
            errors.append(
                f"NbOfTxsPerSts adds up to {sum(n for _, n in stated)} transactions but OrgnlNbOfTxs is {group['_nb']}"
            )
        if tx_statuses and stated:
            for status, count in stated:
                seen = tx_statuses.count(status)
                if seen != count:
                    errors.append(f"NbOfTxsPerSts states {count} transactions {status} but {seen} are reported")
    frame = rows.frame().with_columns(
        pl.lit(message_id).alias("message_id"),
        pl.coalesce(pl.col("original_message_id"), pl.lit(group.get("original_message_id"))).alias(
            "original_message_id"
        ),
        pl.lit(created).alias("_date"),
    )
    return frame, errors


def _read_initiation(data: bytes, kind: str) -> tuple[pl.DataFrame, list[str], list[controls.Check]]:
    """pain.001 (credit transfers) or pain.008 (direct debits): one row per transaction."""
    root, block, tx_name = (
        ("CstmrCdtTrfInitn", "PmtInf", "CdtTrfTxInf")
        if kind == "001"
        else ("CstmrDrctDbtInitn", "PmtInf", "DrctDbtTxInf")
    )
    rows = _Rows()
    errors: list[str] = []
    checks: list[controls.Check] = []
    txs = x.LineLocator(data, tx_name)
    message_id = created = None
    group_nb = group_sum = None
    seen_root = False
    pending: list[tuple[int, int, Element]] = []
    totals: list[Decimal] = []
    count = 0
    for elem in x.iterparse(data, ("GrpHdr", block, tx_name, root)):
        name = elem.tag
        if name == "GrpHdr":
            message_id, created = x.text(elem, "MsgId"), x.text(elem, "CreDtTm")
            group_nb, group_sum = x.text(elem, "NbOfTxs"), x.text(elem, "CtrlSum")
        elif name == tx_name:
            pending.append((*txs.next(), elem))
        elif name == block:
            pmt_id = x.text(elem, "PmtInfId")
            nb, ctrl = x.text(elem, "NbOfTxs"), x.text(elem, "CtrlSum")
            effective = x.text(elem, "ReqdExctnDt/Dt", "ReqdExctnDt", "ReqdColltnDt")
            ours = x.account_id(elem, "DbtrAcct" if kind == "001" else "CdtrAcct")
            amounts: list[Decimal] = []
            for tx_line, tx_start, tx in pending:
                amount = x.amount(tx, "Amt/InstdAmt" if kind == "001" else "InstdAmt")
                value = _decimal(amount.value)
                if value is not None:
                    amounts.append(value)
                other = "Cdtr" if kind == "001" else "Dbtr"
                rows.add(
                    {
                        "line_no": tx_line,
                        "_raw": _raw(data, tx_start, tx_name),
                        "scope": "transaction",
                        "batch_id": pmt_id,
                        "end_to_end_id": x.reference(x.text(tx, "PmtId/EndToEndId")),
                        "instruction_id": x.reference(x.text(tx, "PmtId/InstrId")),
                        "uetr": x.text(tx, "PmtId/UETR"),
                        "_amt": amount.value,
                        "_ccy": amount.currency,
                        "direction": "credit" if kind == "001" else "debit",
                        "account_id": ours,
                        "counterparty_account": x.account_id(tx, f"{other}Acct"),
                        "counterparty_name": x.text(tx, f"{other}/Nm", f"{other}/Pty/Nm"),
                        "reason_info": " ".join(x.texts(tx, "RmtInf/Ustrd")) or None,
                        "_effective": effective,
                    }
                )
            where = f"payment information {pmt_id}"
            checks += _control(where, nb, ctrl, len(pending), amounts, errors)
            totals.extend(amounts)
            count += len(pending)
            pending.clear()
            elem.clear()
        elif name == root:
            seen_root = True
    if not seen_root:
        raise FileRejected(f"not a pain.{kind} message: no {root} element")
    txs.finish()
    checks += _control("group header", group_nb, group_sum, count, totals, errors)
    frame = rows.frame().with_columns(pl.lit(message_id).alias("message_id"), pl.lit(created).alias("_date"))
    return frame, errors, checks


def _control(
    where: str, nb: str | None, ctrl: str | None, count: int, amounts: list[Decimal], errors: list[str]
) -> list[controls.Check]:
    """NbOfTxs and CtrlSum of a block against its ``count`` transactions and their readable ``amounts``:
    each check passed, failed (its error appended) or skipped (absent, or an amount could not be read)."""
    out = []
    if nb and nb.isdigit():
        if int(nb) != count:
            errors.append(f"{where}: NbOfTxs is {nb} but {count} transactions are given")
            out.append(controls.failed("NbOfTxs", where, errors[-1]))
        else:
            out.append(controls.passed("NbOfTxs", where, f"{count} transactions"))
    else:
        out.append(controls.skipped("NbOfTxs", where, "no numeric NbOfTxs given"))
    total = _decimal(ctrl) if ctrl else None
    if total is None:
        out.append(controls.skipped("CtrlSum", where, "no readable CtrlSum given"))
    elif len(amounts) != count:
        out.append(
            controls.skipped("CtrlSum", where, f"{count - len(amounts)} transaction amount(s) unreadable (rejected)")
        )
    elif sum(amounts) != total:
        errors.append(f"{where}: CtrlSum is {ctrl} but the transactions add up to {sum(amounts)}")
        out.append(controls.failed("CtrlSum", where, errors[-1]))
    else:
        out.append(controls.passed("CtrlSum", where, f"{ctrl}"))
    return out


def _date(text: pl.Expr) -> pl.Expr:
    return text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)


def parse_pain(path: Path, ctx: ParseContext, kind: str) -> ParseResult:
    data = x.read_bytes(path, f"pain.{kind}")
    performed: list[controls.Check] | None = None
    if kind == "002":
        frame, errors = _read_002(data)
    else:
        frame, errors, performed = _read_initiation(data, kind)
    if errors:
        raise FileRejected("control totals do not agree: " + "; ".join(errors))
    minor, amount_error = money.parse_minor(
        pl.col("_amt"), pl.col("_ccy"), required=False, signed=False, accounting=False
    )
    status = pl.col("status_code").replace_strict(STATUSES, default=None, return_dtype=pl.String)
    frame = frame.with_columns(
        minor.alias("amount_minor"),
        amount_error.alias("_amount_error"),
        pl.when(pl.col("_ccy").is_not_null()).then(money.currency_error(pl.col("_ccy"))).alias("_ccy_error"),
        (status if kind == "002" else pl.lit("initiated")).alias("status"),
        pl.lit("status" if kind == "002" else "initiation").alias("record_type"),
        _date(pl.col("_effective")).alias("effective_date"),
        pl.coalesce(_date(pl.col("_date")), _date(pl.col("_effective"))).alias("business_date"),
        pl.col("_ccy").alias("currency"),
    )
    checks = {
        "status": pl.when(pl.col("status").is_null()).then(
            pl.when(pl.col("status_code").is_null())
            .then(pl.lit("no status (TxSts, PmtInfSts or GrpSts) is given"))
            .otherwise(pl.format("unknown status code '{}'", pl.col("status_code")))
        ),
        "InstdAmt/@Ccy": pl.col("_ccy_error"),
        "InstdAmt": pl.when(pl.col("_ccy_error").is_null()).then(pl.col("_amount_error")),
        "CreDtTm": pl.when(pl.col("business_date").is_null()).then(pl.lit("no creation or execution date")),
    }
    good, rejects = split_valid(
        frame, checks, raw=pl.col("_raw"), amount=pl.col("amount_minor"), currency=pl.col("currency")
    )
    result = finish(TABLE, good, rejects, ctx, frame.height)
    return result if performed is None else controls.with_checks(result, performed)
