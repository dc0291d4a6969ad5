"""The MQTT build's cloud client: paho-mqtt speaking the Blynk MQTT device API (spec §7) through the board's Link.

A firmware profile with `transport="mqtt"` (`edgent-esp32-mqtt`) runs the legacy Edgent sketch unchanged —
states, timers, retry counters, log lines — with this client in place of the binary `BlynkClient`. Both sit
behind `CloudClient`, the small interface the board drives, and `transports.cloud_client_for()` is the one
place that picks one by profile.

How paho is wired (decision). The board reaches the network only through its `Link`, and every firmware timer
runs on the device clock. So paho does the MQTT protocol (CONNECT/CONNACK, SUBSCRIBE, PUBLISH, PUBACK, topic
and payload encoding, the CONNACK reason codes) and nothing else:

* the socket: `await link.open_connection(...)` (TLS through asyncio with the board's `SSLContext`, the server
  name checked as in `tls.py`) gives an asyncio stream; a paho `Client` subclass returns a non-blocking
  socket-like bridge over that stream from `_create_socket()` (the one paho internal we override; paho 2.x has
  no public hook for a pre-connected socket). paho then runs in its documented "external event loop" mode:
  we call `loop_read()` when bytes arrive and `loop_write()` when it queued a packet; `loop_start()`,
  `loop_forever()` and `loop_misc()` are never used, so paho starts no thread and keeps no wall-clock timer.
* keep-alive: 45 s on the device clock with PubSubClient's rule (the Arduino sample's client): when nothing
  came in or went out for 45 s, send PINGREQ; if the ping is still unanswered at the next check, the
  connection is dead (`Heartbeat timeout`). Any incoming packet counts as the answer. The PINGREQ (2 bytes)
  goes straight to the stream between paho's packets, because paho's own keep-alive reads the wall clock.

Other decisions where the spec is silent:

* Log lines are those of the Blynk library (`Connecting to host:port`, `Ready (ping: Nms).`,
  `Invalid auth token`, `Connect failed. code: N`, `Login timeout`, `Heartbeat timeout`,
  `Redirecting to host:port`, `Disconnected`, and with TLS `Secure connection failed` / `Certificate OK`), so
  the serial grammar and every lab expectation read an MQTT board like a binary one. `Ready` reports the
  CONNECT → CONNACK time; `Login timeout` is 6 s without a CONNACK; attempts are at most every 5 s.
* Bad credentials: CONNACK 4 (MQTT 3.1.1; paho reports it as reason 0x86, the MQTT 5 code) is the
  binary protocol's status 9: `Invalid auth token`, no more attempts, and the board's 703 path.
* After CONNACK: SUBSCRIBE `downlink/#` with QoS 1 (so `downlink/ping` arrives with QoS 1 and is PUBACKed),
  then PUBLISH `info/mcu`, then the board sees `connected` (so the Edgent first-connect `meta/Hotspot Name`
  follows them). `info/mcu` is compact JSON in the Arduino sample's key order (spec §7):
  `{"type":…,"ver":…,"build":…,"tmpl":…,"rxbuff":…}`, built from the same device facts the board gives the
  binary client as its info message (`info_body`).
* Downlinks reach the board through the same hook as the binary client's INTERNAL commands (`on_internal`):
  `downlink/ota/json` is `ota <url>`; `downlink/reconfigure` and `downlink/reboot` are the cloud running the
  console commands `config start` and `reboot` (`dbg <line>`), which is how the legacy sketch lets the cloud
  drive it (`BLYNK_WRITE(InternalPinDBG)` → `edgentConsole.runCommand`); the state table and its triggers stay
  as they are. `downlink/ds/<name>` is applied like a `vw` write (pins keyed by datastream name, values split
  at NUL); `downlink/diag` is logged as `Server: <text>`; meta, utc and location downlinks are ignored.
* `downlink/redirect` is parsed like the Arduino sample's `parseURL`: `scheme://host[:port][/path]`, the port
  kept when absent; the client disconnects and reconnects there at once. The transport does not change with
  the scheme (TLS iff the board has a CA, as the sketch's `WiFiClientSecure` is fixed at build time). The
  redirect lasts until a reboot or a different configured host/port/token, like the sample's globals.
* Defects: `RETRIES_FOREVER_ON_INVALID_TOKEN` keeps retrying after CONNACK 4; `IGNORES_SERVER_PINGS` leaves
  `downlink/ping` un-acknowledged (paho in manual-ack mode, every other QoS 1 message acked).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from provlab.emulator.clock import DeviceClock
from provlab.emulator.defects import FAITHFUL, Behaviour
from provlab.emulator.reconnecting import ClientState, EndOfConnection, ReconnectingClient
from provlab.emulator.settings import BLYNK_TIMEOUT_S, RECONNECT_INTERVAL_S, TLS_HANDSHAKE_TIMEOUT_S
from provlab.protocol.internal import INTERNAL_DBG, INTERNAL_OTA, parse_info
from provlab.wifi.backend import Link, WifiError

if TYPE_CHECKING:
    from paho.mqtt.client import SocketLike

USERNAME = "device"
KEEPALIVE_S = 45
DOWNLINK_FILTER = "downlink/#"
INFO_TOPIC = "info/mcu"
PINGREQ = b"\xc0\x00"
BAD_USER_NAME_OR_PASSWORD = 0x86  # paho's reason for a 3.1.1 CONNACK 4 (and the MQTT 5 code)
# paho turns a 3.1.1 CONNACK return code into an MQTT 5 reason; the log shows the 3.1.1 number
_CONNACK_CODES = {0x84: 1, 0x85: 2, 0x88: 3, 0x86: 4, 0x87: 5}
# The cloud's commands, in the vocabulary of the binary client's INTERNAL messages (see module doc)
RECONFIGURE_COMMAND = [INTERNAL_DBG.encode(), b"config start"]
REBOOT_COMMAND = [INTERNAL_DBG.encode(), b"reboot"]


class CloudClient(Protocol):
    """What the board drives of its cloud connection (`BlynkClient` and `MqttClient` both are one)."""

    info_body: bytes
    """The device facts the library reports after login (the binary info message body)."""
    pins: dict[str, list[str]]
    on_internal: Callable[[list[bytes]], None] | None
    on_virtual_write: Callable[[str, list[str]], None] | None

    @property
    def connected(self) -> bool: ...

    @property
    def token_invalid(self) -> bool: ...

    def begin(self, link: Link, host: str, port: int, token: str) -> None: ...

    async def disconnect(self) -> None: ...

    def disconnect_now(self) -> asyncio.Task[None] | None:
        """`Blynk.disconnect()` up to its `Disconnected` line, without waiting for the driver to end."""
        ...

    def reset(self) -> None: ...

    def send_meta(self, field: str, value: str) -> None: ...

    def log_event(self, code: str, description: str | None = None) -> None: ...

    def virtual_write(self, pin: int | str, *values: str) -> None: ...


def info_mcu_payload(info_body: bytes, rxbuff: int) -> bytes:
    """`info/mcu` (spec §7) from the library's info message: Arduino sample key order, compact JSON."""
    info = parse_info(info_body)
    document = {
        "type": info.get("fw-type", ""),
        "ver": info.get("mcu", ""),
        "build": info.get("build", ""),
        "tmpl": info.get("tmpl", ""),
        "rxbuff": rxbuff,
    }
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def parse_broker_url(url: str) -> tuple[str, int | None] | None:
    """(host, port or None) of `scheme://host[:port][/path]` as the sample's `parseURL`; None if unparsable."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme:
        return None
    server = rest.split("/", 1)[0]
    host, colon, port_text = server.partition(":")
    if not host:
        return None
    if not colon:
        return host, None
    port = int(port_text) if port_text.isdigit() else 0
    return host, port if 0 < port <= 0xFFFF else None


class _StreamSocket:
    """The socket paho writes to and reads from: a non-blocking face over one asyncio stream."""

    def __init__(self, writer: asyncio.StreamWriter, on_sent: Callable[[], None]) -> None:
        self._writer = writer
        self._on_sent = on_sent
        self._inbox = bytearray()
        self.eof = False

    @property
    def pending(self) -> bool:
        return bool(self._inbox) or self.eof

    def feed(self, data: bytes) -> None:
        if data:
            self._inbox += data
        else:
            self.eof = True

    def recv(self, buffer_size: int) -> bytes:
        if self._inbox:
            data = bytes(self._inbox[:buffer_size])
            del self._inbox[:buffer_size]
            return data
        if self.eof:
            return b""
        raise BlockingIOError

    def send(self, buffer: bytes | bytearray) -> int:
        if self._writer.is_closing():
            raise BrokenPipeError("the connection is closed")
        self._writer.write(bytes(buffer))
        self._on_sent()
        return len(buffer)

    def close(self) -> None:
        self._writer.close()

    def fileno(self) -> int:
        return -1  # never selected on: the asyncio stream does the waiting

    def setblocking(self, flag: bool) -> None:
        pass


class _LinkPaho(mqtt.Client):
    """paho's client on a socket we opened through the board's Link (see the module doc)."""

    def __init__(self, sock: _StreamSocket, *, manual_ack: bool) -> None:
        super().__init__(
            CallbackAPIVersion.VERSION2,
            client_id="",
            clean_session=True,
            protocol=MQTTProtocolVersion.MQTTv311,
            reconnect_on_failure=False,
            manual_ack=manual_ack,
        )
        self._stream_socket = sock

    def _create_socket(self) -> SocketLike:
        return self._stream_socket


class MqttClient(ReconnectingClient):
    """One device's MQTT connection to the cloud, with the binary client's interface and timing."""

    def __init__(
        self,
        clock: DeviceClock,
        log: Callable[[str], None],
        info_body: bytes,
        *,
        keepalive_s: int = KEEPALIVE_S,
        max_body: int = 1024,
        behaviour: Behaviour = FAITHFUL,
        tls: ssl.SSLContext | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.clock = clock
        self.log = log
        self.info_body = info_body
        self.keepalive_s = keepalive_s
        self.max_body = max_body
        self.behaviour = behaviour
        self.tls = tls
        self.on_change = on_change
        self.on_internal: Callable[[list[bytes]], None] | None = None
        self.on_virtual_write: Callable[[str, list[str]], None] | None = None
        self.state = ClientState.DISCONNECTED
        self.pins: dict[str, list[str]] = {}
        self.logins = 0
        self.redirect: tuple[str, int] | None = None
        self._link: Link | None = None
        self._target: tuple[str, int, str] | None = None
        self._paho: _LinkPaho | None = None
        self._sock: _StreamSocket | None = None
        self._driver: asyncio.Task[None] | None = None
        self._last_attempt: float | None = None
        self._last_in = self._last_out = 0.0
        self._ping_outstanding = False
        self._connack: ReasonCode | None = None
        self._inbox: list[tuple[str, bytes, int, int]] = []

    # --- state -------------------------------------------------------------------------------------
    # --- the board's API ---------------------------------------------------------------------------
    def begin(self, link: Link, host: str, port: int, token: str) -> None:
        """`config(token, host, port)` + connect: start connecting through `link`."""
        self._stop_driver()
        self._close_socket()
        if self._target != (host, port, token):
            self.redirect = None
        self._link = link
        self._target = (host, port, token)
        self._start_driver("mqtt-client")

    def publish(self, topic: str, payload: str | bytes = b"", qos: int = 0) -> bool:
        """PUBLISH an uplink; False (nothing sent) while not connected, as PubSubClient does."""
        paho = self._paho
        if paho is None or not self.connected:
            return False
        return paho.publish(topic, payload, qos=qos).rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    def send_meta(self, field: str, value: str) -> None:
        self.publish(f"meta/{field}", value)

    def log_event(self, code: str, description: str | None = None) -> None:
        self.publish(f"event/{code}", description or "")

    def virtual_write(self, pin: int | str, *values: str) -> None:
        self.publish(f"ds/{pin}", "\0".join(values))

    # --- the driver ---------------------------------------------------------------------------------
    def _has_socket(self) -> bool:
        return self._sock is not None

    def _before_disconnect(self) -> None:
        """Send DISCONNECT while the connection is still there."""
        paho = self._paho
        if paho is not None:
            paho.disconnect()

    def _close_socket(self) -> None:
        sock, self._sock, self._paho = self._sock, None, None
        if sock is not None:
            sock.close()

    def _sent(self) -> None:
        self._last_out = self.clock.now()

    async def _open(self, host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        link = self._link
        assert link is not None
        address = host if _is_ip(host) else await link.lookup(host)
        timeout = BLYNK_TIMEOUT_S + (TLS_HANDSHAKE_TIMEOUT_S if self.tls is not None else 0.0)
        return await link.open_connection(
            address, port, self.clock.to_wall(timeout), ssl=self.tls, server_hostname=host
        )

    async def _connection(self) -> None:
        """One connection: connect, CONNECT/CONNACK, then serve it until it ends."""
        assert self._target is not None
        host, port, token = self._target
        if self.redirect is not None:
            host, port = self.redirect
        self.log(f"Connecting to {host}:{port}")
        try:
            reader, writer = await self._open(host, port)
        except (OSError, WifiError, asyncio.TimeoutError):  # ssl.SSLError is an OSError
            if self.tls is not None:
                self.log("Secure connection failed")
            raise EndOfConnection from None
        if self._driver is not asyncio.current_task():
            writer.close()
            raise asyncio.CancelledError
        if self.tls is not None:
            self.log("Certificate OK")
        self._connack, self._inbox = None, []
        self._ping_outstanding = False
        sock = _StreamSocket(writer, self._sent)
        paho = _LinkPaho(sock, manual_ack=not self.behaviour.answers_server_ping())
        paho.username_pw_set(USERNAME, token)
        paho.on_connect = self._on_connect
        paho.on_message = self._on_message
        self._sock, self._paho = sock, paho
        started = self._last_in = self.clock.now()
        paho.connect(host, port, self.keepalive_s)  # writes CONNECT through the bridge
        while True:
            data = await self._read(reader, self._next_deadline(started))
            self._check_current()
            if data is None:
                continue
            self._last_in = self.clock.now()
            self._ping_outstanding = False
            self._feed(sock, paho, data)
            self._after_read(paho, started)
            if paho.socket() is None or sock.eof:
                raise EndOfConnection

    async def _read(self, reader: asyncio.StreamReader, deadline: float) -> bytes | None:
        wait = max(deadline - self.clock.now(), 0.0)
        try:
            return await asyncio.wait_for(reader.read(4096), self.clock.to_wall(wait))
        except asyncio.TimeoutError:
            return None
        except OSError:
            return b""

    def _next_deadline(self, started: float) -> float:
        """Device time of the next thing the client must do on its own; acts on what is due now."""
        now = self.clock.now()
        if not self.connected:
            login_deadline = started + BLYNK_TIMEOUT_S  # one sum for both: `now - started` can round below it
            if now >= login_deadline:
                self.log("Login timeout")
                raise EndOfConnection
            return login_deadline
        keepalive = self.keepalive_s
        if now - self._last_in > keepalive or now - self._last_out > keepalive:
            if not self.behaviour.sends_pings():  # a defect: the line stays quiet until the broker gives up
                return now + keepalive
            if self._ping_outstanding:
                self.log("Heartbeat timeout")
                raise EndOfConnection
            sock = self._sock
            try:
                if sock is not None:
                    sock.send(PINGREQ)
            except OSError:
                raise EndOfConnection from None
            self._last_in = self._last_out = now
            self._ping_outstanding = True
        return min(self._last_in, self._last_out) + keepalive + 0.001  # PubSubClient's comparisons are strict

    def _feed(self, sock: _StreamSocket, paho: _LinkPaho, data: bytes) -> None:
        """Hand received bytes (b"" = EOF) to paho and let it read every complete packet."""
        sock.feed(data)
        while sock.pending and paho.socket() is not None:  # every loop_read consumes a byte or ends
            if paho.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break
        if paho.socket() is not None and paho.want_write():
            paho.loop_write()  # acks and answers paho queued inside its callbacks

    # --- what paho reported -------------------------------------------------------------------------
    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connack = reason_code

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        self._inbox.append((message.topic, bytes(message.payload), message.mid, message.qos))

    def _after_read(self, paho: _LinkPaho, started: float) -> None:
        connack, self._connack = self._connack, None
        if connack is not None:
            self._connack_received(paho, connack, started)
        inbox, self._inbox = self._inbox, []
        for topic, payload, mid, qos in inbox:
            if qos and paho.socket() is not None and (topic != "downlink/ping" or self.behaviour.answers_server_ping()):
                paho.ack(mid, qos)  # manual-ack mode only (the IGNORES_SERVER_PINGS defect); else a no-op
            self._downlink(paho, topic, payload)

    def _connack_received(self, paho: _LinkPaho, reason: ReasonCode, started: float) -> None:
        if not reason.is_failure:
            ping_ms = int((self.clock.now() - started) * 1000)
            self.log(f"Ready (ping: {ping_ms}ms).")
            self.logins += 1
            paho.subscribe(DOWNLINK_FILTER, qos=1)
            paho.publish(INFO_TOPIC, info_mcu_payload(self.info_body, self.max_body), qos=0)
            self._set_state(ClientState.CONNECTED)
            return
        if reason.value == BAD_USER_NAME_OR_PASSWORD:
            self.log("Invalid auth token")
            if self.behaviour.stops_on_invalid_token():
                self._set_state(ClientState.TOKEN_INVALID)
        else:
            self.log(f"Connect failed. code: {_CONNACK_CODES.get(reason.value, reason.value)}")
        raise EndOfConnection

    def _downlink(self, paho: _LinkPaho, topic: str, payload: bytes) -> None:
        text = payload.decode("utf-8", "replace")
        if topic.startswith("downlink/ds/"):
            name, values = topic[len("downlink/ds/") :], text.split("\0")
            self.pins[name] = values
            if self.on_virtual_write is not None:
                self.on_virtual_write(name, values)
        elif topic == "downlink/redirect":
            self._redirect(paho, text)
        elif topic == "downlink/reconfigure":
            self._command(RECONFIGURE_COMMAND)
        elif topic == "downlink/reboot":
            self._command(REBOOT_COMMAND)
        elif topic == "downlink/ota/json":
            url = _ota_url(text)
            if url:
                self._command([INTERNAL_OTA.encode(), url.encode("utf-8")])
        elif topic == "downlink/diag":
            self.log(f"Server: {text}")
        # downlink/ping: acknowledged by paho; meta, utc, loc: nothing in the sketch uses them

    def _command(self, args: list[bytes]) -> None:
        if self.on_internal is not None:
            self.on_internal(args)

    def _redirect(self, paho: _LinkPaho, url: str) -> None:
        parsed = parse_broker_url(url)
        if parsed is None:
            self.log("Cannot parse URL")
            return
        assert self._target is not None
        host, port = parsed
        current = self.redirect[1] if self.redirect is not None else self._target[1]
        port = port or current
        self.log(f"Redirecting to {host}:{port}")
        self.redirect = (host, port)
        self._last_attempt = self.clock.now() - RECONNECT_INTERVAL_S  # reconnect at once
        paho.disconnect()
        raise EndOfConnection


def _ota_url(text: str) -> str | None:
    try:
        document = json.loads(text)
    except ValueError:
        return None
    url = document.get("url") if isinstance(document, dict) else None
    return url if isinstance(url, str) else None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
