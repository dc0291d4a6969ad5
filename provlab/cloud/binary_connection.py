"""One device's Blynk binary-protocol connection (plain TCP or TLS), from the first byte to the close.

An `asyncio.Protocol`: bytes go straight from the socket through the incremental `FrameParser` into the
handlers, with no task per connection, so a thousand devices cost a thousand small objects. What the
stub answers follows spec §6 and the legacy server:

* login with HW_LOGIN (29) or LOGIN (2): RESPONSE 200 with the same msg id; a bad token gets
  INVALID_TOKEN (9) and the connection stays open for the client to close; a throttled source gets
  `choices.THROTTLED_LOGIN_STATUS` and a close; a redirected token gets REDIRECT (41).
* before login, another known command gets NOT_AUTHENTICATED (5); an unknown one closes (not a Blynk client).
* INTERNAL info, `meta set` -> RESPONSE 200; `rtc sync` / `utc …` -> INTERNAL replies; PING -> 200.
* HARDWARE `vw`/`dw`/`aw` -> stored, no answer; a malformed or non-UTF-8 body -> ILLEGAL_COMMAND_BODY (11).
* an unknown command -> ILLEGAL_COMMAND (2), with the incoming msg id.
* msg id 0, a body over the limit -> the connection is closed (what the C++ library does too).
* over the message quota -> dropped; QUOTA_LIMIT (1) at most once per notice period (C10).
* no login within the login timeout, or no traffic for h-beat x 1.5 after it -> closed, offline (C11).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import time
from collections.abc import Sequence
from enum import Enum
from typing import TYPE_CHECKING

from provlab.cloud.gateway import LoginOutcome, LoginVerdict
from provlab.cloud.ota import OtaOffer
from provlab.cloud.presence import DEAD_PEER, CloseReason, DownlinkNotSupported, Presence
from provlab.cloud.rate_limits import MessageQuota, QuotaVerdict
from provlab.protocol.commands import LOGIN_COMMANDS, Command, Status
from provlab.protocol.frames import (
    MAX_BODY_ESP,
    Frame,
    FrameError,
    FrameParser,
    encode_frame,
    encode_response,
    join_args,
    next_msg_id,
)
from provlab.protocol.internal import DeviceInfo, hardware_vw, ota_body, parse_meta_set, redirect_body, rtc_body
from provlab.protocol.numbers import ascii_decimal

if TYPE_CHECKING:
    from provlab.cloud.binary_server import BinaryServer

# First keys of the info messages of every client in spec §6.4.
INFO_KEYS = frozenset(
    {
        "ver",
        "mcu",
        "ncp",
        "blynk",
        "h-beat",
        "buff-in",
        "dev",
        "fw-type",
        "fw",
        "build",
        "tmpl",
        "conn",
        "con",
        "cpu",
    }
)
HEARTBEAT_RANGE = (10, 3600)  # BLYNK_HEARTBEAT's valid range (spec §6.6)
SILENT_COMMANDS = frozenset({Command.PROPERTY, Command.GROUP, Command.EVENT_CLEAR})
KNOWN_COMMANDS = frozenset(int(c) for c in Command)
TLS_HANDSHAKE = 0x16  # first byte of a TLS record carrying a handshake

_RESPONSE = int(Command.RESPONSE)
_HARDWARE = int(Command.HARDWARE)
_PING = int(Command.PING)
_OK = int(Status.SUCCESS)


class ConnectionState(Enum):
    AWAITING_LOGIN = "awaiting login"
    LOGGING_IN = "logging in"  # the login answer is held back by the latency knob; reading paused
    LOGGED_IN = "logged in"
    CLOSED = "closed"


_NEXT_STATES: dict[ConnectionState, frozenset[ConnectionState]] = {
    ConnectionState.AWAITING_LOGIN: frozenset(
        {ConnectionState.LOGGING_IN, ConnectionState.LOGGED_IN, ConnectionState.CLOSED}
    ),
    ConnectionState.LOGGING_IN: frozenset(
        {ConnectionState.AWAITING_LOGIN, ConnectionState.LOGGED_IN, ConnectionState.CLOSED}
    ),
    ConnectionState.LOGGED_IN: frozenset({ConnectionState.CLOSED}),
    ConnectionState.CLOSED: frozenset(),
}


class ConnectionStateError(RuntimeError):
    """A state change the connection's state machine does not allow (a stub bug, not device input)."""


class DeviceConnection(asyncio.Protocol):
    """The server side of one binary-protocol connection; also the session's `DeviceLink`."""

    def __init__(self, server: BinaryServer) -> None:
        self.server = server
        self.gateway = server.gateway
        self.loop = asyncio.get_running_loop()
        self.state = ConnectionState.AWAITING_LOGIN
        self._pings_out: set[int] = set()
        self.parser = FrameParser(max_body=server.max_body)
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.source = "?"
        self.presence: Presence | None = None
        self.quota: MessageQuota | None = None
        self.heartbeat_s: float | None = None
        self.buff_in = MAX_BODY_ESP  # what the device can receive, until its info message says
        self.close_reason = CloseReason.DEVICE_CLOSED
        self._token = ""
        self._out_id = 0
        self._last_rx = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._held: list[Frame] = []
        self._outbox: list[bytes] | None = None

    # --- state ------------------------------------------------------------------------------------
    def transition(self, new: ConnectionState) -> None:
        if new not in _NEXT_STATES[self.state]:
            raise ConnectionStateError(f"binary connection {self.peer}: {self.state.name} -> {new.name} is not allowed")
        self.state = new

    def _in(self, state: ConnectionState) -> bool:
        """`self.state is state`, read afresh (a handler just called may have changed it)."""
        return self.state is state

    @property
    def device_id(self) -> int | None:
        return self.presence.device_id if self.presence else None

    # --- asyncio.Protocol -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.source = str(peer[0])
            self.peer = f"[{peer[0]}]:{peer[1]}" if ":" in str(peer[0]) else f"{peer[0]}:{peer[1]}"
        self._last_rx = self.loop.time()
        self._timer = self.loop.call_later(self.gateway.login_timeout, self._on_timer)
        self.server.connections.add(self)

    def data_received(self, data: bytes) -> None:
        self._last_rx = self.loop.time()
        self._outbox = []  # answers to this segment's frames leave in one write
        try:
            self._receive(data)
        finally:
            self._flush_outbox()

    def _flush_outbox(self) -> None:
        outbox, self._outbox = self._outbox, None
        if outbox and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(outbox))

    def _receive(self, data: bytes) -> None:
        try:
            frames = self.parser.feed(data)
        except FrameError as exc:
            for frame in exc.frames_before:
                self._dispatch(frame)
            self._journal("bad_frame", error=str(exc))
            self.close(CloseReason.BAD_INPUT)
            return
        for frame in frames:
            if self.state is ConnectionState.CLOSED:
                return
            if self.state is ConnectionState.LOGGING_IN:
                self._held.append(frame)  # after the login answer, in order
            else:
                self._dispatch(frame)

    def eof_received(self) -> bool | None:
        if self.parser.buffered:
            self._journal("truncated_frame", buffered=self.parser.buffered)
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.state is not ConnectionState.CLOSED:
            self.state = ConnectionState.CLOSED
        self.server.connections.discard(self)
        if self.presence is not None:
            self.gateway.close_session(self.presence, self.close_reason)

    def pause_writing(self) -> None:
        # The device does not read what we send: stop reading what it sends until it catches up.
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and self.state is not ConnectionState.LOGGING_IN:
            self.transport.resume_reading()

    # --- DeviceLink -------------------------------------------------------------------------------
    def push_pin(self, pin: str, name: str, values: Sequence[str]) -> None:
        op = {"v": "vw", "d": "dw", "a": "aw"}.get(pin[:1], "vw")
        body = join_args((op, pin[1:], *values))
        if len(body) > self.buff_in:
            self._journal("downlink_too_big", pin=pin, length=len(body), buff_in=self.buff_in)
            return
        self._send(encode_frame(_HARDWARE, self._next_out_id(), body))

    def redirect(self, host: str, port: int) -> None:
        self._send(encode_frame(Command.REDIRECT, self._next_out_id(), redirect_body(host, port)))

    def ping(self) -> None:
        """PING the device; its RESPONSE 200 (same msg id) is journaled as `ping_answered`."""
        msg_id = self._next_out_id()
        self._pings_out.add(msg_id)
        self._journal("ping_sent", msg_id=msg_id)
        self._send(encode_frame(_PING, msg_id, b""))

    def reconfigure(self) -> None:
        raise DownlinkNotSupported(
            f"device on {self.peer} speaks the binary protocol, which has no reconfigure message "
            "(reconfigure is an MQTT downlink, `downlink/reconfigure`)"
        )

    def ota(self, offer: OtaOffer) -> bool:
        """INTERNAL `ota\\0<url>` (spec §6.5); the URL must fit what the device can receive (`buff-in`)."""
        body = ota_body(offer.url)
        if len(body) > self.buff_in:
            raise DownlinkNotSupported(
                f"the OTA message is {len(body)} bytes; device on {self.peer} receives at most {self.buff_in}"
            )
        if self.state is not ConnectionState.LOGGED_IN or self.transport is None or self.transport.is_closing():
            return False
        self._send(encode_frame(Command.INTERNAL, self._next_out_id(), body))
        return True

    def close(self, reason: CloseReason) -> None:
        if self.state is ConnectionState.CLOSED:
            return
        self.transition(ConnectionState.CLOSED)
        self.close_reason = reason
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None:
            outbox, self._outbox = self._outbox, None
            if reason in DEAD_PEER:
                # Nobody is listening: a graceful close (TLS close_notify) would wait for an answer that
                # never comes (asyncio gives up after 30 s) and keep the device "online" meanwhile.
                self.transport.abort()
            else:
                if outbox:
                    self.transport.write(b"".join(outbox))
                self.transport.close()
        if self.presence is not None:
            self.gateway.close_session(self.presence, reason)  # offline now, not when the socket is gone

    # --- sending ----------------------------------------------------------------------------------
    def _send(self, data: bytes) -> None:
        if self.transport is None or self.state is ConnectionState.CLOSED:
            return
        if self._outbox is not None:
            self._outbox.append(data)
        else:
            self.transport.write(data)

    def _respond(self, msg_id: int, status: int) -> None:
        self._send(encode_response(msg_id, status))

    def _next_out_id(self) -> int:
        self._out_id = next_msg_id(self._out_id)
        return self._out_id

    def _journal(self, kind: str, **detail: object) -> None:
        self.gateway.store.events.add(kind, self.device_id, {"peer": self.peer, **detail})

    # --- timers: one per connection, for the login deadline and then the idle deadline ------------
    def _on_timer(self) -> None:
        self._timer = None
        if self.state in (ConnectionState.AWAITING_LOGIN, ConnectionState.LOGGING_IN):
            self._journal("login_timeout", state=self.state.value)
            self.close(CloseReason.LOGIN_TIMEOUT)
        elif self.state is ConnectionState.LOGGED_IN:
            deadline = self._last_rx + self._idle_limit()
            if self.loop.time() >= deadline:
                self.close(CloseReason.HEARTBEAT_TIMEOUT)
            else:
                self._timer = self.loop.call_at(deadline, self._on_timer)

    def _fire_by(self, deadline: float) -> None:
        """Make sure the timer fires no later than `deadline` (it re-checks then and re-arms)."""
        if self._timer is not None:
            if self._timer.when() <= deadline:
                return
            self._timer.cancel()
        self._timer = self.loop.call_at(deadline, self._on_timer)

    def _idle_limit(self) -> float:
        return self.gateway.idle_timeout(self.heartbeat_s)

    # --- frames -----------------------------------------------------------------------------------
    def _dispatch(self, frame: Frame) -> None:
        command = frame.command
        if self.state is ConnectionState.LOGGED_IN:
            if command == _HARDWARE:
                self._hardware(frame)
            elif command == _PING:
                self._respond(frame.msg_id, _OK)
                self._journal("device_ping", msg_id=frame.msg_id)  # keep-alive timing is a conformance check
            elif command != _RESPONSE:
                self._logged_in(frame)
            elif frame.msg_id in self._pings_out:
                self._pings_out.discard(frame.msg_id)
                self._journal("ping_answered", msg_id=frame.msg_id, status=frame.status)
        elif command in LOGIN_COMMANDS:
            self._begin_login(frame)
        elif command not in KNOWN_COMMANDS:
            # Not a Blynk client at all (a TLS ClientHello on the plain port starts with 0x16 ...): close.
            hint = " (a TLS ClientHello: TLS client on the plain port?)" if command == TLS_HANDSHAKE else ""
            self._journal("bad_frame", error=f"unknown command {command} before login{hint}")
            self.close(CloseReason.BAD_INPUT)
        elif command != _RESPONSE and self.state is ConnectionState.AWAITING_LOGIN:
            self._respond(frame.msg_id, Status.NOT_AUTHENTICATED)

    def _admitted(self, frame: Frame) -> bool:
        assert self.quota is not None
        verdict = self.quota.admit(self._last_rx)
        if verdict is QuotaVerdict.ADMIT:
            return True
        if verdict is QuotaVerdict.DROP_AND_NOTIFY:
            self._respond(frame.msg_id, Status.QUOTA_LIMIT_EXCEPTION)
            self._journal("quota_exceeded", limit_per_s=self.gateway.quota_limits.messages, dropped=self.quota.dropped)
        return False

    def _text_args(self, frame: Frame) -> list[str] | None:
        try:
            text = frame.body.decode("utf-8")
        except UnicodeDecodeError:
            self._respond(frame.msg_id, Status.ILLEGAL_COMMAND_BODY)
            self._journal("bad_body", command=frame.command_name, error="body is not UTF-8")
            return None
        return text.split("\0") if text else []

    def _illegal_body(self, frame: Frame, why: str) -> None:
        self._respond(frame.msg_id, Status.ILLEGAL_COMMAND_BODY)
        self._journal("bad_body", command=frame.command_name, error=why)

    def _hardware(self, frame: Frame) -> None:
        if not self._admitted(frame):
            return
        args = self._text_args(frame)
        if args is None:
            return
        pin = ascii_decimal(args[1]) if len(args) >= 3 else None
        if pin is not None and args[0] in ("vw", "dw", "aw"):
            assert self.presence is not None
            self.gateway.pin_from_device(self.presence.device_id, args[0][0] + str(pin), args[2:])
        else:
            self._illegal_body(frame, f"expected vw/dw/aw <pin> <value…>, got {args[:2]!r}")

    def _logged_in(self, frame: Frame) -> None:
        command = frame.command
        if command in LOGIN_COMMANDS:
            token = frame.body.split(b"\0", 1)[0].decode("utf-8", "replace")
            self._respond(frame.msg_id, Status.ALREADY_REGISTERED if token == self._token else Status.NOT_ALLOWED)
            return
        if not self._admitted(frame):
            return
        if command == Command.INTERNAL:
            self._internal(frame)
        elif command == Command.HARDWARE_SYNC:
            self._sync(frame)
        elif command == Command.EVENT_LOG:
            self._event_log(frame)
        elif command in SILENT_COMMANDS:
            self._text_args(frame)
        else:
            self._respond(frame.msg_id, Status.ILLEGAL_COMMAND)
            self._journal("illegal_command", command=frame.command_name, msg_id=frame.msg_id)

    def _internal(self, frame: Frame) -> None:
        args = self._text_args(frame)
        if args is None:
            return
        assert self.presence is not None
        first = args[0] if args else ""
        if first == "meta":
            meta = parse_meta_set(frame.args())
            if meta is None:
                self._illegal_body(frame, "expected meta\\0set\\0<field>\\0<value>")
                return
            self.gateway.meta_from_device(self.presence.device_id, *meta)
            self._respond(frame.msg_id, _OK)
        elif first == "rtc" and args[1:2] == ["sync"]:
            self._send(encode_frame(Command.INTERNAL, frame.msg_id, rtc_body(int(time.time()))))
        elif first == "utc" and len(args) >= 2:
            self._send(encode_frame(Command.INTERNAL, frame.msg_id, _utc_reply(args[1])))
        elif first in INFO_KEYS:
            self._info(frame)
        else:
            self._illegal_body(frame, f"unknown INTERNAL sub-command {first!r}")

    def _info(self, frame: Frame) -> None:
        assert self.presence is not None
        info = DeviceInfo.from_body(frame.body)
        if info.buff_in is not None and info.buff_in > 0:
            self.buff_in = info.buff_in
        if info.heartbeat is not None:
            low, high = HEARTBEAT_RANGE
            self.heartbeat_s = float(min(max(info.heartbeat, low), high))
            self._fire_by(self._last_rx + self._idle_limit())  # a longer limit is read when it fires
        self.gateway.device_info(self.presence, info)
        device = self.presence.device
        if info.template_id is not None and info.template_id != device.template_id:
            self._journal("template_mismatch", announced=info.template_id, template_id=device.template_id)
        self._respond(frame.msg_id, _OK)

    def _sync(self, frame: Frame) -> None:
        args = self._text_args(frame)
        if args is None:
            return
        assert self.presence is not None
        stored = self.gateway.store.pins.all(self.presence.device_id)
        numbers = (ascii_decimal(p) for p in args[1:])
        wanted = [f"v{n}" for n in numbers if n is not None] if args[:1] == ["vr"] else sorted(stored)
        for pin in wanted:
            if pin in stored and pin.startswith("v"):
                body = hardware_vw(pin[1:], *stored[pin].split("\0"))
                if len(body) > self.buff_in:  # e.g. written over HTTP: the device could not take it
                    self._journal("sync_value_too_big", pin=pin, length=len(body), buff_in=self.buff_in)
                    continue
                self._send(encode_frame(_HARDWARE, frame.msg_id, body))

    def _event_log(self, frame: Frame) -> None:
        args = self._text_args(frame)
        if args is None:
            return
        assert self.presence is not None
        code = args[0] if args else ""
        template = self.gateway.template(self.presence.device)
        if not code:
            self._illegal_body(frame, "EVENT_LOG without an event code")
        elif template is not None and template.event_codes and code not in template.event_codes:
            self._illegal_body(frame, f"event code {code!r} is not in template {template.id}")
        else:
            self.gateway.event_from_device(self.presence.device_id, code, args[1] if len(args) > 1 else "")

    # --- login ------------------------------------------------------------------------------------
    def _begin_login(self, frame: Frame) -> None:
        if self.state is ConnectionState.LOGGING_IN:
            return  # one login at a time; a client that does not wait for the answer is out of spec
        delay = self.gateway.latency
        if delay <= 0:
            self._login(frame)
            return
        self._hold()
        self.loop.call_later(delay, self._delayed_login, frame)

    def _delayed_login(self, frame: Frame) -> None:
        if self.state is not ConnectionState.LOGGING_IN:
            return
        self.transition(ConnectionState.AWAITING_LOGIN)
        self._outbox = []  # the answer leaves once the session is open, with the answers to the held frames
        try:
            self._login(frame)
            self._release_held()
        finally:
            self._flush_outbox()

    def _hold(self) -> None:
        """Stop reading until the login answer is out; frames already received wait in `_held`."""
        self.transition(ConnectionState.LOGGING_IN)
        if self.transport is not None:
            self.transport.pause_reading()

    def _release_held(self) -> None:
        """Dispatch the frames that arrived while the login answer was held back, then read again."""
        if self._in(ConnectionState.LOGGING_IN):
            return  # the login itself is still waiting (group commit)
        held, self._held = self._held, []
        for index, later in enumerate(held):
            if self._in(ConnectionState.CLOSED):
                return
            if self._in(ConnectionState.LOGGING_IN):  # a second delayed login: wait for it again
                self._held = held[index:]
                return
            self._dispatch(later)
        if self.transport is not None and not self._in(ConnectionState.CLOSED):
            self.transport.resume_reading()

    def _login(self, frame: Frame) -> None:
        try:
            token: str | None = frame.body.split(b"\0", 1)[0].decode("utf-8")
        except UnicodeDecodeError:
            token = None
        outcome = self.gateway.login(token, self.source, self.peer, self.server.transport_kind)
        if outcome.verdict is LoginVerdict.ACCEPTED and outcome.uncommitted:
            # A first login: answer once the device is committed, together with the others of this turn.
            self._hold()
            self.gateway.after_commit(lambda ok: self._committed_login(frame, token, outcome, ok))
        elif outcome.verdict is LoginVerdict.ACCEPTED:
            self._accept(frame, token, outcome)
        elif outcome.verdict is LoginVerdict.REDIRECTED:
            assert outcome.redirect is not None
            body = redirect_body(outcome.redirect.host, outcome.redirect.port)
            if outcome.redirect.replaces_login_answer:
                self._send(encode_frame(Command.REDIRECT, frame.msg_id, body))
            else:
                self._respond(frame.msg_id, _OK)
                self._send(encode_frame(Command.REDIRECT, self._next_out_id(), body))
        elif outcome.verdict is LoginVerdict.THROTTLED:
            self._respond(frame.msg_id, outcome.status)
            self.close(CloseReason.BAD_INPUT)
        else:
            # Like the legacy server: answer and leave the connection open; the client closes.
            self._respond(frame.msg_id, outcome.status)

    def _accept(self, frame: Frame, token: str | None, outcome: LoginOutcome) -> None:
        assert outcome.device is not None and token is not None
        self._token = token
        self._respond(frame.msg_id, _OK)
        self.transition(ConnectionState.LOGGED_IN)
        self.quota = self.gateway.new_quota(self._last_rx)
        self.presence = self.gateway.open_session(outcome.device, self.server.transport_kind, self.peer, self)
        self._fire_by(self._last_rx + self._idle_limit())

    def _committed_login(self, frame: Frame, token: str | None, outcome: LoginOutcome, ok: bool) -> None:
        if not self._in(ConnectionState.LOGGING_IN):
            return  # closed while the commit was under way
        if not ok:
            self._journal("login_not_committed", reason="the store could not commit the token activation")
            self.close(CloseReason.SERVER_ERROR)
            return
        self.transition(ConnectionState.AWAITING_LOGIN)
        self._outbox = []  # the login answer and the answers to the held frames leave in one write
        try:
            self._accept(frame, token, outcome)
            self._release_held()
        finally:
            self._flush_outbox()


def _utc_reply(key: str) -> bytes:
    """The answer to `utc\\0<key>` for a device in UTC (the stub keeps no time zones)."""
    now = _dt.datetime.now(_dt.timezone.utc)
    values: dict[str, tuple[str, ...]] = {
        "time": (str(int(now.timestamp() * 1000)),),
        "iso": (now.isoformat(timespec="seconds").replace("+00:00", "Z"),),
        "tz": ("0", "0"),
        "tz_name": ("UTC",),
        "tz_rule": ("UTC0",),
        "dst_next": ("0",),
    }
    return "\0".join(("utc", key, *values.get(key, ()))).encode("utf-8")
