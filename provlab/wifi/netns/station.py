"""A station in the `netns` backend (a phone, or a board's STA), and its link to one AP.

Joining is what a phone's Wi-Fi does: find the SSID, check the passphrase (the control plane; there
is no 802.11 in the kernel here), plug `wlan0` into the AP's bridge, then real DHCP on it and the
address and default route it gives. From then on everything is real: DNS queries to the network's
server, TCP from the station's namespace, bound to its address and to `wlan0`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from ssl import SSLContext
from typing import TYPE_CHECKING

from provlab.wifi import dhcp, dns
from provlab.wifi.backend import (
    AccessPoint,
    AuthenticationFailed,
    DnsFailure,
    Link,
    LinkDown,
    NetworkNotFound,
    WifiBackend,
)
from provlab.wifi.netns.namespace import Namespace, NamespaceError
from provlab.wifi.netns.network import STATION_IFACE, NetnsNetwork
from provlab.wifi.netns.relay import LinkRelay, relay_addresses

if TYPE_CHECKING:
    from provlab.wifi.netns.air import NetnsAir

DHCP_TIMEOUT_S = 5.0
DNS_TIMEOUT_S = 1.0


def link_socket(kind: int, local_ip: str, device: str) -> socket.socket:
    """A socket bound to the link's address and interface (made inside the station's namespace)."""
    sock = socket.socket(socket.AF_INET, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
    sock.bind((local_ip, 0))
    return sock


class NetnsLink(Link):
    """What a station got from one AP: a DHCP lease on `wlan0`, DNS, a route.

    `ip` is the station's real address on the AP's network. `local_address` and `endpoint` are the
    loopback side of the link's relay (`LinkRelay`), for code that connects by address;
    `open_connection` needs no relay: its socket is made inside the station's namespace.
    """

    def __init__(self, station: NetnsStation, network: NetnsNetwork, lease: dhcp.Lease, index: int) -> None:
        self.station = station
        self.network = network
        self.lease = lease
        self.ssid = network.ssid
        self.bssid = network.bssid
        self.ip = lease.ip
        self.gateway = lease.gateway or network.gateway
        door_ip, client_ip = relay_addresses(index)
        self._relay = LinkRelay(self._open_raw, door_ip, client_ip)
        self._up = True

    @property
    def up(self) -> bool:
        return self._up

    @up.setter
    def up(self, value: bool) -> None:
        was, self._up = self._up, value
        if was and not value:  # the Wi-Fi is gone: connections carried through the relay drop
            infra = self.station.air.infra
            if not infra.loop.is_closed():
                with contextlib.suppress(RuntimeError):
                    asyncio.run_coroutine_threadsafe(self._relay.close(), infra.loop)

    @property
    def is_up(self) -> bool:
        return self._up and self.network.up and self.network.on_air

    @property
    def local_address(self) -> str:
        return self._relay.client_ip

    def _check(self) -> None:
        if not self.is_up:
            raise LinkDown(f"link to {self.ssid!r} is down")

    def _query(self, name: str) -> str:
        if not self.lease.dns:
            raise DnsFailure(name, self.ssid)
        with link_socket(socket.SOCK_DGRAM, self.ip, STATION_IFACE) as sock:
            return dns.query_with(sock, (self.lease.dns[0], 53), name, self.ssid, DNS_TIMEOUT_S)

    def resolve(self, name: str) -> str:
        self._check()
        return self.station.namespace.call(lambda: self._query(name), DNS_TIMEOUT_S * 2)

    async def lookup(self, name: str) -> str:
        self._check()
        return await self.station.namespace.run(lambda: self._query(name))

    def endpoint(self, host: str, port: int) -> tuple[str, int]:
        """A loopback door that carries connections on to `host:port` from inside the namespace."""
        self._check()
        return self.station.air.infra.run(self._relay.door(host, port), timeout=10)

    async def _open_raw(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self._check()
        sock = await self.station.namespace.run(lambda: link_socket(socket.SOCK_STREAM, self.ip, STATION_IFACE))
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, (host, port))
        except BaseException:
            sock.close()
            raise
        return await asyncio.open_connection(sock=sock)

    async def open_connection(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        *,
        ssl: SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection from a socket made inside the station's namespace, bound to `wlan0`."""
        self._check()

        async def connect() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
            sock = await self.station.namespace.run(lambda: link_socket(socket.SOCK_STREAM, self.ip, STATION_IFACE))
            sock.setblocking(False)
            try:
                await asyncio.get_running_loop().sock_connect(sock, (host, port))
                if ssl is None:
                    return await asyncio.open_connection(sock=sock)
                return await asyncio.open_connection(sock=sock, ssl=ssl, server_hostname=server_hostname or host)
            except BaseException:
                sock.close()
                raise

        return await asyncio.wait_for(connect(), timeout)


class NetnsStation(WifiBackend):
    """A station radio: its own namespace with one `wlan0` while joined."""

    def __init__(self, air: NetnsAir, name: str, namespace: Namespace, mac: str, channels: frozenset[int]) -> None:
        self.air = air
        self.name = name
        self.namespace = namespace
        self.mac = mac
        self.channels = channels
        self._link: NetnsLink | None = None
        self._lock = asyncio.Lock()

    @property
    def link(self) -> NetnsLink | None:
        if self._link is not None and not self._link.is_up:
            self._link = None
        return self._link

    def _hears(self, network: NetnsNetwork) -> bool:
        return network.reachable and network.channel in self.channels

    async def scan(self) -> list[AccessPoint]:
        return [n.access_point() for n in self.air.networks() if self._hears(n)]

    async def join(self, ssid: str, passphrase: str | None = None) -> NetnsLink:
        async with self._lock:  # one `wlan0`: a leave still deleting it must finish first
            return await self._join(ssid, passphrase)

    async def _join(self, ssid: str, passphrase: str | None) -> NetnsLink:
        await self._leave()
        matches = [n for n in self.air.networks() if n.ssid == ssid and self._hears(n)]
        if not matches:
            raise NetworkNotFound(ssid)
        network = max(matches, key=lambda n: n.rssi)
        self.air.record("auth", network, self.name, self.mac)
        if network.passphrase is not None and passphrase != network.passphrase:
            self.air.record("auth_fail", network, self.name, self.mac)
            raise AuthenticationFailed(ssid)
        try:
            await network.plug(self)
        except NamespaceError as exc:
            raise LinkDown(f"{ssid!r}: could not associate: {exc}") from exc
        self.air.record("assoc", network, self.name, self.mac)
        try:
            lease = await self.namespace.run(lambda: dhcp.obtain_lease(STATION_IFACE, self.mac, timeout=DHCP_TIMEOUT_S))
            commands = [f"addr add {lease.ip}/{lease.prefix} dev {STATION_IFACE}"]
            if lease.gateway:
                commands.append(f"route replace default via {lease.gateway} dev {STATION_IFACE}")
            await self.namespace.aip_batch(*commands)
        except (dhcp.DhcpError, NamespaceError) as exc:
            await self.namespace.aip("link", "del", STATION_IFACE, check=False)
            raise LinkDown(f"{ssid!r}: no address: {exc}") from exc
        link = NetnsLink(self, network, lease, self.air.next_link_index())
        network.register(self.name, link)
        if not network.reachable:  # the AP went away while we were getting an address
            network.unplug_now(self.name)
            raise LinkDown(f"{ssid!r} went off the air while joining")
        self._link = link
        return link

    async def leave(self) -> None:
        async with self._lock:
            await self._leave()

    async def _leave(self) -> None:
        link, self._link = self._link, None
        if link is None:
            return
        was_up = link.up
        await link.network.unplug(self)
        if was_up:
            self.air.record("deauth", link.network, self.name, self.mac, detail="leaving")
