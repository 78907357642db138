"""NACHA parser: returns, notifications of change, reversals and originations; batch and file controls;
short records and block filler."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from format_helpers import ctx, write

from pipelines.core.schema import table
from pipelines.formats.base import FileRejected
from pipelines.formats.nacha import TABLE, parse
from pipelines.formats.registry import get, table_of


def entry(tx: str, rdfi: str, account: str, cents: int, ident: str, name: str, trace: str, addenda: bool) -> str:
    return f"6{tx}{rdfi}{account:<17}{cents:010d}{ident:<15}{name:<22}  {'1' if addenda else '0'}{trace}"


def addenda(kind: str, code: str, original_trace: str, info: str, trace: str) -> str:
    return f"7{kind}{code}{original_trace}      {original_trace[:8]}{info:<44}{trace}"


def batch(number: int, sec: str, description: str, entries: list[tuple[str, list[str]]]) -> list[str]:
    header = f"5200{'ACME PAYMENTS':<16}{'':20}1234567890{sec}{description:<10}{'':6}261126   109100001{number:07d}"
    records = [header]
    count = hashed = debits = credits = 0
    for record, extra in entries:
        records += [record, *extra]
        count += 1 + len(extra)
        hashed += int(record[3:11])
        cents = int(record[29:39])
        if record[2] in "1234":
            credits += cents
        else:
            debits += cents
    control = f"8200{count:06d}{hashed % 10**10:010d}{debits:012d}{credits:012d}1234567890{'':25}09100001{number:07d}"
    return [*records, control]


def ach(batches: list[list[str]], filler: bool = True) -> str:
    header = f"101 09100001912345678902611261200A094101{'FIRST BANK':<23}{'ACME PAYMENTS INC':<23}{'':8}"
    body = [r for b in batches for r in b]
    entries = [r for r in body if r[0] in "67"]
    hashed = sum(int(r[3:11]) for r in body if r[0] == "6")
    debits = sum(int(r[29:39]) for r in body if r[0] == "6" and r[2] not in "1234")
    credits = sum(int(r[29:39]) for r in body if r[0] == "6" and r[2] in "1234")
    lines = [header, *body]
    blocks = -(-(len(lines) + 1) // 10)
    control = (
        f"9{len(batches):06d}{blocks:06d}{len(entries):08d}{hashed % 10**10:010d}{debits:012d}{credits:012d}{'':39}"
    )
    lines.append(control)
    if filler:
        lines += ["9" * 94] * (blocks * 10 - len(lines))
    assert all(len(line) == 94 for line in lines), [len(line) for line in lines]
    return "\n".join(lines) + "\n"


RETURN = entry("26", "091400606", "123456789", 12354, "ORD-1042", "Paul Jones", "091000017611242", True)
RETURN_ADDENDA = addenda("99", "R01", "091400600000001", "", "091000017611242")
NOC = entry("21", "231380104", "744-5678-99", 0, "ORD-7", "Best Co", "121042880000001", True)
NOC_ADDENDA = addenda("98", "C01", "121042880000001", "1918171614", "091012980000088")
REVERSAL = entry("22", "026009593", "1234", 685100, "REV-1", "Bob's Manufacturing", "026009590000001", False)
ORIGINATION = entry("27", "021200025", "998412345", 27000, "A271", "Julian Price", "042000010000001", False)
SAMPLE = ach(
    [
        batch(1, "WEB", "RETURN", [(RETURN, [RETURN_ADDENDA])]),
        batch(2, "COR", "NOC", [(NOC, [NOC_ADDENDA])]),
        batch(3, "TEL", "REVERSAL", [(REVERSAL, [])]),
        batch(4, "PPD", "WIDGETS", [(ORIGINATION, [])]),
    ]
)


def test_registry() -> None:
    assert get("nacha") is parse
    assert table_of("nacha") == TABLE == "payment_status"


def test_entries_map_to_statuses(tmp_path: Path) -> None:
    result = parse(write(tmp_path, SAMPLE), ctx("nacha"))
    f = result.frame
    assert result.rejects.height == 0 and f.schema == table(TABLE).polars_schema()
    assert f["line_no"].to_list() == [3, 7, 11, 14]
    assert f["record_type"].to_list() == ["return", "notification_of_change", "reversal", "initiation"]
    assert f["status"].to_list() == ["returned", "corrected", "reversed", "initiated"]
    assert f["reason_code"].to_list() == ["R01", "C01", None, None]
    assert f["original_transaction_id"].to_list() == ["091400600000001", "121042880000001", None, None]
    assert f["corrected_data"].to_list() == [None, "1918171614", None, None]
    assert f["amount_minor"].to_list() == [12354, 0, 685100, 27000]
    assert f["direction"].to_list() == ["debit", "credit", "credit", "debit"]
    assert f["end_to_end_id"].to_list() == ["ORD-1042", "ORD-7", "REV-1", "A271"]
    assert f["transaction_id"].to_list() == ["091000017611242", "121042880000001", "026009590000001", "042000010000001"]
    assert f["counterparty_name"].to_list() == ["Paul Jones", "Best Co", "Bob's Manufacturing", "Julian Price"]
    assert f["batch_id"].to_list() == ["0000001", "0000002", "0000003", "0000004"]
    assert f["business_date"].to_list() == [dt.date(2026, 11, 26)] * 4
    assert set(f["currency"]) == {"USD"} and set(f["scope"]) == {"transaction"}


def test_crlf_short_records_and_zero_file(tmp_path: Path) -> None:
    header = "101 100067554 1823273902003271043 094101PIMRET825324           FISERV"
    control = "9000000000001000000000000000000000000000000000000000000"
    text = "\r\n".join([header, control] + ["9" * 94] * 8) + "\r\n"
    result = parse(write(tmp_path, text), ctx("nacha"))
    assert (result.rows_in, result.frame.height) == (0, 0)


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (
            "8200000002000914006000000001235400000000000",
            "8200000002000914006000000001235500000000000",
            "control totals do not agree: batch 1 control (line 5) states debits 123.55 but the entries total 123.54",
        ),
        (
            "82000000020009140060",
            "82000000020009140061",
            "control totals do not agree: batch 1 control (line 5) states entry hash 9140061 but the routing numbers "
            "add up to 9140060",
        ),
        (
            "8200000002",
            "8200000003",
            "control totals do not agree: batch 1 control (line 5) states 3 entries and addenda but 2 are present",
        ),
    ],
)
def test_broken_batch_controls_reject_the_file(tmp_path: Path, old: str, new: str, reason: str) -> None:
    assert old in SAMPLE
    with pytest.raises(FileRejected) as caught:
        parse(write(tmp_path, SAMPLE.replace(old, new, 1)), ctx("nacha"))
    assert str(caught.value).startswith(reason)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "file is empty"),
        (SAMPLE.split("\n9000004")[0] + "\n", "file is truncated: no file control (9) record"),
        (SAMPLE.replace(RETURN_ADDENDA, RETURN_ADDENDA + "X"), "line 4 has 95 characters; NACHA records are 94"),
        (SAMPLE.replace("\n" + RETURN + "\n", "\n"), "line 3: record type '7' where 6 or 8 is expected"),
        ("5200ACME\n", "line 1: record type '5' where 1 is expected"),
    ],
)
def test_malformed_files(tmp_path: Path, text: str, reason: str) -> None:
    with pytest.raises(FileRejected) as caught:
        parse(write(tmp_path, text), ctx("nacha"))
    assert str(caught.value).startswith(reason)
