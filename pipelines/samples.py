"""Sample business day: orders, Adyen and Stripe settlement reports, a camt.053 statement, FX rates.

``write_day`` writes one business day in the real file formats of the sample channels and returns
what a correct reconciliation of that day finds (``Expected``). With ``plant=True`` a fixed set of
reconciliation cases is planted, the same whatever the number of orders, so the outcome is known.

Files of a day (``<out>/<folder>/...``)::

    orders/orders_<date>.csv                            channel orders     (orders_csv)
    adyen/settlement_detail_report_batch_<N>.csv         channel adyen_eu   (adyen_sdr), one per batch
    stripe/payout_reconciliation_itemized_<date>.csv     channel stripe_eu  (stripe_payout_recon)
    bank/camt053_<date>.xml                              channel bank_eu    (camt053)
    fx/fx_rates_<date>.csv                               channel fx_ecb     (fx_rates_csv)

Everything is built column-wise (numpy draws, Polars expressions, ``write_csv``); only the bank
statement, one entry per payout, is written as text. Amounts are drawn, adjusted and summed as integer
minor units. The files are a pure function of (business date, number of orders, seed, plant).

Payout sums and quarantined rows: a payout amount is the sum of the net amounts of the lines of its
batch that a parser accepts. The two Adyen rows planted with bad input (currency ``XYZ``, amount
``10.123``) are left out of that sum, so their batch's MerchantPayout line and bank credit equal what
the valid lines say and quarantining them creates no payout break. The two bad order rows have no
settlement line, so quarantining them creates no order-side break either.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import polars as pl

from pipelines import money

Ints = npt.NDArray[np.int64]

# --- Parties and channels -------------------------------------------------------------------------

COMPANY_ACCOUNT = "PayPlatform"
MERCHANT_ACCOUNT = "PayPlatformEU"
STRIPE_ACCOUNT = "acct_1PpLtfEU7vQm2Kx9"
ADYEN_CHANNEL = "adyen_eu"
STRIPE_CHANNEL = "stripe_eu"
BANK_NAME = "ING Bank N.V."
BANK_BIC = "INGBNL2A"
ACCOUNT_OWNER = "PayPlatform Europe B.V."
ADYEN_PAYER = "Adyen N.V."
STRIPE_PAYER = "Stripe Payments Europe Ltd"
SETTLEMENT_ZONE = "Europe/Amsterdam"

CURRENCIES = ("EUR", "GBP", "BRL", "MXN", "CLP")
EUR, GBP, BRL, MXN, CLP = range(5)
ADYEN, STRIPE = 0, 1
PSP_CHANNELS = (ADYEN_CHANNEL, STRIPE_CHANNEL)
ADYEN_CURRENCIES = (EUR, GBP, BRL, CLP)
STRIPE_CURRENCIES = (EUR, GBP, MXN)
BANK_CURRENCIES = (EUR, GBP, BRL, MXN, CLP)

# (psp, currency, thousandths of the orders): 60 % Adyen, 40 % Stripe
MIX = (
    (ADYEN, EUR, 270),
    (ADYEN, GBP, 150),
    (ADYEN, BRL, 108),
    (ADYEN, CLP, 72),
    (STRIPE, EUR, 220),
    (STRIPE, GBP, 100),
    (STRIPE, MXN, 80),
)
STATUSES = ("succeeded", "failed", "expired")
SUCCEEDED, FAILED, EXPIRED = range(3)

MIN_ORDERS = 50
MIN_ORDERS_PLANTED = 200

# --- File layouts ---------------------------------------------------------------------------------

ORDERS_HEADER = (
    "order_id",
    "psp_channel",
    "psp_reference",
    "merchant_account",
    "status",
    "amount",
    "currency",
    "created_at",
)
ADYEN_HEADER = (
    "Company Account",
    "Merchant Account",
    "Psp Reference",
    "Merchant Reference",
    "Payment Method",
    "Creation Date",
    "TimeZone",
    "Type",
    "Modification Reference",
    "Gross Currency",
    "Gross Debit (GC)",
    "Gross Credit (GC)",
    "Exchange Rate",
    "Net Currency",
    "Net Debit (NC)",
    "Net Credit (NC)",
    "Commission (NC)",
    "Markup (NC)",
    "Scheme Fees (NC)",
    "Interchange (NC)",
    "Payment Method Variant",
    "Modification Merchant Reference",
    "Batch Number",
    "Reserved4",
    "Reserved5",
    "Reserved6",
    "Reserved7",
    "Reserved8",
    "Reserved9",
    "Reserved10",
    "Booking Date",
    "Booking Date TimeZone",
)
STRIPE_HEADER = (
    "automatic_payout_id",
    "automatic_payout_effective_at",
    "balance_transaction_id",
    "created_utc",
    "created",
    "available_on_utc",
    "available_on",
    "currency",
    "gross",
    "fee",
    "net",
    "reporting_category",
    "source_id",
    "description",
    "customer_facing_amount",
    "customer_facing_currency",
    "charge_id",
    "payment_intent_id",
    "charge_created",
    "payment_method_type",
    "card_brand",
    "payment_metadata[order_id]",
)
FX_HEADER = ("rate_date", "base_currency", "quote_currency", "rate")
CAMT_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"

# --- What is planted ------------------------------------------------------------------------------

BREAK_TYPES = (
    "psp_line_without_order",
    "order_not_settled",
    "amount_mismatch",
    "currency_mismatch",
    "status_mismatch",
    "outside_date_window",
    "duplicate_settlement_line",
    "payout_amount_mismatch",
    "payout_without_bank_credit",
    "bank_credit_without_payout",
    "bank_debit_unexplained",
)
PLANTED_BREAKS: dict[str, int] = {
    "psp_line_without_order": 2,
    "order_not_settled": 3,
    "amount_mismatch": 2,
    "currency_mismatch": 1,
    "status_mismatch": 2,
    "outside_date_window": 0,
    "duplicate_settlement_line": 1,
    "payout_amount_mismatch": 1,
    "payout_without_bank_credit": 1,
    "bank_credit_without_payout": 1,
    "bank_debit_unexplained": 1,
}
TOLERANCE_MINOR = 2  # the tolerance rule the two near-miss lines are meant for
PAYOUT_SHORTFALL_MINOR = 1000  # the MXN Stripe payout arrives 10.00 short
BAD_ORDER_AMOUNT = "12.3x"
BAD_ADYEN_AMOUNT = "10.123"
BAD_ADYEN_GROSS_MINOR = 1012  # the line's other amounts are those of a 10.12 EUR payment
BAD_ADYEN_CURRENCY = "XYZ"

# order roles
SETTLED, NO_SETTLEMENT, NOT_SETTLED, TOLERANCE, AMOUNT, CURRENCY, STATUS, DUPLICATED, BAD_ID, BAD_AMOUNT = range(10)
ROLE_TAGS = {
    NOT_SETTLED: "order_not_settled",
    TOLERANCE: "tolerance_match",
    AMOUNT: "amount_mismatch",
    CURRENCY: "currency_mismatch",
    STATUS: "status_mismatch",
    DUPLICATED: "duplicated",
    BAD_ID: "bad_order_id",
    BAD_AMOUNT: "bad_amount",
}
SETTLING_ROLES = (SETTLED, TOLERANCE, AMOUNT, CURRENCY, STATUS, DUPLICATED)


@dataclass(frozen=True)
class _PlantedOrder:
    role: int
    psp: int
    currency: int
    status: int = SUCCEEDED
    line_currency: int | None = None
    delta: int = 0  # settlement gross minus order amount, minor units
    shift: int = 0  # +1 / -1: the gross differs by about a quarter of the amount (at least 2.00)


PLANTED_ORDERS = (
    _PlantedOrder(NOT_SETTLED, ADYEN, EUR),
    _PlantedOrder(NOT_SETTLED, ADYEN, BRL),
    _PlantedOrder(NOT_SETTLED, STRIPE, GBP),
    _PlantedOrder(TOLERANCE, ADYEN, EUR, delta=1),
    _PlantedOrder(TOLERANCE, STRIPE, GBP, delta=-1),
    _PlantedOrder(AMOUNT, ADYEN, BRL, shift=1),
    _PlantedOrder(AMOUNT, STRIPE, MXN, shift=-1),
    _PlantedOrder(CURRENCY, ADYEN, EUR, line_currency=GBP),
    _PlantedOrder(STATUS, ADYEN, EUR, status=FAILED),
    _PlantedOrder(STATUS, STRIPE, EUR, status=EXPIRED),
    _PlantedOrder(DUPLICATED, ADYEN, EUR),
    _PlantedOrder(BAD_ID, STRIPE, EUR),
    _PlantedOrder(BAD_AMOUNT, ADYEN, GBP),
)
# settlement lines without an order of the file: (tag, psp, currency)
PLANTED_LINES = (
    ("psp_line_without_order", ADYEN, GBP),
    ("psp_line_without_order", STRIPE, EUR),
    ("bad_amount", ADYEN, EUR),
    ("bad_currency", ADYEN, GBP),
)

# --- Amounts, fees --------------------------------------------------------------------------------

_ANY = -999  # ending sentinel: any value in [0, scale)


@dataclass(frozen=True)
class _Profile:
    """Price points of a currency: major steps drawn per tier, then an ending added to step * scale."""

    scale: int
    tiers: tuple[tuple[int, int], ...]
    tier_p: tuple[float, ...]
    endings: tuple[int, ...]
    ending_p: tuple[float, ...]


PROFILES = {
    EUR: _Profile(
        100,
        ((5, 60), (60, 250), (250, 1500)),
        (0.62, 0.30, 0.08),
        (0, 50, 90, 95, 99, _ANY),
        (0.25, 0.10, 0.15, 0.15, 0.20, 0.15),
    ),
    GBP: _Profile(
        100,
        ((4, 50), (50, 200), (200, 1200)),
        (0.62, 0.30, 0.08),
        (0, 50, 95, 99, _ANY),
        (0.30, 0.10, 0.15, 0.30, 0.15),
    ),
    BRL: _Profile(
        100, ((20, 200), (200, 900), (900, 6000)), (0.60, 0.30, 0.10), (90, 0, 99, _ANY), (0.45, 0.20, 0.20, 0.15)
    ),
    MXN: _Profile(
        100, ((99, 1500), (1500, 5000), (5000, 30000)), (0.60, 0.30, 0.10), (0, 99, 50, _ANY), (0.40, 0.30, 0.15, 0.15)
    ),
    CLP: _Profile(1000, ((2, 40), (40, 200), (200, 1200)), (0.60, 0.30, 0.10), (-10, 0), (0.70, 0.30)),
}

ADYEN_METHODS = ("visa", "mc", "amex", "ideal", "elo", "pix")
VISA, MC, AMEX, IDEAL, ELO, PIX = range(6)
ADYEN_VARIANTS = {
    VISA: ("visastandardcredit", "visastandarddebit"),
    MC: ("mcstandardcredit", "mcstandarddebit"),
    AMEX: ("amex",),
    IDEAL: ("idealing", "idealrabobank", "idealabnamro"),
    ELO: ("elo",),
    PIX: ("pix",),
}
ADYEN_METHOD_MIX = {
    EUR: ((VISA, MC, AMEX, IDEAL), (0.40, 0.30, 0.07, 0.23)),
    GBP: ((VISA, MC, AMEX), (0.50, 0.38, 0.12)),
    BRL: ((VISA, MC, ELO, PIX), (0.35, 0.30, 0.10, 0.25)),
    CLP: ((VISA, MC, AMEX), (0.50, 0.40, 0.10)),
}
# card fees in basis points of the gross, per settlement currency
INTERCHANGE_BPS = {"EUR": 20, "GBP": 20, "BRL": 150, "CLP": 120}  # + 10 on credit cards
SCHEME_BPS = {"EUR": 4, "GBP": 4, "BRL": 9, "CLP": 8}
MARKUP_BPS = {"EUR": 60, "GBP": 60, "BRL": 90, "CLP": 80}
AMEX_COMMISSION_BPS = 250
PIX_COMMISSION_BPS = 99
IDEAL_COMMISSION_MINOR = 25
ADYEN_BATCH_FEE_MINOR = {"EUR": 10, "GBP": 10, "BRL": 40, "CLP": 90}  # per settled payment, daily Fee line

STRIPE_METHOD_MIX = {
    EUR: (("card", "ideal", "bancontact"), (0.84, 0.11, 0.05)),
    GBP: (("card",), (1.0,)),
    MXN: (("card", "oxxo"), (0.86, 0.14)),
}
STRIPE_BRANDS = (("visa", "mastercard", "amex"), (0.56, 0.34, 0.10))
# (basis points, fixed minor units) per (currency, method)
STRIPE_FEES = {
    ("EUR", "card"): (150, 25),
    ("EUR", "ideal"): (0, 29),
    ("EUR", "bancontact"): (0, 35),
    ("GBP", "card"): (150, 20),
    ("MXN", "card"): (360, 300),
    ("MXN", "oxxo"): (360, 300),
}

# EUR reference rates (quote units per EUR, as decimal text) before the day's small move
FX_BASE = (
    ("GBP", "0.8412", 4),
    ("BRL", "6.1245", 4),
    ("MXN", "21.3408", 4),
    ("CLP", "1012.35", 2),
    ("USD", "1.0487", 4),
    ("JPY", "161.42", 2),
    ("BHD", "0.39542", 5),
)

_ALPHABET = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
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


# --- Result ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One input item: file (relative to the day's folder), physical line, human reference, amount."""

    file: str
    line_no: int | None
    ref: str | None
    amount_minor: int | None
    currency: str | None


@dataclass(frozen=True)
class Case:
    """A planted case: the break (or tolerance match, or quarantined row) and the items it involves."""

    kind: str
    item: Item
    counter: Item | None
    note: str


@dataclass(frozen=True)
class Payout:
    payout_id: str
    channel: str
    currency: str
    amount_minor: int
    file: str
    line_no: int | None  # the MerchantPayout line (Adyen); Stripe payouts have no line of their own
    bank_amount_minor: int | None
    bank_line_no: int | None


@dataclass
class Expected:
    """What a correct reconciliation of the written day finds."""

    business_date: str
    seed: int
    planted: bool
    files: list[str]
    orders_rows: int
    psp_rows: int
    adyen_rows: int
    stripe_rows: int
    bank_rows: int
    fx_rows: int
    psp_rows_by_type: dict[str, int]
    matched_order_psp_pairs: int
    matched_by_tolerance: int
    payout_bank_matches: int
    breaks: dict[str, int]
    quarantined_rows: dict[str, int]
    no_settlement_expected: int
    payouts: list[Payout] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)


# --- Helpers --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Day:
    date: dt.date
    midnight: int  # epoch seconds of 00:00 UTC
    offset: int  # seconds east of UTC of the settlement zone during the day
    zone_label: str

    @classmethod
    def of(cls, date: dt.date) -> _Day:
        midnight = int(dt.datetime(date.year, date.month, date.day, tzinfo=dt.UTC).timestamp())
        noon = dt.datetime(date.year, date.month, date.day, 12, tzinfo=ZoneInfo(SETTLEMENT_ZONE))
        delta = noon.utcoffset() or dt.timedelta(0)
        offset = int(delta.total_seconds())
        return cls(date, midnight, offset, "CEST" if offset == 7200 else "CET")

    @property
    def compact(self) -> str:
        return self.date.strftime("%Y%m%d")

    def local_epoch(self, hour: int, minute: int, second: int = 0) -> int:
        """Epoch seconds of a wall-clock time of the day in the settlement zone."""
        return self.midnight + hour * 3600 + minute * 60 + second - self.offset


def fmt_amount(minor: pl.Expr, exponent: int) -> pl.Expr:
    """Vectorised ``money.format_minor`` for one exponent: minor units to plain decimal text."""
    if exponent == 0:
        return minor.cast(pl.String)
    q = 10**exponent
    magnitude = minor.abs()
    sign = pl.when(minor < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    return pl.concat_str(
        [sign, (magnitude // q).cast(pl.String), pl.lit("."), (magnitude % q).cast(pl.String).str.zfill(exponent)]
    )


def fmt_amount_by_currency(minor: pl.Expr, currency: pl.Expr, currencies: Sequence[str]) -> pl.Expr:
    """``fmt_amount`` with each row's currency exponent."""
    by_exponent: dict[int, list[str]] = {}
    for code in currencies:
        by_exponent.setdefault(money.exponent(code), []).append(code)
    result = pl.lit(None, pl.String)
    for exponent, codes in sorted(by_exponent.items()):
        result = pl.when(currency.is_in(codes)).then(fmt_amount(minor, exponent)).otherwise(result)
    return result


def _timestamp(epoch: pl.Expr, fmt: str, shift: int = 0) -> pl.Expr:
    return pl.from_epoch(epoch + shift, time_unit="s").dt.strftime(fmt)


def _tokens(rng: np.random.Generator, k: int, length: int, prefix: str = "") -> pl.Series:
    """``k`` strings: ``prefix`` then ``length`` random base-62 characters."""
    codes = rng.integers(0, 62, size=(k, length), dtype=np.uint8)
    head = np.tile(np.frombuffer(prefix.encode("ascii"), dtype=np.uint8), (k, 1))
    raw = np.ascontiguousarray(np.concatenate([head, _ALPHABET[codes]], axis=1))
    return pl.Series(raw.view(f"S{len(prefix) + length}").ravel()).cast(pl.String)


def _token(rng: np.random.Generator, length: int, prefix: str = "") -> str:
    return str(_tokens(rng, 1, length, prefix)[0])


class _Numbers:
    """A pool of distinct 16-digit references (Adyen PSP and modification references)."""

    def __init__(self, rng: np.random.Generator, size: int) -> None:
        values = rng.integers(10**15, 9 * 10**15, size=size, dtype=np.int64)
        while True:
            _, first = np.unique(values, return_index=True)
            repeated = np.ones(size, dtype=bool)
            repeated[first] = False
            if not repeated.any():
                break
            values[repeated] = rng.integers(10**15, 9 * 10**15, size=int(repeated.sum()), dtype=np.int64)
        self._values = values
        self._next = 0

    def take(self, k: int) -> Ints:
        if self._next + k > self._values.size:
            raise RuntimeError("reference pool exhausted")
        out = self._values[self._next : self._next + k]
        self._next += k
        return out

    def take_text(self, k: int) -> pl.Series:
        return pl.Series(self.take(k)).cast(pl.String)


def draw_amounts(rng: np.random.Generator, currencies: npt.NDArray[np.int8]) -> Ints:
    """Realistic prices in minor units for each row's currency (integers throughout)."""
    out = np.zeros(currencies.size, dtype=np.int64)
    for code, profile in PROFILES.items():
        idx = np.flatnonzero(currencies == code)
        if idx.size == 0:
            continue
        tier = rng.choice(len(profile.tiers), size=idx.size, p=profile.tier_p)
        lo = np.array([t[0] for t in profile.tiers], dtype=np.int64)[tier]
        hi = np.array([t[1] for t in profile.tiers], dtype=np.int64)[tier]
        steps = rng.integers(lo, hi)
        ending = rng.choice(np.array(profile.endings, dtype=np.int64), size=idx.size, p=profile.ending_p)
        anywhere = rng.integers(0, profile.scale, size=idx.size)
        ending = np.where(ending == _ANY, anywhere, ending)
        out[idx] = steps * profile.scale + ending
    return out


def _order_ids(day: _Day, seq: pl.Expr) -> pl.Expr:
    return pl.concat_str([pl.lit(f"ORD-{day.compact}-"), seq.cast(pl.String).str.zfill(7)])


def _earlier_orders(rng: np.random.Generator, day: _Day, k: int, n_orders: int) -> tuple[list[str], Ints]:
    """Ids of ``k`` orders of earlier days (refunded or disputed today) and their age in days."""
    back = rng.integers(1, 29, size=k)
    seq = rng.integers(1, max(n_orders, 1000), size=k)
    ids = [
        f"ORD-{(day.date - dt.timedelta(days=int(b))).strftime('%Y%m%d')}-{int(s):07d}"
        for b, s in zip(back, seq, strict=True)
    ]
    return ids, back.astype(np.int64)


def _iban(country: str, bban: str) -> str:
    """IBAN with its ISO 13616 check digits."""
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


# --- Orders ---------------------------------------------------------------------------------------


def _orders(rng: np.random.Generator, day: _Day, n: int, plant: bool, adyen_refs: _Numbers) -> pl.DataFrame:
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
    stripe_suffix = _tokens(rng, n, 23, prefix="3")
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
        .otherwise(_order_ids(day, pl.col("seq")))
        .alias("order_id"),
        _order_ids(day, pl.col("seq")).alias("merchant_reference"),
        pl.when(pl.col("psp") == ADYEN)
        .then(pl.col("adyen_ref"))
        .otherwise(pl.concat_str([pl.lit("ch_"), pl.col("stripe_suffix")]))
        .alias("psp_reference"),
        pl.col("role").replace_strict(ROLE_TAGS, default=None, return_dtype=pl.String).alias("tag"),
    )


def _render_orders(orders: pl.DataFrame) -> pl.DataFrame:
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
        _timestamp(pl.col("created"), "%Y-%m-%dT%H:%M:%SZ").alias("created_at"),
    )
    assert tuple(rendered.columns) == ORDERS_HEADER
    return rendered


# --- Payment lines (both PSPs, before their own layout) -------------------------------------------


def _payment_lines(
    rng: np.random.Generator, day: _Day, orders: pl.DataFrame, n: int, plant: bool, adyen_refs: _Numbers
) -> pl.DataFrame:
    """One row per payment a PSP settled: from the orders, plus the planted lines without an order."""
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
        fresh = pl.DataFrame(
            {"adyen": adyen_refs.take_text(k), "suffix": _tokens(rng, k, 23, prefix="3")}
        ).with_columns(pl.int_range(pl.len()).alias("nth"))
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
                "stripe_suffix": _tokens(rng, m, 23, prefix="3"),
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


def _adyen_payments(rng: np.random.Generator, lines: pl.DataFrame, adyen_refs: _Numbers) -> pl.DataFrame:
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


def _adyen_reversals(
    rng: np.random.Generator, day: _Day, payments: pl.DataFrame, n_orders: int, adyen_refs: _Numbers
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
    orders, _ = _earlier_orders(rng, day, m, n_orders)
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


def _batch_numbers(date: dt.date) -> dict[int, int]:
    base = 1000 + 4 * (date - dt.date(2024, 1, 1)).days
    return {cur: base + i for i, cur in enumerate(ADYEN_CURRENCIES)}


def _net(frame: pl.DataFrame) -> int:
    value = frame.select((pl.col("net_credit").fill_null(0) - pl.col("net_debit").fill_null(0)).sum()).item()
    return int(value)


def _adyen_batch(
    rng: np.random.Generator, day: _Day, cur: int, batch: int, lines: pl.DataFrame
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


def _render_adyen(frame: pl.DataFrame, day: _Day, cur: int, batch: int) -> pl.DataFrame:
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
        "Creation Date": _timestamp(pl.col("created"), stamp, day.offset),
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
        "Booking Date": _timestamp(pl.col("booked"), stamp, day.offset),
        "Booking Date TimeZone": pl.lit(day.zone_label),
    }
    assert tuple(columns) == ADYEN_HEADER
    return frame.select([expr.cast(pl.String).alias(name) for name, expr in columns.items()])


def _write_csv(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(path, line_terminator="\n", quote_style="necessary")


def _tagged(frame: pl.DataFrame, ref: pl.Expr, amount: pl.Expr, currency: pl.Expr) -> pl.DataFrame:
    """Rows with a tag, with their physical line number (header is line 1) and their order's line."""
    order_line = pl.col("order_seq") + 1 if "order_seq" in frame.columns else pl.lit(None, pl.Int64)
    return (
        frame.with_row_index("line_no", offset=2)
        .filter(pl.col("tag").is_not_null())
        .select(
            "tag",
            pl.col("line_no").cast(pl.Int64),
            ref.cast(pl.String).alias("ref"),
            amount.cast(pl.Int64).alias("amount_minor"),
            currency.alias("currency"),
            order_line.cast(pl.Int64).alias("order_line"),
        )
    )


# --- Stripe ---------------------------------------------------------------------------------------


def _stripe_lines(rng: np.random.Generator, day: _Day, lines: pl.DataFrame, n_orders: int) -> pl.DataFrame:
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
    refund_suffix = _tokens(rng, r, 23, prefix="3")
    charge_suffix = _tokens(rng, r, 23, prefix="3")
    booked = day.midnight + rng.integers(7 * 3600, 20 * 3600, size=r)
    orders, back = _earlier_orders(rng, day, r, n_orders)
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


def _render_stripe(frame: pl.DataFrame, day: _Day, payout_ids: dict[int, str]) -> pl.DataFrame:
    stamp = "%Y-%m-%d %H:%M:%S"
    arrival = f"{(day.date + dt.timedelta(days=1)).isoformat()} 00:00:00"
    ccy = pl.col("cur").replace_strict(dict(enumerate(CURRENCIES)), return_dtype=pl.String)
    codes = [CURRENCIES[c] for c in STRIPE_CURRENCIES]
    created = _timestamp(pl.col("booked"), stamp)
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
        "charge_created": _timestamp(pl.col("charge_created"), stamp),
        "payment_method_type": pl.col("payment_method_type"),
        "card_brand": pl.col("card_brand"),
        "payment_metadata[order_id]": pl.col("order_id"),
    }
    assert tuple(columns) == STRIPE_HEADER
    return frame.select([expr.cast(pl.String).alias(name) for name, expr in columns.items()])


# --- Bank statement -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    currency: int
    credit: bool
    amount_minor: int
    end_to_end_id: str | None
    remittance: str
    counterparty: str
    code: tuple[str, str, str]
    tag: str  # payout id it pays, or the planted case


def _account_ids(seed: int) -> dict[int, str]:
    rng = np.random.default_rng([seed, 53])
    base = int(rng.integers(10**8, 9 * 10**8))
    return {cur: _iban("NL", f"INGB{base * 10 + i:010d}") for i, cur in enumerate(BANK_CURRENCIES)}


def _camt053(
    rng: np.random.Generator, day: _Day, entries: list[_Entry], accounts: dict[int, str]
) -> tuple[str, list[int]]:
    """camt.053.001.08 text with one statement per currency account; line of every entry's start tag."""
    zone = ZoneInfo(SETTLEMENT_ZONE)
    start = dt.datetime(day.date.year, day.date.month, day.date.day, tzinfo=zone)
    end = start.replace(hour=23, minute=59, second=59)
    next_day = day.date + dt.timedelta(days=1)
    created = dt.datetime(next_day.year, next_day.month, next_day.day, 5, 42, 17, tzinfo=zone)
    out: list[str] = ['<?xml version="1.0" encoding="UTF-8"?>', f'<Document xmlns="{CAMT_NAMESPACE}">']
    out += [
        "  <BkToCstmrStmt>",
        "    <GrpHdr>",
        f"      <MsgId>CAMT053-{day.compact}-{int(rng.integers(10**5, 10**6))}</MsgId>",
        f"      <CreDtTm>{created.isoformat()}</CreDtTm>",
        "      <MsgPgntn>",
        "        <PgNb>1</PgNb>",
        "        <LastPgInd>true</LastPgInd>",
        "      </MsgPgntn>",
        "    </GrpHdr>",
    ]
    lines_of: list[int] = [0] * len(entries)
    sequence = day.date.timetuple().tm_yday
    for cur in BANK_CURRENCIES:
        ccy = CURRENCIES[cur]
        mine = [(i, e) for i, e in enumerate(entries) if e.currency == cur]
        credits = sum(e.amount_minor for _, e in mine if e.credit)
        debits = sum(e.amount_minor for _, e in mine if not e.credit)
        scale = 10 ** money.exponent(ccy)
        opening = int(rng.integers(50_000, 400_000)) * scale + int(rng.integers(0, scale))
        closing = opening + credits - debits
        net = credits - debits

        def amt(minor: int, c: str = ccy) -> str:
            return money.format_minor(minor, c)

        def balance(code: str, minor: int, c: str = ccy) -> list[str]:
            return [
                "      <Bal>",
                "        <Tp>",
                "          <CdOrPrtry>",
                f"            <Cd>{code}</Cd>",
                "          </CdOrPrtry>",
                "        </Tp>",
                f'        <Amt Ccy="{c}">{amt(abs(minor))}</Amt>',
                f"        <CdtDbtInd>{'CRDT' if minor >= 0 else 'DBIT'}</CdtDbtInd>",
                "        <Dt>",
                f"          <Dt>{day.date.isoformat()}</Dt>",
                "        </Dt>",
                "      </Bal>",
            ]

        out += [
            "    <Stmt>",
            f"      <Id>{day.compact}-{ccy}-{sequence:03d}</Id>",
            f"      <ElctrncSeqNb>{sequence}</ElctrncSeqNb>",
            f"      <LglSeqNb>{sequence}</LglSeqNb>",
            f"      <CreDtTm>{created.isoformat()}</CreDtTm>",
            "      <FrToDt>",
            f"        <FrDtTm>{start.isoformat()}</FrDtTm>",
            f"        <ToDtTm>{end.isoformat()}</ToDtTm>",
            "      </FrToDt>",
            "      <Acct>",
            "        <Id>",
            f"          <IBAN>{accounts[cur]}</IBAN>",
            "        </Id>",
            f"        <Ccy>{ccy}</Ccy>",
            "        <Ownr>",
            f"          <Nm>{escape(ACCOUNT_OWNER)}</Nm>",
            "        </Ownr>",
            "        <Svcr>",
            "          <FinInstnId>",
            f"            <BICFI>{BANK_BIC}</BICFI>",
            f"            <Nm>{escape(BANK_NAME)}</Nm>",
            "          </FinInstnId>",
            "        </Svcr>",
            "      </Acct>",
            *balance("OPBD", opening),
            *balance("CLBD", closing),
            "      <TxsSummry>",
            "        <TtlNtries>",
            f"          <NbOfNtries>{len(mine)}</NbOfNtries>",
            f"          <Sum>{amt(credits + debits)}</Sum>",
            "          <TtlNetNtry>",
            f"            <Amt>{amt(abs(net))}</Amt>",
            f"            <CdtDbtInd>{'CRDT' if net >= 0 else 'DBIT'}</CdtDbtInd>",
            "          </TtlNetNtry>",
            "        </TtlNtries>",
            "        <TtlCdtNtries>",
            f"          <NbOfNtries>{sum(1 for _, e in mine if e.credit)}</NbOfNtries>",
            f"          <Sum>{amt(credits)}</Sum>",
            "        </TtlCdtNtries>",
            "        <TtlDbtNtries>",
            f"          <NbOfNtries>{sum(1 for _, e in mine if not e.credit)}</NbOfNtries>",
            f"          <Sum>{amt(debits)}</Sum>",
            "        </TtlDbtNtries>",
            "      </TxsSummry>",
        ]
        for i, e in mine:
            lines_of[i] = len(out) + 1
            indicator = "CRDT" if e.credit else "DBIT"
            party = "Dbtr" if e.credit else "Cdtr"
            reference = f"{day.compact}{cur}{int(rng.integers(10**9, 10**10))}"
            out += [
                "      <Ntry>",
                f"        <NtryRef>{reference[-12:]}</NtryRef>",
                f'        <Amt Ccy="{ccy}">{amt(e.amount_minor)}</Amt>',
                f"        <CdtDbtInd>{indicator}</CdtDbtInd>",
                "        <Sts>",
                "          <Cd>BOOK</Cd>",
                "        </Sts>",
                "        <BookgDt>",
                f"          <Dt>{day.date.isoformat()}</Dt>",
                "        </BookgDt>",
                "        <ValDt>",
                f"          <Dt>{next_day.isoformat()}</Dt>",
                "        </ValDt>",
                f"        <AcctSvcrRef>{reference}</AcctSvcrRef>",
                "        <BkTxCd>",
                "          <Domn>",
                f"            <Cd>{e.code[0]}</Cd>",
                "            <Fmly>",
                f"              <Cd>{e.code[1]}</Cd>",
                f"              <SubFmlyCd>{e.code[2]}</SubFmlyCd>",
                "            </Fmly>",
                "          </Domn>",
                "        </BkTxCd>",
                "        <NtryDtls>",
                "          <TxDtls>",
                "            <Refs>",
                f"              <EndToEndId>{escape(e.end_to_end_id or 'NOTPROVIDED')}</EndToEndId>",
                "            </Refs>",
                f'            <Amt Ccy="{ccy}">{amt(e.amount_minor)}</Amt>',
                f"            <CdtDbtInd>{indicator}</CdtDbtInd>",
                "            <RltdPties>",
                f"              <{party}>",
                "                <Pty>",
                f"                  <Nm>{escape(e.counterparty)}</Nm>",
                "                </Pty>",
                f"              </{party}>",
                "            </RltdPties>",
                "            <RmtInf>",
                f"              <Ustrd>{escape(e.remittance)}</Ustrd>",
                "            </RmtInf>",
                "          </TxDtls>",
                "        </NtryDtls>",
                "      </Ntry>",
            ]
        out.append("    </Stmt>")
    out += ["  </BkToCstmrStmt>", "</Document>"]
    return "\n".join(out) + "\n", lines_of


# --- FX -------------------------------------------------------------------------------------------


def _fx(rng: np.random.Generator, day: _Day) -> pl.DataFrame:
    rows = []
    for quote, text, decimals in FX_BASE:
        units = int(text.replace(".", ""))
        moved = units + int(rng.integers(-units // 200, units // 200 + 1))  # within +-0.5 %
        digits = str(moved).rjust(decimals + 1, "0")
        rows.append((day.date.isoformat(), "EUR", quote, f"{digits[:-decimals]}.{digits[-decimals:]}"))
    return pl.DataFrame(rows, schema=list(FX_HEADER), orient="row")


# --- The day ------------------------------------------------------------------------------------

ADYEN_RECORD_TYPES = {
    "Settled": "payment",
    "Refunded": "refund",
    "Chargeback": "chargeback",
    "Fee": "fee",
    "MerchantPayout": "payout",
}
STRIPE_RECORD_TYPES = {"charge": "payment", "refund": "refund"}


@dataclass
class _Written:
    """A written settlement file: relative path, data rows, tagged rows (with line numbers), row types."""

    path: str
    rows: int
    tagged: pl.DataFrame
    by_type: dict[str, int]


def _currency_name(column: str = "cur") -> pl.Expr:
    return pl.col(column).replace_strict(dict(enumerate(CURRENCIES)), return_dtype=pl.String)


def _write_adyen(
    rng: np.random.Generator, day: _Day, out_dir: Path, adyen_all: pl.DataFrame
) -> tuple[list[_Written], list[Payout]]:
    written: list[_Written] = []
    payouts: list[Payout] = []
    for cur, batch in _batch_numbers(day.date).items():
        ccy = CURRENCIES[cur]
        frame, amount = _adyen_batch(rng, day, cur, batch, adyen_all.filter(pl.col("cur") == cur))
        path = f"adyen/settlement_detail_report_batch_{batch}.csv"
        _write_csv(_render_adyen(frame, day, cur, batch), out_dir / path)
        payout_id = f"{MERCHANT_ACCOUNT}-{batch}"
        has_gross = pl.col("gross_debit").is_not_null() | pl.col("gross_credit").is_not_null()
        tagged = _tagged(
            frame,
            pl.when(pl.col("type") == "MerchantPayout").then(pl.lit(payout_id)).otherwise(pl.col("psp_reference")),
            pl.when(has_gross)
            .then(pl.col("gross_credit").fill_null(0) - pl.col("gross_debit").fill_null(0))
            .otherwise(pl.col("net_credit").fill_null(0) - pl.col("net_debit").fill_null(0)),
            pl.when(pl.col("tag") == "bad_currency").then(pl.lit(BAD_ADYEN_CURRENCY)).otherwise(pl.lit(ccy)),
        )
        by_type = {ADYEN_RECORD_TYPES[str(t)]: int(k) for t, k in frame.group_by("type").len().sort("type").iter_rows()}
        written.append(_Written(path, frame.height, tagged, by_type))
        line = int(tagged.filter(pl.col("tag") == "payout")["line_no"].item())
        payouts.append(Payout(payout_id, ADYEN_CHANNEL, ccy, amount, path, line, None, None))
    return written, payouts


def _write_stripe(
    rng: np.random.Generator, day: _Day, out_dir: Path, lines: pl.DataFrame, n_orders: int
) -> tuple[_Written, list[Payout]]:
    body = _stripe_lines(rng, day, lines, n_orders)
    payout_ids = {cur: _token(rng, 23, prefix="po_1") for cur in STRIPE_CURRENCIES}
    rank = {cur: i for i, cur in enumerate(STRIPE_CURRENCIES)}
    frame = body.sort(
        [pl.col("cur").replace_strict(rank, return_dtype=pl.Int64), pl.col("booked")], maintain_order=True
    )
    path = f"stripe/payout_reconciliation_itemized_{day.date.isoformat()}.csv"
    _write_csv(_render_stripe(frame, day, payout_ids), out_dir / path)
    tagged = _tagged(frame, pl.col("charge_id"), pl.col("gross"), _currency_name())
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
    return _Written(path, frame.height, tagged, by_type), payouts


def _bank_entries(rng: np.random.Generator, day: _Day, payouts: list[Payout], plant: bool) -> list[_Entry]:
    """One credit per payout (less the planted gaps), plus the planted unknown credit and charges."""
    entries: list[_Entry] = []
    for p in payouts:
        cur = CURRENCIES.index(p.currency)
        if plant and p.channel == ADYEN_CHANNEL and cur == CLP:
            continue  # payout_without_bank_credit
        amount = p.amount_minor
        if plant and p.channel == STRIPE_CHANNEL and cur == MXN:
            amount -= PAYOUT_SHORTFALL_MINOR  # payout_amount_mismatch
        code = ("PMNT", "RCDT", "ESCT" if cur == EUR else "XBCT")
        if p.channel == ADYEN_CHANNEL:
            batch = p.payout_id.rsplit("-", 1)[1]
            text, payer = f"ADYEN PAYOUT BATCH {batch} {MERCHANT_ACCOUNT}", ADYEN_PAYER
        else:
            text, payer = f"STRIPE PAYOUT {p.payout_id}", STRIPE_PAYER
        entries.append(_Entry(cur, True, amount, p.payout_id, text, payer, code, p.payout_id))
    if plant:
        year = day.date.year
        invoice = int(rng.integers(1000, 9999))
        entries.append(
            _Entry(
                GBP,
                True,
                int(rng.integers(500, 5000)) * 100,
                f"HLT-{year}-{invoice}",
                f"INVOICE {year}-{invoice} PAYPLATFORM",
                "Harbour Lane Trading Ltd",
                ("PMNT", "RCDT", "XBCT"),
                "bank_credit_without_payout",
            )
        )
        entries.append(
            _Entry(
                EUR,
                False,
                3750,
                None,
                f"ACCOUNT CHARGES {day.date.strftime('%Y-%m')}",
                BANK_NAME,
                ("ACMT", "MDOP", "CHRG"),
                "bank_debit_unexplained",
            )
        )
    return entries


def write_day(out_dir: Path, business_date: dt.date, n_orders: int, seed: int = 7, plant: bool = True) -> Expected:
    """Write one business day under ``out_dir`` and return its expected reconciliation outcome."""
    minimum = MIN_ORDERS_PLANTED if plant else MIN_ORDERS
    if n_orders < minimum:
        raise ValueError(f"n_orders must be at least {minimum} (got {n_orders})")
    out_dir = Path(out_dir)
    day = _Day.of(business_date)
    rng = np.random.default_rng([seed, business_date.toordinal()])
    adyen_refs = _Numbers(rng, 2 * n_orders + 200)

    orders = _orders(rng, day, n_orders, plant, adyen_refs)
    orders_path = f"orders/orders_{business_date.isoformat()}.csv"
    _write_csv(_render_orders(orders), out_dir / orders_path)
    order_tags = _tagged(
        orders,
        pl.col("order_id"),
        pl.when(pl.col("role") == BAD_AMOUNT).then(pl.lit(None, pl.Int64)).otherwise(pl.col("amount")),
        _currency_name(),
    )

    lines = _payment_lines(rng, day, orders, n_orders, plant, adyen_refs)
    adyen_payments = _adyen_payments(rng, lines.filter(pl.col("psp") == ADYEN), adyen_refs)
    duplicate = adyen_payments.filter(pl.col("tag") == "duplicated").with_columns(
        pl.lit(1, pl.Int8).alias("block"), pl.lit("duplicate_settlement_line").alias("tag")
    )
    reversals = _adyen_reversals(rng, day, adyen_payments, n_orders, adyen_refs)
    adyen_all = pl.concat([adyen_payments, duplicate, reversals], how="vertical_relaxed").cast(ADYEN_FRAME)
    written, payouts = _write_adyen(rng, day, out_dir, adyen_all)
    stripe, stripe_payouts = _write_stripe(rng, day, out_dir, lines.filter(pl.col("psp") == STRIPE), n_orders)
    written.append(stripe)
    payouts += stripe_payouts

    entries = _bank_entries(rng, day, payouts, plant)
    xml, entry_lines = _camt053(rng, day, entries, _account_ids(seed))
    bank_path = f"bank/camt053_{business_date.isoformat()}.xml"
    (out_dir / bank_path).parent.mkdir(parents=True, exist_ok=True)
    (out_dir / bank_path).write_bytes(xml.encode("utf-8"))
    credited = {e.tag: (e.amount_minor, line) for e, line in zip(entries, entry_lines, strict=True)}
    payouts = [
        dataclasses.replace(p, bank_amount_minor=credited[p.payout_id][0], bank_line_no=credited[p.payout_id][1])
        if p.payout_id in credited
        else p
        for p in payouts
    ]

    fx = _fx(rng, day)
    fx_path = f"fx/fx_rates_{business_date.isoformat()}.csv"
    _write_csv(fx, out_dir / fx_path)

    cases = _cases(orders_path, order_tags, written, payouts, bank_path, entries, entry_lines)
    breaks = dict.fromkeys(BREAK_TYPES, 0)
    quarantined: dict[str, int] = {}
    for case in cases:
        if case.kind in breaks:
            breaks[case.kind] += 1
        elif case.kind == "quarantined":
            quarantined[case.item.file] = quarantined.get(case.item.file, 0) + 1
    by_type: dict[str, int] = {}
    for w in written:
        for kind, k in w.by_type.items():
            by_type[kind] = by_type.get(kind, 0) + k
    role = orders["role"]
    return Expected(
        business_date=business_date.isoformat(),
        seed=seed,
        planted=plant,
        files=[orders_path, *(w.path for w in written), bank_path, fx_path],
        orders_rows=orders.height,
        psp_rows=sum(w.rows for w in written),
        adyen_rows=sum(w.rows for w in written if w.path.startswith("adyen/")),
        stripe_rows=stripe.rows,
        bank_rows=len(entries),
        fx_rows=fx.height,
        psp_rows_by_type=dict(sorted(by_type.items())),
        matched_order_psp_pairs=int(role.is_in([SETTLED, TOLERANCE, DUPLICATED]).sum()),
        matched_by_tolerance=int((role == TOLERANCE).sum()),
        payout_bank_matches=sum(1 for p in payouts if p.bank_amount_minor == p.amount_minor),
        breaks=breaks,
        quarantined_rows=quarantined,
        no_settlement_expected=int((role == NO_SETTLEMENT).sum()),
        payouts=payouts,
        cases=cases,
    )


def _item(file: str, row: dict[str, object] | None) -> Item | None:
    if row is None:
        return None
    amount, line_no, ref, currency = row["amount_minor"], row["line_no"], row["ref"], row["currency"]
    return Item(
        file=file,
        line_no=int(str(line_no)) if line_no is not None else None,
        ref=str(ref) if ref is not None else None,
        amount_minor=int(str(amount)) if amount is not None else None,
        currency=str(currency) if currency is not None else None,
    )


PAIR_NOTES = {
    "tolerance_match": "gross differs from the order by 1 minor unit; own psp_reference, merchant_reference = order_id",
    "amount_mismatch": "same references; gross differs from the order by more than 100 minor units",
    "currency_mismatch": "same references; settled in another currency than the order's",
    "status_mismatch": "the order failed or expired but the PSP settled it",
}


def _cases(
    orders_path: str,
    order_tags: pl.DataFrame,
    written: list[_Written],
    payouts: list[Payout],
    bank_path: str,
    entries: list[_Entry],
    entry_lines: list[int],
) -> list[Case]:
    """Every planted item with its file and line: breaks, tolerance matches and quarantined rows."""
    order_rows = {int(r["line_no"]): r for r in order_tags.iter_rows(named=True)}
    cases: list[Case] = []
    for row in order_tags.iter_rows(named=True):
        item = _item(orders_path, row)
        assert item is not None
        if row["tag"] == "order_not_settled":
            cases.append(Case("order_not_settled", item, None, "succeeded, and no PSP line for it"))
        elif row["tag"] == "bad_order_id":
            cases.append(Case("quarantined", item, None, "order_id is empty"))
        elif row["tag"] == "bad_amount":
            cases.append(Case("quarantined", item, None, f"amount is '{BAD_ORDER_AMOUNT}'"))
    for w in written:
        rows = list(w.tagged.iter_rows(named=True))
        originals = {str(r["ref"]): r for r in rows if r["tag"] == "duplicated"}
        for row in rows:
            tag = str(row["tag"])
            item = _item(w.path, row)
            assert item is not None
            if tag in PAIR_NOTES:
                order = order_rows.get(int(row["order_line"]))
                cases.append(Case(tag, item, _item(orders_path, order), PAIR_NOTES[tag]))
            elif tag == "psp_line_without_order":
                cases.append(Case(tag, item, None, "no order has this merchant or PSP reference"))
            elif tag == "duplicate_settlement_line":
                original = _item(w.path, originals.get(str(row["ref"])))
                cases.append(Case(tag, item, original, "same content as an earlier line of the batch"))
            elif tag == "bad_amount":
                note = f"Gross Credit (GC) is '{BAD_ADYEN_AMOUNT}'; left out of the batch payout"
                cases.append(Case("quarantined", item, None, note))
            elif tag == "bad_currency":
                note = f"currency is '{BAD_ADYEN_CURRENCY}'; left out of the batch payout"
                cases.append(Case("quarantined", item, None, note))
    for p in payouts:
        payout = Item(p.file, p.line_no, p.payout_id, p.amount_minor, p.currency)
        if p.bank_line_no is None:
            cases.append(Case("payout_without_bank_credit", payout, None, "no bank credit carries this payout id"))
        elif p.bank_amount_minor != p.amount_minor:
            bank = Item(bank_path, p.bank_line_no, p.payout_id, p.bank_amount_minor, p.currency)
            cases.append(Case("payout_amount_mismatch", payout, bank, "the bank credit is lower than the payout"))
    for e, line in zip(entries, entry_lines, strict=True):
        if e.tag in ("bank_credit_without_payout", "bank_debit_unexplained"):
            bank = Item(bank_path, line, e.end_to_end_id, e.amount_minor, CURRENCIES[e.currency])
            note = "EndToEndId matches no payout" if e.credit else "account charges"
            cases.append(Case(e.tag, bank, None, note))
    return cases


# --- CLI ------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.samples", description="Write a sample business day and print its expected outcome."
    )
    parser.add_argument("--out", type=Path, required=True, help="folder of the day (orders/, adyen/, ... inside)")
    parser.add_argument("--date", type=dt.date.fromisoformat, required=True, help="business date, YYYY-MM-DD")
    parser.add_argument("--orders", type=int, required=True, help="number of orders")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-plant", action="store_true", help="write a clean day without planted cases")
    args = parser.parse_args(argv)
    expected = write_day(args.out, args.date, args.orders, seed=args.seed, plant=not args.no_plant)
    print(expected.to_json())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
