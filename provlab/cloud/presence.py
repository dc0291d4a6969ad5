"""Who is online: one live session per device, newest wins, with waiters for the lab."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Presence:
    device_id: int
    transport: str  # "tcp", "tls", "mqtt"
    peer: str
    since: float = field(default_factory=time.time)
    close: Callable[[], None] | None = None


class PresenceRegistry:
    """Online devices, keyed by device id. Lives on the stub's event loop."""

    def __init__(self) -> None:
        self._online: dict[int, Presence] = {}
        self._changed = asyncio.Condition()

    def is_online(self, device_id: int) -> bool:
        return device_id in self._online

    def get(self, device_id: int) -> Presence | None:
        return self._online.get(device_id)

    def online_ids(self) -> list[int]:
        return list(self._online)

    async def connect(self, presence: Presence) -> Presence | None:
        """Register `presence`; returns the session it replaced (the caller closes that one)."""
        old = self._online.get(presence.device_id)
        self._online[presence.device_id] = presence
        await self._notify()
        return old

    async def disconnect(self, presence: Presence) -> bool:
        """Drop `presence` if it is still the current one; True when the device went offline."""
        if self._online.get(presence.device_id) is presence:
            del self._online[presence.device_id]
            await self._notify()
            return True
        return False

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(predicate), timeout)
            except asyncio.TimeoutError:
                return predicate()
        return True
