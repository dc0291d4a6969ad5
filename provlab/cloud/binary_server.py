"""The Blynk binary-protocol server (plain TCP or TLS) that device clients log in to."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl

from provlab.cloud.presence import Presence, PresenceRegistry
from provlab.cloud.store import Device, Store
from provlab.protocol.commands import Command, Status
from provlab.protocol.frames import Frame, FrameError, FrameParser
from provlab.protocol.internal import DeviceInfo, parse_hardware, parse_meta_set
from provlab.protocol.serial_log import mask_secret

log = logging.getLogger("provlab.cloud.binary")

DEFAULT_HEARTBEAT_S = 45.0  # what the stub assumes until the device announces its `h-beat`
LOGIN_TIMEOUT_S = 10.0  # a connection that does not log in within this (device seconds) is closed
MAX_BODY = 4096  # the Linux client's BLYNK_MAX_READBYTES; larger frames close the connection


class DeviceConnection:
    """One device's TCP/TLS connection, from the first byte to the close."""

    def __init__(
        self,
        server: BinaryServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.parser = FrameParser(max_body=MAX_BODY)
        self.device: Device | None = None
        self.presence: Presence | None = None
        self.heartbeat_s = DEFAULT_HEARTBEAT_S
        self.closed = False

    def send(self, frame: Frame) -> None:
        if not self.closed:
            self.writer.write(frame.encode())

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.writer.close()

    def _idle_timeout(self) -> float:
        device_s = LOGIN_TIMEOUT_S if self.device is None else self.heartbeat_s * 1.5
        return device_s * self.server.time_scale

    async def run(self) -> None:
        try:
            while not self.closed:
                try:
                    data = await asyncio.wait_for(self.reader.read(65536), self._idle_timeout())
                except asyncio.TimeoutError:
                    self.server.store.add_event(
                        "heartbeat_timeout", self.device.id if self.device else None, {"peer": self.peer}
                    )
                    break
                if not data:
                    break
                try:
                    frames = self.parser.feed(data)
                except FrameError as exc:
                    self.server.store.add_event(
                        "bad_frame",
                        self.device.id if self.device else None,
                        {"peer": self.peer, "error": str(exc)},
                    )
                    break
                for frame in frames:
                    await self.handle(frame)
                await self.writer.drain()
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            log.debug("connection %s ended: %s", self.peer, exc)
        finally:
            self.close()
            if self.presence is not None and await self.server.presence.disconnect(self.presence):
                self.server.store.add_event("device_offline", self.presence.device_id, {"peer": self.peer})

    async def handle(self, frame: Frame) -> None:
        cmd = frame.command
        if cmd in (Command.HW_LOGIN, Command.LOGIN):
            await self.login(frame)
        elif self.device is None:
            if cmd != Command.RESPONSE:
                self.send(Frame.response(frame.msg_id, Status.NOT_AUTHENTICATED))
        elif cmd == Command.PING:
            self.send(Frame.response(frame.msg_id, Status.SUCCESS))
        elif cmd == Command.INTERNAL:
            self.internal(frame)
        elif cmd == Command.HARDWARE:
            self.hardware(frame)
        elif cmd == Command.RESPONSE:
            pass
        else:
            self.send(Frame.response(frame.msg_id, Status.ILLEGAL_COMMAND))

    async def login(self, frame: Frame) -> None:
        token = frame.body.split(b"\0", 1)[0].decode("utf-8", "replace")
        device = self.server.store.authenticate_device(token)
        if device is None:
            self.server.store.add_event(
                "login_failed", None, {"peer": self.peer, "token": mask_secret(token)}
            )
            # Like the legacy server: answer INVALID_TOKEN and leave the connection open; the client closes.
            self.send(Frame.response(frame.msg_id, Status.INVALID_TOKEN))
            return
        self.device = device
        self.presence = Presence(device.id, self.server.transport, self.peer, close=self.close)
        old = await self.server.presence.connect(self.presence)
        if old is not None and old.close is not None:
            old.close()
        self.send(Frame.response(frame.msg_id, Status.SUCCESS))
        self.server.store.add_event(
            "device_online",
            device.id,
            {"peer": self.peer, "transport": self.server.transport, "command": Command(frame.command).name},
        )

    def internal(self, frame: Frame) -> None:
        assert self.device is not None
        args = frame.args()
        if args and args[0] == b"meta":
            meta = parse_meta_set(args)
            if meta is not None:
                self.server.store.set_meta(self.device.id, *meta)
        elif args and args[0] not in (b"rtc", b"utc", b"ota", b"dbg", b"acon", b"adis"):
            info = DeviceInfo.from_body(frame.body)
            if info.heartbeat:
                self.heartbeat_s = float(info.heartbeat)
            self.server.store.set_device_info(self.device.id, info.raw)
        self.send(Frame.response(frame.msg_id, Status.SUCCESS))

    def hardware(self, frame: Frame) -> None:
        assert self.device is not None
        op = parse_hardware(frame.args())
        if op.op == "vw" and op.values:
            self.server.store.write_pin(self.device.id, f"v{op.pin}", "\0".join(op.values))


class BinaryServer:
    """Accepts device connections on one port (plain or TLS)."""

    def __init__(
        self,
        store: Store,
        presence: PresenceRegistry,
        *,
        time_scale: float = 1.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.store = store
        self.presence = presence
        self.time_scale = time_scale
        self.ssl_context = ssl_context
        self.transport = "tls" if ssl_context else "tcp"
        self._server: asyncio.Server | None = None
        self._connections: set[DeviceConnection] = set()
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._accept, host, port, ssl=self.ssl_context)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = DeviceConnection(self, reader, writer)
        self._connections.add(conn)
        try:
            await conn.run()
        finally:
            self._connections.discard(conn)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for conn in list(self._connections):
                conn.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
