"""A home router's uplink: the cloud's "internet" address inside the router, forwarded to loopback.

The cloud stub listens on the host's loopback. Inside a router namespace the lab gives the stub an
internet-looking address (198.18.0.0/15, reserved for benchmarking) and listens on it; each accepted
connection is relayed to the stub's loopback port from the host side. So a board's packets travel
board → home bridge → router for real, and the host namespace only ever talks to loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

from provlab.wifi.netns.namespace import Namespace

RELAY_CHUNK = 65536


def listening_socket(address: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(RELAY_CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


class Uplink:
    """Relays `internet_ip:port` in `namespace` to `loopback_host:port` on the host, per open port."""

    def __init__(self, namespace: Namespace) -> None:
        self.namespace = namespace
        self._servers: dict[tuple[str, int], asyncio.Server] = {}
        self._relays: set[asyncio.StreamWriter] = set()
        self.connections = 0

    async def open(self, internet_ip: str, port: int, loopback_host: str) -> None:
        if (internet_ip, port) in self._servers:
            return
        sock = await self.namespace.run(lambda: listening_socket(internet_ip, port))

        async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                up_reader, up_writer = await asyncio.open_connection(loopback_host, port)
            except OSError:
                writer.transport.abort()
                return
            self._relays.update((writer, up_writer))
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                self._relays.difference_update((writer, up_writer))

        self._servers[(internet_ip, port)] = await asyncio.start_server(relay, sock=sock)

    async def close(self) -> None:
        """The uplink is cut: listeners close and every relayed connection drops."""
        servers, self._servers = self._servers, {}
        for server in servers.values():
            server.close()
        for writer in list(self._relays):
            writer.transport.abort()
        for server in servers.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)

    @property
    def ports(self) -> list[tuple[str, int]]:
        return list(self._servers)
