"""camt.054 notification parser: batch breakdowns, netted batches, charges, structured references,
fallback dates, row rejects, breakdown control totals and XML safety."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from format_helpers import BOMB, EXTERNAL, ctx, rejects, write

from pipelines.core.schema import table
from pipelines.formats.base import FileRejected
from pipelines.formats.camt054 import TABLE, parse
from pipelines.formats.registry import get, table_of

NS = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"


def tx(amount: str | None, cdi: str | None = None, ccy: str = "EUR", extra: str = "") -> str:
    amt = f'<Amt Ccy="{ccy}">{amount}</Amt>' if amount is not None else ""
    ind = f"<CdtDbtInd>{cdi}</CdtDbtInd>" if cdi else ""
    return f"<TxDtls>{amt}{ind}{extra}</TxDtls>\n"


def entry(amount: str, cdi: str, txs: list[str], ccy: str = "EUR", head: str = "", batch: str = "") -> str:
    return (
        f'<Ntry>\n<Amt Ccy="{ccy}">{amount}</Amt><CdtDbtInd>{cdi}</CdtDbtInd>{head}\n'
        f"<NtryDtls>{batch}\n{''.join(txs)}</NtryDtls>\n</Ntry>\n"
    )


BOOKED = "<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-11-26</Dt></BookgDt><ValDt><Dt>2026-11-27</Dt></ValDt>"


def document(entries: list[str], account: str = "<IBAN>CH9300762011623852957</IBAN>") -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{NS}"><BkToCstmrDbtCdtNtfctn>\n'
        "<GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-11-26T22:00:00</CreDtTm></GrpHdr>\n"
        f"<Ntfctn><Id>N-1</Id><CreDtTm>2026-11-26T22:00:00</CreDtTm>\n<Acct><Id>{account}</Id></Acct>\n"
        + "".join(entries)
        + "</Ntfctn>\n</BkToCstmrDbtCdtNtfctn></Document>\n"
    )


QRR = (
    "<Refs><EndToEndId>E2E-1</EndToEndId><TxId>TX-1</TxId></Refs>"
    "<Chrgs><Rcrd><Amt Ccy='CHF'>1.20</Amt><CdtDbtInd>DBIT</CdtDbtInd></Rcrd></Chrgs>"
    "<RltdPties><Dbtr><Pty><Nm>Maria</Nm></Pty></Dbtr><DbtrAcct><Id><IBAN>CH51</IBAN></Id></DbtrAcct></RltdPties>"
    "<RmtInf><Strd><CdtrRefInf><Tp><CdOrPrtry><Prtry>QRR</Prtry></CdOrPrtry></Tp>"
    "<Ref>210000000003139471430009017</Ref></CdtrRefInf></Strd></RmtInf>"
)


def test_registry() -> None:
    assert get("camt054") is parse
    assert table_of("camt054") == TABLE == "bank_statement_lines"


def test_batch_with_breakdown_gives_one_row_per_transaction(tmp_path: Path) -> None:
    text = document(
        [
            entry(
                "100.00",
                "CRDT",
                [tx("75.50", "CRDT", "CHF", QRR), tx("24.50", "CRDT", "CHF")],
                ccy="CHF",
                head=BOOKED + "<AcctSvcrRef>AS-1</AcctSvcrRef>",
                batch="<Btch><NbOfTxs>2</NbOfTxs><TtlAmt Ccy='CHF'>100.00</TtlAmt></Btch>",
            )
        ]
    )
    result = parse(write(tmp_path, text), ctx("camt054"))
    f = result.frame
    assert f.schema == table(TABLE).polars_schema() and result.rejects.height == 0
    assert f["line_no"].to_list() == [9, 10]
    assert f["record_level"].to_list() == ["transaction"] * 2
    assert f["amount_minor"].to_list() == [7550, 2450]
    assert f["entry_amount_minor"].to_list() == [10000, 10000]
    assert f["batch_count"].to_list() == [2, 2]
    assert f["direction"].to_list() == ["credit", "credit"]
    assert f["end_to_end_id"].to_list() == ["E2E-1", None]
    assert f["transaction_id"].to_list() == ["TX-1", None]
    assert f["creditor_reference"].to_list() == ["210000000003139471430009017", None]
    assert f["creditor_reference_type"].to_list() == ["QRR", None]
    assert f["charges_minor"].to_list() == [120, None]
    assert f["charges_currency"].to_list() == ["CHF", None]
    assert f["counterparty_name"].to_list() == ["Maria", None]
    assert f["counterparty_account"].to_list() == ["CH51", None]
    assert f["bank_reference"].to_list() == ["AS-1", "AS-1"]
    assert f["booking_date"].to_list() == [dt.date(2026, 11, 26)] * 2
    assert f["value_date"].to_list() == [dt.date(2026, 11, 27)] * 2
    assert f["statement_id"].to_list() == ["N-1"] * 2


def test_netted_batch_keeps_each_direction_and_unbooked_entry_takes_a_fallback_date(tmp_path: Path) -> None:
    settled = "<RltdDts><IntrBkSttlmDt>2026-11-25</IntrBkSttlmDt></RltdDts>"
    text = document(
        [
            entry(
                "90",
                "DBIT",
                [tx("10", "CRDT", extra=settled), tx("100", "DBIT", extra=settled)],
                head="<Sts>INFO</Sts>",
            )
        ]
    )
    f = parse(write(tmp_path, text), ctx("camt054")).frame
    assert f["direction"].to_list() == ["credit", "debit"]
    assert f["amount_minor"].to_list() == [1000, 10000]
    assert f["entry_status"].to_list() == ["INFO", "INFO"]
    assert f["business_date"].to_list() == [dt.date(2026, 11, 25)] * 2


def test_amountless_transactions_describe_their_entry(tmp_path: Path) -> None:
    detail = "<Refs><EndToEndId>E</EndToEndId></Refs><RmtInf><Ustrd>{}</Ustrd></RmtInf>"
    text = document(
        [
            entry(
                "200000",
                "DBIT",
                [tx(None, extra=detail.format("a")), tx(None, extra=detail.format("b"))],
                "JPY",
                BOOKED,
            )
        ]
    )
    f = parse(write(tmp_path, text), ctx("camt054")).frame
    assert f.select("record_level", "amount_minor", "currency", "remittance_info", "end_to_end_id").rows() == [
        ("entry", 200000, "JPY", "a b", "E")
    ]


def test_reversal_and_return_record_types(tmp_path: Path) -> None:
    rtr = "<RtrInf><Rsn><Cd>AC04</Cd></Rsn></RtrInf>"
    text = document(
        [
            entry("1.000", "DBIT", [tx(None)], "BHD", BOOKED + "<RvslInd>true</RvslInd>"),
            entry("5.00", "CRDT", [tx(None, extra=rtr)], head=BOOKED),
        ]
    )
    f = parse(write(tmp_path, text), ctx("camt054")).frame
    assert f.select("record_type", "reversal", "return_reason", "amount_minor").rows() == [
        ("reversal", True, None, 1000),
        ("return", False, "AC04", 500),
    ]


def test_row_rejects_do_not_lose_the_other_rows(tmp_path: Path) -> None:
    text = document(
        [
            entry("10.00", "CRDT", [], head=BOOKED),
            entry("1.5", "CRDT", [], "JPY", BOOKED),
            entry("10.00", "CRDT", [], "XYZ", BOOKED),
            entry("abc", "CRDT", [], head=BOOKED),
            entry("10.00", "CRDX", [], head=BOOKED),
        ]
    )
    result = parse(write(tmp_path, text), ctx("camt054"))
    assert result.frame["amount_minor"].to_list() == [1000]
    assert rejects(result) == [
        (11, "Amt", "'1.5' has more decimals than the currency allows"),
        (16, "Amt/@Ccy", "unknown ISO 4217 currency 'XYZ'"),
        (21, "Amt", "'abc' is not a decimal amount"),
        (26, "CdtDbtInd", "'CRDX' is neither CRDT nor DBIT"),
    ]


def test_breakdown_that_does_not_add_up_rejects_the_file(tmp_path: Path) -> None:
    text = document([entry("100.00", "CRDT", [tx("60.00", "CRDT"), tx("30.00", "CRDT")], head=BOOKED)])
    with pytest.raises(FileRejected) as caught:
        parse(write(tmp_path, text), ctx("camt054"))
    assert str(caught.value) == (
        "batch breakdown does not add up: entry on line 6: its 2 transactions add up to 90.00 EUR "
        "but the entry books 100.00 EUR (difference 10.00)"
    )


def test_batch_count_that_disagrees_rejects_the_file(tmp_path: Path) -> None:
    batch = "<Btch><NbOfTxs>3</NbOfTxs></Btch>"
    text = document([entry("3.00", "CRDT", [tx("1.00", "CRDT"), tx("2.00", "CRDT")], head=BOOKED, batch=batch)])
    with pytest.raises(FileRejected, match=r"entry on line 6: batch NbOfTxs is 3 but 2 TxDtls are given"):
        parse(write(tmp_path, text), ctx("camt054"))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (BOMB, "XML refused: DTD, entity declarations and external references are not allowed"),
        (EXTERNAL, "XML refused: DTD, entity declarations and external references are not allowed"),
        (document([entry("1.00", "CRDT", [])])[:-60], "not well-formed XML"),
        ("", "file is empty"),
        (
            document([]).replace("BkToCstmrDbtCdtNtfctn", "BkToCstmrStmt"),
            "not a camt.054 message: no BkToCstmrDbtCdtNtfctn element (BkToCstmrStmt is camt.053)",
        ),
    ],
)
def test_unreadable_files_are_rejected_precisely(tmp_path: Path, text: str, reason: str) -> None:
    with pytest.raises(FileRejected) as caught:
        parse(write(tmp_path, text), ctx("camt054"))
    assert str(caught.value).startswith(reason)
