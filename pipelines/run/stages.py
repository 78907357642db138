"""The stages as plain functions with JSON-friendly arguments and results.

The ``recon`` CLI and the Airflow DAGs call exactly these functions, so both produce the same outputs.
Per-channel stages (``ingest_channel``, ``normalise_channel``) never write the catalog; the single
writers are ``register_files``, ``record_statuses`` and ``reconcile_and_publish`` (and ``resolve_break``).
Each writer holds the workspace lock (``pipelines.run.lock``) while it runs, and ``run_all`` and
``rerun_from`` hold it from start to end: one writer per workspace at a time.

With an S3 home (``RECON_HOME=s3://...``) each of these functions is a unit of work on a local copy
(``pipelines.run.s3home``): the writers pull what they read when they take the lock and push what they wrote
before letting it go; ``ingest_channel`` and ``normalise_channel`` pull and push only their channel's files.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, as_completed
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from pipelines.catalog.store import Catalog, FileRecord, FileStatus, open_catalog
from pipelines.core import config
from pipelines.core.channels import Channel, load_channels
from pipelines.core.failpoints import failpoint
from pipelines.ingest import landing as ingest
from pipelines.match.rules import RuleSet, load_rules
from pipelines.run import lock as workspace
from pipelines.run import s3home
from pipelines.run.workers import Normalisers, Timed, start_normalisers, timed_call

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Context:
    settings: config.Settings
    channels: dict[str, Channel]
    ruleset: RuleSet

    @property
    def catalog(self) -> Catalog:
        return open_catalog(self.settings)


def context(home: str | None = None, rules: str | None = None) -> Context:
    settings = config.settings(home, rules)
    settings.ensure()
    return Context(settings=settings, channels=load_channels(settings.rules), ruleset=load_rules(settings.rules))


def _locked(
    home: str | None,
    rules: str | None,
    command: str,
    day: dt.date | None = None,
    sync: tuple[str, ...] = s3home.AREAS,
) -> AbstractContextManager[None]:
    """The workspace lock of ``home`` for a writing stage (re-entered when this process holds it already);
    with an S3 home, ``sync`` are the areas it reads (pulled once the lock is taken)."""
    return workspace.workspace_lock(config.settings(home, rules).home, command, day, sync=sync)


REGISTRY_AREAS = ("journal/", "outputs/")  # what registering files, recording statuses, resolving breaks read


def channel_ids(home: str | None = None, rules: str | None = None) -> list[str]:
    """Channels in a stable order (orders and reference data first, then PSPs, then banks, then rails)."""
    order = {"orders": 0, "reference": 1, "psp": 2, "bank": 3, "rail": 4}
    chans = load_channels(config.settings(home, rules).rules)
    return [c.id for c in sorted(chans.values(), key=lambda c: (order[c.kind], c.id))]


def ingest_channel(channel_id: str, home: str | None = None, rules: str | None = None) -> dict[str, Any]:
    """Pull the channel's new files into landing. With an S3 home: its receipts and ingest quarantine are
    pulled first (a landed file is looked up there, not downloaded), what it landed is pushed after."""
    ctx = context(home, rules)
    mine = (f"landing/{channel_id}/", f"quarantine/ingest/{channel_id}/")
    receipts = (f"landing/{channel_id}/.receipts/", mine[1])
    with s3home.synced(ctx.settings, receipts, mine):
        records, skipped = ingest.pull_channel(ctx.channels[channel_id], ctx.settings, dt.datetime.now(dt.UTC))
    return {
        "channel": channel_id,
        "records": [r.to_dict() for r in records],
        "skipped": [s.__dict__ for s in skipped],
    }


def ingest_and_register(
    ids: list[str], home: str | None = None, rules: str | None = None, step: Callable[[str], None] | None = None
) -> Iterator[str]:
    """Ingest and register each channel of ``ids`` in turn, yielding it once its files are registered: the
    ``arriving`` channels of ``normalise_channels``, parsed while the next ones are ingested. The failpoints
    ``after-ingest`` and ``after-register`` are on the last channel: every file landed, the last channel's not
    registered yet; every file registered."""
    for n, cid in enumerate(ids, start=1):
        if step is not None:
            step(f"ingest {cid}")
        pulled = ingest_channel(cid, home, rules)
        if n == len(ids):
            failpoint("after-ingest")
        register_files([pulled], home, rules)
        if n == len(ids):
            failpoint("after-register")
        yield cid


def register_files(results: list[dict[str, Any]], home: str | None = None, rules: str | None = None) -> dict[str, int]:
    ctx = context(home, rules)
    records = [FileRecord(**r) for res in results for r in res["records"]]
    events = [ingest.Skipped(**s) for res in results for s in res["skipped"]]
    with _locked(home, rules, "register files", sync=REGISTRY_AREAS), ctx.catalog.held():
        from pipelines.run.integrity import check_outputs_known

        check_outputs_known(ctx.settings, ctx.catalog)  # a lost catalog is rebuilt, not started afresh
        counts = ingest.register(ctx.catalog, records, dt.datetime.now(dt.UTC), events)
    counts["skipped"] = len(events)
    log.info("registered files: %s", counts)
    return counts


def _new_files(ctx: Context, channel_id: str, force: bool = False, quarantined: bool = False) -> list[FileRecord]:
    """The channel's files without a status yet; with ``quarantined`` also those whose status is quarantined
    (re-normalised after their channel was fixed); with ``force`` every file."""
    done = ctx.catalog.file_statuses(channel_id)

    def due(file_id: str) -> bool:
        return file_id not in done or (quarantined and done[file_id].status == "quarantined")

    return [rec for rec in ctx.catalog.files_of_channel(channel_id) if force or due(rec.file_id)]


def normalise_channel(
    channel_id: str,
    day: dt.date,
    home: str | None = None,
    rules: str | None = None,
    force: bool = False,
    quarantined: bool = False,
) -> list[dict[str, Any]]:
    """The channel's new files parsed, validated and staged (``_new_files``: ``quarantined`` re-normalises the
    files quarantined earlier as well); their statuses, for ``record_statuses``."""
    from pipelines.validate.normalise import normalise_files

    ctx = context(home, rules)
    records = _new_files(ctx, channel_id, force, quarantined)
    areas = (f"landing/{channel_id}/", "staging/", "quarantine/")
    with s3home.synced(ctx.settings, areas, areas[1:], want=_of_files(records)):
        return [st.to_dict() for st in normalise_files(records, ctx.channels[channel_id], ctx.settings, day)]


_FILE_ID = re.compile(r"[0-9a-f]{64}")


def _of_files(records: list[FileRecord]) -> Callable[[str], bool]:
    """Whether a workspace path belongs to one of ``records`` (landed, staged or quarantined: every such path
    names the file's id): what a channel's normalisation pulls and pushes of an S3 home."""
    ids = {r.file_id for r in records}
    return lambda rel: any(m in ids for m in _FILE_ID.findall(rel))


def parse_channel(
    channel_id: str,
    day: dt.date,
    home: str | None = None,
    rules: str | None = None,
    records: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The first half of ``normalise_channel`` (no validation library needed): each new file of the channel
    parsed and parked for ``stage_channel``, or its status when it could not be read. ``records``: the files
    to parse as the caller read them from the catalog (``FileRecord.to_dict``), so that this process never opens
    the catalog while the caller registers other files (a DuckDB file has one writing process); default: the
    channel's new files, read here."""
    from pipelines.validate.normalise import in_pieces, park, park_pieces, parse_file

    ctx = context(home, rules)
    out: list[dict[str, Any]] = []
    new = [FileRecord(**r) for r in records] if records is not None else _new_files(ctx, channel_id)
    for rec in new:
        if in_pieces(rec, ctx.channels[channel_id], ctx.settings):  # a large file: parked piece by piece
            out.append(park_pieces(rec, ctx.channels[channel_id], ctx.settings, day))
            continue
        parsed = parse_file(rec, ctx.channels[channel_id], ctx.settings, day)
        if isinstance(parsed, FileStatus):
            out.append({"status": parsed.to_dict()})
        else:
            out.append({"parked": park(parsed, ctx.settings, rec.file_id)})
    return out


def stage_channel(
    channel_id: str,
    day: dt.date,
    home: str | None = None,
    rules: str | None = None,
    parsed: list[dict[str, Any]] | None = None,
    records: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The second half of ``normalise_channel``: the files ``parse_channel`` parked, validated and staged
    (``records``: those files' catalog records, as ``parse_channel`` takes them; default: read here)."""
    from pipelines.validate.normalise import ChannelStager, discard_parked, stage_pieces, unpark, unpark_pieces

    ctx = context(home, rules)
    listed = [FileRecord(**r) for r in records] if records is not None else ctx.catalog.files_of_channel(channel_id)
    by_id = {rec.file_id: rec for rec in listed}
    channel = ctx.channels[channel_id]
    stager = ChannelStager(channel, ctx.settings, day)
    for item in parsed or []:
        if "status" in item:
            stager.add_status(FileStatus.from_dict(item["status"]))
            continue
        if "pieces" in item:
            rec = by_id[item["file_id"]]
            stager.add_status(stage_pieces(rec, channel, ctx.settings, day, unpark_pieces(item, ctx.settings)))
            continue
        file_id = item["parked"]["file_id"]
        result = unpark(item["parked"], ctx.settings)
        discard_parked(ctx.settings, file_id)
        stager.add(by_id[file_id], result)
    return [st.to_dict() for st in stager.statuses()]


def normalise_channels(
    channel_ids: list[str],
    day: dt.date,
    home: str | None = None,
    rules: str | None = None,
    pool: Normalisers | None = None,
    seconds: dict[str, float] | None = None,
    cpu_s: dict[str, float] | None = None,
    arriving: Iterable[str] | None = None,
) -> list[list[dict[str, Any]]]:
    """``normalise_channel`` for each channel, results in channel order: one after the other in this
    process, or in the workers of ``pool`` (from ``start_normalisers``): each channel parsed by a parser and
    then staged by a stager, so one channel is staged while the next ones are parsed (as many channels at
    once as the pool has workers, as the DAG's mapped normalise tasks run). With a pool, ``arriving`` yields the
    channels as their files are registered (the caller ingests and registers a channel before yielding it):
    each is parsed as soon as it is yielded, while the next ones are ingested; without it every channel is
    parsed at once. The channels' seconds (parsing plus staging) go into ``seconds`` when given, and the CPU
    seconds of parsing and of staging (validation and writing), summed over the channels, into ``cpu_s``
    (``parse`` and ``stage``; in this process, one ``normalise``)."""
    timed: list[Timed]
    cpu: dict[str, float] = {}
    if pool is None:
        for _ in arriving or ():
            pass
        timed = [timed_call(normalise_channel, c, day, home, rules) for c in channel_ids]
        cpu["normalise"] = sum(c for _, c, _ in timed)
    else:
        from pipelines.validate.normalise import discard_all_parked

        # parked files belong to the holder of the workspace lock: what is parked when it is taken, a dead
        # run left (the lock is re-entered under run_all)
        with _locked(home, rules, "normalise channels", day):
            discard_all_parked(config.settings(home, rules))
            ctx = context(home, rules)
            # the workers are given the files to normalise: they never open the catalog, which the caller may be
            # writing (``arriving``)
            files: dict[str, list[dict[str, Any]]] = {}
            parsing: dict[Future[Timed], str] = {}
            parse_s: dict[str, tuple[float, float]] = {}
            staging: dict[str, Future[Timed]] = {}

            handing = threading.Lock()

            def stage(job: Future[Timed]) -> None:  # a channel is handed to a stager once, when it is parsed
                with handing:
                    c = parsing[job]
                    if c not in staging:
                        wall, cpu_parse, parsed = job.result()
                        parse_s[c] = (wall, cpu_parse)
                        staging[c] = pool.stagers.submit(
                            timed_call, stage_channel, c, day, home, rules, parsed, files[c]
                        )

            abandoned = threading.Event()

            def staged_when_parsed(job: Future[Timed]) -> None:
                # called by the parsers' pool as the parse ends, while this thread may be ingesting the next
                # channels; a failed parse is raised below, by ``stage`` on this thread
                if not abandoned.is_set() and not job.cancelled() and job.exception() is None:
                    stage(job)

            try:
                for c in channel_ids if arriving is None else arriving:
                    if c not in channel_ids or c in files:
                        raise ValueError(f"channel {c!r} arrived but is not one to normalise, or arrived twice")
                    with ctx.catalog.held():
                        files[c] = [rec.to_dict() for rec in _new_files(ctx, c)]
                    job = pool.parsers.submit(timed_call, parse_channel, c, day, home, rules, files[c])
                    with handing:
                        parsing[job] = c
                    job.add_done_callback(staged_when_parsed)
                if missing := [c for c in channel_ids if c not in files]:
                    raise ValueError(f"channel(s) to normalise that never arrived: {', '.join(missing)}")
                for job in as_completed(list(parsing)):
                    stage(job)
            except BaseException:
                abandoned.set()  # what is parsed from now on is not staged: the run has failed
                raise
            timed = []
            cpu.update(parse=0.0, stage=0.0)
            for c in channel_ids:
                stage_s, cpu_stage, statuses = staging[c].result()
                timed.append((parse_s[c][0] + stage_s, parse_s[c][1] + cpu_stage, statuses))
                cpu["parse"] += parse_s[c][1]
                cpu["stage"] += cpu_stage
            s3home.push(config.settings(home, rules).home, ("staging/", "quarantine/"))  # before they are recorded
    if seconds is not None:
        seconds.update({c: t for c, (t, _, _) in zip(channel_ids, timed, strict=True)})
    if cpu_s is not None:
        cpu_s.update(cpu)
    return [statuses for _, _, statuses in timed]


def record_statuses(results: list[list[dict[str, Any]]], home: str | None = None, rules: str | None = None) -> int:
    ctx = context(home, rules)
    statuses = [FileStatus.from_dict(s) for res in results for s in res]
    if statuses:
        with _locked(home, rules, "record statuses", sync=REGISTRY_AREAS):
            ctx.catalog.record_file_statuses(statuses, dt.datetime.now(dt.UTC))
    return len(statuses)


def reconcile_and_publish(
    day: dt.date, mode: str = "nightly", home: str | None = None, rules: str | None = None
) -> dict[str, Any]:
    with _locked(home, rules, f"reconcile and publish ({mode})", day):
        return _reconcile_and_publish(day, mode, home, rules)


def _reconcile_and_publish(day: dt.date, mode: str, home: str | None, rules: str | None) -> dict[str, Any]:
    """The commit protocol: checks and repairs (``integrity``), reconcile into a fresh folder, write the
    outputs there, commit the run to the catalog in one transaction, switch ``outputs/<date>``."""
    from pipelines.run.reconcile import reconcile

    ctx = context(home, rules)
    started = dt.datetime.now(dt.UTC)
    inp = _inputs(ctx, day, mode)
    result = reconcile(
        inp.settings,
        day,
        inp.ruleset,
        inp.channels,
        inp.statuses,
        inp.file_names,
        mode,
        inp.history,
        inp.policy,
        inp.replaced_files,
        inp.intake,
    )
    return _publish(ctx, result, started)


def _inputs(ctx: Context, day: dt.date, mode: str) -> Any:
    """The checks and repairs before reconciling ``day`` (``integrity.before_reconciling``), then what the
    run reads (``reconcile.Inputs``)."""
    from pipelines.run.integrity import before_reconciling

    with ctx.catalog.held():  # one session for the dozen short reads
        before_reconciling(ctx.settings, ctx.catalog, ctx.catalog.file_statuses(), day)
        return _read_inputs(ctx, day, mode)


def _read_inputs(ctx: Context, day: dt.date, mode: str) -> Any:
    """What the run of ``day`` reads (``reconcile.Inputs``), as the catalog and workspace hold it now."""
    from pipelines.breaks.lifecycle import load_policy
    from pipelines.run.intake import plan
    from pipelines.run.reconcile import Inputs

    statuses = ctx.catalog.file_statuses()
    names = ctx.catalog.file_names(ctx.channels)
    return Inputs(
        settings=ctx.settings,
        day=day,
        ruleset=ctx.ruleset,
        channels=ctx.channels,
        statuses=statuses,
        file_names=names,
        mode=mode,
        history=ctx.catalog.history_for(day),
        policy=load_policy(ctx.settings.rules),
        replaced_files=ctx.catalog.replaced_files(),
        intake=plan(ctx.settings, day, statuses, ctx.catalog.run_inputs(), ctx.catalog.run_dates()),
    )


def _publish(ctx: Context, result: Any, started: dt.datetime) -> dict[str, Any]:
    """Write the outputs into the run's folder, commit the run to the catalog in one transaction, switch
    ``outputs/<date>`` to the folder, mirror it to S3 when configured."""
    from pipelines.catalog.store import RunRow, lifecycle_frames
    from pipelines.publish.outputs import relative_folder, switch, write_outputs
    from pipelines.run.result import StepClock

    day = result.business_date
    clock = StepClock()
    frames = lifecycle_frames(day, result.run_id, result)
    folder = write_outputs(result, frames)
    s3home.push_path(ctx.settings.home, folder)  # an S3 home: the run folder is there before the commit names it
    failpoint("after-outputs-written")
    run = RunRow(
        result.run_id,
        day,
        result.mode,
        result.rules_version,
        started,
        dt.datetime.now(dt.UTC),
        result.summary,
        relative_folder(ctx.settings, folder),
    )
    ctx.catalog.commit_run(run, frames)
    failpoint("after-catalog-commit")
    path = switch(ctx.settings, day, folder)
    failpoint("after-switch")
    publish_to_s3(path, day, result.run_id)
    clock.lap("publish")
    return {
        "business_date": day.isoformat(),
        "run_id": result.run_id,
        "output": str(path),
        "report": str(path / "report.html"),
        "steps": {**result.steps, **clock.steps},  # wall and CPU seconds of the run's steps
    }


STEPS = ("match", "lifecycle", "clearing", "publish")


def reconcile_step(
    step: str, day: dt.date, mode: str = "nightly", home: str | None = None, rules: str | None = None
) -> dict[str, Any]:
    """One step of ``reconcile_and_publish`` (``STEPS``), as the nightly DAG runs them, one task each, over
    the checkpoints of ``pipelines.run.checkpoint``: a step resumes from the checkpoint the step before left
    when the run's inputs are unchanged, else it runs the steps before it again. ``publish`` commits and
    switches the run and removes its checkpoints. Returns the phases run and, for ``publish``, the published
    run (as ``reconcile_and_publish``)."""
    if step not in STEPS:
        raise ValueError(f"step must be one of {', '.join(STEPS)}, not {step!r}")
    with _locked(home, rules, f"{step} ({mode})", day):
        from pipelines.run import checkpoint

        ctx = context(home, rules)
        started = dt.datetime.now(dt.UTC)
        inp = _inputs(ctx, day, mode)
        inp.joined = checkpoint.partition_results(inp)
        shown = {
            ctx.settings.outputs / r["output_folder"] for r in ctx.catalog.published().values() if r["output_folder"]
        }
        carry, ran = checkpoint.advance(inp, "clearing" if step == "publish" else step, shown)
        if step != "publish":
            figures = _figures(step, carry)
            if step == "match":  # the partitions this call joined (0: it matched the first pairing itself)
                figures["partitions"] = len(inp.joined) if inp.joined is not None and "match" in ran else 0
            return {"business_date": day.isoformat(), "step": step, "ran": ran, "figures": figures}
        published = _publish(ctx, carry.result, carry.started or started)
        checkpoint.discard(ctx.settings, day, mode)
        from pipelines.run.task_support import run_figures

        return {**published, "step": step, "ran": ran, "figures": run_figures(published["output"])}


def match_partitions(home: str | None = None, rules: str | None = None) -> list[str]:
    """The partitions the first pairing is matched in, as separate tasks (one per PSP channel, and ``other``);
    empty when the pairing declares no partition (``match`` then matches everything)."""
    from pipelines.run.checkpoint import partitions_of

    ctx = context(home, rules)
    return [p.name for p in partitions_of(ctx.ruleset, ctx.channels)]


def match_partition(
    name: str, day: dt.date, mode: str = "nightly", home: str | None = None, rules: str | None = None
) -> dict[str, Any]:
    """Match one partition of the first pairing of the run of ``day`` (``checkpoint.match_partition``). A reader:
    it takes no workspace lock (the partitions of a date run side by side, on any worker) and writes only its
    own result folder; the staging it reads is checked first. ``match`` joins the results when each is of the
    inputs it finds then, and matches the first pairing itself otherwise."""
    from pipelines.run import checkpoint
    from pipelines.run.integrity import check_staging

    ctx = context(home, rules)
    folder = checkpoint.partitions_folder(ctx.settings, day, mode) / name
    mine = folder.relative_to(ctx.settings.home).as_posix() + "/"
    with s3home.synced(ctx.settings, ("staging/", "journal/", "outputs/", mine), (mine,)):
        started = time.monotonic()
        inp = _read_inputs(ctx, day, mode)
        check_staging(ctx.settings, inp.statuses)
        part = {p.name: p for p in checkpoint.partitions_of(ctx.ruleset, ctx.channels)}.get(name)
        if part is None:
            raise ValueError(f"no partition {name!r}: the partitions are {', '.join(match_partitions(home, rules))}")
        per_rule, ran = checkpoint.match_partition(inp, part)
    return {
        "business_date": day.isoformat(),
        "partition": name,
        "ran": ran,
        "figures": {"matches": sum(per_rule.values()), "seconds": round(time.monotonic() - started, 2)},
    }


def _figures(step: str, carry: Any) -> dict[str, Any]:
    """What a step of ``reconcile_step`` found: matches and rules (match), breaks, closed breaks and open
    items (lifecycle), positions, breaks and money at risk (clearing)."""
    if step == "match":
        return {"matches": sum(carry.per_rule.values()), "rules": len(carry.per_rule)}
    if step == "lifecycle":
        return {
            "breaks": carry.day_breaks["break_id"].n_unique(),
            "closed": carry.closed.height,
            "open_items": carry.open_items.height,
        }
    from pipelines.run.task_support import summary_figures

    return {"positions": carry.result.positions.height, **summary_figures(carry.result.summary)}


def run_all(
    day: dt.date,
    mode: str = "nightly",
    home: str | None = None,
    rules: str | None = None,
    progress: Any = None,
    workers: int = 1,
) -> dict[str, Any]:
    """All stages in sequence, as the nightly DAG runs them (without Airflow). Normalisation runs in worker
    processes started before ingestion (``Normalisers``: parsers and stagers, ``workers`` of each);
    reconciliation runs in this process, after they have ended. The workspace lock is held throughout; once
    it is taken, what a dead run left (temporary files, parked files) is removed."""
    with _locked(home, rules, f"run ({mode})", day):
        left = workspace.clean_leftovers(config.settings(home, rules))
        if any(left.values()):
            log.warning("removed what a dead run left: %s", left)
        return _run_all(day, mode, home, rules, progress, workers)


def _run_all(
    day: dt.date, mode: str, home: str | None, rules: str | None, progress: Any, workers: int
) -> dict[str, Any]:
    def step(name: str) -> None:
        if progress is not None:
            progress(name)

    ids = channel_ids(home, rules)
    with start_normalisers(workers) as pool:  # they get ready while the first files are ingested
        step(f"ingest and normalise {len(ids)} channels" + (f", {workers} at a time" if workers > 1 else ""))
        arriving = ingest_and_register(ids, home, rules, step)
        statuses = normalise_channels(ids, day, home, rules, pool, arriving=arriving)
        failpoint("after-normalise")
    step("record file statuses")
    record_statuses(statuses, home, rules)
    failpoint("after-record-statuses")
    step("match, clear, publish")
    return reconcile_and_publish(day, mode, home, rules)


def rerun_from(day: dt.date, home: str | None = None, rules: str | None = None) -> list[dict[str, Any]]:
    """Re-run a date and every later date that has a published run, in order (each depends on the last)."""
    with _locked(home, rules, "rerun", day):
        return [reconcile_and_publish(day, "rerun", home, rules), *rerun_after(day, home, rules)]


def rerun_after(day: dt.date, home: str | None = None, rules: str | None = None) -> list[dict[str, Any]]:
    """Re-run every date after ``day`` that has a published run, in order (the cascade after a re-run)."""
    with _locked(home, rules, "rerun", day):
        later = sorted(d for d in context(home, rules).catalog.run_dates() if d > day)
        return [reconcile_and_publish(d, "rerun", home, rules) for d in later]


def published_run(day: dt.date, home: str | None = None) -> str | None:
    """The run id of ``day``'s published run (its ``summary.json`` in ``outputs/<date>``), else None."""
    import json

    settings = config.settings(home, None)
    s3home.pull(settings.home, ("outputs/",))  # an S3 home: the published runs (those with a marker)
    summary = settings.outputs / day.isoformat() / "summary.json"
    if not summary.is_file():
        return None
    return str(json.loads(summary.read_text()).get("run_id") or "") or None


def completeness_of(day: dt.date, channel_id: str | None = None, home: str | None = None) -> list[str]:
    """Why the published run of ``day`` is incomplete (empty: complete): every reason, or only the missing
    files of ``channel_id`` when given."""
    import json

    settings = config.settings(home, None)
    s3home.pull(settings.home, ("outputs/",))  # an S3 home: the published runs (those with a marker)
    summary = json.loads((settings.outputs / day.isoformat() / "summary.json").read_text())
    state = summary.get("completeness", {})
    if channel_id is None:
        return [str(r) for r in state.get("reasons", [])]
    return [
        f"{m['channel']}: {m['arrived_files']} of {m['expected_files']} file(s) for {m['expected_date']} "
        f"(due {m['due']})"
        for m in state.get("missing_files", [])
        if m["channel"] == channel_id
    ]


def resolve_break(
    break_id: str, action: str, note: str, resolved_by: str, home: str | None = None, rules: str | None = None
) -> str:
    from pipelines.breaks.lifecycle import ACTIONS

    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
    if not note.strip() or not resolved_by.strip():
        raise ValueError("a resolution needs a note and the name of who resolved it")
    ctx = context(home, rules)
    # waits for a running run to end (bounded, RECON_RESOLVE_WAIT_SECONDS) instead of breaking it
    wait = workspace.wait_seconds(workspace.RESOLVE_WAIT_ENV, workspace.DEFAULT_RESOLVE_WAIT_S)
    lock = workspace.workspace_lock(
        ctx.settings.home, "breaks resolve", None, wait, workspace.RESOLVE_WAIT_ENV, sync=REGISTRY_AREAS
    )
    with lock:
        return ctx.catalog.add_resolution(break_id, action, note.strip(), resolved_by.strip(), dt.datetime.now(dt.UTC))


def break_dates(break_id: str, home: str | None = None) -> dict[dt.date, str]:
    """The dates whose run listed ``break_id``, with its status there."""
    catalog = open_catalog(config.settings(home, None))
    if not catalog.exists():
        return {}
    return catalog.break_dates(break_id)


def publish_to_s3(output: Any, day: dt.date, run_id: str) -> dict[str, Any] | None:
    """Upload the run's outputs when the deployment configures it (RECON_PUBLISH_S3_URL and friends)."""
    from pathlib import Path

    from pipelines.publish.s3 import S3Target, publish_run

    target = S3Target.from_env()
    if target is None:
        return None
    return publish_run(Path(output), day, run_id, target)
