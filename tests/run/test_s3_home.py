"""The workspace in S3 (``RECON_HOME=s3://bucket/prefix``, moto's S3 server on loopback) with the catalog in
PostgreSQL (``tests/pg_server.py``), every unit of work on a local copy of its own (``RECON_LOCAL_DIR``),
against the same sample day in a local workspace.

1. Ingest and normalisation on one host (an empty local folder A), reconciliation and publication on another
   (an empty folder B): the published outputs are byte-identical to the local run's, read back on a third
   host (an empty folder C) through a pull, and straight from S3 through the date's completion marker. A
   channel normalised again on an empty host pulls only its own files and writes the same bytes (none pushed).
2. A second pull or push of an unchanged copy transfers nothing.
3. A run killed after its run folder is uploaded, before its commit, and one killed after its commit, before
   the marker: the previous run stays the one readers see; the re-run that follows (on yet another empty
   folder) completes and publishes outputs byte-identical to the local workspace's re-run.
4. The DAG's four steps (match, lifecycle, clearing, publish), each on a fresh empty local folder, resume from
   each other's checkpoints through S3 and publish the same bytes; ``recon summary`` on an empty host shows it.
5. An S3 home with the DuckDB catalog is refused with one line.
6. The synchronisation's rules, on three local copies: a landed object is put once and never replaced; a
   journal is pushed only over the version pulled; a stale copy neither overwrites nor deletes another
   host's newer version; a run folder without a marker is never shown, the marker moves the date; a pull
   takes only the version it listed.
7. An upload refused by the network, then answered with an ETag other than the file's MD5, is retried until
   S3 holds the file's bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import PROJECT_ROOT, tree_bytes
from pg_server import PgCluster
from servers import S3_KEY_ID, S3_SECRET, s3_client

from pipelines.core import config
from pipelines.core.failpoints import ENV as FAILPOINT_ENV
from pipelines.ingest.transports.base import FileChanged
from pipelines.run import s3home, stages

DATE = "2026-11-26"
DAY = dt.date.fromisoformat(DATE)
BUCKET = "recon-home"
HOME = f"s3://{BUCKET}/team/recon"
PREFIX = "team/recon/"
MARKER = f"outputs/{DATE}{s3home.LINK_SUFFIX}"
# the tests of this module are one story on one S3 home (each builds on what the one before left): ``make test``
# distributes by file (``--dist loadfile``), so one worker runs them all, in order


@pytest.fixture(scope="module")
def local_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    """The sample day in a local workspace (DuckDB catalog): its nightly run, then a re-run."""
    home = tmp_path_factory.mktemp("local")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(config.CATALOG_URL_ENV, raising=False)
        stages.run_all(DAY, "nightly", str(home))
        nightly = tree_bytes(home / "outputs" / DATE)
        stages.reconcile_and_publish(DAY, "rerun", str(home))
        rerun = tree_bytes(home / "outputs" / DATE)
    return {"nightly": nightly, "rerun": rerun}


class S3Home:
    """The S3 home of the tests and the environment of a process working on it from a local folder."""

    def __init__(self, endpoint: str, catalog_url: str, base: Path, mp: pytest.MonkeyPatch) -> None:
        self.endpoint, self.catalog_url, self.base, self.mp = endpoint, catalog_url, base, mp
        self.hosts = 0
        self.env = {
            config.CATALOG_URL_ENV: catalog_url,
            s3home.ENDPOINT_ENV: endpoint,
            "AWS_ACCESS_KEY_ID": S3_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET,
            "AWS_DEFAULT_REGION": "eu-west-1",
        }
        for k, v in self.env.items():
            mp.setenv(k, v)
        self.s3 = s3_client(endpoint)

    def host(self) -> Path:
        """A new empty local folder, as on another host, made the current process's local copy."""
        self.hosts += 1
        folder = self.base / f"host{self.hosts}"
        folder.mkdir()
        self.mp.setenv(config.LOCAL_DIR_ENV, str(folder))
        return folder

    def recon(self, *argv: str, failpoint: str | None = None) -> subprocess.CompletedProcess[str]:
        """``recon --home s3://... ARGV`` in a process of its own, on a new empty local folder."""
        env = {**os.environ, **self.env, config.LOCAL_DIR_ENV: str(self.host())}
        if failpoint:
            env[FAILPOINT_ENV] = failpoint
        return subprocess.run(
            [sys.executable, "-m", "pipelines.cli.main", "--home", HOME, *argv],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
        )

    def keys(self, under: str = "") -> dict[str, str]:
        """Every object under ``under`` (relative to the home) and its ETag."""
        out = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX + under):
            out.update({o["Key"][len(PREFIX) :]: o["ETag"].strip('"') for o in page.get("Contents", [])})
        return out

    def get(self, rel: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=BUCKET, Key=PREFIX + rel)["Body"].read())

    def published_from_s3(self) -> dict[str, bytes]:
        """The date's published outputs read straight from S3: the objects its marker lists."""
        marker = json.loads(self.get(MARKER))
        folder = f"outputs/{marker['target']}"
        return {name: self.get(f"{folder}/{name}") for name in sorted(marker["objects"])}

    def published_on_new_host(self) -> dict[str, bytes]:
        """The date's published outputs as a reader on a new empty host sees them."""
        folder = self.host()
        assert stages.published_run(DAY, HOME) is not None  # pulls outputs/: the runs with a marker
        return tree_bytes(folder / "outputs" / DATE)


@pytest.fixture(scope="module")
def s3(endpoint: str, pg_cluster: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Home]:
    database = pg_cluster.create_database()
    with pytest.MonkeyPatch.context() as mp:
        home = S3Home(endpoint, pg_cluster.url(database), tmp_path_factory.mktemp("hosts"), mp)
        home.s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        try:
            yield home
        finally:
            pg_cluster.drop_database(database)


def _moved() -> dict[str, int]:
    return dict(vars(s3home.TOTALS))


def _delta(before: dict[str, int]) -> dict[str, int]:
    return {k: v - before[k] for k, v in vars(s3home.TOTALS).items()}


def test_two_hosts_publish_the_local_workspace_bytes(s3: S3Home, local_runs: dict[str, dict[str, bytes]]) -> None:
    figures = {}
    a = s3.host()  # host A: ingest and normalise
    before = _moved()
    pulled = [stages.ingest_channel(cid, HOME) for cid in stages.channel_ids(HOME)]
    figures["ingest"] = _delta(before)
    before = _moved()
    stages.register_files(pulled, HOME)
    figures["register"] = _delta(before)
    before = _moved()
    statuses = [stages.normalise_channel(cid, DAY, HOME) for cid in stages.channel_ids(HOME)]
    figures["normalise"] = _delta(before)
    before = _moved()
    stages.record_statuses(statuses, HOME)
    figures["record"] = _delta(before)
    assert (a / "landing").is_dir() and not (a / "outputs" / DATE).exists()
    keys = s3.keys()
    landed = [k for k in keys if k.startswith("landing/") and "/." not in k]
    assert landed and all(keys[k] for k in landed)
    assert {"journal/files.jsonl", "journal/file_status.jsonl"} <= set(keys)
    assert any(k.startswith("staging/orders/") for k in keys)

    b = s3.host()  # host B: an empty disk, reconcile and publish
    before = _moved()
    out = stages.reconcile_and_publish(DAY, "nightly", HOME)
    figures["reconcile_and_publish"] = _delta(before)
    assert Path(out["output"]) == b / "outputs" / DATE
    assert tree_bytes(b / "outputs" / DATE) == local_runs["nightly"]
    assert s3.published_from_s3() == local_runs["nightly"]
    assert s3.published_on_new_host() == local_runs["nightly"]
    s3.host()  # a channel normalised again on an empty host: only its own files are pulled, none pushed
    before = _moved()
    again = stages.normalise_channel("stripe_eu", DAY, HOME, force=True)
    figures["normalise stripe_eu again, empty host"] = moved = _delta(before)
    ids = {st["file_id"] for st in again}
    mine = [k for k in keys if any(i in k for i in ids) and k.startswith(("landing/", "staging/", "quarantine/"))]
    assert moved["pulled"] == len(mine) and moved["pushed"] == 0  # its staging written again: the same bytes
    assert moved["same"] == len([k for k in mine if not k.startswith("landing/")])
    print("\nbytes moved per unit of work (sample day):", json.dumps(figures, indent=1))
    assert figures["reconcile_and_publish"]["pulled_bytes"] > 0 and figures["ingest"]["pulled"] == 0


def test_an_unchanged_copy_moves_nothing(s3: S3Home) -> None:
    folder = s3.host()
    home = s3home.Home(HOME, folder)
    first = home.pull()
    assert first.pulled > 0 and first.same == 0
    again, push = home.pull(), home.push()
    assert (again.pulled, again.pulled_bytes, push.pushed, push.deleted) == (0, 0, 0, 0)
    assert again.same == first.pulled == push.same


def test_a_crash_between_the_run_folder_and_its_marker_leaves_the_previous_run_visible(
    s3: S3Home, local_runs: dict[str, dict[str, bytes]]
) -> None:
    marker = s3.keys(MARKER)[MARKER]
    folders = {k.split("/")[3] for k in s3.keys(f"outputs/.runs/{DATE}/")}
    killed = s3.recon("run", "--date", DATE, "--mode", "rerun", failpoint="after-outputs-written")
    assert killed.returncode == -9, killed.stderr[-2000:]
    uploaded = {k.split("/")[3] for k in s3.keys(f"outputs/.runs/{DATE}/")} - folders
    assert len(uploaded) == 1  # the new run folder is in S3, its marker is not
    assert s3.keys(MARKER)[MARKER] == marker
    assert s3.published_on_new_host() == local_runs["nightly"]

    killed = s3.recon("run", "--date", DATE, "--mode", "rerun", failpoint="after-catalog-commit")
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert s3.keys(MARKER)[MARKER] == marker  # committed in the catalog, not published in S3 yet
    assert s3.published_on_new_host() == local_runs["nightly"]

    done = s3.recon("run", "--date", DATE, "--mode", "rerun")  # completes the switch first, then runs
    assert done.returncode == 0, done.stderr[-2000:]
    assert s3.keys(MARKER)[MARKER] != marker
    assert s3.published_from_s3() == local_runs["rerun"]
    assert s3.published_on_new_host() == local_runs["rerun"]
    assert len({k.split("/")[3] for k in s3.keys(f"outputs/.runs/{DATE}/")}) <= 2  # older folders pruned


def test_the_dag_steps_each_on_an_empty_host_resume_and_publish_the_same_bytes(
    s3: S3Home, local_runs: dict[str, dict[str, bytes]]
) -> None:
    ran = {}
    for step in stages.STEPS:
        s3.host()
        ran[step] = stages.reconcile_step(step, DAY, "rerun", HOME)["ran"]
    # each resumed from its predecessor's checkpoint, through S3; publish commits what clearing left
    assert ran == {"match": ["match"], "lifecycle": ["lifecycle"], "clearing": ["clearing"], "publish": []}
    assert not s3.keys("work/")  # publish removed the checkpoints
    assert s3.published_from_s3() == local_runs["rerun"]
    assert s3.published_on_new_host() == local_runs["rerun"]
    shown = s3.recon("summary", "--date", DATE)  # a reader on an empty host
    assert shown.returncode == 0 and "Report:" in shown.stdout, shown.stderr[-2000:]


def test_the_partitions_each_on_an_empty_host_are_joined_and_publish_the_same_bytes(
    s3: S3Home, local_runs: dict[str, dict[str, bytes]]
) -> None:
    done = {}
    for name in stages.match_partitions(HOME):
        s3.host()  # each partition on a host of its own, as the DAG's mapped tasks on Celery workers
        done[name] = stages.match_partition(name, DAY, "rerun", HOME)
    assert set(done) == {"adyen_eu", "stripe_eu", "other"} and all(d["ran"] for d in done.values())
    assert {k.split("/")[3] for k in s3.keys(f"work/{DATE}/rerun.partitions/")} == set(done)
    s3.host()
    assert stages.reconcile_step("match", DAY, "rerun", HOME)["figures"]["partitions"] == len(done)
    for step in ("lifecycle", "clearing", "publish"):
        s3.host()
        stages.reconcile_step(step, DAY, "rerun", HOME)
    assert not s3.keys("work/")  # the partitions' results and the checkpoints are gone
    assert s3.published_from_s3() == local_runs["rerun"]


def test_an_s3_home_with_the_duckdb_catalog_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(config.CATALOG_URL_ENV, raising=False)
    monkeypatch.setenv(config.LOCAL_DIR_ENV, str(tmp_path))
    with pytest.raises(ValueError, match="needs the catalog in PostgreSQL"):
        config.settings(HOME)
    done = subprocess.run(
        [sys.executable, "-m", "pipelines.cli.main", "--home", HOME, "summary", "--date", DATE],
        cwd=PROJECT_ROOT,
        env={k: v for k, v in os.environ.items() if k != config.CATALOG_URL_ENV},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "RECON_CATALOG_URL=postgresql://" in done.stderr


def test_landed_files_journals_stale_copies_and_markers(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rules of the synchronisation itself, on two local copies A and B of one S3 workspace."""
    for k, v in {
        s3home.ENDPOINT_ENV: endpoint,
        "AWS_ACCESS_KEY_ID": S3_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET,
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    s3_client(endpoint).create_bucket(
        Bucket="recon-rules", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    a, b, c = (s3home.Home("s3://recon-rules/ws", tmp_path / n) for n in "abc")

    def write(home: s3home.Home, rel: str, text: str) -> Path:
        path = home.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    landed = "landing/orders/ab/" + "ab" * 32
    write(a, landed, "bytes")
    assert a.push().pushed == 1
    write(b, landed, "other bytes")  # a landed file never changes: B's is refused, A's stays
    with pytest.raises(s3home.SyncError, match="exists with other bytes"):
        b.push()
    (b.root / landed).unlink()

    journal = write(a, "journal/files.jsonl", "1\n")
    a.push()
    b.pull()
    with journal.open("a") as fh:
        fh.write("2\n")
    assert a.push().pushed == 1  # over the version A pulled
    with (b.root / "journal/files.jsonl").open("a") as fh:
        fh.write("3\n")
    with pytest.raises(s3home.SyncError, match="changed since this copy pulled it"):
        b.push()  # B's copy is stale: appending to it would lose A's entry
    b.pull()
    assert (b.root / "journal/files.jsonl").read_text() == "1\n2\n"

    staged = write(a, "staging/t/x.parquet", "v1")
    a.push()
    b.pull()
    staged.write_text("v2 from A")
    a.push()
    assert b.push().pushed == 0  # B's unchanged, older copy is not pushed over A's newer version
    (b.root / "staging/t/x.parquet").unlink()
    assert b.push().deleted == 0  # nor deleted: B knew another version
    assert c.pull().pulled and (c.root / "staging/t/x.parquet").read_text() == "v2 from A"
    listed = c.listing(("staging/t/x.parquet",))["staging/t/x.parquet"]
    staged.write_text("v3 from A, after C listed it")
    a.push()
    with pytest.raises(FileChanged):  # C never takes bytes other than the version it listed
        c.download("staging/t/x.parquet", *listed)
    staged.unlink()
    assert a.push().deleted == 1  # A removed the version it knew
    c.pull()
    assert not (c.root / "staging/t/x.parquet").exists()

    write(a, f"outputs/.runs/{DATE}/r1/summary.json", "{}")
    (a.root / "outputs" / DATE).symlink_to(f".runs/{DATE}/r1")
    a.push()
    assert json.loads(s3_client(endpoint).get_object(Bucket="recon-rules", Key=f"ws/{MARKER}")["Body"].read()) == {
        "objects": {
            "summary.json": {"md5": s3home.etag_of(a.root / f"outputs/.runs/{DATE}/r1/summary.json"), "size": 2}
        },
        "target": f".runs/{DATE}/r1",
    }
    write(a, f"outputs/.runs/{DATE}/r2/summary.json", '{"run": 2}')
    a.push((f"outputs/.runs/{DATE}/r2/",))  # uploaded, not published: no marker names it
    c.pull()
    assert (c.root / "outputs" / DATE / "summary.json").read_text() == "{}"
    (a.root / "outputs" / DATE).unlink()
    (a.root / "outputs" / DATE).symlink_to(f".runs/{DATE}/r2")
    a.push()
    c.pull()
    assert (c.root / "outputs" / DATE / "summary.json").read_text() == '{"run": 2}'


class _Flaky:
    """An S3 client whose first uploads fail: the connection refused, then an ETag that is not the file's MD5
    (as if the bytes were damaged on the way)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.faults = ["refused", "damaged"]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def put_object(self, **kwargs: Any) -> Any:
        fault = self.faults.pop(0) if self.faults else None
        if fault == "refused":
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
        got = self.real.put_object(**kwargs)
        return {**got, "ETag": '"' + "0" * 32 + '"'} if fault == "damaged" else got


def test_an_upload_is_verified_and_retried(endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(s3home.ENDPOINT_ENV, endpoint)
    client = s3_client(endpoint)
    client.create_bucket(Bucket="recon-flaky", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    flaky = _Flaky(client)
    home = s3home.Home("s3://recon-flaky/ws", tmp_path, client=flaky)
    (tmp_path / "staging").mkdir()
    (tmp_path / "staging" / "x.parquet").write_bytes(b"staged bytes")
    assert home.push().pushed == 1 and flaky.faults == []  # refused, then damaged, then accepted
    got = client.get_object(Bucket="recon-flaky", Key="ws/staging/x.parquet")
    assert got["Body"].read() == b"staged bytes"
