"""Large files of a format whose rows stand alone, parsed and staged in pieces of bounded size.

A parser holds a file's bytes, its lines and its fields at once: several times the file's size. A delimited
file of a format whose rows are read each on its own (``SPLITTABLE``: no check or derived value spans rows)
and larger than ``piece_bytes()`` is cut at record ends into pieces of about that size, each piece (the
header line, then its records) is parsed as a file of its own, and its line numbers are moved to where its
records are in the file. The staged rows, the quarantined rows and the file's status are those of the file
parsed whole; only the memory differs. A cut is made only at a newline outside quotes (an even number of
double quotes before it in the piece), so a quoted field spanning lines stays in one piece.

``RECON_PIECE_MB`` sets the piece size (default 128 MiB; about a million rows of an order extract).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipelines.core.channels import Channel
from pipelines.formats.base import FileRejected, ParseContext, Parser, ParseResult

SPLITTABLE = frozenset({"orders_csv", "stripe_payout_recon"})
DEFAULT_PIECE_MB = 128
_LINE = re.compile(r"\bline (\d+)")


def piece_bytes() -> int:
    return max(1, int(float(os.environ.get("RECON_PIECE_MB") or DEFAULT_PIECE_MB) * 2**20))


def splits(channel: Channel, path: Path, size: int | None = None) -> bool:
    """Whether the file is read in pieces: a format whose rows stand alone, larger than a piece."""
    return channel.format in SPLITTABLE and (size if size is not None else path.stat().st_size) > piece_bytes()


@dataclass(frozen=True)
class Piece:
    path: Path
    lines_before: int  # physical lines of the file before the piece's first record line, header included


def _cut(block: bytes) -> int:
    """Length of the longest prefix of ``block`` ending with a newline outside quotes (0: none)."""
    end = block.rfind(b"\n")
    while end >= 0:
        if block.count(b'"', 0, end + 1) % 2 == 0:
            return end + 1
        end = block.rfind(b"\n", 0, end)
    return 0


def cut_pieces(path: Path, folder: Path, size: int) -> Iterator[Piece]:
    """Write the pieces of ``path`` (each: its header line, then about ``size`` bytes of whole records) into
    ``folder`` one at a time, each removed when the next is asked for. A file whose first line is not a
    complete header line gives one piece: the file itself."""
    with path.open("rb") as fh:
        header = fh.readline()
        if not header.endswith(b"\n") or not header.strip() or header.count(b'"') % 2:
            yield Piece(path, 0)
            return
        folder.mkdir(parents=True, exist_ok=True)
        lines_before, carry, n = 1, b"", 0
        while True:
            chunk = fh.read(size)
            block = carry + chunk
            if not block:
                return
            cut = len(block) if not chunk else _cut(block)
            if cut == 0:  # no record ends in the block: take more
                carry = block
                continue
            # (the piece written from a view of the block: no copy of its records)
            body, carry = memoryview(block)[:cut], block[cut:]
            target = folder / f"{path.name}.piece-{n}"
            with target.open("wb") as out:
                out.write(header)
                out.write(body)
            body.release()
            try:
                yield Piece(target, lines_before)
            finally:
                target.unlink(missing_ok=True)
            lines_before += block.count(b"\n", 0, cut)
            n += 1
            if not chunk:
                return


def _moved(frame: pl.DataFrame, by: int) -> pl.DataFrame:
    return frame.with_columns(pl.col("line_no") + by) if by and "line_no" in frame.columns else frame


def _moved_lines(message: str, by: int) -> str:
    """A piece's message with the line numbers it names moved to the file's."""
    return _LINE.sub(lambda m: f"line {int(m.group(1)) + by}", message)


def parse_pieces(path: Path, ctx: ParseContext, parse: Parser, folder: Path) -> Iterator[ParseResult]:
    """The file parsed piece by piece, each piece's line numbers those of the file. A piece the parser rejects
    rejects the file, its message naming the file's lines."""
    for piece in cut_pieces(path, folder, piece_bytes()):
        by = max(0, piece.lines_before - 1)  # a piece's first record is on its line 2
        try:
            result = parse(piece.path, ctx)
        except FileRejected as exc:
            raise FileRejected(_moved_lines(str(exc), by)) from None
        yield dataclasses.replace(result, frame=_moved(result.frame, by), rejects=_moved(result.rejects, by))
