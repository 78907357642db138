"""The orders file of a day and the payment lines the PSPs settle for its orders (before their own layout)."""

from __future__ import annotations

import numpy as np
import polars as pl

from samplegen.columns import Day, Numbers, draw_amounts, fmt_amount_by_currency, timestamp, tokens
from samplegen.plan import (
    ADYEN,
    BAD_ADYEN_GROSS_MINOR,
    BAD_AMOUNT,
    BAD_ID,
    BAD_ORDER_AMOUNT,
    CURRENCIES,
    EXPIRED,
    FAILED,
    MERCHANT_ACCOUNT,
    MIX,
    NO_SETTLEMENT,
    ORDER_METHODS,
    ORDERS_HEADER,
    PAYIN_COUNTRY,
    PLANTED_LINES,
    PLANTED_ORDERS,
    PSP_CHANNELS,
    ROLE_TAGS,
    SEPA_COUNTRIES,
    SETTLED,
    SETTLING_ROLES,
    STATUSES,
    STRIPE,
    STRIPE_ACCOUNT,
    SUCCEEDED,
)


def _order_ids(day: Day, seq: pl.Expr) -> pl.Expr:
    return pl.concat_str([pl.lit(f"ORD-{day.compact}-"), seq.cast(pl.String).str.zfill(7)])


# --- Orders ---------------------------------------------------------------------------------------


def draw_orders(
    rng: np.random.Generator, day: Day, n: int, plant: bool, adyen_refs: Numbers, id_offset: int = 0
) -> pl.DataFrame:
    """``n`` pay-in orders, ``seq`` 1 to ``n`` (their line in the file, less one); their ids count on from
    ``id_offset`` (the orders of the shards before this one)."""
    counts = [n * share // 1000 for _, _, share in MIX]
    counts[0] += n - sum(counts)
    combo = rng.permutation(np.repeat(np.arange(len(MIX)), counts))
    psp = np.array([m[0] for m in MIX], dtype=np.int8)[combo]
    cur = np.array([m[1] for m in MIX], dtype=np.int8)[combo]
    draw = rng.integers(0, 1000, size=n)
    status = np.where(draw < 930, SUCCEEDED, np.where(draw < 980, FAILED, EXPIRED)).astype(np.int8)
    role = np.where(status == SUCCEEDED, SETTLED, NO_SETTLEMENT).astype(np.int8)
    line_cur = cur.copy()
    delta = np.zeros(n, dtype=np.int64)
    shift = np.zeros(n, dtype=np.int64)
    if plant:
        at = rng.choice(n, size=len(PLANTED_ORDERS), replace=False)
        for i, spec in zip(at, PLANTED_ORDERS, strict=True):
            role[i], psp[i], cur[i], status[i] = spec.role, spec.psp, spec.currency, spec.status
            line_cur[i] = spec.currency if spec.line_currency is None else spec.line_currency
            delta[i], shift[i] = spec.delta, spec.shift
    amount = draw_amounts(rng, cur)
    quarter = np.maximum(amount // 4 // 100 * 100, 200)
    delta = delta + shift * quarter
    created = day.midnight + np.sort(rng.integers(6 * 3600, 20 * 3600, size=n))
    adyen_ref = adyen_refs.take_text(n)
    stripe_suffix = tokens(rng, n, 23, prefix="3")
    frame = pl.DataFrame(
        {
            "seq": np.arange(1, n + 1, dtype=np.int64),
            "psp": psp,
            "cur": cur,
            "line_cur": line_cur,
            "status": status,
            "role": role,
            "amount": amount,
            "delta": delta,
            "created": created,
            "adyen_ref": adyen_ref,
            "stripe_suffix": stripe_suffix,
        }
    )
    return frame.with_columns(
        pl.when(pl.col("role") == BAD_ID)
        .then(pl.lit(None, pl.String))
        .otherwise(_order_ids(day, pl.col("seq") + id_offset))
        .alias("order_id"),
        _order_ids(day, pl.col("seq") + id_offset).alias("merchant_reference"),
        pl.when(pl.col("psp") == ADYEN)
        .then(pl.col("adyen_ref"))
        .otherwise(pl.concat_str([pl.lit("ch_"), pl.col("stripe_suffix")]))
        .alias("psp_reference"),
        pl.col("role").replace_strict(ROLE_TAGS, default=None, return_dtype=pl.String).alias("tag"),
    )


def render_orders(orders: pl.DataFrame, methods: pl.DataFrame, countries: pl.Series) -> pl.DataFrame:
    """The pay-in orders as the extract writes them. ``methods``: (order_seq, payment_method) of the orders a
    PSP settled (the method the PSP reports, as the order system names it); the others paid by card.
    ``countries``: the customer's country of every order."""
    orders = orders.with_columns(countries.alias("country")).join(
        methods.rename({"order_seq": "seq"}).unique("seq", keep="first", maintain_order=True),
        on="seq",
        how="left",
        maintain_order="left",
    )
    currency = pl.col("cur").replace_strict(dict(enumerate(CURRENCIES)), return_dtype=pl.String)
    amount = fmt_amount_by_currency(pl.col("amount"), currency, CURRENCIES)
    rendered = orders.select(
        pl.col("order_id"),
        pl.col("psp").replace_strict(dict(enumerate(PSP_CHANNELS)), return_dtype=pl.String).alias("psp_channel"),
        pl.col("psp_reference"),
        pl.when(pl.col("psp") == ADYEN)
        .then(pl.lit(MERCHANT_ACCOUNT))
        .otherwise(pl.lit(STRIPE_ACCOUNT))
        .alias("merchant_account"),
        pl.col("status").replace_strict(dict(enumerate(STATUSES)), return_dtype=pl.String).alias("status"),
        pl.when(pl.col("role") == BAD_AMOUNT).then(pl.lit(BAD_ORDER_AMOUNT)).otherwise(amount).alias("amount"),
        currency.alias("currency"),
        timestamp(pl.col("created"), "%Y-%m-%dT%H:%M:%SZ").alias("created_at"),
        pl.lit("payin").alias("direction"),
        pl.col("payment_method").replace(ORDER_METHODS).fill_null("card").alias("payment_method"),
        pl.col("country"),
    )
    assert tuple(rendered.columns) == ORDERS_HEADER
    return rendered


# --- Payment lines (both PSPs, before their own layout) -------------------------------------------


def payin_countries(rng: np.random.Generator, orders: pl.DataFrame) -> pl.Series:
    """The customer's country of every pay-in order: by currency, EUR ones drawn among the SEPA countries."""
    eur = rng.choice(np.array(SEPA_COUNTRIES), size=orders.height)
    by_currency = orders["cur"].replace_strict(PAYIN_COUNTRY, default=None, return_dtype=pl.String)
    return by_currency.fill_null(pl.Series(eur)).alias("country")


def payment_lines(
    rng: np.random.Generator, day: Day, orders: pl.DataFrame, n: int, plant: bool, adyen_refs: Numbers
) -> pl.DataFrame:
    """One row per payment a PSP settled: from the orders, plus the planted lines without an order (their
    merchant references follow the ``n`` orders of the day, so that no order has them)."""
    lines = orders.filter(pl.col("role").is_in(list(SETTLING_ROLES))).select(
        "psp",
        pl.col("line_cur").alias("cur"),
        (pl.col("amount") + pl.col("delta")).alias("gross"),
        "created",
        "merchant_reference",
        "psp_reference",
        "stripe_suffix",
        "tag",
        pl.col("seq").alias("order_seq"),
    )
    # the tolerance lines carry a PSP reference of their own (a second authorisation of the order)
    tolerance = (lines["tag"] == "tolerance_match").fill_null(False)
    k = int(tolerance.sum())
    if k:
        fresh = pl.DataFrame({"adyen": adyen_refs.take_text(k), "suffix": tokens(rng, k, 23, prefix="3")}).with_columns(
            pl.int_range(pl.len()).alias("nth")
        )
        lines = (
            lines.with_columns(pl.when(tolerance).then(tolerance.cast(pl.Int64).cum_sum() - 1).alias("nth"))
            .join(fresh, on="nth", how="left", maintain_order="left")
            .with_columns(
                pl.coalesce("suffix", "stripe_suffix").alias("stripe_suffix"),
                pl.when(pl.col("nth").is_null())
                .then(pl.col("psp_reference"))
                .when(pl.col("psp") == ADYEN)
                .then(pl.col("adyen"))
                .otherwise(pl.concat_str([pl.lit("ch_"), pl.col("suffix")]))
                .alias("psp_reference"),
            )
            .drop("nth", "adyen", "suffix")
        )
    if plant:
        m = len(PLANTED_LINES)
        cur = np.array([c for _, _, c in PLANTED_LINES], dtype=np.int8)
        tags = [t for t, _, _ in PLANTED_LINES]
        gross = np.where(np.array(tags) == "bad_amount", BAD_ADYEN_GROSS_MINOR, draw_amounts(rng, cur))
        extra = pl.DataFrame(
            {
                "psp": np.array([p for _, p, _ in PLANTED_LINES], dtype=np.int8),
                "cur": cur,
                "gross": gross.astype(np.int64),
                "created": day.midnight + rng.integers(6 * 3600, 20 * 3600, size=m),
                "merchant_reference": [f"ORD-{day.compact}-{n + 1 + j:07d}" for j in range(m)],
                "psp_reference": adyen_refs.take_text(m),
                "stripe_suffix": tokens(rng, m, 23, prefix="3"),
                "tag": tags,
                "order_seq": pl.Series([None] * m, dtype=pl.Int64),
            }
        ).with_columns(
            pl.when(pl.col("psp") == STRIPE)
            .then(pl.concat_str([pl.lit("ch_"), pl.col("stripe_suffix")]))
            .otherwise(pl.col("psp_reference"))
            .alias("psp_reference")
        )
        lines = pl.concat([lines, extra.select(lines.columns)], how="vertical_relaxed")
    return lines
