"""One access point in the `netns` backend: a bridge in a namespace, with DHCP, DNS and an uplink.

A station "associates" by getting a veth pair: `wlan0` in its own namespace, the peer enslaved to
the AP's bridge. Only stations plugged into the bridge reach the AP's address, which is the whole
isolation story. The AP's DHCP and DNS servers (and a router's uplink) run on the air's
infrastructure loop; HTTP servers a board offers on its SoftAP run on the board's own loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import socket
import threading
from typing import TYPE_CHECKING

from provlab.wifi import dhcp
from provlab.wifi.backend import AccessPoint, ApServer, ClientHandler, HostedAccessPoint, Security
from provlab.wifi.dns import ZoneServer
from provlab.wifi.faults import SENSITIVITY_DBM
from provlab.wifi.netns.namespace import Namespace
from provlab.wifi.netns.uplink import Uplink

if TYPE_CHECKING:
    from provlab.wifi.netns.air import NetnsAir
    from provlab.wifi.netns.station import NetnsLink, NetnsStation

STATION_IFACE = "wlan0"


def dns_socket(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, 53))
    sock.setblocking(False)
    return sock


def tcp_listener(address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    sock.listen(64)
    sock.setblocking(False)
    return sock


class NetnsNetwork(HostedAccessPoint):
    """An AP and the IP network behind it, living in `namespace` on bridge `bridge`."""

    def __init__(
        self,
        air: NetnsAir,
        namespace: Namespace,
        bridge: str,
        ssid: str,
        bssid: str,
        *,
        passphrase: str | None,
        channel: int,
        rssi: int,
        subnet: str,
        zone: dict[str, str],
        internet: bool,
        router: bool = True,
        owns_namespace: bool = True,
        arduino_dns: bool = False,
    ) -> None:
        self.air = air
        self.namespace = namespace
        self.bridge = bridge
        self.ssid = ssid
        self.bssid = bssid
        self.passphrase = passphrase
        self.channel = channel
        self.rssi = rssi
        self.net = ipaddress.IPv4Network(subnet)
        self.gateway = str(self.net.network_address + 1)
        self.internet = internet
        self.router = router
        self.owns_namespace = owns_namespace
        self.zone = ZoneServer(dict(zone), arduino=arduino_dns)
        self.dhcp = dhcp.DhcpServer(subnet, self.gateway, router=router)
        self.uplink = Uplink(namespace)
        self.up = False
        self.on_air = True
        self._links: dict[str, NetnsLink] = {}
        self._peers = itertools.count(1)
        self._lock = threading.Lock()

    # --- what a station sees ------------------------------------------------------------------
    @property
    def security(self) -> Security:
        return Security.WPA2 if self.passphrase is not None else Security.OPEN

    @property
    def reachable(self) -> bool:
        return self.up and self.on_air and self.rssi >= SENSITIVITY_DBM

    @property
    def dns_failing(self) -> bool:
        return self.zone.failing

    @property
    def station_count(self) -> int:
        return len(self._links)

    def stations(self) -> list[str]:
        return list(self._links)

    def access_point(self) -> AccessPoint:
        return AccessPoint(self.ssid, self.bssid, self.channel, self.rssi, self.security)

    # --- life cycle (on the air's infrastructure loop) ---------------------------------------
    async def start(self) -> None:
        ns, br = self.namespace, self.bridge
        await ns.aip_batch(
            f"link add {br} address {self.bssid.lower()} type bridge",
            f"addr add {self.gateway}/{self.net.prefixlen} dev {br}",
            f"link set {br} up",
        )
        loop = asyncio.get_running_loop()
        dhcp_sock = await ns.run(lambda: dhcp.server_socket(br))
        await loop.create_datagram_endpoint(lambda: self.dhcp, sock=dhcp_sock)
        dns_sock = await ns.run(lambda: dns_socket(self.gateway))
        await loop.create_datagram_endpoint(lambda: self.zone, sock=dns_sock)
        self.up = True
        if self.internet:
            await self.open_uplink()

    async def open_uplink(self) -> None:
        for internet_ip, loopback_ip, port in self.air.internet_ports():
            await self.namespace.aip("addr", "replace", f"{internet_ip}/32", "dev", "lo")
            await self.uplink.open(internet_ip, port, loopback_ip)

    async def close_uplink(self) -> None:
        await self.uplink.close()
        for internet_ip in {ip for ip, _lo, _port in self.air.internet_ports()}:
            await self.namespace.aip("addr", "del", f"{internet_ip}/32", "dev", "lo", check=False)

    async def stop(self) -> None:
        self.up = False
        await self.uplink.close()
        self.dhcp.close()
        self.zone.close()
        if not self.owns_namespace:
            await self.namespace.aip("link", "del", self.bridge, check=False)

    # --- stations -----------------------------------------------------------------------------
    async def plug(self, station: NetnsStation) -> None:
        """The radio link: a veth from the station's namespace into this AP's bridge."""
        peer = f"st{next(self._peers)}"
        await self.namespace.aip_batch(
            f"link add {STATION_IFACE} netns {station.namespace.name} address {station.mac.lower()} "
            f"type veth peer name {peer} netns {self.namespace.name}",
            f"link set {peer} master {self.bridge} up",
        )
        await station.namespace.aip("link", "set", STATION_IFACE, "up")

    def register(self, station: str, link: NetnsLink) -> None:
        with self._lock:
            self._links[station] = link

    async def unplug(self, station: NetnsStation) -> NetnsLink | None:
        with self._lock:
            link = self._links.pop(station.name, None)
        if link is not None:
            link.up = False
        await station.namespace.aip("link", "del", STATION_IFACE, check=False)
        return link

    def unplug_now(self, station_name: str) -> bool:
        """Cut one station off (from any thread): its link goes down and its veth is deleted."""
        with self._lock:
            link = self._links.pop(station_name, None)
        if link is None:
            return False
        link.up = False
        link.station.namespace.ip("link", "del", STATION_IFACE, check=False)
        return True

    # --- servers a board offers on its SoftAP -------------------------------------------------
    async def serve(self, port: int, handler: ClientHandler) -> ApServer:
        """Listen on `gateway:port` inside this AP's namespace: only its stations can reach it."""
        sock = await self.namespace.run(lambda: tcp_listener(self.gateway, port))
        server = await asyncio.start_server(handler, sock=sock)
        return NetnsApServer(server)


class NetnsApServer(ApServer):
    def __init__(self, server: asyncio.Server) -> None:
        self.server = server

    async def close(self) -> None:
        self.server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 1.0)
