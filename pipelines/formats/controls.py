"""The control checks a parser performs on a file, each reported as passed, skipped (with why) or failed.

A file's own controls (statement balances, batch and trailer totals, record counts) are checked by its
parser. A check that disagrees rejects the whole file (``FileRejected`` naming the figures); a check that
cannot run for part of the file (a statement without a closing balance, a statement whose entry was
rejected as a row so its sum is unknown) is reported as skipped with the reason, so that nobody reads
"control totals: agree" for a check that never ran.

A parser that reports its checks returns a ``CheckedResult`` (a ``ParseResult`` with ``checks``);
``checks_of`` gives them, or ``None`` for a parser that does not report them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Literal

from pipelines.formats.base import FileRejected, ParseResult

Status = Literal["passed", "skipped", "failed"]
STATUSES: tuple[Status, ...] = ("passed", "skipped", "failed")


@dataclass(frozen=True)
class Check:
    """One control of one part of a file: what (``name``), where (``scope``), its outcome and its figures
    (passed, failed) or why it could not run (skipped)."""

    name: str
    scope: str
    status: Status
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "scope": self.scope, "status": self.status, "detail": self.detail}

    def line(self) -> str:
        return f"{self.status}: {self.name}, {self.scope}: {self.detail}"


def passed(name: str, scope: str, detail: str) -> Check:
    return Check(name, scope, "passed", detail)


def skipped(name: str, scope: str, why: str) -> Check:
    return Check(name, scope, "skipped", why)


def failed(name: str, scope: str, detail: str) -> Check:
    return Check(name, scope, "failed", detail)


@dataclass
class CheckedResult(ParseResult):
    """A parse result with the control checks performed on the file (all passed or skipped: a failure rejects)."""

    checks: list[Check] = field(default_factory=list)


def with_checks(result: ParseResult, checks: Iterable[Check]) -> CheckedResult:
    """``result`` (every field of it) with ``checks``."""
    given = {f.name: getattr(result, f.name) for f in fields(ParseResult)}
    return CheckedResult(**given, checks=list(checks))


def checks_of(result: ParseResult) -> list[Check] | None:
    """The checks the parser reported, or None when its format does not report them."""
    return result.checks if isinstance(result, CheckedResult) else None


def reject_failures(checks: Sequence[Check], prefix: str = "") -> None:
    """Raise ``FileRejected`` naming every failed check (``prefix`` then their details joined by '; ')."""
    failures = [c.detail for c in checks if c.status == "failed"]
    if failures:
        raise FileRejected(prefix + "; ".join(failures))


def summary(checks: Sequence[Check]) -> str:
    """'3 passed', '2 passed, 1 skipped', ... in the order passed, skipped, failed."""
    counts = {s: sum(1 for c in checks if c.status == s) for s in STATUSES}
    return ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "none"


def described(checks: Sequence[Check] | None) -> str | None:
    """The checks as a file's status and the run manifest carry them: the counts, then each check that did
    not pass with its scope and why ("1 passed, 1 skipped (closing balance, statement S1: no closing
    balance)"); None for a parser that reports no checks."""
    if checks is None:
        return None
    others = "; ".join(f"{c.name}, {c.scope}: {c.detail}" for c in checks if c.status != "passed")
    return summary(checks) + (f" ({others})" if others else "")
