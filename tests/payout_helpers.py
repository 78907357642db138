"""A PSP channel paying out two currencies over a few business dates, for the clearing tests.

``Workspace`` holds a rules folder with its own channels (the Adyen channel's settlement block is the test's)
and the project's matching rules; it stages an Adyen Settlement Details Report through its parser, and orders
and bank credits as canonical rows; ``run`` reconciles and publishes one business date (the catalog carries
what stays open into the next) and reads the published tables back.

The dates: Friday 2026-08-28, then Monday 2026-08-31, the August bank holiday of England and Wales (TARGET2 is
open), then Tuesday 2026-09-01.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from helpers import bank, order, stage

from pipelines.catalog.store import Catalog, FileStatus
from pipelines.core.channels import load_channels
from pipelines.core.config import PROJECT_ROOT, Settings
from pipelines.formats.adyen_sdr import parse
from pipelines.formats.base import ParseContext
from pipelines.run import stages

FRI, MON, TUE, WED = dt.date(2026, 8, 28), dt.date(2026, 8, 31), dt.date(2026, 9, 1), dt.date(2026, 9, 2)
BATCH = "PayPlatformEU-7001"
PER_CURRENCY = "calendar: NL\n  calendars: {EUR: ECB, GBP: XLON}"

SDR_HEADER = (
    "Type,Merchant Account,Batch Number,Psp Reference,Merchant Reference,Payment Method,Creation Date,TimeZone,"
    "Booking Date,Booking Date TimeZone,Gross Currency,Gross Debit (GC),Gross Credit (GC),Exchange Rate,"
    "Net Currency,Net Debit (NC),Net Credit (NC),Commission (NC),Markup (NC),Scheme Fees (NC),Interchange (NC),"
    "Modification Reference"
)
# batch 7001 pays out EUR 98.75 (a payment of 100.00 less 1.00 of fees, a fee line of 0.25) and GBP 49.40 (50.00
# less 0.50, a fee line of 0.10), one MerchantPayout line per currency
TWO_CURRENCY_BATCH = [
    "Settled,PayPlatformEU,7001,PSP-E,ORD-E,visa,2026-08-28 09:00:00,CET,2026-08-28 10:00:00,CET,"
    "EUR,,100.00,1,EUR,,99.00,,0.50,0.20,0.30,M1",
    "Settled,PayPlatformEU,7001,PSP-G,ORD-G,visa,2026-08-28 09:30:00,CET,2026-08-28 10:30:00,CET,"
    "GBP,,50.00,1,GBP,,49.50,,0.30,0.10,0.10,M2",
    "Fee,PayPlatformEU,7001,,,,2026-08-28 23:30:00,CET,,,,,,,EUR,0.25,,,,,,Transaction Fees",
    "Fee,PayPlatformEU,7001,,,,2026-08-28 23:30:00,CET,,,,,,,GBP,0.10,,,,,,Transaction Fees",
    'MerchantPayout,PayPlatformEU,7001,,,,2026-08-28 23:55:00,CET,,,,,,,EUR,98.75,,,,,,"TX1 batch 7001, PayPlatformEU"',
    'MerchantPayout,PayPlatformEU,7001,,,,2026-08-28 23:55:00,CET,,,,,,,GBP,49.40,,,,,,"TX2 batch 7001, PayPlatformEU"',
]
ORDERS = [
    order("ORD-E", 10000, "EUR", psp_reference="PSP-E", business_date=FRI),
    order("ORD-G", 5000, "GBP", psp_reference="PSP-G", business_date=FRI),
]
NET = {"EUR": 9875, "GBP": 4940}


def credit(currency: str, day: dt.date, reference: str = BATCH) -> dict[str, Any]:
    """The bank credit of one currency of the batch: it names the batch, as each currency's credit does."""
    return bank(reference, NET[currency], currency, business_date=day, booking_date=day, value_date=day)


def group_break_id(channel: str, payout_id: str) -> str:
    """The stable id of a payout's break (sql/lifecycle_stable_ids.sql)."""
    return "B" + hashlib.sha256(f"psp_settlement_lines|group|{channel}|{payout_id}".encode()).hexdigest()[:16]


CHANNELS = {
    "adyen_eu": """id: adyen_eu
kind: psp
location: adyen
format: adyen_sdr
timezone: Europe/Amsterdam
settlement:
  cycle_business_days: 1
  window_business_days: 1
  {settlement}
""",
    "bank_eu": "id: bank_eu\nkind: bank\nlocation: bank\nformat: camt053\ntimezone: Europe/Amsterdam\n",
    "orders": "id: orders\nkind: orders\nlocation: orders\nformat: orders_csv\n",
}


@dataclass
class Day:
    """The published tables of one business date."""

    breaks: pl.DataFrame
    outcomes: pl.DataFrame
    matches: pl.DataFrame
    positions: pl.DataFrame
    fund_verification: pl.DataFrame

    def payout_breaks(self) -> pl.DataFrame:
        return self.breaks.filter(pl.col("item_table") == "psp_settlement_lines", pl.col("line_no").is_null())


class Workspace:
    def __init__(self, tmp_path: Path, settlement: str = PER_CURRENCY) -> None:
        self.rules = tmp_path / "rules"
        (self.rules / "channels").mkdir(parents=True)
        shutil.copytree(PROJECT_ROOT / "rules" / "matching", self.rules / "matching")
        for cid, text in CHANNELS.items():
            (self.rules / "channels" / f"{cid}.yaml").write_text(text.replace("{settlement}", settlement))
        self.settings = Settings(home=tmp_path / "home", rules=self.rules)
        self.settings.ensure()
        self.tmp = tmp_path
        self.statuses: list[FileStatus] = []

    def report(self, lines: list[str], name: str = "settlement_detail_report_batch_7001.csv") -> pl.DataFrame:
        """Parse a Settlement Details Report and stage its lines; return them."""
        path = self.tmp / name
        path.write_text(SDR_HEADER + "\n" + "\n".join(lines) + "\n", encoding="utf-8")
        file_id = hashlib.sha256(path.read_bytes()).hexdigest()
        channel = load_channels(self.rules)["adyen_eu"]
        frame = parse(path, ParseContext(channel=channel, file_id=file_id, file_name=name)).frame
        self.rows("psp_settlement_lines", frame.to_dicts(), file_id)
        return frame

    def rows(self, table: str, rows: list[dict[str, Any]], file_id: str) -> None:
        self.statuses.append(stage(self.settings, table, rows, file_id))

    def open_after(self, day: dt.date) -> pl.DataFrame:
        """The items the run of ``day`` left open, carried into the next run."""
        return Catalog(self.settings.catalog_path).history_for(day + dt.timedelta(days=1)).open_items

    def run(self, day: dt.date) -> Day:
        Catalog(self.settings.catalog_path).record_file_statuses(self.statuses, dt.datetime.now(dt.UTC))
        out = Path(stages.reconcile_and_publish(day, "nightly", str(self.settings.home), str(self.rules))["output"])
        tables = ("breaks", "outcomes", "matches", "positions", "fund_verification")
        return Day(*(pl.read_parquet(out / f"{t}.parquet") for t in tables))
