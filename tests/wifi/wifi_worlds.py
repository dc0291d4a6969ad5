"""The worlds the backend contract runs in: the same two access points on every Wi-Fi backend.

Each world has an open Edgent SoftAP ("Blynk Device-1W7R": DNS answers only `blynk.setup`) and a
WPA2 home network ("ProvlabHome", DNS answers `blynk.cloud`), a station to test (the backend), and
a way to serve TCP on an AP's gateway. `sim` and `netns` build them for real; `wpa` and `nm` drive a
fake wpa_supplicant control socket and a fake `nmcli` on PATH, whose networks are loopback subnets
(127.77.N.0/24) so that the link's HTTP and DNS are real sockets too.
"""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

from fake_wpa import FakeAp, FakeWpaSupplicant

from provlab.wifi import dhcp
from provlab.wifi.adapter import FixedAddressing
from provlab.wifi.backend import ClientHandler, Link, WifiBackend
from provlab.wifi.dns import ZoneServer

OPEN_SSID = "Blynk Device-1W7R"
OPEN_BSSID = "24:6F:28:AA:BB:CD"
HOME_SSID = "ProvlabHome"
HOME_PASS = "correct-horse-battery"
BACKENDS = ["sim", "netns", "wpa", "nm"]
HERE = Path(__file__).parent


class ContractWorld:
    """What every backend's world offers the contract tests."""

    kind: str
    backend: WifiBackend
    isolating = False

    async def serve(self, ssid: str, port: int, handler: ClientHandler) -> None:
        raise NotImplementedError

    def seen_as(self, link: Link) -> str:
        """The address the AP's servers see a station's connections come from."""
        return link.ip

    async def close(self) -> None:
        raise NotImplementedError


class AirWorld(ContractWorld):
    """`sim` or `netns`: a board radio's SoftAP and a router, and a phone station."""

    isolating = True

    def __init__(self, kind: str) -> None:
        from provlab.wifi.world import open_air

        self.kind = kind
        self.air = open_air(kind)
        self.servers: list[Any] = []

    async def start(self) -> None:
        self.radio = self.air.board_radio("ap-board")
        self.softap = await self.radio.start_ap(OPEN_SSID, OPEN_BSSID, 1)
        self.home = self.air.add_network(HOME_SSID, passphrase=HOME_PASS, dns={"blynk.cloud": "127.0.0.1"})
        self.backend = self.air.station("phone")
        self.other = self.air.station("stranger")

    async def serve(self, ssid: str, port: int, handler: ClientHandler) -> None:
        network = self.softap if ssid == OPEN_SSID else self.home
        self.servers.append(await network.serve(port, handler))

    def seen_as(self, link: Link) -> str:
        return link.local_address if self.kind == "sim" else link.ip

    async def close(self) -> None:
        try:
            for server in self.servers:
                await server.close()
            if hasattr(self, "backend"):
                await self.backend.leave()
            if hasattr(self, "radio"):
                await self.radio.stop_ap()
        finally:
            self.air.close()


class LoopbackNetworks:
    """The fake adapters' networks: one loopback /24 each, with a DNS server on its gateway."""

    def __init__(self) -> None:
        self.plan = {
            OPEN_SSID: ("127.77.1", {"blynk.setup": "127.77.1.1"}),
            HOME_SSID: ("127.77.2", {"blynk.cloud": "127.0.0.1"}),
        }
        self.transports: list[asyncio.DatagramTransport] = []
        self.servers: list[asyncio.Server] = []
        self.dns_port = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for prefix, zone in self.plan.values():
            if self.dns_port == 0:
                probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                probe.bind((f"{prefix}.1", 0))
                self.dns_port = probe.getsockname()[1]
                probe.close()
            transport, _ = await loop.create_datagram_endpoint(
                lambda zone=zone: ZoneServer(zone), local_addr=(f"{prefix}.1", self.dns_port)
            )
            self.transports.append(transport)

    def lease(self, ssid: str) -> dhcp.Lease:
        prefix, _ = self.plan[ssid]
        return dhcp.Lease(f"{prefix}.2", 24, f"{prefix}.1", (f"{prefix}.1",), f"{prefix}.1", 7200)

    async def serve(self, ssid: str, port: int, handler: ClientHandler) -> None:
        prefix, _ = self.plan[ssid]
        self.servers.append(await asyncio.start_server(handler, f"{prefix}.1", port))

    async def close(self) -> None:
        for transport in self.transports:
            transport.close()
        for server in self.servers:
            server.close()


class WpaWorld(ContractWorld):
    kind = "wpa"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.nets = LoopbackNetworks()

    async def start(self) -> None:
        from provlab.wifi.wpa import WpaBackend

        await self.nets.start()
        ctrl = self.folder / "wpa_supplicant"
        ctrl.mkdir()
        self.fake = FakeWpaSupplicant(
            str(ctrl),
            "lo",
            [
                FakeAp(OPEN_SSID, OPEN_BSSID.lower(), 2412, -40, "[ESS]"),
                FakeAp(HOME_SSID, "02:50:4c:00:00:01", 2437, -55, "[WPA2-PSK-CCMP][ESS]", psk=HOME_PASS),
            ],
        )
        addressing = FixedAddressing({ssid: self.nets.lease(ssid) for ssid in self.nets.plan})
        self.backend = WpaBackend(
            "lo",
            ctrl_dir=str(ctrl),
            reply_timeout=1.0,
            join_timeout=2.0,
            scan_wait=0.2,
            addressing=addressing,
            dns_port=self.nets.dns_port,
        )

    async def serve(self, ssid: str, port: int, handler: ClientHandler) -> None:
        await self.nets.serve(ssid, port, handler)

    async def close(self) -> None:
        await self.backend.leave()
        self.backend.close()  # type: ignore[attr-defined]
        self.fake.close()
        await self.nets.close()


class NmWorld(ContractWorld):
    kind = "nm"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.nets = LoopbackNetworks()

    async def start(self) -> None:
        from provlab.wifi.nm import NmBackend

        await self.nets.start()
        aps = []
        for ssid, (prefix, _zone) in self.nets.plan.items():
            secure = ssid == HOME_SSID
            aps.append(
                {
                    "ssid": ssid,
                    "bssid": OPEN_BSSID if not secure else "02:50:4C:00:00:01",
                    "chan": 1 if not secure else 6,
                    "signal": 100 if not secure else 75,
                    "security": "WPA2" if secure else "",
                    "psk": HOME_PASS if secure else None,
                    "address": f"{prefix}.2/24",
                    "gateway": f"{prefix}.1",
                    "dns": [f"{prefix}.1"],
                }
            )
        self.state = self.folder / "nmcli.json"
        self.state.write_text(json.dumps({"aps": aps, "active": None, "connections": {}, "log": [], "mask": HOME_PASS}))
        self.backend = NmBackend("lo", dns_port=self.nets.dns_port, join_timeout=5)

    def calls(self) -> list[list[str]]:
        return list(json.loads(self.state.read_text())["log"])

    async def serve(self, ssid: str, port: int, handler: ClientHandler) -> None:
        await self.nets.serve(ssid, port, handler)

    async def close(self) -> None:
        await self.backend.leave()
        self.backend.close()  # type: ignore[attr-defined]
        await self.nets.close()
