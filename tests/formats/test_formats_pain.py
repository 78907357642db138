"""pain.001 / pain.002 / pain.008 parsers: status mapping incl. Verification of Payee, rows per level,
control sums and counts, missing namespace."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from format_helpers import BOMB, ctx, write

from pipelines.core.schema import table
from pipelines.formats import controls
from pipelines.formats.base import FileRejected
from pipelines.formats.pain001 import parse as parse001
from pipelines.formats.pain002 import TABLE
from pipelines.formats.pain002 import parse as parse002
from pipelines.formats.pain008 import parse as parse008
from pipelines.formats.registry import get, table_of

STATUS = """<?xml version="1.0" encoding="UTF-8"?>
<Document{ns}><CstmrPmtStsRpt>
<GrpHdr><MsgId>STS-1</MsgId><CreDtTm>2026-11-26T18:00:00</CreDtTm></GrpHdr>
<OrgnlGrpInfAndSts><OrgnlMsgId>MSG-9</OrgnlMsgId><OrgnlMsgNmId>pain.001</OrgnlMsgNmId><OrgnlNbOfTxs>3</OrgnlNbOfTxs>
<GrpSts>PART</GrpSts>
<NbOfTxsPerSts><DtldNbOfTxs>{accepted}</DtldNbOfTxs><DtldSts>ACCP</DtldSts></NbOfTxsPerSts>
<NbOfTxsPerSts><DtldNbOfTxs>1</DtldNbOfTxs><DtldSts>RJCT</DtldSts></NbOfTxsPerSts>
<NbOfTxsPerSts><DtldNbOfTxs>1</DtldNbOfTxs><DtldSts>RVMC</DtldSts></NbOfTxsPerSts>
</OrgnlGrpInfAndSts>
<OrgnlPmtInfAndSts><OrgnlPmtInfId>PMT-1</OrgnlPmtInfId>
<TxInfAndSts><OrgnlEndToEndId>E2E-1</OrgnlEndToEndId><TxSts>ACCP</TxSts>
<OrgnlTxRef><Amt><InstdAmt Ccy="EUR">10.00</InstdAmt></Amt></OrgnlTxRef></TxInfAndSts>
<TxInfAndSts><OrgnlEndToEndId>E2E-2</OrgnlEndToEndId><TxSts>RJCT</TxSts>
<StsRsnInf><Rsn><Cd>AC04</Cd></Rsn><AddtlInf>Account closed</AddtlInf></StsRsnInf>
<OrgnlTxRef><Amt><InstdAmt Ccy="EUR">20.00</InstdAmt></Amt><Cdtr><Nm>Closed Ltd</Nm></Cdtr></OrgnlTxRef></TxInfAndSts>
<TxInfAndSts><OrgnlEndToEndId>NOTPROVIDED</OrgnlEndToEndId><OrgnlUETR>a34743b9-fb22-4ec6-9947-03b7e191584e</OrgnlUETR>
<TxSts>RVMC</TxSts><OrgnlTxRef><Cdtr><Pty><Nm>Max Mustermann</Nm></Pty></Cdtr></OrgnlTxRef></TxInfAndSts>
</OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>
"""
NS = ' xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"'

INITIATION = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.{kind}"><{root}>
<GrpHdr><MsgId>M-1</MsgId><CreDtTm>2026-11-26T08:00:00</CreDtTm><NbOfTxs>2</NbOfTxs><CtrlSum>{ctrl}</CtrlSum></GrpHdr>
<PmtInf><PmtInfId>P-1</PmtInfId><NbOfTxs>2</NbOfTxs><ReqdExctnDt>2026-11-27</ReqdExctnDt><ReqdColltnDt>2026-11-27</ReqdColltnDt>
<DbtrAcct><Id><IBAN>DE1</IBAN></Id></DbtrAcct><CdtrAcct><Id><IBAN>DE1</IBAN></Id></CdtrAcct>
<{tx}><PmtId><EndToEndId>E-1</EndToEndId></PmtId>{amt1}<Cdtr><Nm>C1</Nm></Cdtr><Dbtr><Nm>D1</Nm></Dbtr></{tx}>
<{tx}><PmtId><EndToEndId>E-2</EndToEndId></PmtId>{amt2}<Cdtr><Nm>C2</Nm></Cdtr><Dbtr><Nm>D2</Nm></Dbtr></{tx}>
</PmtInf></{root}></Document>
"""


def test_registry() -> None:
    assert (get("pain001"), get("pain002"), get("pain008")) == (parse001, parse002, parse008)
    assert table_of("pain001") == table_of("pain002") == table_of("pain008") == TABLE == "payment_status"


@pytest.mark.parametrize("ns", [NS, ""])
def test_status_report_rows_with_and_without_namespace(tmp_path: Path, ns: str) -> None:
    result = parse002(write(tmp_path, STATUS.format(ns=ns, accepted=1)), ctx("pain002"))
    f = result.frame
    assert result.rejects.height == 0 and f.schema == table(TABLE).polars_schema()
    assert f["line_no"].to_list() == [11, 13, 16]
    assert f["status"].to_list() == ["accepted", "rejected", "verified_close_match"]
    assert f["status_code"].to_list() == ["ACCP", "RJCT", "RVMC"]
    assert f["reason_code"].to_list() == [None, "AC04", None]
    assert f["reason_info"].to_list() == [None, "Account closed", None]
    assert f["end_to_end_id"].to_list() == ["E2E-1", "E2E-2", None]
    assert f["uetr"].to_list() == [None, None, "a34743b9-fb22-4ec6-9947-03b7e191584e"]
    assert f["amount_minor"].to_list() == [1000, 2000, None]
    assert f["counterparty_name"].to_list() == [None, "Closed Ltd", "Max Mustermann"]
    assert f["batch_id"].to_list() == ["PMT-1"] * 3
    assert f["original_message_id"].to_list() == ["MSG-9"] * 3
    assert f["business_date"].to_list() == [dt.date(2026, 11, 26)] * 3


def test_status_counts_that_disagree_reject_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileRejected) as caught:
        parse002(write(tmp_path, STATUS.format(ns=NS, accepted=2)), ctx("pain002"))
    assert str(caught.value) == (
        "control totals do not agree: NbOfTxsPerSts adds up to 4 transactions but OrgnlNbOfTxs is 3; "
        "NbOfTxsPerSts states 2 transactions ACCP but 1 are reported"
    )


@pytest.mark.parametrize(
    ("kind", "root", "tx", "amt", "parser", "direction", "counterparty"),
    [
        (
            "001.001.09",
            "CstmrCdtTrfInitn",
            "CdtTrfTxInf",
            "<Amt><InstdAmt Ccy='EUR'>{}</InstdAmt></Amt>",
            parse001,
            "credit",
            ["C1", "C2"],
        ),
        (
            "008.001.08",
            "CstmrDrctDbtInitn",
            "DrctDbtTxInf",
            "<InstdAmt Ccy='EUR'>{}</InstdAmt>",
            parse008,
            "debit",
            ["D1", "D2"],
        ),
    ],
)
def test_initiations_and_their_control_sums(
    tmp_path: Path, kind: str, root: str, tx: str, amt: str, parser: object, direction: str, counterparty: list[str]
) -> None:
    def doc(ctrl: str) -> str:
        return INITIATION.format(
            kind=kind, root=root, tx=tx, ctrl=ctrl, amt1=amt.format("1.50"), amt2=amt.format("2.25")
        )

    f = parser(write(tmp_path, doc("3.75")), ctx("pain001")).frame  # type: ignore[operator]
    assert f.select("status", "end_to_end_id", "amount_minor", "direction", "counterparty_name").rows() == [
        ("initiated", "E-1", 150, direction, counterparty[0]),
        ("initiated", "E-2", 225, direction, counterparty[1]),
    ]
    assert f["effective_date"].to_list() == [dt.date(2026, 11, 27)] * 2
    with pytest.raises(FileRejected) as caught:
        parser(write(tmp_path, doc("3.70")), ctx("pain001"))  # type: ignore[operator]
    assert str(caught.value) == (
        "control totals do not agree: group header: CtrlSum is 3.70 but the transactions add up to 3.75"
    )


def test_unsafe_and_wrong_messages(tmp_path: Path) -> None:
    with pytest.raises(FileRejected, match="XML refused"):
        parse002(write(tmp_path, BOMB), ctx("pain002"))
    with pytest.raises(FileRejected, match="not a pain.002 status report: no CstmrPmtStsRpt element"):
        parse002(write(tmp_path, "<Document><Other/></Document>"), ctx("pain002"))


def test_control_sums_report_each_check_and_skip_one_they_cannot_run(tmp_path: Path) -> None:
    """NbOfTxs and CtrlSum per block and group are reported passed; with an unreadable amount the sums are
    skipped with why (and not compared against a partial total), never said to agree."""
    amt = "<Amt><InstdAmt Ccy='EUR'>{}</InstdAmt></Amt>"

    def doc(second: str, ctrl: str) -> str:
        return INITIATION.format(
            kind="001.001.09",
            root="CstmrCdtTrfInitn",
            tx="CdtTrfTxInf",
            ctrl=ctrl,
            amt1=amt.format("1.50"),
            amt2=amt.format(second),
        )

    good = parse001(write(tmp_path, doc("2.25", "3.75")), ctx("pain001"))
    assert [(c.name, c.scope, c.status) for c in controls.checks_of(good) or []] == [
        ("NbOfTxs", "payment information P-1", "passed"),
        ("CtrlSum", "payment information P-1", "skipped"),
        ("NbOfTxs", "group header", "passed"),
        ("CtrlSum", "group header", "passed"),
    ]
    partial = parse001(write(tmp_path, doc("2,2x5", "1.50")), ctx("pain001"))
    assert partial.rows_rejected == 1
    sums = [c for c in controls.checks_of(partial) or [] if c.name == "CtrlSum"]
    assert [(c.scope, c.status, c.detail) for c in sums] == [
        ("payment information P-1", "skipped", "no readable CtrlSum given"),
        ("group header", "skipped", "1 transaction amount(s) unreadable (rejected)"),
    ]
