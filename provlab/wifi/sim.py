"""The `sim` Wi-Fi backend: access points and stations in-process, all traffic over loopback.

Each simulated network gets its own loopback /24 (127.64.0.0/10 and up), so every station has a
real address of its own: sockets bind to it, servers see it as the peer, and a SoftAP can tell
which station is talking. The network also has the address plan a real device would see (the
SoftAP's 192.168.4.0/24, a home router's subnet); those addresses are never connected to — a
`Link` translates them to the loopback socket address behind them.

Connections to internet hosts go through a relay of the network's router (`sim_relay`): when the
station's link goes down the server hears nothing more (no FIN, no RST) and must time the device out
itself, and while the network's internet is down existing connections stall instead of carrying on.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from provlab.clock.base import LabClock
from provlab.clock.wall import WallClock
from provlab.wifi.backend import (
    AccessPoint,
    ApFull,
    ApServer,
    AuthenticationFailed,
    BoardRadio,
    ClientHandler,
    DnsFailure,
    HostedAccessPoint,
    Link,
    LinkDown,
    NetworkNotFound,
    Security,
    WifiBackend,
)
from provlab.wifi.events import AirEvent as AirEvent
from provlab.wifi.events import station_mac_for as station_mac_for
from provlab.wifi.faults import ANY_CHANNEL, ESP32_CHANNELS, SENSITIVITY_DBM, UnknownNetwork
from provlab.wifi.guard import is_loopback_host
from provlab.wifi.sim_faults import SimFaults
from provlab.wifi.sim_relay import SimRelays

if TYPE_CHECKING:
    from provlab.wifi.capture import SimCapture
    from provlab.wifi.events import AirEvent as AirEvent
from provlab.wifi.faults import Faults

LOCAL_BASE = int(ipaddress.IPv4Address("127.64.0.0"))
LOCAL_END = int(ipaddress.IPv4Address("127.128.0.0"))
"""The sim's loopback addresses: 127.64.0.0/10, 4 Mi addresses, carved into one block per network."""
MAX_NETWORKS = 1 << 14  # networks with a /24 each; fewer when some are larger, far more for SoftAPs (8 each)
SOFTAP_MAX_STATIONS = 4  # arduino-esp32 `softAP(..., max_connection = 4)` (audit #19)


class LoopbackPlan:
    """Loopback blocks for networks, from `[start, end)`: one aligned block per network, as large as its subnet
    (a /16 home network gets 65,536 addresses, a SoftAP with at most 4 stations 8). A removed network's block
    goes back to a queue of its size and is handed out again, oldest first. O(1) per network."""

    def __init__(self, start: int = LOCAL_BASE, end: int = LOCAL_END) -> None:
        self.start, self.end = start, end
        self._cursor = start
        self._free: dict[int, deque[int]] = {}

    def take(self, size: int) -> int:
        queue = self._free.get(size)
        if queue:
            return queue.popleft()
        base = -(-self._cursor // size) * size  # aligned to its size, so base + host never crosses into the next
        if base + size > self.end:
            raise RuntimeError(f"sim air: out of loopback addresses for a block of {size}")
        self._cursor = base + size
        return base

    def give_back(self, base: int, size: int) -> None:
        self._free.setdefault(size, deque()).append(base)


def block_size(subnet: ipaddress.IPv4Network, max_stations: int | None) -> int:
    """Loopback addresses a network needs: its subnet's, or (few stations) gateway + stations, a power of two."""
    if max_stations is None:
        return subnet.num_addresses
    return min(subnet.num_addresses, 1 << (max_stations + 2).bit_length())


class SimNetwork(HostedAccessPoint):
    """One access point and the IP network behind it."""

    def __init__(
        self,
        air: SimAir,
        index: int,
        ssid: str,
        bssid: str,
        *,
        passphrase: str | None,
        channel: int,
        rssi: int,
        virtual_subnet: str,
        dns: dict[str, str],
        internet: bool,
        base: int,
        size: int,
        place: str | None = None,
    ) -> None:
        self.air = air
        self.index = index
        self.ssid = ssid
        self.bssid = bssid
        self.passphrase = passphrase
        self.channel = channel
        self.rssi = rssi
        self._internet = internet
        self.dns = dict(dns)
        self.virtual_net = ipaddress.IPv4Network(virtual_subnet)
        self.gateway = str(self.virtual_net.network_address + 1)
        self.local_gateway = str(ipaddress.IPv4Address(base + 1))
        self._base = base
        self.block = size
        """Loopback addresses of this network: `base` .. `base + block - 1` (gateway at +1, stations above)."""
        self.place = place
        """Where the AP stands (`SimAir`: a station hears the networks of its place and those of no place)."""
        self._services: dict[tuple[str, int], tuple[str, int]] = {}
        self._links: dict[str, SimLink] = {}
        self._by_address: dict[str, SimLink] = {}
        self.max_stations: int | None = None  # None: no limit
        self._next_host = itertools.count(2)
        self._free_hosts: deque[int] = deque()
        self.last_host = size - 2
        """The highest host number a station gets (below the subnet's broadcast address)."""
        self._access_point: AccessPoint | None = None
        self.up = True
        """False once the network is removed for good."""
        self.on_air = True
        """False while the AP is switched off by a fault (it keeps its addressing and servers)."""
        self.dns_failing = False

    @property
    def internet(self) -> bool:
        """The router's uplink; existing connections stall while it is down (`sim_relay`)."""
        return self._internet

    @internet.setter
    def internet(self, online: bool) -> None:
        changed, self._internet = online != self._internet, online
        if changed:
            self.air.relays.internet_changed()

    @property
    def security(self) -> Security:
        return Security.WPA2 if self.passphrase is not None else Security.OPEN

    @property
    def station_count(self) -> int:
        return len(self._links)

    def stations(self) -> list[str]:
        return list(self._links)

    @property
    def reachable(self) -> bool:
        return self.up and self.on_air and self.rssi >= SENSITIVITY_DBM

    def expose(self, virtual_ip: str, port: int, local: tuple[str, int]) -> None:
        """Make `virtual_ip:port` on this network reach the loopback socket address `local`."""
        self._services[(virtual_ip, port)] = local

    def service(self, host: str, port: int) -> tuple[str, int] | None:
        return self._services.get((host, port))

    def is_station_address(self, local_ip: str) -> bool:
        return local_ip in self._by_address

    async def serve(self, port: int, handler: ClientHandler) -> ApServer:
        """A server on this network's gateway (its own loopback address), open to its stations only."""

        async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = writer.get_extra_info("peername")
            if not (isinstance(peer, tuple) and self.is_station_address(str(peer[0]))):
                writer.transport.abort()  # not joined to this AP: as unreachable as another network
                return
            await handler(reader, writer)

        server = await asyncio.start_server(guarded, self.local_gateway, 0)
        local = server.sockets[0].getsockname()
        self.expose(self.gateway, port, (str(local[0]), int(local[1])))
        return SimApServer(self, port, server)

    def access_point(self) -> AccessPoint:
        """What a scan reports; one object per network, made again only after a fault changed it."""
        ap = self._access_point
        if ap is None or ap.channel != self.channel or ap.rssi != self.rssi or ap.security is not self.security:
            ap = self._access_point = AccessPoint(self.ssid, self.bssid, self.channel, self.rssi, self.security)
        return ap

    def _attach(self, station: str) -> SimLink:
        host = self._free_hosts.popleft() if self._free_hosts else next(self._next_host)
        if host > self.last_host:  # the subnet's broadcast address, or past the loopback block
            raise LinkDown(f"{self.ssid!r}: no free address for {station} (all up to host {self.last_host} in use)")
        link = SimLink(
            self,
            station,
            ip=str(self.virtual_net.network_address + host),
            local=str(ipaddress.IPv4Address(self._base + host)),
        )
        link.host_index = host
        self._links[station] = link
        self._by_address[link.local_address] = link
        return link

    def _detach(self, station: str) -> SimLink | None:
        link = self._links.pop(station, None)
        if link is not None:
            self._by_address.pop(link.local_address, None)
            link.up = False
            self._free_hosts.append(link.host_index)  # DHCP hands a released address out again
        return link

    def deauth_all(self, reason: str) -> list[str]:
        kicked = []
        for station in list(self._links):
            if self._detach(station) is not None:
                kicked.append(station)
                self.air.record("deauth", self, station, detail=reason)
        return kicked

    def shut_down(self) -> None:
        self.up = False
        self.deauth_all("ap_removed")


class SimApServer(ApServer):
    def __init__(self, network: SimNetwork, port: int, server: asyncio.Server) -> None:
        self.network = network
        self.port = port
        self.server = server

    async def close(self) -> None:
        self.network._services.pop((self.network.gateway, self.port), None)
        self.server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 1.0)


class SimLink(Link):
    def __init__(self, network: SimNetwork, station: str, *, ip: str, local: str) -> None:
        self.network = network
        self.station = station
        self.ssid = network.ssid
        self.bssid = network.bssid
        self.ip = ip
        self.gateway = network.gateway
        self._local = local
        self.host_index = 0
        self._up = True
        self.on_down: Callable[[], None] | None = None
        """Told once when the link goes down (the shared air tells the station's process: `sim_shared`)."""

    @property
    def up(self) -> bool:
        """False once the station is off this network (left, kicked, AP gone); never True again."""
        return self._up

    @up.setter
    def up(self, value: bool) -> None:
        was, self._up = self._up, value
        if was and not value:  # the radio link is gone: its connections fall silent at this instant (C11)
            self.network.air.relays.cut(self)
            if self.on_down is not None:
                self.on_down()

    @property
    def is_up(self) -> bool:
        return self.up and self.network.up and self.network.on_air

    @property
    def local_address(self) -> str:
        return self._local

    def resolve(self, name: str) -> str:
        if not self.is_up:
            raise LinkDown(f"link to {self.ssid!r} is down")
        if self.network.dns_failing:
            raise DnsFailure(name, self.ssid)
        try:
            return self.network.dns[name.lower()]
        except KeyError:
            raise DnsFailure(name, self.ssid) from None

    def endpoint(self, host: str, port: int) -> tuple[str, int]:
        if not self.is_up:
            raise LinkDown(f"link to {self.ssid!r} is down")
        mapped = self.network.service(host, port)
        if mapped is not None:
            return mapped
        if host == self.network.gateway or _in_subnet(host, self.network.virtual_net):
            raise ConnectionRefusedError(f"{host}:{port} on {self.ssid!r}: connection refused")
        if (is_loopback_host(host) or host in self.network.air.internet_hosts) and self.network.internet:
            return self.network.air.relays.door(self, host, port)
        raise LinkDown(f"{host}:{port} is not reachable from network {self.ssid!r}")


class SimAir:
    """The virtual air: every simulated access point and station of one lab."""

    kind = "sim"
    hosted = True

    def __init__(
        self,
        clock: LabClock | None = None,
        *,
        plan: LoopbackPlan | None = None,
        first_index: int = 0,
        keep_events: bool = True,
    ) -> None:
        self.clock: LabClock = clock or WallClock()
        """The lab clock the air's fault timers run on."""
        self._lock = threading.RLock()
        self._networks: dict[int, SimNetwork] = {}
        self._by_place: dict[str | None, dict[int, SimNetwork]] = {None: {}}
        self._by_ssid: dict[str, dict[int, SimNetwork]] = {}
        self._free = itertools.count(first_index)
        self.plan = plan or LoopbackPlan()
        """Where the networks' loopback blocks come from (a fleet's workers each get a part of 127.64.0.0/10)."""
        self.scan_work = 0
        """Networks looked at by scans and joins so far: what a scan costs, counted (O(networks in range))."""
        self.internet_hosts: set[str] = set()
        """Addresses beyond loopback a router carries stations to: only the cloud host a user named
        (`provlab emulate --cloud-url https://HOST:PORT` on another machine); empty in every lab."""
        self.keep_events = keep_events
        """False for a large fleet nobody records: events go to listeners and the capture only."""
        self._stations: dict[str, SimStation] = {}
        self.events: list[AirEvent] = []
        self.listeners: list[Callable[[AirEvent], None]] = []
        self.faults: Faults = SimFaults(self)
        self.relays = SimRelays()
        """The routers' relays of the stations' internet connections."""
        self._capture: SimCapture | None = None

    def record(self, kind: str, network: SimNetwork, station: str = "", *, detail: str = "") -> AirEvent:
        known = self._stations.get(station)
        event = AirEvent(
            time.time(),
            kind,
            network.ssid,
            network.bssid,
            station,
            station_mac=known.mac if known is not None else (station_mac_for(station) if station else ""),
            channel=network.channel,
            security=network.security.value,
            detail=detail,
        )
        if self.keep_events:
            self.events.append(event)
        for listener in list(self.listeners):
            listener(event)
        return event

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
        place: str | None = None,
        max_stations: int | None = None,
        hosts: tuple[int, int] | None = None,
    ) -> SimNetwork:
        """A network on the air. `place`: where it stands (None: heard everywhere, as a home router is by
        every station of a lab); `virtual_subnet` up to a /16 (65,534 stations)."""
        subnet = ipaddress.IPv4Network(virtual_subnet)
        if subnet.prefixlen < 16:
            raise ValueError(f"sim air: {virtual_subnet} is larger than a /16")
        size = block_size(subnet, max_stations)
        with self._lock:
            index = next(self._free)
            base = self.plan.take(size)
            network = SimNetwork(
                self,
                index,
                ssid,
                bssid or _bssid_for(index),
                passphrase=passphrase,
                channel=channel,
                rssi=rssi,
                virtual_subnet=virtual_subnet,
                dns=dns or {},
                internet=internet,
                base=base,
                size=size,
                place=place,
            )
            network.max_stations = max_stations
            if hosts is not None:  # this process's slice of a network shared by several (`sim_shared`)
                network._next_host = itertools.count(max(hosts[0], 2))
                network.last_host = min(hosts[1], network.last_host)
            network.on_air = on_air
            self._networks[index] = network
            self._by_place.setdefault(place, {})[index] = network
            self._by_ssid.setdefault(ssid, {})[index] = network
        if on_air:
            self.record("beacon_start", network)
        return network

    def start_softap(self, ssid: str, bssid: str, channel: int, *, place: str | None = None) -> SimNetwork:
        """An Edgent SoftAP: open, 192.168.4.1/24, DNS that answers only `blynk.setup`, no internet."""
        return self.add_network(
            ssid,
            bssid=bssid,
            channel=channel,
            rssi=-40,
            virtual_subnet="192.168.4.0/24",
            dns={"blynk.setup": "192.168.4.1", "www.blynk.setup": "192.168.4.1"},  # DNSServer strips `www.`
            internet=False,
            place=place,
            max_stations=SOFTAP_MAX_STATIONS,
        )

    def remove_network(self, network: SimNetwork) -> None:
        with self._lock:
            if self._networks.pop(network.index, None) is not None:
                self._by_place[network.place].pop(network.index, None)
                same = self._by_ssid[network.ssid]
                same.pop(network.index, None)
                if not same:
                    del self._by_ssid[network.ssid]
                if network.place is not None and not self._by_place[network.place]:
                    del self._by_place[network.place]
                self.plan.give_back(network._base, network.block)
        was_on_air = network.on_air
        network.shut_down()
        if was_on_air:
            self.record("beacon_stop", network)

    def networks(self) -> list[SimNetwork]:
        """The networks on the air now (removed and switched-off ones are not)."""
        with self._lock:
            return [n for n in self._networks.values() if n.up and n.on_air]

    def all_networks(self) -> list[SimNetwork]:
        with self._lock:
            return [n for n in self._networks.values() if n.up]

    def named(self, ssid: str) -> list[SimNetwork]:
        """The networks called `ssid` (up, on the air or not): a dict look-up, not a walk over the air."""
        with self._lock:
            return [n for n in self._by_ssid.get(ssid, {}).values() if n.up]

    def in_range(self, place: str | None) -> list[SimNetwork]:
        """The networks on the air a station at `place` could hear: those standing there and those of no place
        (a station of no place hears them all). Costs O(networks in range), counted in `scan_work`."""
        with self._lock:
            if place is None:
                found = list(self._networks.values())
            else:
                found = [*self._by_place[None].values(), *self._by_place.get(place, {}).values()]
            self.scan_work += len(found)
        return [n for n in found if n.up and n.on_air]

    def network(self, ssid: str) -> SimNetwork:
        """The network called `ssid`, on the air or not (for faults)."""
        matches = self.named(ssid)
        if not matches:
            raise UnknownNetwork(ssid, [n.ssid for n in self.all_networks()])
        return max(matches, key=lambda n: n.rssi)

    def find(self, ssid: str) -> SimNetwork | None:
        matches = [n for n in self.named(ssid) if n.on_air]
        return max(matches, key=lambda n: n.rssi) if matches else None

    def station(
        self,
        name: str,
        *,
        mac: str | None = None,
        channels: frozenset[int] = ANY_CHANNEL,
        place: str | None = None,
    ) -> SimStation:
        station = SimStation(self, name, mac=mac, channels=channels, place=place)
        with self._lock:
            self._stations[name] = station
        return station

    def board_radio(self, name: str, *, mac: str | None = None, place: str | None = None) -> SimBoardRadio:
        return SimBoardRadio(self, name, mac=mac, place=place)

    def open_internet_port(self, port: int, loopback_host: str = "127.0.0.1") -> None:
        """Nothing to do in `sim`: a station on a network with internet reaches any loopback port (relayed)."""

    def start_capture(self, path: str | Path, *, masked: bool = True) -> SimCapture:
        """Write every air event from now on as 802.11 frames to a pcap at `path` (no payloads: nothing to mask)."""
        from provlab.wifi.capture import SimCapture

        if self._capture is None:
            self._capture = SimCapture(self, path)
        return self._capture

    def close(self) -> None:
        self.faults.cancel_timers()
        self.relays.close()
        capture, self._capture = self._capture, None
        if capture is not None:
            capture.close()

    def __enter__(self) -> SimAir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _in_subnet(host: str, net: ipaddress.IPv4Network) -> bool:
    try:
        return ipaddress.ip_address(host) in net
    except ValueError:
        return False


def _bssid_for(index: int) -> str:
    raw = bytes([0x02, 0x50, 0x4C, (index >> 16) & 0xFF, (index >> 8) & 0xFF, index & 0xFF])
    return ":".join(f"{b:02X}" for b in raw)


class SimStation(WifiBackend):
    """A station radio on the virtual air (a phone, or a board's STA interface)."""

    def __init__(
        self,
        air: SimAir,
        name: str,
        *,
        mac: str | None = None,
        channels: frozenset[int] = ANY_CHANNEL,
        place: str | None = None,
    ) -> None:
        self.air = air
        self.name = name
        self.mac = mac or station_mac_for(name)
        self.channels = channels
        self.place = place
        """Where the station is: it hears the networks standing there and those of no place (None: all)."""
        self._link: SimLink | None = None

    @property
    def link(self) -> SimLink | None:
        if self._link is not None and not self._link.is_up:
            self._link = None
        return self._link

    def move_to(self, place: str | None) -> None:
        """Carry the station to `place` (a phone walking up to a board); a joined link stays as it is."""
        self.place = place

    def _hears(self, network: SimNetwork) -> bool:
        here = self.place is None or network.place in (None, self.place)
        return here and network.reachable and network.channel in self.channels

    async def scan(self) -> list[AccessPoint]:
        heard = [n for n in self.air.in_range(self.place) if self._hears(n)]
        if self.air.listeners or self.air._capture is not None:
            for network in heard:
                self.air.record("probe_resp", network, self.name)
        return [n.access_point() for n in heard]

    async def join(self, ssid: str, passphrase: str | None = None) -> SimLink:
        await self.leave()
        matches = [n for n in self.air.named(ssid) if self._hears(n)]
        self.air.scan_work += len(matches)
        network = max(matches, key=lambda n: n.rssi) if matches else None
        if network is None:
            raise NetworkNotFound(ssid)
        if network.passphrase is not None and passphrase != network.passphrase:
            self.air.record("auth", network, self.name)
            self.air.record("auth_fail", network, self.name)
            raise AuthenticationFailed(ssid)
        self.air.record("auth", network, self.name)
        with self.air._lock:
            full = network.max_stations is not None and len(network._links) >= network.max_stations
            if not full:
                link = network._attach(self.name)
        if full:
            assert network.max_stations is not None
            raise ApFull(ssid, network.max_stations)
        self.air.record("assoc", network, self.name)
        self._link = link
        return link

    async def leave(self) -> None:
        link, self._link = self._link, None
        if link is not None and link.up:
            with self.air._lock:
                link.network._detach(self.name)
            self.air.record("deauth", link.network, self.name, detail="leaving")


class SimBoardRadio(BoardRadio):
    """A board's radio on the virtual air: an ESP32, so its station hears 2.4 GHz channels 1-13 only."""

    def __init__(self, air: SimAir, name: str, *, mac: str | None = None, place: str | None = None) -> None:
        self.air = air
        self.place = place
        """Where the board stands: its SoftAP is heard there, its station hears that place's networks."""
        self._station = air.station(f"{name}-sta", mac=mac, channels=ESP32_CHANNELS, place=place)
        self._ap: SimNetwork | None = None

    @property
    def station(self) -> SimStation:
        return self._station

    @property
    def ap(self) -> SimNetwork | None:
        return self._ap

    async def start_ap(self, ssid: str, bssid: str, channel: int) -> SimNetwork:
        await self.stop_ap()
        self._ap = self.air.start_softap(ssid, bssid, channel, place=self.place)
        return self._ap

    async def stop_ap(self) -> None:
        ap, self._ap = self._ap, None
        if ap is not None:
            self.air.remove_network(ap)
