"""The device clock: firmware time (`millis()` since boot) read from the lab clock.

On the virtual lab clock (an all-emulated lab) the board's loop seconds are device seconds; on a wall
clock they are wall seconds and `time_scale` says how many of them one device second takes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from provlab.clock.base import LabClock
from provlab.clock.virtual import clock_of
from provlab.clock.wall import WallClock


class DeviceClock:
    """Firmware timers expressed in device seconds, run on the lab clock's loops.

    `DeviceClock(lab_clock=clock)` reads `clock`; `DeviceClock(0.01)` is a wall clock running 100x fast;
    `DeviceClock()` inside a loop of a virtual clock reads that clock.
    `millis()` is the firmware's `millis()`: device milliseconds since the last boot.
    Every wait is an asyncio timer, never a poll, so an idle board costs no CPU.
    """

    def __init__(self, time_scale: float | None = None, *, lab_clock: LabClock | None = None) -> None:
        if lab_clock is None and time_scale is None:
            lab_clock = _running_clock()
        if lab_clock is None:
            scale = 1.0 if time_scale is None else time_scale
            if scale <= 0:
                raise ValueError(f"time_scale must be > 0, got {scale}")
            lab_clock = WallClock(scale)
        self.lab_clock = lab_clock
        self.time_scale = lab_clock.scale
        self._boot = lab_clock.now()

    def reboot(self) -> None:
        """Start `millis()` from zero again, as a reset of the chip does."""
        self._boot = self.lab_clock.now()

    def now(self) -> float:
        """Device seconds since boot."""
        return self.lab_clock.now() - self._boot

    def millis(self) -> int:
        return int(self.now() * 1000)

    def to_wall(self, device_seconds: float) -> float:
        """Loop seconds that `device_seconds` of firmware time take (wall seconds on a wall clock)."""
        return device_seconds * self.time_scale

    def to_device(self, wall_seconds: float) -> float:
        return wall_seconds / self.time_scale

    async def sleep(self, device_seconds: float) -> None:
        await asyncio.sleep(max(0.0, device_seconds) * self.time_scale)

    def call_later(self, device_seconds: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        """Run `callback` on the running loop after `device_seconds` of firmware time."""
        loop = asyncio.get_running_loop()
        return loop.call_later(max(0.0, device_seconds) * self.time_scale, callback)

    async def wait_event(self, event: asyncio.Event, device_seconds: float | None) -> bool:
        """Wait until `event` is set or `device_seconds` pass (None: no limit); True when it was set."""
        if event.is_set():
            return True
        if device_seconds is None:
            await event.wait()
            return True
        try:
            await asyncio.wait_for(event.wait(), max(0.0, device_seconds) * self.time_scale)
        except asyncio.TimeoutError:
            return event.is_set()
        return True


def _running_clock() -> LabClock | None:
    try:
        return clock_of(asyncio.get_running_loop())
    except RuntimeError:
        return None
