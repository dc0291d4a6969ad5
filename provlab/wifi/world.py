"""The air a lab builds its world on: `sim` or `netns`, behind one protocol, chosen by name.

`Air` is what the lab needs from a radio environment: networks (a home router, boards' SoftAPs),
stations (phones), board radios, the internet ports routers forward to the loopback cloud, fault
knobs, a capture, an event list for the timeline, and teardown. `AIRS` registers the airs by name
(the lab config's `wifi` and `provlab run --wifi` choose from it): a new one is a module plus one
`AIRS.register(name, factory)`.

The real-adapter backends (`wpa`, `nm`) are single stations for a phone, not airs, and `ADAPTERS`
registers them apart: a real adapter can neither host the lab's home network and board radios nor
reach its loopback cloud, so no lab air is built from one. Python code that drives real boards with a
real phone radio takes one with `phone_radio("wpa:wlan0")`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from provlab.clock.base import LabClock
from provlab.protocol.registry import Registry
from provlab.wifi.backend import BoardRadio, HostedAccessPoint, WifiBackend
from provlab.wifi.events import AirEvent
from provlab.wifi.faults import ANY_CHANNEL, Faults


class UnknownBackend(ValueError):
    """A `--wifi` value provlab does not know; the message lists the registered ones."""


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


class AirFactory(Protocol):
    """Builds an air; `run_id` names what it creates on the host (namespaces), None: a fresh one."""

    def __call__(self, run_id: str | None, clock: LabClock | None) -> Air: ...


class AdapterFactory(Protocol):
    """Drives the real adapter `iface` as one station."""

    def __call__(self, iface: str, **options: Any) -> WifiBackend: ...


def sim_air(run_id: str | None, clock: LabClock | None) -> Air:
    """In-process: every network, station and radio is ours, on loopback (the default)."""
    from provlab.wifi.sim import SimAir

    return SimAir(clock)


def netns_air(run_id: str | None, clock: LabClock | None) -> Air:
    """Linux network namespaces (root; raises `NetnsUnavailable` with the reason)."""
    from provlab.wifi.netns.air import NetnsAir

    return NetnsAir(run_id, clock)


def wpa_adapter(iface: str, **options: Any) -> WifiBackend:
    """A real adapter through wpa_supplicant's control socket."""
    from provlab.wifi.wpa import WpaBackend

    return WpaBackend(iface, **options)


def nm_adapter(iface: str, **options: Any) -> WifiBackend:
    """A real adapter through NetworkManager (`nmcli`)."""
    from provlab.wifi.nm import NmBackend

    return NmBackend(iface, **options)


AIRS: Registry[AirFactory] = Registry("Wi-Fi air")
AIRS.register("sim", sim_air)
AIRS.register("netns", netns_air)

ADAPTERS: Registry[AdapterFactory] = Registry("real Wi-Fi adapter backend")
ADAPTERS.register("wpa", wpa_adapter)
ADAPTERS.register("nm", nm_adapter)


def air_problem(kind: str) -> str | None:
    """Why `kind` cannot be a lab's air (what the config check and `--wifi` say), or None when it can."""
    if kind in AIRS:
        return None
    problem = f"{kind!r} is not one of {', '.join(AIRS.names())}"
    adapter = kind.partition(":")[0]
    if adapter in ADAPTERS:
        problem += (
            f" ({adapter}:IFACE drives a real adapter as one phone's radio, not a lab's air: it can host neither "
            "the home network nor board radios; see provlab.wifi.world.phone_radio)"
        )
    return problem


def open_air(kind: str = "sim", *, run_id: str | None = None, clock: LabClock | None = None) -> Air:
    """The air registered as `kind`: `sim` (in-process, default), `netns` (namespaces), or a plug-in's, on
    `clock` (the lab clock; default: the wall clock)."""
    problem = air_problem(kind)
    if problem is not None:
        raise UnknownBackend(f"--wifi {problem}")
    return AIRS[kind](run_id, clock)


def phone_radio(spec: str, **options: Any) -> WifiBackend:
    """A real adapter for the phone, from `KIND:IFACE` with KIND registered in `ADAPTERS` (`wpa`, `nm`)."""
    kind, _, iface = spec.partition(":")
    if kind not in ADAPTERS:
        raise UnknownBackend(f"{spec!r}: a real adapter is one of {', '.join(ADAPTERS.names())} (as KIND:IFACE)")
    if not iface:
        raise UnknownBackend(f"{spec!r}: name the interface, e.g. {kind}:wlan0")
    return ADAPTERS[kind](iface, **options)
