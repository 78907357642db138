"""camt.053 statement parser (the shared ``camt`` reader): canonical values, control totals, row rejects,
booking-date fallback, batch breakdowns, XML safety, real bank files."""

from __future__ import annotations

import codecs
import datetime as dt
import os
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from format_helpers import rejects
from rich.console import Console

from pipelines.cli.inspect import inspect_file, render
from pipelines.core.channels import Channel
from pipelines.core.schema import table
from pipelines.formats import camt053
from pipelines.formats.base import REJECT_SCHEMA, FileRejected, ParseContext
from pipelines.formats.camt053 import TABLE, parse
from pipelines.formats.controls import checks_of
from pipelines.formats.registry import get, table_of

CORPUS = Path(os.environ.get("RECON_CORPUS", "/work/shared/corpus")) / "camt053"
NS08 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
NS02 = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"


def ctx() -> ParseContext:
    channel = Channel(id="bank_eu", kind="bank", location=".", format="camt053", timezone="Europe/Amsterdam")
    return ParseContext(channel=channel, file_id="b" * 64, file_name="camt053_2026-11-26.xml")


def balance(code: str, amount: str, ccy: str, indicator: str | None = "CRDT") -> str:
    cdi = f"<CdtDbtInd>{indicator}</CdtDbtInd>" if indicator else ""
    return (
        f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>\n"
        f'<Amt Ccy="{ccy}">{amount}</Amt>{cdi}<Dt><Dt>2026-11-26</Dt></Dt></Bal>\n'
    )


def statement(stmt_id: str, account: str, entries: list[str], balances: str = "") -> str:
    return f"<Stmt>\n<Id>{stmt_id}</Id>\n<Acct><Id>{account}</Id></Acct>\n{balances}{''.join(entries)}</Stmt>\n"


def document(statements: list[str], ns: str = NS08) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{ns}">\n<BkToCstmrStmt>\n'
        "<GrpHdr><MsgId>M1</MsgId></GrpHdr>\n" + "".join(statements) + "</BkToCstmrStmt>\n</Document>\n"
    )


def entry(
    amount: str = "10.00",
    ccy: str | None = "EUR",
    cdi: str = "CRDT",
    booking: str | None = "<Dt>2026-11-26</Dt>",
    extra: str = "",
) -> str:
    ccy_attr = f' Ccy="{ccy}"' if ccy else ""
    bookg = f"<BookgDt>{booking}</BookgDt>" if booking else ""
    return (
        f"<Ntry>\n<Amt{ccy_attr}>{amount}</Amt>\n<CdtDbtInd>{cdi}</CdtDbtInd>\n<Sts><Cd>BOOK</Cd></Sts>\n"
        f"{bookg}\n{extra}</Ntry>\n"
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "camt053.xml"
    path.write_text(text, encoding="utf-8")
    return path


def entry_lines(text: str) -> list[int]:
    return [i + 1 for i, line in enumerate(text.splitlines()) if line.lstrip().startswith("<Ntry>")]


PAYOUT = """<ValDt><Dt>2026-11-27</Dt></ValDt>
<AcctSvcrRef>AS1</AcctSvcrRef><NtryRef>NR1</NtryRef>
<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
<NtryDtls><TxDtls>
<Refs><EndToEndId>PayPlatformEU-1042</EndToEndId></Refs>
<RltdPties><Dbtr><Pty><Nm>Adyen N.V.</Nm></Pty></Dbtr><Cdtr><Pty><Nm>PayPlatform Europe B.V.</Nm></Pty></Cdtr>
</RltdPties>
<RmtInf><Ustrd>ADYEN PAYOUT BATCH 1042</Ustrd><Ustrd>PayPlatformEU</Ustrd></RmtInf>
</TxDtls></NtryDtls>
"""
FEE = """<AcctSvcrRef>AS2</AcctSvcrRef>
<BkTxCd><Prtry><Cd>FEE</Cd><Issr>BANK</Issr></Prtry></BkTxCd>
<NtryDtls><TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>
<RltdPties><Dbtr><Pty><Nm>PayPlatform Europe B.V.</Nm></Pty></Dbtr><Cdtr><Pty><Nm>ING fees</Nm></Pty></Cdtr>
</RltdPties></TxDtls></NtryDtls>
"""


def test_registry() -> None:
    assert get("camt053") is parse
    assert table_of("camt053") == TABLE == "bank_statement_lines"


def test_entries_map_to_exact_canonical_values(tmp_path: Path) -> None:
    text = document(
        [
            statement(
                "20261126-EUR-1",
                "<IBAN>NL33INGB6693512750</IBAN>",
                [
                    entry("1234.56", extra=PAYOUT),
                    entry("50.00", cdi="DBIT", booking="<DtTm>2026-11-26T23:30:00+01:00</DtTm>", extra=FEE),
                ],
                balance("OPBD", "1000.00", "EUR") + balance("CLBD", "2184.56", "EUR"),
            ),
            statement(
                "20261126-CLP-1",
                "<IBAN>CL0212345678</IBAN>",
                [entry("1500", "CLP", extra="<NtryRef>NR3</NtryRef>")],
                balance("PRCD", "250", "CLP", "DBIT") + balance("CLBD", "1250", "CLP"),
            ),
            statement(
                "20261126-BHD-1",
                "<Othr><Id>BH-ACCT-1</Id></Othr>",
                [entry("1.234", "BHD", cdi="DBIT")],
                balance("OPBD", "10.000", "BHD") + balance("CLBD", "8.766", "BHD"),
            ),
        ]
    )
    result = parse(write(tmp_path, text), ctx())
    assert result.rows_in == 4 and result.rejects.height == 0
    f = result.frame
    assert f.schema == table(TABLE).polars_schema()
    assert f["line_no"].to_list() == entry_lines(text) == [12, 27, 46, 60]
    assert f["statement_id"].to_list() == ["20261126-EUR-1"] * 2 + ["20261126-CLP-1", "20261126-BHD-1"]
    assert f["account_id"].to_list() == ["NL33INGB6693512750"] * 2 + ["CL0212345678", "BH-ACCT-1"]
    assert f["amount_minor"].to_list() == [123456, 5000, 1500, 1234]
    assert f["currency"].to_list() == ["EUR", "EUR", "CLP", "BHD"]
    assert f["direction"].to_list() == ["credit", "debit", "credit", "debit"]
    assert f["entry_ref"].to_list() == ["NR1", "AS2", "NR3", None]
    assert f["booking_date"].to_list() == [dt.date(2026, 11, 26)] * 4
    assert f["business_date"].to_list() == f["booking_date"].to_list()
    assert f["value_date"].to_list() == [dt.date(2026, 11, 27), None, None, None]
    assert f["end_to_end_id"].to_list() == ["PayPlatformEU-1042", None, None, None]
    assert f["remittance_info"].to_list() == ["ADYEN PAYOUT BATCH 1042 PayPlatformEU", None, None, None]
    # The counterparty is the debtor of a credit and the creditor of a debit.
    assert f["counterparty_name"].to_list() == ["Adyen N.V.", "ING fees", None, None]
    assert f["bank_tx_code"].to_list() == ["PMNT/RCDT/ESCT", "FEE", None, None]
    assert set(f["channel"]) == {"bank_eu"}


def test_version_02_with_namespace_prefix(tmp_path: Path) -> None:
    text = f"""<c:Document xmlns:c="{NS02}"><c:BkToCstmrStmt><c:Stmt><c:Id>S-02</c:Id>
<c:Acct><c:Id><c:IBAN>BE86463768548050</c:IBAN></c:Id></c:Acct>
<c:Ntry><c:Amt Ccy="EUR">5.00</c:Amt><c:CdtDbtInd>CRDT</c:CdtDbtInd><c:Sts>BOOK</c:Sts>
<c:BookgDt><c:Dt>2026-11-25</c:Dt></c:BookgDt><c:ValDt><c:Dt>2026-11-25</c:Dt></c:ValDt>
<c:NtryDtls><c:TxDtls><c:Refs><c:EndToEndId>po_1MQOoCYvxFWK0eD0</c:EndToEndId></c:Refs>
<c:RltdPties><c:Dbtr><c:Nm>Stripe Payments Europe Ltd</c:Nm></c:Dbtr></c:RltdPties>
<c:RmtInf><c:Ustrd>STRIPE PAYOUT po_1MQOoCYvxFWK0eD0</c:Ustrd></c:RmtInf></c:TxDtls></c:NtryDtls></c:Ntry>
<c:Ntry
  ><c:Amt Ccy="EUR">1.00</c:Amt><c:CdtDbtInd>DBIT</c:CdtDbtInd><c:BookgDt><c:Dt>2026-11-25</c:Dt></c:BookgDt>
<c:NtryDtls><c:TxDtls><c:RltdPties><c:Cdtr><c:Nm>Bank</c:Nm></c:Cdtr></c:RltdPties></c:TxDtls></c:NtryDtls>
</c:Ntry></c:Stmt></c:BkToCstmrStmt></c:Document>"""
    result = parse(write(tmp_path, text), ctx())
    f = result.frame
    assert f["line_no"].to_list() == [3, 8]
    assert f["end_to_end_id"].to_list() == ["po_1MQOoCYvxFWK0eD0", None]
    assert f["remittance_info"].to_list() == ["STRIPE PAYOUT po_1MQOoCYvxFWK0eD0", None]
    assert f["counterparty_name"].to_list() == ["Stripe Payments Europe Ltd", "Bank"]
    assert f["amount_minor"].to_list() == [500, 100]
    assert f["account_id"].to_list() == ["BE86463768548050"] * 2
    assert f["business_date"].to_list() == [dt.date(2026, 11, 25)] * 2


def test_row_rejects_name_line_field_and_reason(tmp_path: Path) -> None:
    entries = [
        entry("10.00"),
        entry("12.3x"),
        entry("10.123"),
        entry("1500.5", "CLP"),
        entry("1.2345", "BHD"),
        entry("10.00", "XYZ"),
        entry("10.00", booking=None),  # no BookgDt, ValDt nor statement date to fall back on
        entry("10.00", cdi="CRDX"),
        entry(""),
        entry("10.00", booking="<Dt>2026-13-45</Dt>"),
        entry("-5.00"),
        entry("10.00", extra="<ValDt><Dt>tomorrow</Dt></ValDt>"),
        entry("10.00", None),
    ]
    text = document([statement("S-1", "<IBAN>NL33INGB6693512750</IBAN>", entries)])
    result = parse(write(tmp_path, text), ctx())
    lines = entry_lines(text)
    assert result.rows_in == 13
    assert result.frame["line_no"].to_list() == [lines[0]]
    assert rejects(result) == [
        (lines[1], "Amt", "'12.3x' is not a decimal amount"),
        (lines[2], "Amt", "'10.123' has more decimals than the currency allows"),
        (lines[3], "Amt", "'1500.5' has more decimals than the currency allows"),
        (lines[4], "Amt", "'1.2345' has more decimals than the currency allows"),
        (lines[5], "Amt/@Ccy", "unknown ISO 4217 currency 'XYZ'"),
        (lines[6], "BookgDt", "booking date (BookgDt) is missing"),
        (lines[7], "CdtDbtInd", "'CRDX' is neither CRDT nor DBIT"),
        (lines[8], "Amt", "amount is missing"),
        (lines[9], "BookgDt", "'2026-13-45' is not a date"),
        (lines[10], "Amt", "'-5.00' is negative; the direction is given by CdtDbtInd"),
        (lines[11], "ValDt", "'tomorrow' is not a date"),
        (lines[12], "Amt/@Ccy", "currency is missing"),
    ]
    assert result.rejects.schema == REJECT_SCHEMA
    bad = result.rejects.row(0, named=True)
    assert bad["raw"].startswith('<Ntry>\n<Amt Ccy="EUR">12.3x</Amt>') and bad["raw"].endswith("</Ntry>")
    no_booking = result.rejects.filter(pl.col("field") == "BookgDt").row(0, named=True)
    assert (no_booking["amount_minor"], no_booking["currency"]) == (1000, "EUR")


def test_signed_or_non_ascii_amounts_are_rejected_not_read_as_credits(tmp_path: Path) -> None:
    """ISO 20022 amounts are unsigned (the direction is CdtDbtInd) and written with ASCII digits."""
    amounts = ["14755.25", "+-14755.25", "-14755.25", "+14755.25", "(14755.25)", "\u0661\u0664755.25"]
    text = document([statement("S-1", "<IBAN>NL33INGB6693512750</IBAN>", [entry(a) for a in amounts])])
    lines = entry_lines(text)
    result = parse(write(tmp_path, text), ctx())
    assert result.rows_in == 6
    assert result.frame["line_no"].to_list() == [lines[0]]
    assert result.frame["amount_minor"].to_list() == [1475525]
    assert result.frame["direction"].to_list() == ["credit"]
    assert rejects(result) == [
        (lines[1], "Amt", "'+-14755.25' has more than one sign"),
        (lines[2], "Amt", "'-14755.25' is negative; the direction is given by CdtDbtInd"),
        (lines[3], "Amt", "'+14755.25' has a sign; the direction is given by CdtDbtInd"),
        (
            lines[4],
            "Amt",
            "'(14755.25)' is in parentheses, but this amount does not accept accounting negatives",
        ),
        (lines[5], "Amt", "'\u0661\u0664755.25' has non-ASCII digits (only 0-9 are accepted)"),
    ]
    assert result.rejects["amount_minor"].to_list() == [None] * 5


def test_statement_without_account_rejects_its_entries(tmp_path: Path) -> None:
    text = document([statement("S-1", "<Prxy><Id>x</Id></Prxy>", [entry()])])
    result = parse(write(tmp_path, text), ctx())
    assert rejects(result) == [
        (entry_lines(text)[0], "Acct/Id", "statement has no account id (Acct/Id/IBAN or Acct/Id/Othr/Id)")
    ]


def test_balances_that_do_not_add_up_reject_the_file(tmp_path: Path) -> None:
    text = document(
        [
            statement(
                "S-OK",
                "<IBAN>NL33INGB6693512750</IBAN>",
                [entry("5.00")],
                balance("OPBD", "1.00", "EUR", "DBIT") + balance("CLBD", "4.00", "EUR"),
            ),
            statement(
                "S-BAD",
                "<IBAN>NL33INGB6693512750</IBAN>",
                [entry("100.00"), entry("30.50", cdi="DBIT")],
                balance("OPBD", "1000.00", "EUR") + balance("CLBD", "1079.00", "EUR"),
            ),
        ]
    )
    with pytest.raises(FileRejected) as err:
        parse(write(tmp_path, text), ctx())
    assert str(err.value) == (
        "statement S-BAD (account NL33INGB6693512750): opening balance 1000.00 + credits 100.00 - debits 30.50 "
        "= 1069.50 EUR, but the closing balance is 1079.00 EUR (difference 9.50)"
    )


def test_balance_checks_are_reported_performed_or_skipped_with_why(tmp_path: Path) -> None:
    pending = entry("999.00").replace("<Sts><Cd>BOOK</Cd></Sts>", "<Sts><Cd>PDNG</Cd></Sts>")
    text = document(
        [
            # Balances without CdtDbtInd are credits (ISO 20022 practice): the check runs.
            statement(
                "S-1",
                "<IBAN>NL33INGB6693512750</IBAN>",
                [entry("5.00")],
                balance("OPBD", "1.00", "EUR", None) + balance("CLBD", "6.00", "EUR", None),
            ),
            # Only the opening balance: nothing to compare, and it says so.
            statement("S-2", "<IBAN>NL33INGB6693512750</IBAN>", [entry("5.00")], balance("OPBD", "1.00", "EUR")),
            # A pending entry is not part of the booked closing balance.
            statement(
                "S-3",
                "<IBAN>NL33INGB6693512750</IBAN>",
                [entry("5.00"), pending],
                balance("OPBD", "1.00", "EUR") + balance("CLBD", "6.00", "EUR"),
            ),
            # A negative amount is rejected as a row: the statement's sum is then unknown, not a file reject.
            statement(
                "S-4",
                "<IBAN>NL33INGB6693512750</IBAN>",
                [entry("5.00"), entry("-5.00")],
                balance("OPBD", "1.00", "EUR") + balance("CLBD", "6.00", "EUR"),
            ),
        ]
    )
    result = parse(write(tmp_path, text), ctx())
    assert result.rows_in == 6 and result.frame.height == 5
    assert [(field, reason) for _, field, reason in rejects(result)] == [
        ("Amt", "'-5.00' is negative; the direction is given by CdtDbtInd")
    ]
    negative_line = entry_lines(text)[-1]
    assert [(c.scope, c.status, c.detail) for c in checks_of(result) or []] == [
        (
            "statement S-1 (account NL33INGB6693512750)",
            "passed",
            "OPBD 1.00 + credits 5.00 - debits 0.00 = CLBD 6.00 EUR (a balance without CdtDbtInd read as a credit)",
        ),
        (
            "statement S-2 (account NL33INGB6693512750)",
            "skipped",
            "the statement gives no closing (CLBD or ITBD) balance",
        ),
        (
            "statement S-3 (account NL33INGB6693512750)",
            "passed",
            "OPBD 1.00 + credits 5.00 - debits 0.00 = CLBD 6.00 EUR",
        ),
        (
            "statement S-4 (account NL33INGB6693512750)",
            "skipped",
            f"the booked entry on line {negative_line} has no readable amount, currency or direction (it is rejected): "
            "no sum",
        ),
    ]


@pytest.mark.parametrize(
    ("balances", "message"),
    [
        # tampered closing balance of a statement whose balances carry no CdtDbtInd
        (
            balance("OPBD", "1.00", "EUR", None) + balance("CLBD", "999.00", "EUR", None),
            "statement S-1 (account NL33INGB6693512750): opening balance 1.00 + credits 5.00 - debits 0.00 = "
            "6.00 EUR, but the closing balance is 999.00 EUR (difference 993.00)",
        ),
        # without CdtDbtInd a leading '-' makes a debit balance
        (
            balance("OPBD", "-1.00", "EUR", None) + balance("CLBD", "6.00", "EUR", None),
            "statement S-1 (account NL33INGB6693512750): opening balance -1.00 + credits 5.00 - debits 0.00 = "
            "4.00 EUR, but the closing balance is 6.00 EUR (difference 2.00)",
        ),
        # opening and closing balances in different currencies (as MT940 does)
        (
            balance("OPBD", "1.00", "EUR") + balance("CLBD", "6.00", "SEK", "DBIT"),
            "statement S-1 (account NL33INGB6693512750): opening balance in EUR but closing balance in SEK",
        ),
        (
            balance("OPBD", "1.00", "EUR", "XXXX") + balance("CLBD", "6.00", "EUR"),
            "statement S-1 (account NL33INGB6693512750): OPBD balance CdtDbtInd 'XXXX' is neither CRDT nor DBIT",
        ),
        (
            balance("OPBD", "1.001", "EUR") + balance("CLBD", "6.00", "EUR"),
            "statement S-1 (account NL33INGB6693512750): OPBD balance amount '1.001' EUR is not valid",
        ),
    ],
)
def test_balances_that_cannot_agree_reject_the_file(tmp_path: Path, balances: str, message: str) -> None:
    text = document([statement("S-1", "<IBAN>NL33INGB6693512750</IBAN>", [entry("5.00")], balances)])
    with pytest.raises(FileRejected) as caught:
        parse(write(tmp_path, text), ctx())
    assert str(caught.value).startswith(message)


def test_multi_currency_statement_is_checked_per_currency(tmp_path: Path) -> None:
    balances = (
        balance("OPBD", "1.00", "EUR")
        + balance("OPBD", "100", "JPY")
        + balance("CLBD", "6.00", "EUR")
        + balance("CLBD", "50", "JPY")
    )
    entries = [entry("5.00"), entry("50", "JPY", cdi="DBIT"), entry("3.00", "USD")]
    text = document([statement("S-1", "<IBAN>NL33INGB6693512750</IBAN>", entries, balances)])
    result = parse(write(tmp_path, text), ctx())
    assert [(c.status, c.detail) for c in checks_of(result) or []] == [
        ("passed", "OPBD 1.00 + credits 5.00 - debits 0.00 = CLBD 6.00 EUR"),
        ("passed", "OPBD 100 + credits 0 - debits 50 = CLBD 50 JPY"),
        ("skipped", "1 booked entry in USD, a currency in which the statement gives no balance"),
    ]
    tampered = text.replace('<Amt Ccy="JPY">50</Amt><CdtDbtInd>CRDT', '<Amt Ccy="JPY">60</Amt><CdtDbtInd>CRDT')
    with pytest.raises(FileRejected, match="= 50 JPY, but the closing balance is 60 JPY"):
        parse(write(tmp_path, tampered), ctx())


def test_statement_less_message_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileRejected) as caught:
        parse(write(tmp_path, document([])), ctx())
    assert str(caught.value) == "camt.053 message has no <Stmt> element: nothing is reported in it"


def test_entry_without_booking_date_takes_its_value_date_else_the_statement_period_end(tmp_path: Path) -> None:
    # The shared camt reader dates an entry without BookgDt (the old camt053 parser rejected it); with no
    # date at all the row is still rejected (see test_row_rejects_name_line_field_and_reason).
    period = "<FrToDt><FrDtTm>2026-11-25T00:00:00</FrDtTm><ToDtTm>2026-11-25T23:59:59</ToDtTm></FrToDt>\n"
    text = document(
        [
            statement(
                "S-1",
                "<IBAN>NL33INGB6693512750</IBAN>",
                [
                    entry("1.00", booking=None, extra="<ValDt><Dt>2026-11-24</Dt></ValDt>"),
                    entry("2.00", booking=None),
                    entry("3.00"),
                ],
            ).replace("<Acct>", period + "<Acct>")
        ]
    )
    result = parse(write(tmp_path, text), ctx())
    assert result.rejects.height == 0
    assert result.frame["booking_date"].to_list() == [
        dt.date(2026, 11, 24),
        dt.date(2026, 11, 25),
        dt.date(2026, 11, 26),
    ]
    assert result.frame["business_date"].to_list() == result.frame["booking_date"].to_list()


def test_batch_entries_one_row_each_unless_broken_down(tmp_path: Path) -> None:
    """A batch entry with one TxDtls (the sample day's payouts) stays one row with its end-to-end id; a batch
    broken down into several TxDtls with amounts gives one row per transaction (record_level), each with its
    own end-to-end id and amount, the entry's amount in entry_amount_minor."""
    single = entry("20.00", extra=PAYOUT.replace("<TxDtls>", '<TxDtls><Amt Ccy="EUR">20.00</Amt>'))
    txs = "".join(
        f'<TxDtls><Refs><EndToEndId>E2E-{i}</EndToEndId></Refs><Amt Ccy="EUR">{amt}</Amt></TxDtls>\n'
        for i, amt in ((1, "7.00"), (2, "3.00"))
    )
    batch = entry(
        "10.00", extra=f"<NtryRef>B1</NtryRef><NtryDtls><Btch><NbOfTxs>2</NbOfTxs></Btch>\n{txs}</NtryDtls>\n"
    )
    text = document(
        [
            statement(
                "S-1",
                "<IBAN>NL33INGB6693512750</IBAN>",
                [single, batch],
                balance("OPBD", "0.00", "EUR") + balance("CLBD", "30.00", "EUR"),
            )
        ]
    )
    result = parse(write(tmp_path, text), ctx())
    f = result.frame
    assert result.rows_in == 3 and result.rejects.height == 0
    tx_lines = [i + 1 for i, line in enumerate(text.splitlines()) if line.startswith("<TxDtls><Refs>")]
    assert f["line_no"].to_list() == [entry_lines(text)[0], *tx_lines]
    assert f["record_level"].to_list() == ["entry", "transaction", "transaction"]
    assert f["end_to_end_id"].to_list() == ["PayPlatformEU-1042", "E2E-1", "E2E-2"]
    assert f["amount_minor"].to_list() == [2000, 700, 300]
    assert f["entry_amount_minor"].to_list() == [None, 1000, 1000]
    assert f["entry_ref"].to_list() == ["NR1", "B1", "B1"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n'
            '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n'
            '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">\n]>\n'
            f'<Document xmlns="{NS08}"><BkToCstmrStmt><GrpHdr><MsgId>&lol3;</MsgId></GrpHdr>'
            "</BkToCstmrStmt></Document>",
            "XML refused: DTD, entity declarations and external references are not allowed",
        ),
        (
            '<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
            f'<Document xmlns="{NS08}"><BkToCstmrStmt><GrpHdr><MsgId>&x;</MsgId></GrpHdr>'
            "</BkToCstmrStmt></Document>",
            "XML refused",
        ),
        (f'<Document xmlns="{NS08}"><BkToCstmrStmt><Stmt></BkToCstmrStmt></Document>', "not well-formed XML"),
        (
            '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"><BkToCstmrDbtCdtNtfctn>'
            "<Ntfctn><Ntry><Amt Ccy='EUR'>1.00</Amt></Ntry></Ntfctn></BkToCstmrDbtCdtNtfctn></Document>",
            # The shared camt reader also names the message the file is.
            "not a camt.053 message: no BkToCstmrStmt element (BkToCstmrDbtCdtNtfctn is camt.054)",
        ),
        ("", "file is empty"),
        (
            document([statement("S", "<IBAN>X</IBAN>", [entry()])]).replace("<GrpHdr>", "<!-- <Ntry> --><GrpHdr>"),
            "could not locate the <Ntry> start tags",
        ),
    ],
)
def test_file_rejects(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(FileRejected, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        parse(write(tmp_path, text), ctx())


def test_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(camt053, "MAX_BYTES", 100)
    with pytest.raises(FileRejected, match="above the 100 byte limit"):
        parse(write(tmp_path, document([])), ctx())


corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="sample corpus not available")


@corpus
@pytest.mark.parametrize(
    ("name", "entries", "rows", "currency", "total_credits", "total_debits"),
    [
        # 13 entries; PostFinance charges and reversed direct debits; balances add up. Four batch entries carry a
        # breakdown (10, 8, 3 and 2 transactions): the shared camt reader gives one row per transaction there
        # (9 entry rows + 23 transaction rows; the sums per direction are the entries').
        ("dvbern_postfinance_ch_camt053_v04_charges_returns.xml", 13, 32, "CHF", 181056, 127295),
        # 2 entries, CHF account; balances add up (350777.85 - 579.21 + 134.00 = 350332.64).
        ("oca_camt053_v04_multi_currency.xml", 2, 2, "CHF", 13400, 57921),
        # 3 entries netting to zero against opening and closing balances of 0.
        ("subite_be_camt053_v02_isct.xml", 3, 3, "EUR", 78990440, 78990440),
    ],
)
def test_real_statements(
    name: str, entries: int, rows: int, currency: str, total_credits: int, total_debits: int
) -> None:
    result = parse(CORPUS / name, ctx())
    f = result.frame
    assert result.rows_in == rows == f.height and result.rejects.height == 0
    assert set(f["currency"]) == {currency}
    assert f.filter(pl.col("direction") == "credit")["amount_minor"].sum() == total_credits
    assert f.filter(pl.col("direction") == "debit")["amount_minor"].sum() == total_debits
    # An entry's row stands at its <Ntry> start tag, a transaction's at its <TxDtls> start tag.
    lines = (CORPUS / name).read_text(encoding="utf-8").splitlines()
    starts = {"entry": "<Ntry>", "transaction": "<TxDtls>"}
    assert sum(line.lstrip().startswith("<Ntry>") for line in lines) == entries
    assert all(
        lines[line_no - 1].lstrip().startswith(starts[level])
        for line_no, level in f.select("line_no", "record_level").iter_rows()
    )
    assert f["line_no"].is_sorted()


@corpus
def test_real_statement_dvbern_values() -> None:
    f = parse(CORPUS / "dvbern_postfinance_ch_camt053_v04_charges_returns.xml", ctx()).frame
    first = f.row(0, named=True)
    assert (first["line_no"], first["direction"], first["amount_minor"], first["bank_tx_code"]) == (
        53,
        "debit",
        2400,
        "ACMT/ADOP/CHRG",
    )
    assert first["account_id"] == "CH0309000000250090342" and first["statement_id"] == "20160430375204000008574"
    credits = int(f.filter(pl.col("direction") == "credit")["amount_minor"].sum())
    debits = int(f.filter(pl.col("direction") == "debit")["amount_minor"].sum())
    assert 32215216 + credits - debits == 32268977  # OPBD 322152.16, CLBD 322689.77


@corpus
def test_real_statement_whose_balances_do_not_add_up_is_rejected() -> None:
    # OCA's Dutch test bank file: its 3 entries (754.25 and 664.05 debits, 1405.31 credit) do not lead from the
    # opening balance to the closing balance. The spec makes this a file reject with the figures.
    with pytest.raises(FileRejected) as err:
        parse(CORPUS / "oca_testbank_nl_camt053_v02_reversal_batch.xml", ctx())
    assert str(err.value) == (
        "statement 1234Test/1 (account NL77ABNA0574908765): opening balance 15568.27 + credits 1405.31 - debits "
        "1418.30 = 15555.28 EUR, but the closing balance is 15121.12 EUR (difference -434.16)"
    )


@corpus
def test_real_statement_without_booking_dates_and_balance_indicators() -> None:
    # Subite's Lithuanian settlement statement: 2 statements, 15 entries (all in the first) on one physical
    # line, with no BookgDt, ValDt or statement period. The shared camt reader dates them by the message's
    # creation date (GrpHdr/CreDtTm 2024-04-11); the old camt053 parser rejected every entry on BookgDt.
    # Its balances carry no CdtDbtInd: they are credits, and both statements' balances are checked.
    result = parse(CORPUS / "subite_lt_settlement_camt053_v08_2024-04-11.xml", ctx())
    assert [(c.scope, c.status) for c in checks_of(result) or []] == [
        ("statement MSG25684197-NAEUXI (account LT625883379695428516)", "passed"),
        ("statement MSG32269800-GZNPDA (account LT414319056143772570)", "passed"),
    ]
    f = result.frame
    assert result.rows_in == 15 == f.height and result.rejects.height == 0
    assert set(f["line_no"]) == {2} and set(f["booking_date"]) == {dt.date(2024, 4, 11)}
    assert f["amount_minor"].to_list()[:3] == [38864500, 4684000, 4684000]
    assert set(f["currency"]) == {"EUR"}


@corpus
def test_real_statement_with_a_tampered_closing_balance_is_rejected(tmp_path: Path) -> None:
    # Subite's statement again, its balances without CdtDbtInd: one cent more on the closing balance rejects it.
    text = (CORPUS / "subite_lt_settlement_camt053_v08_2024-04-11.xml").read_text(encoding="utf-8")
    closing = '<Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">17194650.59'
    assert text.count(closing) == 1
    with pytest.raises(FileRejected) as caught:
        parse(write(tmp_path, text.replace(closing, closing[:-2] + "60")), ctx())
    assert str(caught.value) == (
        "statement MSG25684197-NAEUXI (account LT625883379695428516): opening balance 21463830.35 + credits "
        "940505.25 - debits 5209685.01 = 17194650.59 EUR, but the closing balance is 17194650.60 EUR (difference 0.01)"
    )


@corpus
def test_real_statement_with_balances_in_several_currencies_is_rejected() -> None:
    # genkgo's parser-test file reports the opening balance in EUR and the closing one in SEK (and available
    # balances in CHF and JPY) for one EUR entry: nothing can be checked, so the file is refused as MT940 does.
    with pytest.raises(FileRejected) as caught:
        parse(CORPUS / "genkgo_camt053_v08.xml", ctx())
    assert str(caught.value) == (
        "statement 253EURNL26VAYB8060476890 (account NL26VAYB8060476890): opening balance in EUR but closing "
        "balance in SEK"
    )


@corpus
def test_real_statement_entry_level_fx_details_are_kept() -> None:
    # OCA's multi-currency statement: a EUR payment booked in CHF, its instructed amount and rate in the
    # entry's AmtDtls (InstdAmt EUR 522.39; CntrValAmt/CcyXchg EUR -> CHF at 1.1087693103).
    f = parse(CORPUS / "oca_camt053_v04_multi_currency.xml", ctx()).frame
    assert f.select(
        "amount_minor", "currency", "original_amount_minor", "original_currency", "exchange_rate"
    ).rows() == [
        (57921, "CHF", 52239, "EUR", Decimal("1.108769310300")),
        (13400, "CHF", None, None, None),
    ]


FX_ENTRY = """<AmtDtls><InstdAmt><Amt Ccy="USD">110.00</Amt></InstdAmt>
<CntrValAmt><Amt Ccy="EUR">100.00</Amt><CcyXchg><SrcCcy>USD</SrcCcy><TrgtCcy>EUR</TrgtCcy>
<XchgRate>0.9090909091</XchgRate></CcyXchg></CntrValAmt></AmtDtls>
"""


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        # entry-level amount details
        (FX_ENTRY, (11000, "USD", Decimal("0.909090909100"))),
        # transaction-level: its amount in another currency is the original one, the rate from TxAmt/CcyXchg
        (
            '<NtryDtls><TxDtls><Amt Ccy="GBP">85.00</Amt><AmtDtls><TxAmt><Amt Ccy="GBP">85.00</Amt>'
            "<CcyXchg><SrcCcy>GBP</SrcCcy><TrgtCcy>EUR</TrgtCcy><XchgRate>1.176470588235</XchgRate></CcyXchg>"
            "</TxAmt></AmtDtls></TxDtls></NtryDtls>\n",
            (8500, "GBP", Decimal("1.176470588235")),
        ),
        # a transaction amount in the entry's currency is not an original amount
        ('<AmtDtls><TxAmt><Amt Ccy="EUR">100.00</Amt></TxAmt></AmtDtls>\n', (None, None, None)),
    ],
)
def test_fx_details_fill_original_amount_currency_and_rate(
    tmp_path: Path, extra: str, expected: tuple[object, ...]
) -> None:
    text = document([statement("S-1", "<IBAN>NL33INGB6693512750</IBAN>", [entry("100.00", extra=extra)])])
    f = parse(write(tmp_path, text), ctx()).frame
    assert f.select("original_amount_minor", "original_currency", "exchange_rate").row(0) == expected


def test_breakdown_rows_take_their_own_fx_details_not_the_entrys(tmp_path: Path) -> None:
    txs = (
        '<TxDtls><Amt Ccy="EUR">60.00</Amt><AmtDtls><InstdAmt><Amt Ccy="USD">66.00</Amt></InstdAmt></AmtDtls>'
        '</TxDtls>\n<TxDtls><Amt Ccy="EUR">40.00</Amt></TxDtls>\n'
    )
    extra = FX_ENTRY + f"<NtryDtls>{txs}</NtryDtls>\n"
    text = document([statement("S-1", "<IBAN>NL33INGB6693512750</IBAN>", [entry("100.00", extra=extra)])])
    result = parse(write(tmp_path, text), ctx())
    assert result.frame.select("original_amount_minor", "original_currency").rows() == [(6600, "USD"), (None, None)]
    assert [(c.name, c.scope, c.status) for c in checks_of(result) or []] == [
        ("balance", "statement S-1 (account NL33INGB6693512750)", "skipped"),
        ("batch breakdown", "1 batch entry", "passed"),
    ]


def test_breakdown_in_another_currency_is_reported_skipped(tmp_path: Path) -> None:
    txs = '<TxDtls><Amt Ccy="USD">60.00</Amt></TxDtls>\n<TxDtls><Amt Ccy="USD">50.00</Amt></TxDtls>\n'
    text = document([statement("S-1", "<IBAN>X</IBAN>", [entry("100.00", extra=f"<NtryDtls>{txs}</NtryDtls>\n")])])
    checks = checks_of(parse(write(tmp_path, text), ctx())) or []
    line = entry_lines(text)[0]
    assert [(c.name, c.scope, c.status, c.detail) for c in checks if c.name == "batch breakdown"] == [
        (
            "batch breakdown",
            f"entry on line {line}",
            "skipped",
            "a transaction is in USD, the entry in EUR: no sum in one currency",
        )
    ]


UTF16_TEXT = document(
    [
        statement(
            "S-1",
            "<IBAN>NL33INGB6693512750</IBAN>",
            [
                entry(
                    "5.00",
                    extra="<NtryDtls><TxDtls><RltdPties><Dbtr><Nm>Müller GmbH</Nm></Dbtr></RltdPties>"
                    "</TxDtls></NtryDtls>\n",
                )
            ],
            balance("OPBD", "1.00", "EUR") + balance("CLBD", "6.00", "EUR"),
        )
    ]
)


@pytest.mark.parametrize(
    ("data"),
    [
        UTF16_TEXT.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"),  # BOM, little-endian
        codecs.BOM_UTF16_BE + UTF16_TEXT.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16-be"),
        UTF16_TEXT.split("?>\n", 1)[1].encode("utf-16-le"),  # no BOM nor declaration: '<' in two bytes
        UTF16_TEXT.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').encode("latin-1"),
        codecs.BOM_UTF8 + UTF16_TEXT.encode("utf-8"),
    ],
    ids=["utf-16-le-bom", "utf-16-be-bom", "utf-16-no-bom", "latin-1-declared", "utf-8-bom"],
)
def test_other_encodings_are_read_like_utf8(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "camt053.xml"
    path.write_bytes(data)
    result = parse(path, ctx())
    expected = parse(write(tmp_path, UTF16_TEXT), ctx())
    assert result.frame.drop("line_no").equals(expected.frame.drop("line_no"))
    offset = 0 if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"?>" in data[:80] else -1
    assert result.frame["line_no"].to_list() == [entry_lines(UTF16_TEXT)[0] + offset]
    assert result.frame["counterparty_name"].to_list() == ["Müller GmbH"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (
            UTF16_TEXT.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-8"),
            "the XML declaration names the encoding 'UTF-16', but the file is not in it (no byte order mark, and "
            "its first character '<' is one byte)",
        ),
        (
            codecs.BOM_UTF16_LE + UTF16_TEXT.encode("utf-16-le")[:-1],
            "file is not valid UTF-16LE (the encoding its byte order mark gives): byte ",
        ),
        (
            UTF16_TEXT.replace('encoding="UTF-8"', 'encoding="EBCDIC-XX"').encode("utf-8"),
            "the XML declaration names the encoding 'EBCDIC-XX', which is not known",
        ),
    ],
    ids=["declared-utf-16-but-utf-8", "truncated-utf-16", "unknown-encoding"],
)
def test_encodings_that_do_not_hold_are_refused_naming_them(tmp_path: Path, data: bytes, reason: str) -> None:
    path = tmp_path / "camt053.xml"
    path.write_bytes(data)
    with pytest.raises(FileRejected) as caught:
        parse(path, ctx())
    assert str(caught.value).startswith(reason)


def test_inspect_says_agree_only_for_checks_that_ran(tmp_path: Path) -> None:
    agreeing = statement(
        "S-1", "<IBAN>X</IBAN>", [entry("5.00")], balance("OPBD", "1.00", "EUR") + balance("CLBD", "6.00", "EUR")
    )
    unchecked = statement("S-2", "<IBAN>X</IBAN>", [entry("5.00")], balance("OPBD", "1.00", "EUR"))
    console = Console(record=True, width=200)
    result = inspect_file(write(tmp_path, document([agreeing, unchecked])))
    render(result, console)
    out = console.export_text()
    assert "control totals: NOT ALL CHECKED: 1 passed, 1 skipped (the format's: opening balance" in out
    assert "  skipped: balance, statement S-2 (account X): the statement gives no closing (CLBD or ITBD) balance" in out
    assert "control totals: agree" not in out
    assert [c["status"] for c in result.checks] == ["passed", "skipped"]
    render(inspect_file(write(tmp_path, document([agreeing]))), console := Console(record=True, width=200))
    assert "control totals: agree (opening balance + credits - debits = closing balance" in console.export_text()


def test_an_entry_without_currency_leaves_the_statement_unchecked_not_rejected(tmp_path: Path) -> None:
    balances = balance("OPBD", "1.00", "EUR") + balance("CLBD", "9.00", "EUR")
    text = document([statement("S-1", "<IBAN>X</IBAN>", [entry("5.00"), entry("3.00", ccy=None)], balances)])
    result = parse(write(tmp_path, text), ctx())
    assert [(field, line) for line, field, _ in rejects(result)] == [("Amt/@Ccy", entry_lines(text)[1])]
    assert [(c.status, c.detail) for c in checks_of(result) or []] == [
        (
            "skipped",
            f"the booked entry on line {entry_lines(text)[1]} has no readable amount, currency or direction "
            "(it is rejected): no sum",
        ),
    ]


def test_skipped_checks_reach_the_file_status_through_parking_and_the_catalog(tmp_path: Path) -> None:
    """What the parser reports reaches the file's status (its validation result) after the file was parked
    between the parsing and the staging process, and the catalog keeps it for the run manifest."""
    from pipelines.catalog.store import Catalog, FileRecord, FileStatus
    from pipelines.core.config import Settings
    from pipelines.validate.normalise import ChannelStager, park, parse_file, unpark

    text = document(
        [statement("S-2", "<IBAN>NL33INGB6693512750</IBAN>", [entry("5.00")], balance("OPBD", "1.00", "EUR"))]
    )
    path = write(tmp_path, text)
    settings = Settings(home=tmp_path / "home", rules=tmp_path / "rules")
    settings.ensure()
    channel = Channel(id="bank_eu", kind="bank", location=".", format="camt053")
    rec = FileRecord("f" * 64, "bank_eu", path.name, str(path), path.stat().st_size, str(path), "2026-11-26T08:00:00Z")
    parsed = parse_file(rec, channel, settings, dt.date(2026, 11, 26))
    assert not isinstance(parsed, FileStatus)
    stager = ChannelStager(channel, settings, dt.date(2026, 11, 26))
    stager.add(rec, unpark(park(parsed, settings, rec.file_id), settings))
    [status] = stager.statuses()
    assert status.controls is not None and status.controls.startswith("1 skipped (balance, statement S-2")
    catalog = Catalog(settings.catalog_path)
    catalog.record_file_statuses([status], dt.datetime(2026, 11, 26, 8, tzinfo=dt.UTC))
    assert catalog.file_statuses()[rec.file_id].controls == status.controls
