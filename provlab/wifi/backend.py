"""The WifiBackend interface: what a station (a phone or a board's STA radio) can do on the air."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum


class Security(Enum):
    OPEN = "OPEN"
    WPA2 = "WPA2"


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


class LinkDown(WifiError):
    """The network the station was joined to went away (AP off, station kicked)."""


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

    @abstractmethod
    def endpoint(self, host: str, port: int) -> tuple[str, int]:
        """The socket address that reaches `host:port` through this link (raises `LinkDown`)."""


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
