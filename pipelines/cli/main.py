"""``recon``: the command-line interface of the reconciliation pipeline."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from pipelines.cli.options import amount_arg, date_arg, days_arg
from pipelines.core import config, money
from pipelines.core.channels import RulesError
from pipelines.run.integrity import IntegrityError
from pipelines.run.lock import EXIT_BUSY, WorkspaceBusy, workspace_lock

EXIT_INTEGRITY = 5  # the workspace is damaged or a predecessor was interrupted: repair first (the message says how)

console = Console()
if not console.is_terminal:  # a log or a pipe: wide enough for the positions table
    console = Console(width=160)


def _fmt(minor: int, currency: str) -> str:
    try:
        return money.format_minor(minor, currency)
    except ValueError:
        return str(minor)


def _money(minor: int | None, currency: str) -> str:
    """An amount for reading: thousands grouped, the currency's decimals, its code (``4,413.14 EUR``); ``-`` when
    it is not known (no rate)."""
    if minor is None:
        return "-"
    plain = _fmt(minor, currency)
    sign, digits = ("-", plain[1:]) if plain.startswith("-") else ("", plain)
    whole, _, decimals = digits.partition(".")
    grouped = f"{int(whole):,}" if whole.isdigit() else whole
    return f"{sign}{grouped}{'.' + decimals if decimals else ''} {currency}"


def _load_summary(home: str | None, day: dt.date) -> tuple[dict[str, Any], Path]:
    folder = config.settings(home, None).outputs / day.isoformat()
    path = folder / "summary.json"
    if not path.exists():
        raise SystemExit(f"no published run for {day} in {folder.parent} (run `recon run --date {day}`)")
    return json.loads(path.read_text()), folder


def print_money_at_risk(summary: dict[str, Any]) -> None:
    """The money at risk of the run (``summary.json`` ``money_at_risk``, docs/money-at-risk.md): the total of the
    open breaks in the reporting currency, new / carried / closed, then per counterparty and currency, per aging
    bucket and per SLA state."""
    risk = summary.get("money_at_risk")
    if not risk:
        console.print("[yellow]Money at risk: not in this run's summary (published before it was; re-run the date)[/]")
        return
    rep = risk["reporting_currency"]
    console.print(
        f"[bold]Money at risk: {_money(risk['total_reporting_minor'], rep)}[/bold] in {risk['open_breaks']} open "
        f"break(s)  [dim](new {risk['new']['breaks']}: {_money(risk['new']['at_risk_reporting_minor'], rep)}, "
        f"carried {risk['carried']['breaks']}: {_money(risk['carried']['at_risk_reporting_minor'], rep)}, "
        f"closed by this run {risk['closed']['breaks']}: "
        f"{_money(risk['closed']['at_risk_reporting_minor'], rep)})[/dim]"
    )
    unconverted = [r for r in risk["by_counterparty_currency"] if r["at_risk_reporting_minor"] is None]
    if unconverted:
        console.print(
            f"[yellow]No {rep} rate of {summary['business_date']} for "
            + ", ".join(sorted({r["currency"] for r in unconverted}))
            + f": {sum(r['breaks'] for r in unconverted)} break(s) left out of the {rep} figures[/yellow]"
        )
    if risk["by_counterparty_currency"]:
        t = Table(title="Money at risk by counterparty and currency", box=box.SIMPLE_HEAD)
        for col in ("counterparty", "currency", "breaks", "at risk", f"at risk ({rep})"):
            t.add_column(col, justify="left" if col in ("counterparty", "currency") else "right", no_wrap=True)
        for r in risk["by_counterparty_currency"]:
            t.add_row(
                r["counterparty"],
                r["currency"],
                str(r["breaks"]),
                _money(r["at_risk_minor"], r["currency"]),
                _money(r["at_risk_reporting_minor"], rep),
            )
        console.print(t)
    for title, rows, key in (
        ("by age (days)", risk["by_aging"], "aging_bucket"),
        ("by SLA", risk["by_sla"], "sla_status"),
    ):
        a = Table(title=f"Money at risk {title}", box=box.SIMPLE_HEAD)
        a.add_column("")
        for r in rows:
            a.add_column(str(r[key]), justify="right", no_wrap=True)
        a.add_row("breaks", *[str(r["breaks"]) for r in rows])
        a.add_row(f"at risk ({rep})", *[_money(r["at_risk_reporting_minor"], rep) for r in rows])
        console.print(a)


def print_summary(summary: dict[str, Any], folder: Path) -> None:
    console.print(
        f"[bold]Business date {summary['business_date']}[/bold]  run {summary['run_id']}  "
        f"mode {summary['mode']}  rules {summary['rules_version']}"
    )
    state = summary.get("completeness", {})
    if state and not state.get("complete", True):
        console.print("[bold red]INCOMPLETE:[/bold red] " + "; ".join(state.get("reasons", [])))
    elif state:
        console.print("[green]Complete:[/green] every expected file arrived")
    print_money_at_risk(summary)
    late = summary.get("intake", {}).get("late", [])
    if late:
        console.print(
            "[yellow]Late rows taken in:[/yellow] "
            + "; ".join(f"{r['channel']} {r['rows']} of {r['row_date']} ({r['lag_days']} d late)" for r in late)
        )
    t = Table(title="Rows in and outcomes")
    t.add_column("table")
    t.add_column("rows", justify="right")
    for k, v in summary["rows_in"].items():
        t.add_row(k, str(v))
    for k, v in summary["outcomes"].items():
        t.add_row(f"[dim]outcome[/dim] {k}", str(v))
    t.add_row("[dim]matches[/dim]", str(summary["matches"]["total"]))
    console.print(t)
    b = Table(title=f"Breaks by type ({summary['breaks']['total']})")
    b.add_column("break type")
    b.add_column("count", justify="right")
    for k, v in summary["breaks"]["by_type"].items():
        b.add_row(k, str(v))
    console.print(b)
    p = Table(title="Net positions per counterparty and currency")
    for col in (
        "counterparty",
        "currency",
        "value date",
        "gross",
        "refunds",
        "chargebacks",
        "fees",
        "net expected",
        "received",
        "variance",
    ):
        p.add_column(col, justify="right" if col not in ("counterparty", "currency", "value date") else "left")
    for r in summary["positions"]:
        c = r["currency"]
        p.add_row(
            r["counterparty"],
            c,
            r["value_date"],
            _fmt(r["gross_captured_minor"], c),
            _fmt(r["refunds_minor"], c),
            _fmt(r["chargebacks_minor"], c),
            _fmt(r["fees_minor"], c),
            _fmt(r["net_expected_minor"], c),
            _fmt(r["received_minor"], c),
            _fmt(r["variance_minor"], c),
        )
    console.print(p)
    inv = ", ".join(f"{k} {'holds' if v['ok'] else 'FAILED'}" for k, v in summary["invariants"].items())
    console.print(f"Invariants: {inv}")
    if summary.get("quarantined_files"):
        console.print(f"[yellow]Quarantined files:[/yellow] {', '.join(summary['quarantined_files'])}")
    console.print(f"Report: {folder.absolute() / 'report.html'}")


def cmd_run(args: argparse.Namespace) -> int:
    from pipelines.run.stages import rerun_from, run_all

    home = config.settings(args.home, args.rules).home
    with workspace_lock(home, f"recon run ({args.mode})", args.date), console.status("starting") as status:
        run_all(args.date, args.mode, args.home, args.rules, progress=lambda s: status.update(s), workers=args.workers)
        if args.cascade:
            status.update("re-running the later dates")
            later = rerun_from(args.date, args.home, args.rules)[1:]
            for r in later:
                console.print(f"re-ran {r['business_date']} (run {r['run_id']})")
    summary, folder = _load_summary(args.home, args.date)
    print_summary(summary, folder)
    return 3 if not summary.get("completeness", {}).get("complete", True) else 0


def cmd_coverage(args: argparse.Namespace) -> int:
    """Every staged row of the workspace per channel and own date, with the run that took it; exit 1 when a
    row dated on or before the date (default: the latest run) was taken by no run or by several."""
    import polars as pl

    from pipelines.catalog.store import open_catalog
    from pipelines.run.intake import coverage, workspace_units

    settings = config.settings(args.home, args.rules)
    catalog = open_catalog(settings)
    if not catalog.exists():
        console.print(f"[red]no catalog in {settings.home}: nothing was run there yet[/red]")
        return 2
    dates = catalog.run_dates()
    day = args.date or (dates[-1] if dates else None)
    if day is None:
        console.print("[red]no published run yet; give --date[/red]")
        return 2
    report = coverage(workspace_units(settings, catalog.file_statuses()), catalog.run_inputs(), day)
    t = Table(title=f"Coverage of the workspace as of {day}")
    for col in ("channel", "own date", "table", "files", "rows", "taken by run of", "state"):
        t.add_column(col, justify="right" if col in ("files", "rows") else "left", no_wrap=True)
    for r in report.iter_rows(named=True):
        state = r["state"] + (f" ({r['late_days']} d)" if r["state"] == "late" else "")
        colour = "red" if r["state"] in ("not taken", "taken twice", "changed") else ""
        t.add_row(
            r["channel"],
            r["row_date"].isoformat(),
            r["item_table"],
            str(r["files"]),
            str(r["rows"]),
            r["taken_by"].isoformat() if r["taken_by"] else "-",
            f"[{colour}]{state}[/{colour}]" if colour else state,
        )
    console.print(t)
    bad = report.filter(pl.col("state").is_in(["not taken", "taken twice", "changed"]))
    if bad.height:
        console.print(
            f"[red]{int(bad['rows'].sum())} row(s) without exactly one run; run `recon run --date {day}`[/red]"
        )
        return 1
    console.print("every staged row dated on or before " + day.isoformat() + " was taken by exactly one run")
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    from pipelines.catalog.store import open_catalog
    from pipelines.run.stages import break_dates, resolve_break

    seen = break_dates(args.break_id, args.home)
    if args.date and args.date not in seen:
        where = ", ".join(f"{d} ({s})" for d, s in seen.items()) or "no run"
        console.print(f"[red]{args.break_id} is not a break of {args.date}; it is a break of {where}[/red]")
        return 1
    try:
        rid = resolve_break(args.break_id, args.action, args.note, args.by, args.home, args.rules)
    except (KeyError, ValueError) as exc:
        console.print(f"[red]{exc}[/red]")
        return 1
    if seen:
        last = max(seen)
        latest = max(open_catalog(config.settings(args.home, None)).run_dates() or [last])
        if last != latest or seen[last] != "open":
            console.print(
                f"[yellow]warning: {args.break_id} was last listed on {last} ({seen[last]}); the latest run is "
                f"of {latest}[/yellow]"
            )
    console.print(f"recorded {rid}: {args.action} of {args.break_id} by {args.by}; later runs and re-runs honour it")
    return 0


def cmd_restage(args: argparse.Namespace) -> int:
    from pipelines.run.repair import restage

    out = restage(args.home, args.rules, every_file=args.all)
    console.print(f"restaged {out['restaged']} file(s) from landing")
    for line in out["changed"]:
        console.print(f"[yellow]changed since it was first staged (channel settings?):[/yellow] {line}")
    for line in out["remaining"]:
        console.print(f"[red]still differs:[/red] {line}")
    return 1 if out["remaining"] else 0


def cmd_catalog_rebuild(args: argparse.Namespace) -> int:
    from pipelines.run.repair import rebuild_catalog

    out = rebuild_catalog(args.home, args.rules)
    console.print(
        f"rebuilt {out['catalog']}: {out['files']} file registration(s), {out['file_statuses']} file status(es), "
        f"{out['runs']} published run(s), {out['resolutions']} resolution(s)"
    )
    if out["previous_catalog"]:
        console.print(f"the previous catalog is kept as {out['previous_catalog']}")
    for line in out["dates_not_rebuilt"]:
        console.print(f"[yellow]{line}[/yellow]")
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    summary, folder = _load_summary(args.home, args.date)
    print_summary(summary, folder)
    return 0


def _refuse(message: str) -> int:
    """A usage error of a command: one line on stderr (never wrapped), exit code 2."""
    print(f"recon: {message}", file=sys.stderr, flush=True)
    return 2


def cmd_breaks(args: argparse.Namespace) -> int:
    """The breaks of a published run, filtered, the largest money at risk first; a resolution recorded since the
    run shows at once (``resolved (applies on next run)``). ``--format`` table (for reading), csv or json."""
    import polars as pl

    from pipelines.cli import breaks_view
    from pipelines.core import schema

    known = schema.table("breaks").column("break_type").allowed or ()
    if args.type and args.type not in known:
        return _refuse(f"breaks: unknown break type {args.type!r}; known types: {', '.join(sorted(known))}")
    if not args.date:
        return _refuse("breaks: --date is required to list breaks")
    summary, folder = _load_summary(args.home, args.date)
    breaks = pl.read_parquet(folder / "breaks.parquet")
    rep = str(
        summary.get("money_at_risk", {}).get("reporting_currency")
        or (breaks["reporting_currency"][0] if breaks.height else "EUR")
    )
    min_minor = None
    if args.min_amount is not None:
        try:
            min_minor = money.to_minor(args.min_amount, rep, signed=False)
        except ValueError as exc:
            return _refuse(f"breaks: --min-amount {args.min_amount} {rep}: {exc}")
    filters = breaks_view.Filters(
        break_type=args.type,
        status=args.status,
        channel=args.channel,
        currency=args.currency,
        sla=args.sla,
        min_reporting_minor=min_minor,
        min_age_days=args.min_age,
    )
    home = config.settings(args.home, None).home
    shown = breaks_view.with_resolutions(breaks_view.select(breaks, filters), breaks_view.latest_resolutions(home))
    if args.format == "csv":
        sys.stdout.write(breaks_view.to_csv(shown))
        return 0
    if args.format == "json":
        sys.stdout.write(breaks_view.to_json(shown))
        return 0
    print_breaks(shown, args.date, rep)
    return 0


def print_breaks(breaks: Any, day: dt.date, rep: str) -> None:
    """The breaks as a table, two lines a break: type over status, age and SLA; item over counterparty; money at
    risk in the item's currency over the reporting currency. The id stays on one line whatever the width (it is
    what ``breaks resolve`` takes), the reason is folded into the room left."""
    t = Table(title=f"Breaks of {day} ({breaks.height}), the largest money at risk first", box=box.SIMPLE_HEAD)
    t.add_column("break id", no_wrap=True, min_width=17)
    t.add_column("type / status, age", overflow="fold")
    t.add_column("item / counterparty", overflow="fold")
    t.add_column(f"at risk / in {rep}", justify="right", no_wrap=True)
    t.add_column("reason", overflow="fold", ratio=1, min_width=30)
    for r in breaks.iter_rows(named=True):
        age = f"{r['age_days']}d" + (f", SLA {r['sla_status']}" if r["sla_status"] else "")
        status = f"{r['shown_status']}, {age}"
        if r["pending_action"]:
            status = f"[bold]{r['shown_status']}[/bold]\n[dim]{r['pending_action']} by {r['pending_by']}[/dim], {age}"
        risk = _money(r["at_risk_minor"], r["at_risk_currency"]) if r["at_risk_currency"] else "-"
        t.add_row(
            r["break_id"],
            f"{r['break_type']}\n{status}",
            f"{r['item_ref'] or ''}\n[dim]{r['counterparty']}[/dim]",
            f"{risk}\n{_money(r['at_risk_reporting_minor'], rep)}",
            r["reason"],
            end_section=True,
        )
    console.print(t)


def cmd_breaks_import(args: argparse.Namespace) -> int:
    """``recon breaks import FILE --by NAME``: the resolutions analysts typed in a run's workbook, applied through
    the audit log of ``breaks resolve`` (``pipelines.cli.workbook_import``)."""
    import importlib

    workbook_import = importlib.import_module("pipelines.cli.workbook_import")
    return int(workbook_import.cmd_import(args))


def cmd_rules_check(args: argparse.Namespace) -> int:
    from pipelines.core.channels import load_channels
    from pipelines.match.rules import load_rules

    rules_dir = Path(args.dir) if args.dir else config.settings(None, args.rules).rules
    try:
        chans = load_channels(rules_dir)
        rs = load_rules(rules_dir)
    except RulesError as exc:
        console.print(str(exc), markup=False)
        return 1
    n_rules = sum(len(f.rules) for f in rs.files.values())
    console.print(
        f"{rules_dir}: {len(chans)} channel(s), {len(rs.files)} rule file(s), {n_rules} rule(s) valid; "
        f"version {rs.version_hash}"
    )
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from pipelines.cli.inspect import main_inspect

    channel = None
    if args.channel:
        from pipelines.core.channels import load_channels

        channels = load_channels(config.settings(args.home, args.rules).rules)
        if args.channel not in channels:
            console.print(f"[red]no channel {args.channel!r}; known: {', '.join(sorted(channels))}[/red]")
            return 2
        channel = channels[args.channel]
    return main_inspect(args.file, args.format, channel, args.rows)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recon", description="Payment reconciliation and clearing pipeline")
    parser.add_argument("--home", help="workspace folder (env RECON_HOME, default ./var)")
    parser.add_argument("--rules", help="rules folder (env RECON_RULES, default ./rules)")
    parser.add_argument(
        "--connections", help="file of SFTP/S3 connections for runs without Airflow (env RECON_CONNECTIONS)"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="ingest, normalise, match, clear and publish one business date")
    run.add_argument("--date", type=date_arg, required=True, help="business date YYYY-MM-DD")
    run.add_argument("--mode", default="nightly", choices=["nightly", "intraday", "rerun"])
    run.add_argument("--cascade", action="store_true", help="then re-run every later date already run")
    run.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("RECON_WORKERS", "1")),
        help="channels parsed (and staged) at once, by parser and stager processes (default RECON_WORKERS or 1)",
    )
    run.set_defaults(func=cmd_run)

    summ = sub.add_parser("summary", help="print the summary of a published run")
    summ.add_argument("--date", type=date_arg, required=True)
    summ.set_defaults(func=cmd_summary)

    br = sub.add_parser(
        "breaks", help="list the breaks of a published run, the largest money at risk first (docs/money-at-risk.md)"
    )
    br.add_argument("--date", type=date_arg, help="business date YYYY-MM-DD (required to list)")
    br.add_argument("--format", choices=["table", "csv", "json"], default="table", help="output (default table)")
    br.add_argument("--type", help="only this break type (an unknown type is an error naming the known ones)")
    br.add_argument("--status", choices=["open", "resolved"], help="only breaks with this status in the run")
    br.add_argument("--channel", help="only breaks of this channel (the item's channel or its counterparty)")
    br.add_argument("--currency", help="only breaks of items in this currency (ISO 4217)")
    br.add_argument("--sla", choices=["within", "breached"], help="only breaks with this SLA state")
    br.add_argument(
        "--min-amount",
        type=amount_arg,
        metavar="AMOUNT",
        help="only breaks with at least this money at risk, in major units of the reporting currency (e.g. 100.50); "
        "a break whose currency has no rate is left out",
    )
    br.add_argument("--min-age", type=days_arg, metavar="DAYS", help="only breaks at least this many days old")
    br.set_defaults(func=cmd_breaks)
    br_sub = br.add_subparsers(dest="breaks_command")
    res = br_sub.add_parser("resolve", help="resolve a break by hand (appends to the audit log)")
    res.add_argument("break_id")
    res.add_argument("--action", required=True, choices=["write_off", "manual_match", "accept", "reopen"])
    res.add_argument("--note", required=True)
    res.add_argument("--by", required=True)
    res.add_argument("--date", type=date_arg, help="refuse unless the break is one of this business date's")
    res.set_defaults(func=cmd_resolve)
    imp = br_sub.add_parser(
        "import", help="apply the resolutions typed in a run's workbook (through the audit log, row by row)"
    )
    imp.add_argument("file", help="the workbook (recon_<date>.xlsx) with its resolution column filled in")
    imp.add_argument("--by", required=True, help="who made the resolutions (recorded in the audit log)")
    imp.set_defaults(func=cmd_breaks_import)

    rst = sub.add_parser("restage", help="rebuild staging from landing where it lost or changed rows")
    rst.add_argument("--all", action="store_true", help="every registered file, not only the damaged ones")
    rst.set_defaults(func=cmd_restage)

    cat = sub.add_parser("catalog", help="the workspace's catalog")
    cat_sub = cat.add_subparsers(dest="catalog_command", required=True)
    reb = cat_sub.add_parser("rebuild", help="a new catalog from landing, the published outputs and the journals")
    reb.set_defaults(func=cmd_catalog_rebuild)

    cov = sub.add_parser("coverage", help="every staged row per channel and date, and the run that took it")
    cov.add_argument("--date", type=date_arg, help="as of this business date (default: the latest run)")
    cov.set_defaults(func=cmd_coverage)

    insp = sub.add_parser("inspect", help="read a provider's file: format, entries, sums, control totals")
    insp.add_argument("file")
    insp.add_argument("--format", help="format name (default: detected from the content, or the channel's)")
    insp.add_argument("--channel", help="read it as this channel does (time zone, cut-off, CSV options, format)")
    insp.add_argument(
        "--rows", type=int, default=0, metavar="N", help="also print the first N canonical rows the file gives"
    )
    insp.set_defaults(func=cmd_inspect)

    rules = sub.add_parser("rules", help="rule files")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True)
    check = rules_sub.add_parser("check", help="validate channel and matching rule files")
    check.add_argument("dir", nargs="?", help="rules folder (default: --rules)")
    check.set_defaults(func=cmd_rules_check)
    from pipelines.cli import rules as rules_cli

    rules_cli.register(rules_sub)
    return parser


# the commands that read the workspace without the lock, and what they read of it
_READERS: dict[str, tuple[str, ...]] = {
    "cmd_summary": ("outputs/",),
    "cmd_breaks": ("outputs/",),
    "cmd_coverage": ("staging/", "quarantine/", "outputs/"),
    "cmd_explain": ("landing/", "staging/", "quarantine/", "outputs/"),
    "cmd_diff": ("landing/", "staging/", "quarantine/", "outputs/"),
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.connections:
        os.environ["RECON_CONNECTIONS"] = str(Path(args.connections).resolve())
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.func.__name__ in _READERS:  # an S3 home: its local copy brought up to date (writers: under the lock)
            from pipelines.run import s3home

            areas = _READERS[args.func.__name__]
            s3home.pull(config.settings(getattr(args, "home", None), None).home, areas)
        return int(args.func(args))
    except RulesError as exc:
        console.print(str(exc), markup=False)
        return 2
    except WorkspaceBusy as exc:  # another run (or resolution) has the workspace: one line, no traceback
        print(f"recon: {exc}", file=sys.stderr, flush=True)
        return EXIT_BUSY
    except IntegrityError as exc:  # the workspace needs a repair first: the message names the command
        print(f"recon: {exc}", file=sys.stderr, flush=True)
        return EXIT_INTEGRITY
    except KeyboardInterrupt:
        print("recon: interrupted", file=sys.stderr, flush=True)
        return 130
    except Exception as exc:  # disk full, read-only workspace, a bug: one line; -v (or RECON_TRACEBACK=1) shows where
        if args.verbose or os.environ.get("RECON_TRACEBACK"):
            raise
        try:
            home: Any = config.settings(args.home, None).home
        except ValueError:  # the settings themselves are refused (an S3 home with a DuckDB catalog)
            home = args.home or os.environ.get(config.HOME_ENV) or "var"
        print(f"recon: {one_line(exc)} (workspace {home}; -v shows the traceback)", file=sys.stderr, flush=True)
        return 1


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type, its message's first line, and the file it names (OSError)."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


if __name__ == "__main__":
    sys.exit(main())
