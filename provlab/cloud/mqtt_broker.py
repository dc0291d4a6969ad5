"""The MQTT device API: the stub's own MQTT 3.1.1 listeners (plain and TLS), one `MqttConnection` per socket.

No general-purpose broker sits inside: devices only ever talk to the stub (uplinks are applied to the store,
downlinks come from the stub), so the stub needs the few packets of the device API and nothing of a
broker's routing, sessions or retained messages (see DECISIONS.md, "MQTT server"). With a `bridge`
(`--mqtt-broker mqtt://…`) the stub also fronts an external broker such as Mosquitto: it still
authenticates every device and stores what it sends, and relays uplinks, presence and downlinks through
that broker so other subscribers see them (`mqtt_bridge.py`).
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Protocol

from provlab.cloud.gateway import DeviceGateway
from provlab.cloud.mqtt_connection import MqttConnection
from provlab.cloud.mqtt_uplink import MqttUplink
from provlab.cloud.presence import CloseReason, Transport

BACKLOG = 4096  # connect storms: a thousand devices reconnecting at once
TLS_HANDSHAKE_FLOOR_S = 1.0  # wall seconds a TLS handshake may take at least, whatever the time scale


class MqttBrokerError(RuntimeError):
    """The MQTT device API could not start."""


class DeviceTraffic(Protocol):
    """What the stub tells an external broker about its devices (`mqtt_bridge.MqttBridge`)."""

    def uplink(self, device_id: int, topic: str, payload: bytes) -> None: ...

    def online(self, device_id: int, online: bool) -> None: ...


class MqttBroker:
    """The MQTT device API's listeners and live connections."""

    def __init__(self, gateway: DeviceGateway, host: str = "127.0.0.1") -> None:
        self.gateway = gateway
        self.host = host
        self.uplink = MqttUplink(gateway)
        self.bridge: DeviceTraffic | None = None
        self.port: int | None = None
        self.tls_port: int | None = None
        self.connections: set[MqttConnection] = set()
        self._servers: list[asyncio.Server] = []
        self._online: dict[int, MqttConnection] = {}

    async def start(
        self, port: int | None = 0, tls_port: int | None = None, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        if port is not None:
            self.port = await self._listen(port, None, Transport.MQTT)
        if tls_port is not None:
            if ssl_context is None:
                raise MqttBrokerError("an MQTT TLS port needs the stub's server certificate (ssl_context)")
            self.tls_port = await self._listen(tls_port, ssl_context, Transport.MQTTS)

    async def _listen(self, port: int, context: ssl.SSLContext | None, kind: Transport) -> int:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: MqttConnection(self, kind),
            self.host,
            port,
            ssl=context,
            ssl_handshake_timeout=max(self.gateway.login_timeout, TLS_HANDSHAKE_FLOOR_S) if context else None,
            backlog=BACKLOG,
            reuse_address=True,
        )
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Close the listeners and every connection; what devices sent before is already in the store."""
        for server in self._servers:
            server.close()
        for conn in list(self.connections):
            conn.close(CloseReason.SERVER_STOP)
        await asyncio.sleep(0)  # let connection_lost run for what was just closed
        for server in self._servers:
            await server.wait_closed()
        self._servers.clear()

    # --- what connections report ------------------------------------------------------------------
    def went_online(self, conn: MqttConnection) -> None:
        self._online[conn.device.id] = conn
        if self.bridge is not None:
            self.bridge.online(conn.device.id, True)

    def went_offline(self, conn: MqttConnection) -> None:
        if self._online.get(conn.device.id) is conn:
            del self._online[conn.device.id]
            if self.bridge is not None:
                self.bridge.online(conn.device.id, False)

    def online_connections(self) -> list[MqttConnection]:
        return [conn for conn in self._online.values() if not conn.closed]

    def connection(self, device_id: int) -> MqttConnection | None:
        """The device's live MQTT connection, if it has one."""
        conn = self._online.get(device_id)
        return conn if conn is not None and not conn.closed else None
