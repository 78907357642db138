"""Breaks over time: carry-forward of open items, expected delays (pending), stable break ids, aging,
SLAs, manual resolutions and closures.

A business date's run starts from the items still open at the end of the previous business date that
was run (``History``), offers them again with the date's own rows, and ends by recording the items that
are still open. Re-running a date reads the same history (everything before it), so it reproduces the
same result; the dates after it are re-run in turn (``pipeline.rerun_from``).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal

import duckdb
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipelines.breaks import at_risk
from pipelines.core import calendars, money, schema, sqlfiles, yamlfiles
from pipelines.core.channels import Channel, RulesError

AGING_BUCKETS: tuple[tuple[int, int | None, str], ...] = (
    (0, 1, "0-1"),
    (2, 3, "2-3"),
    (4, 7, "4-7"),
    (8, 30, "8-30"),
    (31, None, ">30"),
)
RESOLVING_ACTIONS = ("write_off", "manual_match", "accept")
ACTIONS = (*RESOLVING_ACTIONS, "reopen")


Delay = Literal["settlement_window", "settlement_cycle"]
DEFAULT_PENDING: dict[str, Delay] = {
    "order_not_settled": "settlement_window",
    "payout_without_bank_credit": "settlement_cycle",
}


class BreakPolicy(BaseModel):
    """``rules/breaks.yaml``: reporting currency, SLAs per break type, expected delays."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reporting_currency: str = Field("EUR", pattern=r"^[A-Z]{3}$")
    sla_days: dict[str, int] = Field(default_factory=dict, description="break type -> days before the SLA is breached")
    pending: dict[str, Delay] = Field(
        default_factory=lambda: dict(DEFAULT_PENDING),
        description="break type -> the channel delay during which it is only pending",
    )


def load_policy(rules_dir: Path) -> BreakPolicy:
    path = rules_dir / "breaks.yaml"
    if not path.exists():
        return BreakPolicy()
    try:
        policy = BreakPolicy.model_validate(yamlfiles.load(path) or {})
    except ValidationError as exc:
        lines = [f"{path}: field '{'.'.join(str(p) for p in e['loc'])}': {e['msg']}" for e in exc.errors()]
        raise RulesError("\n".join(lines)) from None
    allowed = set(schema.table("breaks").column("break_type").allowed or ())
    unknown = sorted((set(policy.sla_days) | set(policy.pending)) - allowed)
    if unknown:
        raise RulesError(f"{path}: unknown break type(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    money.exponent(policy.reporting_currency)
    return policy


def _empty(**columns: type[pl.DataType]) -> Callable[[], pl.DataFrame]:
    """A factory of an empty frame with these columns (a ``History`` before any run)."""
    return lambda: pl.DataFrame(schema=columns)


@dataclass
class History:
    """What the catalog knows before a date's run: items still open, when each break was first seen,
    and the latest manual resolution of each break."""

    previous_date: dt.date | None = None
    open_items: pl.DataFrame = field(
        default_factory=_empty(
            item_table=pl.String,
            file_id=pl.String,
            line_no=pl.Int64,
            item_business_date=pl.Date,
            channel=pl.String,
            status=pl.String,
            break_id=pl.String,
            used_in=pl.String,
        )
    )
    first_seen: dict[str, dt.date] = field(default_factory=dict)
    resolutions: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # break -> (action, by, note)
    positions: pl.DataFrame = field(
        default_factory=_empty(
            counterparty=pl.String, currency=pl.String, value_date=pl.Date, net_expected_minor=pl.Int64
        )
    )
    # breaks open at the end of the previous run (not resolved)
    open_breaks: pl.DataFrame = field(default_factory=_empty(break_id=pl.String, break_type=pl.String))
    receipts: pl.DataFrame = field(
        default_factory=_empty(counterparty=pl.String, currency=pl.String, value_date=pl.Date, received_minor=pl.Int64)
    )
    # the metrics of the last runs before the date (``metrics`` contract), for the trend of the report
    metrics: pl.DataFrame = field(default_factory=pl.DataFrame)


def aging_bucket(age_days: int) -> str:
    for low, high, label in AGING_BUCKETS:
        if age_days >= low and (high is None or age_days <= high):
            return label
    return AGING_BUCKETS[0][2]


# --------------------------------------------------------------------------------------------------
# in-run steps (DuckDB)
# --------------------------------------------------------------------------------------------------
def due_dates(con: duckdb.DuckDBPyConnection, channels: dict[str, Channel]) -> None:
    """Table due_dates(channel, currency, business_date, window_due, cycle_due) for every channel, currency and
    date present (an order's currency, a settlement line's): its settlement window and cycle counted in business
    days of the currency's calendar (``Settlement.calendar_for``)."""
    triples = con.sql(
        "SELECT DISTINCT psp_channel AS channel, currency, business_date FROM orders "
        "UNION SELECT DISTINCT channel, currency, business_date FROM psp_settlement_lines"
    ).fetchall()
    rows = []
    for channel_id, currency, day in triples:
        ch = channels.get(channel_id)
        if ch is None or day is None:
            continue
        s = ch.settlement
        calendar = s.calendar_for(currency)
        rows.append(
            {
                "channel": channel_id,
                "currency": currency,
                "business_date": day,
                "window_due": calendars.add_business_days(day, s.window_business_days, calendar),
                "cycle_due": calendars.add_business_days(day, s.cycle_business_days, calendar),
            }
        )
    frame = pl.DataFrame(
        rows,
        schema={
            "channel": pl.String,
            "currency": pl.String,
            "business_date": pl.Date,
            "window_due": pl.Date,
            "cycle_due": pl.Date,
        },
    )
    temp_table(con, "due_dates", frame)


def day_end(day: dt.date, channel: Channel) -> dt.datetime:
    """The instant (UTC) that closes business date ``day`` in ``channel``'s time zone and cut-off: a local
    time at or after the cut-off belongs to the next business date (``formats.base.business_date``), so ``day``
    ends at its own cut-off, or at the next midnight when the cut-off is midnight. DST-safe (zoneinfo)."""
    local_day = day + dt.timedelta(days=1) if channel.cutoff == dt.time(0, 0) else day
    local = dt.datetime.combine(local_day, channel.cutoff, tzinfo=zoneinfo.ZoneInfo(channel.timezone))
    return local.astimezone(dt.UTC)


def order_timeouts(con: duckdb.DuckDBPyConnection, day: dt.date, channels: dict[str, Channel]) -> None:
    """Pending orders past their channel's timeout (``order_timeouts`` of the channel, per direction) become
    ``order_timeout`` breaks; pending orders within it stay pending (``sql/lifecycle_order_timeouts.sql``). Runs
    after the expected delays: only an order without a pairing's verdict times out (a withdrawal past its rail's
    window without a debit is ``withdrawal_not_executed``, not both)."""
    rows = [
        {"channel": ch.id, "direction": direction, "timeout_minutes": minutes, "day_end": day_end(day, ch)}
        for ch in sorted(channels.values(), key=lambda c: c.id)
        if ch.order_timeouts is not None
        for direction in ("payin", "withdrawal")
        if (minutes := ch.order_timeouts.minutes(direction)) is not None
    ]
    schema = {"channel": pl.String, "direction": pl.String, "timeout_minutes": pl.Int64}
    frame = pl.DataFrame(rows, schema={**schema, "day_end": pl.Datetime("us", "UTC")})
    temp_table(con, "order_timeouts", frame)
    if frame.height:
        sqlfiles.execute(con, sqlfiles.load("lifecycle_order_timeouts"))


def apply(
    con: duckdb.DuckDBPyConnection,
    day: dt.date,
    channels: dict[str, Channel],
    policy: BreakPolicy,
    history: History,
    kept_types: list[str] | None = None,
    found_types: list[str] | None = None,
) -> None:
    """After matching: stable break ids, stable break types (``kept_types``: "duplicate|unmatched" pairs, a
    duplicate carried without its original stays a duplicate; ``found_types``: "status|unmatched" pairs, an item
    found against a counterpart another pairing decided stays what it was found as), expected delays turned into
    pending (breaks within their window, and orders with no settlement expected while a late settlement line may
    still come), order timeouts, resolutions attached."""
    sqlfiles.execute(con, sqlfiles.load("lifecycle_stable_ids"))
    temp_table(con, "previous_breaks", history.open_breaks.select("break_id", "break_type"))
    sqlfiles.execute(
        con, sqlfiles.load("lifecycle_stable_types"), {"kept": kept_types or [], "found": found_types or []}
    )
    due_dates(con, channels)
    con.execute("CREATE OR REPLACE TEMP TABLE pending_groups (channel VARCHAR, item_ref VARCHAR)")
    for break_type, delay in sorted(policy.pending.items()):
        sqlfiles.execute(
            con,
            sqlfiles.load("lifecycle_pending"),
            {"break_type": break_type, "due_column": delay, "business_date": day},
        )
    sqlfiles.execute(con, sqlfiles.load("lifecycle_pending_orders"), {"business_date": day})
    order_timeouts(con, day, channels)
    res = pl.DataFrame(
        [
            {"break_id": k, "action": a, "resolved_by": b, "note": n}
            for k, (a, b, n) in sorted(history.resolutions.items())
        ],
        schema={"break_id": pl.String, "action": pl.String, "resolved_by": pl.String, "note": pl.String},
    )
    temp_table(con, "resolutions_now", res)


def temp_table(con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    """``frame`` as the run's temporary table ``name`` (replaced if it exists)."""
    con.register(f"{name}_src", frame)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_src")
    con.unregister(f"{name}_src")


def enrich_breaks(
    breaks: pl.DataFrame, day: dt.date, policy: BreakPolicy, history: History, fx: dict[str, Decimal]
) -> pl.DataFrame:
    """Add the counterparty, status, first seen, age, aging bucket, SLA, resolution, the money at risk
    (``at_risk``: in the item's currency and in the reporting currency) and the item's amount in the reporting
    currency, both at the reference rate of the business date (``fx``), with the rate and its date."""
    rep = policy.reporting_currency
    rows = []
    for r in breaks.iter_rows(named=True):
        first = history.first_seen.get(r["break_id"], day)
        age = (day - first).days
        resolution = history.resolutions.get(r["break_id"])
        status = "resolved" if resolution and resolution[0] in RESOLVING_ACTIONS else "open"
        sla = policy.sla_days.get(r["break_type"])
        converted, rate = convert(r["amount_minor"], r["currency"], rep, fx)
        risk, risk_currency = at_risk.at_risk_minor(
            r["break_type"], r["amount_minor"], r["currency"], r.get("counter_amount_minor"), r.get("counter_currency")
        )
        risk_reporting, risk_rate = at_risk.to_reporting(risk, risk_currency, rep, fx)
        rate = rate if rate is not None else risk_rate
        rows.append(
            {
                "break_id": r["break_id"],
                "counterparty": r.get("counterparty") or r["channel"],
                "status": status,
                "first_seen": first,
                "age_days": age,
                "aging_bucket": aging_bucket(age),
                "sla_days": sla,
                "sla_status": None if sla is None or status == "resolved" else ("breached" if age > sla else "within"),
                "at_risk_minor": risk,
                "at_risk_currency": risk_currency,
                "at_risk_reporting_minor": risk_reporting,
                "amount_reporting_minor": converted,
                "reporting_currency": rep,
                "fx_rate": rate,
                "fx_rate_date": day if rate is not None else None,
                "resolution_action": resolution[0] if resolution else None,
                "resolved_by": resolution[1] if resolution else None,
                "resolution_note": resolution[2] if resolution else None,
            }
        )
    extra = pl.DataFrame(
        rows,
        schema={
            "break_id": pl.String,
            "counterparty": pl.String,
            "status": pl.String,
            "first_seen": pl.Date,
            "age_days": pl.Int64,
            "aging_bucket": pl.String,
            "sla_days": pl.Int64,
            "sla_status": pl.String,
            "at_risk_minor": pl.Int64,
            "at_risk_currency": pl.String,
            "at_risk_reporting_minor": pl.Int64,
            "amount_reporting_minor": pl.Int64,
            "reporting_currency": pl.String,
            "fx_rate": pl.Decimal(38, 12),
            "fx_rate_date": pl.Date,
            "resolution_action": pl.String,
            "resolved_by": pl.String,
            "resolution_note": pl.String,
        },
    )
    out = breaks.drop([c for c in extra.columns if c != "break_id" and c in breaks.columns]).join(
        extra, on="break_id", how="left", maintain_order="left"
    )
    return schema.table("breaks").conform(out.with_columns(pl.lit(day).alias("last_seen")))


def convert(minor: int, currency: str, target: str, fx: dict[str, Decimal]) -> tuple[int | None, Decimal | None]:
    """Convert with the date's reference rates (1 target = rate currency), half-even once, at the end."""
    if currency == target:
        return minor, Decimal(1)
    rate = fx.get(currency)
    if rate is None or rate == 0:
        return None, None
    try:
        return money.convert_minor(minor, currency, target, Decimal(1) / rate), rate
    except ValueError:
        return None, None


def fx_rates(con: duckdb.DuckDBPyConnection, day: dt.date, reporting_currency: str) -> dict[str, Decimal]:
    """Rates of the business date against the reporting currency: quote currency -> units per 1 reporting."""
    rows = con.execute(
        "SELECT quote_currency, CAST(rate AS VARCHAR) FROM fx_rates WHERE base_currency = $base "
        "AND business_date = $day ORDER BY quote_currency",
        {"base": reporting_currency, "day": day},
    ).fetchall()
    return {q: Decimal(r) for q, r in rows}
