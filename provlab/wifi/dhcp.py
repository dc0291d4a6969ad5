"""DHCP for IPv4 (RFC 2131): the messages, a small server (a SoftAP's or a router's), a client.

The server hands out addresses from the first host upwards (arduino-esp32's soft-AP starts at .2,
`choices.SOFTAP_DHCP_FIRST_HOST`), one lease per MAC, with mask, router and DNS options. The client
is the station's: DISCOVER → OFFER → REQUEST → ACK on a UDP socket bound to its interface, answers
asked for by broadcast (the interface has no address yet). Both work on any socket they are given,
so they run inside network namespaces or on a real Wi-Fi interface alike.
"""

from __future__ import annotations

import asyncio
import heapq
import ipaddress
import os
import socket
import struct
import time
from dataclasses import dataclass, field
from enum import IntEnum
from typing import cast

from provlab.protocol import choices

SERVER_PORT = 67
CLIENT_PORT = 68
MAGIC_COOKIE = b"\x63\x82\x53\x63"
FLAG_BROADCAST = 0x8000
OPT_MASK, OPT_ROUTER, OPT_DNS, OPT_HOSTNAME = 1, 3, 6, 12
OPT_REQUESTED_IP, OPT_LEASE_TIME, OPT_MSG_TYPE, OPT_SERVER_ID, OPT_END = 50, 51, 53, 54, 255
DEFAULT_LEASE_S = 7200  # lwIP dhcps default: 120 minutes
HEADER = struct.Struct("!BBBBIHH4s4s4s4s16s64s128s")


class DhcpError(Exception):
    """A DHCP exchange failed: malformed message, no offer, a NAK."""


class MessageType(IntEnum):
    DISCOVER = 1
    OFFER = 2
    REQUEST = 3
    DECLINE = 4
    ACK = 5
    NAK = 6
    RELEASE = 7


@dataclass
class DhcpMessage:
    op: int
    xid: int
    chaddr: bytes
    kind: MessageType
    flags: int = 0
    ciaddr: str = "0.0.0.0"
    yiaddr: str = "0.0.0.0"
    siaddr: str = "0.0.0.0"
    options: dict[int, bytes] = field(default_factory=dict)

    def encode(self) -> bytes:
        head = HEADER.pack(
            self.op,
            1,
            6,
            0,
            self.xid,
            0,
            self.flags,
            _ip(self.ciaddr),
            _ip(self.yiaddr),
            _ip(self.siaddr),
            _ip("0.0.0.0"),
            self.chaddr.ljust(16, b"\0"),
            b"",
            b"",
        )
        body = bytearray(MAGIC_COOKIE)
        body += bytes([OPT_MSG_TYPE, 1, int(self.kind)])
        for code, value in self.options.items():
            body += bytes([code, len(value)]) + value
        body.append(OPT_END)
        return head + bytes(body).ljust(64, b"\0")

    @classmethod
    def decode(cls, data: bytes) -> DhcpMessage:
        if len(data) < HEADER.size + 4 or data[HEADER.size : HEADER.size + 4] != MAGIC_COOKIE:
            raise DhcpError("not a DHCP message (too short or no magic cookie)")
        op, _htype, hlen, _hops, xid, _secs, flags, ci, yi, si, _gi, chaddr, _s, _f = HEADER.unpack_from(data)
        options: dict[int, bytes] = {}
        offset = HEADER.size + 4
        while offset < len(data):
            code = data[offset]
            if code == OPT_END:
                break
            if code == 0:
                offset += 1
                continue
            if offset + 1 >= len(data):
                raise DhcpError("option cut short")
            length = data[offset + 1]
            options[code] = data[offset + 2 : offset + 2 + length]
            offset += 2 + length
        kind_raw = options.pop(OPT_MSG_TYPE, b"")
        if len(kind_raw) != 1 or kind_raw[0] not in MessageType._value2member_map_:
            raise DhcpError("DHCP message without a valid message type")
        return cls(
            op,
            xid,
            chaddr[: min(hlen, 16)],
            MessageType(kind_raw[0]),
            flags,
            _text(ci),
            _text(yi),
            _text(si),
            options,
        )


def _ip(text: str) -> bytes:
    return ipaddress.IPv4Address(text).packed


def _text(raw: bytes) -> str:
    return str(ipaddress.IPv4Address(raw))


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", "").replace("-", ""))


@dataclass(frozen=True)
class Lease:
    """What a station got from the network's DHCP server."""

    ip: str
    prefix: int
    gateway: str | None
    dns: tuple[str, ...]
    server: str
    lease_s: int

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"{self.ip}/{self.prefix}", strict=False)


class DhcpServer(asyncio.DatagramProtocol):
    """Leases from `subnet`, first host `first_host`, gateway and DNS at `server_ip`."""

    def __init__(
        self,
        subnet: str,
        server_ip: str,
        *,
        first_host: int = choices.SOFTAP_DHCP_FIRST_HOST,
        router: bool = True,
        dns: bool = True,
        lease_s: int = DEFAULT_LEASE_S,
    ) -> None:
        self.net = ipaddress.IPv4Network(subnet)
        self.server_ip = server_ip
        self.first_host = first_host
        self.router = router
        self.dns = dns
        self.lease_s = lease_s
        self.leases: dict[bytes, str] = {}
        self._holders: dict[str, bytes] = {}
        """address -> MAC: the pool's in-use side, so a lease costs O(1) on a /16 as on a /24."""
        self._next_offset = first_host
        self._released: list[int] = []
        """Offsets of released addresses (a heap): the lowest free one goes out first."""
        self.transport: asyncio.DatagramTransport | None = None
        self.log: list[tuple[str, str, str]] = []
        """(message type, client MAC, address) for every message answered."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def _address_for(self, mac: bytes) -> str | None:
        """The MAC's lease, else the lowest free address (released ones first when lower): O(log n) on a /16."""
        if mac in self.leases:
            return self.leases[mac]
        candidate: str | None = None
        while candidate is None:
            if self._released and self._released[0] < self._next_offset:
                offset = heapq.heappop(self._released)
            elif self._next_offset < self.net.num_addresses - 1:
                offset, self._next_offset = self._next_offset, self._next_offset + 1
            else:
                return None  # pool exhausted
            address = str(self.net.network_address + offset)
            if address not in self._holders and address != self.server_ip:
                candidate = address
        self.leases[mac] = candidate
        self._holders[candidate] = mac
        return candidate

    def release(self, mac: bytes) -> None:
        address = self.leases.pop(mac, None)
        if address is not None and self._holders.pop(address, None) is not None:
            offset = int(ipaddress.IPv4Address(address)) - int(self.net.network_address)
            heapq.heappush(self._released, offset)

    def _options(self) -> dict[int, bytes]:
        options = {
            OPT_SERVER_ID: _ip(self.server_ip),
            OPT_LEASE_TIME: struct.pack("!I", self.lease_s),
            OPT_MASK: self.net.netmask.packed,
        }
        if self.router:
            options[OPT_ROUTER] = _ip(self.server_ip)
        if self.dns:
            options[OPT_DNS] = _ip(self.server_ip)
        return options

    def answer(self, request: DhcpMessage) -> DhcpMessage | None:
        if request.op != 1:
            return None
        mac = request.chaddr
        if request.kind is MessageType.RELEASE:
            self.release(mac)
            self.log.append(("RELEASE", mac.hex(":"), request.ciaddr))
            return None
        if request.kind not in (MessageType.DISCOVER, MessageType.REQUEST):
            return None
        server_id = request.options.get(OPT_SERVER_ID)
        if server_id is not None and server_id != _ip(self.server_ip):
            return None  # the client chose another server
        address = self._address_for(mac)
        reply_kind = MessageType.OFFER if request.kind is MessageType.DISCOVER else MessageType.ACK
        wanted = request.options.get(OPT_REQUESTED_IP)
        if request.kind is MessageType.REQUEST and wanted is not None and (address is None or wanted != _ip(address)):
            reply_kind, address = MessageType.NAK, None
        if address is None and reply_kind is not MessageType.NAK:
            return None  # pool exhausted: stay silent, as lwIP does
        self.log.append((reply_kind.name, mac.hex(":"), address or ""))
        return DhcpMessage(
            2,
            request.xid,
            mac,
            reply_kind,
            flags=request.flags,
            yiaddr=address or "0.0.0.0",
            siaddr=self.server_ip,
            options=self._options() if address else {OPT_SERVER_ID: _ip(self.server_ip)},
        )

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        try:
            request = DhcpMessage.decode(data)
        except DhcpError:
            return
        reply = self.answer(request)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply.encode(), ("255.255.255.255", CLIENT_PORT))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None


def server_socket(device: str) -> socket.socket:
    """The server's socket on `device` (call it inside the namespace that holds the device)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
    sock.bind(("0.0.0.0", SERVER_PORT))
    sock.setblocking(False)
    return sock


def client_socket(device: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())
    sock.bind(("0.0.0.0", CLIENT_PORT))
    return sock


def _await_reply(sock: socket.socket, xid: int, kinds: tuple[MessageType, ...], deadline: float) -> DhcpMessage | None:
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        sock.settimeout(remaining)
        try:
            data, _peer = sock.recvfrom(2048)
        except TimeoutError:
            return None
        try:
            message = DhcpMessage.decode(data)
        except DhcpError:
            continue
        if message.op == 2 and message.xid == xid and message.kind in kinds:
            return message


def obtain_lease(device: str, mac: str, *, timeout: float = 5.0, retry_s: float = 0.25) -> Lease:
    """Run DISCOVER → OFFER → REQUEST → ACK on `device` (blocking; inside the station's namespace)."""
    chaddr = mac_bytes(mac)
    xid = int.from_bytes(os.urandom(4), "big")
    deadline = time.monotonic() + timeout
    with client_socket(device) as sock:
        offer = None
        while offer is None:
            if time.monotonic() >= deadline:
                raise DhcpError(f"no DHCP offer on {device} within {timeout:g} s")
            discover = DhcpMessage(1, xid, chaddr, MessageType.DISCOVER, flags=FLAG_BROADCAST)
            sock.sendto(discover.encode(), ("255.255.255.255", SERVER_PORT))
            offer = _await_reply(sock, xid, (MessageType.OFFER,), min(deadline, time.monotonic() + retry_s))
        server_id = offer.options.get(OPT_SERVER_ID, _ip(offer.siaddr))
        request = DhcpMessage(
            1,
            xid,
            chaddr,
            MessageType.REQUEST,
            flags=FLAG_BROADCAST,
            options={OPT_REQUESTED_IP: _ip(offer.yiaddr), OPT_SERVER_ID: server_id},
        )
        ack = None
        while ack is None:
            if time.monotonic() >= deadline:
                raise DhcpError(f"no DHCP ACK on {device} within {timeout:g} s")
            sock.sendto(request.encode(), ("255.255.255.255", SERVER_PORT))
            ack = _await_reply(sock, xid, (MessageType.ACK, MessageType.NAK), min(deadline, time.monotonic() + retry_s))
    if ack.kind is MessageType.NAK:
        raise DhcpError(f"DHCP server {_text(server_id)} refused {offer.yiaddr} (NAK)")
    return lease_from_ack(ack)


def lease_from_ack(ack: DhcpMessage) -> Lease:
    mask = ack.options.get(OPT_MASK, ipaddress.IPv4Address("255.255.255.0").packed)
    prefix = ipaddress.IPv4Network(f"0.0.0.0/{_text(mask)}").prefixlen
    router = ack.options.get(OPT_ROUTER)
    dns = ack.options.get(OPT_DNS, b"")
    lease_raw = ack.options.get(OPT_LEASE_TIME, struct.pack("!I", DEFAULT_LEASE_S))
    server = ack.options.get(OPT_SERVER_ID, _ip(ack.siaddr))
    return Lease(
        ip=ack.yiaddr,
        prefix=prefix,
        gateway=_text(router[:4]) if router and len(router) >= 4 else None,
        dns=tuple(_text(dns[i : i + 4]) for i in range(0, len(dns) - 3, 4)),
        server=_text(server),
        lease_s=struct.unpack("!I", lease_raw[:4])[0],
    )
