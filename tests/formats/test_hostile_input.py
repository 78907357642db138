"""Hostile input to the shared CSV reading and to detection: every fault gives correct rows or a clear refusal
(``FileRejected`` naming the line and why), never a Python error.

* lines ending with a carriage return alone are read as lines, with their physical line numbers;
* UTF-16 and UTF-32 text is refused by its byte-order mark, whatever the channel's encoding;
* a header holding a NUL byte, or a field longer than the CSV field limit, is refused naming its line;
* a NUL byte anywhere in a data row rejects that row (field ``record``) in every CSV format, even in a
  column the format does not read; the other rows are read.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from format_helpers import write

from pipelines.core.channels import Channel, CsvOptions
from pipelines.core.config import PROJECT_ROOT
from pipelines.formats import csvutil, psputil, registry
from pipelines.formats.base import FileRejected, ParseContext, shown
from pipelines.formats.detect import detect

ORDERS = (PROJECT_ROOT / "data_samples" / "orders" / "orders_2026-11-26.csv").read_text(encoding="utf-8")
HEAD = ORDERS.splitlines()[:4]


def parse(path: Path, fmt: str | None = None) -> tuple[str, object]:
    found = detect(path)
    name = fmt or found.format
    kind = "orders" if name == "orders_csv" else "reference" if name == "fx_rates_csv" else "psp"
    channel = Channel(id="test_ch", kind=kind, location=".", format=name, csv=found.csv)
    return name, registry.get(name)(path, ParseContext(channel=channel, file_id="f" * 64, file_name=path.name))


def test_lines_ending_with_a_carriage_return_alone_are_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "\r".join(HEAD) + "\r", "orders.csv")
    assert detect(path).format == "orders_csv"
    _, result = parse(path)
    frame = result.frame  # type: ignore[attr-defined]
    assert frame["line_no"].to_list() == [2, 3, 4]
    assert frame["order_id"].to_list() == [line.split(",")[0] for line in HEAD[1:]]
    unterminated = write(tmp_path, "\r".join(HEAD), "orders_open.csv")
    assert parse(unterminated)[1].frame.height == 3  # type: ignore[attr-defined]


def test_a_padded_header_ending_with_a_carriage_return_alone_is_trimmed(tmp_path: Path) -> None:
    path = write(tmp_path, "a,b,,,\r1,2\r3,4\r")
    src = psputil.read_csv(path, CsvOptions(), ["a", "b"])
    assert (src.columns, src.frame["line_no"].to_list(), src.frame["b"].to_list()) == (
        ["a", "b"],
        [2, 3],
        ["2", "4"],
    )


@pytest.mark.parametrize(
    ("bom", "name", "shown_bom"),
    [
        (b"\xff\xfe", "UTF-16", "FF FE"),
        (b"\xfe\xff", "UTF-16", "FE FF"),
        (b"\xff\xfe\x00\x00", "UTF-32", "FF FE 00 00"),
    ],
)
@pytest.mark.parametrize("encoding", ["utf-8", "latin-1"])
def test_utf16_and_utf32_text_is_refused_by_its_byte_order_mark(
    tmp_path: Path, bom: bytes, name: str, shown_bom: str, encoding: str
) -> None:
    codec = {"UTF-16": "utf-16-le" if bom == b"\xff\xfe" else "utf-16-be", "UTF-32": "utf-32-le"}[name]
    path = write(tmp_path, bom + "\n".join(HEAD).encode(codec))
    reason = (
        f"{name} text (byte-order mark {shown_bom} on line 1): the pipeline reads UTF-8 or the channel's "
        "csv.encoding (latin-1, cp1252); save the file as UTF-8"
    )
    with pytest.raises(FileRejected, match="^" + reason.replace("(", r"\(").replace(")", r"\)") + "$"):
        csvutil.read_csv(path, CsvOptions.model_validate({"encoding": encoding}), ["order_id"])
    with pytest.raises(FileRejected) as caught:
        detect(path)
    assert str(caught.value) == reason
    with pytest.raises(FileRejected) as caught:
        csvutil.decode(path.read_bytes(), encoding)
    assert str(caught.value) == reason


def test_a_header_with_a_nul_byte_or_a_huge_field_is_refused_naming_its_line(tmp_path: Path) -> None:
    nul = write(tmp_path, b"\n\x00order_id,amount\n1,2\n", "nul.csv")
    with pytest.raises(FileRejected) as caught:
        csvutil.read_csv(nul, CsvOptions(), ["order_id"])
    assert str(caught.value) == (
        "header (line 2) holds a NUL byte (\\x00) at character 1: binary data, or UTF-16 text without a byte-order mark"
    )
    limit = csv.field_size_limit()
    huge = write(tmp_path, "order_id," + "x" * (limit + 1) + "\n1,2\n", "huge.csv")
    with pytest.raises(FileRejected) as caught:
        csvutil.read_csv(huge, CsvOptions(), ["order_id"])
    assert str(caught.value) == f"header (line 1) has a field longer than {limit} characters"
    quoted = write(tmp_path, 'order_id,"a\rb",c\n1,2,3\n', "cr_in_header.csv")  # a lone CR inside a header field
    assert csvutil.read_csv(quoted, CsvOptions(), ["order_id"]).columns == ["order_id", "a\rb", "c"]


def test_detection_refuses_binary_content_and_survives_odd_first_lines(tmp_path: Path) -> None:
    garbage = write(tmp_path, bytes(range(256)) * 4, "garbage.bin")
    with pytest.raises(FileRejected) as caught:
        detect(garbage)
    assert str(caught.value).startswith("binary content: NUL byte (\\x00) at byte 1 of line 1")
    odd = write(tmp_path, "a\rb,c\nd\n", "odd.csv")  # a carriage return inside the first of several lines
    with pytest.raises(FileRejected) as caught:
        detect(odd)
    assert str(caught.value).startswith("format not recognised from the content")


SAMPLES = [
    ("orders/orders_2026-11-26.csv", 2),
    ("fx/fx_rates_2026-11-26.csv", 2),
    ("adyen/settlement_detail_report_batch_5240.csv", 2),
    ("stripe/payout_reconciliation_itemized_2026-11-26.csv", 2),
    ("formats/checkout/financial-actions_ent_abc123_20261127_00000000CFJU_1.csv", 2),
    ("formats/pix/extrato_pix_2026-11-26.csv", 2),
    ("formats/upi/upi_settlement_2026-11-26.csv", 2),
    ("formats/worldpay/settlement_detail_2026-11-26.csv", 2),
    ("formats/paypal_stl/STL-20261126.01.009.CSV", 5),
]


@pytest.mark.parametrize(("sample", "line"), SAMPLES)
def test_a_nul_byte_in_a_data_row_rejects_that_row_in_every_csv_format(tmp_path: Path, sample: str, line: int) -> None:
    lines = (PROJECT_ROOT / "data_samples" / sample).read_bytes().split(b"\n")
    target = lines[line - 1]
    cut = target.rindex(b",") if b"," in target else target.rindex(b";")
    lines[line - 1] = target[: cut + 1] + b"\x00" + target[cut + 1 :]  # in the last field, read or not
    path = write(tmp_path, b"\n".join(lines), Path(sample).name)
    _, clean = parse(PROJECT_ROOT / "data_samples" / sample)
    _, result = parse(path)
    assert line not in clean.rejects["line_no"].to_list()  # type: ignore[attr-defined]
    found = [(r["line_no"], r["field"]) for r in result.rejects.iter_rows(named=True)]  # type: ignore[attr-defined]
    assert (line, "record") in found
    assert line not in result.frame["line_no"].to_list()  # type: ignore[attr-defined]
    assert result.frame.height + result.rows_rejected == result.rows_in  # type: ignore[attr-defined]


def test_shown_escapes_control_characters_and_undecodable_bytes() -> None:
    assert shown("a\x00b\x1b[31m\u200bc\udcff é") == "a\\x00b\\x1b[31m\\u200bc\\xff é"
    assert shown("x" * 10, limit=4) == "xxxx... (10 characters)"
