"""Business dates: parsed once where they enter (command line, DAG parameters, XCom), ``datetime.date`` inside.

A business date is a processing date: the day a run reconciles. Files, folders and JSON carry it as
ISO 8601 text (``YYYY-MM-DD``); nothing inside the pipeline parses it again.
"""

from __future__ import annotations

import datetime as dt


def parse_business_date(text: str | dt.date) -> dt.date:
    """``YYYY-MM-DD`` as a date (a date is returned unchanged); a clear error for anything else."""
    if isinstance(text, dt.datetime):
        raise ValueError(f"a business date is a day, not a timestamp: {text.isoformat()!r}")
    if isinstance(text, dt.date):
        return text
    try:
        return dt.date.fromisoformat(str(text).strip())
    except ValueError:
        raise ValueError(f"business date must be YYYY-MM-DD, not {text!r}") from None


def partition_date(folder_name: str, key: str = "business_date") -> dt.date | None:
    """The date of a ``key=YYYY-MM-DD`` partition folder, or None when the name is not one."""
    if not folder_name.startswith(f"{key}="):
        return None
    try:
        return dt.date.fromisoformat(folder_name.removeprefix(f"{key}="))
    except ValueError:
        return None
