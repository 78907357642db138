"""Order timeouts as channels declare them (``order_timeouts``, per direction, validated on load), the instant
that closes a business date, against which a pending order's creation plus its timeout is compared, and the
precedence of a pairing's verdict over the timeout: one order, one break."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from helpers import DAY, T0, order
from match_helpers import outcome_of, run_case

from pipelines.breaks.lifecycle import day_end
from pipelines.core.channels import Channel, RulesError, load_channels
from pipelines.core.config import PROJECT_ROOT

BASE = {"id": "adyen_eu", "kind": "psp", "location": "adyen", "format": "adyen_sdr"}


def _write(tmp_path: Path, extra: dict[str, object]) -> Path:
    (tmp_path / "channels").mkdir()
    (tmp_path / "channels" / "adyen_eu.yaml").write_text(yaml.safe_dump({**BASE, **extra}))
    return tmp_path


def test_timeouts_per_direction_load() -> None:
    ch = Channel.model_validate({**BASE, "order_timeouts": {"payin_minutes": 30, "withdrawal_minutes": 4320}})
    assert ch.order_timeouts is not None
    assert (ch.order_timeouts.minutes("payin"), ch.order_timeouts.minutes("withdrawal")) == (30, 4320)
    only_payin = Channel.model_validate({**BASE, "order_timeouts": {"payin_minutes": 30}})
    assert only_payin.order_timeouts is not None and only_payin.order_timeouts.minutes("withdrawal") is None
    assert Channel.model_validate(BASE).order_timeouts is None  # none declared: pending orders never time out


@pytest.mark.parametrize(
    ("timeouts", "field"),
    [
        ({"payin_minutes": 0}, "order_timeouts.payin_minutes"),
        ({"withdrawal_minutes": -5}, "order_timeouts.withdrawal_minutes"),
        ({"payin_hours": 2}, "order_timeouts.payin_hours"),  # the unit is part of the key: minutes only
    ],
)
def test_invalid_timeouts_name_the_file_and_field(tmp_path: Path, timeouts: dict[str, int], field: str) -> None:
    rules = _write(tmp_path, {"order_timeouts": timeouts})
    with pytest.raises(RulesError) as err:
        load_channels(rules)
    assert "adyen_eu.yaml" in str(err.value) and f"field '{field}'" in str(err.value)


@pytest.mark.parametrize(
    ("tz", "cutoff", "day", "end_utc"),
    [
        ("UTC", "00:00", dt.date(2026, 11, 12), dt.datetime(2026, 11, 13, 0, 0, tzinfo=dt.UTC)),
        ("Europe/Amsterdam", "00:00", dt.date(2026, 11, 12), dt.datetime(2026, 11, 12, 23, 0, tzinfo=dt.UTC)),
        ("Europe/Amsterdam", "00:00", dt.date(2026, 7, 1), dt.datetime(2026, 7, 1, 22, 0, tzinfo=dt.UTC)),  # CEST
        # a 22:00 cut-off: the business day ends at its own 22:00 local (later rows belong to the next day)
        ("America/Sao_Paulo", "22:00", dt.date(2026, 11, 12), dt.datetime(2026, 11, 13, 1, 0, tzinfo=dt.UTC)),
        # the day DST ends in Europe (25 hours long) still ends at the next local midnight
        ("Europe/Amsterdam", "00:00", dt.date(2026, 10, 25), dt.datetime(2026, 10, 25, 23, 0, tzinfo=dt.UTC)),
    ],
)
def test_day_end_is_the_cut_off_in_the_channel_time_zone(
    tz: str, cutoff: str, day: dt.date, end_utc: dt.datetime
) -> None:
    ch = Channel.model_validate({**BASE, "timezone": tz, "cutoff": cutoff})
    assert day_end(day, ch) == end_utc


# --------------------------------------------------------------------------------------------------------------
# one order, one break: a pairing's verdict comes before the order timeout (docs/reconcile-your-own-files.md,
# "Order timeouts and the rails' windows")
# --------------------------------------------------------------------------------------------------------------
def _rules_with_sepa_timeout(tmp_path: Path, minutes: int) -> Path:
    """The project's rules, sepa_out's withdrawal timeout shortened to ``minutes`` (shorter than its window)."""
    out = tmp_path / "rules"
    shutil.copytree(PROJECT_ROOT / "rules", out)
    path = out / "channels" / "sepa_out.yaml"
    channel = yaml.safe_load(path.read_text())
    channel["order_timeouts"] = {"withdrawal_minutes": minutes}
    path.write_text(yaml.safe_dump(channel))
    return out


def _pending_withdrawal(order_id: str, currency: str, business_date: dt.date, created: dt.datetime) -> dict[str, Any]:
    rail = {"EUR": "sepa_out", "BRL": "pix_out"}[currency]
    return order(
        order_id,
        1000,
        currency,
        "pending",
        psp_channel=rail,
        direction="withdrawal",
        payment_method={"EUR": "sepa_credit_transfer", "BRL": "pix"}[currency],
        business_date=business_date,
        created_at=created,
    )


def test_a_pending_withdrawal_gets_one_break_the_rails_verdict_first(tmp_path: Path) -> None:
    monday = DAY - dt.timedelta(days=3)  # its SEPA window (1 TARGET2 day) passed before DAY
    orders = [
        # within SEPA's window, past its 60-minute timeout: no verdict yet, so order_timeout
        _pending_withdrawal("WDR-1", "EUR", DAY, T0),
        # past both SEPA's window and the timeout: withdrawal_not_executed, not order_timeout as well
        _pending_withdrawal("WDR-2", "EUR", monday, dt.datetime.combine(monday, dt.time(10), tzinfo=dt.UTC)),
        # PIX: window 0 and a 60-minute timeout both passed at the day's end: withdrawal_not_executed
        _pending_withdrawal("WDR-3", "BRL", DAY, T0),
        # within SEPA's window and its timeout (created 22:30 UTC, the day ends 23:00 UTC): pending, no break
        _pending_withdrawal("WDR-4", "EUR", DAY, dt.datetime(2026, 11, 26, 22, 30, tzinfo=dt.UTC)),
        # within the window, past the timeout, but the rail rejected it: the rejection's break names the order
        # (mark it failed), so it is not timed out as well
        _pending_withdrawal("WDR-5", "EUR", DAY, T0),
    ]
    rejection = {
        "channel": "sepa_out",
        "business_date": DAY,
        "record_type": "status",
        "scope": "transaction",
        "status": "rejected",
        "reason_code": "AC01",
        "end_to_end_id": "WDR-5",
        "amount_minor": 1000,
        "currency": "EUR",
    }
    rules = _rules_with_sepa_timeout(tmp_path, 60)
    r = run_case(tmp_path, orders, [], [], rules=rules, status_rows=[rejection])
    assert [outcome_of(r, "orders", line) for line in (2, 3, 4, 5, 6)] == [
        "order_timeout",
        "withdrawal_not_executed",
        "withdrawal_not_executed",
        "pending",
        "pending",
    ]
    assert outcome_of(r, "payment_status", 2) == "withdrawal_status_mismatch"
    # exactly one break and one order-feedback row per order
    named = r.breaks.filter(pl.col("item_table").is_in(["orders", "payment_status"]))
    per_order = named.group_by(pl.coalesce("counter_ref", "item_ref")).agg(pl.col("break_type"))
    assert sorted(per_order.rows()) == [
        ("WDR-1", ["order_timeout"]),
        ("WDR-2", ["withdrawal_not_executed"]),
        ("WDR-3", ["withdrawal_not_executed"]),
        ("WDR-5", ["withdrawal_status_mismatch"]),
    ]
    feedback = r.order_feedback.sort("order_id").select("order_id", "suggested_status", "action", "break_id")
    by_id = dict(zip(named["item_ref"], named["break_id"], strict=True))
    assert feedback.rows() == [
        ("WDR-1", "expired", None, by_id["WDR-1"]),
        ("WDR-2", "failed", "investigate", by_id["WDR-2"]),
        ("WDR-3", "failed", "investigate", by_id["WDR-3"]),
        ("WDR-5", "failed", "mark_failed", by_id["WDR-5"]),
    ]
    # the break's id comes from the order, not its type: the order_timeout of a pending withdrawal keeps its id
    # (and first seen date) when the window then closes without a debit and it becomes withdrawal_not_executed
    assert by_id["WDR-1"] == "B" + hashlib.sha256(b"orders|f_orders|2").hexdigest()[:16]
    assert by_id["WDR-2"] == "B" + hashlib.sha256(b"orders|f_orders|3").hexdigest()[:16]
