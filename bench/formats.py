"""Benchmark of the format parsers: synthetic files in the real layouts, parsed to canonical Parquet.

``python -m bench.formats --rows N`` writes, in a temporary folder, one file per format (N lines
for the CSV reports; N // 10 entries, at least 1, for the bank statement and ACH formats), parses each
with its registered parser, writes the canonical frame as Parquet, and prints one JSON object: per format
the rows, the seconds of parse + write and the rows per second. The files are built with vectorised
Polars expressions so that generating a million lines takes a few seconds; every file passes its own
control totals.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.core.channels import Channel, CsvOptions
from pipelines.formats.base import ParseContext
from pipelines.formats.registry import get, table_of

DATE = "2026-11-26"


def _ids(n: int) -> pl.DataFrame:
    return pl.DataFrame({"i": pl.arange(0, n, eager=True)})


def _cents(expr: pl.Expr) -> pl.Expr:
    """Minor units (Int64) as a plain decimal text with two decimals."""
    return pl.format("{}.{}", expr // 100, (expr % 100).cast(pl.String).str.zfill(2))


def paypal(folder: Path, n: int) -> Path:
    frame = (
        _ids(n)
        .with_columns(
            (1000 + (pl.col("i") * 7919) % 100000).alias("gross"),
            (30 + (pl.col("i") * 31) % 300).alias("fee"),
        )
        .with_columns((pl.col("gross") - pl.col("fee")).alias("net"))
    )
    frame = frame.with_columns(pl.col("net").cum_sum().alias("balance"))
    out = frame.select(
        pl.lit("26/11/2026").alias("Date"),
        pl.format(
            "{}:{}:{}",
            (pl.col("i") // 3600 % 24).cast(pl.String).str.zfill(2),
            (pl.col("i") // 60 % 60).cast(pl.String).str.zfill(2),
            (pl.col("i") % 60).cast(pl.String).str.zfill(2),
        ).alias("Time"),
        pl.lit("PST").alias("TimeZone"),
        pl.lit("Website Payment").alias("Type"),
        pl.lit("Completed").alias("Status"),
        pl.lit("USD").alias("Currency"),
        _cents(pl.col("gross")).alias("Gross"),
        ("-" + _cents(pl.col("fee"))).alias("Fee"),
        _cents(pl.col("net")).alias("Net"),
        pl.format("TID{}", pl.col("i")).alias("Transaction ID"),
        pl.format("ORD-{}", pl.col("i")).alias("Invoice Number"),
        _cents(pl.col("balance")).alias("Balance"),
    )
    path = folder / "paypal.csv"
    out.write_csv(path)
    return path


def braintree(folder: Path, n: int) -> Path:
    out = (
        _ids(n)
        .with_columns((1000 + (pl.col("i") * 7919) % 100000).alias("amt"))
        .select(
            pl.lit("eur_acct").alias("Merchant Account ID"),
            pl.format("tx{}", pl.col("i")).alias("Transaction ID"),
            pl.lit("sale").alias("Transaction Type"),
            pl.lit("EUR").alias("Presentment Currency"),
            _cents(pl.col("amt")).alias("Presentment Amount"),
            pl.lit("EUR").alias("Settlement Currency"),
            _cents(pl.col("amt")).alias("Settlement Amount"),
            pl.lit(DATE).alias("Settlement Date"),
            pl.lit("2026-11-28").alias("Disbursement Date"),
            pl.format("ORD-{}", pl.col("i")).alias("Order ID"),
            _cents(pl.col("amt") // 40).alias("Total Fee Amount"),
        )
    )
    path = folder / "braintree.csv"
    out.write_csv(path)
    return path


def ratepay(folder: Path, n: int) -> Path:
    kinds = ["Factoring-Kaufpreis FmV", "RatePAYdisagio", "Transaktionsgebühr Käufer"]
    out = _ids(n).select(
        pl.lit("12345678").alias("SHOP_ID"),
        pl.lit(DATE).alias("PAYMENTDATE"),
        pl.when(pl.col("i") % 3 == 0)
        .then("-" + _cents(10000 + pl.col("i") % 5000))
        .otherwise(_cents(100 + pl.col("i") % 50))
        .alias("AMOUNT"),
        pl.format("{}", pl.col("i") // 3).alias("SHOPSORDER_ID"),
        pl.col("i").mod(3).replace_strict(dict(enumerate(kinds)), return_dtype=pl.String).alias("DESCRIPTION"),
        pl.format("44-{}", pl.col("i") // 3).alias("TRANSACTION_ID"),
    )
    path = folder / "ratepay.csv"
    out.write_csv(path, separator=";", quote_style="always")
    return path


def mt940(folder: Path, n: int) -> Path:
    entries = _ids(n).with_columns((100 + (pl.col("i") * 7919) % 100000).alias("amt"))
    credits = int(entries.filter(pl.col("i") % 4 != 0)["amt"].sum())
    debits = int(entries.filter(pl.col("i") % 4 == 0)["amt"].sum())
    lines = entries.select(
        pl.format(
            ":61:2611261126{}{},{}NTRFREF{}//B{}\n:86:166?00GUTSCHRIFT?20EREF+E2E-{}?21SVWZ+Order {}?32Customer {}",
            pl.when(pl.col("i") % 4 == 0).then(pl.lit("D")).otherwise(pl.lit("C")),
            pl.col("amt") // 100,
            (pl.col("amt") % 100).cast(pl.String).str.zfill(2),
            pl.col("i"),
            pl.col("i"),
            pl.col("i"),
            pl.col("i"),
            pl.col("i"),
        ).alias("l")
    )["l"]
    closing = 100000000 + credits - debits
    head = ":20:BENCH\n:25:DE89370400440532013000\n:28C:1/1\n:60F:C261125EUR1000000,00\n"
    tail = f":62F:C261126EUR{closing // 100},{closing % 100:02d}\n-\n"
    path = folder / "statement.sta"
    path.write_text(head + "\n".join(lines.to_list()) + "\n" + tail)
    return path


def camt053(folder: Path, n: int) -> Path:
    entries = _ids(n).with_columns((100 + (pl.col("i") * 7919) % 100000).alias("amt"))
    credits = int(entries.filter(pl.col("i") % 4 != 0)["amt"].sum())
    debits = int(entries.filter(pl.col("i") % 4 == 0)["amt"].sum())
    xml = entries.select(
        pl.format(
            '<Ntry><Amt Ccy="EUR">{}</Amt><CdtDbtInd>{}</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>'
            "<BookgDt><Dt>2026-11-26</Dt></BookgDt><ValDt><Dt>2026-11-26</Dt></ValDt><AcctSvcrRef>AS{}</AcctSvcrRef>"
            "<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>"
            "<NtryDtls><TxDtls><Refs><EndToEndId>E2E-{}</EndToEndId></Refs><RltdPties><Dbtr><Nm>Customer {}</Nm>"
            "</Dbtr></RltdPties><RmtInf><Ustrd>Order {}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>",
            _cents(pl.col("amt")),
            pl.when(pl.col("i") % 4 == 0).then(pl.lit("DBIT")).otherwise(pl.lit("CRDT")),
            pl.col("i"),
            pl.col("i"),
            pl.col("i"),
            pl.col("i"),
        ).alias("x")
    )["x"]
    closing = 100000000 + credits - debits

    def bal(code: str, minor: int) -> str:
        return (
            f'<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">{minor // 100}.{minor % 100:02d}'
            "</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>2026-11-26</Dt></Dt></Bal>"
        )

    text = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">'
        "<BkToCstmrStmt><GrpHdr><MsgId>B</MsgId></GrpHdr><Stmt><Id>S1</Id><Acct><Id><IBAN>NL33INGB6693512750</IBAN>"
        f"</Id></Acct>{bal('OPBD', 100000000)}{bal('CLBD', closing)}\n"
        + "\n".join(xml.to_list())
        + "\n</Stmt></BkToCstmrStmt></Document>\n"
    )
    path = folder / "camt053.xml"
    path.write_text(text)
    return path


def camt054(folder: Path, n: int) -> Path:
    """The camt.053 entries as a notification (no balances: a notification has none)."""
    text = camt053(folder, n).read_text()
    start, end = text.index("<Bal>"), text.rindex("</Bal>") + len("</Bal>")
    text = text[:start] + text[end:]
    text = text.replace("camt.053.001.08", "camt.054.001.08").replace("BkToCstmrStmt", "BkToCstmrDbtCdtNtfctn")
    path = folder / "camt054.xml"
    path.write_text(text.replace("<Stmt>", "<Ntfctn>").replace("</Stmt>", "</Ntfctn>"))
    return path


CSV_FORMATS: dict[str, tuple[Callable[[Path, int], Path], CsvOptions, str]] = {
    "paypal": (paypal, CsvOptions(), "psp"),
    "braintree": (braintree, CsvOptions(), "psp"),
    "ratepay": (ratepay, CsvOptions(delimiter=";"), "psp"),
}
STATEMENT_FORMATS: dict[str, Callable[[Path, int], Path]] = {"mt940": mt940, "camt053": camt053, "camt054": camt054}


def _time(fmt: str, path: Path, options: CsvOptions, kind: str, out: Path) -> dict[str, Any]:
    channel = Channel(id="bench", kind=kind, location=".", format=fmt, csv=options)
    start = time.perf_counter()
    result = get(fmt)(path, ParseContext(channel=channel, file_id="b" * 64, file_name=path.name))
    result.frame.write_parquet(out / f"{fmt}.parquet", compression="zstd", compression_level=1)
    seconds = time.perf_counter() - start
    return {
        "table": table_of(fmt),
        "rows": result.frame.height,
        "rejected": result.rows_rejected,
        "seconds": round(seconds, 2),
        "rows_per_s": round(result.frame.height / seconds) if seconds else None,
        "file_mb": round(path.stat().st_size / 1e6, 1),
    }


def run(rows: int, workdir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    statements = max(1, rows // 10)
    for fmt, (make, options, kind) in CSV_FORMATS.items():
        out[fmt] = _time(fmt, make(workdir, rows), options, kind, workdir)
    for fmt, make_statement in STATEMENT_FORMATS.items():
        out[fmt] = _time(fmt, make_statement(workdir, statements), CsvOptions(), "bank", workdir)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.formats")
    parser.add_argument("--rows", type=int, default=1_000_000, help="lines per CSV report (statements get rows/10)")
    parser.add_argument("--workdir", help="keep the generated files here")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="recon-bench-formats-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        result = run(args.rows, workdir)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
