"""A board's port lost in one test, waited for when the next test opens it.

A USB serial device that was unplugged takes seconds to enumerate again, a port server (ser2net, an RFC 2217
server) seconds to restart. The lab opens an attached board's port per test, so a port lost in one test may not
be there yet when the next one starts. The lab notes each attached board whose port was gone when its test ended
(`LOST_PORTS`); the next lab that opens that board waits up to `port_wait` wall seconds for the port to come back
(`open_after_loss`), and otherwise fails with `PortNotBack`, naming the port, the wait and the log of the test that
lost it. A port not lost before is opened at once: a wrong port name fails without a wait.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from provlab.drivers.serial_errors import PortBusy, PortUnavailable

log = logging.getLogger("provlab.lab.port_return")
T = TypeVar("T")

RETRY_S = 0.2
"""Wall seconds between two attempts to open a port that is not back yet."""


class PortNotBack(PortUnavailable):
    """An attached board's port, lost in an earlier test, did not come back within the lab's wait."""


@dataclass(frozen=True)
class LostPort:
    """Where a port was lost: the board's name and the serial log of the test that lost it."""

    board: str
    log_path: Path | None


class LostPorts:
    """The attached boards (by their `--boards` item) whose port was gone when their last test ended."""

    def __init__(self) -> None:
        self._lost: dict[str, LostPort] = {}
        self._lock = threading.Lock()

    def note(self, key: str, lost: LostPort) -> None:
        with self._lock:
            self._lost[key] = lost

    def get(self, key: str) -> LostPort | None:
        with self._lock:
            return self._lost.get(key)

    def forget(self, key: str) -> None:
        with self._lock:
            self._lost.pop(key, None)


LOST_PORTS = LostPorts()
"""This process's lost ports (one pytest session, or one xdist worker)."""


def open_after_loss(
    key: str,
    lost: LostPort,
    open_board: Callable[[], T],
    *,
    wait_s: float,
    lost_ports: LostPorts = LOST_PORTS,
) -> T:
    """`open_board()` for a board whose port `key` was lost in an earlier test: at once if the port is back, else
    again every `RETRY_S` until it is, for up to `wait_s` wall seconds (a warning on the `provlab.lab.port_return`
    logger says the wait starts). `PortNotBack` when it is still missing; `PortBusy` at once (another run has it)."""
    deadline = time.monotonic() + wait_s
    try:
        board = open_board()
    except PortBusy:
        raise
    except PortUnavailable as first:
        log.warning(
            "%s: %s went away in an earlier test and is not back; waiting up to %g s (wall clock) for it",
            lost.board,
            key,
            wait_s,
        )
        board = _retry(key, lost, open_board, first, deadline, wait_s)
    lost_ports.forget(key)
    return board


def _retry(
    key: str, lost: LostPort, open_board: Callable[[], T], error: PortUnavailable, deadline: float, wait_s: float
) -> T:
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(RETRY_S, left))
        try:
            return open_board()
        except PortBusy:
            raise
        except PortUnavailable as exc:
            error = exc
    where = f"; the log of the test that lost it: {lost.log_path}" if lost.log_path else ""
    raise PortNotBack(
        f"{lost.board}: expected its port {key} back within {wait_s:g} s (wall clock) after it went away in an "
        f"earlier test, but it is still missing. Plug the board back in or restart its port server (or raise "
        f"boards.port_wait / --port-wait){where}\n  last attempt: {error}"
    ) from error
