"""Every file of the shared sample corpus (real third-party files, see its SOURCES.md) is read, or rejected
with the precise reason when the file itself is inconsistent.

Invariants checked for each file:
1. The format is detected from the content alone, and it is the format the file is.
2. A file that is read gives exactly the stated number of rows, none rejected, and per currency and
   direction (bank), record type (PSP) or status (payment status) the counts and sums written below,
   which were checked by hand against what the file itself states (balances, batch and trailer totals,
   control sums) or counted in the file.
3. A file whose own control totals disagree is rejected with the figures, and its entries still read
   (so the rejection is the file's, not the parser's).

The corpus is read where it lies (``../shared/corpus`` beside the repository, or ``$RECON_CORPUS``) and
never copied into the repository. Without it the tests skip, unless ``RECON_REQUIRE_CORPUS=1`` or
``CI=true`` is set: then its absence fails.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from format_helpers import corpus_or_skip

from pipelines.cli.inspect import inspect_file
from pipelines.core.channels import Channel
from pipelines.formats import bai2, camt, csvutil, mt940, nacha
from pipelines.formats.base import FileRejected, ParseContext, ParseResult
from pipelines.formats.controls import checks_of
from pipelines.formats.detect import detect
from pipelines.formats.registry import get, table_of

CORPUS = corpus_or_skip()

Sums = list[tuple[Any, ...]]

# file -> (format, rows, sums per (currency, direction | record type | status): count, total minor units).
# A row is an entry or record, except in camt files: there a batch entry broken down into several TxDtls with
# amounts gives one row per transaction.
READ: dict[str, tuple[str, int, Sums]] = {
    "bai2/moj_citi_uk_gbp_fasterpayments.bai2": ("bai2", 1, [("GBP", "credit", 1, 1)]),
    "bai2/moj_natwest_gbp.bai2": ("bai2", 5, [("GBP", "credit", 1, 89), ("GBP", "debit", 4, 2765)]),
    "bai2/moov_sample1_cad_returned_cheques.bai2": (
        "bai2",
        17,
        [("CAD", "credit", 5, 320000), ("CAD", "debit", 12, 320000)],
    ),
    "bai2/moov_sample2_spec_multigroup_fundstype.bai2": ("bai2", 4, [("USD", "credit", 4, 30950000)]),
    "bai2/moov_sample3_usd_multirecord_lines.bai2": (
        "bai2",
        26,
        [("USD", "credit", 13, 39713), ("USD", "debit", 13, 59418)],
    ),
    "brazil_cnab/brcobranca_cnab240_banco_do_brasil.ret": ("cnab240", 35, [("BRL", "paid", 35, 2188094)]),
    "brazil_cnab/brcobranca_cnab240_sicoob.ret": ("cnab240", 3, [("BRL", "paid", 3, 600)]),
    "brazil_cnab/brcobranca_cnab400_bradesco.ret": (
        "cnab400",
        6,
        [("BRL", "accepted", 5, 273000), ("BRL", "informational", 1, 20000)],
    ),
    # 13 entries, four of them batches broken down into 10, 8, 3 and 2 credit transactions: 9 + 23 rows.
    "camt053/dvbern_postfinance_ch_camt053_v04_charges_returns.xml": (
        "camt053",
        32,
        [("CHF", "credit", 24, 181056), ("CHF", "debit", 8, 127295)],
    ),
    "camt053/oca_camt053_v04_multi_currency.xml": (
        "camt053",
        2,
        [("CHF", "credit", 1, 13400), ("CHF", "debit", 1, 57921)],
    ),
    "camt053/subite_be_camt053_v02_isct.xml": (
        "camt053",
        3,
        [("EUR", "credit", 1, 78990440), ("EUR", "debit", 2, 78990440)],
    ),
    # No BookgDt, ValDt nor statement period: the entries are dated by the message's creation date (GrpHdr
    # CreDtTm). The camt053 parser used to reject all 15 rows on BookgDt before it became the shared camt reader.
    "camt053/subite_lt_settlement_camt053_v08_2024-04-11.xml": (
        "camt053",
        15,
        [("EUR", "credit", 3, 94050525), ("EUR", "debit", 12, 520968501)],
    ),
    "camt054/dvbern_postfinance_ch_camt054_v04_esr_batch_charges.xml": ("camt054", 8, [("CHF", "credit", 8, 62000)]),
    "camt054/dvbern_postfinance_ch_camt054_v08_qrr.xml": ("camt054", 2, [("CHF", "credit", 2, 169222)]),
    "camt054/genkgo_camt054_v02.xml": ("camt054", 1, [("SEK", "debit", 1, 20000000)]),
    "camt054/subite_lt_camt054_v10_2024-03-18_netted_batch.xml": (
        "camt054",
        41,
        [("EUR", "credit", 32, 792351), ("EUR", "debit", 9, 20259576)],
    ),
    "mt940/betterplace_de_sepa_returns_sammler.sta": (
        "mt940",
        97,
        [("EUR", "credit", 41, 518847494), ("EUR", "debit", 56, 1445761084)],
    ),
    "mt940/mt940rs_danskebank_dk_preamble.sta": (
        "mt940",
        89,
        [("DKK", "credit", 8, 391088635), ("DKK", "debit", 81, 253843358)],
    ),
    "mt940/oca_ing_nl_structured86.940": ("mt940", 8, [("EUR", "credit", 4, 3658), ("EUR", "debit", 4, 13446)]),
    "mt940/wolph_citi_usd_blank_entrydate.txt": ("mt940", 5, [("USD", "credit", 2, 0), ("USD", "debit", 3, 114275)]),
    "mt940/wolph_sberbank_hu_ns_tags.sta": ("mt940", 3, [("HUF", "debit", 3, 943700)]),
    "mt942/wolph_mbank_pl_mt942.sta": ("mt942", 3, [("PLN", "credit", 3, 3)]),
    "nacha/moov_contested_dishonored_return_R72.ach": ("nacha", 1, [("USD", "returned", 1, 1560)]),
    "nacha/moov_fiserv_zero_entry_return_file.ach": ("nacha", 0, []),
    "nacha/moov_noc_cor_C01.ach": ("nacha", 1, [("USD", "corrected", 1, 0)]),
    "nacha/moov_return_web_R01_R03.ach": ("nacha", 2, [("USD", "returned", 2, 16919)]),
    "nacha/moov_tel_reversal.ach": ("nacha", 2, [("USD", "reversed", 2, 1370200)]),
    "psp_adyen/oca_adyen_settlement_detail_report_batch_238_balancetransfer.csv": (
        "adyen_sdr",
        3,
        [("USD", "adjustment", 2, 9), ("USD", "fee", 1, -9)],
    ),
    "psp_adyen/oca_adyen_settlement_detail_report_batch_380.csv": (
        "adyen_sdr",
        228,
        [
            ("USD", "fee", 1, -3810),
            ("USD", "payment", 220, 5643852),
            ("USD", "payout", 1, -5530807),
            ("USD", "refund", 6, -109235),
        ],
    ),
    "psp_braintree/oca_braintree_transaction_level_fee_report.csv": ("braintree", 2, [("EUR", "payment", 2, 314076)]),
    "psp_paypal/oca_paypal_activity_download_en.csv": (
        "paypal",
        76,
        [
            ("AUD", "adjustment", 1, 10000),
            ("AUD", "payment", 1, -10000),
            ("EUR", "adjustment", 15, 5942702),
            ("EUR", "payout", 14, -5938368),
            ("USD", "adjustment", 18, -6753802),
            ("USD", "payment", 27, 6753992),
        ],
    ),
    "psp_paypal/oca_paypal_statement_en.csv": (
        "paypal",
        19,
        [
            ("EUR", "adjustment", 4, 1734631),
            ("EUR", "payout", 4, -1734631),
            ("USD", "adjustment", 4, -2091400),
            ("USD", "payment", 7, 2119430),
        ],
    ),
    "psp_paypal/oca_paypal_statement_es_decimal_comma.csv": ("paypal", 4, [("EUR", "payment", 4, 13108)]),
    "psp_ratepay/notima_ratepay_settlement_report.csv": (
        "ratepay",
        22,
        [("EUR", "adjustment", 1, -20000), ("EUR", "fee", 14, -51224), ("EUR", "payment", 7, 5135160)],
    ),
    "sepa_pain/dvbern_pain.001.001.03.ch.02_swiss.xml": ("pain001", 4, [("CHF", "initiated", 4, 401000)]),
    "sepa_pain/hbci4java_pain.002.001.10_vop_rcvc_hypovereinsbank.xml": (
        "pain002",
        1,
        [(None, "verified_match", 1, None)],
    ),
    "sepa_pain/hbci4java_pain.002.001.10_vop_rvnm.xml": ("pain002", 1, [(None, "verified_no_match", 1, None)]),
    "sepa_pain/hbci4java_pain.002.001.10_vop_rvnm_no_namespace.xml": (
        "pain002",
        1,
        [(None, "verified_no_match", 1, None)],
    ),
    "sepa_pain/sepaking_pain.001.001.03_dk_example.xml": ("pain001", 2, [("EUR", "initiated", 2, 665586)]),
    "sepa_pain/sepaking_pain.001.003.03_german_dk.xml": ("pain001", 2, [("EUR", "initiated", 2, 665586)]),
    "sepa_pain/sepaking_pain.008.003.02_german_dk_core_dd.xml": ("pain008", 2, [("EUR", "initiated", 2, 665586)]),
}

# file -> (format, exact reason, entries its body holds)
REJECTED: dict[str, tuple[str, str, int]] = {
    "bai2/moov_sample4_gs_ach_returns_no_slash.bai2": (
        "bai2",
        "control totals do not agree: account 107049932 trailer (line 22) states control total -1260161341762 but "
        "its amounts add up to 7999960 (difference -1260169341722, in minor units); account 107049932 trailer "
        "(line 22) states 26 records but 18 are present; account 104108339 trailer (line 110) states control total "
        "6869722 but its amounts add up to 666917818 (difference -660048096, in minor units); account 104108339 "
        "trailer (line 110) states 8 records but 88 are present; group 1 trailer (line 115) states control total "
        "13060195162 but its amounts add up to 13728243218 (difference -668048056, in minor units); group 1 trailer "
        "(line 115) states 16 records but 114 are present; group 1 trailer (line 115) states 4 accounts but 5 are "
        "present; file trailer (line 116) states control total 13060195162 but its amounts add up to 13728243218 "
        "(difference -668048056, in minor units); file trailer (line 116) states 18 records but 116 are present",
        17,
    ),
    # opening balance in EUR, closing in SEK (and available balances in CHF and JPY) for one EUR entry: no
    # balance check can run, so the statement is refused, as MT940 refuses balances in different currencies
    "camt053/genkgo_camt053_v08.xml": (
        "camt053",
        "statement 253EURNL26VAYB8060476890 (account NL26VAYB8060476890): opening balance in EUR but closing "
        "balance in SEK",
        1,
    ),
    "camt053/oca_testbank_nl_camt053_v02_reversal_batch.xml": (
        "camt053",
        "statement 1234Test/1 (account NL77ABNA0574908765): opening balance 15568.27 + credits 1405.31 - debits "
        "1418.30 = 15555.28 EUR, but the closing balance is 15121.12 EUR (difference -434.16)",
        4,
    ),
    "mt940/jejik_deutschebank_de_ocmt_chgs.txt": (
        "mt940",
        "control totals do not agree: statement DEUTDEMMXXX/00143/1 (line 1, account 20070000/0123456601): "
        "opening balance 0.00 + credits 0.00 - debits 12.35 = -12.35 EUR, but the closing balance is 0.00 EUR "
        "(difference 12.35)",
        1,
    ),
    "mt940/jejik_postfinance_ch_soh_etx.txt": (
        "mt940",
        "control totals do not agree: statement 2014040708285928/999/2 (line 16, account 123456789): opening "
        "balance 229.20 + credits 10.10 - debits 79.90 = 159.40 CHF, but the closing balance is 159.60 CHF "
        "(difference 0.20)",
        4,
    ),
    "mt942/wolph_selfprovided_mt942_charges.sta": (
        "mt942",
        "control totals do not agree: statement CGNGHKLI0290980/03917/00001 (line 1, account GJB0291077111): "
        ":90D: states 1 debit(s) totalling 2.30 EUR but the entries are 1 debit(s) totalling 0.42 EUR",
        1,
    ),
    "nacha/moov_usbank_ppd_iat_20110805A.ach": (
        "nacha",
        "control totals do not agree: file control (line 93) states 5 batches but 4 are present",
        48,
    ),
}

GROUP = {"bank_statement_lines": "direction", "psp_settlement_lines": "record_type", "payment_status": "status"}
AMOUNT = {"bank_statement_lines": "amount_minor", "psp_settlement_lines": "net_minor", "payment_status": "amount_minor"}


def corpus_files() -> list[str]:
    return sorted(str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*") if p.is_file() and p.name != "SOURCES.md")


def parse(name: str) -> ParseResult:
    path = CORPUS / name
    found = detect(path)
    kind = "psp" if table_of(found.format) == "psp_settlement_lines" else "bank"
    channel = Channel(id="corpus", kind=kind, location=".", format=found.format, csv=found.csv)
    return get(found.format)(path, ParseContext(channel=channel, file_id="c" * 64, file_name=path.name))


def sums(result: ParseResult) -> Sums:
    group, amount = GROUP[result.table], AMOUNT[result.table]
    frame = result.frame.group_by("currency", group).agg(pl.len(), pl.col(amount).sum())
    return [
        (ccy, g, n, None if result.table == "payment_status" and ccy is None else total)
        for ccy, g, n, total in frame.sort("currency", group, nulls_last=True).rows()
    ]


def test_every_corpus_file_has_an_expectation() -> None:
    files = corpus_files()
    assert len(files) == 48
    assert sorted([*READ, *REJECTED]) == files


@pytest.mark.parametrize("name", corpus_files())
def test_format_is_detected_from_the_content(name: str) -> None:
    expected = {k: v[0] for k, v in READ.items()} | {k: v[0] for k, v in REJECTED.items()}
    assert detect(CORPUS / name).format == expected[name]


@pytest.mark.parametrize("name", sorted(READ))
def test_file_is_read_with_its_own_counts_and_sums(name: str) -> None:
    _fmt, rows, expected = READ[name]
    result = parse(name)
    assert result.rejects.height == 0, result.rejects.select("line_no", "field", "reason").rows()
    assert (result.rows_in, result.frame.height) == (rows, rows)
    assert sums(result) == expected
    assert bool((result.frame["line_no"] >= 1).all())
    assert result.frame["file_id"].unique().to_list() in ([], ["c" * 64])


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_inconsistent_file_is_rejected_with_the_figures(name: str) -> None:
    _fmt, reason, _entries = REJECTED[name]
    with pytest.raises(FileRejected) as caught:
        parse(name)
    assert str(caught.value) == reason


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_rejected_file_still_reads_entry_by_entry(name: str) -> None:
    """The rejection is about the file's totals: its entries themselves parse."""
    _fmt, _reason, entries = REJECTED[name]
    data = (CORPUS / name).read_bytes()
    if name.startswith(("mt940", "mt942")):
        frame, checks = mt940.read(csvutil.decode(data, "utf-8"))
        assert any(c.status == "failed" for c in checks)
        read = frame.filter(pl.col("_error").is_null()).height
    elif name.startswith("bai2"):
        frame, checks = bai2.read(csvutil.decode(data, "utf-8"))
        assert any(c.status == "failed" for c in checks)
        read = frame.height
    elif name.startswith("nacha"):
        read = nacha.read(csvutil.decode(data, "utf-8")).filter(pl.col("type") == "6").height
    else:
        read = camt.read(data, "053")[0].height
    assert read == entries


@pytest.mark.parametrize("name", corpus_files())
def test_inspect_reports_every_file(name: str) -> None:
    result = inspect_file(CORPUS / name)
    if name in REJECTED:
        assert (result.status, result.exit_code, result.reason) == ("rejected", 1, REJECTED[name][1])
    else:
        assert (result.status, result.exit_code) == ("read", 0)
        assert result.rows_in == READ[name][1]


# file -> the control checks its parser reports, as (name, scope, status); every one ran (none skipped).
# camt054/genkgo_camt054_v02.xml has none: a notification has no balances and its one entry no breakdown.
CHECKED: dict[str, list[tuple[str, str, str]]] = {
    "bai2/moj_citi_uk_gbp_fasterpayments.bai2": [
        ("control total and record count", "1 account trailer (49)", "passed"),
        ("control total and record count", "1 group trailer (98)", "passed"),
        ("control total and record count", "file trailer (99)", "passed"),
    ],
    "bai2/moov_sample3_usd_multirecord_lines.bai2": [
        ("control total and record count", "15 account trailers (49)", "passed"),
        ("control total and record count", "1 group trailer (98)", "passed"),
        ("control total and record count", "file trailer (99)", "passed"),
    ],
    "camt053/dvbern_postfinance_ch_camt053_v04_charges_returns.xml": [
        ("balance", "statement 20160430375204000008574 (account CH0309000000250090342)", "passed"),
        ("batch breakdown", "4 batch entries", "passed"),
    ],
    # balances without CdtDbtInd: read as credits, and checked (the check used to be skipped silently)
    "camt053/subite_lt_settlement_camt053_v08_2024-04-11.xml": [
        ("balance", "statement MSG25684197-NAEUXI (account LT625883379695428516)", "passed"),
        ("balance", "statement MSG32269800-GZNPDA (account LT414319056143772570)", "passed"),
    ],
    "camt054/genkgo_camt054_v02.xml": [],
    "camt054/subite_lt_camt054_v10_2024-03-18_netted_batch.xml": [("batch breakdown", "1 batch entry", "passed")],
    "mt942/wolph_mbank_pl_mt942.sta": [
        (":90D: total", "statement ST170119CYC/0001/1/1 (line 2, account PL29114010810000267002001002)", "passed"),
        (":90C: total", "statement ST170119CYC/0001/1/1 (line 2, account PL29114010810000267002001002)", "passed"),
    ],
}
# file -> number of statements whose balance check passed
BALANCES_CHECKED = {
    "mt940/betterplace_de_sepa_returns_sammler.sta": 26,
    "mt940/mt940rs_danskebank_dk_preamble.sta": 15,
    "mt940/oca_ing_nl_structured86.940": 1,
    "mt940/wolph_citi_usd_blank_entrydate.txt": 1,
    "mt940/wolph_sberbank_hu_ns_tags.sta": 1,
    "camt053/oca_camt053_v04_multi_currency.xml": 1,
    "camt053/subite_be_camt053_v02_isct.xml": 1,
}
CHECKING_FORMATS = ("bai2", "camt053", "camt054", "mt940", "mt942")


@pytest.mark.parametrize("name", sorted(n for n, v in READ.items() if v[0] in CHECKING_FORMATS))
def test_every_check_of_a_read_file_ran_and_inspect_says_agree_only_then(name: str) -> None:
    checks = checks_of(parse(name))
    assert checks is not None
    assert [c.status for c in checks if c.status != "passed"] == []
    if name in CHECKED:
        assert [(c.name, c.scope, c.status) for c in checks] == CHECKED[name]
    if name in BALANCES_CHECKED:
        assert sum(c.name == "balance" and c.status == "passed" for c in checks) == BALANCES_CHECKED[name]
    control = inspect_file(CORPUS / name).control or ""
    assert control.startswith("agree (" if checks else "none in this file (")


def test_bai2_text_on_88_records_is_remittance_not_customer_reference() -> None:
    citi = parse("bai2/moj_citi_uk_gbp_fasterpayments.bai2").frame.row(0, named=True)
    assert (citi["customer_reference"], citi["transaction_id"]) == ("RP12312312312312", "RP12312312312312")
    assert citi["remittance_info"].startswith("FR:FP SIP INCOMING ENDT:20150715 TRID:RP12312312312312 PY:")
    natwest = parse("bai2/moj_natwest_gbp.bai2").frame
    assert natwest["customer_reference"].to_list() == [None] * 5
    assert (
        natwest["remittance_info"][0] == "LVP XBANKGO24007664SJ LVP INT 2 USAXBANKGO24007664SJ LVP INT 2 USARELAY TFR"
    )
    assert natwest["remittance_info"].null_count() == 0


def test_mt940_german_86_references_reach_their_columns() -> None:
    f = parse("mt940/betterplace_de_sepa_returns_sammler.sta").frame
    # never the bare keyword of the :61: ("KREF+"): the value from :86: ?20 KREF+...
    assert f.filter(pl.col("customer_reference").str.contains(r"^(?:KREF|EREF|MREF)\+$")).height == 0
    row = f.filter(pl.col("line_no") == 38).row(0, named=True)
    assert (row["customer_reference"], row["remittance_info"]) == (
        "TFNr 01005 PayId CTSc-01 EBB",
        "SEPA-UEBERW SEPA-Ueberweisungsauftrag Datei mit 0000005 Zahlungen",
    )
    # 62 entries carry EREF+ in :86:, 7 of them NONREF: 55 end-to-end ids; SVWZ+ is the remittance text
    assert f["end_to_end_id"].drop_nulls().len() == 55
    row = f.filter(pl.col("line_no") == 48).row(0, named=True)
    assert (row["end_to_end_id"], row["remittance_info"]) == (
        "EndToEndIdTFNR5200100001",
        "Keine Buchung zu: TO13 TF52001 MINT",
    )
    # Deutsche Bank's file is rejected on its balances; its entry still reads with every :86: field
    frame, _ = mt940.read(csvutil.decode((CORPUS / "mt940/jejik_deutschebank_de_ocmt_chgs.txt").read_bytes(), "utf-8"))
    entry = frame.row(0, named=True)
    assert (entry["customer_reference"], entry["end_to_end_id"], entry["mandate_id"]) == (
        "SEPA-DA20200601221740-34972000-P1",
        "A1.200080779.400143254.4961336",
        "20852HW2723821",
    )
    assert entry["remittance_info"].startswith("SONSTIGE GRUENDE ENDABRECHNUNG NR. 500106875")
