"""The stub in front of an external MQTT broker (`--mqtt-broker mqtt://host:port`, e.g. Mosquitto).

Mosquitto cannot check a Blynk login (every device uses username `device` and its token as password, so a
password file or dynamic-security client per token does not fit), so devices keep connecting to the stub's
MQTT device API, which authenticates them, applies quotas and stores what they send, as without a broker.
The stub holds one client connection to the broker and relays through it:

| direction | broker topic | payload |
| --- | --- | --- |
| device uplink (admitted by the quota) | `<prefix>/<device id>/up/<topic the device used>` | as sent |
| presence | `<prefix>/<device id>/online` (retained) | `1` online, `0` offline |
| downlink from another client | `<prefix>/<device id>/down/downlink/<…>` | sent to the device as `downlink/<…>` |

Other clients of the broker (dashboards, test probes, another service) subscribe to `<prefix>/+/up/#` and
publish to `…/down/downlink/…`; the stub never forwards a device's uplink back to any device. QoS 0 both
ways. If the broker goes away the stub keeps serving devices, journals `mqtt_broker_lost`, counts what it
could not relay (`MqttBridge.dropped`) and reconnects every second.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
from urllib.parse import unquote, urlsplit

from provlab.cloud.gateway import DeviceGateway
from provlab.cloud.mqtt_broker import MqttBroker
from provlab.protocol import mqtt_packets as mp

log = logging.getLogger("provlab.cloud.mqtt")

DEFAULT_PREFIX = "provlab"
KEEP_ALIVE_S = 60
CONNECT_TIMEOUT_S = 10.0
RETRY_S = 1.0
CLOSED = -1  # "CONNACK code" of a connection the broker closed before it answered


class MqttBridgeError(RuntimeError):
    """The external broker's URL is not usable, or the broker refused or did not answer."""


def broker_address(url: str) -> tuple[str, int, str | None, str | None]:
    """Host, port, user name and password of an `mqtt://[user[:password]@]host[:port]` URL on loopback."""
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise MqttBridgeError(f"expected mqtt://HOST:PORT of an MQTT broker, got {url!r}")
    host = parts.hostname
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise MqttBridgeError(
                f"{host!r} is not a loopback address; the stub sends traffic only to loopback (127.0.0.0/8, ::1)"
            )
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return host, parts.port or 1883, user, password


class _BrokerLink(asyncio.Protocol):
    """The socket to the broker: CONNACK and SUBACK awaited at start, downlinks handed to the bridge."""

    def __init__(self, bridge: MqttBridge) -> None:
        self.bridge = bridge
        self.transport: asyncio.Transport | None = None
        self.splitter = mp.PacketSplitter()
        loop = asyncio.get_running_loop()
        self.connack: asyncio.Future[int] = loop.create_future()
        self.suback: asyncio.Future[list[int]] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.splitter.feed(data)
        try:
            while (found := self.splitter.next_packet()) is not None:
                first, body = found
                kind = first >> 4
                if kind == mp.PUBLISH:
                    message = mp.decode_publish(first, body)
                    if message.qos == 1 and message.packet_id is not None:
                        self.write(mp.puback(message.packet_id))
                    self.bridge.downlink(message.topic, message.payload)
                elif kind == mp.CONNACK and not self.connack.done():
                    self.connack.set_result(mp.decode_connack(body))
                elif kind == mp.SUBACK and not self.suback.done():
                    self.suback.set_result(mp.decode_suback(body)[1])
        except mp.MalformedPacket as exc:
            log.warning("MQTT broker sent a malformed packet (%s); reconnecting", exc)
            if self.transport is not None:
                self.transport.abort()

    def write(self, data: bytes) -> bool:
        if self.transport is None or self.transport.is_closing():
            return False
        self.transport.write(data)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.connack.done():
            self.connack.set_result(CLOSED)
        if not self.suback.done():
            self.suback.set_result([])
        if not self.lost.done():
            self.lost.set_result(None)
        self.bridge.link_lost(self)


def _close(link: _BrokerLink) -> None:
    link.write(mp.DISCONNECT_PACKET)
    if link.transport is not None:
        link.transport.close()


class MqttBridge:
    """The stub's relay through an external broker (see the module docstring); the broker's `DeviceTraffic`."""

    def __init__(self, url: str, broker: MqttBroker, gateway: DeviceGateway, prefix: str = DEFAULT_PREFIX) -> None:
        self.url = url
        self.host, self.port, self.user, self.password = broker_address(url)
        self.broker = broker
        self.gateway = gateway
        self.prefix = prefix
        self.client_id = f"provlab-stub-{os.getpid()}-{id(self) & 0xFFFF:x}"
        self.relayed = 0
        self.dropped = 0  # uplinks and presence changes not relayed while the broker was away
        self.downlinks = 0
        self._link: _BrokerLink | None = None
        self._outbox: list[bytes] = []
        self._stopping = False
        self._reconnect: asyncio.Task[None] | None = None
        self._pinger: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect and subscribe; MqttBridgeError when the broker cannot be reached or refuses."""
        await self._connect()
        self._pinger = asyncio.create_task(self._ping_forever())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, link = await asyncio.wait_for(
                loop.create_connection(lambda: _BrokerLink(self), self.host, self.port), CONNECT_TIMEOUT_S
            )
        except (OSError, asyncio.TimeoutError) as exc:
            raise MqttBridgeError(f"cannot reach the MQTT broker at {self.url}: {exc}") from None
        password = self.password.encode() if self.password is not None else None
        link.write(mp.connect(self.user, password, client_id=self.client_id, keep_alive=KEEP_ALIVE_S))
        code = await asyncio.wait_for(link.connack, CONNECT_TIMEOUT_S)
        if code != mp.ACCEPTED:
            _close(link)
            said = "closed the connection" if code == CLOSED else f"answered CONNACK {code}"
            raise MqttBridgeError(f"the MQTT broker at {self.url} refused the stub: it {said}")
        link.write(mp.subscribe(1, [(f"{self.prefix}/+/down/#", 0)]))
        granted = await asyncio.wait_for(link.suback, CONNECT_TIMEOUT_S)
        if not granted or granted[0] == mp.SUBSCRIBE_FAILURE:
            _close(link)
            raise MqttBridgeError(f"the MQTT broker at {self.url} refused the stub's subscription ({granted})")
        self._link = link
        for conn in self.broker.online_connections():  # presence as it is now (after a reconnect)
            self.online(conn.device.id, True)

    async def stop(self) -> None:
        self._stopping = True
        for task in (self._pinger, self._reconnect):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        link = self._link
        if link is not None and self._outbox:
            self._flush(link)  # presence of the devices the stop just closed
        self._link = None
        if link is not None and link.transport is not None:
            link.write(mp.DISCONNECT_PACKET)
            link.transport.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(link.lost, 5)

    # --- DeviceTraffic -----------------------------------------------------------------------------
    def uplink(self, device_id: int, topic: str, payload: bytes) -> None:
        self._send(mp.publish(f"{self.prefix}/{device_id}/up/{topic}", payload))

    def online(self, device_id: int, online: bool) -> None:
        self._send(mp.publish(f"{self.prefix}/{device_id}/online", b"1" if online else b"0", retain=True))

    def _send(self, packet: bytes) -> None:
        """Queue a packet for the broker; everything queued in one turn of the event loop goes out in one
        write (a busy stub relays tens of thousands of uplinks a second: not one send() each)."""
        link = self._link
        if link is None or link.transport is None or link.transport.is_closing():
            self.dropped += 1
            return
        if not self._outbox:
            asyncio.get_running_loop().call_soon(self._flush, link)
        self._outbox.append(packet)

    def _flush(self, link: _BrokerLink) -> None:
        packets, self._outbox = self._outbox, []
        if link is self._link and link.write(b"".join(packets)):
            self.relayed += len(packets)
        else:
            self.dropped += len(packets)

    # --- from the broker ---------------------------------------------------------------------------
    def downlink(self, topic: str, payload: bytes) -> None:
        """`<prefix>/<id>/down/downlink/…` from another client: to that device, if it is online here."""
        parts = topic.split("/", 3)
        if len(parts) != 4 or parts[0] != self.prefix or parts[2] != "down" or not parts[3].startswith("downlink/"):
            return
        if not parts[1].isascii() or not parts[1].isdigit():
            return
        conn = self.broker.connection(int(parts[1]))
        if conn is not None and conn.publish(parts[3], payload):
            self.downlinks += 1

    def link_lost(self, link: _BrokerLink) -> None:
        if link is not self._link or self._stopping:
            return
        self._link = None
        self.gateway.store.events.add("mqtt_broker_lost", None, {"broker": self.url})
        self._reconnect = asyncio.get_running_loop().create_task(self._reconnect_forever())

    async def _reconnect_forever(self) -> None:
        while not self._stopping:
            await asyncio.sleep(RETRY_S)
            try:
                await self._connect()
            except (MqttBridgeError, asyncio.TimeoutError) as exc:
                log.debug("MQTT broker still away: %s", exc)
                continue
            self.gateway.store.events.add("mqtt_broker_back", None, {"broker": self.url, "dropped": self.dropped})
            return

    async def _ping_forever(self) -> None:
        while True:
            await asyncio.sleep(KEEP_ALIVE_S / 2)
            if self._link is not None:
                self._link.write(mp.PINGREQ_PACKET)
