"""Amount parsing: only the declared sign convention, ASCII digits and the declared separators are read.

Every refusal is a reason naming the value (the format parsers turn it into a row reject naming the field).
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.core import money

ARABIC_INDIC = "٠١٢٣٤٥٦٧٨٩"  # U+0660..U+0669
OTHER_DIGITS = ARABIC_INDIC + "۰۱۲۳۴۵۶۷۸۹" + "०१२३४५६७८९" + "０１２３４５６７８９"  # Persian, Devanagari, fullwidth


def parse(
    texts: list[str | None],
    currency: str = "EUR",
    *,
    decimal: str = ".",
    thousands: str | None = None,
    signed: bool = True,
    accounting: bool = True,
) -> list[tuple[int | None, str | None]]:
    """``parse_minor`` of ``texts``, checked to agree with ``parse_minor_series`` (its fast path)."""
    frame = pl.DataFrame({"a": texts, "c": [currency] * len(texts)}, schema={"a": pl.String, "c": pl.String})
    options = {"decimal": decimal, "thousands": thousands, "signed": signed, "accounting": accounting}
    minor, error = money.parse_minor(pl.col("a"), pl.col("c"), **options)  # type: ignore[arg-type]
    expr = frame.select(minor.alias("m"), error.alias("e"))
    [(series_minor, series_error)] = money.parse_minor_series(frame, [("a", "c")], **options)  # type: ignore[arg-type]
    assert series_minor.to_list() == expr["m"].to_list()
    assert series_error.to_list() == expr["e"].to_list()
    return list(zip(expr["m"].to_list(), expr["e"].to_list(), strict=True))


def accepted(text: str, **options: object) -> int:
    [(minor, error)] = parse([text], **options)  # type: ignore[arg-type]
    assert error is None, error
    assert minor is not None
    return minor


def refused(text: str, **options: object) -> str:
    [(minor, error)] = parse([text], **options)  # type: ignore[arg-type]
    assert minor is None
    assert error is not None
    assert f"'{text}'" in error  # the reason names the value as written
    return error


# ---------------------------------------------------------------------------------------------------
# Good forms


@pytest.mark.parametrize(
    ("text", "options", "minor"),
    [
        ("12.50", {}, 1250),
        ("-12.50", {}, -1250),
        ("+12.50", {}, 1250),
        ("12.50-", {}, -1250),
        (" 12.50 ", {}, 1250),
        ("(12.50)", {}, -1250),
        ("12.50", {"signed": False, "accounting": False}, 1250),
        ("1,234.56", {"thousands": ","}, 123456),
        ("-1,234,567.89", {"thousands": ","}, -123456789),
        ("1234.56", {"thousands": ","}, 123456),
        ("1,23,456.00", {"currency": "INR", "thousands": ","}, 12345600),  # Indian lakh grouping
        ("-12,34,56,789.50", {"currency": "INR", "thousands": ","}, -12345678950),
        ("1.234,56", {"decimal": ",", "thousands": "."}, 123456),
        ("(1.234,56)", {"decimal": ",", "thousands": "."}, -123456),
        ("14755,25", {"decimal": ",", "signed": False, "accounting": False}, 1475525),
        ("1 234,56", {"decimal": ",", "thousands": " "}, 123456),
        ("1500", {"currency": "JPY"}, 1500),
        ("-1,500", {"currency": "JPY", "thousands": ","}, -1500),
        ("12.345", {"currency": "BHD"}, 12345),
        ("(1,012.345)", {"currency": "BHD", "thousands": ","}, -1012345),
        ("12.3", {"currency": "BHD"}, 12300),
        (".5", {}, 50),
        ("1.", {}, 100),
    ],
)
def test_good_forms_are_accepted(text: str, options: dict[str, object], minor: int) -> None:
    assert accepted(text, **options) == minor


# ---------------------------------------------------------------------------------------------------
# Bad forms, each refused with a reason naming the value


@pytest.mark.parametrize(
    ("text", "options", "reason"),
    [
        ("+-12.50", {}, "has more than one sign"),
        ("-+12.50", {}, "has more than one sign"),
        ("--12.50", {}, "has more than one sign"),
        ("-12.50-", {}, "has more than one sign"),
        ("(12.50", {}, "has unbalanced parentheses"),
        ("12.50)", {}, "has unbalanced parentheses"),
        ("((12.50))", {}, "has unbalanced parentheses"),
        ("(-12.50)", {}, "has a sign with parentheses"),
        ("(12.50-)", {}, "has a sign with parentheses"),
        ("-(12.50)", {}, "has a sign with parentheses"),
        ("(12.50)", {"accounting": False}, "does not accept accounting negatives"),
        ("-12.50", {"signed": False}, "must be unsigned"),
        ("+12.50", {"signed": False}, "must be unsigned"),
        ("12.50-", {"signed": False}, "must be unsigned"),
        ("+-14755.25", {"signed": False, "accounting": False}, "has more than one sign"),
        ("١٢.٥٠", {}, "has non-ASCII digits"),
        ("1٢.50", {}, "has non-ASCII digits"),
        ("-١٢.50", {}, "has non-ASCII digits"),
        ("１２.50", {}, "has non-ASCII digits"),
        ("१२.50", {"signed": False, "accounting": False}, "has non-ASCII digits"),
        ("1,234.56", {}, "is not a decimal amount"),  # thousands not declared
        ("1,23.45", {"thousands": ","}, "is not a decimal amount"),  # groups of three (or 2s before the last 3)
        ("12,345,67.00", {"thousands": ","}, "is not a decimal amount"),
        ("1,234,5.00", {"thousands": ","}, "is not a decimal amount"),
        ("1.234.56", {"thousands": ","}, "is not a decimal amount"),
        ("12.50", {"decimal": ",", "thousands": " "}, "is not a decimal amount"),  # '.' is not declared
        ("12,50", {}, "is not a decimal amount"),
        ("1e3", {}, "is not a decimal amount"),
        ("12_50", {}, "is not a decimal amount"),
        ("- 12.50", {}, "is not a decimal amount"),
        ("-", {}, "is not a decimal amount"),
        ("()", {}, "is not a decimal amount"),
        ("12.5.0", {}, "is not a decimal amount"),
        ("12.505", {}, "has more decimals than the currency allows"),
        ("1.5", {"currency": "JPY"}, "has more decimals than the currency allows"),
        ("1.2345", {"currency": "BHD"}, "has more decimals than the currency allows"),
    ],
)
def test_bad_forms_are_refused_naming_the_value(text: str, options: dict[str, object], reason: str) -> None:
    assert reason in refused(text, **options)


def test_missing_amount() -> None:
    assert parse([None, "", "  "]) == [(None, "amount is missing")] * 3
    assert parse([None, ""], signed=False, accounting=False) == [(None, "amount is missing")] * 2


# ---------------------------------------------------------------------------------------------------
# Properties

CURRENCIES = {0: "JPY", 2: "EUR", 3: "BHD"}
CONVENTIONS = [  # (decimal, thousands)
    (".", None),
    (".", ","),
    (",", "."),
    (",", None),
    (",", " "),
]


def render(minor: int, exponent: int, decimal: str, thousands: str | None) -> str:
    """``abs(minor)`` written in a convention, with thousands grouped by three when declared."""
    digits = str(abs(minor)).rjust(exponent + 1, "0")
    integer, fraction = (digits[:-exponent], digits[-exponent:]) if exponent else (digits, "")
    if thousands:
        groups: list[str] = []
        while len(integer) > 3:
            integer, group = integer[:-3], integer[-3:]
            groups.insert(0, group)
        integer = thousands.join([integer, *groups])
    return integer + (decimal + fraction if fraction else "")


Case = tuple[int, str, dict[str, object]]  # minor units, the amount as written, the parse options


@st.composite
def written(draw: st.DrawFn) -> Case:
    """A non-negative amount written well in a random currency exponent and separator convention."""
    minor = draw(st.integers(min_value=0, max_value=10**14))
    exponent = draw(st.sampled_from(sorted(CURRENCIES)))
    decimal, thousands = draw(st.sampled_from(CONVENTIONS))
    options: dict[str, object] = {"currency": CURRENCIES[exponent], "decimal": decimal, "thousands": thousands}
    return minor, render(minor, exponent, decimal, thousands), options


@settings(max_examples=200, deadline=None)
@given(written())
def test_every_well_formed_amount_reads_back_exactly(case: Case) -> None:
    minor, body, opts = case
    assert accepted(body, **opts) == minor
    assert accepted(body, signed=False, accounting=False, **opts) == minor
    assert accepted("-" + body, **opts) == -minor
    assert accepted("+" + body, **opts) == minor
    assert accepted(body + "-", **opts) == -minor
    assert accepted(f"({body})", **opts) == -minor


@settings(max_examples=200, deadline=None)
@given(
    written(),
    st.sampled_from(["+-{}", "-+{}", "--{}", "++{}", "-{}-", "({}", "{})", "(-{})", "(+{})", "({}-)", "-({})"]),
    st.booleans(),
    st.booleans(),
)
def test_every_malformed_sign_or_parenthesis_is_refused(case: Case, form: str, signed: bool, accounting: bool) -> None:
    _, body, opts = case
    refused(form.format(body), signed=signed, accounting=accounting, **opts)


@settings(max_examples=200, deadline=None)
@given(written(), st.data())
def test_any_non_ascii_digit_is_refused(case: Case, data: st.DataObject) -> None:
    _, text, opts = case
    positions = [i for i, ch in enumerate(text) if ch.isascii() and ch.isdigit()]
    i = data.draw(st.sampled_from(positions))
    foreign = data.draw(st.sampled_from(OTHER_DIGITS))
    text = text[:i] + foreign + text[i + 1 :]
    assert "has non-ASCII digits" in refused(text, **opts)
    assert "has non-ASCII digits" in refused(text, signed=False, accounting=False, **opts)


@settings(max_examples=100, deadline=None)
@given(written())
def test_unsigned_amounts_refuse_any_sign_or_parentheses(case: Case) -> None:
    _, body, opts = case
    for text in ("-" + body, "+" + body, body + "-"):
        assert "must be unsigned" in refused(text, signed=False, accounting=False, **opts)
    assert "accounting negatives" in refused(f"({body})", signed=False, accounting=False, **opts)


@st.composite
def mixed_rows(draw: st.DrawFn) -> list[tuple[str | None, str | None]]:
    """(amount text, currency) rows of several currencies and exponents at once (0, 2, 3, 4 decimals, an
    unknown and a missing currency): plain amounts at the edges of the digit limits, and texts that are not."""
    digits = st.text(alphabet="0123456789", min_size=1, max_size=19)
    plain = st.builds(
        lambda sign, whole, frac: f"{sign}{whole}{'.' + frac if frac is not None else ''}",
        st.sampled_from(["", "-"]),
        digits,
        st.none() | st.text(alphabet="0123456789", min_size=0, max_size=5),
    )
    other = st.sampled_from(["", " ", "1,5", "+1", "(2.50)", "1.2.3", "abc", "١٢", " 12.50 ", "12-", "1e3"])
    currency = st.sampled_from(["JPY", "EUR", "BHD", "CLF", "XXX", "XAU", None])
    text = st.none() | plain | other
    return draw(st.lists(st.tuples(text, currency), min_size=1, max_size=30))


@settings(max_examples=300, deadline=None)
@given(mixed_rows())
def test_series_of_several_exponents_agree_with_parse_minor(rows: list[tuple[str | None, str | None]]) -> None:
    frame = pl.DataFrame(rows, schema={"a": pl.String, "c": pl.String}, orient="row")
    minor, error = money.parse_minor(pl.col("a"), pl.col("c"))
    expected = frame.select(minor.alias("m"), error.alias("e"))
    [(series_minor, series_error)] = money.parse_minor_series(frame, [("a", "c")])
    assert series_minor.to_list() == expected["m"].to_list()
    assert series_error.to_list() == expected["e"].to_list()
    [(unsigned_minor, _)] = money.parse_minor_series(frame, [("a", "c")], signed=False, accounting=False)
    unsigned, _ = money.parse_minor(pl.col("a"), pl.col("c"), signed=False, accounting=False)
    assert unsigned_minor.to_list() == frame.select(unsigned)["a"].to_list()


# ---------------------------------------------------------------------------------------------------
# to_minor (single values: ISO 20022 amounts, MT940 balances)


@pytest.mark.parametrize(
    ("text", "currency", "signed", "minor"),
    [
        ("12.50", "EUR", True, 1250),
        ("-12.50", "EUR", True, -1250),
        ("+12.50", "EUR", True, 1250),
        ("14755.25", "EUR", False, 1475525),
        ("1500", "JPY", False, 1500),
        ("1.234", "BHD", False, 1234),
        (" 7 ", "EUR", False, 700),
    ],
)
def test_to_minor_accepts(text: str, currency: str, signed: bool, minor: int) -> None:
    assert money.to_minor(text, currency, signed=signed) == minor


@pytest.mark.parametrize(
    ("text", "signed", "reason"),
    [
        ("+-14755.25", False, "has a sign, but this amount must be unsigned"),
        ("-14755.25", False, "has a sign, but this amount must be unsigned"),
        ("+14755.25", False, "has a sign, but this amount must be unsigned"),
        ("+-14755.25", True, "is not a decimal amount"),
        ("-+12.50", True, "is not a decimal amount"),
        ("١٤٧٥٥.٢٥", False, "has non-ASCII digits"),
        ("١٤٧٥٥.25", True, "has non-ASCII digits"),
        ("1_000", True, "is not a decimal amount"),
        ("1e3", True, "is not a decimal amount"),
        ("NaN", True, "is not a decimal amount"),
        ("Infinity", True, "is not a decimal amount"),
        ("(12.50)", True, "is not a decimal amount"),
        ("12.50-", True, "is not a decimal amount"),
    ],
)
def test_to_minor_refuses_naming_the_value(text: str, signed: bool, reason: str) -> None:
    with pytest.raises(ValueError, match="^'") as info:
        money.to_minor(text, "EUR", signed=signed)
    assert f"'{text}'" in str(info.value) and reason in str(info.value)


def test_to_minor_decimal_input() -> None:
    assert money.to_minor(Decimal("-1.5"), "EUR") == -150
    with pytest.raises(ValueError, match="must be unsigned"):
        money.to_minor(Decimal("-1.5"), "EUR", signed=False)
    with pytest.raises(ValueError, match="not a decimal amount"):
        money.to_minor(Decimal("NaN"), "EUR")
    with pytest.raises(ValueError, match="more decimals"):
        money.to_minor("1.005", "EUR")
