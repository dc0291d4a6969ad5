"""The air a lab's world is on: `sim`, `netns`, or the real one through an adapter, behind one protocol.

`Air` is what the lab needs from a radio environment: networks (a home router, boards' SoftAPs),
stations (phones), board radios, the internet ports routers forward to the loopback cloud, fault
knobs, a capture, an event list for the timeline, and teardown. `AIRS` registers the airs by name
(the lab config's `wifi` and `provlab run --wifi` choose from it): a new one is a module plus one
`AIRS.register(name, factory)`.

The real-adapter backends (`wpa`, `nm`) are single stations, and `ADAPTERS` registers them apart. A lab
whose `wifi` is `KIND:IFACE` (`wpa:wlan0`) runs on the real air around the host (`AdapterAir`): its phone
drives that adapter, its boards are real ones, and it builds no network. `ADAPTER_OPTIONS` lists what each
adapter kind takes from the config's `[phone_radio]` table. `phone_radio("wpa:wlan0")` gives the bare
station to Python code outside a lab.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
    hosted: bool
    """True when the lab builds this air (its networks, board radios, fault knobs, capture); False for the real
    air around the host, seen through an adapter."""
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

    def start_capture(self, path: str | Path, *, masked: bool = True) -> Any: ...

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
    from provlab.wifi.adapter import PrefixAddressing
    from provlab.wifi.wpa import WpaBackend

    static = options.pop("static", None)
    if static is not None:
        options["addressing"] = PrefixAddressing.from_config(static)
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


ADAPTER_OPTIONS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "wpa": {
        "ctrl_dir": str,
        "reply_timeout": (int, float),
        "join_timeout": (int, float),
        "scan_wait": (int, float),
        "static": dict,
    },
    "nm": {"nmcli": str, "join_timeout": (int, float)},
}
"""The `[phone_radio]` keys each adapter kind takes (a plug-in registering an adapter adds its own)."""


def is_adapter(kind: str) -> bool:
    """Whether a `wifi` value names a real adapter (`KIND:IFACE`) rather than an air the lab builds."""
    return kind.partition(":")[0] in ADAPTERS and ":" in kind


def air_problem(kind: str) -> str | None:
    """Why `kind` cannot be a lab's air (what the config check and `--wifi` say), or None when it can."""
    if kind in AIRS:
        return None
    adapter, colon, iface = kind.partition(":")
    if adapter in ADAPTERS:
        if not colon or not iface or "/" in iface:
            return f"{kind!r}: name the adapter's interface, e.g. {adapter}:wlan0"
        return None
    adapters = ", ".join(ADAPTERS.names())
    return f"{kind!r} is not one of {', '.join(AIRS.names())}, nor KIND:IFACE with KIND one of {adapters}"


def options_problem(kind: str, options: Mapping[str, Any]) -> str | None:
    """Why `options` (the `[phone_radio]` table) do not fit adapter `kind`, or None."""
    allowed = ADAPTER_OPTIONS.get(kind.partition(":")[0], {})
    for key, value in options.items():
        if key not in allowed:
            known = ", ".join(allowed) or "none"
            return f"{key!r} is not an option of the {kind.partition(':')[0]} backend (allowed: {known})"
        wanted = allowed[key]
        if isinstance(value, bool) or not isinstance(value, wanted):
            names = wanted.__name__ if isinstance(wanted, type) else " or ".join(t.__name__ for t in wanted)
            return f"{key}: expected {names}, got {value!r}"
    return None


def open_air(
    kind: str = "sim",
    *,
    run_id: str | None = None,
    clock: LabClock | None = None,
    adapter_options: Mapping[str, Any] | None = None,
) -> Air:
    """The air registered as `kind`: `sim` (in-process, default), `netns` (namespaces), a plug-in's, or the real
    one through adapter `KIND:IFACE` (with `adapter_options`), on `clock` (the lab clock; default: wall)."""
    problem = air_problem(kind)
    if problem is not None:
        raise UnknownBackend(f"--wifi {problem}")
    if kind in AIRS:
        return AIRS[kind](run_id, clock)
    from provlab.wifi.adapter_air import AdapterAir

    return AdapterAir(kind, phone_radio(kind, **dict(adapter_options or {})), clock)


def phone_radio(spec: str, **options: Any) -> WifiBackend:
    """A real adapter for the phone, from `KIND:IFACE` with KIND registered in `ADAPTERS` (`wpa`, `nm`)."""
    kind, _, iface = spec.partition(":")
    if kind not in ADAPTERS:
        raise UnknownBackend(f"{spec!r}: a real adapter is one of {', '.join(ADAPTERS.names())} (as KIND:IFACE)")
    if not iface:
        raise UnknownBackend(f"{spec!r}: name the interface, e.g. {kind}:wlan0")
    problem = options_problem(spec, options)
    if problem is not None:
        raise UnknownBackend(f"{spec!r}: {problem}")
    return ADAPTERS[kind](iface, **options)
