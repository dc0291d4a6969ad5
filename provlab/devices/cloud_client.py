"""The board's Blynk client: the C++ library's connect, login and heartbeat logic over a real socket."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from enum import Enum

from provlab.devices.clock import DeviceClock
from provlab.protocol.commands import Command, Status
from provlab.protocol.frames import Frame, FrameError, FrameParser, next_msg_id
from provlab.protocol.internal import meta_set_body, parse_hardware, parse_redirect
from provlab.wifi.backend import Link, WifiError

BLYNK_TIMEOUT_S = 6.0  # BLYNK_TIMEOUT_MS: login timeout, minimum ping interval
RECONNECT_INTERVAL_S = 5.0  # a new connect attempt at most every 5 s


class ClientState(Enum):
    DISCONNECTED = "DISCONNECTED"
    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"
    TOKEN_INVALID = "TOKEN_INVALID"


class BlynkClient:
    """One device's connection to the cloud, as `BlynkProtocol` runs it."""

    def __init__(
        self,
        clock: DeviceClock,
        log: Callable[[str], None],
        info_body: bytes,
        *,
        heartbeat_s: float = 40.0,
        max_body: int = 1024,
    ) -> None:
        self.clock = clock
        self.log = log
        self.info_body = info_body
        self.heartbeat_s = heartbeat_s
        self.max_body = max_body
        self.state = ClientState.DISCONNECTED
        self.msg_id = 0
        self.pins: dict[str, list[str]] = {}
        self.on_internal: Callable[[list[bytes]], None] | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._session: asyncio.Task[None] | None = None
        self._last_attempt: float | None = None
        self.redirect: tuple[str, int] | None = None

    @property
    def connected(self) -> bool:
        return self.state is ClientState.CONNECTED

    @property
    def token_invalid(self) -> bool:
        return self.state is ClientState.TOKEN_INVALID

    def _next_id(self) -> int:
        self.msg_id = next_msg_id(self.msg_id)
        return self.msg_id

    def send(self, command: int, body: bytes = b"", msg_id: int | None = None) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(Frame(command, msg_id or self._next_id(), body).encode())

    def send_meta(self, field: str, value: str) -> None:
        self.send(Command.INTERNAL, meta_set_body(field, value))

    def due_for_attempt(self) -> bool:
        now = self.clock.now()
        return self._last_attempt is None or now - self._last_attempt >= RECONNECT_INTERVAL_S

    async def connect(self, link: Link, host: str, port: int, token: str) -> ClientState:
        """One connect-and-login attempt; the caller loops as `Blynk.run()` would."""
        if self.state is ClientState.TOKEN_INVALID:
            return self.state
        self._last_attempt = self.clock.now()
        self.state = ClientState.CONNECTING
        if self.redirect is not None:
            host, port = self.redirect
        self.log(f"Connecting to {host}:{port}")
        try:
            address = link.resolve(host) if not _is_ip(host) else host
            self._reader, self._writer = await link.open_connection(
                address, port, self.clock.to_wall(BLYNK_TIMEOUT_S)
            )
        except (OSError, WifiError, asyncio.TimeoutError):
            await self._drop()
            return self.state
        self.msg_id = 0
        started = self.clock.now()
        login_id = self._next_id()
        self.send(Command.HW_LOGIN, token.encode(), login_id)
        parser = FrameParser(max_body=self.max_body)
        try:
            reply = await asyncio.wait_for(
                self._read_response(parser, login_id), self.clock.to_wall(BLYNK_TIMEOUT_S)
            )
        except asyncio.TimeoutError:
            self.log("Login timeout")
            await self._drop()
            return self.state
        except (OSError, FrameError, asyncio.IncompleteReadError):
            await self._drop()
            return self.state
        if reply in (Status.SUCCESS, Status.ALREADY_REGISTERED):
            ping_ms = int((self.clock.now() - started) * 1000)
            self.log(f"Ready (ping: {ping_ms}ms).")
            self.state = ClientState.CONNECTED
            self.send(Command.INTERNAL, self.info_body)
            self._session = asyncio.create_task(self._run_session(parser))
            return self.state
        if reply == Status.INVALID_TOKEN:
            self.log("Invalid auth token")
            await self._drop()
            self.state = ClientState.TOKEN_INVALID
            return self.state
        self.log(f"Connect failed. code: {reply}")
        await self._drop()
        return self.state

    async def _read_response(self, parser: FrameParser, msg_id: int) -> int:
        assert self._reader is not None
        while True:
            data = await self._reader.read(4096)
            if not data:
                raise ConnectionResetError("server closed the connection during login")
            for frame in parser.feed(data):
                if frame.command == Command.RESPONSE and frame.msg_id == msg_id:
                    return int(frame.status or 0)

    async def _run_session(self, parser: FrameParser) -> None:
        assert self._reader is not None
        last_in = last_out = last_ping = self.clock.now()
        hb = self.heartbeat_s
        try:
            while self.connected:
                try:
                    data = await asyncio.wait_for(self._reader.read(4096), self.clock.to_wall(1.0))
                except asyncio.TimeoutError:
                    data = None
                now = self.clock.now()
                if data == b"":
                    break
                if data:
                    last_in = now
                    for frame in parser.feed(data):
                        self._handle(frame)
                        if not self.connected:
                            return
                if now - last_in > hb + 3 * BLYNK_TIMEOUT_S:
                    self.log("Heartbeat timeout")
                    break
                if (now - last_in > hb or now - last_out > hb) and now - last_ping > BLYNK_TIMEOUT_S:
                    self.send(Command.PING)
                    last_ping = last_out = now
        except (OSError, FrameError) as exc:
            if isinstance(exc, FrameError):
                self.log(f"Packet too big: {getattr(exc, 'length', '?')}")
        finally:
            if self.state is ClientState.CONNECTED:
                self.log("Disconnected")
                await self._drop()

    def _handle(self, frame: Frame) -> None:
        cmd = frame.command
        if cmd == Command.PING:
            self._writer_response(frame.msg_id, Status.SUCCESS)
        elif cmd == Command.HARDWARE:
            op = parse_hardware(frame.args())
            if op.op == "vw":
                self.pins[op.pin] = op.values
            else:
                self.log(f"Invalid HW cmd: {op.op}")
                self._writer_response(frame.msg_id, Status.ILLEGAL_COMMAND)
        elif cmd == Command.INTERNAL and self.on_internal is not None:
            self.on_internal(frame.args())
        elif cmd == Command.REDIRECT:
            host, port = parse_redirect(frame.body)
            self.log(f"Redirecting to {host}:{port}")
            self.redirect = (host, port)
            self.state = ClientState.DISCONNECTED
            self._last_attempt = None
            asyncio.get_running_loop().create_task(self._drop())
        elif cmd == Command.DEBUG_PRINT:
            self.log(f"Server: {frame.body.decode('utf-8', 'replace')}")

    def _writer_response(self, msg_id: int, status: int) -> None:
        if self._writer is not None:
            self._writer.write(Frame.response(msg_id, status).encode())

    async def _drop(self) -> None:
        if self.state is not ClientState.TOKEN_INVALID:
            self.state = ClientState.DISCONNECTED
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def disconnect(self) -> None:
        """`Blynk.disconnect()`: close the session (logs `Disconnected` when one was up)."""
        was_connected = self.connected
        self.state = ClientState.DISCONNECTED
        session, self._session = self._session, None
        await self._drop()
        if session is not None and session is not asyncio.current_task():
            session.cancel()
            with contextlib.suppress(BaseException):
                await session
        if was_connected:
            self.log("Disconnected")

    def reset(self) -> None:
        """Forget TOKEN_INVALID and redirects (a reboot or a new `Blynk.config`)."""
        self.state = ClientState.DISCONNECTED
        self.redirect = None
        self._last_attempt = None


def _is_ip(host: str) -> bool:
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() for p in parts)
