"""A pytest plugin object that follows a run for `provlab run`: live progress and a final summary."""

from __future__ import annotations

import contextlib
import datetime as _dt
import platform
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

import provlab
from provlab.lab.config import find_config_file, load_config
from provlab.lab.enrollment import Enrollment
from provlab.lab.journal import mask_value
from provlab.lab.lab import OPEN_LABS, Lab
from provlab.lab.report_page import BoardInfo, RunInfo, firmware_in_log, suite_of, write_report

OUTCOME_STYLE = {
    "passed": "green",
    "failed": "bold red",
    "skipped": "yellow",
    "xfailed": "yellow",
    "error": "bold red",
}
NO_TESTS_RAN = int(pytest.ExitCode.NO_TESTS_COLLECTED)
"""pytest's exit code for a run that tested nothing (5); `provlab run` uses it for skipped-only runs too."""


@dataclass
class ScenarioResult:
    nodeid: str
    outcome: str
    duration: float
    evidence: str
    reason: str = ""
    """Why it was skipped (empty otherwise)."""
    board: str = "-"
    """The board(s) the test ran on (`provlab_board` properties, comma-separated), `-` for a test without one."""
    message: str = ""
    """Why it failed: the exception's message (for a failure or an error), empty otherwise."""


class RunSummary:
    """Collects one row per test; shows progress while the run goes."""

    def __init__(self, console: Console, command: str | None = None) -> None:
        self.console = console
        self.info = RunInfo(
            started=_dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            command=command if command is not None else " ".join(sys.argv),
            provlab_version=provlab.__version__,
            python=f"{platform.python_implementation()} {platform.python_version()}",
            host=f"{platform.node()} ({platform.system()} {platform.release()}, {platform.machine()})",
        )
        """The run's environment for the report's header (labs fill in Wi-Fi, clock and boards as tests run)."""
        self._options: dict[str, str] = {}
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
        self._current = ""
        self._done = threading.Event()
        self.collected = 0
        self.deselected = 0
        self.collect_only = False

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected += len(items)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected = len(session.items)  # after -k / -m deselection
        self.collect_only = bool(session.config.option.collectonly)
        if self.collect_only:
            return
        self._start_progress(len(session.items))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """Under `-n N` the controller collects nothing itself: the workers' collections give the total."""
        if self._task is None:
            self.collected = len(ids)
            self._start_progress(len(ids))

    def _start_progress(self, total: int) -> None:
        self._progress.start()
        self._task = self._progress.add_task("", total=total)
        self._ticker = threading.Thread(target=self._tick, name="provlab-progress", daemon=True)
        self._ticker.start()

    @property
    def completed(self) -> int:
        """How many tests the progress bar counts as done."""
        if self._task is None:
            return 0
        return int(self._progress.tasks[0].completed)

    def _tick(self) -> None:
        while not self._done.wait(0.25):
            try:
                self._show()
            except Exception as exc:  # the live view is a convenience: say so once and stop it, never fail the run
                self._progress.console.print(f"[yellow]live progress view stopped: {exc!r}[/]")
                return

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self._current = nodeid.split("::")[-1]
        self._show()

    def pytest_runtest_call(self, item: pytest.Item) -> None:
        self._show()

    def _show(self) -> None:
        """Current scenario and, while it runs, each board's state (refreshed by a timer)."""
        if self._task is None:
            return
        boards = [f"{b.name}:{b.state.value if b.state else '-'}" for lab in list(OPEN_LABS) for b in lab.boards]
        text = escape(self._current) + (f"  [dim]{escape(' '.join(boards))}[/]" if boards else "")
        self._progress.update(self._task, description=text)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """The command line's Wi-Fi and clock, for a header whose labs ran elsewhere (`-n 2`)."""
        wifi, clock = session.config.getoption("wifi", None), session.config.getoption("clock", None)
        option = session.config.getoption("provlab_config", None)
        with contextlib.suppress(ValueError, OSError):  # a bad config is the plugin's error to report
            config = load_config(Path(option) if option else find_config_file(session.config.rootpath))
            wifi, clock = wifi or config.wifi, clock or config.clock
        self._options = {"wifi": str(wifi or ""), "clock": str(clock or "")}

    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> None:
        """While a test's lab is still open (before teardown), note its Wi-Fi, clock and boards."""
        if call.when == "call":
            for lab in list(OPEN_LABS):
                self._note_lab(lab)

    def _note_lab(self, lab: Lab) -> None:
        info = self.info
        wifi = lab.config.wifi
        info.wifi = wifi if info.wifi in ("", wifi) else f"{info.wifi}, {wifi}"
        clock = lab.clock.describe()
        info.clock = clock if info.clock in ("", clock) or clock in info.clock else f"{info.clock}, {clock}"
        for board in lab.boards:
            emulated = board.emulated
            mac = emulated.mac_text if emulated is not None else ""
            version = board.info.fw_ver or firmware_in_log(lab.artifacts, board.name)
            info.boards.setdefault(
                f"{board.name} {mac}",
                BoardInfo(
                    board.name,
                    "emulated" if emulated is not None else "real",
                    mac,
                    f"{board.profile_name} {version}".strip(),
                    board.serial.url,
                ),
            )

    def _note_boards(self, report: pytest.TestReport, evidence: str) -> None:
        """The boards a test's JUnit properties name, for labs this process did not see (xdist workers)."""
        props: dict[str, str] = {}
        for key, value in [*report.user_properties, ("provlab_board", "")]:
            if key == "provlab_board" and props.get("provlab_board"):
                name, mac = props["provlab_board"], props.get("provlab_board_mac", "")
                if not any(b.name == name and b.mac == mac for b in self.info.boards.values()):
                    version = firmware_in_log(Path(evidence), name) if evidence else ""
                    firmware = f"{props.get('provlab_board_profile', '')} {version}".strip()
                    kind, port = props.get("provlab_board_kind", ""), props.get("provlab_board_port", "")
                    self.info.boards[f"{name} {mac}"] = BoardInfo(name, kind, mac, firmware, port)
                props = {}
            props[str(key)] = str(value)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or (report.when == "setup" and not report.passed):
            outcome: str = report.outcome if report.when == "call" else ("skipped" if report.skipped else "error")
            if report.skipped and hasattr(report, "wasxfail"):
                outcome = "xfailed"  # it ran, and failed as expected
            evidence = dict(report.user_properties).get("provlab_evidence", "")
            reason = _skip_reason(report) if outcome == "skipped" else ""
            board = _boards_of(report)
            self._note_boards(report, str(evidence))
            message = _failure_message(report) if outcome in ("failed", "error") else ""
            self.results[report.nodeid] = ScenarioResult(
                report.nodeid, outcome, report.duration, str(evidence), reason, board, message
            )
        if report.when == "teardown" and self._task is not None:
            self._progress.advance(self._task)

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        self._done.set()
        self._progress.stop()

    def table(self) -> Table:
        """One row per test, as wide as the terminal at most: the scenario with its parameter id
        (`test_x[board-1]`, plain text, never read as markup) folds; the evidence folder is shown when there
        is room for it (`report.html` links every test's folder anyway)."""
        width = self.console.width
        table = Table(title="provlab scenarios", show_lines=False, expand=False)
        table.add_column("suite", style="dim", overflow="ellipsis", max_width=14, no_wrap=True)
        table.add_column("scenario", overflow="fold", ratio=3, min_width=16)
        table.add_column("board", overflow="fold", max_width=12)
        table.add_column("outcome", no_wrap=True)
        table.add_column("duration", justify="right", no_wrap=True)
        with_evidence = width >= 140
        if with_evidence:
            table.add_column("evidence", overflow="fold", ratio=2)
        for result in self.results.values():
            style = OUTCOME_STYLE.get(result.outcome, "")
            row = [
                Text(suite_of(result.nodeid)),
                Text(result.nodeid.split("::")[-1]),
                Text(result.board),
                Text(result.outcome, style=style),
                Text(f"{result.duration:.2f} s"),
            ]
            if with_evidence:
                row.append(Text(Path(result.evidence).name if result.evidence else ""))
            table.add_row(*row)
        return table

    def write_html(self, path: Path, title: str = "provlab report") -> Path:
        """The self-contained HTML report (`report_page.py`): the run's header, one row per test, links
        relative to the report's folder."""
        self.info.wifi = self.info.wifi or self._options.get("wifi", "")
        self.info.clock = self.info.clock or self._options.get("clock", "")
        return write_report(list(self.results.values()), self.info, path, title)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for result in self.results.values():
            counts[result.outcome] = counts.get(result.outcome, 0) + 1
        return counts

    def nothing_tested(self, exit_code: int) -> str | None:
        """Why this run tested nothing, or None when a scenario ran (or the run failed, or only collected).

        A run where every scenario was skipped or deselected is not green: `provlab run` exits with
        pytest's 'no tests ran' code (`NO_TESTS_RAN`) and prints this reason.
        """
        if self.collect_only or exit_code not in (0, NO_TESTS_RAN):
            return None
        results = list(self.results.values())
        if any(result.outcome != "skipped" for result in results):
            return None
        if results:
            reasons = Counter(result.reason or "no reason given" for result in results)
            listed = "; ".join(f"{reason} ({count}×)" for reason, count in reasons.most_common())
            return f"every scenario was skipped: {listed}"
        if self.deselected:
            return f"every scenario was deselected ({self.deselected} by -k / -m / --deselect)"
        return "no scenario was collected"


def _boards_of(report: pytest.TestReport) -> str:
    """The boards a test recorded (`provlab_board` JUnit properties, in order), or `-` when it had none."""
    names = [str(value) for key, value in report.user_properties if key == "provlab_board"]
    return ", ".join(dict.fromkeys(names)) or "-"


def _failure_message(report: pytest.TestReport) -> str:
    """What the test failed with: the exception's message (`E …` lines), without pytest's traceback."""
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", None)
    if isinstance(message, str) and message:
        return message
    text = str(report.longrepr or "").strip()
    errors = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    if errors:
        return "\n".join(errors)
    return text.splitlines()[-1] if text else ""


def _skip_reason(report: pytest.TestReport) -> str:
    """The reason a skipped report carries (`pytest.skip("…")`, a skip marker, a missing capability)."""
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr or "")


def step_table(enrollment: Enrollment) -> Table:
    """The phone's steps as a table: name, outcome, duration, what came back (secrets masked)."""
    table = Table(title=f"provisioning {enrollment.board_ssid} as {enrollment.user}")
    table.add_column("step")
    table.add_column("outcome")
    table.add_column("duration", justify="right")
    table.add_column("detail", overflow="fold")
    for step in enrollment.steps:
        style = "green" if step.outcome.value == "ok" else "bold red"
        detail = step.error or ", ".join(f"{k}={v}" for k, v in mask_value("", step.response).items() if k != "body")
        table.add_row(step.name, f"[{style}]{step.outcome.value}[/]", f"{step.duration * 1000:.1f} ms", detail)
    return table
