"""The air of a lab whose phone is a real Wi-Fi adapter: `wifi = "wpa:wlan0"` or `"nm:wlan0"`.

The networks are real ones around the lab host: the boards' SoftAPs and the home network the boards are
provisioned onto. The lab hosts none of them, opens no internet port for them and cannot break them (no
fault knobs), and it captures nothing (a capture of a real air needs a monitor-mode adapter). The one
station is the adapter: the lab's first phone drives it, a second phone would need a second adapter. The
boards are real boards on their own radios; an emulated board has no radio here (the lab config refuses it).

What the phone does on the adapter (scan, join, leave) is still recorded as air events for the timeline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from provlab.clock.base import LabClock
from provlab.wifi.backend import (
    AccessPoint,
    ApServer,
    BoardRadio,
    ClientHandler,
    HostedAccessPoint,
    Link,
    WifiBackend,
    WifiError,
)
from provlab.wifi.events import AirEvent
from provlab.wifi.faults import ANY_CHANNEL, Faults


class NotOnThisAir(WifiError):
    """Something a real air cannot do for the lab (host a network, give a board a radio, a second phone)."""


class RealNetwork(HostedAccessPoint):
    """A network of the real air, known to the lab by name only (it provisions boards onto it)."""

    def __init__(self, ssid: str, passphrase: str | None) -> None:
        self.ssid = ssid
        self.passphrase = passphrase
        self.bssid = ""
        self.gateway = ""

    @property
    def station_count(self) -> int:
        raise NotOnThisAir(f"{self.ssid!r} is a real network: the lab cannot count its stations")

    async def serve(self, port: int, handler: ClientHandler) -> ApServer:
        raise NotOnThisAir(f"{self.ssid!r} is a real network: the lab hosts no server on it")


class RealAirFaults(Faults):
    """A real air has no knobs: every fault raises `NotOnThisAir` naming the knob."""

    def _refuse(self, knob: str, ssid: str) -> NotOnThisAir:
        return NotOnThisAir(
            f"{knob}({ssid!r}) needs an air the lab builds (sim or netns); on a real air use a programmable "
            "router or a shielded box for Wi-Fi faults"
        )

    def ap_down(self, ssid: str) -> None:
        raise self._refuse("ap_down", ssid)

    def ap_up(self, ssid: str) -> None:
        raise self._refuse("ap_up", ssid)

    def set_rssi(self, ssid: str, rssi: int) -> None:
        raise self._refuse("set_rssi", ssid)

    def set_channel(self, ssid: str, channel: int) -> None:
        raise self._refuse("set_channel", ssid)

    def set_internet(self, ssid: str, online: bool) -> None:
        raise self._refuse("set_internet", ssid)

    def set_dns_failure(self, ssid: str, failing: bool) -> None:
        raise self._refuse("set_dns_failure", ssid)

    def kick(self, ssid: str, station: str | None = None) -> list[str]:
        raise self._refuse("kick", ssid)

    def ap_up_after(self, ssid: str, device_seconds: float) -> Callable[[], None]:
        raise self._refuse("ap_up_after", ssid)


class RecordedStation(WifiBackend):
    """The adapter as the lab's phone station: every scan, join and leave also becomes an air event."""

    def __init__(self, name: str, backend: WifiBackend, air: AdapterAir) -> None:
        self.name = name
        self.backend = backend
        self._air = air

    async def scan(self) -> list[AccessPoint]:
        found = await self.backend.scan()
        self._air.record("probe_req", "", station=self.name, detail=f"{len(found)} network(s) seen")
        return found

    async def join(self, ssid: str, passphrase: str | None = None) -> Link:
        try:
            link = await self.backend.join(ssid, passphrase)
        except WifiError as exc:
            self._air.record("auth_fail", ssid, station=self.name, detail=type(exc).__name__)
            raise
        self._air.record("assoc", ssid, bssid=getattr(link, "bssid", ""), station=self.name)
        return link

    async def leave(self) -> None:
        link = self.backend.link
        await self.backend.leave()
        if link is not None:
            self._air.record("deauth", getattr(link, "ssid", ""), station=self.name, detail="left")

    @property
    def link(self) -> Link | None:
        return self.backend.link


class AdapterAir:
    """The real air around the lab host, seen through one adapter (`kind` is the `--wifi` value)."""

    hosted = False

    def __init__(self, kind: str, adapter: WifiBackend, clock: LabClock | None = None) -> None:
        self.kind = kind
        self.adapter = adapter
        self.events: list[AirEvent] = []
        self.listeners: list[Callable[[AirEvent], None]] = []
        self.faults: Faults = RealAirFaults(clock)
        self.networks: dict[str, RealNetwork] = {}
        self._station: RecordedStation | None = None

    def record(self, kind: str, ssid: str, *, bssid: str = "", station: str = "", detail: str = "") -> None:
        event = AirEvent(time.time(), kind, ssid, bssid, station=station, detail=detail)
        self.events.append(event)
        for listener in list(self.listeners):
            listener(event)

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
    ) -> HostedAccessPoint:
        """The lab names a real network (the home network boards are provisioned onto); nothing is built."""
        network = self.networks[ssid] = RealNetwork(ssid, passphrase)
        return network

    def station(self, name: str, *, mac: str | None = None, channels: frozenset[int] = ANY_CHANNEL) -> WifiBackend:
        if self._station is not None:
            raise NotOnThisAir(
                f"{self.kind} is one adapter and already {self._station.name}'s radio; a second phone ({name}) "
                "needs a second adapter (and a second lab host or lab)"
            )
        self._station = RecordedStation(name, self.adapter, self)
        return self._station

    def board_radio(self, name: str, *, mac: str | None = None) -> BoardRadio:
        raise NotOnThisAir(
            f"{name} is emulated, but with wifi = {self.kind!r} the lab's air is the real one: an emulated board has "
            "no radio on it. Attach real boards (--boards /dev/ttyUSB0), or use --wifi sim for emulated ones"
        )

    def open_internet_port(self, port: int, loopback_host: str = "127.0.0.1") -> None:
        """Nothing to open: on a real air the boards reach the cloud through the real network."""

    def start_capture(self, path: str | Path, *, masked: bool = True) -> None:
        """No capture: a real air is captured with a monitor-mode adapter and your own tools."""

    def close(self) -> None:
        close = getattr(self.adapter, "close", None)
        if close is not None:
            close()
