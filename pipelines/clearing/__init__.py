"""Clearing: net positions per counterparty, currency and value date, the multilateral net per currency,
and fund verification of expected payouts against the bank credits received.

Guarantees: value dates follow each channel's settlement cycle in business days of its holiday calendar;
positions are recomputed independently by the run's invariants and must agree.
"""
