"""Money: ISO 4217 exponents and exact decimal-string to minor-unit parsing.

Amounts are int64 minor units; a float never touches money. Exponents come from the ``iso4217``
package (ISO 4217 data); currencies without a minor unit (XAU, XDR, ...) are refused.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal

import polars as pl
from iso4217 import Currency

MAX_INTEGER_DIGITS = 15  # keeps amount * 10**3 far inside int64

_UNSIGNED_DECIMAL = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_SIGNED_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_UNICODE_DIGIT = re.compile(r"(?![0-9])\d")  # a Unicode decimal digit other than 0-9 (Arabic-Indic, ...)


@functools.cache
def exponents() -> dict[str, int]:
    """ISO 4217 alphabetic code -> number of minor-unit digits, for currencies that have one."""
    return {c.code: c.exponent for c in Currency if c.exponent is not None}


def exponent(currency: str) -> int:
    try:
        return exponents()[currency]
    except KeyError:
        raise ValueError(f"unknown or non-monetary ISO 4217 currency {currency!r}") from None


def to_minor(amount: str | Decimal, currency: str, *, signed: bool = True) -> int:
    """Exact conversion of a decimal amount to minor units; more decimals than allowed is an error.

    A string is read strictly: ASCII digits ``0-9``, at most one ``.``, and (when ``signed``) at most one
    leading ``+`` or ``-``. ``Decimal`` itself would also take Unicode digits, ``_``, exponents, NaN and
    Infinity; all of them are refused with a ``ValueError`` naming the value.
    """
    if isinstance(amount, str):
        text = amount.strip()
        if _UNICODE_DIGIT.search(text):
            raise ValueError(f"'{amount}' has non-ASCII digits (only 0-9 are accepted)")
        if not signed and text[:1] in ("+", "-"):
            raise ValueError(f"'{amount}' has a sign, but this amount must be unsigned")
        if not (_SIGNED_DECIMAL if signed else _UNSIGNED_DECIMAL).fullmatch(text):
            raise ValueError(f"'{amount}' is not a decimal amount")
        value = Decimal(text)
    else:
        value = amount
        if not value.is_finite():
            raise ValueError(f"'{amount}' is not a decimal amount")
        if not signed and value.is_signed():
            raise ValueError(f"'{amount}' has a sign, but this amount must be unsigned")
    scaled = value.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more decimals than {currency} allows ({exponent(currency)})")
    return int(scaled)


def format_minor(minor: int, currency: str) -> str:
    """Minor units to a plain decimal string, e.g. 123456 EUR -> '1234.56'."""
    e = exponent(currency)
    sign = "-" if minor < 0 else ""
    digits = str(abs(minor)).rjust(e + 1, "0")
    return f"{sign}{digits[:-e]}.{digits[-e:]}" if e else f"{sign}{digits}"


def convert_minor(minor: int, from_currency: str, to_currency: str, rate: Decimal) -> int:
    """Convert minor units with a rate (1 from = rate to), rounding half-even once, at the end."""
    major = Decimal(minor).scaleb(-exponent(from_currency)) * rate
    return int(major.scaleb(exponent(to_currency)).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def currency_error(currency: pl.Expr) -> pl.Expr:
    """Null when the currency is a known ISO 4217 code with a minor unit, otherwise the reason."""
    known = pl.Series(list(exponents()), dtype=pl.String)
    return (
        pl.when(currency.is_null() | (currency == ""))
        .then(pl.lit("currency is missing"))
        .when(~currency.is_in(known.implode()))
        .then(pl.format("unknown ISO 4217 currency '{}'", currency))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def amount_pattern(
    decimal: str = ".", thousands: str | None = None, *, signed: bool = True, accounting: bool = True
) -> str:
    """The (Rust) regular expression of a well-formed amount in the declared convention.

    ASCII digits ``0-9`` only; the ``decimal`` separator at most once; the ``thousands`` separator, when
    declared, only between groups of three digits (or in the Indian grouping 12,34,567); when ``signed``, at
    most one sign (a leading ``+`` or ``-``, or a trailing ``-``); when ``accounting``, a negative may be
    written in balanced parentheses ``(12.50)``, with no sign inside.
    """
    d = re.escape(decimal)
    integer = "[0-9]+"
    if thousands:
        t = re.escape(thousands)
        # groups of three (1,234,567), or the Indian lakh/crore grouping of twos before the last three
        # (12,34,567), as Indian banks and UPI reports print amounts
        integer = f"(?:[0-9]{{1,3}}(?:{t}[0-9]{{3}})+|[0-9]{{1,2}}(?:{t}[0-9]{{2}})+{t}[0-9]{{3}}|[0-9]+)"
    number = f"(?:{integer}(?:{d}[0-9]*)?|{d}[0-9]+)"
    forms = [number]
    if signed:
        forms += [f"[+-]{number}", f"{number}-"]
    if accounting:
        forms.append(f"\\({number}\\)")
    return "^(?:" + "|".join(forms) + ")$"


def parse_minor(
    amount: pl.Expr,
    currency: pl.Expr,
    *,
    decimal: str = ".",
    thousands: str | None = None,
    required: bool = True,
    signed: bool = True,
    accounting: bool = True,
) -> tuple[pl.Expr, pl.Expr]:
    """Vectorised parse of decimal strings to minor units of each row's currency.

    Returns ``(minor, error)``: ``minor`` is Int64 (null where invalid or empty) and ``error`` is a
    String that is null where the value is valid, naming the value and why it is refused. The form is
    ``amount_pattern``: ASCII digits only, the declared decimal and thousands separators (never guessed),
    at most one sign when ``signed`` (a leading sign or a trailing minus; an unsigned amount, such as an
    ISO 20022 ``Amt`` whose direction is given elsewhere, has none), and balanced parentheses for a
    negative only when ``accounting``.
    """
    raw = amount.cast(pl.String)
    s = raw.str.strip_chars()
    well_formed = s.str.contains(amount_pattern(decimal, thousands, signed=signed, accounting=accounting))
    has_parens = s.str.contains(r"[()]")
    signs = s.str.count_matches(r"[+-]")
    body = s.str.strip_chars("+-()")
    if thousands:
        body = body.str.replace_all(thousands, "", literal=True)
    if decimal != ".":
        body = body.str.replace_all(decimal, ".", literal=True)
    negative = s.str.starts_with("-") | s.str.ends_with("-") | s.str.starts_with("(")
    dot = body.str.find(".", literal=True).cast(pl.Int64)
    length = body.str.len_bytes().cast(pl.Int64)
    frac_len = pl.when(dot.is_null()).then(pl.lit(0, pl.Int64)).otherwise(length - dot - 1)
    int_len = pl.coalesce(dot, length)
    digits = body.str.replace(".", "", literal=True).cast(pl.Int64, strict=False)
    exp = currency.replace_strict(exponents(), default=None, return_dtype=pl.Int64)
    magnitude = digits * pl.lit(10, pl.Int64).pow(exp - frac_len)
    empty = amount.is_null() | (s == "")
    refused = (
        pl.when(s.str.contains(r"[\p{Nd}&&[^0-9]]"))
        .then(pl.format("'{}' has non-ASCII digits (only 0-9 are accepted)", raw))
        .when(signs > 1)
        .then(pl.format("'{}' has more than one sign", raw))
    )
    if not signed:
        refused = refused.when(signs > 0).then(pl.format("'{}' has a sign, but this amount must be unsigned", raw))
    if accounting:
        refused = (
            refused.when(has_parens & (signs > 0))
            .then(pl.format("'{}' has a sign with parentheses (a negative in parentheses has no sign)", raw))
            .when(has_parens & ~s.str.contains(r"^\([^()]*\)$"))
            .then(pl.format("'{}' has unbalanced parentheses", raw))
        )
    else:
        refused = refused.when(has_parens).then(
            pl.format("'{}' is in parentheses, but this amount does not accept accounting negatives", raw)
        )
    error = (
        pl.when(empty)
        .then(pl.lit("amount is missing") if required else pl.lit(None, dtype=pl.String))
        .when(~well_formed)
        .then(refused.otherwise(pl.format("'{}' is not a decimal amount", raw)))
        .when(exp.is_null())
        .then(pl.lit("amount has no known currency to scale it"))
        .when(int_len > MAX_INTEGER_DIGITS)
        .then(pl.format("'{}' is too large", raw))
        .when(frac_len > exp)
        .then(pl.format("'{}' has more decimals than the currency allows", raw))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    minor = (
        pl.when(error.is_null() & ~empty)
        .then(pl.when(negative).then(-magnitude).otherwise(magnitude))
        .otherwise(pl.lit(None, pl.Int64))
    )
    return minor, error


# At most this many digits in a plain amount (see ``parse_minor_series``): its minor units fit in int64.
_MAX_PLAIN_DIGITS = 18


def _plain_minor(
    text: pl.Expr, currency: pl.Expr, currencies: pl.Series, *, signed: bool = True
) -> tuple[pl.Expr, pl.Expr]:
    """``(plain, minor)``: whether ``text`` is a plain amount in ``currency``, and its minor units if so.

    A plain amount is an optional minus (when ``signed``) and ASCII digits with no more decimals than the
    currency allows, at most ``MAX_INTEGER_DIGITS`` before the point and 18 in all, so ``parse_minor``
    accepts it and scales it without overflow. ``currencies`` are the distinct currencies of the rows.
    """
    minus = "-?" if signed else ""
    known = {c: e for c in currencies.drop_nulls().to_list() if (e := exponents().get(c)) is not None}
    if len(set(known.values())) == 1:
        # one exponent: the pattern checks the decimals, the text is read exactly as a decimal of that scale
        exponent = next(iter(known.values()))
        decimals = f"(?:\\.[0-9]{{1,{exponent}}})?" if exponent else ""
        integer = min(MAX_INTEGER_DIGITS, _MAX_PLAIN_DIGITS - exponent)
        pattern = f"^{minus}[0-9]{{1,{integer}}}{decimals}$"
        plain = currency.is_in(list(known)) & text.str.contains(pattern)
        minor = text.cast(pl.Decimal(_MAX_PLAIN_DIGITS, exponent), strict=False).to_physical().cast(pl.Int64)
        return plain.fill_null(False), minor
    # several exponents: each currency's amounts checked by the pattern of its exponent, every text read exactly
    # as a decimal of the largest scale and divided down to its currency's (exact: it has no more decimals)
    by_exponent: dict[int, list[str]] = {}
    for code, e in known.items():
        by_exponent.setdefault(e, []).append(code)
    top = max(by_exponent, default=0)
    integer = min(MAX_INTEGER_DIGITS, _MAX_PLAIN_DIGITS - top)
    plain = pl.lit(False)
    divisor = pl.lit(None, pl.Int64)
    for e, codes in sorted(by_exponent.items()):
        ours = currency.is_in(codes)
        decimals = f"(?:\\.[0-9]{{1,{e}}})?" if e else ""
        plain = plain | (ours & text.str.contains(f"^{minus}[0-9]{{1,{integer}}}{decimals}$"))
        divisor = pl.when(ours).then(pl.lit(10 ** (top - e), pl.Int64)).otherwise(divisor)
    minor = text.cast(pl.Decimal(_MAX_PLAIN_DIGITS, top), strict=False).to_physical().cast(pl.Int64) // divisor
    return plain.fill_null(False), minor


def parse_minor_series(
    frame: pl.DataFrame,
    pairs: Sequence[tuple[str, str]],
    *,
    decimal: str = ".",
    thousands: str | None = None,
    required: bool = True,
    signed: bool = True,
    accounting: bool = True,
) -> list[tuple[pl.Series, pl.Series]]:
    """``parse_minor`` of each (amount column, currency column) of ``frame``: ``(minor, error)`` Series.

    The same values as ``parse_minor``, computed faster on large frames: plain amounts (``-1234.56``
    with no more decimals than the currency allows) are scaled with a few vectorised operations, and
    null amounts need no parsing; the full parse runs once per distinct (text, currency) pair of the
    remaining rows only, and its results are put back in their places.
    """
    exprs: list[pl.Expr] = []
    distinct: dict[str, pl.Series] = {}  # the currencies of each currency column (several amounts share one)
    for i, (amount, currency) in enumerate(pairs):
        text = pl.col(amount).cast(pl.String)
        missing = pl.lit("amount is missing") if required else pl.lit(None, pl.String)
        exprs.append(pl.when(text.is_null()).then(missing).otherwise(pl.lit(None, pl.String)).alias(f"e{i}"))
        if decimal == "." and not thousands:
            if currency not in distinct:
                distinct[currency] = frame[currency].unique()
            plain, scaled = _plain_minor(text, pl.col(currency), distinct[currency], signed=signed)
            exprs += [(text.is_null() | plain).alias(f"f{i}"), scaled.alias(f"m{i}")]
        else:
            exprs += [text.is_null().alias(f"f{i}"), pl.lit(None, pl.Int64).alias(f"m{i}")]
    fast = frame.lazy().select(exprs).collect()
    results: list[tuple[pl.Series, pl.Series]] = []
    for i, (amount, currency) in enumerate(pairs):
        minor, error = fast[f"m{i}"], fast[f"e{i}"]
        slow = (~fast[f"f{i}"]).arg_true()
        if slow.len():
            # (the two columns' values at those rows only: a ``select`` would first align the chunks of the columns)
            rows = pl.DataFrame([frame[amount].gather(slow).alias("_t"), frame[currency].gather(slow).alias("_k")])
            parsed_minor, parsed_error = parse_minor(
                pl.col("_t"),
                pl.col("_k"),
                decimal=decimal,
                thousands=thousands,
                required=required,
                signed=signed,
                accounting=accounting,
            )
            parsed = rows.unique().with_columns(parsed_minor.alias("_m"), parsed_error.alias("_e"))
            looked_up = (
                rows.with_row_index("_row").join(parsed, on=["_t", "_k"], how="left", nulls_equal=True).sort("_row")
            )
            minor = minor.scatter(slow, looked_up["_m"])
            error = error.scatter(slow, looked_up["_e"])
        results.append((minor.alias(f"{amount}:minor"), error.alias(f"{amount}:error")))
    return results
