"""report.html of the sample day in a real browser: Debian's chromium, driven by Selenium through Debian's
chromedriver (``bash .ci/ensure-system-packages`` installs both; ``make test`` runs it). One browser for the
module, one run of the sample day; each test loads the page afresh.

The page loads with no console error and fetches nothing (file:// only); the first screen at 1366 x 768 shows
the money at risk; a search by order id narrows the table to its break; the filters and a click on a money at
risk row narrow it; sorting changes the order; a break opens its detail with both sides' file name and line;
the break id, rule and reason columns stay within the viewport at 1366 px.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from pipelines.publish.report import fmt_amount
from pipelines.run import stages as pipeline

DAY = dt.date(2026, 11, 26)
WIDTH, HEIGHT = 1366, 768
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The published outputs of the sample day (``outputs/<date>``), run in a fresh workspace."""
    home = tmp_path_factory.mktemp("home")
    return Path(pipeline.run_all(DAY, "nightly", str(home))["output"])


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        message = "chromium and chromium-driver are not installed (bash .ci/ensure-system-packages installs them)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"):
        options.add_argument(arg)
    options.add_argument(f"--window-size={WIDTH},{HEIGHT}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
        )
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(browser: WebDriver, published: Path) -> WebDriver:
    browser.get_log("browser")  # what earlier tests left
    browser.get_log("performance")
    browser.get((published / "report.html").as_uri())
    return browser


@pytest.fixture(scope="module")
def breaks(published: Path) -> pl.DataFrame:
    return pl.read_parquet(published / "breaks.parquet")


def visible_ids(driver: WebDriver) -> list[str]:
    ids: list[str] = driver.execute_script(
        "return Array.from(document.querySelectorAll('#breaks-table tbody.brk'))"
        ".filter(b => !b.hidden).map(b => b.id.slice(4))"
    )
    return ids


def rect(driver: WebDriver, selector: str) -> dict[str, float]:
    box: dict[str, float] = driver.execute_script(
        "const r = document.querySelector(arguments[0]).getBoundingClientRect();"
        "return {left: r.left, right: r.right, top: r.top, bottom: r.bottom, width: r.width};",
        selector,
    )
    return box


def test_loads_with_no_console_error_and_money_at_risk_first(page: WebDriver, published: Path) -> None:
    assert page.title == f"Reconciliation {DAY.isoformat()}"
    errors = [e for e in page.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    summary = json.loads((published / "summary.json").read_text())
    mar = summary["money_at_risk"]
    total = page.find_element(By.ID, "risk-total")
    assert total.text == fmt_amount(mar["total_reporting_minor"], mar["reporting_currency"])
    assert rect(page, "#risk-total")["bottom"] <= HEIGHT and rect(page, "#risk .by-cc table")["top"] < HEIGHT
    # the script summed the open breaks' money at risk (BigInt minor units) to the summary's figure
    assert page.find_element(By.ID, "brk-risk").text == total.text
    assert page.find_element(By.ID, "brk-shown").text == str(summary["breaks"]["total"])


def test_the_page_fetches_nothing(page: WebDriver) -> None:
    requests = [
        json.loads(e["message"])["message"]["params"]["request"]["url"]
        for e in page.get_log("performance")
        if '"Network.requestWillBeSent"' in e["message"]
    ]
    assert requests and all(url.startswith("file://") for url in requests), requests
    assert page.execute_script("return performance.getEntriesByType('resource').length") == 0


def test_search_by_order_id_narrows_to_its_break(page: WebDriver, breaks: pl.DataFrame) -> None:
    target = breaks.filter(pl.col("break_type") == "amount_mismatch").row(0, named=True)
    order_id = target["counter_ref"]
    assert order_id.startswith("ORD-")
    assert len(visible_ids(page)) == breaks.height
    page.find_element(By.ID, "brk-search").send_keys(order_id)
    assert visible_ids(page) == [target["break_id"]]
    assert page.find_element(By.ID, "brk-shown").text == "1"
    page.find_element(By.ID, "brk-reset").click()
    assert len(visible_ids(page)) == breaks.height


def test_filters_narrow_the_table(page: WebDriver, breaks: pl.DataFrame) -> None:
    Select(page.find_element(By.CSS_SELECTOR, "select[data-filter=type]")).select_by_value("order_not_settled")
    expected = breaks.filter(pl.col("break_type") == "order_not_settled")["break_id"].to_list()
    assert sorted(visible_ids(page)) == sorted(expected) and len(expected) == 3
    Select(page.find_element(By.CSS_SELECTOR, "select[data-filter=currency]")).select_by_value("EUR")
    both = breaks.filter((pl.col("break_type") == "order_not_settled") & (pl.col("currency") == "EUR"))
    assert sorted(visible_ids(page)) == sorted(both["break_id"].to_list())


def test_a_money_at_risk_row_lists_its_breaks(page: WebDriver, breaks: pl.DataFrame) -> None:
    row = page.find_element(By.CSS_SELECTOR, "#risk table.cc tbody tr.pick")
    counterparty, currency = row.get_attribute("data-filter-counterparty"), row.get_attribute("data-filter-currency")
    row.click()
    expected = breaks.filter(
        (pl.col("status") == "open")
        & (pl.col("counterparty") == counterparty)
        & (pl.col("at_risk_currency") == currency)
    )
    assert sorted(visible_ids(page)) == sorted(expected["break_id"].to_list()) and expected.height > 0


def test_sorting_changes_the_order(page: WebDriver, breaks: pl.DataFrame) -> None:
    default = visible_ids(page)
    by_risk = breaks.sort(["at_risk_reporting_minor", "age_days", "break_id"], descending=[True, True, False])
    assert default == by_risk["break_id"].to_list()
    header = page.find_element(By.CSS_SELECTOR, "#breaks-table th[data-key=id] button")
    header.click()
    ascending = visible_ids(page)
    assert ascending == sorted(default, key=str.lower) and ascending != default
    assert page.find_element(By.CSS_SELECTOR, "#breaks-table th[data-key=id]").get_attribute("aria-sort") == "ascending"
    header.click()
    assert visible_ids(page) == ascending[::-1]
    page.find_element(By.CSS_SELECTOR, "#breaks-table th[data-key=risk] button").click()  # a figure: largest first
    assert visible_ids(page) == default


def test_a_break_opens_its_detail_with_both_files_and_lines(page: WebDriver, breaks: pl.DataFrame) -> None:
    target = breaks.filter(pl.col("break_type") == "amount_mismatch").row(0, named=True)
    body = page.find_element(By.ID, f"brk-{target['break_id']}")
    detail = body.find_element(By.CSS_SELECTOR, "tr.detail")
    assert not detail.is_displayed()
    body.find_element(By.CSS_SELECTOR, "tr.row").click()
    assert detail.is_displayed()
    assert body.find_element(By.CSS_SELECTOR, "tr.row").get_attribute("aria-expanded") == "true"
    files = [
        (s.find_element(By.CSS_SELECTOR, ".fname").text, s.find_element(By.CSS_SELECTOR, ".line").text)
        for s in detail.find_elements(By.CSS_SELECTOR, ".side")
    ]
    assert files == [
        (target["file_name"], f"line {target['line_no']}"),
        (target["counter_file_name"], f"line {target['counter_line_no']}"),
    ]
    raw = detail.find_elements(By.CSS_SELECTOR, "pre.raw")
    assert len(raw) == 2 and target["item_ref"] in raw[0].text and target["counter_ref"] in raw[1].text
    text = detail.text
    assert "order_psp_reference_exact" in text and "amount: the two sides differ" in text
    body.find_element(By.CSS_SELECTOR, "tr.row").click()
    assert not detail.is_displayed()


def test_break_id_rule_and_reason_stay_in_view_at_1366(page: WebDriver) -> None:
    inner: Any = page.execute_script("return [window.innerWidth, document.documentElement.scrollWidth]")
    assert inner[0] == WIDTH and inner[1] <= WIDTH  # no horizontal overflow
    for selector in (
        "#breaks-table tbody.brk td.c-id",
        "#breaks-table th[data-key=rule]",
        "#breaks-table th[data-key=reason]",
        "#breaks-table tbody.brk td.reason",
    ):
        box = rect(page, selector)
        assert box["left"] >= 0 and box["right"] <= WIDTH and box["width"] > 60, (selector, box)
    first_id = page.find_element(By.CSS_SELECTOR, "#breaks-table tbody.brk td.c-id code")
    assert first_id.is_displayed() and first_id.text.startswith("B")
