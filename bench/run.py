"""Benchmark: generate a synthetic business day in the real formats and run the whole pipeline on it.

``python -m bench.run --rows 1000000`` prints one JSON line: rows per side, seconds per stage,
total seconds, rows/s, CPU seconds (user plus system, of the process and its workers: steadier than the
wall clock on a machine whose speed drifts) and peak memory: the benchmark process's own peak RSS and the
peak of the summed RSS of it and every process it started (sampled every 50 ms). The stages run as
``recon run`` runs them: normalisation in worker processes started before ingestion (a parser and a stager
per ``--workers``, default 1: a channel is parsed as soon as its files are ingested and registered, while
the next channels are ingested, and validated and staged as soon as it is parsed; ``ingest`` counts until the
last channel is registered, the ``normalise`` stage from then until the workers have ended,
``normalise_<channel>`` is a channel's parsing plus staging time in the workers), reconciliation in this process.
Also times a bare exact-key DuckDB join of the same staged data as a reference floor for the matching stage.

Where the CPU goes: ``normalise_cpu_s`` gives the workers' start (``parser_start``; ``stager_start`` includes
importing the validation library and building its suites), parsing and staging (validation and writing),
summed over the channels; ``match_clear_publish_steps`` the wall and CPU seconds of each step of
reconciliation and publication (``reconcile.StepClock``).

``--partitions N`` runs the match step again as the DAG does with partitioned matching: the first pairing's
partitions (one per PSP channel, and ``other``) matched N at a time in separate processes, then joined, beside
the same step in one process (``match_single_s`` against ``match_partitioned_total_s``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import psutil
import yaml

from bench.floor import run_floor
from pipelines.core.config import PROJECT_ROOT
from pipelines.core.dates import parse_business_date
from pipelines.run.reconcile import default_memory_limit, run_database_in_memory
from samplegen.day import DEFAULT_SHARD_ORDERS

CHANNEL_FOLDERS = {
    "orders": "orders",
    "adyen_eu": "adyen",
    "stripe_eu": "stripe",
    "bank_eu": "bank",
    "fx_ecb": "fx",
    "sepa_out": "rails/sepa",
    "pix_out": "rails/pix",
    "ach_out": "rails/ach",
}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_s() -> float:
    """User plus system CPU seconds of this process and of its ended child processes (the workers count once
    they are shut down)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _folder_bytes(folder: Path) -> int:
    total = 0
    for path in folder.rglob("*") if folder.exists() else ():
        try:
            total += path.stat().st_size
        except OSError:  # a spill file removed between listing and reading
            continue
    return total


class TreeMemory:
    """Peak of the summed RSS of this process and all its descendants, and peak size of the files in
    ``spill`` (what DuckDB wrote out of memory), sampled in a background thread."""

    def __init__(self, spill: Path | None = None, interval_s: float = 0.1) -> None:
        self.interval_s = interval_s
        self.spill = spill
        self.peak_bytes = 0
        self.peak_spill_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for p in [me, *me.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:  # a worker that ended between listing and reading
                    continue
            self.peak_bytes = max(self.peak_bytes, total)
            if self.spill is not None:
                self.peak_spill_bytes = max(self.peak_spill_bytes, _folder_bytes(self.spill))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def make_rules(data_dir: Path, rules_dir: Path) -> None:
    """Copy the project's rules, pointing each channel at the generated data."""
    shutil.copytree(PROJECT_ROOT / "rules", rules_dir)
    for path in (rules_dir / "channels").glob("*.yaml"):
        raw = yaml.safe_load(path.read_text())
        raw["location"] = str(data_dir / CHANNEL_FOLDERS[raw["id"]])
        path.write_text(yaml.safe_dump(raw, sort_keys=False))


def exact_join_seconds(staging: Path, day: dt.date) -> float:
    import duckdb

    orders = sorted(str(p) for p in (staging / "orders" / f"business_date={day.isoformat()}").glob("*/*.parquet"))
    lines = sorted(
        str(p) for p in (staging / "psp_settlement_lines" / f"business_date={day.isoformat()}").glob("*/*.parquet")
    )
    con = duckdb.connect()
    start = time.perf_counter()
    con.execute(
        "CREATE TABLE j AS SELECT o.order_id, p.psp_reference, o.amount_minor = p.gross_minor AS same "
        "FROM read_parquet($o) o JOIN read_parquet($p) p ON o.psp_reference = p.psp_reference",
        {"o": orders, "p": lines},
    )
    elapsed = time.perf_counter() - start
    con.close()
    return elapsed


def run(
    rows: int,
    day: dt.date,
    workdir: Path,
    keep: bool,
    workers: int = 1,
    steps: bool = False,
    partitions: int = 0,
    shard_orders: int | None = DEFAULT_SHARD_ORDERS,
    join_shards: bool = False,
    drop_generated: bool = False,
) -> dict[str, Any]:
    from pipelines.run import stages as pipeline

    data_dir, rules_dir, home = workdir / "data", workdir / "rules", workdir / "home"
    t0 = time.perf_counter()
    # generated in a process of its own, so the memory figures are the pipeline's alone
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as gen:
        generated = gen.submit(_generate, data_dir, day, rows, shard_orders, join_shards)
        expected, generate_peak_mb = generated.result()
    generate_s = time.perf_counter() - t0
    make_rules(data_dir, rules_dir)
    h, r = str(home), str(rules_dir)
    stages: dict[str, float] = {}
    files = {c: len(list((data_dir / f).glob("*.*"))) for c, f in CHANNEL_FOLDERS.items()}
    floor_files: dict[str, list[str]] | None = None

    cpu: dict[str, float] = {}
    memory_limit = os.environ.get("RECON_DUCKDB_MEMORY") or default_memory_limit()  # as the run derives it
    with TreeMemory(spill=home / "tmp" / "duckdb") as memory:
        start, cpu_start = time.perf_counter(), _cpu_s()
        with pipeline.start_normalisers(workers) as pool:  # as run_all: workers get ready during ingestion
            ids = pipeline.channel_ids(h, r)
            ingested: list[float] = []

            def arriving() -> Iterator[str]:
                # as run_all: a channel is parsed as soon as it is registered, while the next ones are ingested
                nonlocal floor_files
                yield from pipeline.ingest_and_register(ids, h, r)
                ingested.append(time.perf_counter())
                if drop_generated:  # landing holds the same bytes: the floor reads those
                    floor_files = _drop_generated(data_dir, home)

            per_channel: dict[str, float] = {}
            parts: dict[str, float] = {}
            statuses = pipeline.normalise_channels(
                ids, day, h, r, pool, seconds=per_channel, cpu_s=parts, arriving=arriving()
            )
            parts.update(pool.start_cpu_s())
        stages["ingest"] = ingested[0] - start
        stages["normalise"] = time.perf_counter() - ingested[0]
        cpu["ingest_normalise"] = _cpu_s() - cpu_start
        stages.update({f"normalise_{c}": per_channel[c] for c in ids})
        t = time.perf_counter()
        pipeline.record_statuses(statuses, h, r)
        stages["record"] = time.perf_counter() - t

        t, cpu_t = time.perf_counter(), _cpu_s()
        failure: dict[str, Any] = {}
        with _Laps() as laps:
            try:
                out = pipeline.reconcile_and_publish(day, "nightly", h, r)
            except Exception as exc:  # a failed run still reports how far it got, and the floor
                failure = {"error": f"{type(exc).__name__}: {exc}"[:2000], "steps_done": laps.steps}
        stages["match_clear_publish"] = time.perf_counter() - t
        cpu["match_clear_publish"] = _cpu_s() - cpu_t
        total = time.perf_counter() - start
        cpu["total"] = _cpu_s() - cpu_start

    if failure:
        figures = (stages, total, cpu, memory, memory_limit, generate_s, generate_peak_mb)
        return _failed(failure, *figures, data_dir, workdir, files, floor_files)
    summary = json.loads((Path(out["output"]) / "summary.json").read_text())
    split = split_steps(day, h, r) if steps else {}
    if partitions:
        split.update(partitioned_match(day, h, r, partitions))
    join_s = exact_join_seconds(home / "staging", day)
    with TreeMemory() as floor_memory:
        floor_s = run_floor(data_dir, workdir / "floor", floor_files)
    result = {
        "rows_orders": summary["rows_in"]["orders"],
        "rows_psp_lines": summary["rows_in"]["psp_settlement_lines"],
        "rows_bank_lines": summary["rows_in"]["bank_statement_lines"],
        "generate_s": round(generate_s, 2),
        "generate_peak_rss_mb": generate_peak_mb,
        "shard_orders": shard_orders,
        "join_shards": join_shards,
        "drop_generated": drop_generated,
        "files": files,
        "stages_s": {k: round(v, 2) for k, v in stages.items()},
        "total_s": round(total, 2),
        "cpu_s": {k: round(v, 2) for k, v in cpu.items()},
        "normalise_cpu_s": {k: round(v, 2) for k, v in sorted(parts.items())},
        "match_clear_publish_steps": out["steps"],
        "floor_s": round(floor_s, 2),
        "ratio_to_floor": round(total / floor_s, 2),
        "floor_peak_tree_rss_mb": round(floor_memory.peak_bytes / 2**20),
        "duckdb_memory_limit": memory_limit,
        # where the run held its tables (reconcile.run_database_in_memory: the bench's day carries no items in)
        "run_database": "memory" if run_database_in_memory(sum(summary["rows_in"].values()), memory_limit) else "file",
        "peak_spilled_mb": round(memory.peak_spill_bytes / 2**20),
        "rows_per_s": round((summary["rows_in"]["orders"] + summary["rows_in"]["psp_settlement_lines"]) / total),
        "exact_key_join_s": round(join_s, 2),
        "matches": summary["matches"]["total"],
        "breaks": summary["breaks"]["total"],
        "invariants_hold": all(v["ok"] for v in summary["invariants"].values()),
        "expected_matches": expected.matched_order_psp_pairs
        + expected.payout_bank_matches
        + sum(expected.withdrawal_matches.values()),
        "breaks_as_planted": summary["breaks"]["by_type"]
        == {k: v for k, v in {**expected.breaks, **expected.withdrawal_breaks}.items() if v},
        "workers": workers,
        "peak_rss_mb": round(_peak_rss_mb()),
        "peak_tree_rss_mb": round(memory.peak_bytes / 2**20),
    }
    result.update(split)
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def _drop_generated(data_dir: Path, home: Path) -> dict[str, list[str]]:
    """Remove the generated files once ingested (the day's size is then on disk once, in landing, while it is
    reconciled); the floor's orders, Adyen and Stripe files are then the landed copies."""
    floor_files = {
        name: sorted(str(p) for p in (home / "landing" / channel).glob("[0-9a-f][0-9a-f]/*") if p.is_file())
        for name, channel in (("orders", "orders"), ("adyen", "adyen_eu"), ("stripe", "stripe_eu"))
    }
    for folder in {data_dir / f for f in CHANNEL_FOLDERS.values()}:
        for path in folder.glob("*.*"):
            path.unlink()
    return floor_files


class _Laps(logging.Handler):
    """The steps of reconciliation a run finished (``StepClock`` logs each), to say how far a failed run got."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.steps: dict[str, str] = {}
        self._logger = logging.getLogger("pipelines.run.result")

    def emit(self, record: logging.LogRecord) -> None:
        name, _, rest = record.getMessage().partition(": ")
        self.steps[name] = rest

    def __enter__(self) -> _Laps:
        self._level = self._logger.level
        self._logger.setLevel(logging.INFO)
        self._logger.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)


def _failed(
    failure: dict[str, Any],
    stages: dict[str, float],
    total: float,
    cpu: dict[str, float],
    memory: TreeMemory,
    memory_limit: str,
    generate_s: float,
    generate_peak_mb: int,
    data_dir: Path,
    workdir: Path,
    files: dict[str, int],
    floor_files: dict[str, list[str]] | None,
) -> dict[str, Any]:
    """The JSON of a run whose reconciliation failed: how far it got, its figures until then, and the floor."""
    with TreeMemory() as floor_memory:
        floor_s = run_floor(data_dir, workdir / "floor", floor_files)
    return {
        "failed": True,
        **failure,
        "generate_s": round(generate_s, 2),
        "generate_peak_rss_mb": generate_peak_mb,
        "files": files,
        "stages_s": {k: round(v, 2) for k, v in stages.items()},
        "seconds_until_failure": round(total, 2),
        "cpu_s": {k: round(v, 2) for k, v in cpu.items()},
        "floor_s": round(floor_s, 2),
        "floor_peak_tree_rss_mb": round(floor_memory.peak_bytes / 2**20),
        "duckdb_memory_limit": memory_limit,
        "duckdb_max_temp": os.environ.get("RECON_DUCKDB_MAX_TEMP"),
        "peak_spilled_mb": round(memory.peak_spill_bytes / 2**20),
        "peak_rss_mb": round(_peak_rss_mb()),
        "peak_tree_rss_mb": round(memory.peak_bytes / 2**20),
    }


def reconciliation_figures(summary: dict[str, Any]) -> dict[str, Any]:
    """A published ``summary.json`` less what names the delivered files (its file list, the units the run took:
    one per file and table), the run id and the rules' version (their folder): what a day delivered in shards
    and the same rows delivered in one file per channel must both give."""
    figures = {k: v for k, v in summary.items() if k not in ("files", "run_id", "rules_version")}
    invariants = {k: dict(v) for k, v in summary["invariants"].items()}
    invariants["every_row_taken"].pop("units_taken", None)
    return {**figures, "invariants": invariants}


def _generate(data_dir: Path, day: dt.date, rows: int, shard_orders: int | None, join: bool = False) -> tuple[Any, int]:
    """The generated day's ``Expected`` and the generator process's peak RSS (MB); with ``join``, the shards
    of each channel rewritten as one file (``samplegen.day.join_shards``: the same rows, so the same outcome)."""
    from samplegen import day as samples

    expected = samples.write_day(data_dir, day, rows, seed=11, plant=True, shard_orders=shard_orders)
    if join:
        samples.join_shards(data_dir)
    return expected, round(_peak_rss_mb())


def split_steps(day: dt.date, home: str, rules: str) -> dict[str, Any]:
    """The date run again (mode ``rerun``) as the DAG's four steps over checkpoints (``stages.reconcile_step``):
    each step's seconds and the size of the checkpoint it left, beside the one-process ``match_clear_publish``
    of the same call."""
    from pipelines.run import stages as pipeline

    seconds: dict[str, float] = {}
    sizes: dict[str, float] = {}
    for step in pipeline.STEPS:
        t = time.perf_counter()
        pipeline.reconcile_step(step, day, "rerun", home, rules)
        seconds[step] = round(time.perf_counter() - t, 2)
        sizes[step] = round(_folder_bytes(Path(home) / "work") / 2**20, 1)
    return {"split_steps_s": seconds, "split_total_s": round(sum(seconds.values()), 2), "checkpoint_mb": sizes}


def _partition_worker(threads: int, name: str, day: dt.date, home: str, rules: str) -> dict[str, Any]:
    os.environ["RECON_DUCKDB_THREADS"] = str(threads)  # the machine's cores shared by the processes at once
    from pipelines.run import stages as pipeline

    return pipeline.match_partition(name, day, "rerun", home, rules)


def partitioned_match(day: dt.date, home: str, rules: str, processes: int) -> dict[str, Any]:
    """The date's match step (mode ``rerun``) twice, as the DAG runs it: in one process (``match`` matching every
    pairing), then with the first pairing's partitions matched ``processes`` at a time in separate processes
    (``match_partition``, each loading the day) and joined by ``match``. Seconds of each, and whether both
    found the same matches."""
    from pipelines.core import config
    from pipelines.run import checkpoint
    from pipelines.run import stages as pipeline

    settings = config.settings(home, rules)
    t = time.perf_counter()
    single = pipeline.reconcile_step("match", day, "rerun", home, rules)
    single_s = time.perf_counter() - t
    checkpoint.discard(settings, day, "rerun")
    names = pipeline.match_partitions(home, rules)
    threads = max(1, (os.cpu_count() or 1) // processes)
    t = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=processes, mp_context=ctx) as pool:
        futures = {n: pool.submit(_partition_worker, threads, n, day, home, rules) for n in names}
        each = {n: f.result()["figures"] for n, f in futures.items()}
    partitions_s = time.perf_counter() - t
    t = time.perf_counter()
    joined = pipeline.reconcile_step("match", day, "rerun", home, rules)
    join_s = time.perf_counter() - t
    checkpoint.discard(settings, day, "rerun")
    return {
        "partition_processes": processes,
        "match_single_s": round(single_s, 2),
        "match_partitions_s": round(partitions_s, 2),
        "match_partition_s": {n: f["seconds"] for n, f in each.items()},
        "match_join_s": round(join_s, 2),
        "match_partitioned_total_s": round(partitions_s + join_s, 2),
        "partitioned_equal": joined["figures"]["partitions"] == len(names)
        and joined["figures"]["matches"] == single["figures"]["matches"]
        and sum(f["matches"] for f in each.values()) > 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--rows", type=int, default=1_000_000, help="orders (and about as many PSP lines)")
    parser.add_argument("--date", type=parse_business_date, default=dt.date(2026, 11, 26))
    parser.add_argument("--workdir", help="keep the generated data and workspace here")
    parser.add_argument("--workers", type=int, default=1, help="channels parsed (and staged) at once")
    parser.add_argument(
        "--steps", action="store_true", help="also re-run the date as the DAG's four steps over checkpoints"
    )
    parser.add_argument(
        "--partitions",
        type=int,
        default=0,
        help="also run the match step with the first pairing's partitions matched this many at a time, each in a "
        "process of its own, beside the same step in one process",
    )
    parser.add_argument(
        "--shard-orders",
        type=int,
        default=DEFAULT_SHARD_ORDERS,
        help="generate a day of more orders than this in shards of at most this many orders (several files per "
        f"channel, generated one after the other; default {DEFAULT_SHARD_ORDERS}; 0: never)",
    )
    parser.add_argument(
        "--join-shards",
        action="store_true",
        help="rewrite the generated shards as one file per channel (the same rows: to compare with the shards)",
    )
    parser.add_argument(
        "--drop-generated",
        action="store_true",
        help="remove the generated files once ingested (the floor then reads the landed copies): less disk",
    )
    args = parser.parse_args(argv)
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="recon-bench-"))
    result: dict[str, Any] = run(
        args.rows,
        args.date,
        workdir,
        keep=bool(args.workdir),
        workers=args.workers,
        steps=args.steps,
        partitions=args.partitions,
        shard_orders=args.shard_orders or None,
        join_shards=args.join_shards,
        drop_generated=args.drop_generated,
    )
    sys.stdout.write(json.dumps(result) + "\n")
    return 1 if result.get("failed") else 0


if __name__ == "__main__":
    sys.exit(main())
