"""The air a lab builds its world on: `sim` or `netns`, behind one protocol, chosen by name.

`Air` is what the lab needs from a radio environment: networks (a home router, boards' SoftAPs),
stations (phones), board radios, the internet ports routers forward to the loopback cloud, fault
knobs, a capture, an event list for the timeline, and teardown. The real-adapter backends (`wpa`,
`nm`) are single stations for the phone, not airs: a lab with real boards and a real adapter
builds no air at all (`phone_radio`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from provlab.clock.base import LabClock
from provlab.wifi.backend import BoardRadio, HostedAccessPoint, WifiBackend
from provlab.wifi.events import AirEvent
from provlab.wifi.faults import ANY_CHANNEL, Faults

AIR_KINDS = ("sim", "netns")
ADAPTER_KINDS = ("wpa", "nm")


class UnknownBackend(ValueError):
    """A `--wifi` value provlab does not know."""


class Air(Protocol):
    kind: str
    events: list[AirEvent]
    listeners: list[Callable[[AirEvent], None]]
    faults: Faults

    def add_network(
        self,
        ssid: str,
        *,
        bssid: str | None = None,
        passphrase: str | None = None,
        channel: int = 6,
        rssi: int = -50,
        virtual_subnet: str = "192.168.1.0/24",
        dns: dict[str, str] | None = None,
        internet: bool = True,
        on_air: bool = True,
    ) -> HostedAccessPoint: ...

    def station(self, name: str, *, mac: str | None = None, channels: frozenset[int] = ANY_CHANNEL) -> WifiBackend: ...

    def board_radio(self, name: str, *, mac: str | None = None) -> BoardRadio: ...

    def open_internet_port(self, port: int, loopback_host: str = "127.0.0.1") -> None: ...

    def start_capture(self, path: str | Path) -> Any: ...

    def close(self) -> None: ...


def open_air(kind: str = "sim", *, run_id: str | None = None, clock: LabClock | None = None) -> Air:
    """`sim` (in-process, default) or `netns` (namespaces; raises `NetnsUnavailable` with the reason),
    on `clock` (the lab clock; default: the wall clock)."""
    if kind == "sim":
        from provlab.wifi.sim import SimAir

        return SimAir(clock)
    if kind == "netns":
        from provlab.wifi.netns.air import NetnsAir

        return NetnsAir(run_id, clock)
    raise UnknownBackend(f"--wifi {kind!r}: an air is one of {', '.join(AIR_KINDS)}")


def phone_radio(spec: str, **options: Any) -> WifiBackend:
    """A real adapter for the phone, from `wpa:IFACE` or `nm:IFACE`."""
    kind, _, iface = spec.partition(":")
    if not iface:
        raise UnknownBackend(f"--wifi {spec!r}: name the interface, e.g. {kind or 'wpa'}:wlan0")
    if kind == "wpa":
        from provlab.wifi.wpa import WpaBackend

        return WpaBackend(iface, **options)
    if kind == "nm":
        from provlab.wifi.nm import NmBackend

        return NmBackend(iface, **options)
    raise UnknownBackend(f"--wifi {spec!r}: a real adapter is one of {', '.join(ADAPTER_KINDS)}")
