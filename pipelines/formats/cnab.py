"""Brazilian CNAB bank return files for boleto collection (cobranca) to ``payment_status``.

Column documentation: FEBRABAN "Layout Padrao de Arquivos CNAB 240" v10 (file header 0, lot header 1,
detail 3 with segments T and U for collection returns, lot trailer 5, file trailer 9), and the banks'
CNAB 400 collection return layouts (here Bradesco's "Cobranca Bradesco - Arquivo Retorno", shared by most
banks for positions 1-110 and the value fields): header ``02RETORNO01COBRANCA``, detail 1, trailer 9.
Values are whole numbers with two implied decimals (BRL centavos); dates DDMMAAAA (240) or DDMMAA (400).

Rows: one per title occurrence (a T+U pair in CNAB 240, a detail 1 in CNAB 400). The occurrence code
(codigo de movimento / ocorrencia) gives the status: 06, 17 (liquidacao) are ``paid`` with the amount
paid, the tariff as fee and the net credited; 02 (entrada confirmada) ``accepted``; 03 (entrada
rejeitada) ``rejected``; 09, 10 (baixa) and the others ``informational``. ``transaction_id`` is the
bank's nosso numero, ``end_to_end_id`` the company's own number (seu numero / uso da empresa).

Real files: lines right-trimmed (not padded to 240/400), LF or CRLF.

Control totals, a failure rejects the file with the figures: CNAB 240 lot trailers count the lot's
records and the file trailer the lots and all records, every T is followed by its U; CNAB 400 records
are numbered 1..n in positions 395-400.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.formats import csvutil
from pipelines.formats.base import FileRejected, ParseContext, ParseResult, finish, split_valid

TABLE = "payment_status"
CONTROL_TOTALS = "CNAB 240 lot and file trailer record counts, T/U pairing; CNAB 400 record sequence"
MAX_BYTES = 256 * 1024 * 1024
PAID = ("06", "17")
STATUS = {"02": "accepted", "03": "rejected", "06": "paid", "17": "paid"}


def _lines(path: Path, ctx: ParseContext, width: int) -> pl.DataFrame:
    text = csvutil.read_text(path, ctx.channel.csv.encoding, "CNAB", MAX_BYTES)
    raw = text.split("\n")
    if raw and raw[-1] == "":
        raw.pop()
    frame = pl.DataFrame({"rec": raw}, schema={"rec": pl.String()}).with_row_index("line_no", offset=1)
    frame = frame.with_columns(pl.col("line_no").cast(pl.Int64), pl.col("rec").str.strip_suffix("\r"))
    frame = frame.filter(pl.col("rec").str.strip_chars() != "")
    long = frame.filter(pl.col("rec").str.len_chars() > width)
    if long.height:
        line, rec = long.row(0)
        raise FileRejected(f"line {line} has {len(rec)} characters; CNAB {width} records have at most {width}")
    return frame.with_columns(pl.col("rec").str.pad_end(width))


def _f(start: int, end: int, col: str = "rec") -> pl.Expr:
    return pl.col(col).str.slice(start - 1, end - start + 1)


def _t(start: int, end: int, col: str = "rec") -> pl.Expr:
    value = _f(start, end, col).str.strip_chars()
    return pl.when(value != "").then(value)


def _n(start: int, end: int, col: str = "rec") -> pl.Expr:
    return _f(start, end, col).str.strip_chars().cast(pl.Int64, strict=False)


def _status(code: pl.Expr) -> pl.Expr:
    return code.replace_strict(STATUS, default="informational", return_dtype=pl.String)


def _finish(frame: pl.DataFrame, ctx: ParseContext, rows_in: int) -> ParseResult:
    checks: dict[str, pl.Expr] = {
        "valor": pl.when(pl.col("amount_minor").is_null()).then(pl.lit("the title or paid value is not a number")),
        "data": pl.when(pl.col("business_date").is_null()).then(
            pl.lit("neither the occurrence date nor the file date is a date")
        ),
        "ocorrencia": pl.when(pl.col("status_code").is_null()).then(pl.lit("occurrence code is missing")),
    }
    good, rejects = split_valid(
        frame, checks, raw=pl.col("_raw"), amount=pl.col("amount_minor"), currency=pl.lit("BRL")
    )
    good = good.with_columns(
        pl.lit("BRL").alias("currency"),
        pl.lit("transaction").alias("scope"),
        pl.lit("credit").alias("direction"),
    )
    return finish(TABLE, good, rejects, ctx, rows_in)


def parse_240(path: Path, ctx: ParseContext) -> ParseResult:
    frame = _lines(path, ctx, 240).with_columns(_f(8, 8).alias("type"), _f(14, 14).alias("segment"))
    types = "".join(frame["type"].to_list())
    if not types.startswith("0") or not types.rstrip().endswith("9"):
        raise FileRejected("CNAB 240 must start with a file header (record type 0) and end with a file trailer (9)")
    header = frame.row(0, named=True)["rec"]
    file_date = header[143:151]
    errors: list[str] = []
    frame = frame.with_columns((pl.col("type") == "1").cum_sum().alias("lot"))
    for lot, count, line in (
        frame.filter(pl.col("type") == "5").select("lot", _n(18, 23).alias("n"), "line_no").iter_rows()
    ):
        present = frame.filter((pl.col("lot") == lot) & pl.col("type").is_in(["1", "3", "5"])).height
        if count != present:
            errors.append(f"lot {lot} trailer (line {line}) counts {count} records but {present} are present")
    trailer = frame.filter(pl.col("type") == "9").select(_n(18, 23).alias("lots"), _n(24, 29).alias("n"), "line_no")
    lots, count, line = trailer.row(0)
    present_lots = frame.filter(pl.col("type") == "1").height
    if lots != present_lots:
        errors.append(f"file trailer (line {line}) counts {lots} lots but {present_lots} are present")
    if count != frame.height:
        errors.append(f"file trailer (line {line}) counts {count} records but {frame.height} are present")
    details = frame.filter(pl.col("type") == "3")
    t = details.filter(pl.col("segment") == "T").with_row_index("pair")
    u = details.filter(pl.col("segment") == "U").with_row_index("pair")
    if t.height != u.height:
        errors.append(f"{t.height} T segments but {u.height} U segments")
    if errors:
        raise FileRejected("control totals do not agree: " + "; ".join(errors))
    pairs = t.join(u.select("pair", pl.col("rec").alias("u"), pl.col("line_no").alias("u_line")), on="pair")
    late_u = pairs.filter(pl.col("u_line") != pl.col("line_no") + 1)
    if late_u.height:
        raise FileRejected(f"segment T on line {late_u['line_no'][0]} is not followed by its segment U")
    code = _t(16, 17)
    paid = code.is_in(list(PAID))
    frame = pairs.with_columns(
        code.alias("status_code"),
        _status(code).alias("status"),
        pl.when(paid).then(pl.lit("status")).otherwise(pl.lit("status")).alias("record_type"),
        _t(214, 223).alias("reason_code"),
        _t(38, 57).alias("transaction_id"),
        pl.coalesce(_t(106, 130), _t(59, 73)).alias("end_to_end_id"),
        _t(59, 73).alias("instruction_id"),
        _t(149, 188).alias("counterparty_name"),
        _t(24, 35).alias("account_id"),
        pl.when(paid).then(_n(78, 92, "u")).otherwise(_n(82, 96)).alias("amount_minor"),
        _n(199, 213).alias("fee_minor"),
        pl.when(paid).then(_n(93, 107, "u")).alias("net_minor"),
        _f(146, 153, "u").str.to_date("%d%m%Y", strict=False).alias("effective_date"),
        pl.coalesce(
            _f(138, 145, "u").str.to_date("%d%m%Y", strict=False), pl.lit(file_date).str.to_date("%d%m%Y", strict=False)
        ).alias("business_date"),
        pl.concat_str([pl.col("rec"), pl.col("u")], separator="\n").alias("_raw"),
    )
    return _finish(frame, ctx, t.height)


def parse_400(path: Path, ctx: ParseContext) -> ParseResult:
    frame = _lines(path, ctx, 400).with_columns(_f(1, 1).alias("type"))
    first = frame.row(0, named=True)["rec"]
    if not first.startswith("02RETORNO"):
        raise FileRejected("CNAB 400 return files start with a header '02RETORNO'")
    if frame["type"][-1] != "9":
        raise FileRejected("CNAB 400 file has no trailer (record type 9) at its end: truncated")
    sequence = frame.with_columns(_n(395, 400).alias("seq"), pl.int_range(1, pl.len() + 1).alias("expected"))
    wrong = sequence.filter(pl.col("seq") != pl.col("expected"))
    if wrong.height:
        line, seq, expected = wrong.select("line_no", "seq", "expected").row(0)
        raise FileRejected(
            f"control totals do not agree: record on line {line} is numbered {seq} but is record {expected}"
        )
    file_date = first[94:100]
    details = frame.filter(pl.col("type") == "1")
    code = _t(109, 110)
    paid = code.is_in(list(PAID))
    paid_value = _n(254, 266)
    out = details.with_columns(
        code.alias("status_code"),
        _status(code).alias("status"),
        pl.lit("status").alias("record_type"),
        _t(319, 328).alias("reason_code"),
        _t(71, 82).alias("transaction_id"),
        pl.coalesce(_t(38, 62), _t(117, 126)).alias("end_to_end_id"),
        _t(117, 126).alias("instruction_id"),
        _t(21, 37).alias("account_id"),
        pl.when(paid).then(paid_value).otherwise(_n(153, 165)).alias("amount_minor"),
        _n(176, 188).alias("fee_minor"),
        pl.when(paid).then(paid_value - _n(176, 188)).alias("net_minor"),
        _f(296, 301).str.to_date("%d%m%y", strict=False).alias("effective_date"),
        pl.coalesce(
            _f(111, 116).str.to_date("%d%m%y", strict=False), pl.lit(file_date).str.to_date("%d%m%y", strict=False)
        ).alias("business_date"),
        pl.col("rec").alias("_raw"),
    )
    return _finish(out, ctx, details.height)
