"""A board seen through its serial port: log lines in, console commands out (real or emulated alike).

The reader thread timestamps every chunk on the host clock, writes the log file (secrets masked),
parses lines with the protocol grammar and keeps `state` and `last_error` current. `expect_*`
wait in device time (scaled by `time_scale`) and fail with what was awaited, the last lines seen
and the path of the full log.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TypeVar

import serial

from provlab.protocol.serial_log import (
    LastError,
    LineSplitter,
    LogEvent,
    LogLine,
    StateChange,
    mask_line,
    parse_event,
    parse_line,
)
from provlab.protocol.states import EdgentState

E = TypeVar("E", bound=LogEvent)
TAIL_LINES = 20


class ExpectTimeout(AssertionError):
    """What a board was expected to print did not come in time."""

    def __init__(self, what: str, timeout: float, tail: list[str], log_path: Path | None) -> None:
        shown = "\n".join(f"    {line}" for line in tail) or "    (nothing received)"
        where = f"\n  full log: {log_path}" if log_path else ""
        super().__init__(
            f"expected {what} within {timeout:g} s (device time), not seen.\n"
            f"  last {len(tail)} lines from the board:\n{shown}{where}"
        )
        self.what = what
        self.tail = tail
        self.log_path = log_path


@dataclass(frozen=True)
class ReceivedLine:
    host_time: float
    line: LogLine
    event: LogEvent | None


class SerialBoard:
    """Any board on a pyserial URL (device path, pty, rfc2217://, socket://)."""

    def __init__(
        self,
        url: str,
        *,
        name: str = "board",
        log_path: str | Path | None = None,
        time_scale: float = 1.0,
        baudrate: int = 115200,
    ) -> None:
        self.url = url
        self.name = name
        self.time_scale = time_scale
        self.log_path = Path(log_path) if log_path else None
        self._port = serial.serial_for_url(url, baudrate=baudrate, timeout=0.05)
        self._log: IO[str] | None = None
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("a", encoding="utf-8")
        self._splitter = LineSplitter()
        self._lines: list[ReceivedLine] = []
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._cond = threading.Condition()
        self.state: EdgentState | None = None
        self.last_error: int | None = None
        self.listeners: list[Callable[[ReceivedLine], None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read_loop, name=f"{name}-serial", daemon=True)
        self._thread.start()

    # --- reading ----------------------------------------------------------------------------------
    def _read_loop(self) -> None:
        while not self._stop.is_set():
            try:
                data = self._port.read(4096)
            except (serial.SerialException, OSError, TypeError):
                if self._stop.is_set():
                    return
                time.sleep(0.05)
                continue
            if data:
                self._feed(data, time.time())
        tail = self._splitter.flush()
        if tail:
            self._take(tail, time.time())

    def _feed(self, data: bytes, now: float) -> None:
        for raw in self._splitter.feed(data):
            self._take(raw, now)

    def _take(self, raw: str, now: float) -> None:
        line = parse_line(raw)
        event = parse_event(line)
        item = ReceivedLine(now, line, event)
        masked = mask_line(raw)
        if self._log is not None:
            stamp = datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="milliseconds")
            self._log.write(f"{stamp} {masked}\n")
            self._log.flush()
        with self._cond:
            if isinstance(event, StateChange):
                self.state = event.new
            elif isinstance(event, LastError):
                self.last_error = event.code
            self._lines.append(item)
            self._tail.append(masked)
            self._cond.notify_all()
        for listener in list(self.listeners):
            listener(item)

    # --- expecting --------------------------------------------------------------------------------
    def mark(self) -> int:
        """A position in the stream; `expect_*(since=mark)` only looks at lines after it."""
        with self._cond:
            return len(self._lines)

    def lines(self) -> list[ReceivedLine]:
        with self._cond:
            return list(self._lines)

    def _wait_for(
        self, what: str, match: Callable[[ReceivedLine], bool], timeout: float, since: int | None
    ) -> ReceivedLine:
        deadline = time.monotonic() + timeout * self.time_scale
        index = 0 if since is None else since
        with self._cond:
            while True:
                while index < len(self._lines):
                    item = self._lines[index]
                    index += 1
                    if match(item):
                        return item
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ExpectTimeout(what, timeout, list(self._tail), self.log_path)
                self._cond.wait(remaining)

    def expect(
        self, pattern: str | re.Pattern[str], timeout: float = 30.0, since: int | None = None
    ) -> re.Match[str]:
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        found: list[re.Match[str]] = []

        def match(item: ReceivedLine) -> bool:
            m = regex.search(item.line.raw)
            if m:
                found.append(m)
            return m is not None

        self._wait_for(f"a line matching {regex.pattern!r}", match, timeout, since)
        return found[0]

    def expect_exact(self, text: str, timeout: float = 30.0, since: int | None = None) -> LogLine:
        item = self._wait_for(f"a line containing {text!r}", lambda i: text in i.line.raw, timeout, since)
        return item.line

    def expect_event(self, kind: type[E], timeout: float = 30.0, since: int | None = None) -> E:
        item = self._wait_for(f"a {kind.__name__} event", lambda i: isinstance(i.event, kind), timeout, since)
        assert isinstance(item.event, kind)
        return item.event

    def expect_state(self, state: str | EdgentState, timeout: float = 30.0, since: int | None = None) -> None:
        """Wait until the board enters `state` (a state line `X => state`), or is in it already."""
        wanted = state if isinstance(state, EdgentState) else EdgentState.parse(state)
        if since is None and self.state is wanted:
            return
        self._wait_for(
            f"state {wanted.value}",
            lambda i: isinstance(i.event, StateChange) and i.event.new is wanted,
            timeout,
            since,
        )

    # --- writing ----------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        self._port.write(data)
        self._port.flush()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._port.close()
        if self._log is not None:
            self._log.close()
            self._log = None
