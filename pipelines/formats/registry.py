"""Format registry: one module per file format, all with the same ``parse(path, ctx)`` signature.

Adding a format is one module, one sample and one test module, plus its line in ``_MODULES``. This module
imports no parser (nor ``base``): channel declarations check their format names here without a cycle.
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipelines.formats.base import Parser

# format name -> module under pipelines.formats exposing ``TABLE`` and ``parse``
_MODULES: dict[str, str] = {
    "orders_csv": "orders",
    "orders_parquet": "orders",
    "adyen_sdr": "adyen_sdr",
    "stripe_payout_recon": "stripe_payout_recon",
    "camt053": "camt053",
    "fx_rates_csv": "fx_rates",
    "camt054": "camt054",
    "mt940": "mt940",
    "mt942": "mt940",
    "bai2": "bai2",
    "nacha": "nacha",
    "paypal": "paypal",
    "pain001": "pain001",
    "pain002": "pain002",
    "pain008": "pain008",
    "cnab240": "cnab240",
    "cnab400": "cnab400",
    "braintree": "braintree",
    "ratepay": "ratepay",
    "worldpay_settlement": "worldpay",
    "pix_settlement": "pix",
    "upi_settlement": "upi",
    "checkout_financial_actions": "checkout",
    "paypal_stl": "paypal_stl",
}


def registered() -> list[str]:
    return sorted(_MODULES)


@functools.cache
def get(name: str) -> Parser:
    if name not in _MODULES:
        raise KeyError(f"unknown format {name!r}; known: {', '.join(registered())}")
    module = importlib.import_module(f"pipelines.formats.{_MODULES[name]}")
    attr = "parse_parquet" if name == "orders_parquet" else "parse"
    parser: Parser = getattr(module, attr)
    return parser


def table_of(name: str) -> str:
    module = importlib.import_module(f"pipelines.formats.{_MODULES[name]}")
    return str(module.TABLE)
