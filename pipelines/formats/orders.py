"""Internal order extract, CSV (``orders_csv``) and Parquet (``orders_parquet``), to ``orders``.

Column documentation: the order system's extract contract, ``order_id, psp_channel, psp_reference,
merchant_account, status, amount, currency, created_at`` (amount in major units as decimal text,
created_at ISO 8601 in UTC), and optionally ``direction`` (``payin`` or ``withdrawal``, case-insensitive;
absent or empty: ``payin``), ``payment_method`` (lower-cased), ``country`` (ISO 3166-1 alpha-2,
upper-cased) and ``status_at`` (ISO 8601, when the order reached its status). Extracts of the older contract
(without these columns) keep working with those defaults. The Parquet variant carries the same columns and
may give the amount as ``amount_minor`` (int64 minor units) instead. A CSV extract with other headers is read
through the channel's ``csv.columns`` mapping (``CSV_COLUMNS``); its rejects then name the file's headers.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipelines.core import money
from pipelines.formats import csvutil
from pipelines.formats.base import (
    FileRejected,
    ParseContext,
    ParseResult,
    RowCheck,
    business_date,
    check,
    currency_check,
    finish,
    required_check,
    split_valid,
)
from pipelines.formats.csvutil import is_blank

TABLE = "orders"
STATUSES = ("succeeded", "refunded", "failed", "expired", "pending")
DIRECTIONS = ("payin", "withdrawal")
TEXT_COLUMNS = (
    "order_id",
    "psp_channel",
    "psp_reference",
    "merchant_account",
    "status",
    "currency",
    "direction",
    "payment_method",
    "country",
)
REQUIRED_COLUMNS = ("order_id", "psp_channel", "status", "amount", "currency", "created_at")
OPTIONAL_COLUMNS = ("psp_reference", "merchant_account", "direction", "payment_method", "country", "status_at")
# format -> the columns its channel's ``csv.columns`` may map to other headers
CSV_COLUMNS = {"orders_csv": (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)}
_RAW = "_record"
_GIVEN_MINOR = "_amount_minor"


def parse(path: Path, ctx: ParseContext) -> ParseResult:
    opts = ctx.channel.csv
    src = csvutil.read_csv(path, opts, REQUIRED_COLUMNS, OPTIONAL_COLUMNS, named_only=True)
    frame = src.frame.lazy().with_columns(
        pl.col("created_at").pipe(csvutil.iso_utc).alias("_created"),
        pl.col("status_at").pipe(csvutil.iso_utc).alias("_status_at"),
        pl.lit(None, pl.Int64).alias(_GIVEN_MINOR),
    )
    return _canonical(
        frame,
        ctx,
        decimal=opts.decimal,
        thousands=opts.thousands,
        labels=src.labels,
        record_checks=csvutil.record_checks(src),
    )


def parse_parquet(path: Path, ctx: ParseContext) -> ParseResult:
    try:
        raw = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise FileRejected(f"not readable as Parquet: {exc}") from None
    missing = [c for c in REQUIRED_COLUMNS if c != "amount" and c not in raw.columns]
    if "amount" not in raw.columns and "amount_minor" not in raw.columns:
        missing.append("amount or amount_minor")
    if missing:
        raise FileRejected(f"Parquet file lacks required column(s): {', '.join(missing)}")
    schema = raw.schema
    for name in ("amount", "amount_minor"):
        if name in schema and schema[name].is_float():
            raise FileRejected(f"column {name!r} is floating point ({schema[name]}); money must be exact")
    if "amount_minor" in schema and not schema["amount_minor"].is_integer():
        raise FileRejected(f"column 'amount_minor' must be an integer column, not {schema['amount_minor']}")
    amount = pl.lit(None, pl.String)
    if "amount" in schema:
        amount = pl.col("amount").cast(pl.String)
        dtype = schema["amount"]
        if isinstance(dtype, pl.Decimal) and (dtype.scale or 0) > 0:
            amount = amount.str.replace(r"0+$", "").str.strip_suffix(".")
    created, created_text = _instant(raw, "created_at")
    status_at, status_at_text = _instant(raw, "status_at")
    frame = raw.with_row_index("line_no", offset=1).select(
        pl.col("line_no").cast(pl.Int64),
        *[(pl.col(c).cast(pl.String) if c in schema else pl.lit(None, pl.String)).alias(c) for c in TEXT_COLUMNS],
        amount.alias("amount"),
        (pl.col("amount_minor").cast(pl.Int64) if "amount_minor" in schema else pl.lit(None, pl.Int64)).alias(
            _GIVEN_MINOR
        ),
        created_text.alias("created_at"),
        created.alias("_created"),
        status_at_text.alias("status_at"),
        status_at.alias("_status_at"),
        pl.struct(pl.all()).struct.json_encode().alias(_RAW),
    )
    return _canonical(frame, ctx, decimal=".", thousands=None)


def _instant(raw: pl.DataFrame, column: str) -> tuple[pl.Expr, pl.Expr]:
    """A Parquet column of instants (a timestamp, or ISO 8601 text) as UTC, and as text for the rejects; an
    absent column is null."""
    if column not in raw.schema:
        return pl.lit(None, pl.Datetime("us", "UTC")), pl.lit(None, pl.String)
    dtype = raw.schema[column]
    if isinstance(dtype, pl.Datetime):
        value = pl.col(column)
        value = value.dt.convert_time_zone("UTC") if dtype.time_zone else value.dt.replace_time_zone("UTC")
        return value.cast(pl.Datetime("us", "UTC")), pl.col(column).cast(pl.String)
    if dtype == pl.String:
        return csvutil.iso_utc(pl.col(column)), pl.col(column)
    raise FileRejected(f"column {column!r} must be a timestamp or ISO 8601 text, not {dtype}")


def _parse_amounts(frame: pl.DataFrame, *, decimal: str, thousands: str | None) -> pl.DataFrame:
    """Add ``_parsed`` and ``_parse_error``: ``money.parse_minor`` of the amount text in the row's currency."""
    [(parsed, parse_error)] = money.parse_minor_series(
        frame, [("amount", "currency")], decimal=decimal, thousands=thousands, required=True
    )
    return frame.hstack([parsed.alias("_parsed"), parse_error.alias("_parse_error")])


def _canonical(
    frame: pl.DataFrame | pl.LazyFrame,
    ctx: ParseContext,
    *,
    decimal: str,
    thousands: str | None,
    labels: dict[str, str] | None = None,
    record_checks: dict[str, RowCheck] | None = None,
) -> ParseResult:
    """Validate and map the text columns (plus ``_created`` and ``_amount_minor``) to ``orders``.

    ``labels`` gives the header in the file of each mapped column: the rejects name it. ``record_checks``
    replaces ``split_valid``'s check of the record text (``csvutil.record_checks``).
    """
    ch = ctx.channel
    labels = labels or {}

    def name(column: str) -> str:
        return labels.get(column, column)

    def blank_as_null(expr: pl.Expr) -> pl.Expr:
        return expr.replace("", None)  # (``expr`` evaluated once, where ``when/then`` would evaluate it twice)

    # codes, statuses, methods, channels and accounts: each distinct text normalised once
    normal = {
        "currency": pl.col("currency").str.strip_chars().str.to_uppercase(),
        "status": pl.col("status").str.strip_chars().str.to_lowercase(),
        "direction": blank_as_null(pl.col("direction").str.strip_chars().str.to_lowercase()).fill_null("payin"),
        "payment_method": blank_as_null(pl.col("payment_method").str.strip_chars().str.to_lowercase()),
        "country": blank_as_null(pl.col("country").str.strip_chars().str.to_uppercase()),
    }
    coded = csvutil.per_value(
        frame,
        {
            **normal,
            "psp_channel": pl.col("psp_channel").str.strip_chars(),
            "merchant_account": csvutil.optional("merchant_account"),
        },
    )
    normalised = frame.lazy().with_columns(
        *[coded[column].alias(column) for column in normal],
        blank_as_null(pl.col("status_at").str.strip_chars()),
    )
    parsed_frame = _parse_amounts(normalised.collect(), decimal=decimal, thousands=thousands)
    rows_in = parsed_frame.height
    given = pl.col(_GIVEN_MINOR)
    parsed, parse_error = pl.col("_parsed"), pl.col("_parse_error")
    lazy = parsed_frame.lazy().with_columns(
        pl.when(given.is_not_null()).then(given).otherwise(parsed).alias("amount_minor"),
        # the rows where the amount text and ``amount_minor`` are both given and disagree
        (given.is_not_null() & parsed.is_not_null() & (parsed != given)).fill_null(False).alias("_disagrees"),
    )
    amount_error = (  # (its text is only built on the rows it rejects: see ``amount``)
        pl.when(given.is_null())
        .then(parse_error)
        .when(pl.col("_disagrees"))
        .then(pl.format("amount '{}' disagrees with amount_minor {}", pl.col("amount"), given))
        .otherwise(pl.lit(None, pl.String))
    )
    cur = pl.col("currency")
    currency = currency_check(cur)
    amount = check(
        (currency.suspect, pl.lit(None, pl.String)),
        ((given.is_null() & parse_error.is_not_null()) | pl.col("_disagrees"), amount_error),
        (
            pl.col("amount_minor") < 0,
            pl.format(
                "{} must not be negative ({})",
                pl.lit(name("amount")),
                pl.col("amount").fill_null(pl.col("amount_minor").cast(pl.String)),
            ),
        ),
    )
    created = check(
        (is_blank("created_at"), f"{name('created_at')} is missing"),
        (
            pl.col("_created").is_null(),
            pl.format("'{}' is not an ISO 8601 timestamp with Z or a UTC offset", pl.col("created_at")),
        ),
    )
    # a blank text is no instant: the rows without an instant are the suspects (no blank test on every row)
    created = RowCheck(suspect=pl.col("_created").is_null(), reason=created.reason)
    status = check(
        (pl.col("status").is_null() | (pl.col("status") == ""), f"{name('status')} is missing"),
        (
            ~pl.col("status").is_in(list(STATUSES)),
            pl.format(
                "unknown {} '{}' (expected one of {})",
                pl.lit(name("status")),
                pl.col("status"),
                pl.lit(", ".join(STATUSES)),
            ),
        ),
    )
    direction = check(
        (
            ~pl.col("direction").is_in(list(DIRECTIONS)),
            pl.format("unknown {} '{}' (expected payin or withdrawal)", pl.lit(name("direction")), pl.col("direction")),
        )
    )
    country = check(
        (
            pl.col("country").is_not_null() & ~pl.col("country").str.contains(r"^[A-Z]{2}$"),
            pl.format("{} '{}' is not an ISO 3166-1 alpha-2 code", pl.lit(name("country")), pl.col("country")),
        )
    )
    status_at = check(
        (
            pl.col("status_at").is_not_null() & pl.col("_status_at").is_null(),
            pl.format("'{}' is not an ISO 8601 timestamp with Z or a UTC offset", pl.col("status_at")),
        )
    )

    def as_header(rule: RowCheck, word: str, column: str) -> RowCheck:
        return RowCheck(rule.suspect, csvutil.missing_as_header(rule.reason, word, column, labels))

    checks: dict[str, pl.Expr | RowCheck] = {
        name("order_id"): required_check(pl.col("order_id"), name("order_id")),
        name("psp_channel"): required_check(pl.col("psp_channel"), name("psp_channel")),
        name("status"): status,
        name("amount"): as_header(amount, "amount", "amount"),
        name("currency"): as_header(currency, "currency", "currency"),
        name("created_at"): created,
        name("direction"): direction,
        name("country"): country,
        name("status_at"): status_at,
        **(record_checks or {}),
    }
    good, rejects = split_valid(
        lazy, checks, raw=pl.col(_RAW), amount=pl.col("amount_minor"), currency=pl.col("currency")
    )
    good = good.with_columns(
        pl.col("order_id").str.strip_chars(),
        coded["psp_channel"].alias("psp_channel"),
        csvutil.optional("psp_reference").alias("psp_reference"),
        coded["merchant_account"].alias("merchant_account"),
        pl.col("_created").alias("created_at"),
        pl.col("_status_at").alias("status_at"),
        business_date(pl.col("_created"), ch.timezone, ch.cutoff).alias("business_date"),
    )
    return finish(TABLE, good, rejects, ctx, rows_in)
