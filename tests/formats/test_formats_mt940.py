"""MT940/MT942 parser: envelopes and framing, :61: variants, structured :86:, encodings, row rejects and
the balance / :90a: control totals."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from format_helpers import ctx, rejects, write

from pipelines.core.schema import table
from pipelines.formats.base import FileRejected
from pipelines.formats.controls import checks_of
from pipelines.formats.mt940 import TABLE, parse
from pipelines.formats.registry import get, table_of

GERMAN = (
    "Preamble written by the bank's export tool\r\n"
    "\x01{1:F01DEUTDEFFAXXX0000000000}{2:I940DEUTDEFFXXXXN}{4:\r\n"
    ":20:STMT-1\r\n"
    ":25:DE89370400440532013000\r\n"
    ":28C:00042/1\r\n"
    ":60F:C261125EUR1000,00\r\n"
    ":61:2611261126CR250,NTRFNONREF//BANK-1\r\n"
    ":86:166?00GUTSCHRIFT?100399?20EREF+PAYOUT-1042?21SVWZ+Auszahlung Adye?22n Batch 1042?30INGDDEFFXXX\r\n"
    "?31DE02120300000000202051?32M\xfcller GmbH\r\n"
    ":61:261126DR12,35NRTIKREF//BANK-2\r\n"
    "/OCMT/EUR11,85//CHGS/EUR0,50/\r\n"
    ":86:109?00SEPA-LASTSCHR. RETOURE?20EREF+DD-77?34AC04\r\n"
    ":61:2611261126RD5,00NMSCNONREF\r\n"
    ":62F:C261126EUR1242,65\r\n"
    "-}\x03\r\n"
)
ING = """{1:F01INGBNL2ABXXX0000000000}
{2:I940INGBNL2AXXXN}
{4:
:20:P261126
:25:NL77INGB0574908765EUR
:28C:0000
0
:60F:C261125JPY1000
:61:2611261126D100,NTRFEREF//00000000001
005
/TRCD/00100/
:86:/EREF/E2E-9//CNTP/NL32INGB0000012345/INGBNL2A/ACME BV///REMI/STRD/CUR/RF18539007547034/
:62F:C261126JPY900
-
}
"""


def test_registry() -> None:
    assert get("mt940") is parse and get("mt942") is parse
    assert table_of("mt940") == table_of("mt942") == TABLE == "bank_statement_lines"


def test_german_statement_with_envelope_preamble_and_latin1(tmp_path: Path) -> None:
    path = write(tmp_path, GERMAN, encoding="latin-1")
    result = parse(path, ctx("mt940", encoding="latin-1"))
    f = result.frame
    assert result.rejects.height == 0 and f.schema == table(TABLE).polars_schema()
    assert f["line_no"].to_list() == [7, 10, 13]
    assert f["statement_id"].to_list() == ["STMT-1/00042/1"] * 3
    assert f["account_id"].to_list() == ["DE89370400440532013000"] * 3
    assert f["direction"].to_list() == ["credit", "debit", "credit"]
    assert f["amount_minor"].to_list() == [25000, 1235, 500]
    assert f["record_type"].to_list() == ["payment", "return", "reversal"]
    assert f["reversal"].to_list() == [False, False, True]
    assert f["end_to_end_id"].to_list() == ["PAYOUT-1042", "DD-77", None]
    # SVWZ+ is the remittance information; without it, the posting text (?00)
    assert f["remittance_info"].to_list() == ["Auszahlung Adyen Batch 1042", "SEPA-LASTSCHR. RETOURE", None]
    assert f["counterparty_name"].to_list() == ["Müller GmbH", None, None]
    assert f["counterparty_account"].to_list() == ["DE02120300000000202051", None, None]
    assert f["return_reason"].to_list() == [None, "AC04", None]
    assert f["original_amount_minor"].to_list() == [None, 1185, None]
    assert f["charges_minor"].to_list() == [None, 50, None]
    assert f["bank_reference"].to_list() == ["BANK-1", "BANK-2", None]
    assert f["bank_tx_code"].to_list() == ["NTRF", "NRTI", "NMSC"]
    assert f["booking_date"].to_list() == [dt.date(2026, 11, 26)] * 3
    assert f["currency"].to_list() == ["EUR"] * 3


def test_ing_structured_86_wrapped_values_and_zero_decimal_currency(tmp_path: Path) -> None:
    f = parse(write(tmp_path, ING), ctx("mt940")).frame
    row = f.row(0, named=True)
    assert row["statement_id"] == "P261126/00000"
    assert (row["amount_minor"], row["currency"], row["direction"]) == (100, "JPY", "debit")
    assert row["bank_reference"] == "00000000001005"
    assert row["end_to_end_id"] == "E2E-9"
    assert (row["counterparty_account"], row["counterparty_name"]) == ("NL32INGB0000012345", "ACME BV")
    assert (row["creditor_reference"], row["creditor_reference_type"]) == ("RF18539007547034", "CUR")


def test_balances_that_disagree_reject_the_file_with_the_figures(tmp_path: Path) -> None:
    text = GERMAN.replace(":62F:C261126EUR1242,65", ":62F:C261126EUR1242,60")
    with pytest.raises(FileRejected) as caught:
        parse(write(tmp_path, text, encoding="latin-1"), ctx("mt940", encoding="latin-1"))
    assert str(caught.value) == (
        "control totals do not agree: statement STMT-1/00042/1 (line 3, account DE89370400440532013000): "
        "opening balance 1000.00 + credits 255.00 - debits 12.35 = 1242.65 EUR, but the closing balance is "
        "1242.60 EUR (difference -0.05)"
    )


def test_mt942_totals_are_checked(tmp_path: Path) -> None:
    text = (
        ":20:INT-1\n:25:PL29114010810000267002001002\n:28C:1/1\n:34F:PLN0\n:13D:2611261815+0100\n"
        ":61:2611261126CN0,01NTRFNONREF//MB1\n:61:2611261126DN0,02NTRFNONREF//MB2\n"
        ":90D:1PLN0,02\n:90C:1PLN0,01\n-\n"
    )
    f = parse(write(tmp_path, text), ctx("mt942")).frame
    assert f.select("direction", "amount_minor", "currency").rows() == [("credit", 1, "PLN"), ("debit", 2, "PLN")]
    with pytest.raises(FileRejected) as caught:
        parse(write(tmp_path, text.replace(":90C:1PLN0,01", ":90C:2PLN0,05")), ctx("mt942"))
    assert str(caught.value) == (
        "control totals do not agree: statement INT-1/1/1 (line 1, account PL29114010810000267002001002): "
        ":90C: states 2 credit(s) totalling 0.05 PLN but the entries are 1 credit(s) totalling 0.01 PLN"
    )


def test_row_rejects_name_line_and_reason(tmp_path: Path) -> None:
    text = (
        ":20:S\n:25:ACC\n:28C:1\n:61:2611261126C1,00NTRFNONREF\n:61:26112X1126C1,00NTRFNONREF\n"
        ":61:2613011301C1,00NTRFNONREF\n:61:2611261126C1,001NTRFNONREF\n"
    )
    result = parse(write(tmp_path, text + ":60F:C261125EUR0,\n:62F:C261126EUR1,\n-\n"), ctx("mt940"))
    assert result.frame["line_no"].to_list() == [4]
    # the statement's sum is unknown: its balance check is reported as skipped, not as agreeing
    assert [(c.name, c.status, c.detail) for c in checks_of(result) or []] == [
        ("balance", "skipped", "the entry on line 5 cannot be read (it is rejected as a row), so the sum is unknown")
    ]
    assert rejects(result) == [
        (
            5,
            ":61:",
            "':61:26112X1126C1,00NTRFNONREF' is not value date + [entry date] + D/C mark + amount + type + reference",
        ),
        (6, "value date", "'261301' is not a date (YYMMDD)"),
        (7, "amount", "'1,001' has more decimals than the currency allows"),
    ]


def test_statement_without_currency_rejects_its_rows(tmp_path: Path) -> None:
    result = parse(write(tmp_path, ":20:S\n:25:ACC\n:61:2611261126C1,00NTRFNONREF\n-\n"), ctx("mt940"))
    assert rejects(result) == [
        (3, "currency", "statement has no currency (no :60a:, :62a:, :90a: or :34F: balance)"),
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "file is empty"),
        (b"hello\nworld\n", "no :20: (transaction reference) tag: not an MT940/MT942 message"),
        (GERMAN.encode("latin-1"), "not valid UTF-8: byte 0xfc on line 9"),
        (
            b":20:S\n:25:A\n:60F:C261125EUR0,\n:61:2611261126C1,00NTRFNONREF\n",
            "control totals do not agree: statement S (line 1, account A): no :62F:/:62M: closing balance "
            "(truncated statement?)",
        ),
    ],
)
def test_unreadable_files_are_rejected_precisely(tmp_path: Path, data: bytes, reason: str) -> None:
    with pytest.raises(FileRejected) as caught:
        parse(write(tmp_path, data), ctx("mt940"))
    assert str(caught.value) == reason


# A German SEPA statement whose :86: carries the references in ?20-?29 with SEPA keywords, cut anywhere
# (even inside a keyword: "MR" + "EF+"), and the :61: customer reference as the bare keyword "KREF+".
SEPA = (
    ":20:STMT-2\n:25:20070000/0123456601\n:28C:00143/1\n:60F:C261125EUR100,00\n"
    ":61:2611261126DR12,35NRTIKREF+//2016021783252833\n"
    ":86:109?00SEPA-LASTSCHR. RETOURE CORE?109075/629?20EREF+A1.200080779.\n"
    "400143254?21.4961336 KREF+SEPA-DA202006?2201221740-34972000-P1 MR\n"
    "EF+2?230852HW2723821 CRED+DE41EON0?240000129793 OAMT+11,85 COAM+0,50 SVWZ+?\n"
    "25SONSTIGE GRUENDE ENDABRECHN?26UNG NR. 500106875?30CSDBDE71XXX?31DE50712345600\n"
    "200691329?32TESTER?33EL\n"
    ":61:2611261126CR5,00NTRFNONREF\n"
    ":86:191?00SEPA-UEBERW?100399?20KREF+TFNr 01009 MSGID CTSc-?2101 EBB?2\n"
    "2MTLG:SEPA-Ueberweisungsauft?23rag Datei mit 0000005 Zahlu?24ngen\n"
    ":61:2611261126CR1,00NTRFMY-REF\n"
    ":86:166?00GUTSCHRIFT?20EREF+E2E-3?21BREF+BANK-3?22SVWZ+Rechnung 77\n"
    ":62F:C261126EUR93,65\n-\n"
)


def test_german_86_sepa_keywords_fill_their_columns(tmp_path: Path) -> None:
    f = parse(write(tmp_path, SEPA), ctx("mt940")).frame
    rows = f.select("customer_reference", "end_to_end_id", "mandate_id", "remittance_info", "bank_reference").rows()
    assert rows == [
        # KREF+ fills customer_reference (never the bare keyword of the :61:), EREF+ end_to_end_id, MREF+
        # mandate_id, SVWZ+ remittance_info
        (
            "SEPA-DA20200601221740-34972000-P1",
            "A1.200080779.400143254.4961336",
            "20852HW2723821",
            "SONSTIGE GRUENDE ENDABRECHNUNG NR. 500106875",
            "2016021783252833",
        ),
        # no SVWZ+: the posting text and the message (MTLG:) are the remittance information
        (
            "TFNr 01009 MSGID CTSc-01 EBB",
            None,
            None,
            "SEPA-UEBERW SEPA-Ueberweisungsauftrag Datei mit 0000005 Zahlungen",
            None,
        ),
        # a :61: customer reference stays; BREF+ fills a bank reference the :61: does not give
        ("MY-REF", "E2E-3", None, "Rechnung 77", "BANK-3"),
    ]
    # OAMT+ and COAM+ (original amount and compensation of a return), where :61: has no /OCMT/ or /CHGS/
    assert f.select("original_amount_minor", "original_currency", "charges_minor", "charges_currency").row(0) == (
        1185,
        "EUR",
        50,
        "EUR",
    )


def test_ocmt_and_chgs_win_over_oamt_and_coam(tmp_path: Path) -> None:
    text = SEPA.replace("KREF+//2016021783252833\n", "KREF+//2016021783252833\n/OCMT/EUR11,80//CHGS/EUR0,55/\n")
    f = parse(write(tmp_path, text), ctx("mt940")).frame
    assert f.select("original_amount_minor", "charges_minor").row(0) == (1180, 55)


def test_checks_are_reported_passed_or_skipped(tmp_path: Path) -> None:
    result = parse(write(tmp_path, SEPA), ctx("mt940"))
    assert [(c.name, c.status, c.detail) for c in checks_of(result) or []] == [
        ("balance", "passed", ":60F: 100.00 + credits 6.00 - debits 12.35 = :62F: 93.65 EUR")
    ]
    mt942 = (
        ":20:INT-1\n:25:PL29114010810000267002001002\n:28C:1/1\n:34F:PLN0\n"
        ":61:2611261126CN0,01NTRFNONREF//MB1\n:90D:0PLN0,00\n:90C:1PLN0,01\n-\n"
    )
    checks = checks_of(parse(write(tmp_path, mt942), ctx("mt942"))) or []
    assert [(c.name, c.status) for c in checks] == [(":90D: total", "passed"), (":90C: total", "passed")]
    bare = ":20:S\n:25:A\n:28C:1\n:34F:EUR\n:61:2611261126C1,00NTRFNONREF\n-\n"
    checks = checks_of(parse(write(tmp_path, bare), ctx("mt940"))) or []
    assert [(c.status, c.detail) for c in checks] == [
        ("skipped", "the statement has no :60a:/:62a: balances nor :90D:/:90C: totals")
    ]


def test_a_truncated_statement_is_rejected_even_when_an_entry_is_unreadable(tmp_path: Path) -> None:
    text = ":20:S\n:25:A\n:28C:1\n:60F:C261125EUR0,\n:61:26112X1126C1,00NTRFNONREF\n-\n"
    with pytest.raises(FileRejected, match=r"no :62F:/:62M: closing balance \(truncated statement\?\)"):
        parse(write(tmp_path, text), ctx("mt940"))
