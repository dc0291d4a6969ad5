"""Test rig for the emulated board: a board on the sim air, a phone station, and a tiny real cloud server.

Everything is real: the board's serial is a MemorySerial (or a pty), HTTP and the Blynk protocol go over
loopback sockets, the flash is a file. Each test runs on a loop of its own virtual lab clock: its seconds
are device seconds, they pass only while everything waits, so a loaded host cannot change an outcome.
Waits are in device time and generous; nothing asserts on wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from provlab.clock.virtual import VirtualClock, clock_of
from provlab.emulator.board import EmulatedBoard
from provlab.emulator.clock import DeviceClock
from provlab.emulator.defects import Defect
from provlab.emulator.flash import WriteModel
from provlab.emulator.profile import PROFILES
from provlab.emulator.serial_port import BoardSerial, MemorySerial
from provlab.protocol.commands import Command, Status
from provlab.protocol.frames import Frame, FrameError, FrameParser
from provlab.protocol.states import EdgentState
from provlab.wifi.backend import Link
from provlab.wifi.sim import SimAir, SimBoardRadio, SimNetwork

T = TypeVar("T")
TOKEN = "A" * 32
OTHER_TOKEN = "B" * 32
HOME_SSID = "Home"
HOME_PASS = "correct-horse"
CLOUD_HOST = "blynk.cloud"
MAC = bytes.fromhex("246F28AABBCC")
SCALE = 1.0  # loop seconds per device second: the virtual clock's loops count in device seconds
WAIT_S = 400.0  # generous device-time ceiling for any wait
DEVICE_LIMIT_S = 3600.0


def run(coro: Coroutine[Any, Any, T], device_limit_s: float = DEVICE_LIMIT_S) -> T:
    """Run a test coroutine on a fresh loop of a new virtual lab clock (pytest-timeout guards wall time)."""
    loop = VirtualClock().new_loop()

    async def guarded() -> T:
        return await asyncio.wait_for(coro, device_limit_s)

    try:
        return loop.run_until_complete(guarded())
    finally:
        _cancel_rest(loop)
        loop.close()


def _cancel_rest(loop: asyncio.AbstractEventLoop) -> None:
    """What `asyncio.run` does on the way out: cancel the tasks left and let them end."""
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())


class SerialCapture:
    """Everything a board printed, as bytes and as lines (CRLF split)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.changed = asyncio.Event()

    def __call__(self, data: bytes) -> None:
        self.data += data
        self.changed.set()

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")

    def lines(self) -> list[str]:
        return re.split(r"\r\n|\n", self.text)

    def log_texts(self) -> list[str]:
        """The text of every `[millis] text` log line, prefix removed."""
        out = []
        for line in self.lines():
            m = re.match(r">?\[(\d+)\] (.*)$", line)
            if m:
                out.append(m.group(2))
        return out

    def count(self, text: str) -> int:
        return sum(1 for line in self.log_texts() if line == text)


@dataclass
class Rig:
    """A board on the air with a home network, and the helpers tests need."""

    air: SimAir
    home: SimNetwork
    board: EmulatedBoard
    capture: SerialCapture
    scale: float
    tmp: Path
    states: list[EdgentState] = field(default_factory=list)
    stations: dict[str, Any] = field(default_factory=dict)

    @property
    def clock(self) -> DeviceClock:
        return self.board.clock

    async def wait_for(self, predicate: Callable[[], bool], what: str, device_s: float = WAIT_S) -> None:
        deadline = asyncio.get_running_loop().time() + device_s * self.scale
        while not predicate():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                tail = "\n".join(self.capture.lines()[-25:])
                raise AssertionError(f"timed out waiting for {what}; board {self.board.state}; serial tail:\n{tail}")
            self.capture.changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.capture.changed.wait(), min(remaining, 0.05))

    async def wait_state(self, state: EdgentState, device_s: float = WAIT_S, *, after: int = 0) -> None:
        await self.wait_for(lambda: state in self.states[after:], f"state {state.value}", device_s)

    async def wait_log(self, text: str, device_s: float = WAIT_S, *, count: int = 1) -> None:
        await self.wait_for(lambda: self.capture.count(text) >= count, f"log line {text!r} x{count}", device_s)

    async def wait_ap(self, device_s: float = WAIT_S) -> None:
        await self.wait_for(
            lambda: self.air.find(self.board.ssid) is not None and self.board.web_server_up,
            "the SoftAP and its web server",
            device_s,
        )

    def mark(self) -> int:
        return len(self.states)

    async def shutdown(self) -> None:
        await self.board.power_off()


def _device_clock(scale: float) -> DeviceClock:
    """The running loop's virtual clock; a wall clock at `scale` outside one (a test's own loop thread)."""
    try:
        clock = clock_of(asyncio.get_running_loop())
    except RuntimeError:
        clock = None
    return DeviceClock(lab_clock=clock) if clock is not None else DeviceClock(scale)


def make_board(
    air: SimAir,
    tmp: Path,
    *,
    scale: float = SCALE,
    defects: tuple[Defect, ...] = (),
    serial: BoardSerial | None = None,
    tls_ca: str | Path | ssl.SSLContext | None = None,
    flash_model: WriteModel | None = None,
    flash_name: str = "board.nvs",
    mac: bytes = MAC,
    firmware: str = "edgent-esp32",
    **profile: Any,
) -> tuple[EmulatedBoard, SerialCapture]:
    capture = SerialCapture()
    port = serial or MemorySerial(capture)
    board = EmulatedBoard(
        PROFILES[firmware](template_id="TMPL0TEST01", template_name="Device", **profile),
        mac,
        SimBoardRadio(air, "board"),
        tmp / flash_name,
        port,
        clock=_device_clock(scale),
        name="board",
        defects=defects,
        tls_ca=tls_ca,
        flash_model=flash_model,
    )
    return board, capture


async def start_rig(tmp: Path, *, power: bool = True, **kw: Any) -> Rig:
    air = SimAir()
    home = air.add_network(HOME_SSID, passphrase=HOME_PASS, dns={CLOUD_HOST: "127.0.0.1", "ota.example": "127.0.0.1"})
    board, capture = make_board(air, tmp, **kw)
    rig = Rig(air, home, board, capture, board.clock.time_scale, tmp)

    def record(old: EdgentState, new: EdgentState) -> None:
        rig.states.append(new)
        capture.changed.set()

    board.listeners.append(record)
    if power:
        await board.power_on()
    return rig


# --- the phone side ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpResult:
    status: int
    headers: dict[str, str]
    body: bytes
    raw: bytes


async def http(
    link: Link, method: str, target: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> HttpResult | None:
    """One raw HTTP/1.1 request to the SoftAP; None when the board closes without replying."""
    host, port = link.endpoint("192.168.4.1", 80)
    reader, writer = await asyncio.open_connection(host, port, local_addr=(link.local_address, 0))
    head = f"{method} {target} HTTP/1.1\r\nHost: 192.168.4.1\r\nConnection: close\r\n"
    for key, value in (headers or {}).items():
        head += f"{key}: {value}\r\n"
    if body or method in ("POST", "PUT"):
        head += f"Content-Length: {len(body)}\r\n"
    writer.write(head.encode("latin-1") + b"\r\n" + body)
    try:
        raw = await reader.read()
    except ConnectionResetError:
        raw = b""
    writer.close()
    if not raw:
        return None
    head_bytes, _, payload = raw.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    parsed = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return HttpResult(status, parsed, payload, raw)


async def join_ap(rig: Rig, name: str = "phone") -> tuple[Any, Link]:
    station = rig.air.station(name)
    link = await station.join(rig.board.ssid)
    rig.stations[name] = station
    return station, link


# --- a tiny real cloud ------------------------------------------------------------------------------


class MiniCloud:
    """A Blynk binary-protocol server on loopback with knobs for the behaviours under test."""

    def __init__(
        self,
        *,
        login_status: int | None = Status.SUCCESS,
        answer_pings: bool = True,
        tls: ssl.SSLContext | None = None,
        on_login: Callable[[MiniCloud, Connection], Awaitable[None]] | None = None,
    ) -> None:
        self.login_status = login_status
        self.answer_pings = answer_pings
        self.tls = tls
        self.on_login = on_login
        self.connections: list[Connection] = []
        self.frames: list[Frame] = []
        self.logins = 0
        self.changed = asyncio.Event()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        for conn in self.connections:
            conn.writer.close()
        if self._server is not None:
            self._server.close()

    @property
    def current(self) -> Connection | None:
        live = [c for c in self.connections if not c.closed]
        return live[-1] if live else None

    async def wait(self, predicate: Callable[[], bool], device_s: float = WAIT_S) -> None:
        deadline = asyncio.get_running_loop().time() + device_s
        while not predicate():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"cloud: condition not met; frames seen: {self.frames[-10:]}")
            self.changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, 0.05))

    def of(self, command: int) -> list[Frame]:
        return [f for f in self.frames if f.command == command]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(reader, writer)
        self.connections.append(conn)
        parser = FrameParser(max_body=4096)
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    break
                for frame in parser.feed(data):
                    frame_time = asyncio.get_running_loop().time()
                    conn.frames.append((frame_time, frame))
                    self.frames.append(frame)
                    await self._handle(conn, frame)
                    self.changed.set()
        except (ConnectionError, FrameError, ssl.SSLError):
            pass
        finally:
            conn.closed = True
            self.changed.set()
            writer.close()

    async def _handle(self, conn: Connection, frame: Frame) -> None:
        if frame.command == Command.HW_LOGIN:
            self.logins += 1
            if self.login_status is not None:
                conn.send(Frame.response(frame.msg_id, self.login_status))
                if self.login_status == Status.SUCCESS and self.on_login is not None:
                    await self.on_login(self, conn)
        elif frame.command == Command.PING:
            if self.answer_pings:
                conn.send(Frame.response(frame.msg_id, Status.SUCCESS))
        elif frame.command == Command.INTERNAL and frame.body.startswith(b"mcu\0"):
            conn.send(Frame.response(frame.msg_id, Status.SUCCESS))


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.frames: list[tuple[float, Frame]] = []
        self.closed = False

    def send(self, frame: Frame) -> None:
        if not self.closed:
            self.writer.write(frame.encode())


async def provision(rig: Rig, port: int, *, token: str = TOKEN, save: bool = False, **extra: str) -> HttpResult:
    """What the phone does: join the AP, board_info, /config; then leave."""
    await rig.wait_ap()
    station, link = await join_ap(rig)
    info = await http(link, "GET", "/board_info.json")
    assert info is not None and info.status == 200
    query = f"ssid={HOME_SSID}&pass={HOME_PASS}&blynk={token}&host={CLOUD_HOST}&port_ssl={port}"
    if save:
        query += "&save=1"
    for key, value in extra.items():
        query += f"&{key}={value}"
    reply = await http(link, "GET", f"/config?{query}")
    assert reply is not None
    await station.leave()
    return reply


class FileServer:
    """An HTTP (or, with `tls`, HTTPS) server on loopback answering every GET with one fixed response (an OTA
    host). `headers` replace the default `Content-Length` of the body."""

    def __init__(
        self, status: int, body: bytes, headers: dict[str, str] | None = None, *, tls: ssl.SSLContext | None = None
    ) -> None:
        self.tls = tls
        self.status = status
        self.body = body
        self.headers = headers if headers is not None else {"Content-Length": str(len(body))}
        self.requests: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.requests.append(await reader.readuntil(b"\r\n\r\n"))
        head = f"HTTP/1.1 {self.status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
        writer.write(head.encode() + b"Connection: close\r\n\r\n" + self.body)
        await writer.drain()
        writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
