"""Clearing: net positions per counterparty, currency and value date, the multilateral net per currency,
and fund verification of expected payouts against the bank credits received.

Guarantees: value dates follow each channel's settlement cycle in business days of the holiday calendar of
each currency (``Settlement.calendar_for``); a payout batch of several currencies is one payout per currency;
positions are recomputed independently by the run's invariants and must agree.
"""
