"""The Blynk binary-protocol listener: one port, plain TCP or TLS, a `DeviceConnection` per client."""

from __future__ import annotations

import asyncio
import ssl

from provlab.cloud.binary_connection import DeviceConnection
from provlab.cloud.gateway import DeviceGateway
from provlab.cloud.presence import CloseReason, Transport
from provlab.protocol.frames import MAX_BODY_LINUX

MAX_BODY = MAX_BODY_LINUX  # the largest body a device may send us (the Linux client's BLYNK_MAX_SENDBYTES)
BACKLOG = 4096  # login storms: a thousand devices reconnecting at once
TLS_HANDSHAKE_FLOOR_S = 1.0  # wall seconds a TLS handshake may take at least, whatever the time scale


class BinaryServer:
    """Accepts device connections on one port."""

    def __init__(
        self,
        gateway: DeviceGateway,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_body: int = MAX_BODY,
    ) -> None:
        self.gateway = gateway
        self.ssl_context = ssl_context
        self.max_body = max_body
        self.transport_kind = Transport.TLS if ssl_context else Transport.TCP
        self.connections: set[DeviceConnection] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        loop = asyncio.get_running_loop()
        handshake = max(self.gateway.login_timeout, TLS_HANDSHAKE_FLOOR_S) if self.ssl_context else None
        self._server = await loop.create_server(
            lambda: DeviceConnection(self),
            host,
            port,
            ssl=self.ssl_context,
            ssl_handshake_timeout=handshake,
            backlog=BACKLOG,
            reuse_address=True,
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for conn in list(self.connections):
            conn.close(CloseReason.SERVER_STOP)
        await asyncio.sleep(0)  # let connection_lost run for what we just closed
        await server.wait_closed()
