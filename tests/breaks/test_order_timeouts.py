"""Order timeouts as channels declare them (``order_timeouts``, per direction, validated on load) and the instant
that closes a business date, against which a pending order's creation plus its timeout is compared."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from pipelines.breaks.lifecycle import day_end
from pipelines.core.channels import Channel, RulesError, load_channels

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
