"""DNS as a small network gives it: A-record queries, answers or SERVFAIL, and a tiny zone server.

An Edgent SoftAP's DNS answers only `blynk.setup` (and `www.blynk.setup`, of any QTYPE) and SERVFAILs
everything else (spec §2.1); a home
router answers the names the lab gives it. Only what those two need is here: one question, class IN,
type A, no compression on the way out (a pointer to the question on the way back, as servers do).
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

from provlab.wifi.backend import DnsFailure

TYPE_A = 1
CLASS_IN = 1
RCODE_OK = 0
RCODE_FORMERR = 1
RCODE_SERVFAIL = 2
RCODE_NXDOMAIN = 3
DEFAULT_TTL = 300  # dnsServer.setTTL(300)


class DnsFormatError(ValueError):
    """Bytes that are not a DNS message of the shape this module speaks."""


@dataclass(frozen=True)
class Question:
    qid: int
    name: str
    qtype: int
    qclass: int
    raw: bytes
    """The question section as it came (echoed back in the answer)."""


def encode_name(name: str) -> bytes:
    out = bytearray()
    for label in name.rstrip(".").split("."):
        raw = label.encode("idna") if label else b""
        if not raw or len(raw) > 63:
            raise DnsFormatError(f"bad DNS name {name!r}")
        out += bytes([len(raw)]) + raw
    return bytes(out + b"\0")


def _read_name(data: bytes, offset: int) -> tuple[str, int]:
    labels: list[str] = []
    end: int | None = None
    for _ in range(128):
        if offset >= len(data):
            raise DnsFormatError("name runs past the message")
        length = data[offset]
        if length == 0:
            return ".".join(labels), end if end is not None else offset + 1
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(data):
                raise DnsFormatError("cut compression pointer")
            if end is None:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | data[offset + 1]
            continue
        labels.append(data[offset + 1 : offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length
    raise DnsFormatError("name pointer loop")


def build_query(name: str, qid: int) -> bytes:
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)  # RD
    return header + encode_name(name) + struct.pack("!HH", TYPE_A, CLASS_IN)


def parse_query(data: bytes) -> Question:
    if len(data) < 12:
        raise DnsFormatError("message shorter than a DNS header")
    qid, flags, qdcount = struct.unpack("!HHH", data[:6])
    if flags & 0x8000 or qdcount != 1:
        raise DnsFormatError("not a single-question query")
    name, end = _read_name(data, 12)
    if end + 4 > len(data):
        raise DnsFormatError("question cut short")
    qtype, qclass = struct.unpack("!HH", data[end : end + 4])
    return Question(qid, name.lower(), qtype, qclass, data[12 : end + 4])


def build_reply(
    question: Question,
    address: str | None,
    *,
    rcode: int | None = None,
    ttl: int = DEFAULT_TTL,
    any_qtype: bool = False,
) -> bytes:
    """An answer with one A record, or an empty answer with `rcode` (SERVFAIL when no address). The A record
    answers type A only, or with `any_qtype` every type (as arduino-esp32's `DNSServer` does)."""
    if address is not None and rcode is None and (any_qtype or question.qtype == TYPE_A):
        header = struct.pack("!HHHHHH", question.qid, 0x8580, 1, 1, 0, 0)  # QR AA RD RA
        record = struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, ttl, 4)
        return header + question.raw + record + ipaddress.IPv4Address(address).packed
    code = RCODE_SERVFAIL if rcode is None else rcode
    header = struct.pack("!HHHHHH", question.qid, 0x8180 | code, 1, 0, 0, 0)
    return header + question.raw


def parse_reply(data: bytes, qid: int, name: str, network: str) -> str:
    """The first A record of a reply to query `qid`; `DnsFailure` for an error rcode or no answer."""
    if len(data) < 12:
        raise DnsFormatError("reply shorter than a DNS header")
    rid, flags, qdcount, ancount = struct.unpack("!HHHH", data[:8])
    if rid != qid or not flags & 0x8000:
        raise DnsFormatError(f"reply id {rid} does not match query id {qid}")
    if flags & 0x000F != RCODE_OK:
        raise DnsFailure(name, network)
    offset = 12
    for _ in range(qdcount):
        _, offset = _read_name(data, offset)
        offset += 4
    for _ in range(ancount):
        _, offset = _read_name(data, offset)
        if offset + 10 > len(data):
            raise DnsFormatError("answer cut short")
        rtype, _rclass, _ttl, rdlength = struct.unpack("!HHIH", data[offset : offset + 10])
        offset += 10
        if rtype == TYPE_A and rdlength == 4:
            return str(ipaddress.IPv4Address(data[offset : offset + 4]))
        offset += rdlength
    raise DnsFailure(name, network)


def query_with(sock: socket.socket, server: tuple[str, int], name: str, network: str, timeout: float) -> str:
    """One blocking query on an already bound UDP socket (a namespace or interface-bound one)."""
    qid = int.from_bytes(os.urandom(2), "big") or 1
    sock.settimeout(timeout)
    sock.sendto(build_query(name, qid), server)
    try:
        while True:
            data, peer = sock.recvfrom(1500)
            if peer[0] == server[0]:
                try:
                    return parse_reply(data, qid, name, network)
                except DnsFormatError:
                    continue
    except TimeoutError:
        raise DnsFailure(name, network) from None


class ZoneServer(asyncio.DatagramProtocol):
    """Answers A queries from `zone`; SERVFAIL for any other name, or for every name while `failing`."""

    def __init__(
        self,
        zone: Mapping[str, str] | Callable[[], Mapping[str, str]],
        *,
        ttl: int = DEFAULT_TTL,
        arduino: bool = False,
    ) -> None:
        """`arduino`: behave like arduino-esp32's `DNSServer` on an Edgent SoftAP (audit #17): a leading
        `www.` is stripped from the queried name, and any QTYPE for a known name gets its A record."""
        self._zone = zone
        self.ttl = ttl
        self.arduino = arduino
        self.failing = False
        self.queries: list[str] = []
        self.transport: asyncio.DatagramTransport | None = None

    def zone(self) -> Mapping[str, str]:
        return self._zone() if callable(self._zone) else self._zone

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def answer(self, data: bytes) -> bytes | None:
        try:
            question = parse_query(data)
        except DnsFormatError:
            return None
        self.queries.append(question.name)
        name = question.name
        if self.arduino and name.startswith("www."):
            name = name[4:]
        address = None if self.failing else self.zone().get(name)
        return build_reply(question, address, ttl=self.ttl, any_qtype=self.arduino)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        reply = self.answer(data)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None
