"""The PSP settlement reports of a day: Adyen Settlement Details Reports (one per batch, with its Fee and
MerchantPayout lines) and the Stripe itemised payout reconciliation, with the payouts they announce."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from pipelines.core import money
from samplegen.columns import (
    Day,
    Numbers,
    currency_name,
    draw_amounts,
    earlier_orders,
    fmt_amount,
    fmt_amount_by_currency,
    tagged_rows,
    timestamp,
    token,
    tokens,
    write_csv,
)
from samplegen.outcome import Payout
from samplegen.plan import (
    ADYEN_BATCH_FEE_MINOR,
    ADYEN_CHANNEL,
    ADYEN_CURRENCIES,
    ADYEN_HEADER,
    ADYEN_METHOD_MIX,
    ADYEN_METHODS,
    ADYEN_VARIANTS,
    AMEX_COMMISSION_BPS,
    BAD_ADYEN_AMOUNT,
    BAD_ADYEN_CURRENCY,
    COMPANY_ACCOUNT,
    CURRENCIES,
    EUR,
    IDEAL_COMMISSION_MINOR,
    INTERCHANGE_BPS,
    MARKUP_BPS,
    MERCHANT_ACCOUNT,
    PIX_COMMISSION_BPS,
    SCHEME_BPS,
    STRIPE_BRANDS,
    STRIPE_CHANNEL,
    STRIPE_CURRENCIES,
    STRIPE_FEES,
    STRIPE_HEADER,
    STRIPE_METHOD_MIX,
)

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

# --- Adyen ----------------------------------------------------------------------------------------

ADYEN_FRAME = pl.Schema(
    {
        "cur": pl.Int8(),
        "psp_reference": pl.String(),
        "merchant_reference": pl.String(),
        "payment_method": pl.String(),
        "created": pl.Int64(),
        "type": pl.String(),
        "modification_reference": pl.String(),
        "gross_debit": pl.Int64(),
        "gross_credit": pl.Int64(),
        "net_debit": pl.Int64(),
        "net_credit": pl.Int64(),
        "commission": pl.Int64(),
        "markup": pl.Int64(),
        "scheme_fees": pl.Int64(),
        "interchange": pl.Int64(),
        "variant": pl.String(),
        "modification_merchant_reference": pl.String(),
        "booked": pl.Int64(),
        "block": pl.Int8(),
        "tag": pl.String(),
        "order_seq": pl.Int64(),
    }
)


def _bps(amount: pl.Expr, bps: pl.Expr | int) -> pl.Expr:
    """Fee of ``bps`` basis points of ``amount``, rounded half up to a minor unit (integers)."""
    return (amount * bps + 5000) // 10000


def _adyen_methods(rng: np.random.Generator, cur: npt.NDArray[np.int8]) -> tuple[pl.Series, pl.Series]:
    method = np.zeros(cur.size, dtype=np.int64)
    for code, (methods, p) in ADYEN_METHOD_MIX.items():
        idx = np.flatnonzero(cur == code)
        if idx.size:
            method[idx] = np.asarray(methods)[rng.choice(len(methods), size=idx.size, p=list(p))]
    table = [v for m in range(len(ADYEN_METHODS)) for v in ADYEN_VARIANTS[m]]
    offsets = np.cumsum([0] + [len(ADYEN_VARIANTS[m]) for m in range(len(ADYEN_METHODS))])[:-1]
    sizes = np.array([len(ADYEN_VARIANTS[m]) for m in range(len(ADYEN_METHODS))])
    pick = rng.integers(0, 6, size=cur.size) % sizes[method]
    names = pl.Series(method).replace_strict(dict(enumerate(ADYEN_METHODS)), return_dtype=pl.String)
    variants = pl.Series(offsets[method] + pick).replace_strict(dict(enumerate(table)), return_dtype=pl.String)
    return names, variants


def adyen_payment_lines(rng: np.random.Generator, lines: pl.DataFrame, adyen_refs: Numbers) -> pl.DataFrame:
    m = lines.height
    cur = lines["cur"].to_numpy()
    method, variant = _adyen_methods(rng, cur)
    creation_delay = rng.integers(3, 60, size=m)
    booking_delay = rng.integers(120, 900, size=m)
    frame = lines.with_columns(
        method.alias("payment_method"),
        variant.alias("variant"),
        pl.Series(creation_delay).alias("c_delay"),
        pl.Series(booking_delay).alias("b_delay"),
        adyen_refs.take_text(m).alias("mod_ref"),
        pl.col("cur").replace_strict(dict(enumerate(CURRENCIES)), return_dtype=pl.String).alias("ccy"),
    )
    g = pl.col("gross")
    card = pl.col("payment_method").is_in(["visa", "mc", "elo"])
    credit = pl.col("variant").str.ends_with("credit").cast(pl.Int64)
    ic_bps = pl.col("ccy").replace_strict(INTERCHANGE_BPS, default=20, return_dtype=pl.Int64) + credit * 10
    frame = frame.with_columns(
        pl.when(pl.col("payment_method") == "amex")
        .then(_bps(g, AMEX_COMMISSION_BPS))
        .when(pl.col("payment_method") == "pix")
        .then(_bps(g, PIX_COMMISSION_BPS))
        .when(pl.col("payment_method") == "ideal")
        .then(pl.lit(IDEAL_COMMISSION_MINOR, pl.Int64))
        .otherwise(pl.lit(None, pl.Int64))
        .alias("commission"),
        pl.when(card)
        .then(_bps(g, pl.col("ccy").replace_strict(MARKUP_BPS, default=60, return_dtype=pl.Int64)))
        .alias("markup"),
        pl.when(card)
        .then(_bps(g, pl.col("ccy").replace_strict(SCHEME_BPS, default=4, return_dtype=pl.Int64)))
        .alias("scheme_fees"),
        pl.when(card).then(_bps(g, ic_bps)).alias("interchange"),
    )
    fees = pl.sum_horizontal([pl.col(c).fill_null(0) for c in ("commission", "markup", "scheme_fees", "interchange")])
    local = pl.col("payment_method").is_in(["ideal", "pix"])
    return frame.select(
        "cur",
        "psp_reference",
        "merchant_reference",
        "payment_method",
        (pl.col("created") + pl.col("c_delay")).alias("created"),
        pl.lit("Settled").alias("type"),
        pl.when(local).then(pl.col("psp_reference")).otherwise(pl.col("mod_ref")).alias("modification_reference"),
        pl.lit(None, pl.Int64).alias("gross_debit"),
        g.alias("gross_credit"),
        pl.lit(None, pl.Int64).alias("net_debit"),
        (g - fees).alias("net_credit"),
        "commission",
        "markup",
        "scheme_fees",
        "interchange",
        "variant",
        pl.when(local)
        .then(pl.col("merchant_reference"))
        .otherwise(pl.lit("<auto>"))
        .alias("modification_merchant_reference"),
        (pl.col("created") + pl.col("b_delay")).alias("booked"),
        pl.lit(0, pl.Int8).alias("block"),
        "tag",
        "order_seq",
    )


def adyen_reversals(
    rng: np.random.Generator, day: Day, payments: pl.DataFrame, n_orders: int, adyen_refs: Numbers
) -> pl.DataFrame:
    """Refunds of earlier orders in every batch and one chargeback (EUR) of an earlier order."""
    per_batch = payments.group_by("cur").len().sort("cur")
    kinds: list[str] = []
    curs: list[int] = []
    for cur, count in per_batch.iter_rows():
        k = max(1, int(count) // 80)
        kinds += ["Refunded"] * k
        curs += [int(cur)] * k
        if cur == EUR:
            kinds.append("Chargeback")
            curs.append(EUR)
    m = len(kinds)
    cur_arr = np.array(curs, dtype=np.int8)
    amount = draw_amounts(rng, cur_arr)
    method, variant = _adyen_methods(rng, cur_arr)
    created = day.midnight + rng.integers(7 * 3600, 20 * 3600, size=m)
    booked = created + rng.integers(60, 600, size=m)
    orders, _ = earlier_orders(rng, day, m, n_orders)
    return pl.DataFrame(
        {
            "cur": cur_arr,
            "psp_reference": adyen_refs.take_text(m),
            "merchant_reference": orders,
            "payment_method": method,
            "created": created,
            "type": kinds,
            "modification_reference": adyen_refs.take_text(m),
            "gross_debit": amount,
            "gross_credit": pl.Series([None] * m, dtype=pl.Int64),
            "net_debit": amount,
            "net_credit": pl.Series([None] * m, dtype=pl.Int64),
            "commission": pl.Series([None] * m, dtype=pl.Int64),
            "markup": pl.Series([None] * m, dtype=pl.Int64),
            "scheme_fees": pl.Series([None] * m, dtype=pl.Int64),
            "interchange": pl.Series([None] * m, dtype=pl.Int64),
            "variant": variant,
            "modification_merchant_reference": orders,
            "booked": booked,
            "block": pl.Series([0] * m, dtype=pl.Int8),
            "tag": pl.Series([None] * m, dtype=pl.String),
            "order_seq": pl.Series([None] * m, dtype=pl.Int64),
        },
        schema=ADYEN_FRAME,
    )


def _batch_numbers(date: dt.date, part: int | None = None) -> dict[int, int]:
    """The day's batch number of each currency; a shard ``part`` of a sharded day has batches of its own
    (the day's base times 1000, then four a shard)."""
    base = 1000 + 4 * (date - dt.date(2024, 1, 1)).days
    if part is not None:
        base = base * 1000 + 4 * part
    return {cur: base + i for i, cur in enumerate(ADYEN_CURRENCIES)}


def _net(frame: pl.DataFrame) -> int:
    value = frame.select((pl.col("net_credit").fill_null(0) - pl.col("net_debit").fill_null(0)).sum()).item()
    return int(value)


def _adyen_batch(
    rng: np.random.Generator, day: Day, cur: int, batch: int, lines: pl.DataFrame
) -> tuple[pl.DataFrame, int]:
    """Close a batch: the daily Fee line, then the MerchantPayout line of everything a parser accepts."""
    ccy = CURRENCIES[cur]
    payments = lines.filter(pl.col("type") == "Settled").height
    fee_at = day.local_epoch(23, 50)
    fee = pl.DataFrame(
        {
            "cur": [cur],
            "created": [fee_at],
            "type": ["Fee"],
            "modification_reference": [
                f"Transaction Fees {_MONTHS[day.date.month - 1]:<10}{day.date.day:02d} {day.date.year}"
            ],
            "net_debit": [ADYEN_BATCH_FEE_MINOR[ccy] * payments],
            "booked": [fee_at],
            "block": [2],
        },
        schema_overrides={"cur": pl.Int8, "block": pl.Int8},
    )
    body = pl.concat([lines, fee], how="diagonal_relaxed")
    valid = body.filter(~pl.col("tag").is_in(["bad_amount", "bad_currency"]).fill_null(False))
    amount = _net(valid)
    if amount <= 0:
        raise ValueError(f"Adyen batch {batch} ({ccy}) would pay out {amount}; give more orders")
    payout_at = day.local_epoch(23, 55)
    payout = pl.DataFrame(
        {
            "cur": [cur],
            "created": [payout_at],
            "type": ["MerchantPayout"],
            "modification_reference": [f"TX{int(rng.integers(10**8, 10**9))}XT batch {batch}, {MERCHANT_ACCOUNT}"],
            "net_debit": [amount],
            "booked": [payout_at],
            "block": [3],
            "tag": ["payout"],
        },
        schema_overrides={"cur": pl.Int8, "block": pl.Int8},
    )
    full = pl.concat([body, payout], how="diagonal_relaxed").select(ADYEN_FRAME.names())
    full = full.cast(ADYEN_FRAME)
    return full.sort(["block", "booked", "created"], maintain_order=True), amount


def _render_adyen(frame: pl.DataFrame, day: Day, cur: int, batch: int) -> pl.DataFrame:
    ccy = CURRENCIES[cur]
    e = money.exponent(ccy)
    has_gross = pl.col("gross_debit").is_not_null() | pl.col("gross_credit").is_not_null()
    tag = pl.col("tag")
    bad_currency = (tag == "bad_currency").fill_null(False)
    bad_amount = (tag == "bad_amount").fill_null(False)
    currency = pl.when(bad_currency).then(pl.lit(BAD_ADYEN_CURRENCY)).otherwise(pl.lit(ccy))
    stamp = "%Y-%m-%d %H:%M:%S"
    columns: dict[str, pl.Expr] = {
        "Company Account": pl.lit(COMPANY_ACCOUNT),
        "Merchant Account": pl.lit(MERCHANT_ACCOUNT),
        "Psp Reference": pl.col("psp_reference"),
        "Merchant Reference": pl.col("merchant_reference"),
        "Payment Method": pl.col("payment_method"),
        "Creation Date": timestamp(pl.col("created"), stamp, day.offset),
        "TimeZone": pl.lit(day.zone_label),
        "Type": pl.col("type"),
        "Modification Reference": pl.col("modification_reference"),
        "Gross Currency": pl.when(has_gross).then(currency),
        "Gross Debit (GC)": fmt_amount(pl.col("gross_debit"), e),
        "Gross Credit (GC)": pl.when(bad_amount)
        .then(pl.lit(BAD_ADYEN_AMOUNT))
        .otherwise(fmt_amount(pl.col("gross_credit"), e)),
        "Exchange Rate": pl.when(has_gross).then(pl.lit("1")),
        "Net Currency": currency,
        "Net Debit (NC)": fmt_amount(pl.col("net_debit"), e),
        "Net Credit (NC)": fmt_amount(pl.col("net_credit"), e),
        "Commission (NC)": fmt_amount(pl.col("commission"), e),
        "Markup (NC)": fmt_amount(pl.col("markup"), e),
        "Scheme Fees (NC)": fmt_amount(pl.col("scheme_fees"), e),
        "Interchange (NC)": fmt_amount(pl.col("interchange"), e),
        "Payment Method Variant": pl.col("variant"),
        "Modification Merchant Reference": pl.col("modification_merchant_reference"),
        "Batch Number": pl.lit(str(batch)),
        **{f"Reserved{i}": pl.lit(None, pl.String) for i in range(4, 11)},
        "Booking Date": timestamp(pl.col("booked"), stamp, day.offset),
        "Booking Date TimeZone": pl.lit(day.zone_label),
    }
    assert tuple(columns) == ADYEN_HEADER
    return frame.select([expr.cast(pl.String).alias(name) for name, expr in columns.items()])


# --- Stripe ---------------------------------------------------------------------------------------


def _stripe_lines(rng: np.random.Generator, day: Day, lines: pl.DataFrame, n_orders: int) -> pl.DataFrame:
    """Charges of the day and refunds of earlier charges, all in today's automatic payouts."""
    m = lines.height
    cur = lines["cur"].to_numpy()
    method = np.empty(m, dtype=object)
    for code, (methods, p) in STRIPE_METHOD_MIX.items():
        idx = np.flatnonzero(cur == code)
        if idx.size:
            method[idx] = np.asarray(methods, dtype=object)[rng.choice(len(methods), size=idx.size, p=list(p))]
    brand_names, brand_p = STRIPE_BRANDS
    brand = np.asarray(brand_names)[rng.choice(len(brand_names), size=m, p=list(brand_p))]
    delay = rng.integers(60, 900, size=m)
    fee_table = pl.DataFrame(
        {
            "ccy": [k[0] for k in STRIPE_FEES],
            "payment_method_type": [k[1] for k in STRIPE_FEES],
            "bps": [v[0] for v in STRIPE_FEES.values()],
            "fixed": [v[1] for v in STRIPE_FEES.values()],
        }
    )
    charges = lines.with_columns(
        pl.Series("payment_method_type", method.astype(str), dtype=pl.String),
        pl.Series("brand", brand.astype(str), dtype=pl.String),
        (pl.col("created") + pl.Series(delay)).alias("booked"),
        pl.col("cur").replace_strict(dict(enumerate(CURRENCIES)), return_dtype=pl.String).alias("ccy"),
    ).join(fee_table, on=["ccy", "payment_method_type"], how="left", maintain_order="left")
    fee = _bps(pl.col("gross"), pl.col("bps")) + pl.col("fixed")
    charges = charges.select(
        "cur",
        pl.concat_str([pl.lit("txn_"), pl.col("stripe_suffix")]).alias("balance_transaction_id"),
        "booked",
        pl.col("gross"),
        fee.alias("fee"),
        (pl.col("gross") - fee).alias("net"),
        pl.lit("charge").alias("reporting_category"),
        pl.col("psp_reference").alias("source_id"),
        pl.concat_str([pl.lit("Order "), pl.col("merchant_reference")]).alias("description"),
        pl.col("gross").alias("customer_facing_amount"),
        pl.col("psp_reference").alias("charge_id"),
        pl.concat_str([pl.lit("pi_"), pl.col("stripe_suffix")]).alias("payment_intent_id"),
        pl.col("created").alias("charge_created"),
        "payment_method_type",
        pl.when(pl.col("payment_method_type") == "card").then(pl.col("brand")).alias("card_brand"),
        pl.col("merchant_reference").alias("order_id"),
        "tag",
        "order_seq",
    )
    # refunds of earlier charges
    counts = charges.group_by("cur").len().sort("cur")
    refund_cur = np.concatenate([np.full(max(1, int(k) // 80), int(c), dtype=np.int8) for c, k in counts.iter_rows()])
    r = refund_cur.size
    amount = draw_amounts(rng, refund_cur)
    refund_suffix = tokens(rng, r, 23, prefix="3")
    charge_suffix = tokens(rng, r, 23, prefix="3")
    booked = day.midnight + rng.integers(7 * 3600, 20 * 3600, size=r)
    orders, back = earlier_orders(rng, day, r, n_orders)
    charged = day.midnight - back * 86400 + rng.integers(6 * 3600, 20 * 3600, size=r)
    brand_r = np.asarray(brand_names)[rng.choice(len(brand_names), size=r, p=list(brand_p))]
    refunds = pl.DataFrame(
        {
            "cur": refund_cur,
            "booked": booked,
            "gross": -amount,
            "fee": np.zeros(r, dtype=np.int64),
            "net": -amount,
            "charge_created": charged,
            "order_id": orders,
            "card_brand": brand_r.astype(str),
            "rs": refund_suffix,
            "cs": charge_suffix,
        }
    ).select(
        "cur",
        pl.concat_str([pl.lit("txn_"), pl.col("rs")]).alias("balance_transaction_id"),
        "booked",
        "gross",
        "fee",
        "net",
        pl.lit("refund").alias("reporting_category"),
        pl.concat_str([pl.lit("re_"), pl.col("rs")]).alias("source_id"),
        pl.concat_str([pl.lit("Refund for order "), pl.col("order_id")]).alias("description"),
        pl.lit(None, pl.Int64).alias("customer_facing_amount"),
        pl.concat_str([pl.lit("ch_"), pl.col("cs")]).alias("charge_id"),
        pl.concat_str([pl.lit("pi_"), pl.col("cs")]).alias("payment_intent_id"),
        "charge_created",
        pl.lit("card").alias("payment_method_type"),
        "card_brand",
        "order_id",
        pl.lit(None, pl.String).alias("tag"),
        pl.lit(None, pl.Int64).alias("order_seq"),
    )
    return pl.concat([charges, refunds], how="vertical_relaxed")


def _render_stripe(frame: pl.DataFrame, day: Day, payout_ids: dict[int, str]) -> pl.DataFrame:
    stamp = "%Y-%m-%d %H:%M:%S"
    arrival = f"{(day.date + dt.timedelta(days=1)).isoformat()} 00:00:00"
    ccy = pl.col("cur").replace_strict(dict(enumerate(CURRENCIES)), return_dtype=pl.String)
    codes = [CURRENCIES[c] for c in STRIPE_CURRENCIES]
    created = timestamp(pl.col("booked"), stamp)
    columns: dict[str, pl.Expr] = {
        "automatic_payout_id": pl.col("cur").replace_strict(payout_ids, return_dtype=pl.String),
        "automatic_payout_effective_at": pl.lit(arrival),
        "balance_transaction_id": pl.col("balance_transaction_id"),
        "created_utc": created,
        "created": created,
        "available_on_utc": pl.lit(arrival),
        "available_on": pl.lit(arrival),
        "currency": ccy.str.to_lowercase(),
        "gross": fmt_amount_by_currency(pl.col("gross"), ccy, codes),
        "fee": fmt_amount_by_currency(pl.col("fee"), ccy, codes),
        "net": fmt_amount_by_currency(pl.col("net"), ccy, codes),
        "reporting_category": pl.col("reporting_category"),
        "source_id": pl.col("source_id"),
        "description": pl.col("description"),
        "customer_facing_amount": fmt_amount_by_currency(pl.col("customer_facing_amount"), ccy, codes),
        "customer_facing_currency": pl.when(pl.col("customer_facing_amount").is_not_null()).then(
            ccy.str.to_lowercase()
        ),
        "charge_id": pl.col("charge_id"),
        "payment_intent_id": pl.col("payment_intent_id"),
        "charge_created": timestamp(pl.col("charge_created"), stamp),
        "payment_method_type": pl.col("payment_method_type"),
        "card_brand": pl.col("card_brand"),
        "payment_metadata[order_id]": pl.col("order_id"),
    }
    assert tuple(columns) == STRIPE_HEADER
    return frame.select([expr.cast(pl.String).alias(name) for name, expr in columns.items()])


# --- Written reports and their payouts -------------------------------------------------------------

ADYEN_RECORD_TYPES = {
    "Settled": "payment",
    "Refunded": "refund",
    "Chargeback": "chargeback",
    "Fee": "fee",
    "MerchantPayout": "payout",
}
STRIPE_RECORD_TYPES = {"charge": "payment", "refund": "refund"}


@dataclass
class Written:
    """A written settlement file: relative path, data rows, tagged rows (with line numbers), row types."""

    path: str
    rows: int
    tagged: pl.DataFrame
    by_type: dict[str, int]
    methods: pl.DataFrame | None = None  # (order_seq, payment_method) of the payments of the day's orders


def write_adyen(
    rng: np.random.Generator, day: Day, out_dir: Path, adyen_all: pl.DataFrame, part: int | None = None
) -> tuple[list[Written], list[Payout]]:
    written: list[Written] = []
    payouts: list[Payout] = []
    for cur, batch in _batch_numbers(day.date, part).items():
        ccy = CURRENCIES[cur]
        frame, amount = _adyen_batch(rng, day, cur, batch, adyen_all.filter(pl.col("cur") == cur))
        path = f"adyen/settlement_detail_report_batch_{batch}.csv"
        write_csv(_render_adyen(frame, day, cur, batch), out_dir / path)
        payout_id = f"{MERCHANT_ACCOUNT}-{batch}"
        has_gross = pl.col("gross_debit").is_not_null() | pl.col("gross_credit").is_not_null()
        tagged = tagged_rows(
            frame,
            pl.when(pl.col("type") == "MerchantPayout").then(pl.lit(payout_id)).otherwise(pl.col("psp_reference")),
            pl.when(has_gross)
            .then(pl.col("gross_credit").fill_null(0) - pl.col("gross_debit").fill_null(0))
            .otherwise(pl.col("net_credit").fill_null(0) - pl.col("net_debit").fill_null(0)),
            pl.when(pl.col("tag") == "bad_currency").then(pl.lit(BAD_ADYEN_CURRENCY)).otherwise(pl.lit(ccy)),
        )
        by_type = {ADYEN_RECORD_TYPES[str(t)]: int(k) for t, k in frame.group_by("type").len().sort("type").iter_rows()}
        written.append(Written(path, frame.height, tagged, by_type))
        line = int(tagged.filter(pl.col("tag") == "payout")["line_no"].item())
        payouts.append(Payout(payout_id, ADYEN_CHANNEL, ccy, amount, path, line, None, None))
    return written, payouts


def write_stripe(
    rng: np.random.Generator, day: Day, out_dir: Path, lines: pl.DataFrame, n_orders: int, suffix: str = ""
) -> tuple[Written, list[Payout]]:
    body = _stripe_lines(rng, day, lines, n_orders)
    payout_ids = {cur: token(rng, 23, prefix="po_1") for cur in STRIPE_CURRENCIES}
    rank = {cur: i for i, cur in enumerate(STRIPE_CURRENCIES)}
    frame = body.sort(
        [pl.col("cur").replace_strict(rank, return_dtype=pl.Int64), pl.col("booked")], maintain_order=True
    )
    path = f"stripe/payout_reconciliation_itemized_{day.date.isoformat()}{suffix}.csv"
    write_csv(_render_stripe(frame, day, payout_ids), out_dir / path)
    tagged = tagged_rows(frame, pl.col("charge_id"), pl.col("gross"), currency_name())
    by_type = {
        STRIPE_RECORD_TYPES[str(t)]: int(k)
        for t, k in frame.group_by("reporting_category").len().sort("reporting_category").iter_rows()
    }
    payouts: list[Payout] = []
    for cur in STRIPE_CURRENCIES:
        amount = int(frame.filter(pl.col("cur") == cur)["net"].sum())
        if amount <= 0:
            raise ValueError(f"Stripe {CURRENCIES[cur]} payout would be {amount}; give more orders")
        payouts.append(Payout(payout_ids[cur], STRIPE_CHANNEL, CURRENCIES[cur], amount, path, None, None, None))
    methods = frame.filter(pl.col("order_seq").is_not_null()).select(
        "order_seq", pl.col("payment_method_type").alias("payment_method")
    )
    return Written(path, frame.height, tagged, by_type, methods), payouts
