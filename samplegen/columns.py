"""Building blocks shared by the files of a day: the business day's clock, random draws (references,
prices, orders of earlier days), amount and timestamp text, CSV writing and the tagged rows of a file."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import polars as pl

from pipelines.core import money
from samplegen.plan import ANY_ENDING, CURRENCIES, PROFILES, SETTLEMENT_ZONE

Ints = npt.NDArray[np.int64]

_ALPHABET = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8)


@dataclass(frozen=True)
class Day:
    date: dt.date
    midnight: int  # epoch seconds of 00:00 UTC
    offset: int  # seconds east of UTC of the settlement zone during the day
    zone_label: str

    @classmethod
    def of(cls, date: dt.date) -> Day:
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


def timestamp(epoch: pl.Expr, fmt: str, shift: int = 0) -> pl.Expr:
    return pl.from_epoch(epoch + shift, time_unit="s").dt.strftime(fmt)


def tokens(rng: np.random.Generator, k: int, length: int, prefix: str = "") -> pl.Series:
    """``k`` strings: ``prefix`` then ``length`` random base-62 characters."""
    codes = rng.integers(0, 62, size=(k, length), dtype=np.uint8)
    head = np.tile(np.frombuffer(prefix.encode("ascii"), dtype=np.uint8), (k, 1))
    raw = np.ascontiguousarray(np.concatenate([head, _ALPHABET[codes]], axis=1))
    return pl.Series(raw.view(f"S{len(prefix) + length}").ravel()).cast(pl.String)


def token(rng: np.random.Generator, length: int, prefix: str = "") -> str:
    return str(tokens(rng, 1, length, prefix)[0])


class Numbers:
    """A pool of distinct 16-digit references (Adyen PSP and modification references), drawn in
    [``low``, ``high``): the shards of a day draw from ranges of their own, so no two shards share one."""

    def __init__(self, rng: np.random.Generator, size: int, low: int = 10**15, high: int = 9 * 10**15) -> None:
        values = rng.integers(low, high, size=size, dtype=np.int64)
        while True:
            _, first = np.unique(values, return_index=True)
            repeated = np.ones(size, dtype=bool)
            repeated[first] = False
            if not repeated.any():
                break
            values[repeated] = rng.integers(low, high, size=int(repeated.sum()), dtype=np.int64)
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
        ending = np.where(ending == ANY_ENDING, anywhere, ending)
        out[idx] = steps * profile.scale + ending
    return out


def earlier_orders(rng: np.random.Generator, day: Day, k: int, n_orders: int) -> tuple[list[str], Ints]:
    """Ids of ``k`` orders of earlier days (refunded or disputed today) and their age in days."""
    back = rng.integers(1, 29, size=k)
    seq = rng.integers(1, max(n_orders, 1000), size=k)
    ids = [
        f"ORD-{(day.date - dt.timedelta(days=int(b))).strftime('%Y%m%d')}-{int(s):07d}"
        for b, s in zip(back, seq, strict=True)
    ]
    return ids, back.astype(np.int64)


def write_csv(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(path, line_terminator="\n", quote_style="necessary")


def tagged_rows(frame: pl.DataFrame, ref: pl.Expr, amount: pl.Expr, currency: pl.Expr) -> pl.DataFrame:
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


def currency_name(column: str = "cur") -> pl.Expr:
    return pl.col(column).replace_strict(dict(enumerate(CURRENCIES)), return_dtype=pl.String)
