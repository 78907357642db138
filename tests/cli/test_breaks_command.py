"""``recon summary`` and ``recon breaks`` on the published sample day, read as a finance analyst reads them.

Invariants checked here:
1. ``recon summary`` prints the money at risk first, before the count tables.
2. ``recon breaks`` never wraps a break id, lists the largest money at risk first, filters by type, status,
   channel, currency, SLA, money at risk and age, and writes the same rows as CSV or JSON.
3. An unknown ``--type`` (or a bad ``--min-amount``) is one line on stderr and exit code 2.
4. A resolution recorded after the run shows at once as ``resolved (applies on next run)``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import shutil
import sys
import types
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from rich.console import Console

from pipelines.cli import main as cli
from pipelines.core import schema
from pipelines.run import stages as pipeline

DATE = "2026-11-26"
DAY = dt.date.fromisoformat(DATE)
BREAK_ID = re.compile(r"\bB[0-9a-f]{16}\b")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("home")
    pipeline.run_all(DAY, "nightly", str(home))
    return home


def published(home: Path) -> pl.DataFrame:
    return pl.read_parquet(home / "outputs" / DATE / "breaks.parquet")


def recon(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def narrow(monkeypatch: pytest.MonkeyPatch, width: int) -> io.StringIO:
    """The CLI's console at ``width`` columns, writing into the returned buffer."""
    buffer = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=buffer, width=width, color_system=None))
    return buffer


def test_summary_prints_the_money_at_risk_first(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = recon(capsys, "--home", str(home), "summary", "--date", DATE)
    assert code == 0
    risk = json.loads((home / "outputs" / DATE / "summary.json").read_text())["money_at_risk"]
    total = f"{risk['total_reporting_minor'] // 100:,}.{risk['total_reporting_minor'] % 100:02d} EUR"
    assert out.index(f"Money at risk: {total}") < out.index("Rows in and outcomes") < out.index("Breaks by type")
    assert "Money at risk by counterparty and currency" in out
    assert re.search(r"stripe_eu\s+MXN\s+2\s+206\.00 MXN\s+9\.65 EUR", out)  # the 10.00 MXN shortfall + 196.00 MXN


def test_break_ids_are_never_wrapped(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = set(published(home)["break_id"].to_list())
    for width in (80, 120, 200):
        buffer = narrow(monkeypatch, width)
        assert recon(capsys, "--home", str(home), "breaks", "--date", DATE)[0] == 0
        assert set(BREAK_ID.findall(buffer.getvalue())) == ids, width


def test_largest_money_at_risk_first_and_the_payout_shortfall_is_its_difference(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = recon(capsys, "--home", str(home), "breaks", "--date", DATE, "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == published(home).height
    amounts = [r["at_risk_reporting_minor"] for r in rows]
    assert amounts == sorted(amounts, reverse=True)
    payout = next(r for r in rows if r["break_type"] == "payout_amount_mismatch")
    assert (payout["at_risk_minor"], payout["at_risk_currency"]) == (1000, "MXN")  # 10.00 MXN, not the payout
    assert payout["at_risk_reporting_minor"] == 47 and payout["amount_reporting_minor"] == 441314
    assert (payout["fx_rate"], payout["fx_rate_date"]) == ("21.350100000000", DATE)
    assert payout["file_name"] == "payout_reconciliation_itemized_2026-11-26.csv"
    assert payout["counter_file_name"] == "camt053_2026-11-26.xml"
    assert payout["shown_status"] == "open" and payout["pending_action"] is None


def test_filters(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def listed(*filters: str) -> list[dict[str, Any]]:
        code, out, err = recon(capsys, "--home", str(home), "breaks", "--date", DATE, "--format", "json", *filters)
        assert code == 0, err
        return list(json.loads(out))

    every = listed()
    stripe = listed("--channel", "stripe_eu")
    # the channel's own items and the orders it processes (their channel is the orders extract)
    assert {(r["channel"], r["counterparty"]) for r in stripe} == {("stripe_eu", "stripe_eu"), ("orders", "stripe_eu")}
    assert len(stripe) == sum(1 for r in every if "stripe_eu" in (r["channel"], r["counterparty"]))
    assert {r["currency"] for r in listed("--currency", "mxn")} == {"MXN"}
    within = listed("--sla", "within")
    assert within and {r["sla_status"] for r in within} == {"within"}
    assert listed("--sla", "breached") == []
    big = listed("--min-amount", "1000")
    assert big and all(r["at_risk_reporting_minor"] >= 100000 for r in big)
    assert len(big) == sum(1 for r in every if (r["at_risk_reporting_minor"] or 0) >= 100000)
    # the payout's 0.47 EUR at risk: at least 0.47, not at least 0.48
    assert "payout_amount_mismatch" in {r["break_type"] for r in listed("--min-amount", "0.47")}
    assert "payout_amount_mismatch" not in {r["break_type"] for r in listed("--min-amount", "0.48")}
    assert listed("--min-age", "1") == []  # every break of the first run is 0 days old
    assert len(listed("--min-age", "0")) == len(every)
    assert {r["break_type"] for r in listed("--type", "order_not_settled", "--status", "open")} == {"order_not_settled"}


def test_csv_carries_the_same_rows_and_file_names(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = recon(capsys, "--home", str(home), "breaks", "--date", DATE, "--format", "csv", "--currency", "MXN")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    columns = [*schema.table("breaks").column_names, "shown_status", "pending_action", "pending_by"]
    assert list(rows[0]) == columns
    assert {(r["break_type"], r["at_risk_minor"], r["at_risk_currency"]) for r in rows} == {
        ("payout_amount_mismatch", "1000", "MXN"),
        ("amount_mismatch", "19600", "MXN"),
    }
    assert all(r["file_name"].endswith(".csv") for r in rows)


def test_unknown_type_and_bad_amount_are_one_line_errors(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = recon(capsys, "--home", str(home), "breaks", "--date", DATE, "--type", "amount_mismatched")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "unknown break type 'amount_mismatched'" in err
    assert "amount_mismatch, " in err and "withdrawal_status_mismatch" in err  # the known types, named
    code, _, err = recon(capsys, "--home", str(home), "breaks", "--date", DATE, "--min-amount", "1.001")
    assert code == 2 and err.count("\n") == 1 and "more decimals than EUR allows" in err
    with pytest.raises(SystemExit) as exc:  # not an amount at all: argparse's usage error
        cli.main(["--home", str(home), "breaks", "--date", DATE, "--min-amount", "-5"])
    assert exc.value.code == 2
    capsys.readouterr()


def test_a_resolution_shows_at_once(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = tmp_path / "home"
    shutil.copytree(home, mine, symlinks=True)
    target = published(mine).filter(pl.col("break_type") == "payout_amount_mismatch")["break_id"][0]
    code, _, _ = recon(
        capsys,
        "--home",
        str(mine),
        "breaks",
        "resolve",
        target,
        "--action",
        "write_off",
        "--note",
        "fee",
        "--by",
        "ana",
    )
    assert code == 0
    code, out, _ = recon(capsys, "--home", str(mine), "breaks", "--date", DATE, "--format", "json")
    rows = {r["break_id"]: r for r in json.loads(out)}
    assert (rows[target]["status"], rows[target]["shown_status"]) == ("open", "resolved (applies on next run)")
    assert (rows[target]["pending_action"], rows[target]["pending_by"]) == ("write_off", "ana")
    assert {r["shown_status"] for b, r in rows.items() if b != target} == {"open"}
    buffer = narrow(monkeypatch, 160)
    assert recon(capsys, "--home", str(mine), "breaks", "--date", DATE, "--type", "payout_amount_mismatch")[0] == 0
    assert "resolved (applies on next run)" in buffer.getvalue() and "write_off by ana" in buffer.getvalue()
    # reopened before the next run: back to what the run published
    recon(capsys, "--home", str(mine), "breaks", "resolve", target, "--action", "reopen", "--note", "no", "--by", "bo")
    code, out, _ = recon(capsys, "--home", str(mine), "breaks", "--date", DATE, "--format", "json")
    assert {r["break_id"]: r for r in json.loads(out)}[target]["shown_status"] == "reopened (applies on next run)"


def test_breaks_import_is_wired_to_the_workbook_import(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    def cmd_import(args: Any) -> int:
        seen.append(args)
        return 0

    fake = types.ModuleType("pipelines.cli.workbook_import")
    fake.cmd_import = cmd_import  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pipelines.cli.workbook_import", fake)
    args = cli.build_parser().parse_args(["--home", "h", "breaks", "import", "recon_2026-11-26.xlsx", "--by", "ana"])
    assert (args.file, args.by, args.home, args.rules) == ("recon_2026-11-26.xlsx", "ana", "h", None)
    assert args.func(args) == 0 and seen == [args]


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("100", True),
        ("100.50", True),
        ("0", True),
        ("-5", False),
        ("1e3", False),
        ("1,000", False),
        ("١٢", False),
        ("", False),
        (".5", False),
    ],
)
def test_min_amount_is_a_plain_decimal(text: str, ok: bool) -> None:
    from decimal import Decimal

    from pipelines.cli.options import amount_arg

    if ok:
        assert amount_arg(text) == Decimal(text)
    else:
        with pytest.raises(Exception, match="is not an amount"):
            amount_arg(text)


@pytest.mark.parametrize(("text", "days"), [("0", 0), ("3", 3), ("-1", None), ("x", None), ("٣", None), ("1.5", None)])
def test_min_age_is_whole_days(text: str, days: int | None) -> None:
    from pipelines.cli.options import days_arg

    if days is not None:
        assert days_arg(text) == days
    else:
        with pytest.raises(Exception, match="whole number of days"):
            days_arg(text)
