"""What the operator sees: one live tile per slot (unit, phase, elapsed, PASS/FAIL in colour), the running count
and first-pass yield, and a summary at the end; plain lines when there is no terminal (CI, a pipe)."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from provlab.station.record import UnitOutcome, UnitRecord

if TYPE_CHECKING:
    from provlab.station.plan import Plan
    from provlab.station.runner import StationResult

COLOURS = {
    UnitOutcome.PASS: "green",
    UnitOutcome.FAIL: "red",
    UnitOutcome.ERROR: "yellow",
    UnitOutcome.ABORTED: "magenta",
}


class OperatorView(Protocol):
    def started(self, slots: int, plan: Plan, station_id: str) -> None: ...
    def unit_started(self, slot: int, dut_id: str, attempt: int) -> None: ...
    def phase(self, slot: int, name: str) -> None: ...
    def unit_finished(self, record: UnitRecord) -> None: ...
    def rejected(self, message: str) -> None: ...
    def message(self, text: str) -> None: ...
    def finished(self, result: StationResult) -> None: ...


@dataclass
class Tally:
    """The running count: tests, passes, and first-pass yield (units whose first test passed)."""

    tested: int = 0
    passed: int = 0
    failed: int = 0
    first_tests: int = 0
    first_passes: int = 0

    def add(self, record: UnitRecord) -> None:
        self.tested += 1
        self.passed += record.outcome is UnitOutcome.PASS
        self.failed += record.outcome is not UnitOutcome.PASS
        if record.attempt == 1:
            self.first_tests += 1
            self.first_passes += record.outcome is UnitOutcome.PASS

    @property
    def first_pass_yield(self) -> float | None:
        return self.first_passes / self.first_tests if self.first_tests else None

    def line(self) -> str:
        fpy = "-" if self.first_pass_yield is None else f"{self.first_pass_yield:.1%}"
        return f"tested {self.tested}  pass {self.passed}  fail {self.failed}  first-pass yield {fpy}"


def summary_lines(result: StationResult) -> list[str]:
    tally = Tally()
    for record in result.records:
        tally.add(record)
    lines = [tally.line()]
    for record in result.records:
        if record.outcome is not UnitOutcome.PASS:
            outcome = record.outcome.value if record.outcome else "?"
            lines.append(
                f"  {record.dut_id} #{record.attempt} slot {record.slot}: {outcome}"
                f" at {record.first_failure}; evidence {record.evidence}"
            )
    if result.out_of_retests:
        lines.append(f"out of retests (rejects): {', '.join(result.out_of_retests)}")
    if result.station_errors:
        lines.append(f"station errors (not the units' fault; test again): {', '.join(result.station_errors)}")
    if result.junit is not None:
        lines.append(f"junit: {result.junit}")
    return lines


class PlainView:
    """One line per event, for logs and CI."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.tally = Tally()
        self._lock = threading.Lock()

    def _say(self, text: str) -> None:
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()

    def started(self, slots: int, plan: Plan, station_id: str) -> None:
        self._say(f"station {station_id}: plan {plan.name} {plan.version} on {slots} slot(s)")

    def unit_started(self, slot: int, dut_id: str, attempt: int) -> None:
        self._say(f"slot {slot}: {dut_id} test #{attempt} started")

    def phase(self, slot: int, name: str) -> None:
        pass  # a line per phase would drown the results on a 16-up station

    def unit_finished(self, record: UnitRecord) -> None:
        self.tally.add(record)
        outcome = record.outcome.value if record.outcome else "?"
        where = f" at {record.first_failure}" if record.outcome is not UnitOutcome.PASS else ""
        self._say(
            f"slot {record.slot}: {record.dut_id} {outcome}{where} in {record.cycle_s:.1f} s  [{self.tally.line()}]"
        )

    def rejected(self, message: str) -> None:
        self._say(f"scanner: {message}")

    def message(self, text: str) -> None:
        self._say(text)

    def finished(self, result: StationResult) -> None:
        for line in summary_lines(result):
            self._say(line)


@dataclass
class _Tile:
    dut_id: str = "-"
    phase: str = "waiting"
    started: float | None = None
    outcome: UnitOutcome | None = None
    attempt: int = 1


class LiveView:
    """Rich live tiles, one per slot, refreshed four times a second."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self.tally = Tally()
        self.tiles: dict[int, _Tile] = {}
        self.notes: list[str] = []
        self.title = ""
        self._lock = threading.Lock()
        self._live: Live | None = None

    def started(self, slots: int, plan: Plan, station_id: str) -> None:
        self.title = f"{station_id} · {plan.name} {plan.version}"
        self.tiles = {slot: _Tile() for slot in range(1, slots + 1)}
        self._live = Live(self, console=self.console, refresh_per_second=4, transient=False)
        self._live.start()

    def __rich__(self) -> Group:
        with self._lock:
            grid = Table.grid(padding=(0, 1))
            columns = min(4, max(1, len(self.tiles)))
            for _ in range(columns):
                grid.add_column()
            panels = [self._panel(slot, tile) for slot, tile in self.tiles.items()]
            for row in range(0, len(panels), columns):
                grid.add_row(*panels[row : row + columns])
            notes = [Text(n, style="yellow") for n in self.notes[-3:]]
            return Group(Text(self.title, style="bold"), grid, Text(self.tally.line()), *notes)

    @staticmethod
    def _panel(slot: int, tile: _Tile) -> Panel:
        colour = COLOURS.get(tile.outcome, "cyan") if tile.outcome else "cyan"
        elapsed = f"{time.monotonic() - tile.started:5.1f} s" if tile.started and tile.outcome is None else ""
        state = tile.outcome.value if tile.outcome else tile.phase
        body = Text(f"{tile.dut_id}\n", style="bold")
        body.append(f"{state:<16}{elapsed}", style=colour)
        return Panel(
            body,
            title=f"slot {slot}" + (f" #{tile.attempt}" if tile.attempt > 1 else ""),
            width=30,
            border_style=colour,
        )

    def unit_started(self, slot: int, dut_id: str, attempt: int) -> None:
        with self._lock:
            self.tiles[slot] = _Tile(dut_id, "starting", time.monotonic(), None, attempt)

    def phase(self, slot: int, name: str) -> None:
        with self._lock:
            self.tiles[slot].phase = name

    def unit_finished(self, record: UnitRecord) -> None:
        with self._lock:
            self.tally.add(record)
            tile = self.tiles[record.slot]
            tile.outcome = record.outcome
            tile.phase = record.first_failure or "done"

    def rejected(self, message: str) -> None:
        with self._lock:
            self.notes.append(f"scanner: {message}")

    def message(self, text: str) -> None:
        with self._lock:
            self.notes.append(text)

    def finished(self, result: StationResult) -> None:
        if self._live is not None:
            self._live.stop()
        for line in summary_lines(result):
            self.console.print(line)


def view_for(stream: TextIO | None = None) -> OperatorView:
    """Live tiles on a terminal, plain lines otherwise."""
    stream = stream or sys.stdout
    if stream.isatty():
        return LiveView(Console(file=stream))
    return PlainView(stream)
