"""Business-day calendars: weekends plus public holidays from the maintained ``holidays`` package.

A calendar is named by an ISO 3166 country code (``NL``, ``BR``) or a financial market code that
``holidays`` knows (``ECB`` for TARGET2 closing days).
"""

from __future__ import annotations

import datetime as dt
import functools

import holidays


@functools.cache
def _holidays(calendar: str, year: int) -> frozenset[dt.date]:
    if calendar in holidays.list_supported_financial():
        days = holidays.financial_holidays(calendar, years=[year])
    else:
        days = holidays.country_holidays(calendar, years=[year])
    return frozenset(days)


def is_business_day(day: dt.date, calendar: str | None) -> bool:
    if day.weekday() >= 5:
        return False
    return calendar is None or day not in _holidays(calendar, day.year)


def add_business_days(day: dt.date, n: int, calendar: str | None) -> dt.date:
    """The n-th business day after ``day`` (n = 0: ``day`` itself, or the next business day if it is not one)."""
    current = day
    while not is_business_day(current, calendar):
        current += dt.timedelta(days=1)
    remaining = n
    while remaining > 0:
        current += dt.timedelta(days=1)
        if is_business_day(current, calendar):
            remaining -= 1
    return current
