"""Validate: the data contract of every canonical table, and what becomes of a file that breaks it.

``contracts`` builds one Great Expectations suite per table from ``schemas/``; ``normalise`` parses a landed
file, validates it and writes it to staging; ``staging`` names the staging and quarantine paths and writes
them atomically.

Guarantees: only rows that passed their contract reach ``staging/<table>/business_date=D/channel=C/``; an
unreadable row is quarantined with file, line, field and reason; a file that breaks its contract is
quarantined whole with its validation result; nothing else is lost.
"""
