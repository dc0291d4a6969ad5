"""Who is online: one live session per device (newest wins), with since-when, transport and waiters."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from provlab.cloud.ota import OtaOffer
from provlab.cloud.records import Device


class Transport(str, Enum):
    """How a device reached the stub."""

    TCP = "tcp"
    TLS = "tls"
    MQTT = "mqtt"
    MQTTS = "mqtts"


class CloseReason(str, Enum):
    """Why a device session ended (the `reason` of a `device_offline` event)."""

    DEVICE_CLOSED = "closed by the device"
    HEARTBEAT_TIMEOUT = "no traffic for heartbeat x 1.5"
    LOGIN_TIMEOUT = "no login in time"
    REPLACED = "replaced by a newer connection with the same token"
    TOKEN_REVOKED = "token revoked, refreshed or device deleted"
    DROPPED = "dropped by the lab (fault knob)"
    BAD_INPUT = "bad input from the device"
    REDIRECTED = "redirected to another server"
    SERVER_STOP = "cloud stub stopped"
    SERVER_ERROR = "the stub could not store the login"


DEAD_PEER = frozenset({CloseReason.HEARTBEAT_TIMEOUT, CloseReason.LOGIN_TIMEOUT})
"""Reasons that mean the peer is gone or mute: its connection is aborted, not closed politely."""


class DeviceLink(Protocol):
    """What a transport offers for one live device connection."""

    def push_pin(self, pin: str, name: str, values: Sequence[str]) -> None:
        """Send a datastream write down to the device (`vw` frame, `downlink/ds/<name>`)."""

    def redirect(self, host: str, port: int) -> None:
        """Send the device to another server (REDIRECT (41), `downlink/redirect`)."""

    def ping(self) -> None:
        """Ask the device for a sign of life (PING, `downlink/ping` QoS 1)."""

    def reconfigure(self) -> None:
        """Tell the device to enter Wi-Fi configuration mode; `DownlinkNotSupported` where there is no such message."""

    def ota(self, offer: OtaOffer) -> bool:
        """Tell the device to fetch and install firmware (INTERNAL `ota`, `downlink/ota/json`); False when the
        connection is already closing and nothing was sent."""

    def close(self, reason: CloseReason) -> None:
        """End the connection from the stub's side."""


class DownlinkNotSupported(Exception):
    """A downlink the device's protocol has no message for."""


@dataclass(eq=False)
class Presence:
    """One live, logged-in device session."""

    device: Device
    transport: Transport
    peer: str
    link: DeviceLink
    since: float = field(default_factory=time.time)

    @property
    def device_id(self) -> int:
        return self.device.id


class PresenceRegistry:
    """Online devices, keyed by device id. Lives on the stub's event loop."""

    def __init__(self) -> None:
        self._online: dict[int, Presence] = {}
        self._changed = asyncio.Event()
        self._waiters = 0
        self._arrivals: dict[int | str, set[asyncio.Future[Presence]]] = {}
        """Who waits for one device to come online, by its id or its token (`wait_arrival`)."""

    def is_online(self, device_id: int) -> bool:
        return device_id in self._online

    def get(self, device_id: int) -> Presence | None:
        return self._online.get(device_id)

    def online_ids(self) -> list[int]:
        return list(self._online)

    def sessions(self) -> list[Presence]:
        return list(self._online.values())

    def __len__(self) -> int:
        return len(self._online)

    def connect(self, presence: Presence) -> Presence | None:
        """Register `presence`; returns the session it replaced (the caller closes that one)."""
        old = self._online.get(presence.device_id)
        self._online[presence.device_id] = presence
        self._notify()
        for key in (presence.device_id, presence.device.token):
            for waiter in self._arrivals.pop(key, ()) if key is not None else ():
                if not waiter.done():
                    waiter.set_result(presence)
        return old

    def disconnect(self, presence: Presence) -> bool:
        """Drop `presence` if it is still the current one; True when the device went offline."""
        if self._online.get(presence.device_id) is presence:
            del self._online[presence.device_id]
            self._notify()
            return True
        return False

    def _notify(self) -> None:
        if self._waiters:
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()

    def waiting(self, key: int | str) -> int:
        """How many `wait_arrival` calls wait for the device with id or token `key`."""
        return len(self._arrivals.get(key, ()))

    async def wait_arrival(self, keys: Sequence[int | str], timeout: float) -> Presence | None:
        """Wait until a device comes online whose id or token is one of `keys` (wakes only this waiter,
        not every one as `wait` does): its session, or None when `timeout` (s) passes first."""
        waiter: asyncio.Future[Presence] = asyncio.get_running_loop().create_future()
        for key in keys:
            self._arrivals.setdefault(key, set()).add(waiter)
        try:
            return await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:
            return None
        finally:
            for key in keys:
                waiting = self._arrivals.get(key)
                if waiting is not None:
                    waiting.discard(waiter)
                    if not waiting:
                        del self._arrivals[key]

    async def wait(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until `predicate()` holds after a presence change; False when `timeout` (s) passes first."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._waiters += 1
        try:
            while not predicate():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                try:
                    await asyncio.wait_for(self._changed.wait(), remaining)
                except asyncio.TimeoutError:
                    return predicate()
            return True
        finally:
            self._waiters -= 1
