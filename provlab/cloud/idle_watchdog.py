"""A watchdog that ends a connection after a stretch of wall time without incoming traffic."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class IdleWatchdog:
    """Calls `on_idle` once `limit` seconds pass after `last_rx()` without it moving; one timer at a time."""

    def __init__(self, last_rx: Callable[[], float], limit: float, on_idle: Callable[[], None]) -> None:
        self._last_rx = last_rx
        self.limit = limit
        self._on_idle = on_idle
        self._loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self.cancel()
        self._handle = self._loop.call_at(self._last_rx() + self.limit, self._check)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _check(self) -> None:
        deadline = self._last_rx() + self.limit
        if self._loop.time() >= deadline:
            self._handle = None
            self._on_idle()
        else:
            self._handle = self._loop.call_at(deadline, self._check)
