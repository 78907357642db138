"""Option types the ``recon`` commands share."""

from __future__ import annotations

import argparse
import datetime as dt
import re
from decimal import Decimal

from pipelines.core.dates import parse_business_date

_PLAIN_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_WHOLE = re.compile(r"[0-9]+")


def date_arg(text: str) -> dt.date:
    """A ``--date`` value: the business date, parsed once here, at the edge."""
    try:
        return parse_business_date(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def amount_arg(text: str) -> Decimal:
    """An amount in major units (``--min-amount 100`` or ``100.50``): plain ASCII digits and at most one ``.``,
    never negative, read exactly as a ``Decimal`` (never a float); scaled to the currency's minor units later."""
    if not _PLAIN_AMOUNT.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(f"'{text}' is not an amount (digits, optionally a '.' and decimals)")
    return Decimal(text.strip())


def days_arg(text: str) -> int:
    """A number of days (``--min-age 3``): a whole number, 0 or more."""
    if not _WHOLE.fullmatch(text.strip()):
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of days")
    return int(text.strip())
