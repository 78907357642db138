"""Option types the ``recon`` commands share."""

from __future__ import annotations

import argparse
import datetime as dt

from pipelines.core.dates import parse_business_date


def date_arg(text: str) -> dt.date:
    """A ``--date`` value: the business date, parsed once here, at the edge."""
    try:
        return parse_business_date(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
