"""Benchmark of the matching stage: a realistic rule set against a single exact-key join of the same data.

``python -m bench.match --rows 1000000`` builds canonical frames directly in Polars (orders, PSP
settlement lines, bank credits of the payouts, FX rates), loads them into DuckDB the way ``reconcile``
does, then times ``match.run_matching`` with eight rules (exact reference, fee-explained net, amount
tolerance, normalised reference, FX conversion, split settlements one-to-many, fuzzy reference,
payout batches many-to-one) and a single exact-key join of the same orders and lines (the reference of the
ratio); a full-join-and-classify statement of the same data is timed as a second reference. It prints one
JSON line: rows, seconds (median of ``--repeat`` runs), the ratios, matches per rule, breaks per type and
the planted cases each rule is meant to find.

It also times a floor: the least any engine with priority and exclusivity must do for the first rule alone
(``FIRST_RULE_FLOOR``): its candidate pairs under all its conditions, keeping the pairs whose sides have no
other candidate (one statement), and the open items of both sides that the next rules start from. It records
no match, resolves no tie, classifies no break and runs no other rule, so no matching stage of these rules
can take less than it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import statistics
import sys
import tempfile
import time
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import polars as pl

from pipelines.core import money, schema, sqlfiles
from pipelines.core.dates import parse_business_date
from pipelines.match.engine import run_matching
from pipelines.match.rules import load_rules

CURRENCIES = ("EUR", "GBP", "USD", "BRL", "JPY", "BHD", "CLP")
CURRENCY_SHARE = (0.45, 0.2, 0.12, 0.1, 0.06, 0.04, 0.03)
EUR_RATES = {"GBP": "0.857100", "USD": "1.084200", "BRL": "5.412300", "JPY": "162.350000", "BHD": "0.408700",
             "CLP": "1012.500000"}  # fmt: skip
CHANNELS = ("adyen_eu", "stripe_eu")
# what happens to a settled order: its share, and the rule meant to match it
SEGMENTS = (
    ("exact", 0.853, "order_psp_reference_exact"),
    ("fee", 0.02, "order_net_plus_fee"),
    ("tolerance", 0.03, "order_merchant_reference_tolerance"),
    ("normalised", 0.025, "order_merchant_reference_normalised"),
    ("fx", 0.025, "order_merchant_reference_fx"),
    ("split", 0.02, "order_split_settlements"),
    ("fuzzy", 0.01, "order_fuzzy_reference"),
    ("mismatch", 0.005, None),
    ("unsettled", 0.012, None),
)
TABLE_INDEX = {"orders": 1, "psp_settlement_lines": 2, "bank_statement_lines": 3, "fx_rates": 4, "payment_status": 5}

# The pairing part of a rule file (its version line first, its rules after), shared with the tests.
PAIRING_ORDERS_PSP = """\
pairing:
  left: orders
  right: psp_settlement_lines
  duplicates: [channel, psp_reference, merchant_reference, record_type, gross_minor, gross_currency, net_minor]
  breaks:
    left_unmatched: order_not_settled
    right_unmatched: psp_line_without_order
    amount: amount_mismatch
    currency: currency_mismatch
    status: status_mismatch
    left_not_admitted: no_settlement_expected
rules:
"""
PAIRING_PAYOUTS_BANK = """\
pairing:
  left: psp_settlement_lines
  right: bank_statement_lines
  breaks:
    left_unmatched: payout_without_bank_credit
    right_unmatched: bank_credit_without_payout
    amount: payout_amount_mismatch
    currency: payout_amount_mismatch
    status: payout_amount_mismatch
    duplicate: payout_without_bank_credit
    right_not_admitted: bank_debit_unexplained
rules:
"""

RULES_ORDERS_PSP = (
    'version: "bench.1"\n'
    + PAIRING_ORDERS_PSP
    + """\
  - id: order_psp_reference_exact
    description: Same PSP reference, gross amount and currency, booked within 3 days.
    owner: bench
    priority: 10
    left: {filter: {status: [succeeded, refunded]}}
    right: {filter: {record_type: [payment]}}
    keys: [{left: psp_reference, right: psp_reference}]
    amount: {left: amount_minor, right: gross_minor}
    currency: {left: currency, right: gross_currency}
    date_window_days: {left: business_date, right: business_date, min_days: 0, max_days: 3}
  - id: order_net_plus_fee
    description: The line reports no gross; its net plus its fee is the order amount.
    owner: bench
    priority: 15
    left: {filter: {status: [succeeded, refunded]}}
    right: {filter: {record_type: [payment]}}
    keys: [{left: psp_reference, right: psp_reference}]
    amount: {left: amount_minor, right: net_minor, gross_side: left, fee: {side: right, column: fee_minor}}
    currency: {left: currency, right: currency}
  - id: order_merchant_reference_tolerance
    description: Our order id as merchant reference, gross within 2 minor units.
    owner: bench
    priority: 20
    left: {filter: {status: [succeeded, refunded]}}
    right: {filter: {record_type: [payment]}}
    keys: [{left: order_id, right: merchant_reference}]
    amount: {left: amount_minor, right: gross_minor, tolerance_minor: 2}
    currency: {left: currency, right: gross_currency}
    date_window_days: {left: business_date, right: business_date, min_days: 0, max_days: 3}
  - id: order_merchant_reference_normalised
    description: The merchant reference as typed by the PSP (case, spaces, an mr/ prefix).
    owner: bench
    priority: 30
    left: {filter: {status: [succeeded, refunded]}}
    right: {filter: {record_type: [payment]}}
    keys:
      - left: order_id
        right: merchant_reference
        left_normalise: [casefold]
        right_normalise: [trim, casefold, {strip_prefix: "mr/"}]
    amount: {left: amount_minor, right: gross_minor}
    currency: {left: currency, right: gross_currency}
  - id: order_merchant_reference_fx
    description: Settled in another currency; converted at the order date's rate, within 30 bps or 1 minor unit.
    owner: bench
    priority: 40
    left: {filter: {status: [succeeded, refunded]}}
    right: {filter: {record_type: [payment]}}
    keys: [{left: order_id, right: merchant_reference}]
    amount: {left: amount_minor, right: gross_minor, tolerance_minor: 1, tolerance_bps: 30}
    currency: {left: currency, right: gross_currency, fx: {date: {side: left, column: business_date}}}
  - id: order_split_settlements
    description: Several lines carrying the order id whose gross adds up to the order (partial captures).
    owner: bench
    priority: 50
    kind: one_to_many
    left: {filter: {status: [succeeded, refunded]}}
    right: {filter: {record_type: [payment]}, group_by: [merchant_reference]}
    keys: [{left: order_id, right: merchant_reference}]
    amount: {left: amount_minor, right: gross_minor}
    currency: {left: currency, right: gross_currency}
    max_group_size: 10
  - id: order_fuzzy_reference
    description: Last resort, low confidence; same account, currency and amount, reference nearly the order id.
    owner: bench
    priority: 90
    kind: fuzzy
    left: {filter: {status: [succeeded, refunded]}}
    right: {filter: {record_type: [payment]}}
    keys: [{left: merchant_account, right: merchant_account}]
    fuzzy: {left: order_id, right: merchant_reference, function: jaro_winkler, min_similarity: 0.95}
    amount: {left: amount_minor, right: gross_minor}
    currency: {left: currency, right: gross_currency}
"""
)

RULES_PAYOUTS_BANK = (
    'version: "bench.1"\n'
    + PAIRING_PAYOUTS_BANK
    + """\
  - id: payout_batch_to_bank_credit
    description: A payout batch (sum of its lines' net) equals one credit with the payout id, within 2 business days.
    owner: bench
    priority: 100
    kind: many_to_one
    left: {filter: {record_type: [payment, refund, fee]}, group_by: [channel, payout_id]}
    right: {filter: {direction: [credit]}}
    keys: [{left: payout_id, right: end_to_end_id}]
    amount: {left: net_minor, right: amount_minor}
    currency: {left: currency, right: currency}
    date_window_business_days: {left: business_date, right: booking_date, min_days: 0, max_days: 2, calendar: NL}
"""
)


def write_rules(rules_dir: Path) -> None:
    (rules_dir / "matching").mkdir(parents=True, exist_ok=True)
    (rules_dir / "channels").mkdir(parents=True, exist_ok=True)
    (rules_dir / "matching" / "10_orders_psp.yaml").write_text(RULES_ORDERS_PSP)
    (rules_dir / "matching" / "20_payouts_bank.yaml").write_text(RULES_PAYOUTS_BANK)


def _to_eur(amount: int, currency: str) -> int:
    """Minor units of ``currency`` to EUR cents at the bench rate, half-even (the generator's own arithmetic)."""
    major = Decimal(amount).scaleb(-money.exponent(currency)) / Decimal(EUR_RATES[currency])
    return int(major.scaleb(2).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def build_day(rows: int, day: dt.date, seed: int = 5) -> tuple[dict[str, pl.DataFrame], dict[str, int]]:
    """Canonical frames of one business day and the number of planted cases per rule."""
    rng = np.random.default_rng(seed)
    n = rows
    seq = np.arange(n, dtype=np.int64)
    cur_idx = rng.choice(len(CURRENCIES), n, p=CURRENCY_SHARE)
    currency = np.array(CURRENCIES)[cur_idx]
    amount = rng.integers(500, 500_000, n, dtype=np.int64)
    status = rng.choice(np.array(["succeeded", "refunded", "failed", "expired"]), n, p=(0.93, 0.02, 0.03, 0.02))
    channel = np.array(CHANNELS)[rng.integers(0, 2, n)]
    psp_ref_num = rng.permutation(n).astype(np.int64) + 10**11
    at = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
    orders = pl.DataFrame(
        {
            "file_id": "bench_orders",
            "line_no": seq + 2,
            "channel": "orders",
            "business_date": day,
            "order_id": pl.Series(seq).cast(pl.String).str.zfill(10).str.pad_start(10, "0"),
            "psp_channel": channel,
            "psp_reference": pl.Series(psp_ref_num).cast(pl.String),
            "merchant_account": pl.Series(seq % 50).cast(pl.String),
            "status": status,
            "amount_minor": amount,
            "currency": currency,
            "created_at": at,
        }
    ).with_columns(
        (pl.lit("ORD-") + pl.col("order_id")).alias("order_id"),
        (pl.lit("MA") + pl.col("merchant_account")).alias("merchant_account"),
    )
    settled = np.isin(status, ["succeeded", "refunded"])
    names = [s[0] for s in SEGMENTS]
    shares = np.array([s[1] for s in SEGMENTS])
    segment = np.array(names)[rng.choice(len(SEGMENTS), n, p=shares / shares.sum())]
    segment = np.where(settled, segment, "unsettled")
    segment = np.where((segment == "fx") & (currency == "EUR"), "exact", segment)
    o = orders.with_columns(pl.Series("segment", segment), pl.Series("batch", rng.integers(0, 200, n)))

    def lines(frame: pl.DataFrame, **cols: Any) -> pl.DataFrame:
        base = {
            "channel": pl.col("psp_channel"),
            "business_date": pl.lit(day),
            "record_type": pl.lit("payment"),
            "psp_reference": pl.col("psp_reference"),
            "merchant_reference": pl.col("order_id"),
            "merchant_account": pl.col("merchant_account"),
            "booked_at": pl.lit(at),
            "gross_minor": pl.col("amount_minor"),
            "gross_currency": pl.col("currency"),
            "currency": pl.col("currency"),
            "payout_id": pl.format("PO-{}-{}-{}", pl.col("psp_channel"), pl.col("currency"), pl.col("batch")),
        }
        base.update(cols)
        out = frame.select(**base)
        fee = (pl.col("gross_minor").fill_null(pl.col("fee_base")) * 15 // 1000).alias("fee_minor")
        return (
            out.with_columns(frame["amount_minor"].alias("fee_base"))
            .with_columns(fee)
            .with_columns(
                (pl.col("gross_minor").fill_null(pl.col("fee_base")) - pl.col("fee_minor")).alias("net_minor")
            )
            .drop("fee_base")
        )

    seg = {name: o.filter(pl.col("segment") == name) for name in names}
    parts = [
        lines(seg["exact"]),
        lines(seg["fee"], gross_minor=pl.lit(None, pl.Int64)),
        lines(
            seg["tolerance"],
            psp_reference=pl.lit("T") + pl.col("psp_reference"),
            gross_minor=pl.col("amount_minor") + (pl.col("line_no") % 5 - 2),
        ),
        lines(
            seg["normalised"],
            psp_reference=pl.lit("N") + pl.col("psp_reference"),
            merchant_reference=pl.lit("  MR/") + pl.col("order_id").str.to_lowercase() + pl.lit(" "),
        ),
        lines(
            seg["mismatch"],
            psp_reference=pl.col("psp_reference"),
            gross_minor=pl.col("amount_minor") + 5000,
        ),
    ]
    fx = seg["fx"]
    eur = [_to_eur(a, c) for a, c in zip(fx["amount_minor"].to_list(), fx["currency"].to_list(), strict=True)]
    drift = (fx["line_no"] % 41 - 20).to_numpy()  # within +-20 basis points
    eur_gross = pl.Series([e + e * d // 10000 for e, d in zip(eur, drift, strict=True)], dtype=pl.Int64)
    parts.append(
        lines(
            fx.with_columns(eur_gross.alias("eur")),
            psp_reference=pl.lit("F") + pl.col("psp_reference"),
            gross_minor=pl.col("eur"),
            gross_currency=pl.lit("EUR"),
            currency=pl.lit("EUR"),
            payout_id=pl.format("PO-{}-EUR-{}", pl.col("psp_channel"), pl.col("batch")),
        )
    )
    split = seg["split"]
    first = split.with_columns((pl.col("amount_minor") * 2 // 5).alias("part"))
    parts.append(lines(first, psp_reference=pl.lit("S1") + pl.col("psp_reference"), gross_minor=pl.col("part")))
    parts.append(
        lines(
            first,
            psp_reference=pl.lit("S2") + pl.col("psp_reference"),
            gross_minor=pl.col("amount_minor") - pl.col("part"),
        )
    )
    # a typing error: the last digit keyed as the letter O (never another order's id)
    fuzzy = seg["fuzzy"].with_columns((pl.col("order_id").str.slice(0, 13) + pl.lit("O")).alias("typo"))
    parts.append(lines(fuzzy, psp_reference=pl.lit("Z") + pl.col("psp_reference"), merchant_reference=pl.col("typo")))
    orphans = o.sample(max(1, n // 200), seed=seed).with_columns(
        pl.lit("orphan").alias("segment"), ("X" + pl.col("order_id")).alias("order_id")
    )
    parts.append(lines(orphans, psp_reference=pl.lit("Q") + pl.col("psp_reference")))
    psp = pl.concat(parts, how="vertical_relaxed")
    dups = psp.filter(pl.col("psp_reference").str.starts_with("1")).head(max(1, n // 1000))
    psp = pl.concat([psp, dups]).with_columns(pl.lit("bench_psp").alias("file_id"))
    psp = psp.with_columns((pl.int_range(pl.len()) + 2).alias("line_no"))

    payouts = (
        psp.group_by("channel", "payout_id", "currency")
        .agg(pl.col("net_minor").sum().alias("amount_minor"))
        .sort("payout_id")
        .with_row_index("k")
    )
    booking = day + dt.timedelta(days=1)
    bank = payouts.select(
        pl.lit("bench_bank").alias("file_id"),
        (pl.col("k").cast(pl.Int64) + 2).alias("line_no"),
        pl.lit("bank_eu").alias("channel"),
        pl.lit(day).alias("business_date"),
        pl.format("NL00BANK{}", pl.col("currency")).alias("account_id"),
        pl.lit(booking).alias("booking_date"),
        pl.lit(booking).alias("value_date"),
        pl.lit("credit").alias("direction"),
        (pl.col("amount_minor") - pl.when(pl.col("k") % 200 == 7).then(100).otherwise(0)).alias("amount_minor"),
        "currency",
        pl.col("payout_id").alias("end_to_end_id"),
    )
    fx_rates = pl.DataFrame(
        {
            "file_id": "bench_fx",
            "line_no": list(range(2, 2 + len(EUR_RATES))),
            "channel": "fx_ecb",
            "business_date": day,
            "base_currency": "EUR",
            "quote_currency": list(EUR_RATES),
            "rate": [Decimal(v) for v in EUR_RATES.values()],
        }
    )
    frames = {
        "orders": schema.table("orders").conform(orders),
        "psp_settlement_lines": schema.table("psp_settlement_lines").conform(psp),
        "bank_statement_lines": schema.table("bank_statement_lines").conform(bank),
        "fx_rates": schema.table("fx_rates").conform(fx_rates),
        # the rails' status reports (withdrawals): none in the benchmark, but a matchable table all the same
        "payment_status": pl.DataFrame(schema=schema.table("payment_status").polars_schema()),
    }
    planted = {rule: int((segment == name).sum()) for name, _, rule in SEGMENTS if rule}
    planted["payout_batch_to_bank_credit"] = payouts.height - int((payouts["k"] % 200 == 7).sum())
    return frames, planted


def _finish_load(con: duckdb.DuckDBPyConnection) -> None:
    exps = pl.DataFrame({"currency": list(money.exponents()), "exponent": list(money.exponents().values())})
    con.register("exps_src", exps)
    con.execute("CREATE OR REPLACE TABLE currency_exponents AS SELECT * FROM exps_src")
    con.unregister("exps_src")
    con.execute(sqlfiles.load("macros"))


def load(con: duckdb.DuckDBPyConnection, frames: dict[str, pl.DataFrame]) -> None:
    """The tables ``reconcile`` loads, from frames: canonical rows with their item id, exponents, macros."""
    for table, frame in frames.items():
        con.register("bench_src", frame)
        con.execute(
            f"CREATE OR REPLACE TABLE {sqlfiles.ident(table)} AS "
            f"SELECT (CAST({TABLE_INDEX[table]} AS BIGINT) << 56) + line_no AS item_id, * FROM bench_src"
        )
        con.unregister("bench_src")
    _finish_load(con)


def load_parquet(con: duckdb.DuckDBPyConnection, files: dict[str, str]) -> None:
    """The same tables read from staged Parquet, as ``reconcile`` reads them."""
    for table, path in files.items():
        con.execute(
            f"CREATE OR REPLACE TABLE {sqlfiles.ident(table)} AS "
            f"SELECT (CAST({TABLE_INDEX[table]} AS BIGINT) << 56) + line_no AS item_id, * FROM read_parquet($f)",
            {"f": path},
        )
    _finish_load(con)


EXACT_JOIN = (
    "CREATE OR REPLACE TABLE bench_join AS SELECT o.item_id AS order_item, p.item_id AS line_item, "
    "o.amount_minor = p.gross_minor AS same_amount FROM orders AS o "
    "JOIN psp_settlement_lines AS p ON o.psp_reference = p.psp_reference"
)
# A second reference: the naive reconciliation a single statement can do (every order and every line, joined
# on the reference, classified as matched / amount or currency mismatch / one side only), written as a table.
JOIN_AND_CLASSIFY = (
    "CREATE OR REPLACE TABLE bench_classify AS SELECT o.item_id AS order_item, p.item_id AS line_item, "
    "CASE WHEN o.item_id IS NULL THEN 'line_without_order' WHEN p.item_id IS NULL THEN 'order_not_settled' "
    "WHEN o.currency <> p.gross_currency THEN 'currency_mismatch' WHEN o.amount_minor <> p.gross_minor "
    "THEN 'amount_mismatch' ELSE 'matched' END AS outcome FROM orders AS o "
    "FULL JOIN psp_settlement_lines AS p ON o.psp_reference = p.psp_reference"
)
EXACT_JOIN_PARQUET = (
    "CREATE OR REPLACE TABLE bench_join AS SELECT o.order_id, p.psp_reference, o.amount_minor = p.gross_minor AS same "
    "FROM read_parquet($o) AS o JOIN read_parquet($p) AS p ON o.psp_reference = p.psp_reference"
)

# The floor (see the module docstring), on the first rule of RULES_ORDERS_PSP: its filters and conditions.
FIRST_RULE_FLOOR = (
    "CREATE OR REPLACE TEMP TABLE floor_chosen AS SELECT o.item_id AS l_id, p.item_id AS r_id "
    "FROM orders AS o JOIN psp_settlement_lines AS p ON o.psp_reference = p.psp_reference "
    "WHERE o.status IN ('succeeded', 'refunded') AND p.record_type = 'payment' AND o.currency = p.gross_currency "
    "AND o.amount_minor = p.gross_minor AND p.business_date - o.business_date BETWEEN 0 AND 3 "
    "QUALIFY count(*) OVER (PARTITION BY o.item_id) = 1 AND count(*) OVER (PARTITION BY p.item_id) = 1",
    "CREATE OR REPLACE TEMP TABLE floor_open_left AS SELECT o.item_id, o.order_id, o.psp_reference, "
    "o.merchant_account, o.status, o.amount_minor, o.currency, o.business_date "
    "FROM orders AS o ANTI JOIN floor_chosen AS c ON c.l_id = o.item_id",
    "CREATE OR REPLACE TEMP TABLE floor_open_right AS SELECT p.item_id, p.psp_reference, p.merchant_reference, "
    "p.merchant_account, p.record_type, p.gross_minor, p.gross_currency, p.net_minor, p.fee_minor, p.currency, "
    "p.business_date FROM psp_settlement_lines AS p ANTI JOIN floor_chosen AS c ON c.r_id = p.item_id",
)


def _first_rule_floor(con: duckdb.DuckDBPyConnection) -> None:
    for statement in FIRST_RULE_FLOOR:
        con.execute(statement)


def _timed(fn: Any) -> tuple[float, float]:
    """Wall and CPU seconds (all threads of the process) of one call."""
    w, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w, time.process_time() - c


def run(rows: int, repeat: int, day: dt.date) -> dict[str, Any]:
    t0 = time.perf_counter()
    frames, planted = build_day(rows, day)
    generate_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="recon-bench-match-") as tmp:
        rules_dir = Path(tmp) / "rules"
        write_rules(rules_dir)
        ruleset = load_rules(rules_dir)
        files = {t: str(Path(tmp) / f"{t}.parquet") for t in frames}
        for t, f in frames.items():
            f.write_parquet(files[t], compression="zstd", compression_level=1)
        mem: dict[str, list[tuple[float, float]]] = {"join": [], "classify": [], "floor": [], "match": []}
        pq: dict[str, list[tuple[float, float]]] = {"join": [], "match": []}
        per_rule: dict[str, int] = {}
        con = duckdb.connect()
        try:
            t0 = time.perf_counter()
            load(con, frames)
            load_s = time.perf_counter() - t0
            for _ in range(repeat):
                mem["join"].append(_timed(lambda: con.execute(EXACT_JOIN)))
                mem["classify"].append(_timed(lambda: con.execute(JOIN_AND_CLASSIFY)))
                mem["floor"].append(_timed(lambda: _first_rule_floor(con)))
                mem["match"].append(_timed(lambda: per_rule.update(run_matching(con, ruleset))))
            join_rows = con.execute("SELECT count(*) FROM bench_join").fetchall()[0][0]
            floor_pairs = con.execute("SELECT count(*) FROM floor_chosen").fetchall()[0][0]
            breaks = dict(
                con.execute("SELECT break_type, count(*) FROM break_list GROUP BY ALL ORDER BY ALL").fetchall()
            )
            problems = [p for p in con.execute(sqlfiles.load("invariant_matches")).fetchall() if p[0] != "matches"]
        finally:
            con.close()
        for _ in range(repeat):
            fresh = duckdb.connect()
            try:
                pq["join"].append(
                    _timed(
                        lambda c=fresh: c.execute(
                            EXACT_JOIN_PARQUET, {"o": files["orders"], "p": files["psp_settlement_lines"]}
                        )
                    )
                )
            finally:
                fresh.close()
            fresh = duckdb.connect()

            def stage(c: duckdb.DuckDBPyConnection = fresh) -> None:
                load_parquet(c, files)
                run_matching(c, ruleset)

            try:
                pq["match"].append(_timed(stage))
            finally:
                fresh.close()

    def med(runs: list[tuple[float, float]], i: int) -> float:
        return round(statistics.median(r[i] for r in runs), 3)

    return {
        "rows_orders": frames["orders"].height,
        "rows_psp_lines": frames["psp_settlement_lines"].height,
        "rows_bank_lines": frames["bank_statement_lines"].height,
        "rules": sum(len(f.rules) for f in ruleset.files.values()),
        "generate_s": round(generate_s, 2),
        "load_s": round(load_s, 2),
        "matching_s": med(mem["match"], 0),
        "exact_key_join_s": med(mem["join"], 0),
        "ratio": round(med(mem["match"], 0) / med(mem["join"], 0), 2),
        "join_and_classify_s": med(mem["classify"], 0),
        "ratio_to_join_and_classify": round(med(mem["match"], 0) / med(mem["classify"], 0), 2),
        "first_rule_floor_s": med(mem["floor"], 0),
        "first_rule_floor_ratio": round(med(mem["floor"], 0) / med(mem["join"], 0), 2),
        "first_rule_floor_pairs": int(floor_pairs),
        "matching_cpu_s": med(mem["match"], 1),
        "exact_key_join_cpu_s": med(mem["join"], 1),
        "matching_runs_s": [round(r[0], 3) for r in mem["match"]],
        "exact_key_join_runs_s": [round(r[0], 3) for r in mem["join"]],
        "from_parquet": {
            "load_and_matching_s": med(pq["match"], 0),
            "exact_key_join_s": med(pq["join"], 0),
            "ratio": round(med(pq["match"], 0) / med(pq["join"], 0), 2),
        },
        "exact_key_join_rows": int(join_rows),
        "matches_per_rule": per_rule,
        "planted_per_rule": planted,
        "breaks_per_type": {str(k): int(v) for k, v in breaks.items()},
        "matches_balance_and_no_reuse": not problems,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.match", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="orders (and about as many PSP lines)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each timing; the median is reported")
    parser.add_argument("--date", default="2026-11-26")
    args = parser.parse_args(argv)
    result = run(args.rows, args.repeat, parse_business_date(args.date))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
