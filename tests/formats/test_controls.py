"""Control checks as parsers report them: passed, skipped (with why) or failed; a failure rejects the file.

Invariants:
1. ``checks_of`` is None for a parser that does not report its checks, a list (maybe empty) for one that does.
2. ``with_checks`` keeps every field of the parse result.
3. ``reject_failures`` raises with every failed check's figures, in order, and nothing else.
"""

from __future__ import annotations

import polars as pl
import pytest

from pipelines.formats import controls
from pipelines.formats.base import FileRejected, ParseResult, empty_rejects

RESULT = ParseResult(table="bank_statement_lines", frame=pl.DataFrame({"a": [1]}), rejects=empty_rejects(), rows_in=1)


def test_checks_travel_with_the_result() -> None:
    assert controls.checks_of(RESULT) is None
    checked = controls.with_checks(RESULT, [controls.passed("balance", "statement S", "1 + 2 = 3 EUR")])
    assert (checked.table, checked.frame.equals(RESULT.frame), checked.rows_in) == ("bank_statement_lines", True, 1)
    assert controls.checks_of(checked) == [controls.Check("balance", "statement S", "passed", "1 + 2 = 3 EUR")]
    assert controls.checks_of(controls.with_checks(RESULT, [])) == []


def test_summary_and_failures() -> None:
    checks = [
        controls.passed("balance", "statement A", "ok"),
        controls.skipped("balance", "statement B", "no closing balance"),
        controls.failed("total", "trailer", "trailer states 3 but 2 are present"),
        controls.failed("total", "file", "file states 9 but 8 are present"),
    ]
    assert controls.summary(checks) == "1 passed, 1 skipped, 2 failed"
    assert controls.summary([]) == "none"
    assert checks[1].line() == "skipped: balance, statement B: no closing balance"
    assert checks[1].as_dict() == {
        "name": "balance",
        "scope": "statement B",
        "status": "skipped",
        "detail": "no closing balance",
    }
    with pytest.raises(FileRejected) as caught:
        controls.reject_failures(checks, "control totals do not agree: ")
    assert str(caught.value) == (
        "control totals do not agree: trailer states 3 but 2 are present; file states 9 but 8 are present"
    )
    controls.reject_failures(checks[:2])  # passed and skipped checks do not reject
