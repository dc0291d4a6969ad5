"""One device's MQTT connection (an asyncio protocol): CONNECT and login, uplinks, subscriptions, downlinks.

The stub speaks MQTT 3.1.1 itself (codec: `provlab.protocol.mqtt_packets`), because the device API needs
answers a general broker does not give: username `device` and the token as password checked against the
store, CONNACK 4 ("bad user name or password") otherwise, one connection per token (newest wins), clean
sessions only, the keep-alive enforced (offline after keep-alive x 1.5 without traffic), garbage closed
without a word, no PUBLISH ever forwarded from one device to another (they all use the same topic names).

Every PUBLISH is applied to the store in `data_received`, in arrival order, before the next packet is read:
what a device sent before its DISCONNECT (or before its socket closed) is in the store's write-behind
buffer by the time the connection is gone, and a PINGRESP or PUBACK means the packets before it were applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator, Sequence
from functools import partial
from typing import TYPE_CHECKING

from provlab.cloud.gateway import LoginOutcome, LoginVerdict
from provlab.cloud.mqtt_topics import (
    MAX_MESSAGE,
    delivered_without_subscription,
    filter_matches,
    subscription_allowed,
)
from provlab.cloud.ota import OtaOffer
from provlab.cloud.presence import DEAD_PEER, CloseReason, Presence, Transport
from provlab.cloud.rate_limits import MessageQuota
from provlab.cloud.records import Device
from provlab.protocol import mqtt_packets as mp
from provlab.protocol.commands import Status

if TYPE_CHECKING:
    from provlab.cloud.mqtt_broker import MqttBroker

log = logging.getLogger("provlab.cloud.mqtt")

DEVICE_USERNAME = "device"
MAX_CONNECT_BYTES = 4096  # a CONNECT is small; a longer one is garbage
MAX_PACKET_BYTES = 65_536  # after login: a PUBLISH over MAX_MESSAGE is refused by name, anything longer cut off


class MqttConnection(asyncio.Protocol):
    """A device's MQTT connection; once logged in, the session's `DeviceLink`."""

    device: Device  # set at login: read it only while `online`

    def __init__(self, broker: MqttBroker, kind: Transport) -> None:
        self.broker = broker
        self.gateway = broker.gateway
        self.kind = kind
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.source = "?"
        self.presence: Presence | None = None
        self.subscriptions: set[str] = set()
        self.close_reason = CloseReason.DEVICE_CLOSED
        self.closed = False
        self.online = False
        self.undelivered = 0  # downlinks skipped because the device had not subscribed to them
        self.last_rx = 0.0
        self._splitter = mp.PacketSplitter(MAX_CONNECT_BYTES)
        self._connect_seen = False
        self._received = 0
        # One timer per connection, re-armed lazily: the login timeout until CONNECT, then the idle deadline
        # (last_rx + idle), checked when it fires (traffic moves last_rx, not the timer).
        self._timer: asyncio.TimerHandle | None = None
        self._idle = 0.0  # wall seconds without traffic after which a logged-in device is offline
        self._quota: MessageQuota | None = None
        self._next_id = 0
        self._pings_out: set[int] = set()  # packet ids of `downlink/ping`s the client has not PUBACKed yet
        self._qos2_open: set[int] = set()  # QoS 2 packet ids applied, PUBREL not seen yet
        self._out: list[bytes] | None = None  # while packets are handled: what they answer, written at the end
        self._write_paused = False

    # --- asyncio.Protocol ----------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peername = transport.get_extra_info("peername")
        if isinstance(peername, tuple):
            self.source, self.peer = str(peername[0]), f"{peername[0]}:{peername[1]}"
        loop = asyncio.get_running_loop()
        self.last_rx = loop.time()
        self._timer = loop.call_at(self.last_rx + self.gateway.login_timeout, self._on_timer)
        self.broker.connections.add(self)

    def data_received(self, data: bytes) -> None:
        self.last_rx = asyncio.get_running_loop().time()
        self._received += len(data)
        self._splitter.feed(data)
        self._read()

    def eof_received(self) -> bool | None:
        return False  # close our side too

    def pause_writing(self) -> None:
        """The device does not read what the stub answers: stop reading what it sends until it does."""
        self._write_paused = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        held = self._connect_seen and not self.online  # a login still waiting keeps reading paused
        if self.transport is not None and not self.transport.is_closing() and not held:
            self.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.broker.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._connect_seen and not self.closed and self._received:
            self._journal("bad_connect", error="closed before its CONNECT was complete")
        self.closed = True
        if self.online:
            self.online = False
            self.broker.went_offline(self)
            if self.presence is not None:
                self.gateway.close_session(self.presence, self.close_reason)

    # --- reading --------------------------------------------------------------------------------------
    def _read(self) -> None:
        """Handle every whole packet received; what they answer (PUBACKs, PINGRESP, SUBACK, diag) goes out
        in one write at the end, not one system call per packet."""
        with self._batch():
            self._handle_packets()

    @contextlib.contextmanager
    def _batch(self) -> Iterator[None]:
        """What is written inside goes out in one write at its end (or with the enclosing batch's)."""
        if self._out is not None:  # nested (`_accept` inside a read): the outer batch writes
            yield
            return
        out: list[bytes] = []
        self._out = out
        try:
            yield
        finally:
            self._out = None
            if out and self.transport is not None and not self.transport.is_closing():
                self.transport.write(b"".join(out))

    def _handle_packets(self) -> None:
        splitter = self._splitter
        try:
            while not self.closed:
                if not self.online:
                    if self._connect_seen:
                        return  # logging in: the packets after CONNECT wait in the splitter
                    if splitter.pending and splitter.pending_first() != 0x10:
                        self._journal("bad_connect", error="first packet is not CONNECT")
                        self.close(CloseReason.BAD_INPUT)
                        return
                    found = splitter.next_packet()
                    if found is None:
                        return
                    self._on_connect(found[1])
                    continue
                found = splitter.next_packet()
                if found is None:
                    return
                first, body = found
                if first & 0xF0 == 0x30:
                    self._on_publish(first, body)
                else:
                    self._on_control(first, body)
        except mp.PacketTooLarge as exc:
            if not self.online:
                self._journal("bad_connect", error=f"CONNECT longer than {MAX_CONNECT_BYTES} bytes")
            else:
                self._bad_uplink(f"packet of {exc.size} bytes (over {MAX_PACKET_BYTES})")
            self.close(CloseReason.BAD_INPUT)
        except mp.MalformedPacket as exc:
            if not self.online:
                self._journal("bad_connect", error=str(exc))
            else:
                self._bad_uplink(f"malformed packet: {exc}")
            self.close(CloseReason.BAD_INPUT)

    def _on_publish(self, first: int, body: bytes) -> None:
        qos = (first >> 1) & 0x03
        if qos == 0:  # the hot path, inlined
            if len(body) < 2:
                raise mp.MalformedPacket("topic name cut short")
            end = 2 + ((body[0] << 8) | body[1])
            if end > len(body):
                raise mp.MalformedPacket("topic name cut short")
            try:
                topic = body[2:end].decode("utf-8")
            except UnicodeDecodeError:
                raise mp.MalformedPacket("topic name is not UTF-8") from None
            self._uplink(topic, body[end:], len(body) + 2)
            return
        message = mp.decode_publish(first, body)
        assert message.packet_id is not None
        if qos == 1:
            self._uplink(message.topic, message.payload, len(body))
            self._write(mp.puback(message.packet_id))
        elif message.packet_id not in self._qos2_open:  # exactly once: a resent PUBLISH is not applied again
            self._qos2_open.add(message.packet_id)
            self._uplink(message.topic, message.payload, len(body))
            self._write(mp.pubrec(message.packet_id))
        else:
            self._write(mp.pubrec(message.packet_id))

    def _uplink(self, topic: str, payload: bytes, size: int) -> None:
        """Apply one PUBLISH; `size` is its topic + payload + 4 (the spec's "1024 bytes incl. headers")."""
        if size > MAX_MESSAGE:
            self.gateway.store.events.add(
                "bad_uplink", self.device.id, {"peer": self.peer, "topic": topic, "error": "message over 1024 bytes"}
            )
            self.close(CloseReason.BAD_INPUT)
            return
        if self.broker.uplink.handle(self, topic, payload, self.last_rx) and self.broker.bridge is not None:
            self.broker.bridge.uplink(self.device.id, topic, payload)

    def _on_control(self, first: int, body: bytes) -> None:
        kind = first >> 4
        if kind == mp.PINGREQ and first == 0xC0:
            self._write(mp.PINGRESP_PACKET)
            if self.online:
                self._journal("device_ping")  # keep-alive timing is a conformance check, as for the binary PING
        elif kind == mp.SUBSCRIBE and first == 0x82:
            packet_id, wanted = mp.decode_subscribe(body)
            codes = []
            for topic_filter, qos in wanted:
                if subscription_allowed(topic_filter):
                    self.subscriptions.add(topic_filter)
                    codes.append(min(qos, 1))  # the stub sends QoS 0, and QoS 1 for downlink/ping
                else:
                    codes.append(mp.SUBSCRIBE_FAILURE)
            self._write(mp.suback(packet_id, codes))
            if self.online:
                self._journal("mqtt_subscribe", filters=[topic_filter for topic_filter, _ in wanted], granted=codes)
        elif kind == mp.UNSUBSCRIBE and first == 0xA2:
            packet_id, filters = mp.decode_unsubscribe(body)
            self.subscriptions.difference_update(filters)
            self._write(mp.unsuback(packet_id))
        elif kind == mp.PUBREL and first == 0x62:
            packet_id = mp.packet_id_of(body)
            self._qos2_open.discard(packet_id)
            self._write(mp.pubcomp(packet_id))
        elif kind in (mp.PUBACK, mp.PUBREC, mp.PUBCOMP):
            packet_id = mp.packet_id_of(body)
            if kind == mp.PUBACK and packet_id in self._pings_out:  # the client acknowledged `downlink/ping`
                self._pings_out.discard(packet_id)
                self._journal("ping_answered", packet_id=packet_id)
        elif kind == mp.DISCONNECT and first == 0xE0:
            self.close(CloseReason.DEVICE_CLOSED)
        else:
            raise mp.MalformedPacket(f"unexpected packet type {kind} (first byte {first:#04x})")

    # --- CONNECT and login ----------------------------------------------------------------------------
    def _on_connect(self, body: bytes) -> None:
        self._connect_seen = True  # the timer, when it fires, now only checks the idle deadline
        packet = mp.decode_connect(body)
        if packet.protocol_name != mp.PROTOCOL_NAME:
            self._journal("bad_connect", error=f"protocol {packet.protocol_name!r}")
            self.close(CloseReason.BAD_INPUT)
            return
        if packet.level != mp.LEVEL_3_1_1:
            self._journal("bad_connect", error=f"MQTT level {packet.level}")
            self._refuse(mp.UNACCEPTABLE_PROTOCOL_VERSION)
            return
        if self.gateway.latency > 0:
            self._hold()
            asyncio.get_running_loop().call_later(self.gateway.latency, self._login, packet)
        else:
            self._login(packet)

    def _login(self, packet: mp.Connect) -> None:
        if self.closed:
            return
        token: str | None = None
        if packet.password is not None:
            try:
                token = packet.password.decode("utf-8")
            except UnicodeDecodeError:
                token = None
        if packet.username != DEVICE_USERNAME:
            self.gateway.refuse(token, self.source, self.peer, self.kind, f"username must be {DEVICE_USERNAME!r}")
            self._refuse(mp.BAD_USERNAME_OR_PASSWORD)
            return
        outcome = self.gateway.login(token or "", self.source, self.peer, self.kind)
        if outcome.verdict is LoginVerdict.REDIRECTED:
            assert outcome.redirect is not None
            scheme = "mqtts" if self.kind is Transport.MQTTS else "mqtt"
            uri = f"{scheme}://{outcome.redirect.host}:{outcome.redirect.port}"
            self._write(mp.connack(mp.ACCEPTED) + mp.publish("downlink/redirect", uri.encode()))
            self.close(CloseReason.REDIRECTED)
            return
        if outcome.verdict is not LoginVerdict.ACCEPTED:
            refused = outcome.verdict is LoginVerdict.REFUSED and outcome.status == Status.INVALID_TOKEN
            self._refuse(mp.BAD_USERNAME_OR_PASSWORD if refused else mp.SERVER_UNAVAILABLE)
            return
        if outcome.uncommitted:  # a first login: answered once the store committed the activation
            self._hold()
            self.gateway.after_commit(partial(self._committed, packet, outcome))
            return
        self._accept(packet, outcome)

    def _committed(self, packet: mp.Connect, outcome: LoginOutcome, ok: bool) -> None:
        if self.closed:
            return
        if ok:
            self._accept(packet, outcome)
        else:
            self._refuse(mp.SERVER_UNAVAILABLE)  # the store could not keep the activation

    def _accept(self, packet: mp.Connect, outcome: LoginOutcome) -> None:
        assert outcome.device is not None
        self.device = outcome.device
        self._splitter.max_body = MAX_PACKET_BYTES
        with self._batch():  # the CONNACK leaves once the device is online: a client told "accepted" finds it so
            self._write(mp.connack(mp.ACCEPTED))
            self.online = True
            handshake = {"keep_alive": packet.keep_alive, "clean_session": packet.clean_session}
            self.presence = self.gateway.open_session(outcome.device, self.kind, self.peer, self, handshake)
            self.broker.went_online(self)
        self._idle = self.gateway.idle_timeout(float(packet.keep_alive) if packet.keep_alive else None)
        deadline = self.last_rx + self._idle
        timer = self._timer
        if timer is None or timer.when() > deadline:  # fired while the login waited, or would fire too late
            if timer is not None:
                timer.cancel()
            self._timer = asyncio.get_running_loop().call_at(deadline, self._on_timer)
        transport = self.transport
        if (
            transport is not None
            and not transport.is_reading()
            and not transport.is_closing()
            and not self._write_paused
        ):
            transport.resume_reading()
        self._read()  # what the device sent right after its CONNECT

    def _hold(self) -> None:
        """Read nothing more while the login waits (fault latency, group commit): what the device sent after
        its CONNECT stays in the socket, not in our memory."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def _refuse(self, code: int) -> None:
        self._write(mp.connack(code))
        self.close(CloseReason.BAD_INPUT)

    @property
    def quota(self) -> MessageQuota:
        """The session's message quota, made at the first uplink (a bucket starts full, so it admits the
        same as one made at login)."""
        if self._quota is None:
            self._quota = self.gateway.new_quota(self.last_rx)
        return self._quota

    def _on_timer(self) -> None:
        """Login timeout before CONNECT; after login, offline once `_idle` passed without traffic."""
        self._timer = None
        if self.closed:
            return
        if not self._connect_seen:
            self._journal("login_timeout")
            self.close(CloseReason.LOGIN_TIMEOUT)
        elif self.online:
            loop = asyncio.get_running_loop()
            deadline = self.last_rx + self._idle
            if loop.time() >= deadline:
                self.close(CloseReason.HEARTBEAT_TIMEOUT)
            else:
                self._timer = loop.call_at(deadline, self._on_timer)
        # else: the login waits (fault latency, group commit); _accept arms the idle deadline

    # --- DeviceLink -------------------------------------------------------------------------------------
    def subscribed(self, topic: str) -> bool:
        return any(filter_matches(f, topic) for f in self.subscriptions)

    def publish(self, topic: str, payload: bytes = b"", qos: int = 0) -> bool:
        """Send a downlink if the device subscribed to it (OTA, redirect and diag always go)."""
        if self.closed or not self.online:
            return False
        if not delivered_without_subscription(topic) and not self.subscribed(topic):
            self.undelivered += 1
            return False
        packet_id = None
        if qos:
            self._next_id = self._next_id % 0xFFFF + 1
            packet_id = self._next_id
        self._write(mp.publish(topic, payload, qos, packet_id))
        return True

    def push_pin(self, pin: str, name: str, values: Sequence[str]) -> None:
        self.publish(f"downlink/ds/{name}", "\0".join(values).encode("utf-8"))

    def redirect(self, host: str, port: int) -> None:
        scheme = "mqtts" if self.kind is Transport.MQTTS else "mqtt"
        self.publish("downlink/redirect", f"{scheme}://{host}:{port}".encode())

    def ping(self) -> None:
        """`downlink/ping` QoS 1; the client's PUBACK is journaled as `ping_answered` (as a binary RESPONSE 200)."""
        if self.publish("downlink/ping", b"", qos=1):
            self._pings_out.add(self._next_id)

    def reconfigure(self) -> None:
        self.publish("downlink/reconfigure", b"")

    def ota(self, offer: OtaOffer) -> bool:
        """`downlink/ota/json` (spec §7), delivered without a subscription."""
        return self.publish("downlink/ota/json", offer.mqtt_json())

    def close(self, reason: CloseReason) -> None:
        if self.closed or self.transport is None:
            return
        self.closed = True
        self.close_reason = reason
        if self._out:  # answers collected in this read (a CONNACK, a redirect) go out before the close
            self.transport.write(b"".join(self._out))
            self._out.clear()
        if reason in DEAD_PEER or reason is CloseReason.SERVER_STOP:
            # No polite close (TLS close_notify) with a peer that is gone, nor when the stub stops: a
            # shutdown would wait for goodbyes from boards that lost power without a word.
            self.transport.abort()
        else:
            self.transport.close()  # what was written (a CONNACK, a redirect) goes out first

    # --- helpers ----------------------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if self._out is not None:
            self._out.append(data)
        elif self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _bad_uplink(self, error: str) -> None:
        device_id = self.device.id if self.online else None
        self.gateway.store.events.add("bad_uplink", device_id, {"peer": self.peer, "error": error})

    def _journal(self, kind: str, **detail: object) -> None:
        self.gateway.store.events.add(kind, None, {"peer": self.peer, "transport": self.kind.value, **detail})
