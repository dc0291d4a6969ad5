"""report.html and timeline.html as a user sees them, in headless Chromium (one session for the module).

A real `provlab run` of two suites (in suite_a one failing, one passing, one skipped scenario on an emulated
board; in suite_b one passing) leaves the pages; the tests open them from a copy of the run's folder in another
place, so every link must be relative. Screenshots go to each test's `tmp_path` (listed as the `screenshot` JUnit
property). Chromium runs with every non-loopback request sent to a proxy that is not there (tests/browser.py),
so a page that reaches off the host logs a load error, which `script_errors` reports.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from browser import open_browser, screenshot, script_errors

import provlab
from provlab.lab.report_page import Row, RunInfo, write_report
from provlab.lab.summary import ScenarioResult
from provlab.lab.timeline import write_timeline

SCENARIOS = """
import pytest

def test_reaches_running_alone(board):
    board.expect_state("RUNNING", timeout=5)  # nobody provisions it: fails after 5 s of device time

def test_happy(board, phone):
    phone.provision(board)
    board.expect_state("RUNNING", timeout=60)

def test_not_today(lab):
    pytest.skip("nothing to check here")
"""
OTHER_SUITE = """
def test_boots_into_wait_config(board):
    board.expect_state("WAIT_CONFIG", timeout=30)
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from open_browser()


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The evidence of one `provlab run`, copied to another folder (as a CI artifact is)."""
    work = tmp_path_factory.mktemp("run")
    (work / "suite_a").mkdir()
    (work / "suite_a" / "test_pages.py").write_text(SCENARIOS)
    (work / "suite_b").mkdir()
    (work / "suite_b" / "test_other.py").write_text(OTHER_SUITE)
    proc = subprocess.run(
        [sys.executable, "-m", "provlab", "run", "suite_a", "suite_b", "--artifacts", "ev"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr  # one scenario fails
    moved = tmp_path_factory.mktemp("copied") / "evidence"
    shutil.copytree(work / "ev", moved)
    shutil.rmtree(work / "ev")  # the original is gone: only relative links still work
    return moved


def _visible_rows(browser: Any) -> dict[str, str]:
    from selenium.webdriver.common.by import By

    rows = browser.find_elements(By.CSS_SELECTOR, "#results tbody tr.result")
    shown = [row for row in rows if row.is_displayed()]
    return {row.find_element(By.CSS_SELECTOR, ".name").text: row.get_attribute("data-outcome") for row in shown}


def _header(browser: Any) -> dict[str, str]:
    """The report header's facts as shown: `date`, `command`, `provlab`, `Python`, `host`, `Wi-Fi`, `clock`."""
    from selenium.webdriver.common.by import By

    run = browser.find_element(By.ID, "run")
    names = [dt.text for dt in run.find_elements(By.TAG_NAME, "dt")]
    return dict(zip(names, [dd.text for dd in run.find_elements(By.TAG_NAME, "dd")], strict=True))


def _durations(browser: Any) -> list[float]:
    """The duration of each shown row, top to bottom (seconds, as the cell's `data-value`)."""
    from selenium.webdriver.common.by import By

    cells = browser.find_elements(By.CSS_SELECTOR, "#results tbody tr.result td.num")
    return [float(cell.get_attribute("data-value")) for cell in cells if cell.is_displayed()]


def test_the_report_shows_the_failure_filters_sorts_and_its_links_resolve(
    browser: Any, run_folder: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    report = run_folder / "report.html"
    browser.get(report.as_uri())
    assert browser.title == "provlab report"
    header = _header(browser)
    assert header["command"] == "provlab run suite_a suite_b --artifacts ev"
    assert header["clock"] == "virtual lab clock" and header["Wi-Fi"] == "sim"
    started = datetime.fromisoformat(header["date"])
    assert started.tzinfo is not None  # a date a reader elsewhere can place
    assert started.timestamp() <= report.stat().st_mtime  # when the run began: before its report was written
    assert header["provlab"] == provlab.__version__
    assert header["Python"] == f"{platform.python_implementation()} {platform.python_version()}"
    assert header["host"].startswith(f"{platform.node()} ({platform.system()} ")
    boards = browser.find_element(By.ID, "boards").text
    assert "board-1 emulated 24:6F:28:AA:00:04 edgent-esp32 0.1.0" in boards

    failed = browser.find_element(By.CSS_SELECTOR, "tr.result.failed")
    message = failed.find_element(By.CSS_SELECTOR, ".failure .msg")
    assert message.is_displayed()
    assert "RUNNING" in message.text, message.text
    assert "within 5 s (device time" in failed.text and "last 20 lines from the board" in failed.text
    screenshot(browser, request, tmp_path / "report.png")

    assert _visible_rows(browser) == {
        "test_reaches_running_alone": "failed",
        "test_happy": "passed",
        "test_not_today": "skipped",
        "test_boots_into_wait_config": "passed",
    }
    browser.find_element(By.CSS_SELECTOR, "input[name=outcome][value=passed]").click()
    assert set(_visible_rows(browser)) == {"test_reaches_running_alone", "test_not_today"}
    assert browser.find_element(By.ID, "shown").text == "2 of 4 shown"
    Select(browser.find_element(By.ID, "f-board")).select_by_value("-")  # the test without a board
    assert set(_visible_rows(browser)) == {"test_not_today"}
    Select(browser.find_element(By.ID, "f-board")).select_by_value("*")
    browser.find_element(By.CSS_SELECTOR, "input[name=outcome][value=passed]").click()
    suite = Select(browser.find_element(By.ID, "f-suite"))
    assert [option.get_attribute("value") for option in suite.options] == ["*", "suite_a", "suite_b"]
    suite.select_by_value("suite_b")
    assert _visible_rows(browser) == {"test_boots_into_wait_config": "passed"}
    assert browser.find_element(By.ID, "shown").text == "1 of 4 shown"
    suite.select_by_value("suite_a")
    assert set(_visible_rows(browser)) == {"test_reaches_running_alone", "test_happy", "test_not_today"}
    suite.select_by_value("*")
    browser.find_element(By.ID, "f-text").send_keys("happy")
    assert set(_visible_rows(browser)) == {"test_happy"}
    browser.find_element(By.ID, "f-text").clear()  # clear() sends no input event: send one
    browser.execute_script("document.getElementById('f-text').dispatchEvent(new Event('input'))")
    assert len(_visible_rows(browser)) == 4

    browser.find_element(By.CSS_SELECTOR, "#results th[data-col='1']").click()  # sort by scenario name
    names = list(_visible_rows(browser))
    assert names == sorted(names)
    browser.find_element(By.CSS_SELECTOR, "#results th[data-col='1']").click()
    assert list(_visible_rows(browser)) == sorted(names, reverse=True)
    browser.find_element(By.CSS_SELECTOR, "#results th[data-col='4']").click()  # sort by duration
    durations = _durations(browser)
    assert durations == sorted(durations)
    browser.find_element(By.CSS_SELECTOR, "#results th[data-col='4']").click()
    assert _durations(browser) == sorted(durations, reverse=True)
    assert script_errors(browser) == []

    links = {a.text: a.get_attribute("href") for a in failed.find_elements(By.CSS_SELECTOR, "td.links a")}
    assert set(links) == {"timeline", "folder", "steps", "board-1 log"}
    for href in links.values():
        assert href.startswith(run_folder.as_uri()), href  # relative: resolved inside the copied folder
    browser.get(links["timeline"])
    assert browser.title.startswith("provlab timeline")
    browser.get(links["board-1 log"])
    assert "INIT => WAIT_CONFIG" in browser.find_element(By.TAG_NAME, "body").text
    browser.get(links["folder"])
    assert "timeline.html" in browser.find_element(By.TAG_NAME, "body").text
    assert script_errors(browser) == []


def test_the_timeline_shows_lanes_the_failure_zooms_and_filters(
    browser: Any, run_folder: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from selenium.webdriver.common.by import By

    browser.get((run_folder / "test_reaches_running_alone" / "timeline.html").as_uri())
    failures = browser.find_element(By.ID, "failures")
    assert "expect_state on board-1 gave up" in failures.text and "within 5 s" in failures.text
    lanes = [lane.get_attribute("data-lane") for lane in browser.find_elements(By.CSS_SELECTOR, ".lane")]
    assert lanes[0] == "air" and "board-1" in lanes
    mark = browser.find_element(By.CSS_SELECTOR, ".fail-mark")
    assert mark.is_displayed() and "expect_state on board-1" in mark.text
    band = browser.find_element(By.CSS_SELECTOR, ".lane[data-lane='board-1'] .band[title='WAIT_CONFIG']")
    assert band.is_displayed()
    banner = browser.find_element(By.CSS_SELECTOR, "#rows details")
    assert banner.get_attribute("open") is None and "boot banner" in banner.text
    assert "Free mem" not in banner.text  # folded: the banner's lines are not shown
    screenshot(browser, request, tmp_path / "timeline.png")

    before = browser.find_element(By.ID, "window").text
    width = band.size["width"]
    browser.find_element(By.ID, "zoom-in").click()
    assert browser.find_element(By.ID, "window").text != before
    assert not band.is_displayed() or band.size["width"] != width
    browser.find_element(By.ID, "zoom-fit").click()
    assert browser.find_element(By.ID, "window").text == before

    air_rows = browser.find_elements(By.CSS_SELECTOR, "#rows tr[data-lane='air']")
    assert air_rows and air_rows[0].is_displayed()
    browser.find_element(By.CSS_SELECTOR, "input[name=lane][value=air]").click()
    assert not browser.find_element(By.CSS_SELECTOR, ".lane[data-lane='air']").is_displayed()
    assert not any(row.is_displayed() for row in air_rows)
    browser.find_element(By.ID, "problems").click()
    shown = [row for row in browser.find_elements(By.CSS_SELECTOR, "#rows tr") if row.is_displayed()]
    assert shown and all("error" in row.get_attribute("class") for row in shown)
    assert any("expect_state" in row.text for row in shown)

    step_rows = [row for row in shown if row.find_element(By.CSS_SELECTOR, "td.raw a").text.startswith("steps.jsonl:")]
    assert [row.find_element(By.CSS_SELECTOR, ".what").text for row in step_rows] == ["expect_state"]
    raw = step_rows[0].find_element(By.CSS_SELECTOR, "td.raw a")
    line = raw.text.removeprefix("steps.jsonl:")
    assert raw.get_attribute("href").endswith(f"/steps.jsonl.html#L{line}")  # the line view, at the row's line
    browser.get(raw.get_attribute("href"))
    target = browser.find_element(By.CSS_SELECTOR, "tr:target")
    assert target.get_attribute("id") == f"L{line}" and '"name": "expect_state"' in target.text
    assert script_errors(browser) == []


def test_a_raw_link_lands_on_its_line(browser: Any, tmp_path: Path) -> None:
    """A long board log: the row's link opens the log's line view scrolled to that line, highlighted, and the
    view links the raw file itself."""
    from selenium.webdriver.common.by import By

    lines = [f"2026-11-26T04:00:{n // 100:02d}.{n % 100:02d}0000+00:00 [{n * 10}] line {n}" for n in range(1, 401)]
    (tmp_path / "board-1.log").write_text("\n".join(lines) + "\n")
    browser.get(write_timeline(tmp_path).as_uri())
    link = browser.find_element(By.CSS_SELECTOR, "#e349 td.raw a")
    assert link.text == "board-1.log:350"
    link.click()
    assert browser.current_url == (tmp_path / "board-1.log.html").as_uri() + "#L350"
    target = browser.find_element(By.CSS_SELECTOR, "tr:target")
    assert target.get_attribute("id") == "L350" and target.text.endswith("[3500] line 350")
    assert target.value_of_css_property("background-color") != "rgba(0, 0, 0, 0)"  # highlighted
    top, bottom = browser.execute_script(
        "const box = arguments[0].getBoundingClientRect(); return [box.top, box.bottom - window.innerHeight];", target
    )
    assert top > 0 and bottom < 0, (top, bottom)  # on screen: the view scrolled to it (its top is ~line 320)
    assert browser.execute_script("return window.scrollY") > 0
    browser.find_element(By.LINK_TEXT, "the raw file").click()
    assert browser.current_url == (tmp_path / "board-1.log").as_uri()
    assert "[3500] line 350" in browser.find_element(By.TAG_NAME, "body").text
    assert script_errors(browser) == []


def test_a_happy_run_s_timeline_has_a_lane_per_stream_in_order(run_folder: Path) -> None:
    """Air first, then the board, the phone and the cloud (as `lane_order` promises), read off the page."""
    page = (run_folder / "test_happy" / "timeline.html").read_text()
    lanes = re.findall(r'<div class="lane" data-lane="([^"]+)">', page)
    assert [lane for lane in lanes if lane != "lab"] == ["air", "board-1", "phone", "cloud"]


def test_the_report_sorts_durations_as_numbers(browser: Any, tmp_path: Path) -> None:
    """10 s after 2 s (as text, "10.00 s" would sort before "2.00 s")."""
    from selenium.webdriver.common.by import By

    rows: list[Row] = [ScenarioResult(f"suite/test_s.py::test_{s}", "passed", s, "") for s in (2.0, 10.0, 0.5, 100.0)]
    report = write_report(rows, RunInfo(), tmp_path / "report.html")
    browser.get(report.as_uri())
    header = browser.find_element(By.CSS_SELECTOR, "#results th[data-col='4']")
    header.click()
    assert _durations(browser) == [0.5, 2.0, 10.0, 100.0]
    assert [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "td.num")] == [
        "0.50 s",
        "2.00 s",
        "10.00 s",
        "100.00 s",
    ]
    header.click()
    assert _durations(browser) == [100.0, 10.0, 2.0, 0.5]
    assert script_errors(browser) == []


def test_a_page_that_reaches_off_the_host_logs_an_error(browser: Any, tmp_path: Path) -> None:
    """What makes every `script_errors(...) == []` above also mean "nothing left loopback": a request to another
    host goes to the browser's absent proxy and fails, with the URL, in the log (and never reaches that host)."""
    from selenium.webdriver.support.ui import WebDriverWait

    page = tmp_path / "reaches-out.html"
    page.write_text(
        '<!doctype html><html><head><link rel="stylesheet" href="https://provlab.invalid/style.css"></head>'
        '<body><img src="http://provlab.invalid/pixel.png"></body></html>'
    )
    browser.get(page.as_uri())
    errors: list[str] = []
    wanted = ("https://provlab.invalid/style.css", "http://provlab.invalid/pixel.png")

    def both_logged(driver: Any) -> bool:  # a failed load may reach the log just after the page's load event
        errors.extend(script_errors(driver))
        return all(any(url in line for line in errors) for url in wanted)

    WebDriverWait(browser, 20).until(both_logged, f"{wanted} in the browser's log")
    for url in wanted:
        assert any(url in line and "ERR_PROXY_CONNECTION_FAILED" in line for line in errors), errors
