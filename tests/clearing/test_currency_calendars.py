"""Settlement calendars per currency: a channel's holiday calendar, overridden per currency
(``settlement.calendars``), counts every due date and value date of that currency: a payout's value date, an
order's settlement window, positions and fund verification. Monday 2026-08-31 is the August bank holiday of
England and Wales, not a TARGET2 holiday (``payout_helpers``)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from payout_helpers import BATCH, FRI, MON, ORDERS, TUE, TWO_CURRENCY_BATCH, Workspace

from pipelines.core import calendars
from pipelines.core.channels import RulesError, Settlement, load_channels


def test_a_currency_settles_on_its_own_calendar_else_the_channels() -> None:
    s = Settlement(calendar="NL", calendars={"EUR": "ECB", "GBP": "XLON"})
    assert (s.calendar_for("EUR"), s.calendar_for("GBP"), s.calendar_for("BRL"), s.calendar_for(None)) == (
        "ECB",
        "XLON",
        "NL",
        "NL",
    )
    assert calendars.add_business_days(FRI, 1, "ECB") == MON
    assert calendars.add_business_days(FRI, 1, "XLON") == calendars.add_business_days(FRI, 1, "GB-ENG") == TUE
    # the United Kingdom's own calendar holds only its nationwide holidays, not England's August bank holiday
    assert calendars.add_business_days(FRI, 1, "GB") == MON


@pytest.mark.parametrize(
    ("settlement", "field", "message"),
    [
        ("calendars: {GBP: XLONDON}", "settlement.calendars", "GBP: unknown calendar 'XLONDON'; allowed: an ISO 3166"),
        ("calendars: {GBX: XLON}", "settlement.calendars", "'GBX' is not an ISO 4217 currency code"),
        ("calendars: {GBP: GB-XX}", "settlement.calendars", "GBP: unknown subdivision 'XX' of GB; allowed: ENG"),
        ("calendar: ZZ", "settlement.calendar", "unknown calendar 'ZZ'"),
    ],
)
def test_calendars_are_validated_on_load(tmp_path: Path, settlement: str, field: str, message: str) -> None:
    rules = tmp_path / "rules"
    (rules / "channels").mkdir(parents=True)
    path = rules / "channels" / "stripe_eu.yaml"
    path.write_text(
        f"id: stripe_eu\nkind: psp\nlocation: stripe\nformat: stripe_payout_recon\nsettlement:\n  {settlement}\n"
    )
    with pytest.raises(RulesError) as err:
        load_channels(rules)
    assert f"{path}: channel stripe_eu: field '{field}': " in str(err.value)
    assert message in str(err.value)


@pytest.mark.parametrize("per_currency", [True, False])
def test_a_uk_bank_holiday_delays_the_gbp_payout_only(tmp_path: Path, per_currency: bool) -> None:
    ws = Workspace(tmp_path) if per_currency else Workspace(tmp_path, settlement="calendar: NL")
    ws.report(TWO_CURRENCY_BATCH)  # no bank credit ever comes: each payout is flagged once due (T+1)
    ws.rows("orders", ORDERS, "f_orders")

    first = ws.run(FRI)
    assert first.payout_breaks().height == 0
    values = dict(first.positions.select("currency", "value_date").rows())  # the positions of the lines it took
    assert values == ({"EUR": MON, "GBP": TUE} if per_currency else {"EUR": MON, "GBP": MON})

    holiday = ws.run(MON)
    flagged = set(holiday.payout_breaks()["item_ref"])
    funds = dict(holiday.fund_verification.select("currency", "status").rows())
    if per_currency:  # TARGET2 settles EUR on Monday; GBP is due on the next London business day
        assert flagged == {f"{BATCH}-EUR"}
        assert funds == {"EUR": "missing", "GBP": "not_due"}
        gbp = holiday.outcomes.filter(pl.col("item_table") == "psp_settlement_lines", pl.col("outcome") == "pending")
        assert gbp.height == 2  # its fee and payout lines, pending (its payment line matched its order)
    else:  # one calendar for the channel: GBP is taken as due on the English bank holiday
        assert flagged == {f"{BATCH}-EUR", f"{BATCH}-GBP"}

    overdue = ws.run(TUE)
    assert set(overdue.payout_breaks()["item_ref"]) == {f"{BATCH}-EUR", f"{BATCH}-GBP"}
    assert set(overdue.fund_verification["status"]) == {"missing"}


def test_an_orders_window_counts_business_days_of_its_currency(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)  # settlement window: one business day
    ws.rows("orders", ORDERS, "f_orders")  # neither order is ever settled

    holiday = ws.run(MON)
    state = dict(
        holiday.outcomes.filter(pl.col("item_table") == "orders")
        .join(holiday.breaks.select(pl.col("break_id").alias("ref"), "break_type"), on="ref", how="left")
        .select(pl.coalesce("break_type", "outcome"), "line_no")
        .rows()
    )
    assert state == {"order_not_settled": 2, "pending": 3}  # the EUR order (line 2) broke; the GBP one waits
    assert ws.run(TUE).breaks.filter(pl.col("break_type") == "order_not_settled").height == 2
