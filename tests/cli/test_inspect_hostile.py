"""``recon inspect`` on hostile files never prints a traceback: each gives one line naming the file and, where
known, the line and field, and why, with a non-zero exit code (1 rejected, 2 not recognised, 3 rows that a
run would quarantine); a file whose lines end with a carriage return alone is simply read. Text from the file
is printed escaped, never as markup or terminal control sequences."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines.cli.main import main
from pipelines.core.config import PROJECT_ROOT
from pipelines.formats import registry

ORDERS = (PROJECT_ROOT / "data_samples" / "orders" / "orders_2026-11-26.csv").read_text(encoding="utf-8")
HEAD = ORDERS.splitlines()[:4]


def inspect(capsys: pytest.CaptureFixture[str], path: Path | str, *options: str) -> tuple[int, list[str]]:
    code = main(["inspect", str(path), *options])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.out.splitlines()


def verdict(lines: list[str]) -> str:
    """The one line that says why (``REJECTED``, ``NOT READ`` or ``ROWS REJECTED``)."""
    (line,) = [x for x in lines if x.startswith(("REJECTED: ", "NOT READ: ", "ROWS REJECTED: "))]
    return line


def test_carriage_return_line_ends_are_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "orders_cr.csv"
    path.write_bytes(("\r".join(HEAD) + "\r").encode())
    code, out = inspect(capsys, path)
    assert code == 0 and "entries: 3  read: 3  rejected rows: 0" in out


@pytest.mark.parametrize(
    ("content", "options", "code", "why"),
    [
        (bytes(range(256)) * 40, (), 2, "binary content: NUL byte (\\x00) at byte 1 of line 1"),
        (b"\x00\x00" + "\n".join(HEAD).encode(), ("--format", "orders_csv"), 1, "header (line 1) holds a NUL byte"),
        (
            b"order_id,psp_channel,status,amount," + b"x" * (200 * 1024) + b"\n1,2,3,4,5\n",
            (),
            1,
            "header (line 1) has a field longer than 131072 characters",
        ),
        ("\n".join(HEAD).encode("utf-16"), (), 2, "UTF-16 text (byte-order mark FF FE on line 1)"),
        ("\n".join(HEAD).encode("utf-16"), ("--format", "orders_csv"), 1, "UTF-16 text (byte-order mark FF FE"),
        (b"\xff\xfe\x00\x00" + "a".encode("utf-32-le"), (), 2, "UTF-32 text (byte-order mark FF FE 00 00"),
        (b"[/bold] [red]x\n", (), 2, "first line '[/bold] [red]x'"),
    ],
)
def test_an_unreadable_file_is_one_line_and_a_non_zero_exit(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes,
    options: tuple[str, ...],
    code: int,
    why: str,
) -> None:
    path = tmp_path / "hostile.csv"
    path.write_bytes(content)
    got, out = inspect(capsys, path, *options)
    assert got == code
    line = verdict(out)
    assert line.startswith((f"REJECTED: {path}: ", f"NOT READ: {path}: ")) and why in line


def test_a_nul_byte_in_a_row_names_its_line_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [*HEAD[:3], HEAD[3].replace(",", ",\x00", 1)]
    path = tmp_path / "orders_nul.csv"
    path.write_bytes("\n".join(rows).encode())
    code, out = inspect(capsys, path)
    assert code == 3
    assert verdict(out) == (
        f"ROWS REJECTED: {path}: 1 row(s) would be quarantined; first: line 4, field record: "
        "NUL byte (\\x00) in the record, at byte 22"
    )


def test_text_from_the_file_is_printed_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [HEAD[0], HEAD[1].replace("succeeded", "succ\x1b[2J[bold]eeded")]
    path = tmp_path / "orders_esc.csv"
    path.write_text("\n".join(rows) + "\n")
    code, out = inspect(capsys, path)
    assert code == 3
    text = "\n".join(out)
    assert "\x1b" not in text and "succ\\x1b[2j[bold]eeded" in verdict(out)  # lower-cased as statuses are


def test_a_parser_failure_is_a_rejection_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(HEAD) + "\n")

    def broken(*_: object) -> object:
        raise ValueError("boom")

    real = registry.get
    monkeypatch.setattr(registry, "get", lambda name: broken if name == "orders_csv" else real(name))
    code, out = inspect(capsys, path)
    assert code == 1
    assert verdict(out) == f"REJECTED: {path}: unreadable as orders_csv: ValueError: boom"


def test_odd_paths(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = inspect(capsys, tmp_path)
    assert code == 2 and verdict(out) == f"NOT READ: {tmp_path}: not a regular file: {tmp_path}"
    name = os.path.join(os.fsencode(tmp_path), b"orders_\xff.csv")
    with open(name, "wb") as handle:
        handle.write(b"\xff\xfe")
    code, out = inspect(capsys, os.fsdecode(name))
    assert code == 2 and verdict(out).startswith(f"NOT READ: {tmp_path}/orders_\\xff.csv: UTF-16 text")
    if os.geteuid() != 0:  # root reads any file
        locked = tmp_path / "locked.csv"
        locked.write_text("x\n")
        locked.chmod(0)
        code, out = inspect(capsys, locked)
        assert code == 1 and "cannot read the file: Permission denied" in verdict(out)
