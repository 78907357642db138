"""Sample-day generator (samplegen.day).

Invariants checked here:
1. The same (date, orders, seed, plant) writes byte-identical files; another seed writes other files.
2. data_samples/ holds exactly what the generator writes for 2026-11-26, 400 orders, seed 7.
3. The row counts of the files are those of ``Expected``, and every order row has exactly one expected
   outcome (matched, break, quarantined or no settlement expected).
4. Every Adyen MerchantPayout line equals the sum of the net amounts of the lines of its batch that are
   valid; every bank credit equals its payout except for the planted payout breaks.
5. An independent reading of the files (a small reconciliation written here) finds exactly the planted
   cases and counts of ``Expected``, the same at 400 and at 50 000 orders.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from dataclasses import dataclass
from pathlib import Path

import defusedxml.ElementTree as ET
import polars as pl
import pytest
from conftest import PROJECT_ROOT

from pipelines.core import money
from samplegen.columns import fmt_amount
from samplegen.day import join_shards, main, write_day
from samplegen.outcome import Expected
from samplegen.plan import (
    BREAK_TYPES,
    CLEAN_WITHDRAWALS,
    PLANTED_BREAKS,
    PLANTED_WITHDRAWAL_BREAKS,
    PLANTED_WITHDRAWALS,
    TOLERANCE_MINOR,
    WITHDRAWAL_BREAK_TYPES,
)

ROOT = PROJECT_ROOT
SAMPLES = ROOT / "data_samples"
SAMPLE_DATE = dt.date(2026, 11, 26)
SAMPLE_ORDERS = 400
SUBFOLDERS = ("orders", "adyen", "stripe", "bank", "fx", "rails")


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for sub in SUBFOLDERS
        for p in sorted((folder / sub).rglob("*"))
        if p.is_file()
    }


def _data_rows(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines()) - 1


# --- an independent reading of a written day ------------------------------------------------------


@dataclass
class Found:
    matched: int
    by_tolerance: int
    no_settlement_expected: int
    breaks: dict[str, int]
    quarantined: dict[str, int]
    payout_bank_matches: int
    payouts: dict[str, int]
    withdrawal_breaks: dict[str, int]
    withdrawal_matches: dict[str, int]
    withdrawals_pending: int


def _payments(frame: pl.DataFrame, file: str, reference: str, merchant_reference: str, currency: str) -> pl.DataFrame:
    """A report's payment lines in one shape: file, line, PSP and merchant references, gross and currency, and
    the line's raw text (every column but the parsed amounts) to find repeated lines by."""
    raw = pl.concat_str(pl.all().exclude("line_no", "gross", "net").fill_null(""), separator=",")
    return frame.select(
        pl.lit(file).alias("file"),
        "line_no",
        pl.col(reference).alias("psp_reference"),
        pl.col(merchant_reference).alias("merchant_reference"),
        "gross",
        pl.col(currency).alias("currency"),
        raw.alias("raw"),
    )


def _read_text_csv(path: Path) -> pl.DataFrame:
    frame = pl.read_csv(path, infer_schema=False)
    return frame.with_row_index("line_no", offset=2).with_columns(pl.col("line_no").cast(pl.Int64))


def _amount(column: str, currency: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    return money.parse_minor(pl.col(column), currency, required=False)


def _reconcile(folder: Path) -> Found:
    quarantined: dict[str, int] = {}

    order_files = []
    for orders_path in sorted((folder / "orders").glob("*.csv")):  # one, or one per shard
        orders = _read_text_csv(orders_path)
        minor, error = money.parse_minor(pl.col("amount"), pl.col("currency"))
        orders = orders.with_columns(minor.alias("amount_minor"), error.alias("error"))
        bad = orders.filter(pl.col("order_id").is_null() | pl.col("error").is_not_null())
        if bad.height:
            quarantined[orders_path.relative_to(folder).as_posix()] = bad.height
        order_files.append(orders.with_columns(pl.lit(orders_path.name).alias("order_file")))
    orders = pl.concat(order_files)
    orders = orders.filter(pl.col("order_id").is_not_null() & pl.col("error").is_null())
    withdrawals = orders.filter(pl.col("direction") == "withdrawal")
    orders = orders.filter(pl.col("direction") == "payin")

    payments: list[pl.DataFrame] = []
    payouts: dict[str, int] = {}
    for path in sorted((folder / "adyen").glob("*.csv")):
        sdr = _read_text_csv(path)
        net_ccy = pl.col("Net Currency")
        gross_credit, e1 = _amount("Gross Credit (GC)", pl.col("Gross Currency"))
        gross_debit, e2 = _amount("Gross Debit (GC)", pl.col("Gross Currency"))
        net_credit, e3 = _amount("Net Credit (NC)", net_ccy)
        net_debit, e4 = _amount("Net Debit (NC)", net_ccy)
        sdr = sdr.with_columns(
            (gross_credit.fill_null(0) - gross_debit.fill_null(0)).alias("gross"),
            (net_credit.fill_null(0) - net_debit.fill_null(0)).alias("net"),
            (
                money.currency_error(net_ccy).is_not_null()
                | pl.any_horizontal(e.is_not_null() for e in (e1, e2, e3, e4))
            ).alias("bad"),
        )
        if sdr["bad"].sum():
            quarantined[path.relative_to(folder).as_posix()] = int(sdr["bad"].sum())
        sdr = sdr.filter(~pl.col("bad"))
        payout_id = f"{sdr['Merchant Account'][0]}-{sdr['Batch Number'][0]}"
        closing = sdr.filter(pl.col("Type") == "MerchantPayout")
        assert closing.height == 1
        payout = -int(closing["net"].item())
        assert payout == int(sdr.filter(pl.col("Type") != "MerchantPayout")["net"].sum()), payout_id
        payouts[payout_id] = payout
        settled = sdr.filter(pl.col("Type") == "Settled").drop("bad")
        payments.append(_payments(settled, path.name, "Psp Reference", "Merchant Reference", "Gross Currency"))
    for stripe_path in sorted((folder / "stripe").glob("*.csv")):
        stripe = _read_text_csv(stripe_path).with_columns(pl.col("currency").str.to_uppercase())
        gross, _ = _amount("gross", pl.col("currency"))
        net, _ = _amount("net", pl.col("currency"))
        stripe = stripe.with_columns(gross.alias("gross"), net.alias("net"))
        for payout_id, amount in stripe.group_by("automatic_payout_id").agg(pl.col("net").sum()).iter_rows():
            assert str(payout_id) not in payouts  # a payout is announced by one report
            payouts[str(payout_id)] = int(amount)
        charged = stripe.filter(pl.col("reporting_category") == "charge")
        payments.append(_payments(charged, stripe_path.name, "charge_id", "payment_metadata[order_id]", "currency"))
    lines = pl.concat(payments)
    breaks = dict.fromkeys(BREAK_TYPES, 0)

    # duplicates: a later line of a file with the same content as an earlier one
    lines = lines.with_columns(pl.col("line_no").rank("ordinal").over("file", "raw").alias("copy"))
    breaks["duplicate_settlement_line"] = lines.filter(pl.col("copy") > 1).height
    lines = lines.filter(pl.col("copy") == 1)

    # exact rule on psp_reference, and the breaks of the pairs it finds
    pairs = lines.join(orders, on="psp_reference", how="inner", suffix="_order")
    succeeded = pl.col("status") == "succeeded"
    same_ccy = pl.col("currency") == pl.col("currency_order")
    same_amount = pl.col("gross") == pl.col("amount_minor")
    matched = pairs.filter(succeeded & same_ccy & same_amount).height
    breaks["status_mismatch"] = pairs.filter(~succeeded).height
    breaks["currency_mismatch"] = pairs.filter(succeeded & ~same_ccy).height
    breaks["amount_mismatch"] = pairs.filter(succeeded & same_ccy & ~same_amount).height
    lines = lines.join(pairs.select("file", "line_no"), on=["file", "line_no"], how="anti")
    taken = pairs.select("order_file", pl.col("line_no_order").alias("line_no"))
    left = orders.join(taken, on=["order_file", "line_no"], how="anti")

    # tolerance rule: merchant_reference = order_id, same currency, within TOLERANCE_MINOR
    near = lines.join(left, left_on="merchant_reference", right_on="order_id", how="inner", suffix="_order").filter(
        succeeded & same_ccy & ((pl.col("gross") - pl.col("amount_minor")).abs() <= TOLERANCE_MINOR)
    )
    by_tolerance = near.height
    lines = lines.join(near.select("file", "line_no"), on=["file", "line_no"], how="anti")
    taken = near.select("order_file", pl.col("line_no_order").alias("line_no"))
    left = left.join(taken, on=["order_file", "line_no"], how="anti")
    breaks["psp_line_without_order"] = lines.height
    breaks["order_not_settled"] = left.filter(succeeded).height
    no_settlement = left.filter(pl.col("status").is_in(["failed", "expired"])).height

    # payouts against the bank statement
    entries = [
        e for path in sorted((folder / "bank").glob("*.xml")) for e in ET.parse(path).iter() if e.tag.endswith("}Ntry")
    ]
    payout_bank_matches = 0
    credited: set[str] = set()
    debits: list[tuple[str, int, str]] = []
    for entry in entries:
        amount_el = next(e for e in entry if e.tag.endswith("}Amt"))
        indicator = next(e for e in entry if e.tag.endswith("}CdtDbtInd")).text
        e2e = next(e for e in entry.iter() if e.tag.endswith("}EndToEndId")).text or ""
        amount = money.to_minor(amount_el.text or "", amount_el.attrib["Ccy"])
        charges = next(e for e in entry.iter() if e.tag.endswith("}SubFmlyCd")).text == "CHRG"
        if indicator == "DBIT" and not charges:
            debits.append((e2e, amount, amount_el.attrib["Ccy"]))
        elif indicator == "DBIT":
            breaks["bank_debit_unexplained"] += 1
        elif e2e not in payouts:
            breaks["bank_credit_without_payout"] += 1
        else:
            credited.add(e2e)
            if payouts[e2e] == amount:
                payout_bank_matches += 1
            else:
                breaks["payout_amount_mismatch"] += 1
    breaks["payout_without_bank_credit"] = len(set(payouts) - credited)
    w_breaks, w_matches, pending = _withdrawals(folder, withdrawals, debits)
    return Found(
        matched=matched + by_tolerance,
        by_tolerance=by_tolerance,
        no_settlement_expected=no_settlement,
        breaks=breaks,
        quarantined=quarantined,
        payout_bank_matches=payout_bank_matches,
        payouts=payouts,
        withdrawal_breaks=w_breaks,
        withdrawal_matches=w_matches,
        withdrawals_pending=pending,
    )


def _key(reference: str) -> str:
    return "".join(c for c in reference if c.isalnum()).casefold()


def _withdrawals(
    folder: Path, orders: pl.DataFrame, debits: list[tuple[str, int, str]]
) -> tuple[dict[str, int], dict[str, int], int]:
    """The withdrawal pairings read independently: orders against bank debits (end-to-end id = order id,
    punctuation aside), against the pain.002 statuses and NACHA originations, against the NACHA returns."""
    breaks = dict.fromkeys(WITHDRAWAL_BREAK_TYPES, 0)
    matches = dict.fromkeys(
        ("withdrawal_debit_end_to_end", "withdrawal_status_accepted", "withdrawal_status_rejected"), 0
    ) | {"withdrawal_return_refunded": 0}
    by_key = {_key(r["order_id"]): r for r in orders.iter_rows(named=True)}
    owed = ("succeeded", "pending", "refunded")
    debited: set[str] = set()
    for e2e, amount, ccy in debits:
        order = by_key.get(_key(e2e))
        if order is None:
            breaks["debit_without_withdrawal"] += 1
        elif order["status"] not in owed:
            breaks["withdrawal_rejected_but_debited"] += 1
        elif order["order_id"] in debited:
            breaks["withdrawal_debited_twice"] += 1
        elif ccy != order["currency"]:
            breaks["withdrawal_currency_mismatch"] += 1
            debited.add(order["order_id"])
        elif amount != order["amount_minor"]:
            breaks["withdrawal_amount_mismatch"] += 1
            debited.add(order["order_id"])
        else:
            matches["withdrawal_debit_end_to_end"] += 1
            debited.add(order["order_id"])
    undebited = orders.filter(pl.col("status").is_in(owed) & ~pl.col("order_id").is_in(list(debited)))
    instant = undebited.filter(pl.col("psp_channel") == "pix_out").height  # PIX: no window
    breaks["withdrawal_not_executed"] = instant
    statuses: list[tuple[str, str]] = []  # (end-to-end id, accepted / rejected / returned)
    for path in sorted((folder / "rails").rglob("*.xml")):
        for tx in ET.parse(path).iter():
            if tx.tag.endswith("}TxInfAndSts"):
                e2e = next(e for e in tx if e.tag.endswith("}OrgnlEndToEndId")).text or ""
                code = next(e for e in tx if e.tag.endswith("}TxSts")).text
                statuses.append((e2e, "rejected" if code == "RJCT" else "accepted"))
    for path in sorted((folder / "rails").rglob("*.ach")):
        records = path.read_text(encoding="ascii").splitlines()
        for rec, after in zip(records, [*records[1:], ""], strict=True):
            if rec.startswith("6"):
                statuses.append((rec[39:54].strip(), "returned" if after.startswith("799") else "accepted"))
    for e2e, status in statuses:
        order = by_key.get(_key(e2e))
        if status == "returned":
            refunded = order is not None and order["status"] == "refunded"
            matches["withdrawal_return_refunded"] += refunded
            breaks["withdrawal_returned"] += not refunded
        elif order is not None and status == "accepted" and order["status"] in owed:
            matches["withdrawal_status_accepted"] += 1
        elif order is not None and status == "rejected" and order["status"] == "failed":
            matches["withdrawal_status_rejected"] += 1
        else:
            breaks["withdrawal_status_mismatch"] += 1
    return breaks, matches, undebited.height - instant


def _check(folder: Path, expected: Expected) -> None:
    """The files agree with ``expected``: row counts, outcome accounting and an independent reading."""
    assert sum(_data_rows(folder / f) for f in expected.files if f.startswith("orders/")) == expected.orders_rows
    adyen = sum(_data_rows(folder / f) for f in expected.files if f.startswith("adyen/"))
    stripe = sum(_data_rows(folder / f) for f in expected.files if f.startswith("stripe/"))
    assert (adyen, stripe) == (expected.adyen_rows, expected.stripe_rows)
    assert expected.psp_rows == adyen + stripe == sum(expected.psp_rows_by_type.values())
    bank = [(folder / f).read_text(encoding="utf-8") for f in expected.files if f.startswith("bank/")]
    assert sum(text.count("<Ntry>") for text in bank) == expected.bank_rows

    b = expected.breaks
    order_breaks = b["order_not_settled"] + b["amount_mismatch"] + b["currency_mismatch"] + b["status_mismatch"]
    order_quarantine = sum(n for f, n in expected.quarantined_rows.items() if f.startswith("orders/"))
    assert (
        expected.matched_order_psp_pairs + order_breaks + order_quarantine + expected.no_settlement_expected
        == expected.orders_rows - expected.withdrawal_orders
    )
    found = _reconcile(folder)
    assert found.matched == expected.matched_order_psp_pairs
    assert found.by_tolerance == expected.matched_by_tolerance
    assert found.no_settlement_expected == expected.no_settlement_expected
    assert found.breaks == expected.breaks
    assert found.quarantined == expected.quarantined_rows
    assert found.payout_bank_matches == expected.payout_bank_matches
    assert found.payouts == {p.payout_id: p.amount_minor for p in expected.payouts}
    assert found.withdrawal_breaks == expected.withdrawal_breaks
    assert found.withdrawal_matches == expected.withdrawal_matches
    assert found.withdrawals_pending == expected.withdrawals_pending


# --- tests ----------------------------------------------------------------------------------------


def test_same_inputs_write_identical_bytes(tmp_path: Path) -> None:
    first = write_day(tmp_path / "a", SAMPLE_DATE, 2_000, seed=11)
    second = write_day(tmp_path / "b", SAMPLE_DATE, 2_000, seed=11)
    assert first == second
    files_a, files_b = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert sorted(files_a) == sorted(first.files)
    assert files_a == files_b
    other = write_day(tmp_path / "c", SAMPLE_DATE, 2_000, seed=12)
    assert _files(tmp_path / "c")[other.files[0]] != files_a[first.files[0]]


def test_committed_sample_is_a_fresh_generation(tmp_path: Path) -> None:
    expected = write_day(tmp_path, SAMPLE_DATE, SAMPLE_ORDERS, seed=7)
    assert _files(SAMPLES) == _files(tmp_path)
    assert sum(len(v) for v in _files(SAMPLES).values()) < 1_000_000
    readme = (SAMPLES / "README.md").read_text(encoding="utf-8")
    for kind in BREAK_TYPES:
        assert f"| `{kind}` | {expected.breaks[kind]} |" in readme, kind
    for kind in WITHDRAWAL_BREAK_TYPES:
        assert f"| `{kind}` | {expected.withdrawal_breaks[kind]} |" in readme, kind


def test_planted_cases_are_in_the_files(tmp_path: Path) -> None:
    expected = write_day(tmp_path, SAMPLE_DATE, SAMPLE_ORDERS, seed=7)
    assert expected.breaks == PLANTED_BREAKS
    assert expected.withdrawal_breaks == PLANTED_WITHDRAWAL_BREAKS
    assert expected.withdrawal_orders == len(CLEAN_WITHDRAWALS) + len(PLANTED_WITHDRAWALS)
    assert expected.matched_by_tolerance == 2
    assert expected.payout_bank_matches == 5
    assert sum(expected.quarantined_rows.values()) == 4
    kinds = [c.kind for c in expected.cases]
    assert {k: kinds.count(k) for k in PLANTED_BREAKS if k in kinds} == {k: v for k, v in PLANTED_BREAKS.items() if v}
    assert {k: kinds.count(k) for k in WITHDRAWAL_BREAK_TYPES} == PLANTED_WITHDRAWAL_BREAKS
    assert kinds.count("tolerance_match") == 2 and kinds.count("quarantined") == 4
    _check(tmp_path, expected)
    for case in expected.cases:
        if case.kind.startswith("payout_"):
            continue
        for item in (case.item, case.counter):
            if item is not None and item.line_no is not None and not item.file.endswith(".xml"):
                line = (tmp_path / item.file).read_text(encoding="utf-8").splitlines()[item.line_no - 1]
                assert item.ref is None or item.ref in line or item.ref.replace("-", "") in line, (case.kind, item)


def test_tolerance_lines_differ_by_one_minor_unit_and_carry_their_own_reference(tmp_path: Path) -> None:
    expected = write_day(tmp_path, SAMPLE_DATE, SAMPLE_ORDERS, seed=7)
    pairs = [c for c in expected.cases if c.kind == "tolerance_match"]
    assert len(pairs) == 2
    for case in pairs:
        assert case.counter is not None and case.item.amount_minor is not None
        assert case.counter.amount_minor is not None
        assert abs(case.item.amount_minor - case.counter.amount_minor) == 1
        order_lines = (tmp_path / case.counter.file).read_text(encoding="utf-8").splitlines()
        order_line = order_lines[(case.counter.line_no or 1) - 1]
        assert case.item.ref is not None and case.item.ref not in order_line
    for case in expected.cases:
        if case.kind == "amount_mismatch":
            assert case.counter is not None
            assert abs((case.item.amount_minor or 0) - (case.counter.amount_minor or 0)) > 100


def test_clean_day_has_no_breaks(tmp_path: Path) -> None:
    expected = write_day(tmp_path, SAMPLE_DATE, 500, seed=3, plant=False)
    assert set(expected.breaks.values()) == {0}
    assert expected.quarantined_rows == {}
    assert expected.payout_bank_matches == len(expected.payouts) == 7
    assert set(expected.withdrawal_breaks.values()) == {0} and expected.withdrawals_pending == 0
    # one credit per payout, one debit per withdrawal (all executed)
    assert expected.bank_rows == 7 + expected.withdrawal_orders == 7 + len(CLEAN_WITHDRAWALS)
    assert expected.withdrawal_matches["withdrawal_debit_end_to_end"] == len(CLEAN_WITHDRAWALS)
    _check(tmp_path, expected)


def test_scale_fifty_thousand_orders(tmp_path: Path) -> None:
    started = time.perf_counter()
    expected = write_day(tmp_path, dt.date(2026, 3, 29), 50_000, seed=5)
    assert time.perf_counter() - started < 20
    assert expected.orders_rows == 50_000 + expected.withdrawal_orders
    assert expected.breaks == PLANTED_BREAKS
    _check(tmp_path, expected)


def test_summer_day_uses_cest_wall_clock(tmp_path: Path) -> None:
    expected = write_day(tmp_path, dt.date(2026, 7, 1), 300, seed=1)
    sdr = pl.read_csv(tmp_path / expected.files[1], infer_schema=False)
    assert set(sdr["TimeZone"].to_list()) == {"CEST"}
    assert sdr["Creation Date"].str.starts_with("2026-07-01").all()
    assert sdr["Booking Date"].str.starts_with("2026-07-01").all()


@pytest.mark.parametrize("currency", ["EUR", "CLP", "BHD", "JPY"])
def test_vectorised_amount_text_equals_format_minor(currency: str) -> None:
    values = [0, 1, -1, 5, 99, 100, 101, -250, 123456, 10**12 + 7, -(10**9)]
    frame = pl.DataFrame({"m": values}).select(fmt_amount(pl.col("m"), money.exponent(currency)).alias("t"))
    assert frame["t"].to_list() == [money.format_minor(v, currency) for v in values]


def test_too_few_orders_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least"):
        write_day(tmp_path, SAMPLE_DATE, 20)


def test_cli_prints_expected_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--out", str(tmp_path), "--date", "2026-11-26", "--orders", "250", "--seed", "2"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["orders_rows"] == 250 + len(CLEAN_WITHDRAWALS) + len(PLANTED_WITHDRAWALS)
    assert printed["withdrawal_breaks"] == PLANTED_WITHDRAWAL_BREAKS
    assert printed["breaks"] == PLANTED_BREAKS


# --- a day in shards ------------------------------------------------------------------------------


def _balances(path: Path) -> dict[str, tuple[int, int]]:
    """Opening and closing balance (minor units, signed) of each account of a camt.053 file."""
    out: dict[str, tuple[int, int]] = {}
    for stmt in ET.parse(path).iter():
        if not stmt.tag.endswith("}Stmt"):
            continue
        iban = next(e for e in stmt.iter() if e.tag.endswith("}IBAN")).text or ""
        found: dict[str, int] = {}
        for bal in (e for e in stmt if e.tag.endswith("}Bal")):
            code = next(e for e in bal.iter() if e.tag.endswith("}Cd")).text or ""
            amt = next(e for e in bal if e.tag.endswith("}Amt"))
            sign = -1 if next(e for e in bal if e.tag.endswith("}CdtDbtInd")).text == "DBIT" else 1
            found[code] = sign * money.to_minor(amt.text or "", amt.attrib["Ccy"])
        out[iban] = (found["OPBD"], found["CLBD"])
    return out


def test_sharded_day_is_several_self_consistent_files_per_channel(tmp_path: Path) -> None:
    expected = write_day(tmp_path, SAMPLE_DATE, 2_500, seed=11, shard_orders=1_000)
    names = sorted(_files(tmp_path))
    assert names == sorted(expected.files)
    by_folder = {sub: [n for n in names if n.startswith(f"{sub}/")] for sub in ("orders", "adyen", "stripe", "bank")}
    assert {k: len(v) for k, v in by_folder.items()} == {"orders": 3, "adyen": 12, "stripe": 3, "bank": 3}
    assert by_folder["orders"][0] == "orders/orders_2026-11-26_part001.csv"
    # shards of 834, 833 and 833 orders; the withdrawals are in the first
    rows = [_data_rows(tmp_path / f) for f in by_folder["orders"]]
    assert rows == [834 + expected.withdrawal_orders, 833, 833]
    # as planted once, and every count, payout and case as the independent reading of all the files finds them
    assert expected.breaks == PLANTED_BREAKS and expected.withdrawal_breaks == PLANTED_WITHDRAWAL_BREAKS
    assert expected.payout_bank_matches == 3 * 7 - 2 and len(expected.payouts) == 3 * 7
    _check(tmp_path, expected)
    # no order id and no PSP reference is in two shards
    orders = pl.concat([pl.read_csv(tmp_path / f, infer_schema=False) for f in by_folder["orders"]])
    ids, refs = orders["order_id"].drop_nulls(), orders.filter(pl.col("direction") == "payin")["psp_reference"]
    assert ids.n_unique() == ids.len() and refs.n_unique() == refs.len() == 2_500
    # each statement's balances follow on from the shard before's, account by account
    statements = [_balances(tmp_path / f) for f in by_folder["bank"]]
    for before, after in zip(statements, statements[1:], strict=False):
        assert after.keys() == before.keys()
        assert all(after[iban][0] == before[iban][1] for iban in before)


def test_a_day_within_one_shard_is_written_as_without_shards(tmp_path: Path) -> None:
    plain = write_day(tmp_path / "a", SAMPLE_DATE, 1_200, seed=11)
    sharded = write_day(tmp_path / "b", SAMPLE_DATE, 1_200, seed=11, shard_orders=1_200)
    assert plain == sharded and _files(tmp_path / "a") == _files(tmp_path / "b")


def test_shards_joined_into_one_file_per_channel_read_the_same(tmp_path: Path) -> None:
    expected = write_day(tmp_path, SAMPLE_DATE, 1_500, seed=4, shard_orders=500)
    written = join_shards(tmp_path)
    assert written == [
        "orders/orders_2026-11-26.csv",
        "stripe/payout_reconciliation_itemized_2026-11-26.csv",
        "bank/camt053_2026-11-26.xml",
    ]
    names = _files(tmp_path)
    assert not [n for n in names if "_part" in n] and len([n for n in names if n.startswith("adyen/")]) == 12
    joined = dataclasses.replace(
        expected,
        files=[*written, *(f for f in expected.files if "_part" not in f)],
        quarantined_rows={f.replace("_part001", ""): n for f, n in expected.quarantined_rows.items()},
    )
    _check(tmp_path, joined)


def test_too_small_shards_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="too small"):
        write_day(tmp_path, SAMPLE_DATE, 1_000, shard_orders=150)
