"""The WifiBackend interface: what a station (a phone or a board's STA radio) can do on the air."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from ssl import SSLContext

ClientHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Security(Enum):
    """An access point's security, named as ESP32's `wifiSecToStr` prints it (spec §2.5)."""

    OPEN = "OPEN"
    WEP = "WEP"
    WPA = "WPA"
    WPA2 = "WPA2"
    WPA_WPA2 = "WPA+WPA2"
    WPA2_EAP = "WPA2-EAP"
    WPA3 = "WPA3"
    WPA2_WPA3 = "WPA2+WPA3"

    @property
    def needs_passphrase(self) -> bool:
        return self is not Security.OPEN


@dataclass(frozen=True)
class AccessPoint:
    """One scan result, as a station sees it."""

    ssid: str
    bssid: str
    channel: int
    rssi: int
    security: Security


class WifiError(Exception):
    """Base of every radio failure a station can see."""


class NetworkNotFound(WifiError):
    def __init__(self, ssid: str) -> None:
        super().__init__(f"no access point with SSID {ssid!r} is on the air")
        self.ssid = ssid


class AuthenticationFailed(WifiError):
    def __init__(self, ssid: str) -> None:
        super().__init__(f"authentication with {ssid!r} failed: wrong passphrase")
        self.ssid = ssid


class ApFull(WifiError):
    def __init__(self, ssid: str, limit: int) -> None:
        super().__init__(f"{ssid!r} refused the association: it already has its {limit} stations (AP full)")
        self.ssid = ssid
        self.limit = limit


class LinkDown(WifiError):
    """The network the station was joined to went away (AP off, station kicked)."""


class JoinTimeout(WifiError):
    def __init__(self, ssid: str, seconds: float) -> None:
        super().__init__(f"joining {ssid!r} did not complete within {seconds:g} s")
        self.ssid = ssid


class RadioControlError(WifiError):
    """The tool that drives a real radio (wpa_supplicant, NetworkManager) failed or did not answer."""


class DnsFailure(WifiError):
    def __init__(self, name: str, network: str) -> None:
        super().__init__(f"DNS on {network!r} gave no answer for {name!r} (SERVFAIL)")
        self.name = name


class Link(ABC):
    """A station's association with one access point, with an IP configuration from it."""

    ssid: str
    bssid: str
    ip: str
    """The station's address as the joined network presents it (what the firmware logs)."""
    gateway: str
    """The gateway's address on that network (192.168.4.1 on an Edgent SoftAP)."""

    @property
    @abstractmethod
    def is_up(self) -> bool: ...

    @property
    @abstractmethod
    def local_address(self) -> str:
        """The address sockets bind to so that traffic leaves through this link only."""

    @abstractmethod
    def resolve(self, name: str) -> str:
        """DNS as the joined network gives it; raises `DnsFailure`."""

    async def lookup(self, name: str) -> str:
        """`resolve` without blocking the event loop (backends that really query a server override it)."""
        return self.resolve(name)

    @abstractmethod
    def endpoint(self, host: str, port: int) -> tuple[str, int]:
        """The socket address that reaches `host:port` through this link (raises `LinkDown`).

        Connect to it from a socket bound to `local_address`. `open_connection` does both and is the
        preferred way: in `netns` it makes the socket inside the station's namespace, while this pair
        goes through a loopback relay into it.
        """

    async def open_connection(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        *,
        ssl: SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP (or TLS, with `ssl`) connection to `host:port` through this link; `timeout` covers both."""
        target = self.endpoint(host, port)
        return await asyncio.wait_for(
            asyncio.open_connection(
                target[0],
                target[1],
                local_addr=(self.local_address, 0),
                ssl=ssl,
                server_hostname=(server_hostname or host) if ssl is not None else None,
            ),
            timeout,
        )


class WifiBackend(ABC):
    """One station radio."""

    @abstractmethod
    async def scan(self) -> list[AccessPoint]: ...

    @abstractmethod
    async def join(self, ssid: str, passphrase: str | None = None) -> Link: ...

    @abstractmethod
    async def leave(self) -> None: ...

    @property
    @abstractmethod
    def link(self) -> Link | None: ...


class HostedAccessPoint(ABC):
    """An access point a board runs (its SoftAP), with the servers it offers to joined stations."""

    ssid: str
    bssid: str
    gateway: str
    """The AP's own address on its network (192.168.4.1 for Edgent)."""

    @property
    @abstractmethod
    def station_count(self) -> int:
        """`WiFi.softAPgetStationNum()`."""

    @abstractmethod
    async def serve(self, port: int, handler: ClientHandler) -> ApServer:
        """Listen on `gateway:port`; only stations joined to this AP can reach it."""


class ApServer(ABC):
    @abstractmethod
    async def close(self) -> None: ...


class BoardRadio(ABC):
    """A board's Wi-Fi chip: one SoftAP at a time and one station interface."""

    @property
    @abstractmethod
    def station(self) -> WifiBackend: ...

    @abstractmethod
    async def start_ap(self, ssid: str, bssid: str, channel: int) -> HostedAccessPoint: ...

    @abstractmethod
    async def stop_ap(self) -> None: ...

    @property
    @abstractmethod
    def ap(self) -> HostedAccessPoint | None: ...
