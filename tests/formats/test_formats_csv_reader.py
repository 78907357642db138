"""The CSV reader and the shared parsing helpers: their fast paths give what the full paths give.

The reader splits lines with Polars' native reader (and as text when a file holds the unit separator),
checks field counts by field lengths in files without quotes, and amounts are scaled without the full
parse when they are plain; these tests pin the results of every path to the same values.
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import polars as pl
import pytest

from pipelines.core import money
from pipelines.core.channels import CsvOptions
from pipelines.formats import csvutil
from pipelines.formats.base import FileRejected, split_valid

LINE_NO, RECORD = csvutil.LINE_NO, csvutil.RECORD


def read(tmp_path: Path, content: bytes, required: tuple[str, ...] = ("a",), **options: str) -> csvutil.CsvFile:
    path = tmp_path / "file.csv"
    path.write_bytes(content)
    return csvutil.read_csv(path, CsvOptions(**options), required)


def rows(src: csvutil.CsvFile) -> list[tuple[object, ...]]:
    return src.frame.select(LINE_NO, RECORD, *src.columns).rows()


def rejected(tmp_path: Path, content: bytes, **options: str) -> str:
    with pytest.raises(FileRejected) as info:
        read(tmp_path, content, ("a",), **options)
    return str(info.value)


MESSY = (
    "\r\n"  # 1: blank
    "  \t\r\n"  # 2: white space only
    "a,b\r\n"  # 3: header
    "1,2\r\n"  # 4
    "\r\n"  # 5: blank
    '3,"x\r\n'  # 6: a quoted field over three lines, one of them empty
    "\r\n"
    'y"\r\n'
    " \u00a0 \r\n"  # 9: white space only (no-break space)
    '"4,5",""""\r\n'  # 10: a quoted delimiter and an escaped quote
    "6,\r\n"  # 11: an empty last field
    "\r\n"
)
MESSY_ROWS = [
    (4, "1,2", "1", "2"),
    (6, '3,"x\n\ny"', "3", "x\r\n\r\ny"),
    (10, '"4,5",""""', "4,5", '"'),
    (11, "6,", "6", None),
]


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_line_numbers_records_and_fields_of_a_messy_file(tmp_path: Path, bom: bytes) -> None:
    src = read(tmp_path, bom + MESSY.encode())
    assert src.columns == ["a", "b"]
    assert rows(src) == MESSY_ROWS


def test_latin1_file_reads_like_utf8(tmp_path: Path) -> None:
    text = MESSY.replace("\u00a0", " ").replace("x", "\u00e9")
    expected = [(n, r.replace("x", "\u00e9"), a, b.replace("x", "\u00e9") if b else b) for n, r, a, b in MESSY_ROWS]
    assert rows(read(tmp_path, text.encode("cp1252"), encoding="cp1252")) == expected
    assert rows(read(tmp_path, text.encode("utf-8"))) == expected


def test_file_with_the_unit_separator_is_split_as_text(tmp_path: Path) -> None:
    text = MESSY.replace("1,2", "1,2\x1f")
    expected = [(4, "1,2\x1f", "1", "2\x1f"), *MESSY_ROWS[1:]]
    assert rows(read(tmp_path, text.encode())) == expected


def test_simple_file_line_numbers_without_trailing_newline(tmp_path: Path) -> None:
    src = read(tmp_path, b"a,b\n1,2\n3,4\n \n5,6")
    assert rows(src) == [(2, "1,2", "1", "2"), (3, "3,4", "3", "4"), (5, "5,6", "5", "6")]
    assert rows(read(tmp_path, b"a;b\r\n1;2\r\n", delimiter=";")) == [(2, "1;2", "1", "2")]


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (b"a,b\n1,2\n3,\xff", 3),
        (b"\xef\xbb\xbfa,b\n1,2\n\n3,\xc3(\n", 4),
        (b"\n \xe2\x82\n", 2),
        (b"a,b\n1,\x1f\xff\n", 2),
    ],
)
def test_invalid_utf8_rejects_the_file_naming_the_line(tmp_path: Path, content: bytes, line: int) -> None:
    assert rejected(tmp_path, content).startswith("not valid UTF-8: byte 0x")
    assert rejected(tmp_path, content).endswith(f"on line {line}")


@pytest.mark.parametrize(
    "content", [b"", b"\xef\xbb\xbf", b" \r\n\t\n", "\u00a0\n\u2003".encode(), b"\x1c\n\x1f", b"\n\n\n"]
)
def test_blank_files_are_empty(tmp_path: Path, content: bytes) -> None:
    assert rejected(tmp_path, content) == "file is empty"


def test_ragged_rows_are_found_even_when_they_balance(tmp_path: Path) -> None:
    # one row has a field too many and another one too few: together they have the expected delimiters
    message = rejected(tmp_path, b"a,b,c\n1,2,3\n1,2,3,4\n1,2\n\n1,2,3\n")
    assert message == "ragged rows: the header has 3 fields but line 3 has 4 fields; line 4 has 2 fields"
    message = rejected(tmp_path, b"a,b,c\n1,,\n,,,\n,\n")
    assert message == "ragged rows: the header has 3 fields but line 3 has 4 fields; line 4 has 2 fields"


def test_ragged_row_is_found_when_a_carriage_return_ends_a_field(tmp_path: Path) -> None:
    # Polars drops the carriage return ending "x\r": the fields and delimiters are as long as the record
    assert (
        rejected(tmp_path, b"a;b;c\nx\r;y\n1;2;3\r\n", delimiter=";")
        == "ragged rows: the header has 3 fields but line 2 has 2 fields"
    )
    assert rows(read(tmp_path, b"a;b;c\nx\r;y;z\r\n", delimiter=";")) == [(2, "x\r;y;z", "x", "y", "z")]


def test_a_final_lone_carriage_return_is_a_blank_line(tmp_path: Path) -> None:
    assert rows(read(tmp_path, b"a,b\r\n1,2\r\n\r")) == [(2, "1,2", "1", "2")]
    assert rows(read(tmp_path, b"a,b\n1,2\n\r")) == [(2, "1,2", "1", "2")]


def test_ragged_rows_with_quotes_count_fields_outside_quotes(tmp_path: Path) -> None:
    assert rows(read(tmp_path, b'a,b\n"1,2",3\n"x\n,y",z\n')) == [
        (2, '"1,2",3', "1,2", "3"),
        (3, '"x\n,y",z', "x\n,y", "z"),
    ]
    message = rejected(tmp_path, b'a,b\n"1,2",3\n4,5,6\n"7",8,"9,10"\n' + b"1,2\n" * 3 + b"1\n" * 4)
    assert message == (
        "ragged rows: the header has 2 fields but line 3 has 3 fields; line 4 has 3 fields; "
        "line 8 has 1 field; line 9 has 1 field; line 10 has 1 field (and 1 more rows)"
    )


def test_unterminated_quote_and_header_problems(tmp_path: Path) -> None:
    assert rejected(tmp_path, b'a,b\n1,2\n3,"4\n5,6\n') == "unterminated quoted field in the record starting on line 3"
    assert rejected(tmp_path, b"\n a , b ,a\n") == "header (line 2) repeats column(s): a"
    assert rejected(tmp_path, b"b,c\n1,2\n") == "header (line 1) lacks required column(s): 'a'"


def test_header_only_and_blank_bodies_have_no_rows(tmp_path: Path) -> None:
    for content in (b"a,b\n", b"a,b", b"a,b\r\n\r\n \r\n"):
        src = read(tmp_path, content)
        assert src.frame.height == 0 and src.columns == ["a", "b"]
        assert src.frame.schema == pl.Schema(
            {"a": pl.String(), "b": pl.String(), LINE_NO: pl.Int64(), RECORD: pl.String()}
        )


# ---------------------------------------------------------------------------------------------------
# Amounts: parse_minor_series gives parse_minor's values


def amount_texts() -> list[str | None]:
    rng = random.Random(20261126)
    digits = "0123456789"
    texts: list[str | None] = [None, "", " ", "0", "-0", "00", "1.", ".5", "-.5", "1.5-", "(2.50)", "+3", " 4.25 "]
    texts += ["1,234.56", "1.234,56", "1e3", "12.3x", "\u0661\u0662", "-", "--5", "5.5.5", "0.000", "-0.0001"]
    for int_len, frac_len in itertools.product(range(1, 20), range(0, 6)):
        number = "".join(rng.choice(digits) for _ in range(int_len))
        fraction = "".join(rng.choice(digits) for _ in range(frac_len))
        text = f"{number}.{fraction}" if frac_len else number
        texts += [text, "-" + text, "9" * int_len + ("." + "9" * frac_len if frac_len else "")]
    texts += ["922337203685477.5808", "-922337203685477.5808", "99999999999999.9999", "999999999999999"]
    return texts


CURRENCIES = [
    ["EUR"],
    ["JPY"],
    ["BHD"],
    ["CLF"],
    ["EUR", "GBP"],
    ["EUR", None],
    ["EUR", "XYZ"],
    ["EUR", "JPY", "BHD", "CLF", "", "eur", None],
]


@pytest.mark.parametrize("currencies", CURRENCIES, ids=lambda c: "-".join(str(x) for x in c))
@pytest.mark.parametrize(("decimal", "thousands"), [(".", None), (",", "."), (".", ",")])
@pytest.mark.parametrize("required", [True, False])
def test_parse_minor_series_matches_parse_minor(
    currencies: list[str | None], decimal: str, thousands: str | None, required: bool
) -> None:
    texts = amount_texts()
    frame = pl.DataFrame(
        {"a": [t for t in texts for _ in currencies], "c": [c for _ in texts for c in currencies]},
        schema={"a": pl.String, "c": pl.String},
    )
    minor, error = money.parse_minor(pl.col("a"), pl.col("c"), decimal=decimal, thousands=thousands, required=required)
    expected = frame.select(minor.alias("m"), error.alias("e"))
    [(got_minor, got_error)] = money.parse_minor_series(
        frame, [("a", "c")], decimal=decimal, thousands=thousands, required=required
    )
    assert got_minor.dtype == pl.Int64 and got_error.dtype == pl.String
    got = pl.DataFrame({"m": got_minor, "e": got_error})
    assert got.equals(expected), (
        frame.hstack(expected)
        .hstack(got.rename({"m": "m2", "e": "e2"}))
        .filter(pl.col("m").ne_missing(pl.col("m2")) | pl.col("e").ne_missing(pl.col("e2")))
    )
    assert got_minor.drop_nulls().len() > 0 or set(currencies) <= {None, "", "XYZ", "eur"}


def test_parse_amounts_leaves_amounts_without_currency_alone() -> None:
    frame = pl.DataFrame(
        {"x": ["1.50", "abc", None, "2.5", "7"], "k": ["EUR", None, "EUR", "EUR", "XYZ"]},
        schema={"x": pl.String, "k": pl.String},
    )
    out = csvutil.parse_amounts(frame, {"x": "k"}, CsvOptions())
    assert out["_m:x"].to_list() == [150, None, None, 250, None]
    assert out["_e:x"].to_list() == [None, None, None, None, "amount has no known currency to scale it"]


# ---------------------------------------------------------------------------------------------------
# split_valid and per_distinct


@pytest.mark.parametrize("bad_every", [0, 3, 97])
def test_split_valid_keeps_the_valid_rows_in_order(bad_every: int) -> None:
    n = 10_000
    frame = pl.DataFrame(
        {
            "line_no": range(2, n + 2),
            "v": [i % bad_every if bad_every else 1 for i in range(n)],
            "raw": [f"r{i}" for i in range(n)],
        }
    )
    checks: dict[str, pl.Expr] = {
        "v": pl.when(pl.col("v") == 0).then(pl.lit("v is zero")),
        "line_no": pl.when(pl.col("v") == 0).then(pl.format("line {}", pl.col("line_no"))),
    }
    good, rejects = split_valid(frame, checks, raw=pl.col("raw"), amount=pl.col("v") * 10, currency=pl.lit("EUR"))
    lazy_good, lazy_rejects = split_valid(frame.lazy(), checks, raw=pl.col("raw"), amount=pl.col("v") * 10)
    assert good.equals(frame.filter(pl.col("v") != 0))
    assert lazy_good.collect().equals(good)
    bad = frame.filter(pl.col("v") == 0)["line_no"].to_list()
    assert rejects["line_no"].to_list() == [line for line in bad for _ in range(2)]
    assert rejects["field"].to_list() == ["line_no", "v"] * len(bad)
    assert rejects["raw"].to_list() == [f"r{line - 2}" for line in bad for _ in range(2)]
    assert set(rejects["amount_minor"]) <= {0} and set(rejects["currency"]) <= {"EUR"}
    assert lazy_rejects.drop("currency").equals(rejects.drop("currency"))


def test_per_distinct_matches_evaluating_every_row() -> None:
    frame = pl.DataFrame({"k": ["1", " 2", None, "1", "x", None, " 2"], "j": [1, 2, 3, 1, 1, None, 2]})
    exprs = {"n": pl.col("k").str.strip_chars().cast(pl.Int64, strict=False) * pl.col("j"), "t": pl.col("k").is_null()}
    assert csvutil.per_distinct(frame, ["k", "j"], exprs).equals(frame.with_columns(**exprs))


def test_per_distinct_by_one_key_matches_evaluating_every_row() -> None:
    frame = pl.DataFrame({"k": ["1", " 2", None, "1", "x", None, " 2"]})
    exprs = {"n": pl.col("k").str.strip_chars().cast(pl.Int64, strict=False), "t": pl.col("k").is_null()}
    assert csvutil.per_distinct(frame, ["k"], exprs).equals(frame.with_columns(**exprs))
    nulls = pl.DataFrame({"k": pl.Series([None, None], dtype=pl.String)})
    assert csvutil.per_distinct(nulls, ["k"], exprs).equals(nulls.with_columns(**exprs))


@pytest.mark.parametrize(
    "values",
    [
        ["eur", " EUR", None, "usd", "", "eur"],  # changed, with nulls and a blank
        ["EUR", "USD", "EUR"],  # unchanged: the column itself
        [None, None],
        [f"v{i}" for i in range(5000)],  # too many distinct values: the expression itself
    ],
)
def test_per_value_matches_evaluating_every_row(values: list[str | None]) -> None:
    frame = pl.DataFrame({"c": pl.Series(values, dtype=pl.String)})
    exprs = {
        "upper": pl.col("c").str.strip_chars().str.to_uppercase(),
        "or_default": pl.col("c").str.strip_chars().replace("", None).fill_null("none"),
        "known": pl.col("c").str.strip_chars().is_in(["EUR", "eur"]),
    }
    per_value = csvutil.per_value(frame, exprs)
    expected = frame.select(**exprs)
    assert frame.select(**per_value).equals(expected)
    assert frame.head(1).select(**per_value).equals(expected.head(1))  # on some of the rows too


def test_named_only_reads_the_named_columns_and_checks_every_column(tmp_path: Path) -> None:
    path = tmp_path / "file.csv"
    path.write_bytes(b"a,b,c,d\n1, 2 ,3,4\n5,6,7,8\n")
    src = csvutil.read_csv(path, CsvOptions(), ["a"], ["c", "e"], named_only=True)
    assert src.columns == ["a", "b", "c", "d"]
    assert src.frame.columns == ["a", "c", LINE_NO, RECORD, "e"]
    assert src.frame.select("a", "c", LINE_NO).rows() == [("1", "3", 2), ("5", "7", 3)]
    for content in (b"a,b,c,d\n1,2,3,4\n5,6,7\n", b"a,b,c,d\n1,2,3,4,5\n5,6,7,8\n"):
        path.write_bytes(content)
        with pytest.raises(FileRejected) as named:
            csvutil.read_csv(path, CsvOptions(), ["a"], ["c"], named_only=True)
        with pytest.raises(FileRejected) as every:
            csvutil.read_csv(path, CsvOptions(), ["a"], ["c"])
        assert str(named.value) == str(every.value)
        assert str(named.value).startswith("ragged rows: the header has 4 fields but line ")


def test_field_lengths_and_delimiter_counts_find_the_same_ragged_rows(tmp_path: Path) -> None:
    """Every column read (ragged rows found from the field lengths) or one (delimiters counted): the same."""
    rng = random.Random(5)
    path = tmp_path / "file.csv"
    for _ in range(300):
        lines = ["a,b,c"]
        for _ in range(rng.randint(1, 6)):
            fields = [rng.choice(["", "x", " y ", "zz", "\x00", "é"]) for _ in range(rng.choice([3, 3, 3, 1, 2, 4, 5]))]
            lines.append(rng.choice([",".join(fields), "", "  "]))
        path.write_bytes(("\n".join(lines) + rng.choice(["", "\n"])).encode())
        outcomes: list[object] = []
        for named_only in (False, True):
            try:
                src = csvutil.read_csv(path, CsvOptions(), ["a"], named_only=named_only)
                outcomes.append(src.frame.select("a", LINE_NO, RECORD).rows())
            except FileRejected as exc:
                outcomes.append(str(exc))
        assert outcomes[0] == outcomes[1], lines


def test_naive_timestamps_read_as_the_expression_does() -> None:
    """``naive_timestamps`` (the second format read only where the first did not) gives ``naive_timestamp``."""
    texts = [
        "2026-11-26 06:01:31",
        "2026-11-26T06:01:31",
        " 2026-11-26T23:59:59 ",
        "2026-11-26  06:01:31",
        "2026-11-26T 06:01:31",
        "2026-02-30 00:00:00",
        "2026-11-26",
        "",
        "  ",
        None,
        "26/11/2026 06:01",
    ]
    frame = pl.DataFrame({"t": texts, "u": list(reversed(texts))}, schema={"t": pl.String, "u": pl.String})
    expected = frame.select(
        csvutil.naive_timestamp(pl.col("t")).alias("a"), csvutil.naive_timestamp(pl.col("u")).alias("b")
    )
    got = csvutil.naive_timestamps(frame, {"a": pl.col("t"), "b": pl.col("u")}).select("a", "b")
    assert got.equals(expected, null_equal=True)
    assert got.schema == expected.schema
    assert csvutil.naive_timestamps(frame.head(0), {"a": pl.col("t")})["a"].dtype == expected["a"].dtype
