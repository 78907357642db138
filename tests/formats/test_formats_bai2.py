"""BAI2 parser: record splitting and continuations, funds types, currencies, row rejects and the account,
group and file control totals."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from format_helpers import ctx, rejects, write

from pipelines.core.schema import table
from pipelines.formats.bai2 import TABLE, parse
from pipelines.formats.base import FileRejected
from pipelines.formats.controls import checks_of
from pipelines.formats.registry import get, table_of

# Two groups: one in EUR with a 16 of each funds type (S, V, D) and KEY: value 88 text, several records on
# one line; one without a currency (USD by default) and a JPY account. Totals computed by hand.
SAMPLE = """01,BANKID,RECEIVER,261126,0800,7,,,2/
02,RECEIVER,BANKID,1,261126,2400,EUR,2/
03,ACC-1,,010,100000,,,015,150000,,/
16,175,60000,S,10000,20000,30000,BR-1,CR-1,ADYEN PAYOUT 1042/
88,EREF: PAYOUT-1042 DBNM: Adyen N.V.
16,475,5000,V,261127,,BR-2,,SERVICE FEE/ 16,195,5000,D,2,0,3000,1,2000,BR-3,,WIRE IN/
49,320000,6/
98,320000,1,8/
02,RECEIVER,BANKID,1,261126,2400,,2/
03,ACC-2,,010,-500,,/
16,301,250,Z,,,RETURNED ITEM/
49,-250,3/
03,ACC-3,JPY,010,1000,,/
16,451,1500,,,,PAYMENT OUT/
49,2500,3/
98,2250,2,8/
99,322250,2,18/
"""


def test_registry() -> None:
    assert get("bai2") is parse
    assert table_of("bai2") == TABLE == "bank_statement_lines"


def test_details_map_to_canonical_values(tmp_path: Path) -> None:
    result = parse(write(tmp_path, SAMPLE), ctx("bai2"))
    f = result.frame
    assert result.rejects.height == 0 and f.schema == table(TABLE).polars_schema()
    assert f["line_no"].to_list() == [4, 6, 6, 11, 14]
    assert f["account_id"].to_list() == ["ACC-1", "ACC-1", "ACC-1", "ACC-2", "ACC-3"]
    assert f["currency"].to_list() == ["EUR", "EUR", "EUR", "USD", "JPY"]
    assert f["amount_minor"].to_list() == [60000, 5000, 5000, 250, 1500]
    assert f["direction"].to_list() == ["credit", "debit", "credit", "credit", "debit"]
    assert f["bank_tx_code"].to_list() == ["175", "475", "195", "301", "451"]
    assert f["bank_reference"].to_list() == ["BR-1", "BR-2", "BR-3", None, None]
    assert f["customer_reference"].to_list() == ["CR-1", None, None, None, None]
    assert f["remittance_info"][0] == "ADYEN PAYOUT 1042 EREF: PAYOUT-1042 DBNM: Adyen N.V."
    assert (f["end_to_end_id"][0], f["counterparty_name"][0]) == ("PAYOUT-1042", "Adyen N.V.")
    assert f["record_type"].to_list() == ["payment", "fee", "payment", "return", "payment"]
    assert f["booking_date"].to_list() == [dt.date(2026, 11, 26)] * 5
    assert f["value_date"].to_list() == [dt.date(2026, 11, 26), dt.date(2026, 11, 27)] + [dt.date(2026, 11, 26)] * 3
    assert f["statement_id"].to_list() == ["7/1", "7/1", "7/1", "7/2", "7/2"]


def test_records_without_slash_and_broken_across_lines(tmp_path: Path) -> None:
    text = (
        "01,B,R,261126,14:59:35,1,,,2\n02,R,B,1,261126,,GBP\n03,ACC,GBP,010,0,,\n"
        "16,399,89,,,,TRANSFER FROM\nCLIENT ACCOUNT\n88,MORE TEXT\n49,89,4\n98,89,1,6\n99,89,1,8\n"
    )
    f = parse(write(tmp_path, text), ctx("bai2")).frame
    assert f.select("amount_minor", "currency", "remittance_info").rows() == [
        (89, "GBP", "TRANSFER FROM CLIENT ACCOUNT MORE TEXT")
    ]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            ("49,320000,6/", "49,320001,6/"),
            "control totals do not agree: account ACC-1 trailer (line 7) states control total 320001 but its amounts "
            "add up to 320000 (difference 1, in minor units)",
        ),
        (
            ("49,-250,3/", "49,-250,4/"),
            "control totals do not agree: account ACC-2 trailer (line 12) states 4 records but 3 are present",
        ),
        (
            ("98,2250,2,8/", "98,2250,3,8/"),
            "control totals do not agree: group 2 trailer (line 16) states 3 accounts but 2 are present",
        ),
        (
            ("99,322250,2,18/", "99,322250,2,19/"),
            "control totals do not agree: file trailer (line 17) states 19 records but 18 are present",
        ),
        (("99,322250,2,18/\n", ""), "file is truncated: no 99 file trailer after the last record"),
        (
            ("01,BANKID", "XX,BANKID"),
            "line 1: not a BAI2 record (no 01 file header first): 'XX,BANKID,RECEIVER,261126,0800,7,,,2/'",
        ),
    ],
)
def test_broken_control_totals_reject_the_file(tmp_path: Path, change: tuple[str, str], reason: str) -> None:
    with pytest.raises(FileRejected) as caught:
        parse(write(tmp_path, SAMPLE.replace(*change)), ctx("bai2"))
    assert str(caught.value) == reason


def test_row_rejects(tmp_path: Path) -> None:
    text = (
        "01,B,R,261126,0800,1,,,2/\n02,R,B,1,261126,,,2/\n03,ACC,XYZ,010,0,,/\n16,175,100,,,,A/\n49,100,3/\n"
        "03,ACC2,,010,0,,/\n16,890,0,,,,INFO/\n16,175,12A,,,,B/\n16,175,7,,,,OK/\n49,7,5/\n98,107,2,10/\n99,107,1,12/\n"
    )
    with pytest.raises(FileRejected, match="line 8: detail amount '12A' is not a whole number"):
        parse(write(tmp_path, text), ctx("bai2"))
    result = parse(
        write(
            tmp_path,
            text.replace("16,175,12A,,,,B/\n", "")
            .replace("49,7,5/", "49,7,4/")
            .replace("98,107,2,10/", "98,107,2,9/")
            .replace("99,107,1,12/", "99,107,1,11/"),
        ),
        ctx("bai2"),
    )
    assert result.frame["remittance_info"].to_list() == ["OK"]
    assert rejects(result) == [
        (4, "currency", "unknown ISO 4217 currency 'XYZ'"),
        (7, "type code", "type code '890' is not a credit (100-399) or debit (400-699) detail"),
    ]


# A 16 that ends before its text ("/" right after the references): the text is on the 88s that follow.
TEXT_ON_88 = """01,NWBKGB2L,9876543,261126,14:59:35,2215,,,2/
02,9876543,NWBKGB2L,1,261126,2400,GBP,/
03,88888888,GBP,010,1000,,/
16,699,971,,,/
88,LVP XBANKGO24007664SJ RELAY
88,TFR
16,191,001,V,261126,,1234567890,RP1231/
88,FR:FP SIP INCOMING
88,TRID:RP1231 PY:RP1231231231231200
16,195,500,,BR-9,CR-9,WIRE
88,IN PART 2
49,2472,10/
98,2472,1,12/
99,2472,1,14/
"""


def test_text_of_a_16_on_its_88_records_is_the_remittance_not_the_reference(tmp_path: Path) -> None:
    f = parse(write(tmp_path, TEXT_ON_88), ctx("bai2")).frame
    assert f.select("customer_reference", "bank_reference", "remittance_info", "transaction_id").rows() == [
        (None, None, "LVP XBANKGO24007664SJ RELAY TFR", None),
        ("RP1231", "1234567890", "FR:FP SIP INCOMING TRID:RP1231 PY:RP1231231231231200", "RP1231"),
        # a 16 with text goes on with its 88s
        ("CR-9", "BR-9", "WIRE IN PART 2", None),
    ]
    assert f["value_date"][1] == dt.date(2026, 11, 26)


def test_trailer_checks_are_reported(tmp_path: Path) -> None:
    result = parse(write(tmp_path, SAMPLE), ctx("bai2"))
    assert [(c.name, c.scope, c.status) for c in checks_of(result) or []] == [
        ("control total and record count", "3 account trailers (49)", "passed"),
        ("control total and record count", "2 group trailers (98)", "passed"),
        ("control total and record count", "file trailer (99)", "passed"),
    ]
    # an account trailer without its record count: the count is not checked, and says so
    result = parse(write(tmp_path, SAMPLE.replace("49,-250,3/", "49,-250/")), ctx("bai2"))
    skipped = [c for c in checks_of(result) or [] if c.status == "skipped"]
    assert [(c.name, c.scope, c.detail) for c in skipped] == [
        ("record count", "account ACC-2 trailer (line 12)", "the trailer gives no record count")
    ]
