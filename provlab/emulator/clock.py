"""The device clock: firmware time that runs `time_scale` times faster than wall time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class DeviceClock:
    """Firmware timers expressed in device seconds, run on wall time multiplied by `time_scale`.

    `time_scale=1.0` is real time; `time_scale=0.01` makes a 50 s firmware timeout last 0.5 s.
    `millis()` is the firmware's `millis()`: device milliseconds since the last boot.
    Every wait is an asyncio timer, never a poll, so an idle board costs no CPU.
    """

    def __init__(self, time_scale: float = 1.0) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale}")
        self.time_scale = time_scale
        self._boot_wall = time.monotonic()

    def reboot(self) -> None:
        """Start `millis()` from zero again, as a reset of the chip does."""
        self._boot_wall = time.monotonic()

    def now(self) -> float:
        """Device seconds since boot."""
        return (time.monotonic() - self._boot_wall) / self.time_scale

    def millis(self) -> int:
        return int(self.now() * 1000)

    def to_wall(self, device_seconds: float) -> float:
        """Wall seconds that `device_seconds` of firmware time take."""
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
