"""Loopback doors into a station's namespace, for code that connects by address (`Link.endpoint`).

`Link.endpoint(host, port)` promises a socket address that reaches `host:port` through the link, to
be connected from a socket bound to `Link.local_address`. A netns station's real sockets live in its
namespace, so for such callers the link opens a door on the host's loopback: each connection to it
(accepted only from the link's own loopback client address) is carried on by a socket made inside
the station's namespace, bound to its lease address and `wlan0`. The packets on the Wi-Fi side are
real; the host side stays loopback. When the link goes down the doors close and every carried
connection drops, as a TCP connection does when its Wi-Fi goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import Awaitable, Callable

from provlab.wifi.netns.uplink import _pipe

RELAY_BASE = int(ipaddress.IPv4Address("127.96.0.0"))
CLIENT_BASE = int(ipaddress.IPv4Address("127.97.0.0"))
CONNECT_TIMEOUT_S = 10.0

Opener = Callable[[str, int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


def relay_addresses(index: int) -> tuple[str, str]:
    """(door address, client address) for the `index`-th link of an air: 127.96.x.y / 127.97.x.y."""
    offset = 1 + (index % 0xFFFE)
    return str(ipaddress.IPv4Address(RELAY_BASE + offset)), str(ipaddress.IPv4Address(CLIENT_BASE + offset))


class LinkRelay:
    """Doors for one link; runs on the air's infrastructure loop."""

    def __init__(self, opener: Opener, door_ip: str, client_ip: str) -> None:
        self.opener = opener
        self.door_ip = door_ip
        self.client_ip = client_ip
        self._doors: dict[tuple[str, int], tuple[asyncio.Server, int]] = {}
        self._carried: set[asyncio.StreamWriter] = set()
        self.closed = False

    async def door(self, host: str, port: int) -> tuple[str, int]:
        if self.closed:
            raise ConnectionRefusedError(f"link relay for {host}:{port} is closed")
        if (host, port) not in self._doors:

            async def carry(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                await self._carry(host, port, reader, writer)

            server = await asyncio.start_server(carry, self.door_ip, 0)
            self._doors[(host, port)] = (server, int(server.sockets[0].getsockname()[1]))
        return (self.door_ip, self._doors[(host, port)][1])

    async def _carry(self, host: str, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if not (isinstance(peer, tuple) and peer[0] == self.client_ip):
            writer.transport.abort()  # only the link's owner may use its doors
            return
        self._carried.add(writer)
        try:
            try:
                up_reader, up_writer = await asyncio.wait_for(self.opener(host, port), CONNECT_TIMEOUT_S)
            except (OSError, asyncio.TimeoutError, ConnectionError):
                writer.transport.abort()  # what the caller sees as "connection refused / reset"
                return
            self._carried.add(up_writer)
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                self._carried.discard(up_writer)
        except Exception:  # a dropped relay is a dropped connection
            writer.transport.abort()
        finally:
            self._carried.discard(writer)

    async def close(self) -> None:
        self.closed = True
        doors, self._doors = self._doors, {}
        for server, _port in doors.values():
            server.close()
        for writer in list(self._carried):
            writer.transport.abort()  # both ends see the connection drop, as when the Wi-Fi goes
        for server, _port in doors.values():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1.0)
