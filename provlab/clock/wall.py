"""The wall clock: the host's monotonic time, sped up by `time_scale` for emulated parts.

The lab clock of any lab with something outside the process (a real board on a serial port, a replayed
recording, a cloud stub in another process): those run on the wall clock whatever provlab does. With
`time_scale` < 1, emulated boards' firmware timers run that much faster than wall time; waits keep a
wall-clock floor so a loaded host does not fail a board (that is the price of a wall clock; an
all-emulated lab uses the virtual clock instead and needs no floor).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from provlab.clock.base import ClockKind, Deadline, LabClock, Waiter


class WallWaiter(Waiter):
    def __init__(self, until: float | None) -> None:
        self._until = until  # time.monotonic() value, None: no limit
        self._event = threading.Event()

    def wake(self) -> None:
        self._event.set()

    def wait(self) -> bool:
        if self._until is None:
            return self._event.wait()
        return self._event.wait(max(0.0, self._until - time.monotonic()))


class WallDeadline(Deadline):
    def __init__(self, clock: WallClock, device_s: float, wall_floor: float) -> None:
        self._clock = clock
        self._until = time.monotonic() + clock.loop_seconds(device_s, wall_floor if device_s > 0 else 0.0)

    def remaining(self) -> float:
        return (self._until - time.monotonic()) / self._clock.scale

    def waiter(self) -> Waiter:
        return WallWaiter(self._until)


class WallClock(LabClock):
    """Device seconds = wall seconds / `time_scale` (1: real time)."""

    kind = ClockKind.WALL

    def __init__(self, time_scale: float = 1.0) -> None:
        if not time_scale > 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale!r}")
        self.scale = time_scale
        self._started = time.monotonic()
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()

    def now(self) -> float:
        return (time.monotonic() - self._started) / self.scale

    def new_loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.new_event_loop()

    def loop_seconds(self, device_s: float, wall_floor: float = 0.0) -> float:
        return max(max(0.0, device_s) * self.scale, wall_floor)

    def deadline(self, device_s: float, wall_floor: float = 0.0) -> Deadline:
        return WallDeadline(self, device_s, wall_floor)

    def _call_later_outside(self, device_s: float, callback: Callable[[], None]) -> Callable[[], None]:
        def fire() -> None:
            with self._lock:
                self._timers.discard(timer)
            callback()

        timer = threading.Timer(self.loop_seconds(device_s), fire)
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

        def cancel() -> None:
            timer.cancel()
            with self._lock:
                self._timers.discard(timer)

        return cancel

    def describe(self) -> str:
        return "wall clock" if self.scale == 1 else f"wall clock x {self.scale:g}"

    def budget(self, device_s: float) -> str:
        if self.scale == 1:
            return f"{device_s:g} s (wall clock)"
        return f"{device_s:g} s (device time, {self.describe()})"

    def close(self) -> None:
        with self._lock:
            timers, self._timers = self._timers, set()
        for timer in timers:
            timer.cancel()


class RealBoardClock(WallClock):
    """A real board's time: wall seconds, whatever `time_scale` the lab's emulated parts run at."""

    def __init__(self) -> None:
        super().__init__(1.0)

    def describe(self) -> str:
        return "wall clock, real board"

    def budget(self, device_s: float) -> str:
        return f"{device_s:g} s (wall clock, real board)"
