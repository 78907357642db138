"""Validate: the data contract of every canonical table, and what becomes of a file that breaks it.

``contracts`` builds one Great Expectations suite per table from ``schemas/``; ``plausibility`` takes out the
rows a parser read that cannot belong in the day (dates outside the channel's window around the run's date,
references with control characters or over the channel's length, NUL bytes); ``normalise`` parses a landed
file, screens and validates it and writes it to staging; ``staging`` names the staging and quarantine paths
and writes them atomically.

Guarantees: only rows that passed their contract reach ``staging/<table>/business_date=D/channel=C/``; an
unreadable or implausible row is quarantined with file, line, field and reason; a file that breaks its
contract, or has no bytes at all, is quarantined whole with its reason; nothing else is lost.
"""
