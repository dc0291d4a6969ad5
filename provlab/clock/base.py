"""What every lab clock offers: device time, event loops that run on it, and waits for the threads that drive a lab.

A lab has one clock. Everything emulated in the process reads it: the boards' firmware timers, the air's
fault timers, the phone's waits and the cloud stub's timers all run on event loops the clock made
(`new_loop()`), whose `loop.time()` is the clock's time, so `asyncio.sleep`, `call_later` and `wait_for`
count in the clock's seconds. `scale` says how many loop seconds one device second takes: 1 on the
virtual clock (its loop seconds *are* device seconds), `time_scale` on a wall clock.

The thread that runs a scenario (the *driver*) waits through the clock too (`deadline()`, `sleep()`,
`DriverWait`), so that a virtual clock knows when the driver is busy and must not move.
"""

from __future__ import annotations

import asyncio
import enum
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class ClockKind(enum.Enum):
    VIRTUAL = "virtual"
    """Advances only when nothing in the lab can run: host load never changes an outcome."""
    WALL = "wall"
    """The host's monotonic clock, optionally sped up by `time_scale` (mixed labs, real boards)."""


class Waiter(ABC):
    """One blocking wait of a driver thread: ends when some thread calls `wake()` or when its time is up."""

    @abstractmethod
    def wake(self) -> None:
        """End the wait now (from any thread); the driver counts as running again from this instant."""

    @abstractmethod
    def wait(self) -> bool:
        """Block until woken (True) or until the deadline passed on the lab clock (False)."""


class Deadline(ABC):
    """A point in lab time a driver waits towards."""

    @abstractmethod
    def remaining(self) -> float:
        """Device seconds left (<= 0: passed)."""

    def expired(self) -> bool:
        return self.remaining() <= 0

    @abstractmethod
    def waiter(self) -> Waiter:
        """A waiter that times out at this deadline."""


class Channel:
    """A byte stream between two parts of the lab that does not pass through an event loop's sockets
    (a pty): bytes written and not yet taken by the other end keep a virtual clock from moving."""

    def produced(self, count: int) -> None:
        """`count` bytes are about to be handed to the kernel by the writing end (call it before the write:
        the reader may take them at once; then `consumed()` whatever the write did not take)."""

    def consumed(self, count: int) -> None:
        """`count` bytes were read and fully handled by the reading end."""

    def attach(self) -> None:
        """The reading end is there (bytes count from now on)."""

    def detach(self) -> None:
        """The reading end is gone: nothing written now is waited for."""


class DriverWait:
    """A driver thread's wait for work it handed to a loop: `release()` before blocking, the loop calls
    `finish()` when the work is done (the driver counts as running again from that instant), the driver
    calls `end()` after waking. On a wall clock all three do nothing."""

    def release(self) -> None:
        pass

    def finish(self) -> None:
        pass

    def end(self) -> None:
        pass


class LabClock(ABC):
    """The time of one lab: see the module docstring."""

    kind: ClockKind
    scale: float
    """Loop seconds per device second."""

    @abstractmethod
    def now(self) -> float:
        """Device seconds since the clock started."""

    @abstractmethod
    def new_loop(self) -> asyncio.AbstractEventLoop:
        """An event loop whose `time()` is this clock (run it on its own thread or with `run_until_complete`)."""

    def loop_seconds(self, device_s: float, wall_floor: float = 0.0) -> float:
        """How long `device_s` device seconds last on this clock's loops; on a wall clock never less than
        `wall_floor` (a floor that keeps a loaded host from failing a board; the virtual clock needs none)."""
        return max(0.0, device_s) * self.scale

    @abstractmethod
    def deadline(self, device_s: float, wall_floor: float = 0.0) -> Deadline:
        """`device_s` device seconds from now (`wall_floor`: as in `loop_seconds`)."""

    def sleep(self, device_s: float) -> None:
        """Block the calling (driver) thread for `device_s` device seconds."""
        self.deadline(device_s).waiter().wait()

    def call_later(self, device_s: float, callback: Callable[[], None]) -> Callable[[], None]:
        """Run `callback` after `device_s` device seconds, from any thread; returns a cancel function.
        On a loop of this clock it runs on that loop; elsewhere on the clock's own schedule."""
        loop = _running_loop()
        if loop is not None:
            handle = loop.call_later(self.loop_seconds(device_s), callback)
            return handle.cancel
        return self._call_later_outside(device_s, callback)

    @abstractmethod
    def _call_later_outside(self, device_s: float, callback: Callable[[], None]) -> Callable[[], None]: ...

    def driver_wait(self) -> DriverWait:
        """A wait of the calling thread for work on a loop (see `DriverWait`)."""
        return DriverWait()

    def attach_driver(self) -> None:
        """The calling thread drives the lab: while it runs (not waiting through the clock) time stands."""
        return None

    def detach_driver(self) -> None:
        """The calling thread no longer drives the lab."""
        return None

    def channel(self, name: str) -> Channel:
        """A byte stream the clock must wait for (see `Channel`)."""
        return Channel()

    @contextmanager
    def hold(self, why: str) -> Iterator[None]:
        """Keep a virtual clock from moving while the block runs (a thread doing the lab's work)."""
        yield

    @abstractmethod
    def describe(self) -> str:
        """For messages and evidence, e.g. 'virtual lab clock' or 'wall clock x 0.01'."""

    def budget(self, device_s: float) -> str:
        """How a timeout reads in a message: '30 s (device time, virtual lab clock)'."""
        return f"{device_s:g} s ({self.describe()})"

    def close(self) -> None:
        """Stop the clock's own timers."""
        return None


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def current_thread_id() -> int:
    return threading.get_ident()
