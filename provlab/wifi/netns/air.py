"""The `netns` air: every namespace, bridge and server of one run, and their removal at the end.

It offers what `SimAir` offers (networks, stations, board radios, faults, capture, events), so a lab
builds the same world on either. Namespaces are `provlab-<run>-<role>`; the run is recorded so a
crashed run's leftovers can be found and removed (`provlab doctor --cleanup`). The host namespace
gets nothing but the namespace files: no veth, no bridge, no address, no route.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import itertools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from provlab.clock.base import LabClock
from provlab.clock.loop_thread import LoopThread
from provlab.clock.wall import WallClock
from provlab.wifi.events import AirEvent, station_mac_for
from provlab.wifi.faults import ANY_CHANNEL, ESP32_CHANNELS, Faults, UnknownNetwork
from provlab.wifi.guard import TrafficGuard, is_loopback_host
from provlab.wifi.netns.namespace import Namespace, unavailable_reason
from provlab.wifi.netns.network import NetnsNetwork
from provlab.wifi.netns.radio import SOFTAP_SUBNET, NetnsBoardRadio
from provlab.wifi.netns.runs import RunRecord, namespace_name, new_run_id
from provlab.wifi.netns.station import NetnsStation

if TYPE_CHECKING:
    from provlab.wifi.netns.capture import NetnsCapture

INTERNET_NET = ipaddress.IPv4Network("198.18.0.0/15")
"""Where the cloud lives as routers see it (RFC 2544 benchmarking range, never routed for real)."""
BROADCAST = "255.255.255.255/32"


class NetnsUnavailable(RuntimeError):
    """This host cannot run the netns backend; the message says why (not root, no namespaces…)."""


def _mac_for(index: int) -> str:
    raw = bytes([0x02, 0x50, 0x4E, (index >> 16) & 0xFF, (index >> 8) & 0xFF, index & 0xFF])
    return ":".join(f"{b:02X}" for b in raw)


class NetnsAir:
    """A radio environment made of Linux network namespaces (needs root)."""

    kind = "netns"
    hosted = True

    def __init__(self, run_id: str | None = None, clock: LabClock | None = None) -> None:
        reason = unavailable_reason()
        if reason is not None:
            raise NetnsUnavailable(reason)
        self.clock: LabClock = clock or WallClock()
        """The lab clock: the infrastructure loop (DHCP, DNS, uplinks) and fault timers run on it."""
        self.run_id = run_id or new_run_id()
        self.run_record = RunRecord.for_this_process(self.run_id)
        self.run_record.save()
        self.infra = LoopThread(f"provlab-netns-{self.run_id}", self.clock)
        """The infrastructure loop: the routers' DHCP, DNS and uplinks, apart from the boards' and phones' loop."""
        self._lock = threading.RLock()
        self._namespaces: list[Namespace] = []
        self._networks: list[NetnsNetwork] = []
        self._stations: dict[str, NetnsStation] = {}
        self._internet: dict[str, str] = {}
        self._ports: list[tuple[str, int]] = []
        self._cidrs: set[str] = {SOFTAP_SUBNET, str(INTERNET_NET), BROADCAST}
        self._index = itertools.count(1)
        self._link_index = itertools.count(1)
        self.events: list[AirEvent] = []
        self.listeners: list[Callable[[AirEvent], None]] = []
        from provlab.wifi.netns.faults import NetnsFaults

        self.faults: Faults = NetnsFaults(self)
        self._capture: NetnsCapture | None = None
        self._closed = False
        atexit.register(self.close)

    # --- namespaces and the guard -------------------------------------------------------------
    def namespace(self, role: str) -> Namespace:
        namespace = Namespace.create(namespace_name(self.run_id, role))
        with self._lock:
            self._namespaces.append(namespace)
            TrafficGuard.allow_namespace(namespace.inode, sorted(self._cidrs))
        return namespace

    def namespaces(self) -> list[str]:
        with self._lock:
            return [ns.name for ns in self._namespaces]

    def _add_cidr(self, cidr: str) -> None:
        with self._lock:
            if cidr in self._cidrs:
                return
            self._cidrs.add(cidr)
            for namespace in self._namespaces:
                TrafficGuard.allow_namespace(namespace.inode, sorted(self._cidrs))

    # --- events -------------------------------------------------------------------------------
    def record(
        self, kind: str, network: NetnsNetwork, station: str = "", station_mac: str = "", *, detail: str = ""
    ) -> AirEvent:
        event = AirEvent(
            time.time(),
            kind,
            network.ssid,
            network.bssid,
            station,
            station_mac=station_mac,
            channel=network.channel,
            security=network.security.value,
            detail=detail,
        )
        self.events.append(event)
        for listener in list(self.listeners):
            listener(event)
        return event

    # --- networks -----------------------------------------------------------------------------
    def internet_address(self, loopback_ip: str) -> str:
        """The address routers give the host's loopback service `loopback_ip`."""
        with self._lock:
            if loopback_ip not in self._internet:
                self._internet[loopback_ip] = str(INTERNET_NET.network_address + len(self._internet) + 1)
            return self._internet[loopback_ip]

    def internet_ports(self) -> list[tuple[str, str, int]]:
        with self._lock:
            return [(self.internet_address(host), host, port) for host, port in self._ports]

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
    ) -> NetnsNetwork:
        """A router with its own namespace (`net<N>`); loopback answers in `dns` become internet addresses."""
        index = next(self._index)
        zone = {
            name.lower(): (self.internet_address(ip) if is_loopback_host(ip) else ip)
            for name, ip in (dns or {}).items()
        }
        namespace = self.namespace(f"net{index}")
        network = NetnsNetwork(
            self,
            namespace,
            "br0",
            ssid,
            bssid or _mac_for(index),
            passphrase=passphrase,
            channel=channel,
            rssi=rssi,
            subnet=virtual_subnet,
            zone=zone,
            internet=internet,
        )
        network.on_air = on_air
        self.infra.run(self._start(network))
        return network

    async def start_network_async(self, network: NetnsNetwork) -> None:
        await self.infra.run_async(self._start(network))

    async def _start(self, network: NetnsNetwork) -> None:
        self._add_cidr(str(network.net))
        await network.start()
        with self._lock:
            self._networks.append(network)
        if self._capture is not None:
            self._capture.attach(network)
        if network.on_air:
            self.record("beacon_start", network)

    def remove_network(self, network: NetnsNetwork) -> None:
        self.infra.run(self._remove(network))

    async def remove_network_async(self, network: NetnsNetwork) -> None:
        await self.infra.run_async(self._remove(network))

    async def _remove(self, network: NetnsNetwork) -> None:
        with self._lock:
            if network not in self._networks:
                return
            self._networks.remove(network)
        for name in network.stations():
            if network.unplug_now(name):
                self.record("deauth", network, name, self._station_mac(name), detail="ap_removed")
        if self._capture is not None:
            self._capture.detach(network)
        await network.stop()
        if network.on_air:
            self.record("beacon_stop", network)
        if network.owns_namespace:
            with self._lock:
                if network.namespace in self._namespaces:
                    self._namespaces.remove(network.namespace)
            TrafficGuard.forget_namespace(network.namespace.inode)
            network.namespace.delete()

    def _station_mac(self, name: str) -> str:
        station = self._stations.get(name)
        return station.mac if station is not None else ""

    def networks(self) -> list[NetnsNetwork]:
        with self._lock:
            return [n for n in self._networks if n.up and n.on_air]

    def all_networks(self) -> list[NetnsNetwork]:
        with self._lock:
            return [n for n in self._networks if n.up]

    def network(self, ssid: str) -> NetnsNetwork:
        matches = [n for n in self.all_networks() if n.ssid == ssid]
        if not matches:
            raise UnknownNetwork(ssid, [n.ssid for n in self.all_networks()])
        return max(matches, key=lambda n: n.rssi)

    def find(self, ssid: str) -> NetnsNetwork | None:
        matches = [n for n in self.networks() if n.ssid == ssid]
        return max(matches, key=lambda n: n.rssi) if matches else None

    def open_internet_port(self, port: int, loopback_host: str = "127.0.0.1") -> None:
        """Routers with internet relay `port` of their internet address to `loopback_host:port`."""
        with self._lock:
            if (loopback_host, port) in self._ports:
                return
            self._ports.append((loopback_host, port))
            routers = [n for n in self._networks if n.internet and n.up]
        for network in routers:
            self.infra.run(network.open_uplink())

    def next_link_index(self) -> int:
        return next(self._link_index)

    # --- stations -----------------------------------------------------------------------------
    def station(self, name: str, *, mac: str | None = None, channels: frozenset[int] = ANY_CHANNEL) -> NetnsStation:
        """A phone (or any station) in its own namespace `provlab-<run>-<name>`."""
        namespace = self.namespace(name)
        station = NetnsStation(self, name, namespace, mac or station_mac_for(name), channels)
        with self._lock:
            self._stations[name] = station
        return station

    def board_radio(self, name: str, *, mac: str | None = None) -> NetnsBoardRadio:
        """A board's radio: namespace `provlab-<run>-<name>` for its SoftAP and its STA."""
        station = self.station(name, mac=mac, channels=ESP32_CHANNELS)
        return NetnsBoardRadio(self, name, station)

    # --- capture and teardown -----------------------------------------------------------------
    def start_capture(self, path: str | Path, *, masked: bool = True) -> NetnsCapture:
        """Capture every bridge's real traffic (scapy, inside each namespace) to a pcap at `path`.

        Secrets in payloads are masked unless `masked` is False (`--unmasked-pcap`).
        """
        from provlab.wifi.netns.capture import NetnsCapture

        with self._lock:
            if self._capture is None:
                self._capture = NetnsCapture(path, masked=masked)
                for network in self._networks:
                    self._capture.attach(network)
            return self._capture

    def close(self) -> None:
        """Remove everything this run created, whatever state it is in. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            networks, self._networks = list(self._networks), []
            namespaces, self._namespaces = list(self._namespaces), []
        atexit.unregister(self.close)
        self.faults.cancel_timers()
        capture, self._capture = self._capture, None
        if capture is not None:
            with contextlib.suppress(Exception):
                capture.close()
        for network in networks:
            with contextlib.suppress(Exception):
                self.infra.run(network.stop(), timeout=5)
        self.infra.close()
        for namespace in namespaces:
            TrafficGuard.forget_namespace(namespace.inode)
            with contextlib.suppress(Exception):
                namespace.delete()
        self.run_record.remove()

    def __enter__(self) -> NetnsAir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
