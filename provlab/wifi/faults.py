"""Faults a lab injects into its radio environment at run time, the same way on every backend.

Each names a failure boards meet in the field (spec failure-scenarios P1, P2, P9, P10): the access
point disappears and returns, its signal drops below what a station can hear, it moves to a channel
the station's band does not have, the router loses its uplink or its DNS, a station is kicked, the
home router boots after the device. Networks are named by SSID, as a QA engineer knows them.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable

from provlab.clock.base import LabClock
from provlab.clock.wall import WallClock

CHANNELS_24GHZ = frozenset(range(1, 15))
CHANNELS_5GHZ = frozenset([*range(36, 65, 4), *range(100, 145, 4), *range(149, 166, 4)])
ESP32_CHANNELS = frozenset(range(1, 14))
"""An ESP32 station: 2.4 GHz only, channels 1-13 (arduino-esp32's default country)."""
PHONE_CHANNELS = ESP32_CHANNELS | CHANNELS_5GHZ
ANY_CHANNEL = CHANNELS_24GHZ | CHANNELS_5GHZ
SENSITIVITY_DBM = -90
"""Below this RSSI a station neither associates nor keeps its association (beacon loss)."""


class UnknownNetwork(KeyError):
    """A fault named an SSID that is not part of this air."""

    def __init__(self, ssid: str, known: list[str]) -> None:
        super().__init__(f"no network {ssid!r} on this air; known: {', '.join(sorted(known)) or 'none'}")
        self.ssid = ssid


class Faults(ABC):
    """Run-time fault knobs of one air. Thread-safe; callable from a test while the lab runs."""

    def __init__(self, clock: LabClock | None = None) -> None:
        self.clock = clock or WallClock()
        """The lab clock fault timers run on (`ap_up_after`)."""
        self._timers: list[Callable[[], None]] = []
        self._timer_lock = threading.Lock()

    @abstractmethod
    def ap_down(self, ssid: str) -> None:
        """The access point stops beaconing; joined stations lose their link."""

    @abstractmethod
    def ap_up(self, ssid: str) -> None:
        """The access point is back on the air (same SSID, BSSID, addressing)."""

    @abstractmethod
    def set_rssi(self, ssid: str, rssi: int) -> None:
        """How strong the AP is heard; below `SENSITIVITY_DBM` stations drop and cannot join."""

    @abstractmethod
    def set_channel(self, ssid: str, channel: int) -> None:
        """Move the AP; stations whose band lacks the channel lose it and cannot find it."""

    @abstractmethod
    def set_internet(self, ssid: str, online: bool) -> None:
        """The router's uplink: without it stations keep their link but reach nothing beyond it."""

    @abstractmethod
    def set_dns_failure(self, ssid: str, failing: bool) -> None:
        """The network's DNS answers SERVFAIL to every name."""

    @abstractmethod
    def kick(self, ssid: str, station: str | None = None) -> list[str]:
        """Deauthenticate one station (or all); returns who was kicked."""

    def ap_up_after(self, ssid: str, device_seconds: float) -> Callable[[], None]:
        """The router boots later than the device: bring `ssid` up after `device_seconds` on the lab clock
        (from a loop of the clock, on that loop). Returns a function that cancels it."""
        cancel = self.clock.call_later(device_seconds, lambda: self.ap_up(ssid))
        with self._timer_lock:
            self._timers.append(cancel)
        return cancel

    def cancel_timers(self) -> None:
        with self._timer_lock:
            timers, self._timers = self._timers, []
        for cancel in timers:
            cancel()
