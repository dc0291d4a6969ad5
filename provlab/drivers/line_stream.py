"""A board's serial output as a waitable stream of parsed lines, and what that stream says about the board.

Producers (a serial reader thread, an emulated board's in-memory port) call `add()` with each complete line;
the stream reads it in its log format (`protocol.log_formats`: `auto` unless a board says which family it
runs), keeps `state`, `last_error`, `info`, `boots` and the console prompt positions current, and wakes
everyone waiting. `wait_until` waits in device time (scaled by the lab clock) and reports what was awaited, the
tail and the log file on timeout. A waiter is woken by the producer that hands over a line, so on a virtual lab
clock no device time passes between the line and the driver going on.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from provlab.clock.base import LabClock, Waiter
from provlab.clock.wall import WallClock
from provlab.drivers.device_info import DeviceInfo
from provlab.drivers.serial_errors import ExpectTimeout
from provlab.protocol.console import ConsoleReplyError, parse_devinfo
from provlab.protocol.log_formats import AUTO, EdgentStarted, LogFormat, LogReader
from provlab.protocol.serial_log import (
    ApSsid,
    DeviceBanner,
    LastError,
    LibraryBanner,
    LogEvent,
    LogLine,
    NcpState,
    RomBoot,
    StateChange,
)
from provlab.protocol.states import EdgentState

__tracebackhide__ = True  # pytest shows a scenario's failure without provlab's own frames (--fulltrace shows them)

T = TypeVar("T")
TAIL_LINES = 20

Problem = Callable[[], "tuple[BaseException | None, str | None]"]
"""Asked while waiting: (an error to raise now, a note for the timeout message), e.g. about a lost port."""


@dataclass(frozen=True)
class ReceivedLine:
    """One line as the host received it."""

    host_time: float
    """`time.time()` when the chunk that completed the line arrived."""
    line: LogLine
    event: LogEvent | None


def _no_problem() -> tuple[BaseException | None, str | None]:
    return None, None


MIN_WALL_WAIT_S = 2.0
"""The shortest wall-clock wait of an expect with a non-zero timeout (see `LineStream.wait_until`)."""


class LineStream:
    """Every line a board printed since the driver opened it, with the facts they state."""

    def __init__(
        self,
        *,
        time_scale: float = 1.0,
        log_path: Path | None = None,
        clock: LabClock | None = None,
        log_format: LogFormat = AUTO,
    ) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale}")
        self.clock: LabClock = clock or WallClock(time_scale)
        self.time_scale = self.clock.scale
        self.log_path = log_path
        self._waiters: list[Waiter] = []
        self.problem: Problem = _no_problem
        self.listeners: list[Callable[[ReceivedLine], None]] = []
        self._cond = threading.Condition()
        self._lines: list[ReceivedLine] = []
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._prompts: list[int] = []
        self._in_rom = False
        self.state: EdgentState | None = None
        self.last_error: int | None = None
        self.info = DeviceInfo()
        self.boots = 0
        self.bytes_received = 0
        self.boot_index: int | None = None
        """Index of the first line of the latest boot seen (None: no boot seen since opening)."""
        self._reader = LogReader(log_format)

    @property
    def log_format(self) -> LogFormat:
        """How lines are read (`auto`: Arduino and ESP-IDF Edgent lines alike)."""
        return self._reader.format

    @log_format.setter
    def log_format(self, fmt: LogFormat) -> None:
        with self._cond:
            self._reader.format = fmt

    # --- producing ---------------------------------------------------------------------------------
    def add(self, raw: str, now: float, shown: str | None = None) -> ReceivedLine:
        """Add one complete line (terminator removed); `shown` is its masked form for the tail."""
        with self._cond:
            read = self._reader.read(raw)
            event = read.event
            if isinstance(event, NcpState) and event.edgent is not None:  # the line names only the new state
                event = StateChange(self.state or EdgentState.INIT, event.edgent, line=read.line)
            item = ReceivedLine(now, read.line, event)
            index = len(self._lines)
            if raw.startswith(">") and (not self._prompts or self._prompts[-1] != index):
                self._prompts.append(index)
            self._update(item, index)
            self._lines.append(item)
            self._tail.append(raw if shown is None else shown)
            self._wake_waiters()
        for listener in list(self.listeners):
            listener(item)
        return item

    def prompt_pending(self) -> None:
        """The console prompt `>` is on the current, still unterminated line."""
        with self._cond:
            index = len(self._lines)
            if not self._prompts or self._prompts[-1] != index:
                self._prompts.append(index)
                self._wake_waiters()

    def count_bytes(self, count: int) -> None:
        """`count` more bytes arrived (their complete lines were added first)."""
        with self._cond:
            self.bytes_received += count
            self._wake_waiters()

    def note(self, text: str) -> None:
        """A host-side note (port lost/back) for the tail shown in failure messages."""
        with self._cond:
            self._tail.append(text)
            self._wake_waiters()

    def update(self, change: Callable[[], None]) -> None:
        """Run `change` with the stream locked, then wake waiters (for facts kept beside the lines)."""
        with self._cond:
            change()
            self._wake_waiters()

    def wake(self) -> None:
        """Make waiters look at `problem` again."""
        with self._cond:
            self._wake_waiters()

    def _wake_waiters(self) -> None:
        """Wake every waiting driver (the stream is locked)."""
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.wake()

    def _update(self, item: ReceivedLine, index: int) -> None:
        event = item.event
        if isinstance(event, RomBoot):
            if not self._in_rom:
                self._new_boot(index)
            self._in_rom = True
        elif isinstance(event, LibraryBanner):
            if not self._in_rom:
                self._new_boot(index)
            self._in_rom = False
            self.info = self.info.with_library_banner(event)
        elif isinstance(event, DeviceBanner):
            self.info = self.info.with_banner_row(event)
        elif isinstance(event, (EdgentStarted, ApSsid)):  # ESP-IDF Edgent's start line; old firmware's AP SSID
            name = event.device if isinstance(event, EdgentStarted) else event.ssid
            self.info = self.info.with_banner_row(DeviceBanner("Device", name, line=event.line))
        elif isinstance(event, StateChange):
            self._in_rom = False
            self.state = event.new
        elif isinstance(event, LastError):
            self.last_error = event.code
        elif event is None and item.line.text.lstrip(">").startswith('{"name":'):
            with contextlib.suppress(ConsoleReplyError):
                self.info = self.info.with_devinfo(parse_devinfo(item.line.text))

    def _new_boot(self, index: int) -> None:
        self.boots += 1
        self.boot_index = index
        self.state = EdgentState.INIT
        self.info = self.info.after_reboot()

    # --- reading -----------------------------------------------------------------------------------
    def mark(self) -> int:
        """A position in the stream; `since=mark` only looks at lines after it."""
        with self._cond:
            return len(self._lines)

    def lines(self, since: int = 0) -> list[ReceivedLine]:
        with self._cond:
            return self._lines[since:]

    def tail(self) -> list[str]:
        with self._cond:
            return list(self._tail)

    def prompt_after(self, index: int) -> int | None:
        """The position of the first console prompt after line `index`, or None."""
        with self._cond:
            return next((p for p in self._prompts if p > index), None)

    def wait_until(self, what: str, check: Callable[[], T | None], timeout: float) -> T:
        """Wait until `check()` (called with the stream locked) returns a value; device-time timeout on the
        lab clock.

        On a wall clock the wait is never shorter than `MIN_WALL_WAIT_S` of wall time: at small time scales
        a device-time budget can be a few milliseconds, less than the host needs to schedule the emulator's
        work when it is loaded. The virtual clock needs no floor. A timeout of 0 stays a poll.
        """
        deadline = self.clock.deadline(timeout, MIN_WALL_WAIT_S if timeout > 0 else 0.0)
        while True:
            with self._cond:
                found = check()
                if found is not None:
                    return found
                error, note = self.problem()
                if error is not None:
                    raise error
                if deadline.expired():
                    raise ExpectTimeout(
                        what, timeout, list(self._tail), self.log_path, note=note, budget=self.clock.budget(timeout)
                    )
                waiter = deadline.waiter()
                self._waiters.append(waiter)
            waiter.wait()
            with self._cond:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def scan(self, what: str, match: Callable[[ReceivedLine], bool], timeout: float, since: int | None) -> ReceivedLine:
        """The first line from `since` (default: the start) for which `match` holds."""
        position = [0 if since is None else since]

        def check() -> ReceivedLine | None:
            while position[0] < len(self._lines):
                item = self._lines[position[0]]
                position[0] += 1
                if match(item):
                    return item
            return None

        return self.wait_until(what, check, timeout)
