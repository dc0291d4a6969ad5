"""A fleet of emulated boards on the `sim` air, run standalone (`provlab emulate`).

Each board gets a real pty, a flash file, a MAC from a base, and a host bridge: a TCP listener on
127.0.0.1 that joins the board's SoftAP as a station (as a laptop would) and forwards each connection to
192.168.4.1:80, so `curl http://127.0.0.1:<port>/board_info.json` talks to the board's own web server.
The bridge stays joined for a while after its last connection, like a laptop that stays on the AP.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from provlab.protocol.ssid import format_mac
from provlab.wifi.backend import Link, WifiError
from provlab.wifi.sim import SimAir, SimBoardRadio

MAC_BASE = bytes.fromhex("246F28AA0000")
ESPRESSIF_OUI = MAC_BASE[:3]
BRIDGE_LINGER_S = 30.0  # device seconds the bridge stays joined after its last connection
SOFTAP_HTTP = ("192.168.4.1", 80)


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

    def as_dict(self) -> dict[str, str | None]:
        return {"name": self.name, "ssid": self.ssid, "mac": self.mac, "pty": self.pty, "softap_http": self.softap_http}


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
        self.air = SimAir()
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
            self.air.add_network(ssid, passphrase=passphrase, dns={self.cloud_host: "127.0.0.1"})
        for index in range(1, self.count + 1):
            name = f"board-{index}"
            # Espressif gives each chip four MACs (STA, AP, BT, ETH): boards are 4 apart, so the SoftAP's
            # MAC (STA + 1) never equals another board's.
            base = int.from_bytes(self.mac_base[3:], "big")
            mac = self.mac_base[:3] + ((base + 4 * index) % (1 << 24)).to_bytes(3, "big")
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
                SimBoardRadio(self.air, name),
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
            self.info.append(FleetBoardInfo(name, board.ssid, format_mac(mac), serial.path, address))
            await board.power_on()
        return self.info

    async def stop(self) -> None:
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


def print_fleet(boards: list[FleetBoardInfo], as_json: bool, echo: Callable[[str], None]) -> None:
    """Per board: SSID, MAC, pty path, SoftAP HTTP address (`--json`: one object per line)."""
    if as_json:
        for board in boards:
            echo(json.dumps(board.as_dict()))
        return
    for board in boards:
        echo(f"{board.name}  ssid={board.ssid!r}  mac={board.mac}  pty={board.pty}  softap_http={board.softap_http}")
    echo("Ctrl-C stops the boards.")
