"""Sample business day: orders, Adyen and Stripe settlement reports, a camt.053 statement, FX rates, and the
withdrawals' rail files (SEPA and PIX pain.002 status reports, an ACH NACHA file with returns).

``write_day`` writes one business day in the real file formats of the sample channels and returns
what a correct reconciliation of that day finds (``Expected``). With ``plant=True`` a fixed set of
reconciliation cases is planted, the same whatever the number of orders, so the outcome is known.

Files of a day (``<out>/<folder>/...``)::

    orders/orders_<date>.csv                            channel orders     (orders_csv)
    adyen/settlement_detail_report_batch_<N>.csv         channel adyen_eu   (adyen_sdr), one per batch
    stripe/payout_reconciliation_itemized_<date>.csv     channel stripe_eu  (stripe_payout_recon)
    bank/camt053_<date>.xml                              channel bank_eu    (camt053)
    fx/fx_rates_<date>.csv                               channel fx_ecb     (fx_rates_csv)
    rails/sepa/pain002_<date>.xml                        channel sepa_out   (pain002)
    rails/pix/pain002_pix_<date>.xml                     channel pix_out    (pain002)
    rails/ach/odfi_<date>.ach                            channel ach_out    (nacha)

A large day can be written in shards (``shard_orders``, ``--shard-orders``): several files per channel for the
day, each self-consistent (``orders_<date>_partNNN.csv``, four Adyen batches a shard,
``payout_reconciliation_itemized_<date>_partNNN.csv`` with its own payouts, ``camt053_<date>_partNNN.xml``
whose balances follow on from the shard before), generated shard by shard so that the generator's memory is
that of one shard. The planted cases, withdrawals, rail files and FX rates are in the first shard.

The orders file holds the pay-in orders, then the withdrawals (``samplegen.rails``: their status files and
the bank debits that go on the camt.053, drawn from a generator of their own so that the pay-in files are
the same with or without them).

Everything is built column-wise (numpy draws, Polars expressions, ``write_csv``); only the bank
statement, one entry per payout, is written as text. Amounts are drawn, adjusted and summed as integer
minor units. The files are a pure function of (business date, number of orders, seed, plant).

Payout sums and quarantined rows: a payout amount is the sum of the net amounts of the lines of its
batch that a parser accepts. The two Adyen rows planted with bad input (currency ``XYZ``, amount
``10.123``) are left out of that sum, so their batch's MerchantPayout line and bank credit equal what
the valid lines say and quarantining them creates no payout break. The two bad order rows have no
settlement line, so quarantining them creates no order-side break either.

This module writes the day, lists its planted cases and holds the command line; the parts come from
``plan`` (constants, planted cases, profiles, fee tables), ``columns`` (the day's clock, random draws,
formatting), ``orders``, ``psp`` (Adyen and Stripe reports), ``bank`` (camt.053, FX) and ``outcome``
(``Expected``).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from samplegen.bank import Entry, account_ids, bank_entries, camt053, fx_rates, opening_balances
from samplegen.columns import Day, Numbers, currency_name, tagged_rows, write_csv
from samplegen.orders import draw_orders, payin_countries, payment_lines, render_orders
from samplegen.outcome import Case, Expected, Item, Payout
from samplegen.plan import (
    ADYEN,
    BAD_ADYEN_AMOUNT,
    BAD_ADYEN_CURRENCY,
    BAD_AMOUNT,
    BAD_ORDER_AMOUNT,
    BREAK_TYPES,
    CURRENCIES,
    DUPLICATED,
    MIN_ORDERS,
    MIN_ORDERS_PLANTED,
    NO_SETTLEMENT,
    ORDERS_HEADER,
    SETTLED,
    STRIPE,
    TOLERANCE,
    USD,
    WITHDRAWAL_BREAK_TYPES,
)
from samplegen.psp import ADYEN_FRAME, Written, adyen_payment_lines, adyen_reversals, write_adyen, write_stripe
from samplegen.rails import (
    PENDING_TAGS,
    Rails,
    draw_withdrawals,
    render_withdrawals,
    usd_opening,
    withdrawal_cases,
    withdrawal_matches,
    write_rails,
)

DEFAULT_SHARD_ORDERS = 5_000_000  # a day of more orders than this is written in shards (``write_day``)


@dataclass(frozen=True)
class Shard:
    """One shard of a sharded day: its index, the number of shards, the orders of the shards before it (its
    order ids count on from there) and the orders of the whole day."""

    index: int
    count: int
    first_order: int
    total_orders: int

    @property
    def suffix(self) -> str:
        return f"_part{self.index + 1:03d}"

    def reference_range(self) -> tuple[int, int]:
        """The shard's own slice of the 16-digit Adyen references, so that no two shards draw the same."""
        width = 8 * 10**15 // self.count
        return 10**15 + self.index * width, 10**15 + (self.index + 1) * width


def write_day(
    out_dir: Path,
    business_date: dt.date,
    n_orders: int,
    seed: int = 7,
    plant: bool = True,
    shard_orders: int | None = None,
) -> Expected:
    """Write one business day under ``out_dir`` and return its expected reconciliation outcome.

    With ``shard_orders`` and more orders than that, the day is written in shards of at most ``shard_orders``
    orders, one after the other (the generator's memory is that of one shard, whatever ``n_orders``): each
    shard has its own orders file, Adyen batches (one report each, with its Fee and MerchantPayout lines),
    Stripe report (its own payouts) and camt.053 statement (its balances follow on from the shard before), as
    when an order system, the PSPs and the bank deliver several files for the day. The planted cases, the
    withdrawals, their rail files and the FX rates are in the first shard. A day of ``shard_orders`` orders or
    fewer is written as without the option, byte for byte."""
    minimum = MIN_ORDERS_PLANTED if plant else MIN_ORDERS
    if n_orders < minimum:
        raise ValueError(f"n_orders must be at least {minimum} (got {n_orders})")
    if shard_orders is None or n_orders <= shard_orders:
        return _write_part(Path(out_dir), business_date, n_orders, seed, plant)[0]
    count = -(-n_orders // shard_orders)
    if n_orders // count < minimum:
        raise ValueError(f"shards of {shard_orders} orders are too small: at least {minimum} orders a shard")
    sizes = [n_orders // count + (1 if k < n_orders % count else 0) for k in range(count)]
    parts: list[Expected] = []
    balances: dict[int, int] | None = None
    first = 0
    for k, size in enumerate(sizes):
        shard = Shard(k, count, first, n_orders)
        expected, balances = _write_part(Path(out_dir), business_date, size, seed, plant and k == 0, shard, balances)
        parts.append(expected)
        first += size
    return _merge(parts)


def _write_part(
    out_dir: Path,
    business_date: dt.date,
    n_orders: int,
    seed: int,
    plant: bool,
    shard: Shard | None = None,
    openings: dict[int, int] | None = None,
) -> tuple[Expected, dict[int, int]]:
    """One day, or one ``shard`` of it, and the closing balance of each account of its statement.
    ``openings``: a shard's opening balances (the closing balances of the shard before; None: drawn)."""
    day = Day.of(business_date)
    first = shard is None or shard.index == 0
    suffix = "" if shard is None else shard.suffix
    if shard is None:
        rng = np.random.default_rng([seed, business_date.toordinal()])
        adyen_refs = Numbers(rng, 2 * n_orders + 200)
    else:
        rng = np.random.default_rng([seed, business_date.toordinal(), 23, shard.index])
        adyen_refs = Numbers(rng, 2 * n_orders + 200, *shard.reference_range())
    offset = 0 if shard is None else shard.first_order
    day_orders = n_orders if shard is None else shard.total_orders

    orders = draw_orders(rng, day, n_orders, plant, adyen_refs, offset)
    orders_path = f"orders/orders_{business_date.isoformat()}{suffix}.csv"
    # the withdrawals and the pay-in columns the PSP files do not decide draw from a generator of their own
    if shard is None:
        rails_rng = np.random.default_rng([seed, business_date.toordinal(), 19])
    else:
        rails_rng = np.random.default_rng([seed, business_date.toordinal(), 19, shard.index])
    withdrawals = draw_withdrawals(rails_rng, day, plant) if first else []
    order_tags = tagged_rows(
        orders,
        pl.col("order_id"),
        pl.when(pl.col("role") == BAD_AMOUNT).then(pl.lit(None, pl.Int64)).otherwise(pl.col("amount")),
        currency_name(),
    )

    lines = payment_lines(rng, day, orders, day_orders, plant, adyen_refs)
    adyen_payments = adyen_payment_lines(rng, lines.filter(pl.col("psp") == ADYEN), adyen_refs)
    duplicate = adyen_payments.filter(pl.col("tag") == "duplicated").with_columns(
        pl.lit(1, pl.Int8).alias("block"), pl.lit("duplicate_settlement_line").alias("tag")
    )
    reversals = adyen_reversals(rng, day, adyen_payments, day_orders, adyen_refs)
    adyen_all = pl.concat([adyen_payments, duplicate, reversals], how="vertical_relaxed").cast(ADYEN_FRAME)
    del adyen_refs
    written, payouts = write_adyen(rng, day, out_dir, adyen_all, None if shard is None else shard.index)
    del adyen_all, reversals, duplicate
    stripe, stripe_payouts = write_stripe(rng, day, out_dir, lines.filter(pl.col("psp") == STRIPE), day_orders, suffix)
    del lines
    written.append(stripe)
    payouts += stripe_payouts
    methods = pl.concat(
        [
            adyen_payments.filter(pl.col("order_seq").is_not_null()).select("order_seq", "payment_method"),
            *(w.methods for w in written if w.methods is not None),
        ]
    )
    del adyen_payments
    stripe.methods = None
    payins = render_orders(orders, methods, payin_countries(rails_rng, orders))
    del methods
    write_csv(pl.concat([payins, render_withdrawals(withdrawals, ORDERS_HEADER)]), out_dir / orders_path)
    del payins

    accounts = account_ids(seed)
    if first:
        rails, rail_files = write_rails(rails_rng, day, withdrawals, accounts, plant)
    else:
        rails, rail_files = Rails(withdrawals, [], 0, [], [], {}, {}), {}
    for path, data in rail_files.items():
        (out_dir / path).parent.mkdir(parents=True, exist_ok=True)
        (out_dir / path).write_bytes(data)
    payin_entries = bank_entries(rng, day, payouts, plant)
    entries = payin_entries + rails.entries
    if shard is None:
        balances = {USD: usd_opening(rails_rng)}
    else:
        balances = dict(openings) if openings is not None else opening_balances(rng, usd_opening(rails_rng))
    xml, entry_lines = camt053(rng, day, entries, accounts, balances, None if shard is None else shard.index)
    closings = {
        cur: opening + sum(e.amount_minor if e.credit else -e.amount_minor for e in entries if e.currency == cur)
        for cur, opening in balances.items()
    }
    bank_path = f"bank/camt053_{business_date.isoformat()}{suffix}.xml"
    (out_dir / bank_path).parent.mkdir(parents=True, exist_ok=True)
    (out_dir / bank_path).write_bytes(xml.encode("utf-8"))
    credited = {
        e.tag: (e.amount_minor, line) for e, line in zip(payin_entries, entry_lines[: len(payin_entries)], strict=True)
    }
    payouts = [
        dataclasses.replace(p, bank_amount_minor=credited[p.payout_id][0], bank_line_no=credited[p.payout_id][1])
        if p.payout_id in credited
        else p
        for p in payouts
    ]

    fx = fx_rates(rng, day) if first else pl.DataFrame()
    fx_path = f"fx/fx_rates_{business_date.isoformat()}.csv"
    if first:
        write_csv(fx, out_dir / fx_path)

    cases = _cases(
        orders_path, order_tags, written, payouts, bank_path, payin_entries, entry_lines[: len(payin_entries)]
    )
    rail_cases = withdrawal_cases(rails, orders_path, orders.height + 2, bank_path, entry_lines[len(payin_entries) :])
    cases += rail_cases
    breaks = dict.fromkeys(BREAK_TYPES, 0)
    withdrawal_breaks = dict.fromkeys(WITHDRAWAL_BREAK_TYPES, 0)
    for case in rail_cases:
        if case.kind in withdrawal_breaks:
            withdrawal_breaks[case.kind] += 1
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
        files=[orders_path, *(w.path for w in written), bank_path, *([fx_path] if first else []), *rails.files],
        orders_rows=orders.height + len(withdrawals),
        psp_rows=sum(w.rows for w in written),
        adyen_rows=sum(w.rows for w in written if w.path.startswith("adyen/")),
        stripe_rows=stripe.rows,
        bank_rows=len(entries),
        withdrawal_orders=len(withdrawals),
        payment_status_rows=rails.status_rows,
        withdrawal_matches=withdrawal_matches(withdrawals),
        withdrawals_pending=sum(1 for w in withdrawals if w.spec.tag in PENDING_TAGS),
        withdrawal_breaks=withdrawal_breaks,
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
    ), closings


def _merge(parts: list[Expected]) -> Expected:
    """The expected outcome of a sharded day: its shards' counts added up (numbers, and per-key counts),
    their payouts and cases one after the other, their files by kind; date, seed and planting the first's."""
    first = parts[0]
    kinds = ("orders/", "adyen/", "stripe/", "bank/")
    files = [f for kind in kinds for p in parts for f in p.files if f.startswith(kind)]
    files += [f for p in parts for f in p.files if not f.startswith(kinds)]
    merged: dict[str, Any] = {"files": files}
    for spec in dataclasses.fields(Expected):
        values = [getattr(p, spec.name) for p in parts]
        if spec.name in merged or spec.name in ("business_date", "seed", "planted"):
            continue
        if isinstance(values[0], int):
            merged[spec.name] = sum(values)
        elif isinstance(values[0], dict):
            counts: dict[str, int] = {}
            for value in values:
                for k, v in value.items():
                    counts[k] = counts.get(k, 0) + v
            merged[spec.name] = counts
        elif isinstance(values[0], list):
            merged[spec.name] = [x for value in values for x in value]
        else:
            raise TypeError(f"no rule to merge Expected.{spec.name} across shards")
    merged["psp_rows_by_type"] = dict(sorted(merged["psp_rows_by_type"].items()))
    return dataclasses.replace(first, **merged)


def join_shards(out_dir: Path) -> list[str]:
    """Rewrite a sharded day as one file per channel, the same rows in the same order: the orders files and the
    Stripe reports concatenated under one header, the camt.053 statements in one message (one statement per
    account and shard, as a bank sends several statements of an account in one file); the Adyen reports stay
    one per batch. Returns the files written. Reconciling the result must give what the shards give."""
    out_dir = Path(out_dir)
    written: list[str] = []
    for folder in ("orders", "stripe"):
        parts = sorted((out_dir / folder).glob("*_part[0-9][0-9][0-9].csv"))
        if not parts:
            continue
        target = parts[0].with_name(parts[0].name.removesuffix("_part001.csv") + ".csv")
        with target.open("wb") as out:
            for i, part in enumerate(parts):
                with part.open("rb") as src:
                    header = src.readline()
                    if i == 0:
                        out.write(header)
                    shutil.copyfileobj(src, out, 1 << 24)
                part.unlink()
        written.append(target.relative_to(out_dir).as_posix())
    parts = sorted((out_dir / "bank").glob("*_part[0-9][0-9][0-9].xml"))
    if parts:
        texts = [p.read_text(encoding="utf-8") for p in parts]
        head, _, _ = texts[0].partition("    <Stmt>\n")
        body = ["    <Stmt>\n" + t.partition("    <Stmt>\n")[2].rpartition("  </BkToCstmrStmt>\n")[0] for t in texts]
        target = parts[0].with_name(parts[0].name.removesuffix("_part001.xml") + ".xml")
        target.write_text(head + "".join(body) + "  </BkToCstmrStmt>\n</Document>\n", encoding="utf-8")
        for part in parts:
            part.unlink()
        written.append(target.relative_to(out_dir).as_posix())
    return written


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
    written: list[Written],
    payouts: list[Payout],
    bank_path: str,
    entries: list[Entry],
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
        prog="python -m samplegen.day", description="Write a sample business day and print its expected outcome."
    )
    parser.add_argument("--out", type=Path, required=True, help="folder of the day (orders/, adyen/, ... inside)")
    parser.add_argument("--date", type=dt.date.fromisoformat, required=True, help="business date, YYYY-MM-DD")
    parser.add_argument("--orders", type=int, required=True, help="number of orders")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-plant", action="store_true", help="write a clean day without planted cases")
    parser.add_argument(
        "--shard-orders", type=int, default=None, help="write the day in shards of at most this many orders"
    )
    args = parser.parse_args(argv)
    expected = write_day(
        args.out, args.date, args.orders, seed=args.seed, plant=not args.no_plant, shard_orders=args.shard_orders
    )
    print(expected.to_json())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
