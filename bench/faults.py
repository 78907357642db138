"""The fault matrix: every crash point, a full disk, a read-only workspace, concurrent runs, lost staging,
catalog or outputs, each tried on the multi-day scenario and judged against an uninterrupted sequence.

``python -m bench.faults`` prints one row per scenario: what happened, the outcome (``recovered`` when the
workspace ends byte-identical to the uninterrupted sequence, ``refused`` when the fault was refused with the
command that repairs it and that command worked), rows lost (outcome rows of the uninterrupted sequence
missing at the end) and tracebacks shown to the user (both must be 0). ``tests/run/test_fault_matrix.py``
runs the same scenarios.

Each scenario starts from the workspace as the scenario's first day left it (restored in place: the catalog
records absolute landing paths), then runs day 2 with the fault, recovers as an operator would (the same
command again, or the command the refusal names), and runs day 3. Crashes are real: ``RECON_FAILPOINT``
makes the ``recon`` process SIGKILL itself at that step boundary (``pipelines.core.failpoints``). The disk
and read-only faults mount a tmpfs over the workspace (root only; skipped elsewhere).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipelines.cli.main import main as recon_main
from pipelines.core.failpoints import ENV, FAILPOINTS
from samplegen import scenario

D1, D2, D3 = (d.isoformat() for d in scenario.DAYS[:3])
TRACEBACK = "Traceback (most recent call last)"


@dataclass
class Call:
    argv: list[str]
    rc: int
    out: str
    err: str

    @property
    def tracebacks(self) -> int:
        return (self.out + self.err).count(TRACEBACK)


@dataclass
class Row:
    scenario: str
    happened: str = ""
    outcome: str = ""
    rows_lost: int = 0
    tracebacks: int = 0
    calls: list[Call] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.outcome in ("recovered", "refused") and self.rows_lost == 0 and self.tracebacks == 0


def tree(folder: Path) -> dict[str, bytes]:
    root = folder.resolve()
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


class Lab:
    """A scenario workspace, its uninterrupted sequence (days 1-3) and a copy of it after day 1."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.rules = str(self.data / "rules")
        self.home = root / "home"
        self.after_day1 = root / "after_day1"
        self.baseline: dict[str, dict[str, bytes]] = {}

    def arrive(self, upto: int) -> None:
        """The scenario's files of the first ``upto`` days, and only those, in the channels' folders."""
        shutil.rmtree(self.data, ignore_errors=True)
        scenario.write_all(self.data, scenario.DAYS[:upto])

    def recon(self, *argv: str, crash_at: str | None = None) -> Call:
        """``recon --home H --rules R ARGV``: in a process of its own when it is to crash, else in this one."""
        full = ["--home", str(self.home), "--rules", self.rules, *argv]
        if crash_at is not None:
            env = {**os.environ, ENV: crash_at}
            p = subprocess.run(
                [sys.executable, "-m", "pipelines.cli.main", *full], capture_output=True, text=True, env=env
            )
            return Call(full, p.returncode, p.stdout, p.stderr)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = recon_main(full)
            except SystemExit as exc:  # argparse, or a refusal raised as SystemExit
                rc = exc.code if isinstance(exc.code, int) else 1
                err.write(str(exc.code or ""))
            except BaseException:  # what would reach the user as a traceback
                import traceback

                err.write(traceback.format_exc())
                rc = 1
        return Call(full, rc, out.getvalue(), err.getvalue())

    def prepare(self) -> None:
        """Run the uninterrupted sequence, keeping the workspace after day 1 and every day's outputs."""
        self.arrive(1)
        self.recon("run", "--date", D1)
        shutil.copytree(self.home, self.after_day1, symlinks=True)
        for k, day in ((2, D2), (3, D3)):
            self.arrive(k)
            self.recon("run", "--date", day)
        self.baseline = {d: tree(self.home / "outputs" / d) for d in (D1, D2, D3)}

    def restore(self) -> None:
        """The workspace as day 1 left it, at the same path, and day 2's files arrived."""
        for child in list(self.home.iterdir()) if self.home.exists() else []:
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        self.home.mkdir(exist_ok=True)
        for child in self.after_day1.iterdir():
            dest = self.home / child.name
            shutil.copytree(child, dest, symlinks=True) if child.is_dir() else shutil.copy2(child, dest)
        self.arrive(2)

    def day3(self, row: Row) -> None:
        self.arrive(3)
        row.calls.append(self.recon("run", "--date", D3))

    def judge(self, row: Row, days: tuple[str, ...] = (D2, D3)) -> None:
        """``recovered`` when the outputs of ``days`` equal the uninterrupted sequence's; rows lost counted."""
        now = {d: tree(self.home / "outputs" / d) if (self.home / "outputs" / d).exists() else {} for d in days}
        same = all(now[d] == self.baseline[d] for d in days)
        row.rows_lost = sum(max(0, _rows(self.baseline[d]) - _rows(now[d])) for d in days)
        row.tracebacks = sum(c.tracebacks for c in row.calls)
        if not row.outcome:
            row.outcome = "recovered" if same else "DIFFERENT outputs"


def _rows(files: dict[str, bytes]) -> int:
    data = files.get("outcomes.parquet")
    return pl.read_parquet(io.BytesIO(data)).height if data else 0


# ---- the scenarios -------------------------------------------------------------------------------------------
def crash(lab: Lab, point: str) -> Row:
    row = Row(f"SIGKILL at {point}")
    lab.restore()
    first = lab.recon("run", "--date", D2, crash_at=point)
    row.calls.append(first)
    row.happened = f"killed (rc {first.rc})" if first.rc == -9 else f"not killed (rc {first.rc})"
    row.calls.append(lab.recon("run", "--date", D2))  # the operator (or Airflow's retry) runs it again
    lab.day3(row)
    lab.judge(row)
    return row


def _lost(lab: Lab, title: str, lose: Callable[[Path], None], repair: list[str]) -> Row:
    """Day 2 runs, then ``lose`` destroys part of the workspace: the run of day 3 must refuse naming
    ``recon <repair>``; after that command, day 3 must come out as in the uninterrupted sequence."""
    command = "recon " + " ".join(repair)
    row = Row(title)
    lab.restore()
    row.calls.append(lab.recon("run", "--date", D2))
    lose(lab.home)
    lab.arrive(3)
    refused = lab.recon("run", "--date", D3)
    row.calls.append(refused)
    row.happened = f"day 3 refused (rc {refused.rc})" if command in refused.err else f"rc {refused.rc}"
    row.calls.append(lab.recon(*repair))
    row.calls.append(lab.recon("run", "--date", D3))
    lab.judge(row)
    if command not in refused.err:
        row.outcome = "NOT refused"
    return row


def lost_staging(lab: Lab) -> Row:
    return _lost(lab, "staging/ lost after day 2", lambda home: shutil.rmtree(home / "staging"), ["restage"])


def lost_catalog(lab: Lab) -> Row:
    def lose(home: Path) -> None:
        for p in home.glob("catalog.duckdb*"):
            p.unlink()

    return _lost(lab, "catalog lost after day 2", lose, ["catalog", "rebuild"])


def lost_outputs(lab: Lab) -> Row:
    row = Row("published folder of day 2 lost")
    lab.restore()
    row.calls.append(lab.recon("run", "--date", D2))
    shutil.rmtree((lab.home / "outputs" / D2).resolve())
    lab.arrive(3)
    refused = lab.recon("run", "--date", D3)
    row.calls.append(refused)
    command = f"recon run --date {D2} --mode rerun --cascade"
    row.happened = f"day 3 refused (rc {refused.rc})" if command in refused.err else f"rc {refused.rc}"
    row.calls.append(lab.recon("run", "--date", D2, "--mode", "rerun", "--cascade"))
    row.calls.append(lab.recon("run", "--date", D3))
    lab.judge(row, days=())
    ok = command in refused.err and row.calls[-1].rc in (0, 3) and (lab.home / "outputs" / D2 / "summary.json").exists()
    row.outcome = "refused" if ok else "NOT refused or not repaired"
    return row


def concurrent(lab: Lab) -> Row:
    """Two runs of day 2 at once: one runs, the other waits its turn or exits 4 naming the holder."""
    row = Row("two runs of one workspace at once")
    lab.restore()
    cmd = [sys.executable, "-m", "pipelines.cli.main", "--home", str(lab.home), "--rules", lab.rules]
    env = {**os.environ, "RECON_LOCK_WAIT_SECONDS": "1"}
    procs = [
        subprocess.Popen(
            [*cmd, "run", "--date", D2], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
    ]
    time.sleep(0.5)
    procs.append(
        subprocess.Popen(
            [*cmd, "run", "--date", D2], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
    )
    for p in procs:
        out, err = p.communicate()
        row.calls.append(Call(cmd, p.returncode, out, err))
    rcs = sorted(c.rc for c in row.calls)
    row.happened = f"exit codes {rcs}"
    lab.day3(row)
    lab.judge(row)
    if not all(c.rc in (0, 3) or ("busy" in c.err and c.rc == 4) for c in row.calls[:2]):
        row.outcome = "a run failed"
    return row


def _mount_tmpfs(path: Path, size: str, options: str = "") -> bool:
    opts = f"size={size}" + (f",{options}" if options else "")
    return subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], capture_output=True).returncode == 0


def _remount(path: Path, options: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{options}", str(path)], check=True, capture_output=True)


def can_mount() -> bool:
    with tempfile.TemporaryDirectory() as d:
        if not _mount_tmpfs(Path(d), "1m"):
            return False
        subprocess.run(["umount", d], check=True)
        return True


@contextlib.contextmanager
def tmpfs_home(lab: Lab, size: str) -> Iterator[None]:
    """The workspace on a tmpfs of ``size`` (restored into it), unmounted (contents moved back) after."""
    keep = lab.root / "home-outside"
    shutil.rmtree(keep, ignore_errors=True)
    lab.home.rename(keep)
    lab.home.mkdir()
    if not _mount_tmpfs(lab.home, size):
        raise RuntimeError("cannot mount a tmpfs (needs root)")
    try:
        lab.restore()
        yield
    finally:
        saved = lab.root / "home-saved"
        shutil.rmtree(saved, ignore_errors=True)
        shutil.copytree(lab.home, saved, symlinks=True)
        subprocess.run(["umount", str(lab.home)], check=True)
        lab.home.rmdir()
        saved.rename(lab.home)
        shutil.rmtree(keep, ignore_errors=True)


def disk_full(lab: Lab, spare_kib: int) -> Row:
    row = Row(f"disk full ({spare_kib} KiB free)")
    used = sum(p.stat().st_size for p in lab.after_day1.rglob("*") if p.is_file()) // 1024
    with tmpfs_home(lab, f"{used + spare_kib}k"):
        failed = lab.recon("run", "--date", D2)
        row.calls.append(failed)
        row.happened = f"rc {failed.rc}: {(failed.err.strip().splitlines() or [''])[-1][:90]}"
        _remount(lab.home, "size=512m")  # space freed: the operator runs it again
        row.calls.append(lab.recon("run", "--date", D2))
        lab.day3(row)
        lab.judge(row)
    return row


def read_only(lab: Lab) -> Row:
    row = Row("read-only workspace")
    with tmpfs_home(lab, "512m"):
        _remount(lab.home, "ro")
        failed = lab.recon("run", "--date", D2)
        row.calls.append(failed)
        row.happened = f"rc {failed.rc}: {(failed.err.strip().splitlines() or [''])[-1][:90]}"
        _remount(lab.home, "rw")
        row.calls.append(lab.recon("run", "--date", D2))
        lab.day3(row)
        lab.judge(row)
    return row


HEADER = "order_id,psp_channel,psp_reference,merchant_account,status,amount,currency,created_at\n"


def _order(order_id: str, amount: str = "10.00", created: str = "2026-11-13T09:00:00Z", ref: str = "") -> str:
    return f"{order_id},adyen_eu,{ref or 'HX' + order_id},PayPlatformEU,succeeded,{amount},EUR,{created}\n"


#: hostile deliveries dropped beside day 2's files: (folder, file name as bytes, content, what must happen)
HOSTILE: list[tuple[str, bytes, bytes, str]] = [
    ("orders", b"orders_2026-11-13_nul.csv", (HEADER + _order("H\x00NUL")).encode(), "quarantined"),
    (
        "orders",
        b"orders_2026-11-13_y9999.csv",
        (HEADER + _order("HY", created="9999-01-01T00:00:00Z")).encode(),
        "quarantined",
    ),
    (
        "orders",
        b"orders_2026-11-13_y1970.csv",
        (HEADER + _order("HZ", created="1970-01-01T00:00:00Z")).encode(),
        "quarantined",
    ),
    ("orders", b"orders_2026-11-13_signs.csv", (HEADER + _order("HS", amount="+-12.50")).encode(), "quarantined"),
    (
        "orders",
        b"orders_2026-11-13_digits.csv",
        (HEADER + _order("HD", amount="\u0661\u0662.50")).encode(),
        "quarantined",
    ),
    ("orders", b"orders_2026-11-13_longref.csv", (HEADER + _order("HL", ref="R" * 100_000)).encode(), "quarantined"),
    ("orders", b"orders_2026-11-13_ctrl.csv", (HEADER + _order("HC\x1b[31m")).encode(), "quarantined"),
    ("orders", b"orders_2026-11-13_empty.csv", b"", "quarantined"),
    ("orders", b"orders_2026-11-13_binary.csv", bytes(range(256)) * 64, "quarantined"),
    ("orders", b"orders_2026-11-13_utf16.csv", (HEADER + _order("HU")).encode("utf-16"), "quarantined"),
    ("orders", b"orders_2026-11-13_\xff\xfe.csv", (HEADER + _order("HB")).encode(), "refused"),
    ("orders", b"orders_2026-11-13_dup.csv", (HEADER + _order("HDUP") + _order("HDUP")).encode(), "duplicate_order"),
    (
        "bank",
        b"camt053_2026-11-13_nostmt.xml",
        b'<?xml version="1.0"?><Document '
        b'xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><GrpHdr><MsgId>X</MsgId>'
        b"<CreDtTm>2026-11-13T00:00:00</CreDtTm></GrpHdr></BkToCstmrStmt></Document>",
        "quarantined",
    ),
]


def hostile(lab: Lab) -> list[Row]:
    """Every hostile delivery at once beside day 2's files: each is quarantined (or refused at ingest) with
    a reason, the run completes, the other files' matches are unchanged, no traceback."""
    import json

    lab.restore()
    for folder, name, content, _ in HOSTILE:
        (lab.data / folder).mkdir(parents=True, exist_ok=True)
        with open(os.path.join(os.fsencode(lab.data / folder), name), "wb") as fh:
            fh.write(content)
    call = lab.recon("run", "--date", D2)
    out = lab.home / "outputs" / D2
    published = (out / "summary.json").exists()
    summary = json.loads((out / "summary.json").read_text()) if published else {}
    invariants_ok = bool(summary) and all(c["ok"] for c in summary.get("invariants", {}).values())
    same_matches = published and (out / "matches.parquet").read_bytes() == lab.baseline[D2]["matches.parquet"]
    manifest = pl.read_parquet(out / "run_manifest.parquet") if published else pl.DataFrame()
    quarantine = pl.read_parquet(out / "quarantine.parquet") if published else pl.DataFrame()
    breaks = pl.read_parquet(out / "breaks.parquet") if published else pl.DataFrame()
    from pipelines.catalog.store import open_catalog
    from pipelines.core import config

    events = open_catalog(config.settings(lab.home, lab.rules)).ingest_events()
    rows = []
    for _, name, _, expected in HOSTILE:
        shown = os.fsdecode(name)
        row = Row(f"hostile: {name.decode('ascii', 'backslashreplace')}", calls=[call])
        row.tracebacks = call.tracebacks
        mine = manifest.filter(pl.col("file_name") == shown) if published else manifest
        if expected == "refused":
            reasons = [e["reason"] for e in events if e["source_path"].endswith(shown) or "\\x" in e["reason"]]
            row.happened = f"refused: {reasons[0]}" if reasons else "not refused"
            row.outcome = "refused" if reasons else "NOT refused"
        elif expected == "duplicate_order":
            dup = breaks.filter(pl.col("break_type") == "duplicate_order") if published else breaks
            row.happened = f"{dup.height} duplicate_order break(s)"
            row.outcome = "recovered" if dup.height == 1 else "NOT a duplicate_order"
        else:
            q = quarantine.filter(pl.col("file_name") == shown) if published else quarantine
            accounted = mine.height == 1 and mine["rows_in"][0] == mine["rows_staged"][0] + mine["rows_quarantined"][0]
            refused = mine.height == 1 and (mine["file_status"][0] == "quarantined" or mine["rows_staged"][0] == 0)
            reason = q["reason"][0] if q.height else (mine["file_status"][0] if mine.height else "")
            row.happened = f"{reason}"[:44] if mine.height else "not in the manifest"
            row.outcome = (
                "refused" if accounted and refused and (q.height or mine["rows_in"][0] == 0) else "NOT refused"
            )
        if not (call.rc in (0, 3) and invariants_ok and same_matches):
            row.outcome = f"run rc {call.rc}, invariants {invariants_ok}, matches same {same_matches}"
        rows.append(row)
    return rows


def scenarios(mounts: bool) -> dict[str, Callable[[Lab], Row]]:
    out: dict[str, Callable[[Lab], Row]] = {f"crash:{p}": functools.partial(crash, point=p) for p in FAILPOINTS}
    out |= {"lost-staging": lost_staging, "lost-catalog": lost_catalog, "lost-outputs": lost_outputs}
    out["concurrent"] = concurrent
    if mounts:
        out |= {
            "disk-full-small": functools.partial(disk_full, spare_kib=256),
            "disk-full-large": functools.partial(disk_full, spare_kib=1024),
            "read-only": read_only,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run only the scenarios whose name contains this text")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="recon-faults-") as tmp:
        lab = Lab(Path(tmp))
        lab.prepare()
        rows = [fn(lab) for name, fn in scenarios(can_mount()).items() if not args.only or args.only in name]
        if not args.only or args.only in "hostile":
            rows += hostile(lab)
    width = max(len(r.scenario) for r in rows)
    print(f"{'scenario':<{width}}  {'what happened':<44}  {'outcome':<18}  rows lost  tracebacks")
    for r in rows:
        print(f"{r.scenario:<{width}}  {r.happened[:44]:<44}  {r.outcome:<18}  {r.rows_lost:>9}  {r.tracebacks:>10}")
    return 0 if all(r.ok for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
