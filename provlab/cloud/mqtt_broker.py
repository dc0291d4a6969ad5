"""The MQTT device API: an embedded amqtt broker behind the stub's own front door (plain and TLS ports).

The front door reads each connection's CONNECT itself, because the device API needs answers amqtt does not
give: username `device` and the token as password checked against the store, CONNACK 4 ("bad user name or
password") otherwise, one connection per token (newest wins), clean sessions only, the keep-alive enforced
(offline after keep-alive x 1.5 without traffic), garbage closed without a word. An accepted connection is
handed to the broker through an external listener, with a client id the stub chose, so amqtt sees only
devices the stub already knows.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
from functools import partial
from typing import Any

from amqtt.adapters import ReaderAdapter, StreamWriterAdapter  # type: ignore[import-untyped]
from amqtt.broker import Broker  # type: ignore[import-untyped]
from amqtt.mqtt.connack import (  # type: ignore[import-untyped]
    BAD_USERNAME_PASSWORD,
    CONNECTION_ACCEPTED,
    SERVER_UNAVAILABLE,
    UNACCEPTABLE_PROTOCOL_VERSION,
    ConnackPacket,
)
from amqtt.mqtt.connect import ConnectPacket  # type: ignore[import-untyped]
from amqtt.mqtt.packet import CONNECT  # type: ignore[import-untyped]
from amqtt.mqtt.publish import PublishPacket  # type: ignore[import-untyped]

from provlab.cloud.gateway import DeviceGateway, LoginVerdict
from provlab.cloud.idle_watchdog import IdleWatchdog
from provlab.cloud.mqtt_connection import MqttConnection
from provlab.cloud.mqtt_plugin import DeviceApiPlugin
from provlab.cloud.mqtt_topics import MAX_MESSAGE, subscription_allowed
from provlab.cloud.mqtt_uplink import MqttUplink
from provlab.cloud.presence import CloseReason, Transport
from provlab.protocol.commands import Status

log = logging.getLogger("provlab.cloud.mqtt")

DEVICE_USERNAME = "device"
MQTT_3_1_1 = 4
MAX_CONNECT_BYTES = 4096  # a CONNECT is small; more than this before it is parsed is garbage
PLUGIN_PATH = f"{DeviceApiPlugin.__module__}.{DeviceApiPlugin.__name__}"
LISTENER = "default"


class MqttBrokerError(RuntimeError):
    """The embedded broker could not start or was used before it started."""


class DeviceReader(ReaderAdapter):  # type: ignore[misc]
    """amqtt's view of a device socket: replays the CONNECT the front door read, notes when bytes arrive."""

    def __init__(self, reader: asyncio.StreamReader, limit: int | None = MAX_CONNECT_BYTES) -> None:
        self._reader = reader
        self._prefix = bytearray()
        self._taken = 0
        self._limit = limit
        self.last_rx = asyncio.get_running_loop().time()

    def replay(self, data: bytes) -> None:
        """Serve `data` first, then the socket; lift the CONNECT size limit."""
        self._prefix = bytearray(data)
        self._limit = None

    async def read(self, n: int = -1) -> bytes:
        if self._prefix:
            if n == -1 or n >= len(self._prefix):
                data = bytes(self._prefix)
                self._prefix.clear()
                if n != -1 and n > len(data):
                    data += await self._read(n - len(data))
                return data
            data = bytes(self._prefix[:n])
            del self._prefix[:n]
            return data
        return await self._read(n)

    async def _read(self, n: int) -> bytes:
        if self._limit is not None and (n == -1 or self._taken + n > self._limit):
            raise ValueError(f"CONNECT longer than {self._limit} bytes")
        data = await (self._reader.read(n) if n == -1 else self._reader.readexactly(n))
        self.last_rx = asyncio.get_running_loop().time()
        self._taken += len(data)
        return data

    def feed_eof(self) -> None:
        self._reader.feed_eof()


class MqttBroker:
    """The embedded broker and its device front door; also the plugin's `PluginHost`."""

    def __init__(self, gateway: DeviceGateway, host: str = "127.0.0.1") -> None:
        self.gateway = gateway
        self.host = host
        self.uplink = MqttUplink(gateway)
        self.port: int | None = None
        self.tls_port: int | None = None
        self._broker: Any = None
        self._servers: list[asyncio.Server] = []
        self._connections: dict[str, MqttConnection] = {}
        self._accepting: set[asyncio.Task[Any]] = set()
        self._publishing: set[asyncio.Future[Any]] = set()
        self._ids = itertools.count(1)

    # --- lifecycle --------------------------------------------------------------------------------
    async def start(
        self, port: int | None = 0, tls_port: int | None = None, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        config = {"listeners": {LISTENER: {"type": "external"}}, "plugins": {PLUGIN_PATH: {}}}
        self._broker = Broker(config)
        plugin = self._broker.plugins_manager.get_plugin(DeviceApiPlugin.__name__)
        if not isinstance(plugin, DeviceApiPlugin):
            raise MqttBrokerError(f"amqtt did not load {PLUGIN_PATH}; the MQTT device API cannot start")
        plugin.host = self
        await self._broker.start()
        if port is not None:
            self.port = await self._listen(port, None, Transport.MQTT)
        if tls_port is not None:
            if ssl_context is None:
                raise MqttBrokerError("an MQTT TLS port needs the stub's server certificate (ssl_context)")
            self.tls_port = await self._listen(tls_port, ssl_context, Transport.MQTTS)

    async def _listen(self, port: int, context: ssl.SSLContext | None, kind: Transport) -> int:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if task is not None:
                self._accepting.add(task)
            try:
                await self._accept(reader, writer, kind)
            finally:
                if task is not None:
                    self._accepting.discard(task)

        server = await asyncio.start_server(
            accept,
            self.host,
            port,
            ssl=context,
            ssl_handshake_timeout=max(self.gateway.login_timeout, 1.0) if context else None,
            backlog=1024,
        )
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for conn in list(self._connections.values()):
            conn.close(CloseReason.SERVER_STOP)
        if self._accepting:
            await asyncio.wait(list(self._accepting), timeout=5)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await server.wait_closed()
        self._servers.clear()
        for future in list(self._publishing):
            future.cancel()
        if self._broker is not None:
            with contextlib.suppress(Exception):
                await self._broker.shutdown()
            self._broker = None

    # --- PluginHost -------------------------------------------------------------------------------
    def knows_client(self, client_id: str) -> bool:
        return client_id in self._connections

    def on_uplink(self, client_id: str, topic: str, payload: bytes) -> None:
        conn = self._connections.get(client_id)
        if conn is None or conn.closed:
            return
        if len(topic.encode()) + len(payload) + 4 > MAX_MESSAGE:
            self.gateway.store.events.add(
                "bad_uplink",
                conn.device.id,
                {"peer": conn.peer, "topic": topic, "error": "message over 1024 bytes"},
            )
            conn.close(CloseReason.BAD_INPUT)
            return
        self.uplink.handle(conn, topic, payload, asyncio.get_running_loop().time())

    def on_subscribed(self, client_id: str, topic_filter: str) -> None:
        conn = self._connections.get(client_id)
        if conn is not None and subscription_allowed(topic_filter):
            conn.subscriptions.add(topic_filter)

    def on_unsubscribed(self, client_id: str, topic_filter: str) -> None:
        conn = self._connections.get(client_id)
        if conn is not None:
            conn.subscriptions.discard(topic_filter)

    # --- downlinks --------------------------------------------------------------------------------
    def connection(self, device_id: int) -> MqttConnection | None:
        return next(
            (c for c in self._connections.values() if c.device.id == device_id and not c.closed), None
        )

    def _publish(self, client_id: str, topic: str, payload: bytes, qos: int) -> None:
        entry = self._broker.sessions.get(client_id) if self._broker is not None else None
        if entry is None:
            return
        future = asyncio.ensure_future(entry[1].mqtt_publish(topic, payload, qos, retain=False))
        self._publishing.add(future)
        future.add_done_callback(self._published)

    def _published(self, future: asyncio.Future[Any]) -> None:
        self._publishing.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.debug("MQTT downlink failed: %s", future.exception())

    # --- the front door ---------------------------------------------------------------------------
    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, kind: Transport
    ) -> None:
        peername = writer.get_extra_info("peername")
        source = str(peername[0]) if isinstance(peername, tuple) else "?"
        peer = f"{peername[0]}:{peername[1]}" if isinstance(peername, tuple) else "?"
        rx = DeviceReader(reader)
        conn: MqttConnection | None = None
        watchdog: IdleWatchdog | None = None
        try:
            try:
                packet = await asyncio.wait_for(ConnectPacket.from_stream(rx), self.gateway.login_timeout)
            except asyncio.TimeoutError:
                self._journal("login_timeout", peer, transport=kind.value)
                return
            except Exception as exc:  # whatever garbage makes amqtt's parser raise: not MQTT, close
                self._journal("bad_connect", peer, transport=kind.value, error=f"{type(exc).__name__}: {exc}")
                return
            if packet.fixed_header is None or packet.fixed_header.packet_type != CONNECT:
                self._journal("bad_connect", peer, transport=kind.value, error="first packet is not CONNECT")
                return
            if packet.proto_name != "MQTT":
                self._journal(
                    "bad_connect", peer, transport=kind.value, error=f"protocol {packet.proto_name!r}"
                )
                return
            if packet.proto_level != MQTT_3_1_1:
                self._journal(
                    "bad_connect", peer, transport=kind.value, error=f"MQTT level {packet.proto_level}"
                )
                await self._connack(writer, UNACCEPTABLE_PROTOCOL_VERSION)
                return
            if self.gateway.latency > 0:
                await asyncio.sleep(self.gateway.latency)
            token = packet.password if packet.password_flag else None
            if packet.username != DEVICE_USERNAME:
                self.gateway.refuse(token, source, peer, kind, f"username must be {DEVICE_USERNAME!r}")
                await self._connack(writer, BAD_USERNAME_PASSWORD)
                return
            outcome = self.gateway.login(token or "", source, peer, kind)
            if outcome.verdict is LoginVerdict.REDIRECTED:
                assert outcome.redirect is not None
                scheme = "mqtts" if kind is Transport.MQTTS else "mqtt"
                uri = f"{scheme}://{outcome.redirect.host}:{outcome.redirect.port}"
                writer.write(ConnackPacket.build(0, CONNECTION_ACCEPTED).to_bytes())
                writer.write(
                    PublishPacket.build("downlink/redirect", uri.encode(), None, False, 0, False).to_bytes()
                )
                await writer.drain()
                return
            if outcome.verdict is not LoginVerdict.ACCEPTED:
                refused = outcome.verdict is LoginVerdict.REFUSED and outcome.status == Status.INVALID_TOKEN
                await self._connack(writer, BAD_USERNAME_PASSWORD if refused else SERVER_UNAVAILABLE)
                return
            assert outcome.device is not None
            if outcome.uncommitted and not await self.gateway.committed():
                await self._connack(writer, SERVER_UNAVAILABLE)  # the store could not keep the activation
                return
            client_id = f"provlab-device-{outcome.device.id}-{next(self._ids)}"
            packet.client_id = client_id
            packet.clean_session_flag = True  # the device API supports clean sessions only
            loop = asyncio.get_running_loop()
            conn = MqttConnection(
                client_id, outcome.device, writer, peer, self.gateway.new_quota(loop.time()), self._publish
            )
            self._connections[client_id] = conn
            conn.presence = self.gateway.open_session(outcome.device, kind, peer, conn)
            idle = self.gateway.idle_timeout(float(packet.keep_alive) if packet.keep_alive else None)
            watchdog = IdleWatchdog(
                lambda: rx.last_rx, idle, partial(conn.close, CloseReason.HEARTBEAT_TIMEOUT)
            )
            watchdog.start()
            rx.replay(bytes(packet.to_bytes()))
            await self._broker.external_connected(rx, StreamWriterAdapter(writer), LISTENER)
        except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
            log.debug("MQTT connection %s ended: %s", peer, exc)
        finally:
            if watchdog is not None:
                watchdog.cancel()
            if conn is not None:
                conn.closed = True
                self._connections.pop(conn.client_id, None)
                if conn.presence is not None:
                    self.gateway.close_session(conn.presence, conn.close_reason)
            writer.close()

    async def _connack(self, writer: asyncio.StreamWriter, code: int) -> None:
        writer.write(ConnackPacket.build(0, code).to_bytes())
        with contextlib.suppress(ConnectionError, OSError):
            await writer.drain()

    def _journal(self, kind: str, peer: str, **detail: object) -> None:
        self.gateway.store.events.add(kind, None, {"peer": peer, **detail})
