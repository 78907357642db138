"""A payout batch that pays out several currencies is one payout per currency: its own id, value date, bank
credit, break and break id (README, "Clearing"). The batch of the Settlement Details Report pays out EUR and
GBP (``payout_helpers``); each currency's bank credit names the batch."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from payout_helpers import (
    BATCH,
    FRI,
    MON,
    NET,
    ORDERS,
    TUE,
    TWO_CURRENCY_BATCH,
    WED,
    Workspace,
    credit,
    group_break_id,
)

from pipelines.run import stages


def _outcomes_by_currency(lines: pl.DataFrame, outcomes: pl.DataFrame) -> dict[str, set[str]]:
    """The outcomes of a report's non-payment lines, per currency."""
    joined = lines.filter(pl.col("record_type") != "payment").join(
        outcomes.filter(pl.col("item_table") == "psp_settlement_lines"), on=["file_id", "line_no"]
    )
    return {c: set(g["outcome"].to_list()) for (c,), g in joined.group_by("currency")}


def test_the_parser_gives_one_payout_per_currency_named_by_its_batch(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    lines = ws.report(TWO_CURRENCY_BATCH)
    got = lines.select("currency", "payout_id", "payout_reference").unique().sort("currency").rows()
    assert got == [("EUR", f"{BATCH}-EUR", BATCH), ("GBP", f"{BATCH}-GBP", BATCH)]
    # a batch of one currency keeps the batch as its payout id (the sample day's ids do not change)
    single = ws.report([line.replace(",GBP,", ",EUR,") for line in TWO_CURRENCY_BATCH], "batch_7001_eur.csv")
    assert set(single["payout_id"]) == set(single["payout_reference"]) == {BATCH}


def test_both_credits_match_each_its_own_payout(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    lines = ws.report(TWO_CURRENCY_BATCH)
    ws.rows("orders", ORDERS, "f_orders")
    ws.rows("bank_statement_lines", [credit("EUR", FRI), credit("GBP", FRI)], "f_bank")
    day = ws.run(FRI)
    assert day.breaks.height == 0 and set(day.outcomes["outcome"]) == {"matched"}
    credits = day.matches.filter(pl.col("item_table") == "bank_statement_lines")
    assert credits.height == 2 and credits["match_id"].n_unique() == 2
    for match_id, currency in credits.select("match_id", "currency").rows():
        payout = day.matches.filter(pl.col("match_id") == match_id, pl.col("side") == "left")
        assert set(payout["item_ref"]) >= {f"{BATCH}-{currency}"}  # the payout line names its payout
        assert set(payout["currency"]) == {currency}
        assert payout.height == lines.filter(pl.col("currency") == currency).height
    # positions per currency, each at the value date of its own calendar (T+1: TARGET2 Monday, London Tuesday)
    pos = day.positions.select("currency", "value_date", "net_expected_minor", "received_minor", "variance_minor")
    assert pos.sort("currency").rows() == [
        ("EUR", MON, NET["EUR"], NET["EUR"], 0),
        ("GBP", TUE, NET["GBP"], NET["GBP"], 0),
    ]
    assert set(day.fund_verification["status"]) == {"received"}


def test_a_missing_credit_breaks_its_currency_only_after_its_value_date(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    lines = ws.report(TWO_CURRENCY_BATCH)
    ws.rows("orders", ORDERS, "f_orders")
    ws.rows("bank_statement_lines", [credit("EUR", MON)], "f_bank")  # the GBP credit never comes

    before = ws.run(FRI)  # neither value date has come: both payouts pending, no break
    assert before.payout_breaks().height == 0
    assert _outcomes_by_currency(lines, before.outcomes) == {"EUR": {"pending"}, "GBP": {"pending"}}

    after = ws.run(TUE)  # the EUR credit arrived on Monday; the GBP payout was due on Tuesday
    payout_breaks = after.payout_breaks()
    assert payout_breaks.select("break_type", "item_ref", "currency", "amount_minor", "item_count").rows() == [
        ("payout_without_bank_credit", f"{BATCH}-GBP", "GBP", NET["GBP"], 2)  # its fee and payout lines
    ]
    gbp = payout_breaks.row(0, named=True)
    assert gbp["break_id"] == group_break_id("adyen_eu", f"{BATCH}-GBP") != group_break_id("adyen_eu", BATCH)
    assert gbp["counter_table"] is None  # the EUR credit of the batch is not this payout's counterpart
    assert "has no bank_statement_lines item in GBP with the same key" in gbp["reason"]
    assert "the one in EUR is already matched" in gbp["reason"]
    assert _outcomes_by_currency(lines, after.outcomes) == {"EUR": {"matched"}, "GBP": {"break"}}
    eur_credit = after.outcomes.filter(pl.col("item_table") == "bank_statement_lines")
    assert eur_credit["outcome"].to_list() == ["matched"]
    assert after.breaks["break_id"].n_unique() == after.breaks.height == 1
    # only the GBP payout stays open (its fee and payout lines in its break, its payment line as a member)
    carried = ws.open_after(TUE).join(lines, on=["file_id", "line_no"])
    assert carried.select("currency", "record_type", "status").sort("record_type").rows() == [
        ("GBP", "fee", "break"),
        ("GBP", "payment", "batch"),
        ("GBP", "payout", "break"),
    ]


def test_each_currency_is_its_own_break_and_is_resolved_alone(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.report(TWO_CURRENCY_BATCH)
    ws.rows("orders", ORDERS, "f_orders")
    day = ws.run(TUE)  # no credit at all
    got = day.payout_breaks().select("break_id", "item_ref", "currency", "amount_minor").sort("currency").rows()
    assert got == [
        (group_break_id("adyen_eu", f"{BATCH}-EUR"), f"{BATCH}-EUR", "EUR", NET["EUR"]),
        (group_break_id("adyen_eu", f"{BATCH}-GBP"), f"{BATCH}-GBP", "GBP", NET["GBP"]),
    ]
    assert day.breaks["break_id"].n_unique() == day.breaks.height  # one row each
    gbp_id = got[1][0]
    stages.resolve_break(gbp_id, "write_off", "GBP paid out by hand", "tests", str(ws.settings.home), str(ws.rules))
    later = ws.run(WED)
    got_later = later.payout_breaks().select("item_ref", "status").sort("item_ref").rows()
    assert got_later == [(f"{BATCH}-EUR", "open"), (f"{BATCH}-GBP", "resolved")]
