"""The report's raw records: the lines read are those of the file as received, header first."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from pipelines.publish.report_raw import read_lines


def _line_by_line(path: Path, wanted: list[int], after: int) -> dict[int, str]:
    keep = {1} | {k for n in wanted for k in range(n, n + after + 1)}
    out: dict[int, str] = {}
    with path.open("rb") as fh:
        for n, raw in enumerate(fh, start=1):
            if n in keep:
                out[n] = raw.decode("utf-8", "replace").rstrip("\r\n").lstrip("\ufeff")
    return out


def _hostile_file(rng: random.Random, path: Path) -> int:
    pieces = ["\ufeffa,b,c".encode()]
    for _ in range(rng.randint(0, 400)):
        kind = rng.random()
        if kind < 0.1:
            pieces.append(b"")  # an empty line
        elif kind < 0.2:
            pieces.append(b"x" * rng.randint(50, 300))  # longer than a block
        elif kind < 0.3:
            pieces.append("é,ü,€".encode()[: rng.randint(1, 9)])  # a cut multi-byte character
        else:
            pieces.append(f"{rng.randint(0, 99)},{rng.choice(['r', 'q'])},z".encode())
    ends = [b"\n", b"\r\n", b"\r\r\n"]
    data = b"".join(p + rng.choice(ends) for p in pieces)
    if rng.random() < 0.5:
        data = data.rstrip(b"\r\n")  # no newline after the last line
    path.write_bytes(data)
    return len(pieces)


@pytest.mark.parametrize("seed", range(40))
def test_blocks_give_the_lines_of_a_line_by_line_read(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    path = tmp_path / "f.csv"
    count = _hostile_file(rng, path)
    wanted = sorted(rng.sample(range(1, count + 3), k=min(count + 2, rng.randint(1, 6))))
    after = rng.choice([0, 1, 3, 40])
    expected = _line_by_line(path, wanted, after)
    assert read_lines(path, wanted, after) == expected
    assert 1 in expected


def test_last_line_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"h1,h2\r\nv1,v2\r\nlast,one")
    assert read_lines(path, [3], after=0) == {1: "h1,h2", 3: "last,one"}
    assert read_lines(path, [9], after=0) == {1: "h1,h2"}
