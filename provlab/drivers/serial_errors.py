"""What can go wrong between the lab and a board's serial port, as exceptions that explain themselves.

Every message names the board, the port and, where there is one, the log file, so a QA engineer can act on
it without reading code: plug the board back in, stop the other run holding it, or open the log.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import serial

TAIL_LINE_CHARS = 240
"""A tail line shown in a failure message is cut to this many characters (a 1 MB line stays readable)."""


def clip(text: str, limit: int = TAIL_LINE_CHARS) -> str:
    """`text` cut to `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def format_tail(tail: list[str]) -> str:
    return "\n".join(f"    {clip(line)}" for line in tail) or "    (nothing received)"


class SerialBoardError(Exception):
    """Base of the serial driver's own errors."""


class PortUnavailable(SerialBoardError, serial.SerialException):
    """The port cannot be opened or used right now (absent, unplugged, refused, no permission)."""


class PortLost(PortUnavailable):
    """The port went away while in use (USB unplug, ser2net restart, pty closed)."""


def went_away(board: str, at: float, last_line: str | None, port: str, log_path: Path | None) -> str:
    """What a test that lost its board's port fails with: the board, the wall time of the loss (UTC, like the
    log's stamps), the last line the board printed (masked), then the port's own error and the log."""
    when = datetime.fromtimestamp(at, timezone.utc).strftime("%H:%M:%S")
    last = clip(last_line) if last_line is not None else "nothing received"
    where = f"\n  full log: {log_path}" if log_path else ""
    return f"board {board} went away at {when} (last line: {last})\n  port: {port}{where}"


class PortBusy(PortUnavailable):
    """Another run holds the port's lock file."""


class ExpectTimeout(AssertionError):
    """What a board was expected to print did not come in time."""

    def __init__(
        self,
        what: str,
        timeout: float,
        tail: list[str],
        log_path: Path | None,
        *,
        note: str | None = None,
        budget: str | None = None,
    ) -> None:
        where = f"\n  full log: {log_path}" if log_path else ""
        port = f"\n  port: {note}" if note else ""
        super().__init__(
            f"expected {what} within {budget or f'{timeout:g} s (device time)'}, not seen.{port}\n"
            f"  last {len(tail)} lines from the board:\n{format_tail(tail)}{where}"
        )
        self.what = what
        self.timeout = timeout
        self.tail = tail
        self.log_path = log_path
        self.note = note


class UnexpectedOutput(AssertionError):
    """While waiting for one thing, the board printed a line it must not print (`not_matching=`)."""

    def __init__(self, what: str, pattern: str, line: str, tail: list[str], log_path: Path | None) -> None:
        where = f"\n  full log: {log_path}" if log_path else ""
        super().__init__(
            f"while waiting for {what}, the board printed a line matching {pattern!r}:\n"
            f"    {clip(line)}\n  last {len(tail)} lines from the board:\n{format_tail(tail)}{where}"
        )
        self.what = what
        self.pattern = pattern
        self.line = line
        self.tail = tail
        self.log_path = log_path


class ConsoleError(SerialBoardError):
    """A console command did not get the answer it should."""


class ConsoleCommandNotFound(ConsoleError):
    """The firmware answered `Command not found.`."""
