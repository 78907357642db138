"""Business-day calendars: weekends plus public holidays from the maintained ``holidays`` package.

A calendar is named by a financial market code that ``holidays`` knows (``ECB``, also ``XECB`` or ``TAR``, for
TARGET2 closing days; ``XLON`` for the London Stock Exchange, closed on the bank holidays of England and Wales;
``NYSE``), or else by an ISO 3166 country code (``NL``, ``BR``), optionally with a subdivision (``GB-ENG``): a
country's calendar alone holds only its nationwide holidays (``GB`` has no Easter Monday nor August bank
holiday, which are England's).
"""

from __future__ import annotations

import datetime as dt
import functools

import holidays

HINT = (
    "an ISO 3166 country code, optionally with a subdivision (NL, BR, GB-ENG, ...), or a financial market code "
    "(ECB or TAR for TARGET2, XLON, NYSE, ...)"
)


def unknown(calendar: str) -> str | None:
    """Why ``calendar`` names no calendar of the ``holidays`` package (None: it names one)."""
    if calendar in holidays.list_supported_financial():
        return None
    country, _, subdivision = calendar.partition("-")
    subdivisions = holidays.list_supported_countries().get(country)
    if subdivisions is None:
        return f"unknown calendar {calendar!r}; allowed: {HINT}"
    if subdivision and subdivision not in subdivisions:
        return f"unknown subdivision {subdivision!r} of {country}; allowed: {', '.join(subdivisions) or 'none'}"
    return None


@functools.cache
def _holidays(calendar: str, year: int) -> frozenset[dt.date]:
    if calendar in holidays.list_supported_financial():
        days = holidays.financial_holidays(calendar, years=[year])
    else:
        country, _, subdivision = calendar.partition("-")
        days = holidays.country_holidays(country, subdiv=subdivision or None, years=[year])
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
