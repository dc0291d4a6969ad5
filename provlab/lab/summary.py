"""A pytest plugin object that follows a run for `provlab run`: live progress and a final summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

OUTCOME_STYLE = {"passed": "green", "failed": "bold red", "skipped": "yellow", "error": "bold red"}


@dataclass
class ScenarioResult:
    nodeid: str
    outcome: str
    duration: float
    evidence: str


class RunSummary:
    """Collects one row per test; shows progress while the run goes."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.results: dict[str, ScenarioResult] = {}
        self._progress = Progress(
            TextColumn("[bold]provlab[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=console,
            transient=True,
        )
        self._task: TaskID | None = None

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self._progress.start()
        self._task = self._progress.add_task("", total=len(session.items))

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        if self._task is not None:
            self._progress.update(self._task, description=nodeid.split("::")[-1])

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            outcome = report.outcome if report.when == "call" else ("skipped" if report.skipped else "error")
            evidence = dict(report.user_properties).get("provlab_evidence", "")
            self.results[report.nodeid] = ScenarioResult(
                report.nodeid, outcome, report.duration, str(evidence)
            )
        if report.when == "teardown" and self._task is not None:
            self._progress.advance(self._task)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self._progress.stop()

    def table(self) -> Table:
        table = Table(title="provlab scenarios", show_lines=False)
        table.add_column("scenario")
        table.add_column("outcome")
        table.add_column("duration", justify="right")
        table.add_column("evidence", overflow="fold")
        for result in self.results.values():
            style = OUTCOME_STYLE.get(result.outcome, "")
            table.add_row(
                result.nodeid.split("/")[-1],
                f"[{style}]{result.outcome}[/]",
                f"{result.duration:.2f} s",
                result.evidence,
            )
        return table

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for result in self.results.values():
            counts[result.outcome] = counts.get(result.outcome, 0) + 1
        return counts
