"""The run's live view and summary table (issue 18, point 5): the progress bar advances with each test, also under
`-n 2`, and the table fits the terminal with each scenario's parameter id shown as text."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from provlab.lab.summary import RunSummary, ScenarioResult

TESTS = """
import pytest

@pytest.mark.parametrize("n", [1, 2, 3])
def test_counted(n):
    assert n

def test_skipped():
    pytest.skip("nothing to see")
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_the_progress_bar_advances_with_each_test(pytester: pytest.Pytester, workers: list[str]) -> None:
    pytester.makepyfile(test_view=TESTS)
    summary = RunSummary(Console(file=io.StringIO(), width=100))
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:provlab", *workers, plugins=[summary])
    result.assert_outcomes(passed=3, skipped=1)
    assert summary.completed == 4  # under -n 2 the controller counts the workers' tests too
    assert {r.outcome for r in summary.results.values()} == {"passed", "skipped"}


def test_the_summary_table_fits_80_columns_and_shows_parameter_ids() -> None:
    out = io.StringIO()
    console = Console(file=out, width=80, color_system=None)
    summary = RunSummary(console)
    for node, outcome in (
        ("provlab/scenarios/provisioning/test_happy_path.py::test_happy_path[board-1]", "passed"),
        ("provlab/scenarios/recovery/factory_reset_by_button.yaml::factory_reset_by_button[board-2]", "failed"),
    ):
        summary.results[node] = ScenarioResult(node, outcome, 1.5, f"/tmp/ev/{node.split('::')[-1]}_", "", "board-1")
    console.print(summary.table())
    lines = out.getvalue().splitlines()
    assert lines and max(len(line) for line in lines) <= 80, out.getvalue()
    assert "test_happy_path[board-1]" in out.getvalue()  # the id is text, not swallowed as rich markup
    assert "factory_reset_by_button[board-" in out.getvalue()  # folded inside its cell, not cut off
