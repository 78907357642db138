"""A large file of a format whose rows stand alone is parsed and staged in pieces, with the result of the file
parsed whole: the same staged rows, quarantined rows, statuses and messages."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from pipelines.core.config import PROJECT_ROOT
from pipelines.run import stages as pipeline
from pipelines.validate import pieces

DAY = dt.date(2026, 11, 26)
HEADER = "order_id,psp_channel,psp_reference,merchant_account,status,amount,currency,created_at\n"


def _orders(n: int, *, bad_every: int = 97, eol: str = "\n") -> str:
    rows = [HEADER.rstrip("\n")]
    for i in range(n):
        amount = "12.3x" if i % bad_every == 5 else f"{10 + i % 500}.{i % 100:02d}"
        account = f'"Acct {i}, line one\nline two"' if i % 13 == 0 else "PayPlatformEU"  # a field over two lines
        day = "2026-11-25T23:10:00Z" if i % 3 == 0 else "2026-11-26T10:00:00Z"
        rows.append(f"ORD-{i:07d},adyen_eu,{4000000000000000 + i},{account},succeeded,{amount},EUR,{day}")
        if i % 211 == 7:
            rows.append("")  # a blank line
    return eol.join(rows) + eol


def _workspace(tmp_path: Path, text: str, name: str = "orders_2026-11-26.csv") -> tuple[Path, Path]:
    rules = tmp_path / "rules"
    if not rules.exists():
        shutil.copytree(PROJECT_ROOT / "rules", rules)
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    (inbox / name).write_text(text, encoding="utf-8", newline="")
    path = rules / "channels" / "orders.yaml"
    raw = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**raw, "location": str(inbox), "pattern": "*.csv"}))
    return rules, inbox


def _normalise(tmp_path: Path, rules: Path, home: str, *, split: bool) -> list[dict[str, Any]]:
    pipeline.register_files([pipeline.ingest_channel("orders", home, str(rules))], home, str(rules))
    if not split:
        return pipeline.normalise_channel("orders", DAY, home, str(rules))
    parsed = pipeline.parse_channel("orders", DAY, home, str(rules))  # as the worker processes do
    return pipeline.stage_channel("orders", DAY, home, str(rules), parsed)


def _frames(home: Path, sub: str) -> dict[str, pl.DataFrame]:
    return {str(p.relative_to(home / sub)): pl.read_parquet(p) for p in sorted((home / sub).rglob("*.parquet"))}


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
@pytest.mark.parametrize("split", [False, True])
def test_a_file_in_pieces_stages_what_the_whole_file_stages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, eol: str, split: bool
) -> None:
    rules, _ = _workspace(tmp_path, _orders(3_000, eol=eol))
    whole = _normalise(tmp_path, rules, str(tmp_path / "whole"), split=split)
    monkeypatch.setenv("RECON_PIECE_MB", "0.01")  # about 10 KB: some 25 pieces
    size = next((tmp_path / "inbox").iterdir()).stat().st_size
    assert size > 20 * pieces.piece_bytes()
    cut = _normalise(tmp_path, rules, str(tmp_path / "cut"), split=split)

    assert whole == cut
    [status] = cut
    assert status["status"] == "staged" and status["rows_quarantined"] == len(
        {i for i in range(3_000) if i % 97 == 5 or i % 13 == 0}  # bad amounts, line breaks in references
    )
    assert status["rows_in"] == 3_000 and status["business_dates"] == ["2026-11-25", "2026-11-26"]
    for sub in ("staging", "quarantine"):
        a, b = _frames(tmp_path / "whole", sub), _frames(tmp_path / "cut", sub)
        assert a.keys() == b.keys() and a
        for key in a:
            assert a[key].equals(b[key]), key
    rejected = _frames(tmp_path / "cut", "quarantine")
    [rows] = rejected.values()
    # the line numbers are the file's: the rejected amount of order i is on the line after its record starts
    fifth = rows.filter(pl.col("raw").str.starts_with("ORD-0000005,")).row(0, named=True)
    assert fifth["line_no"] == 8  # the header, 5 rows, one of them on two lines
    assert not list((tmp_path / "cut" / "tmp").rglob("*.piece-*"))
    assert not list((tmp_path / "cut" / "tmp" / "parsed").glob("*")) if split else True


def test_a_piece_breaking_the_file_quarantines_the_whole_file_naming_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _orders(3_000)
    lines = text.split("\n")
    lines[2_500] += ",extra"  # a ragged row far into the file
    rules, _ = _workspace(tmp_path, "\n".join(lines))
    whole = _normalise(tmp_path, rules, str(tmp_path / "whole"), split=False)
    monkeypatch.setenv("RECON_PIECE_MB", "0.01")
    cut = _normalise(tmp_path, rules, str(tmp_path / "cut"), split=True)
    assert [s["status"] for s in cut] == ["quarantined"]
    assert cut == whole and "line 2501 has 9 fields" in cut[0]["reason"]
    assert not _frames(tmp_path / "cut", "staging")


def test_pieces_are_cut_only_at_record_ends(tmp_path: Path) -> None:
    text = HEADER + "".join(f'ORD-{i},a,"x\n{"y" * (i % 50)}\n,z",s,1.00,EUR,t\n' for i in range(400))
    path = tmp_path / "f.csv"
    path.write_text(text)
    got = []
    for piece in pieces.cut_pieces(path, tmp_path / "pieces", 1_000):
        body = piece.path.read_text()
        assert body.startswith(HEADER) and body.count('"') % 2 == 0
        got.append((piece.lines_before, body[len(HEADER) :]))
    assert len(got) > 10 and "".join(b for _, b in got) == text[len(HEADER) :]
    assert all(before == 1 + sum(b.count("\n") for _, b in got[:k]) for k, (before, _) in enumerate(got))
    assert not list((tmp_path / "pieces").iterdir())
