"""The board's Blynk client: the C++ library's connect, login, heartbeat and dispatch over a real socket.

`begin()` is `Blynk.config()` + `Blynk.connect(0)`: it starts a driver task that keeps (re)connecting the
way `BlynkProtocol::run()` does — an attempt at most every 5 s, `Login timeout` after 6 s without an
answer, PINGs when the line is quiet for `h-beat` s (then every 6 s while unanswered), `Heartbeat timeout`
58 s after the last incoming byte, `Redirecting to host:port` on REDIRECT, and no more attempts after a
login refused with status 9. Every wait is a timer computed from these deadlines, never a poll.

Commands the library does not handle end the connection (`internalReconnect()`, no log); BRIDGE is served
like HARDWARE, a server HW_LOGIN gets RESPONSE 200, a `vw` logs `No handler for writing to pin N` (the
sketch defines no `BLYNK_WRITE`), and of the INTERNAL sub-commands only `ota` and `dbg` reach the firmware.

Decisions where the spec is silent: `Disconnected` is logged by every `disconnect()`, socket or not (audit #5,
`choices.DISCONNECTED_ONLY_WITH_SOCKET`; a connection the server drops is `internalReconnect()`, which logs
nothing); the plain-port 80 <-> 8080
fallback of `BlynkArduinoClient` is not emulated; HARDWARE `dw`/`aw` are stored, `dr`/`ar` answered from
them, `pm` accepted silently.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable

from provlab.emulator.clock import DeviceClock
from provlab.emulator.defects import FAITHFUL, Behaviour
from provlab.emulator.family import SecureClientLog
from provlab.emulator.reconnecting import ClientState, EndOfConnection, ReconnectingClient
from provlab.emulator.settings import BLYNK_TIMEOUT_S, RECONNECT_INTERVAL_S, TLS_HANDSHAKE_TIMEOUT_S
from provlab.protocol.commands import LOGIN_OK_STATUSES, Command, Status
from provlab.protocol.frames import Frame, FrameError, FrameParser, FrameTooLargeError, join_args, next_msg_id
from provlab.protocol.internal import (
    INTERNAL_DBG,
    INTERNAL_OTA,
    MalformedBodyError,
    library_internal_op,
    library_pin,
    meta_set_body,
    parse_hardware,
    parse_redirect,
)
from provlab.wifi.backend import Link, WifiError

LOGIN_MSG_ID = 1
ESP32_SECURE_LOG = SecureClientLog()
HEARTBEAT_TIMEOUT_EXTRA_S = 3 * BLYNK_TIMEOUT_S  # h-beat + 3 * BLYNK_TIMEOUT_MS = 58 s


class BlynkClient(ReconnectingClient):
    """One device's connection to the cloud, as `BlynkProtocol` runs it."""

    def __init__(
        self,
        clock: DeviceClock,
        log: Callable[[str], None],
        info_body: bytes,
        *,
        heartbeat_s: float = 40.0,
        max_body: int = 1024,
        behaviour: Behaviour = FAITHFUL,
        tls: ssl.SSLContext | None = None,
        on_change: Callable[[], None] | None = None,
        secure_log: SecureClientLog = ESP32_SECURE_LOG,
    ) -> None:
        self.secure_log = secure_log  # what the family's `BlynkSimple<family>_SSL.h` logs around a TLS connect
        self.clock = clock
        self.log = log
        self.info_body = info_body
        self.heartbeat_s = heartbeat_s
        self.max_body = max_body
        self.behaviour = behaviour
        self.tls = tls
        self.on_change = on_change
        self.on_internal: Callable[[list[bytes]], None] | None = None
        self.on_virtual_write: Callable[[str, list[str]], None] | None = None
        self.state = ClientState.DISCONNECTED
        self.msg_id = 0
        self.pins: dict[str, list[str]] = {}
        self.logins = 0
        self.redirect: tuple[str, int] | None = None
        self._link: Link | None = None
        self._target: tuple[str, int, str] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._driver: asyncio.Task[None] | None = None
        self._last_attempt: float | None = None
        self._last_in = self._last_out = self._last_ping = 0.0

    # --- state -------------------------------------------------------------------------------------
    # --- the library's API --------------------------------------------------------------------------
    def begin(self, link: Link, host: str, port: int, token: str) -> None:
        """`Blynk.config(token, host, port)` + `Blynk.connect(0)`: start connecting through `link`."""
        self._stop_driver()
        self._close_socket()
        self._link = link
        self._target = (host, port, token)
        self.redirect = None
        self._start_driver("blynk-client")

    def send(self, command: int, body: bytes = b"", msg_id: int | None = None) -> None:
        writer = self._writer
        if writer is None or writer.is_closing():
            return
        if msg_id is None:
            self.msg_id = next_msg_id(self.msg_id)
            msg_id = self.msg_id
        writer.write(Frame(command, msg_id, body).encode())
        self._last_out = self.clock.now()

    def send_meta(self, field: str, value: str) -> None:
        self.send(Command.INTERNAL, meta_set_body(field, value))

    def log_event(self, code: str, description: str | None = None) -> None:
        """`Blynk.logEvent(code, description)`: EVENT_LOG `<code>[\\0<description>]`."""
        self.send(Command.EVENT_LOG, join_args((code,) if description is None else (code, description)))

    def virtual_write(self, pin: int | str, *values: str) -> None:
        self.send(Command.HARDWARE, join_args(("vw", str(pin), *values)))

    # --- the driver ---------------------------------------------------------------------------------
    def _has_socket(self) -> bool:
        return self._writer is not None

    def _close_socket(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    async def _open(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        link = self._link
        assert link is not None
        address = host if _is_ip(host) else link.resolve(host)
        target = link.endpoint(address, port)
        if self.tls is None:
            return await asyncio.wait_for(
                asyncio.open_connection(target[0], target[1], local_addr=(link.local_address, 0)),
                self.clock.to_wall(BLYNK_TIMEOUT_S),
            )
        handshake = self.clock.to_wall(TLS_HANDSHAKE_TIMEOUT_S)
        return await asyncio.wait_for(
            asyncio.open_connection(
                target[0],
                target[1],
                local_addr=(link.local_address, 0),
                ssl=self.tls,
                server_hostname=host,
                ssl_handshake_timeout=handshake,
            ),
            self.clock.to_wall(BLYNK_TIMEOUT_S) + handshake,
        )

    async def _connection(self) -> None:
        """One connection: connect, log in, then serve it until it ends."""
        assert self._target is not None
        host, port, token = self._target
        if self.redirect is not None:
            host, port = self.redirect
        secure = self.secure_log if self.tls is not None else None
        if secure is not None and secure.clock_line is not None:
            self.log(secure.clock_line(self.clock))  # ESP8266: after the NTP sync, before the connect
        self.log(f"Connecting to {host}:{port}")
        try:
            reader, writer = await self._open(host, port)
        except (OSError, WifiError, asyncio.TimeoutError) as exc:  # ssl.SSLError is an OSError
            if secure is not None:  # WiFiClientSecure: any failed connect or handshake
                untrusted = isinstance(exc, ssl.SSLCertVerificationError) and secure.untrusted is not None
                self.log(secure.untrusted if untrusted and secure.untrusted else secure.failed)
            raise EndOfConnection from None
        if self._driver is not asyncio.current_task():
            writer.close()
            raise asyncio.CancelledError
        self._writer = writer
        if secure is not None and secure.ok is not None:
            self.log(secure.ok)
        started = self.clock.now()
        self.msg_id = LOGIN_MSG_ID
        self.send(Command.HW_LOGIN, token.encode("utf-8"), LOGIN_MSG_ID)
        self._last_in = self._last_ping = started
        parser = FrameParser(max_body=self.max_body)
        while True:
            data = await self._read(reader, self._next_deadline(started))
            self._check_current()
            if data is None:
                continue
            if not data:
                raise EndOfConnection
            self._last_in = self.clock.now()
            try:
                frames = parser.feed(data)
            except FrameTooLargeError as exc:
                for frame in exc.frames_before:
                    self._dispatch(frame, started)
                self.log(f"Packet too big: {exc.length}")
                raise EndOfConnection from None
            except FrameError as exc:
                for frame in exc.frames_before:
                    self._dispatch(frame, started)
                raise EndOfConnection from None
            for frame in frames:
                self._dispatch(frame, started)

    def _next_deadline(self, started: float) -> float:
        """Device time of the next thing `run()` must do on its own; logs and acts on what is due now."""
        now = self.clock.now()
        if self.state is not ClientState.CONNECTED:
            login_deadline = started + BLYNK_TIMEOUT_S  # one sum for both: `now - started` can round below it
            if now >= login_deadline:
                self.log("Login timeout")
                raise EndOfConnection
            return login_deadline
        hb = self.heartbeat_s
        if now - self._last_in > hb + HEARTBEAT_TIMEOUT_EXTRA_S:
            self.log("Heartbeat timeout")
            raise EndOfConnection
        ping_hb = self.behaviour.ping_quiet_s(hb)
        quiet = now - self._last_in > ping_hb or now - self._last_out > ping_hb
        if quiet and now - self._last_ping > BLYNK_TIMEOUT_S and self.behaviour.sends_pings():
            self.send(Command.PING)
            self._last_ping = now
        timeout_at = self._last_in + hb + HEARTBEAT_TIMEOUT_EXTRA_S
        if not self.behaviour.sends_pings():  # nothing to send on its own: sleep until the heartbeat timeout
            return timeout_at + 0.001
        next_ping = max(min(self._last_in, self._last_out) + ping_hb, self._last_ping + BLYNK_TIMEOUT_S)
        return min(next_ping, timeout_at) + 0.001  # the library's comparisons are strict

    async def _read(self, reader: asyncio.StreamReader, deadline: float) -> bytes | None:
        wait = max(deadline - self.clock.now(), 0.0)
        try:
            return await asyncio.wait_for(reader.read(4096), self.clock.to_wall(wait))
        except asyncio.TimeoutError:
            return None
        except OSError:
            return b""

    # --- dispatch -----------------------------------------------------------------------------------
    def _dispatch(self, frame: Frame, started: float) -> None:
        cmd = frame.command
        if cmd == Command.RESPONSE:
            self._response(frame, started)
        elif cmd == Command.PING:
            if self.behaviour.answers_server_ping():
                self._respond(frame.msg_id)
        elif cmd == Command.REDIRECT:
            host, port = parse_redirect(frame.body)
            self.log(f"Redirecting to {host}:{port}")
            self.redirect = (host, port)
            self._last_attempt = self.clock.now() - RECONNECT_INTERVAL_S  # reconnect at once
            raise EndOfConnection
        elif cmd in (Command.HARDWARE, Command.BRIDGE):  # BRIDGE is processed like HARDWARE
            self._hardware(frame)
        elif cmd == Command.INTERNAL:
            self._internal(frame)
        elif cmd == Command.DEBUG_PRINT:
            if frame.body:
                self.log(f"Server: {frame.body.decode('utf-8', 'replace')}")
        elif cmd == Command.HW_LOGIN:
            self._respond(frame.msg_id)
        else:  # `default: internalReconnect()`: the library drops the connection, logging nothing
            raise EndOfConnection

    def _respond(self, msg_id: int, status: int = Status.SUCCESS) -> None:
        writer = self._writer
        if writer is not None and not writer.is_closing():
            writer.write(Frame.response(msg_id, status).encode())
            self._last_out = self.clock.now()

    def _response(self, frame: Frame, started: float) -> None:
        status = int(frame.status or 0)
        if self.state is ClientState.CONNECTED:
            if status == Status.NOT_AUTHENTICATED:
                raise EndOfConnection
            return
        if frame.msg_id != LOGIN_MSG_ID:
            return
        if status in LOGIN_OK_STATUSES:
            ping_ms = int((self.clock.now() - started) * 1000)
            self.log(f"Ready (ping: {ping_ms}ms).")
            self.logins += 1
            self._set_state(ClientState.CONNECTED)
            self.send(Command.INTERNAL, self.info_body)
            return
        if status == Status.INVALID_TOKEN:
            self.log("Invalid auth token")
            if self.behaviour.stops_on_invalid_token():
                self._set_state(ClientState.TOKEN_INVALID)
        else:
            self.log(f"Connect failed. code: {status}")
        raise EndOfConnection

    def _hardware(self, frame: Frame) -> None:
        try:
            op = parse_hardware(frame.args())
        except MalformedBodyError:
            self._respond(frame.msg_id, Status.ILLEGAL_COMMAND)
            return
        if op.op == "vw":
            self.pins[op.pin] = op.values
            if self.on_virtual_write is not None:
                self.on_virtual_write(op.pin, op.values)
            self.log(f"No handler for writing to pin {library_pin(op.pin)}")  # the sketch has no BLYNK_WRITE(Vn)
        elif op.op in ("dw", "aw"):
            self.pins[("D" if op.op == "dw" else "A") + op.pin] = op.values
        elif op.op in ("dr", "ar"):
            kind = "D" if op.op == "dr" else "A"
            value = (self.pins.get(kind + op.pin) or ["0"])[0]
            self.send(Command.HARDWARE, join_args((op.op[0] + "w", op.pin, value)), frame.msg_id)
        elif op.op == "pm":
            pass
        else:
            self.log(f"Invalid HW cmd: {op.op}")
            self._respond(frame.msg_id, Status.ILLEGAL_COMMAND)

    def _internal(self, frame: Frame) -> None:
        args = frame.args()
        op = library_internal_op(args)
        if op is None:
            return
        if op not in (INTERNAL_OTA, INTERNAL_DBG):  # only `ota` and `dbg` have Edgent handlers
            self.log("No handler for writing to pin 0")  # the default handler, with the request's pin 0
            return
        if self.on_internal is not None:
            self.on_internal([op.encode(), *args[1:]])


def _is_ip(host: str) -> bool:
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() for p in parts)
