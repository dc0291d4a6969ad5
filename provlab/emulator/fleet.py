"""A fleet of emulated boards on the `sim` air, run standalone (`provlab emulate`).

Each board gets a real pty, a flash file, a MAC from a base, and a host bridge: a TCP listener on
127.0.0.1 that joins the board's SoftAP as a station (as a laptop would) and forwards each connection to
192.168.4.1:80, so `curl http://127.0.0.1:<port>/board_info.json` talks to the board's own web server.
The bridge stays joined for a while after its last connection, like a laptop that stays on the AP.

Boards stand at benches of `PLACE_SIZE` (`SimAir` places): a board's scan, and a phone's at that bench, hear
those boards and the home network, not the whole fleet. A fleet may be one worker of several
(`fleet_workers`): it then takes its share of the boards, its part of the loopback addresses and BSSIDs,
its slice of the home network's pool, and answers for its part of the air on a Unix socket (`sim_shared`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provlab.emulator.board import EmulatedBoard
from provlab.emulator.clock import DeviceClock
from provlab.emulator.defects import Defect
from provlab.emulator.profile import PROFILES
from provlab.emulator.serial_port import BoardSerial, MemorySerial, PtySerial
from provlab.protocol.ssid import format_mac, softap_ssid
from provlab.wifi.backend import Link, WifiError
from provlab.wifi.sim import LOCAL_BASE, LOCAL_END, LoopbackPlan, SimAir, SimBoardRadio
from provlab.wifi.sim_shared import AirPort

MAC_BASE = bytes.fromhex("246F28AA0000")
ESPRESSIF_OUI = MAC_BASE[:3]
BRIDGE_LINGER_S = 30.0  # device seconds the bridge stays joined after its last connection
SOFTAP_HTTP = ("192.168.4.1", 80)


PLACE_SIZE = 8
"""Boards per place (a bench): a board's scan hears its bench and the home network, not the whole fleet."""
HOME_SUBNET_SMALL = "192.168.1.0/24"
HOME_SUBNET_LARGE = "192.168.0.0/16"
"""A fleet of more than 250 boards meets on a /16 home network (65,534 addresses)."""
HOME_BSSID = "02:50:4C:FF:FF:FE"


def worker_plan(worker: int, workers: int) -> LoopbackPlan:
    """Worker `worker`'s part of the sim's loopback addresses: an equal share, /16 aligned."""
    share = ((LOCAL_END - LOCAL_BASE) // workers) & ~0xFFFF
    return LoopbackPlan(LOCAL_BASE + worker * share, LOCAL_BASE + (worker + 1) * share)


def home_hosts(subnet: str, worker: int, workers: int) -> tuple[int, int] | None:
    """The host numbers worker `worker` hands out on the shared home network (a slice of its DHCP pool)."""
    if workers == 1:
        return None
    usable = ipaddress.IPv4Network(subnet).num_addresses - 3  # .0, the router's .1, broadcast
    share = usable // workers
    return 2 + worker * share, 1 + (worker + 1) * share


class FleetError(ValueError):
    """A fleet that cannot be built as asked (unknown profile, bad network spec)."""


@dataclass(frozen=True)
class FleetBoardInfo:
    """What `provlab emulate` prints for one board."""

    name: str
    ssid: str
    mac: str
    pty: str | None
    softap_http: str
    place: str = ""

    def as_dict(self) -> dict[str, str | None]:
        return {
            "name": self.name,
            "ssid": self.ssid,
            "mac": self.mac,
            "pty": self.pty,
            "softap_http": self.softap_http,
            "place": self.place,
        }


def random_mac_base() -> bytes:
    """An Espressif MAC base of its own for each fleet, so boards of separate `provlab emulate` runs get
    distinct MACs and therefore distinct SoftAP SSIDs (`Blynk <template>-XXXX` comes from the MAC)."""
    return ESPRESSIF_OUI + (secrets.randbits(22) << 2).to_bytes(3, "big")


def registry_dir() -> Path:
    """Where each `provlab emulate` process lists its boards (one JSON file per process id)."""
    return Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) / "provlab-emulate"


def write_registry(boards: list[dict[str, Any]]) -> Path:
    """List this process's boards for `provlab provision --target SSID`; removed when the fleet stops."""
    folder = registry_dir()
    path = folder / f"{os.getpid()}.json"
    for attempt in range(3):  # another process may remove the folder when it empties it (`remove_registry`)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            path.write_text(json.dumps({"pid": os.getpid(), "boards": boards}))
            break
        except FileNotFoundError:
            if attempt == 2:
                raise
    return path


def remove_registry(path: Path) -> None:
    """This process's entry, and the folder when no other process has one (nothing of provlab stays in /tmp)."""
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty: another `provlab emulate` still runs
        path.parent.rmdir()


def running_boards() -> list[dict[str, Any]]:
    """Boards of every live `provlab emulate` process (files of dead ones are skipped)."""
    found: list[dict[str, Any]] = []
    folder = registry_dir()
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            entry = json.loads(path.read_text())
            os.kill(int(entry["pid"]), 0)
        except (OSError, ValueError, KeyError):
            continue
        found += [dict(board, pid=entry["pid"]) for board in entry.get("boards", [])]
    return found


def parse_network(spec: str) -> tuple[str, str | None]:
    """`SSID[:PASS]` -> (ssid, passphrase or None for an open network)."""
    ssid, sep, passphrase = spec.partition(":")
    if not ssid:
        raise FleetError(f"--network {spec!r}: expected SSID[:PASS] with a non-empty SSID")
    if sep and len(passphrase) < 8:
        raise FleetError(f"--network {spec!r}: a WPA2 passphrase has at least 8 characters")
    return ssid, (passphrase if sep else None)


class SoftApBridge:
    """127.0.0.1:<port> on the host -> a station joined to one board's SoftAP -> 192.168.4.1:80."""

    def __init__(self, air: SimAir, board: EmulatedBoard, name: str) -> None:
        self.air = air
        self.board = board
        self.station = air.station(name)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._active = 0
        self._linger: asyncio.TimerHandle | None = None

    async def start(self, host: str = "127.0.0.1") -> str:
        self._server = await asyncio.start_server(self._serve, host, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        if self._linger is not None:
            self._linger.cancel()
        if self._server is not None:
            self._server.close()
        await self.station.leave()

    async def _link(self) -> Link | None:
        link = self.station.link
        if link is not None and link.is_up:
            return link
        try:
            return await self.station.join(self.board.ssid)
        except WifiError:
            return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._active += 1
        if self._linger is not None:
            self._linger.cancel()
        try:
            link = await self._link()
            if link is None:  # the board is not in AP mode
                return
            target = link.endpoint(*SOFTAP_HTTP)
            up_reader, up_writer = await asyncio.open_connection(
                target[0], target[1], local_addr=(link.local_address, 0)
            )
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        except (OSError, WifiError):
            pass
        finally:
            writer.close()
            self._active -= 1
            if self._active == 0:
                self._linger = self.board.clock.call_later(BRIDGE_LINGER_S, self._leave)

    def _leave(self) -> None:
        if self._active == 0:
            asyncio.get_running_loop().create_task(self.station.leave())


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            writer.write_eof()


class Fleet:
    """N emulated boards sharing one sim air (and, optionally, one home network)."""

    def __init__(
        self,
        count: int,
        profile: str = "edgent-esp32",
        *,
        network: str | None = None,
        time_scale: float = 1.0,
        state_dir: str | Path | None = None,
        memory_serial: bool = False,
        bridges: bool = True,
        defects: Iterable[Defect | str] = (),
        template_id: str = "TMPL0PROVLAB",
        template_name: str = "Device",
        mac_base: bytes | None = None,
        cloud_ports: Iterable[int] = (),
        tls_ca: str | Path | None = None,
        cloud_host: str = "blynk.cloud",
        keep_state: bool | None = None,
        cloud_address: str = "127.0.0.1",
        place_size: int = PLACE_SIZE,
        worker: int = 0,
        workers: int = 1,
        first_board: int = 1,
        home_subnet: str | None = None,
        air_port: str | Path | None = None,
    ) -> None:
        if count < 1:
            raise FleetError(f"--count must be >= 1, got {count}")
        if profile not in PROFILES:
            raise FleetError(f"--profile {profile!r} is not one of {', '.join(sorted(PROFILES))}")
        self.count = count
        self.profile = PROFILES[profile](template_id=template_id, template_name=template_name)
        self.network = parse_network(network) if network else None
        self.time_scale = time_scale
        self.keeps_state = state_dir is not None if keep_state is None else keep_state
        """The user's folder stays; a temp folder (also one the caller made, `keep_state=False`) goes at the end."""
        self.state_dir = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="provlab-emulate-"))
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.memory_serial = memory_serial
        self.bridges_enabled = bridges
        self.defects = tuple(Defect.parse(d) if isinstance(d, str) else d for d in defects)
        self.mac_base = mac_base if mac_base is not None else random_mac_base()
        self.cloud_ports = tuple(cloud_ports)
        """Loopback ports of the cloud the boards may reach through their home network's router."""
        self.tls_ca = tls_ca
        self.cloud_host = cloud_host
        self.cloud_address = cloud_address
        """Where the home network's DNS sends `cloud_host`: loopback, or the stub's machine (`--cloud-url`)."""
        self.place_size = place_size
        self.worker, self.workers, self.first_board = worker, workers, first_board
        total = count if workers == 1 else count * workers
        self.home_subnet = home_subnet or (HOME_SUBNET_SMALL if total <= 250 else HOME_SUBNET_LARGE)
        self.air_port_path = str(air_port) if air_port is not None else None
        self.air = SimAir(plan=worker_plan(worker, workers), first_index=worker << 20, keep_events=False)
        if not ipaddress.ip_address(cloud_address).is_loopback:
            self.air.internet_hosts.add(cloud_address)
        self.air_port: AirPort | None = None
        self.boards: list[EmulatedBoard] = []
        self.serials: list[BoardSerial] = []
        self.bridges: list[SoftApBridge] = []
        self.info: list[FleetBoardInfo] = []

    async def start(self) -> list[FleetBoardInfo]:
        loop = asyncio.get_running_loop()
        for port in self.cloud_ports:
            self.air.open_internet_port(port)
        if self.network is not None:
            ssid, passphrase = self.network
            self.air.add_network(
                ssid,
                bssid=HOME_BSSID,  # one network, whichever worker's part of the air a board meets it in
                passphrase=passphrase,
                virtual_subnet=self.home_subnet,
                dns={self.cloud_host: self.cloud_address},
                hosts=home_hosts(self.home_subnet, self.worker, self.workers),
            )
        if self.air_port_path is not None:
            self.air_port = AirPort(self.air, self.air_port_path)
            await self.air_port.start()
        macs = self.macs()
        for index in range(self.first_board, self.first_board + self.count):
            name = f"board-{index}"
            mac = macs[index - 1]
            serial: BoardSerial
            if self.memory_serial:
                serial = MemorySerial()
            else:
                pty = PtySerial()
                pty.attach(loop)
                serial = pty
            board = EmulatedBoard(
                self.profile,
                mac,
                SimBoardRadio(self.air, name, place=self.place_of(index)),
                self.state_dir / f"{name}.nvs",
                serial,
                clock=DeviceClock(self.time_scale),
                name=name,
                defects=self.defects,
                tls_ca=self.tls_ca,
            )
            address = ""
            if self.bridges_enabled:
                bridge = SoftApBridge(self.air, board, f"host-bridge-{index}")
                address = await bridge.start()
                self.bridges.append(bridge)
            self.boards.append(board)
            self.serials.append(serial)
            place = self.place_of(index)
            self.info.append(FleetBoardInfo(name, board.ssid, format_mac(mac), serial.path, address, place))
            await board.power_on()
        return self.info

    def macs(self) -> list[bytes]:
        """The MACs of boards 1 .. first_board + count - 1 of the whole fleet (every worker computes the same).

        Espressif gives each chip four MACs (STA, AP, BT, ETH): boards are 4 apart, so the SoftAP's MAC
        (STA + 1) never equals another board's. The SSID suffix is 4 base-24 characters from a CRC of the MAC:
        among thousands of boards two would share a SoftAP SSID (as they may in a factory), and the phone
        could not tell which one it joined; a MAC whose SSID an earlier board has is skipped.
        """
        base = int.from_bytes(self.mac_base[3:], "big")
        seen: set[str] = set()
        found: list[bytes] = []
        slot = 0
        while len(found) < self.first_board - 1 + self.count:
            slot += 1
            mac = self.mac_base[:3] + ((base + 4 * slot) % (1 << 24)).to_bytes(3, "big")
            ssid = softap_ssid(self.profile.template_name, mac, self.profile.chip, self.profile.vendor_prefix)
            if ssid not in seen:
                seen.add(ssid)
                found.append(mac)
        return found

    def place_of(self, index: int) -> str:
        """Where board `index` stands: a bench of `place_size` boards, named after its worker (`sim_shared`)."""
        return f"w{self.worker}/bench-{(index - 1) // self.place_size}"

    async def stop(self) -> None:
        if self.air_port is not None:
            await self.air_port.stop()
        for bridge in self.bridges:
            await bridge.stop()
        for board in self.boards:
            with contextlib.suppress(Exception):
                await board.power_off()
        for serial in self.serials:
            serial.close()
        self.air.close()  # the routers' relays of the boards' cloud connections

    def remove_state(self) -> str:
        """Remove the temp flash folder (flash holds Wi-Fi passphrases and tokens), or keep the one the user
        named; says which."""
        if self.keeps_state:
            return f"flash files kept in {self.state_dir} (--state-dir; mode 0600)"
        shutil.rmtree(self.state_dir, ignore_errors=True)
        return f"removed the temporary flash folder {self.state_dir}"


async def serve_fleet(fleet: Fleet, on_ready: Callable[[list[FleetBoardInfo]], None]) -> None:
    """Start `fleet`, report it, keep it running until SIGINT/SIGTERM, then shut it down cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    registry: Path | None = None
    try:
        boards = await fleet.start()
        registry = write_registry([board.as_dict() for board in boards])
        on_ready(boards)
        await stop.wait()
    finally:
        if registry is not None:
            remove_registry(registry)
        try:
            await fleet.stop()
        finally:
            fleet.remove_state()


def run_fleet(fleet: Fleet, on_ready: Callable[[list[FleetBoardInfo]], None]) -> None:
    """`serve_fleet` on a new event loop (what `provlab emulate` runs)."""
    asyncio.run(serve_fleet(fleet, on_ready))


def print_fleet(
    boards: list[FleetBoardInfo], as_json: bool, echo: Callable[[str], None], *, footer: bool = True
) -> None:
    """Per board: SSID, MAC, pty path, SoftAP HTTP address (`--json`: one object per line)."""
    if as_json:
        for board in boards:
            echo(json.dumps(board.as_dict()))
        return
    for board in boards:
        echo(f"{board.name}  ssid={board.ssid!r}  mac={board.mac}  pty={board.pty}  softap_http={board.softap_http}")
    if footer:
        echo("Ctrl-C stops the boards.")
