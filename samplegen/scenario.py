"""A four-business-day scenario in the real file formats, for breaks over time and clearing.

Business dates Thu 2026-11-12, Fri 11-13, Mon 11-16 (a Mexican public holiday: Revolution Day) and
Tue 11-17, with the weekend between. Adyen settles EUR with payouts T+1 (Dutch calendar); Stripe settles
MXN with payouts T+2 in Mexican business days, so the Friday payout is due on Wednesday 11-18 and the
Monday one on Thursday 11-19. What happens:

* order A3 settles a day late (pending on day 1, matched on day 2);
* order S2 is not settled within its one-day window: a break on day 2 that closes by itself when Stripe
  settles it on day 3;
* Adyen short-pays order A2 by 1.00 EUR on day 1: an amount mismatch, written off by an analyst after
  the day-2 run;
* every payout batch is pending until its value date, and matched to its bank credit when it arrives.

``python -m samplegen.scenario --out data_samples/scenario`` writes the files and the rules folder.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipelines.core import money
from samplegen.plan import ADYEN_HEADER, STRIPE_HEADER

DAYS = (dt.date(2026, 11, 12), dt.date(2026, 11, 13), dt.date(2026, 11, 16), dt.date(2026, 11, 17))
MERCHANT = "PayPlatformEU"
EUR_IBAN = "NL33INGB6693512750"
MXN_IBAN = "NL51INGB4821337900"
FX = {"MXN": "21.1540", "GBP": "0.8381", "USD": "1.0825"}


@dataclass(frozen=True)
class Order:
    order_id: str
    channel: str
    ref: str
    amount: int  # minor units
    currency: str
    day: dt.date
    status: str = "succeeded"


@dataclass(frozen=True)
class Settlement:
    order: Order
    day: dt.date
    gross: int
    fee: int


ORDERS = (
    Order("A1", "adyen_eu", "8815000000000001", 10000, "EUR", DAYS[0]),
    Order("A2", "adyen_eu", "8815000000000002", 5000, "EUR", DAYS[0]),
    Order("A3", "adyen_eu", "8815000000000003", 3000, "EUR", DAYS[0]),
    Order("S1", "stripe_mx", "ch_S1", 100000, "MXN", DAYS[0]),
    Order("S2", "stripe_mx", "ch_S2", 50000, "MXN", DAYS[0]),
    Order("A4", "adyen_eu", "8815000000000004", 2000, "EUR", DAYS[1]),
    Order("S3", "stripe_mx", "ch_S3", 20000, "MXN", DAYS[1]),
    Order("A5", "adyen_eu", "8815000000000005", 1000, "EUR", DAYS[2]),
)
_O = {o.order_id: o for o in ORDERS}
SETTLEMENTS = (
    Settlement(_O["A1"], DAYS[0], 10000, 100),
    Settlement(_O["A2"], DAYS[0], 4900, 50),  # short by 1.00 EUR
    Settlement(_O["S1"], DAYS[0], 100000, 3000),
    Settlement(_O["A3"], DAYS[1], 3000, 30),  # one day late
    Settlement(_O["A4"], DAYS[1], 2000, 20),
    Settlement(_O["S3"], DAYS[1], 20000, 600),
    Settlement(_O["A5"], DAYS[2], 1000, 10),
    Settlement(_O["S2"], DAYS[2], 50000, 1500),  # two days late: closes the day-2 break
)


def _m(minor: int, currency: str) -> str:
    return money.format_minor(minor, currency)


def adyen_batch(day: dt.date) -> int:
    return 100 + DAYS.index(day) + 1


def adyen_payout_id(day: dt.date) -> str:
    return f"{MERCHANT}-{adyen_batch(day)}"


def stripe_payout_id(day: dt.date) -> str:
    return f"po_MX{day:%Y%m%d}"


def net_of(day: dt.date, channel: str) -> int:
    return sum(s.gross - s.fee for s in SETTLEMENTS if s.day == day and s.order.channel == channel)


def write_orders(out: Path, day: dt.date) -> None:
    rows = ["order_id,psp_channel,psp_reference,merchant_account,status,amount,currency,created_at"]
    for o in ORDERS:
        if o.day == day:
            rows.append(
                f"{o.order_id},{o.channel},{o.ref},{MERCHANT},{o.status},{_m(o.amount, o.currency)},"
                f"{o.currency},{day.isoformat()}T10:{ORDERS.index(o):02d}:00Z"
            )
    _write(out / "orders" / f"orders_{day}.csv", "\n".join(rows) + "\n")


def write_adyen(out: Path, day: dt.date) -> None:
    lines = [s for s in SETTLEMENTS if s.day == day and s.order.channel == "adyen_eu"]
    if not lines:
        return
    batch = adyen_batch(day)
    rows = [",".join(ADYEN_HEADER)]

    def row(values: dict[str, str]) -> str:
        return ",".join(values.get(h, "") for h in ADYEN_HEADER)

    stamp = f"{day} 12:00:00"
    for s in lines:
        rows.append(
            row(
                {
                    "Company Account": "PayPlatform",
                    "Merchant Account": MERCHANT,
                    "Psp Reference": s.order.ref,
                    "Merchant Reference": s.order.order_id,
                    "Payment Method": "visa",
                    "Creation Date": stamp,
                    "TimeZone": "CET",
                    "Type": "Settled",
                    "Modification Reference": s.order.ref,
                    "Gross Currency": "EUR",
                    "Gross Credit (GC)": _m(s.gross, "EUR"),
                    "Exchange Rate": "1",
                    "Net Currency": "EUR",
                    "Net Credit (NC)": _m(s.gross - s.fee, "EUR"),
                    "Markup (NC)": _m(s.fee, "EUR"),
                    "Batch Number": str(batch),
                    "Booking Date": stamp,
                    "Booking Date TimeZone": "CET",
                }
            )
        )
    rows.append(
        row(
            {
                "Company Account": "PayPlatform",
                "Merchant Account": MERCHANT,
                "Creation Date": f"{day} 23:55:00",
                "TimeZone": "CET",
                "Type": "MerchantPayout",
                "Modification Reference": f"batch {batch}",
                "Net Currency": "EUR",
                "Net Debit (NC)": _m(net_of(day, "adyen_eu"), "EUR"),
                "Batch Number": str(batch),
                "Booking Date": f"{day} 23:55:00",
                "Booking Date TimeZone": "CET",
            }
        )
    )
    _write(out / "adyen" / f"settlement_detail_report_batch_{batch}.csv", "\n".join(rows) + "\n")


def write_stripe(out: Path, day: dt.date) -> None:
    lines = [s for s in SETTLEMENTS if s.day == day and s.order.channel == "stripe_mx"]
    if not lines:
        return
    rows = [",".join(STRIPE_HEADER)]
    for s in lines:
        values = {
            "automatic_payout_id": stripe_payout_id(day),
            "balance_transaction_id": f"txn_{s.order.order_id}",
            "created_utc": f"{day} 15:00:00",
            "created": f"{day} 15:00:00",
            "currency": "mxn",
            "gross": _m(s.gross, "MXN"),
            "fee": _m(s.fee, "MXN"),
            "net": _m(s.gross - s.fee, "MXN"),
            "reporting_category": "charge",
            "source_id": s.order.ref,
            "description": f"Order {s.order.order_id}",
            "customer_facing_amount": _m(s.gross, "MXN"),
            "customer_facing_currency": "mxn",
            "charge_id": s.order.ref,
            "payment_method_type": "card",
            "card_brand": "visa",
            "payment_metadata[order_id]": s.order.order_id,
        }
        rows.append(",".join(values.get(h, "") for h in STRIPE_HEADER))
    _write(out / "stripe" / f"payout_reconciliation_itemized_{day}.csv", "\n".join(rows) + "\n")


def bank_credits(day: dt.date) -> list[tuple[str, str, int, str]]:
    """(account currency, end-to-end id, amount, payer) of the credits booked on ``day``."""
    from pipelines.core import calendars

    credits = []
    for d in DAYS:
        if d < day and net_of(d, "adyen_eu") and calendars.add_business_days(d, 1, "NL") == day:
            credits.append(("EUR", adyen_payout_id(d), net_of(d, "adyen_eu"), "Adyen N.V."))
        if d < day and net_of(d, "stripe_mx") and calendars.add_business_days(d, 2, "MX") == day:
            credits.append(("MXN", stripe_payout_id(d), net_of(d, "stripe_mx"), "Stripe Payments Europe Ltd"))
    return credits


def write_bank(out: Path, day: dt.date) -> None:
    credits = bank_credits(day)
    if not credits:
        return
    statements = []
    for cur, iban in (("EUR", EUR_IBAN), ("MXN", MXN_IBAN)):
        mine = [c for c in credits if c[0] == cur]
        opening = 500000 + 1000 * DAYS.index(day)
        closing = opening + sum(c[2] for c in mine)
        entries = "".join(
            f"""
      <Ntry>
        <NtryRef>{day:%Y%m%d}-{cur}-{i + 1}</NtryRef>
        <Amt Ccy="{cur}">{_m(amount, cur)}</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Sts><Cd>BOOK</Cd></Sts>
        <BookgDt><Dt>{day}</Dt></BookgDt>
        <ValDt><Dt>{day}</Dt></ValDt>
        <AcctSvcrRef>SVC{day:%Y%m%d}{cur}{i + 1}</AcctSvcrRef>
        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>
        <NtryDtls><TxDtls>
          <Refs><EndToEndId>{e2e}</EndToEndId></Refs>
          <RltdPties><Dbtr><Pty><Nm>{payer}</Nm></Pty></Dbtr></RltdPties>
          <RmtInf><Ustrd>PAYOUT {e2e}</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>"""
            for i, (_, e2e, amount, payer) in enumerate(mine)
        )
        statements.append(f"""
    <Stmt>
      <Id>{day:%Y%m%d}-{cur}</Id>
      <ElctrncSeqNb>{DAYS.index(day) + 1}</ElctrncSeqNb>
      <CreDtTm>{day}T23:59:00+01:00</CreDtTm>
      <Acct><Id><IBAN>{iban}</IBAN></Id><Ccy>{cur}</Ccy></Acct>
      <Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="{cur}">{_m(opening, cur)}</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>
      <Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="{cur}">{_m(closing, cur)}</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>{entries}
    </Stmt>""")
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">
  <BkToCstmrStmt>
    <GrpHdr><MsgId>SCN-{day:%Y%m%d}</MsgId><CreDtTm>{day}T23:59:00+01:00</CreDtTm></GrpHdr>{"".join(statements)}
  </BkToCstmrStmt>
</Document>
"""
    _write(out / "bank" / f"camt053_{day}.xml", xml)


def write_fx(out: Path, day: dt.date) -> None:
    rows = ["rate_date,base_currency,quote_currency,rate"]
    rows += [f"{day},EUR,{cur},{rate}" for cur, rate in sorted(FX.items())]
    _write(out / "fx" / f"fx_rates_{day}.csv", "\n".join(rows) + "\n")


def write_rules(out: Path) -> None:
    """Channels of the scenario plus the project's matching rules (copied) and a break policy."""
    from pipelines.core.config import PROJECT_ROOT

    rules = out / "rules"
    (rules / "channels").mkdir(parents=True, exist_ok=True)
    (rules / "matching").mkdir(parents=True, exist_ok=True)
    channels: list[dict[str, Any]] = [
        {"id": "orders", "kind": "orders", "location": "orders", "pattern": "orders_*.csv", "format": "orders_csv"},
        {
            "id": "adyen_eu",
            "kind": "psp",
            "location": "adyen",
            "pattern": "settlement_detail_report_batch_*.csv",
            "format": "adyen_sdr",
            "timezone": "Europe/Amsterdam",
            "settlement": {"cycle_business_days": 1, "calendar": "NL", "model": "net", "window_business_days": 1},
        },
        {
            "id": "stripe_mx",
            "kind": "psp",
            "location": "stripe",
            "pattern": "payout_reconciliation_itemized_*.csv",
            "format": "stripe_payout_recon",
            "timezone": "UTC",
            "settlement": {"cycle_business_days": 2, "calendar": "MX", "model": "net", "window_business_days": 1},
        },
        {
            "id": "bank_eu",
            "kind": "bank",
            "location": "bank",
            "pattern": "camt053_*.xml",
            "format": "camt053",
            "timezone": "Europe/Amsterdam",
        },
        {"id": "fx_ecb", "kind": "reference", "location": "fx", "pattern": "fx_rates_*.csv", "format": "fx_rates_csv"},
    ]
    for ch in channels:  # locations are relative to the folder holding the rules folder
        (out / str(ch["location"])).mkdir(parents=True, exist_ok=True)
        _write(rules / "channels" / f"{ch['id']}.yaml", yaml.safe_dump(ch, sort_keys=False))
    for f in sorted((PROJECT_ROOT / "rules" / "matching").glob("*.yaml")):
        # settlements here may come a week after the order (late settlement is part of the scenario)
        _write(rules / "matching" / f.name, f.read_text(encoding="utf-8").replace("max_days: 3}", "max_days: 7}"))
    policy = {"reporting_currency": "EUR", "sla_days": {"amount_mismatch": 1, "order_not_settled": 2}}
    _write(rules / "breaks.yaml", yaml.safe_dump(policy, sort_keys=False))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def write_all(out: Path, days: tuple[dt.date, ...] = DAYS) -> None:
    """Write the files of ``days`` (all by default) and the rules folder under ``out``."""
    for day in days:
        if any(o.day == day for o in ORDERS):
            write_orders(out, day)
        write_adyen(out, day)
        write_stripe(out, day)
        write_bank(out, day)
        write_fx(out, day)
    write_rules(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m samplegen.scenario")
    parser.add_argument("--out", default="data_samples/scenario")
    args = parser.parse_args(argv)
    write_all(Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
