"""CNAB 240 / 400 collection return parsers: occurrences to statuses, values and dates, and the trailer
record counts / record sequence."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from format_helpers import ctx, write

from pipelines.core.schema import table
from pipelines.formats.base import FileRejected
from pipelines.formats.cnab240 import TABLE
from pipelines.formats.cnab240 import parse as parse240
from pipelines.formats.cnab400 import parse as parse400
from pipelines.formats.registry import get, table_of


def put(record: str, start: int, value: str) -> str:
    """Write ``value`` at 1-based ``start`` of a fixed-width record."""
    return record[: start - 1] + value + record[start - 1 + len(value) :]


def cnab240(trailer_records: int = 6, code: str = "06") -> str:
    header = put(put("0010000" + "0" + " " * 232, 144, "26112026"), 152, "120000")
    lot = "0010001" + "1" + "T" + " " * 231
    t = " " * 240
    for start, value in (
        (1, "00100013"),
        (9, "00001"),
        (14, "T"),
        (16, code),
        (38, "NOSSO-000000000001  "),
        (59, "DOC-1          "),
        (82, "000000000012345"),
        (106, "ORDER-42"),
        (149, "PAGADOR LTDA"),
        (199, "000000000000250"),
    ):
        t = put(t, start, value)
    u = " " * 240
    for start, value in (
        (1, "00100013"),
        (9, "00002"),
        (14, "U"),
        (16, code),
        (78, "000000000012345"),
        (93, "000000000012095"),
        (138, "25112026"),
        (146, "27112026"),
    ):
        u = put(u, start, value)
    lot_trailer = put("00100015" + " " * 232, 18, "000004")
    trailer = put(put("00199999" + " " * 232, 18, "000001"), 24, f"{trailer_records:06d}")
    return "\r\n".join(r.rstrip() for r in (header, lot, t, u, lot_trailer, trailer)) + "\r\n"


def cnab400(second_seq: int = 2) -> str:
    header = put(put("02RETORNO01COBRANCA" + " " * 381, 95, "261126"), 395, "000001")
    detail = " " * 400
    for start, value in (
        (1, "1"),
        (38, "ORDER-43"),
        (71, "000000000303"),
        (109, "06"),
        (111, "251126"),
        (117, "DOC-2"),
        (153, "0000000020000"),
        (176, "0000000000160"),
        (254, "0000000020000"),
        (296, "271126"),
        (395, f"{second_seq:06d}"),
    ):
        detail = put(detail, start, value)
    trailer = put("9201237" + " " * 393, 395, "000003")
    return "\n".join((header, detail, trailer)) + "\n"


def test_registry() -> None:
    assert (get("cnab240"), get("cnab400")) == (parse240, parse400)
    assert table_of("cnab240") == table_of("cnab400") == TABLE == "payment_status"


def test_cnab240_paid_title(tmp_path: Path) -> None:
    result = parse240(write(tmp_path, cnab240()), ctx("cnab240"))
    f = result.frame
    assert result.rejects.height == 0 and f.schema == table(TABLE).polars_schema()
    assert f.select(
        "line_no", "status", "status_code", "transaction_id", "end_to_end_id", "amount_minor", "fee_minor", "net_minor"
    ).rows() == [(3, "paid", "06", "NOSSO-000000000001", "ORDER-42", 12345, 250, 12095)]
    assert f.select("business_date", "effective_date", "currency", "counterparty_name").row(0) == (
        dt.date(2026, 11, 25),
        dt.date(2026, 11, 27),
        "BRL",
        "PAGADOR LTDA",
    )


def test_cnab240_entry_confirmed_uses_the_title_value(tmp_path: Path) -> None:
    f = parse240(write(tmp_path, cnab240(code="02")), ctx("cnab240")).frame
    assert f.select("status", "amount_minor", "net_minor").rows() == [("accepted", 12345, None)]


def test_cnab240_trailer_count_mismatch(tmp_path: Path) -> None:
    with pytest.raises(FileRejected) as caught:
        parse240(write(tmp_path, cnab240(trailer_records=7)), ctx("cnab240"))
    assert str(caught.value) == "control totals do not agree: file trailer (line 6) counts 7 records but 6 are present"


def test_cnab400_paid_title_and_sequence(tmp_path: Path) -> None:
    f = parse400(write(tmp_path, cnab400()), ctx("cnab400")).frame
    assert f.select("line_no", "status", "end_to_end_id", "amount_minor", "fee_minor", "net_minor").rows() == [
        (2, "paid", "ORDER-43", 20000, 160, 19840)
    ]
    assert f["business_date"].to_list() == [dt.date(2026, 11, 25)]
    with pytest.raises(FileRejected, match="record on line 2 is numbered 5 but is record 2"):
        parse400(write(tmp_path, cnab400(second_seq=5)), ctx("cnab400"))


@pytest.mark.parametrize(
    ("parser", "text", "reason"),
    [
        (parse240, "", "file is empty"),
        (parse240, cnab240().rsplit("\r\n", 2)[0] + "\r\n", "CNAB 240 must start with a file header"),
        (parse400, cnab400().rsplit("\n", 2)[0] + "\n", "CNAB 400 file has no trailer (record type 9) at its end"),
        (parse400, "0" * 401 + "\n", "line 1 has 401 characters; CNAB 400 records have at most 400"),
    ],
)
def test_malformed(tmp_path: Path, parser: object, text: str, reason: str) -> None:
    with pytest.raises(FileRejected) as caught:
        parser(write(tmp_path, text), ctx("cnab240"))  # type: ignore[operator]
    assert str(caught.value).startswith(reason)
