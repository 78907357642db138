"""Checkpoints between the phases of a run, so that the nightly DAG runs match, lifecycle, clearing and
publish as separate tasks and a retried task does not redo the ones before it.

A checkpoint lives in ``<home>/work/<date>/<phase>/``: the run's DuckDB state after the phase (every table of
the run's database and its temporary tables as Parquet, with the enumeration types, macros and views needed to
rebuild it; none after the last phase), the ``Carry`` the next phase needs (pickled), and the key of the
inputs it was computed from (``fingerprint``). It is written aside and renamed into place, so a crash leaves
the previous checkpoint or the new one, never a half.

``advance`` is idempotent: it resumes from the latest checkpoint whose key equals the key of the current
inputs and runs the phases missing up to the one asked for. A checkpoint whose inputs changed since (another
run was committed, a file was staged or its status recorded, the rules changed) or whose run folder is gone is
discarded and the phases run again from the start: a task never builds on state of other inputs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from pipelines.core.channels import Channel
from pipelines.core.config import Settings
from pipelines.core.sqlfiles import ident
from pipelines.match.engine import PARTITION_TABLES, Partition, PartitionResult, partitions
from pipelines.match.rules import RuleSet
from pipelines.run.reconcile import (
    PHASES,
    RUN_DATABASE,
    Carry,
    Inputs,
    open_run,
    partition_phase,
    run_phases,
    run_rows,
)

log = logging.getLogger(__name__)

KEY_FILE = "key.txt"
HOME_FILE = "home.txt"  # the workspace folder the checkpoint was written in (an S3 home's copies differ)
CARRY_FILE = "carry.pickle"
STATE_FILE = "state.json"
DATABASES = (RUN_DATABASE, "temp")  # the run's tables and its temporary tables
_IN_DATABASES = "(" + ", ".join(f"'{d}'" for d in DATABASES) + ")"


def work_folder(settings: Settings, day: dt.date, mode: str) -> Path:
    """The checkpoints of the run of ``day`` in ``mode`` (a nightly run and a re-run of a date do not take
    each other's checkpoints away)."""
    return settings.home / "work" / day.isoformat() / mode


def partitions_folder(settings: Settings, day: dt.date, mode: str) -> Path:
    """The results of the partitions of the first pairing, one folder each (beside the checkpoints: a stale
    checkpoint does not take them away; each has its own key)."""
    return settings.home / "work" / day.isoformat() / f"{mode}.partitions"


def partitions_of(ruleset: RuleSet, channels: dict[str, Channel]) -> list[Partition]:
    """The partitions of the first pairing of ``ruleset``: one per PSP channel, and ``other``; none when the
    pairing declares no partition."""
    if ruleset.partitioned() is None:
        return []
    return partitions([c.id for c in channels.values() if c.kind == "psp"])


PER_RULE_FILE = "per_rule.json"


def match_partition(inp: Inputs, part: Partition) -> tuple[dict[str, int], bool]:
    """Match the partition ``part`` of the first pairing into its folder (``partitions_folder``): its rows of
    ``PARTITION_TABLES`` as Parquet, its matches per rule and the key of the inputs, written aside and renamed
    into place. Idempotent: a folder of the same key is kept. Returns the matches per rule and whether it ran."""
    root = partitions_folder(inp.settings, inp.day, inp.mode)
    folder, key = root / part.name, fingerprint(inp)
    try:
        if (folder / KEY_FILE).read_text() == key:
            return json.loads((folder / PER_RULE_FILE).read_text()), False
    except OSError:
        pass
    partial = root / f".{part.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with open_run(inp.settings, run_rows(inp)) as con:
        per_rule = partition_phase(con, inp, part)
        for table in PARTITION_TABLES:
            con.execute(f"COPY {ident(table)} TO '{partial / table}.parquet' (FORMAT parquet, COMPRESSION snappy)")
    (partial / PER_RULE_FILE).write_text(json.dumps(per_rule, sort_keys=True))
    (partial / KEY_FILE).write_text(key)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(partial, folder)
    return per_rule, True


def partition_results(inp: Inputs) -> list[PartitionResult] | None:
    """The results of every partition of the first pairing when each was matched from these inputs; None
    (the match phase then matches every pairing itself) when one is missing or of other inputs."""
    parts = partitions_of(inp.ruleset, inp.channels)
    if not parts:
        return None
    root, key = partitions_folder(inp.settings, inp.day, inp.mode), fingerprint(inp)
    results = []
    for part in parts:
        folder = root / part.name
        try:
            if (folder / KEY_FILE).read_text() != key:
                log.warning("partition %s of %s was matched from other inputs: matched again here", part.name, inp.day)
                return None
            per_rule = json.loads((folder / PER_RULE_FILE).read_text())
        except (OSError, ValueError):
            if root.is_dir():
                log.warning("partition %s of %s has no result: every partition is matched here", part.name, inp.day)
            return None
        rows = {t: f"read_parquet('{folder / t}.parquet')" for t in PARTITION_TABLES}
        results.append(PartitionResult(rows=rows, per_rule=per_rule))
    return results


def fingerprint(inp: Inputs) -> str:
    """Key of everything a run's result depends on besides the staged files the intake names (which are
    written once and never changed in place): date, mode, rules version, file statuses and names, the
    catalog's history before the date, replaced files and the intake."""
    parts: list[Any] = [
        inp.day.isoformat(),
        inp.mode,
        inp.ruleset.version_hash,
        sorted((k, sorted(v.to_dict().items())) for k, v in inp.statuses.items()),
        sorted(inp.file_names.items()),
        json.dumps(inp.replaced_files, sort_keys=True, default=str),
        repr(inp.policy),
    ]
    digest = hashlib.sha256(_canonical(parts).encode())
    frames = [(k, v) for k, v in sorted(vars(inp.history).items()) if isinstance(v, pl.DataFrame)]
    frames += [(k, getattr(inp.intake, k)) for k in ("taken", "uncovered", "known")]
    home = str(inp.settings.home)  # the intake names staged files by path: the same key in any local copy
    for name, frame in frames:
        digest.update(name.encode())
        digest.update(frame.write_csv().replace(home, "<home>").encode())
    scalars = {k: v for k, v in vars(inp.history).items() if not isinstance(v, pl.DataFrame)}
    digest.update(_canonical(scalars).encode())
    digest.update(inp.intake.first_day.isoformat().encode())
    return digest.hexdigest()


def _canonical(value: Any) -> str:
    """``value`` as text that depends on its content only: mappings and sets in sorted order (a dict's own
    order follows how it was filled, which queries without an order do not fix), no object identity (a
    pickle's bytes change with which equal strings are one object)."""
    if isinstance(value, dict):
        return "{" + ", ".join(sorted(f"{_canonical(k)}: {_canonical(v)}" for k, v in value.items())) + "}"
    if isinstance(value, set | frozenset):
        return "{" + ", ".join(sorted(_canonical(v) for v in value)) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_canonical(v) for v in value) + "]"
    return repr(value)


@dataclass
class Checkpoint:
    phase: str
    folder: Path
    carry: Carry


def _enum_types(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    rows = con.execute(
        "SELECT type_name FROM duckdb_types() WHERE NOT internal AND logical_type = 'ENUM' "
        f"AND database_name = '{RUN_DATABASE}' ORDER BY type_oid"
    ).fetchall()
    return [
        {"name": str(name), "labels": con.execute(f"SELECT enum_range(NULL::{ident(str(name))})").fetchone()[0]}  # type: ignore[index]
        for (name,) in rows
    ]


def save_database(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """Write the run's DuckDB state into ``folder``: enumeration types, macros, tables (Parquet) and views,
    with the statements that rebuild them (``STATE_FILE``)."""
    tables = []
    rows = con.execute(
        f"SELECT database_name, table_name, sql FROM duckdb_tables() WHERE database_name IN {_IN_DATABASES} "
        "ORDER BY table_oid"
    ).fetchall()
    for i, (database, name, sql) in enumerate(rows):
        file = f"t{i:04d}.parquet"
        con.execute(
            f"COPY (SELECT * FROM {ident(str(database))}.main.{ident(str(name))}) TO '{folder / file}' "
            "(FORMAT parquet, COMPRESSION snappy)"
        )
        tables.append({"database": database, "name": name, "sql": sql, "file": file})
    macros = con.execute(
        "SELECT function_name, function_type, parameters, macro_definition FROM duckdb_functions() "
        "WHERE NOT internal AND function_type IN ('macro', 'table_macro') "
        f"AND database_name IN {_IN_DATABASES} "
        "ORDER BY function_oid"
    ).fetchall()
    views = []
    rows = con.execute(
        "SELECT database_name, view_name, sql FROM duckdb_views() WHERE NOT internal "
        f"AND database_name IN {_IN_DATABASES} ORDER BY view_oid"
    ).fetchall()
    for database, name, sql in rows:
        if "python_" not in str(sql):
            views.append(str(sql))
            continue
        # a Python object registered with the connection (a view of it): its rows are kept in a temporary
        # table, and the view is made again over that table (registering the name again replaces it)
        file = f"v{len(tables):04d}.parquet"
        source = f"{ident(str(database))}.main.{ident(str(name))}"
        con.execute(f"COPY (SELECT * FROM {source}) TO '{folder / file}' (FORMAT parquet)")
        kept = ident(f"checkpoint_{name}")
        sql = f"CREATE TEMP TABLE {kept} AS SELECT * FROM read_parquet('{{file}}') LIMIT 0"
        tables.append({"database": "temp", "name": f"checkpoint_{name}", "sql": sql, "file": file})
        views.append(f"CREATE TEMP VIEW {ident(str(name))} AS SELECT * FROM temp.main.{kept}")
    state = {
        "types": _enum_types(con),
        "macros": [
            {"name": n, "table": t == "table_macro", "parameters": list(p), "definition": d} for n, t, p, d in macros
        ],
        "tables": tables,
        "views": views,
    }
    (folder / STATE_FILE).write_text(json.dumps(state, indent=1))


def restore_database(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """Rebuild in ``con`` the state ``save_database`` wrote into ``folder`` (same types, rows in the same
    order, same constraints)."""
    state = json.loads((folder / STATE_FILE).read_text())
    for t in state["types"]:
        labels = ", ".join("'" + str(v).replace("'", "''") + "'" for v in t["labels"])
        con.execute(f"CREATE TYPE {ident(t['name'])} AS ENUM ({labels})")
    for m in state["macros"]:
        body = ("TABLE " if m["table"] else "") + m["definition"]
        con.execute(f"CREATE OR REPLACE MACRO {ident(m['name'])}({', '.join(m['parameters'])}) AS {body}")
    for t in state["tables"]:
        con.execute(t["sql"].replace("{file}", str(folder / t["file"])))
        database = RUN_DATABASE if t["database"] == "memory" else t["database"]  # written before the run's file
        target = f"{ident(database)}.main.{ident(t['name'])}"
        con.execute(f"INSERT INTO {target} SELECT * FROM read_parquet('{folder / t['file']}')")
    for sql in state["views"]:
        con.execute(sql)


def _load(work: Path, phase: str, key: str) -> Checkpoint | None:
    folder = work / phase
    try:
        if (folder / KEY_FILE).read_text() != key:
            return None
        carry: Carry = pickle.loads((folder / CARRY_FILE).read_bytes())
        written_in = (folder / HOME_FILE).read_text() if (folder / HOME_FILE).is_file() else None
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
        return None
    _relocate(carry, written_in, work.parents[2])
    if carry.folder is not None and not carry.folder.is_dir():  # the unpublished run folder was removed
        return None
    return Checkpoint(phase, folder, carry)


def _relocate(carry: Carry, written_in: str | None, home: Path) -> None:
    """A checkpoint written in another copy of an S3 home (another host's local folder): the run folder it
    names is the same folder of this copy."""
    if written_in is None or written_in == str(home):
        return

    def moved(path: Path) -> Path:
        try:
            return home / path.relative_to(written_in)
        except ValueError:
            return path

    if carry.folder is not None:
        carry.folder = moved(carry.folder)
    if carry.result is not None:
        carry.result.folder = moved(carry.result.folder)


def _save(work: Path, phase: str, key: str, carry: Carry, con: duckdb.DuckDBPyConnection | None) -> None:
    partial = work / f".{phase}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    if con is not None:
        save_database(con, partial)
    (partial / CARRY_FILE).write_bytes(pickle.dumps(carry, protocol=5))
    (partial / KEY_FILE).write_text(key)
    (partial / HOME_FILE).write_text(str(work.parents[2]))
    target = work / phase
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)


def discard(
    settings: Settings, day: dt.date, mode: str, keep: set[Path] | None = None, with_partitions: bool = True
) -> None:
    """Remove the checkpoints of the run of ``day`` in ``mode`` (and, ``with_partitions``, the results of its
    partitions); with ``keep`` (the run folders the catalog publishes) also the run folder they name unless it
    is one of those (a run committed by a step that died before it removed its checkpoints keeps its folder)."""
    if with_partitions:
        shutil.rmtree(partitions_folder(settings, day, mode), ignore_errors=True)
    work = work_folder(settings, day, mode)
    if not work.is_dir():
        return
    if keep is not None:
        for phase in PHASES:
            try:
                carry: Carry = pickle.loads((work / phase / CARRY_FILE).read_bytes())
            except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
                continue
            kept = {k.resolve() for k in keep}
            if carry.folder is not None and carry.folder.is_dir() and carry.folder.resolve() not in kept:
                shutil.rmtree(carry.folder, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)


def advance(inp: Inputs, phase: str, published: set[Path]) -> tuple[Carry, list[str]]:
    """The run's state after ``phase``: from its checkpoint when one of the same inputs exists, else resumed
    from the latest earlier one (or from the start), running the missing phases and writing the checkpoint of
    ``phase``. ``published``: the run folders the catalog publishes (never removed with a stale checkpoint).
    Returns the state and the phases run now (empty: nothing to do)."""
    names = list(PHASES)
    target = names.index(phase)
    work = work_folder(inp.settings, inp.day, inp.mode)
    key = fingerprint(inp)
    found = None
    for i in range(target, -1, -1):
        found = _load(work, names[i], key)
        if found is not None:
            break
    if found is not None and found.phase == phase:
        return found.carry, []
    if found is None and work.is_dir():
        log.warning("checkpoints of %s are of other inputs: the run starts again from match", inp.day)
        discard(inp.settings, inp.day, inp.mode, keep=published, with_partitions=False)
    todo = names[names.index(found.phase) + 1 : target + 1] if found else names[: target + 1]
    with open_run(inp.settings, run_rows(inp)) as con:
        carry = found.carry if found else Carry(started=dt.datetime.now(dt.UTC))
        if found is not None and (found.folder / STATE_FILE).is_file():
            restore_database(con, found.folder)
        run_phases(con, inp, carry, todo)
        last = target == len(names) - 1  # the last phase's state is its result: no database to keep
        _save(work, phase, key, carry, None if last else con)
    for earlier in names[:target]:  # what the next task needs is this checkpoint alone
        shutil.rmtree(work / earlier, ignore_errors=True)
    if "match" in todo:  # the partitions' results are in the checkpoint now
        shutil.rmtree(partitions_folder(inp.settings, inp.day, inp.mode), ignore_errors=True)
    return carry, todo
