"""Date windows: calendar days or business days of a holiday calendar, asymmetric, at their edges.

The business date 2026-11-26 is a Thursday and Thanksgiving in the US calendar. A window counts the
business days after the left date up to the right date (negative when the right date is earlier)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from helpers import bank, psp
from match_helpers import PSP_BANK, assert_expected, rule, rules_dir, run_case

WED, THU, FRI, MON = (dt.date(2026, 11, d) for d in (25, 26, 27, 30))
TUE = dt.date(2026, 12, 1)


def window_rules(window: str) -> str:
    return PSP_BANK + rule(
        "line_to_credit",
        f"""
left: {{filter: {{record_type: [payment]}}}}
right: {{filter: {{direction: [credit]}}}}
keys: [{{left: psp_reference, right: end_to_end_id}}]
amount: {{left: net_minor, right: amount_minor}}
currency: {{left: currency, right: currency}}
{window}
""",
    )


@pytest.mark.parametrize(
    ("window", "cases"),
    [
        (  # calendar days, asymmetric: from one day before to three days after
            "date_window_days: {left: settlement_date, right: value_date, min_days: -1, max_days: 3}",
            [
                (THU, WED, True),
                (THU, dt.date(2026, 11, 24), False),
                (THU, dt.date(2026, 11, 29), True),
                (THU, MON, False),
            ],
        ),
        (  # business days without holidays: Friday to Monday is one business day
            "date_window_business_days: {left: settlement_date, right: value_date, min_days: 0, max_days: 1}",
            [(FRI, MON, True), (FRI, TUE, False), (THU, FRI, True), (THU, WED, False)],
        ),
        (  # the US calendar: Thanksgiving is no business day, so Wednesday to Friday is one business day
            "date_window_business_days: {left: settlement_date, right: value_date, min_days: 0, max_days: 1, "
            "calendar: US}",
            [(WED, FRI, True), (WED, MON, False), (FRI, MON, True), (THU, FRI, True)],
        ),
        (  # the same dates with weekends only: Wednesday to Friday is two business days
            "date_window_business_days: {left: settlement_date, right: value_date, min_days: 0, max_days: 1}",
            [(WED, FRI, False), (WED, THU, True)],
        ),
        (  # asymmetric in business days: the credit may be booked one business day early
            "date_window_business_days: {left: settlement_date, right: value_date, min_days: -1, max_days: 0, "
            "calendar: NL}",
            [(MON, FRI, True), (MON, THU, False), (MON, MON, True), (MON, TUE, False)],
        ),
    ],
)
def test_date_windows(tmp_path: Path, window: str, cases: list[tuple[dt.date, dt.date, bool]]) -> None:
    rules = rules_dir(tmp_path, {"20_psp_bank.yaml": window_rules(window)})
    lines, credits = [], []
    for i, (settled, valued, ok) in enumerate(cases):
        lines.append(psp(f"e{i}", 1000, settlement_date=settled, expected="matched" if ok else "outside_date_window"))
        credits.append(bank(f"e{i}", 1000, value_date=valued, expected="matched" if ok else "outside_date_window"))
    r = run_case(tmp_path, [], lines, credits, rules=rules)
    assert_expected(r, "psp_settlement_lines", lines)
    assert_expected(r, "bank_statement_lines", credits)
