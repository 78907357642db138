"""Breaks over time: carry-forward of open items, expected delays (pending), stable break ids, aging,
SLAs, manual resolutions and closures.

Guarantees: break ids are stable across runs; a break is carried until its items match or a resolution in
the append-only audit log closes it; a re-run recomputes from the same history without duplicating or
losing it.
"""
