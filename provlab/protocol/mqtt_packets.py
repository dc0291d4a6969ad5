"""MQTT 3.1.1 control packets as bytes, without I/O: the ones a Blynk device API server and client exchange.

`PacketSplitter` cuts a byte stream into packets (first byte, body) incrementally; the `decode_*` functions
read a body, the encoders build whole packets. Only what the device API needs is here: no will messages
are kept (a will in a CONNECT is parsed and skipped), no MQTT 5 properties (a CONNECT's protocol level is
read first, so a server can refuse level 5 with CONNACK 1 before it parses anything else).
Names and numbers follow the OASIS MQTT 3.1.1 standard (sections 2 and 3).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# Control packet types (the high nibble of the first byte), MQTT 3.1.1 section 2.2.1.
CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
PUBREC = 5
PUBREL = 6
PUBCOMP = 7
SUBSCRIBE = 8
SUBACK = 9
UNSUBSCRIBE = 10
UNSUBACK = 11
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14

PROTOCOL_NAME = "MQTT"
LEVEL_3_1_1 = 4
LEVEL_5 = 5

# CONNACK return codes (section 3.2.2.3).
ACCEPTED = 0
UNACCEPTABLE_PROTOCOL_VERSION = 1
IDENTIFIER_REJECTED = 2
SERVER_UNAVAILABLE = 3
BAD_USERNAME_OR_PASSWORD = 4
NOT_AUTHORIZED = 5

SUBSCRIBE_FAILURE = 0x80  # a SUBACK return code (section 3.9.3)
MAX_REMAINING_LENGTH = 268_435_455  # four length bytes (section 2.2.3)

PINGREQ_PACKET = b"\xc0\x00"
PINGRESP_PACKET = b"\xd0\x00"
DISCONNECT_PACKET = b"\xe0\x00"

_U16 = struct.Struct(">H")


class MalformedPacket(ValueError):
    """Bytes that are not a well-formed MQTT 3.1.1 packet; the connection must be closed (section 4.8)."""


class PacketTooLarge(MalformedPacket):
    """A packet announcing a body longer than the reader accepts."""

    def __init__(self, first: int, size: int, limit: int) -> None:
        super().__init__(f"packet type {first >> 4} announces {size} bytes (limit {limit})")
        self.first = first
        self.size = size
        self.limit = limit


class PacketSplitter:
    """Cuts a byte stream into `(first byte, body)` packets; feed bytes, then take packets until None."""

    __slots__ = ("_buffer", "_pos", "max_body")

    def __init__(self, max_body: int = MAX_REMAINING_LENGTH) -> None:
        self._buffer = bytearray()
        self._pos = 0
        self.max_body = max_body

    def feed(self, data: bytes) -> None:
        if self._pos and self._pos == len(self._buffer):
            self._buffer.clear()
            self._pos = 0
        self._buffer += data

    @property
    def pending(self) -> int:
        """Bytes received and not yet returned as packets."""
        return len(self._buffer) - self._pos

    def pending_first(self) -> int:
        """The first byte of the next packet (call only while `pending`)."""
        return self._buffer[self._pos]

    def next_packet(self) -> tuple[int, bytes] | None:
        """The next whole packet, or None until more bytes arrive. Raises MalformedPacket or PacketTooLarge
        (the stream cannot be resynchronised after either)."""
        buffer, pos = self._buffer, self._pos
        end = len(buffer)
        if end - pos < 2:
            self._compact()
            return None
        first = buffer[pos]
        byte = buffer[pos + 1]
        if byte < 0x80:  # the common case: a body under 128 bytes
            size, start = byte, pos + 2
        else:
            size, shift, index = byte & 0x7F, 7, pos + 2
            while True:
                if index >= end:
                    self._compact()
                    return None
                byte = buffer[index]
                size |= (byte & 0x7F) << shift
                index += 1
                if byte < 0x80:
                    break
                shift += 7
                if shift > 21:
                    raise MalformedPacket("remaining length longer than four bytes")
            start = index
        if size > self.max_body:
            raise PacketTooLarge(first, size, self.max_body)
        stop = start + size
        if stop > end:
            self._compact()
            return None
        self._pos = stop
        return first, bytes(buffer[start:stop])

    def _compact(self) -> None:
        if self._pos:
            del self._buffer[: self._pos]
            self._pos = 0


def _length(size: int) -> bytes:
    if size < 0x80:
        return bytes((size,))
    out = bytearray()
    while True:
        digit, size = size & 0x7F, size >> 7
        out.append(digit | 0x80 if size else digit)
        if not size:
            return bytes(out)


def packet(first: int, body: bytes) -> bytes:
    """A whole packet: first byte, remaining length, body."""
    return bytes((first,)) + _length(len(body)) + body


def _string(text: str | bytes) -> bytes:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return _U16.pack(len(data)) + data


def _read_bytes(body: bytes, pos: int, what: str) -> tuple[bytes, int]:
    if pos + 2 > len(body):
        raise MalformedPacket(f"{what} cut short")
    size = (body[pos] << 8) | body[pos + 1]
    end = pos + 2 + size
    if end > len(body):
        raise MalformedPacket(f"{what} cut short")
    return body[pos + 2 : end], end


def _read_string(body: bytes, pos: int, what: str) -> tuple[str, int]:
    data, pos = _read_bytes(body, pos, what)
    try:
        return data.decode("utf-8"), pos
    except UnicodeDecodeError:
        raise MalformedPacket(f"{what} is not UTF-8") from None


# --- CONNECT / CONNACK ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Connect:
    """A CONNECT as far as it was read: name and level always; the rest only for level 4 (3.1.1)."""

    protocol_name: str
    level: int
    clean_session: bool = True
    keep_alive: int = 0
    client_id: str = ""
    username: str | None = None
    password: bytes | None = None


def decode_connect(body: bytes) -> Connect:
    """Read a CONNECT body (the first byte, 0x10, was checked by the caller)."""
    name, pos = _read_string(body, 0, "protocol name")
    if pos >= len(body):
        raise MalformedPacket("CONNECT has no protocol level")
    level = body[pos]
    if name != PROTOCOL_NAME or level != LEVEL_3_1_1:
        return Connect(name, level)
    if pos + 4 > len(body):
        raise MalformedPacket("CONNECT flags or keep-alive cut short")
    flags = body[pos + 1]
    keep_alive = (body[pos + 2] << 8) | body[pos + 3]
    pos += 4
    if flags & 0x01:
        raise MalformedPacket("CONNECT reserved flag is set")
    will = bool(flags & 0x04)
    if not will and flags & 0x38:
        raise MalformedPacket("CONNECT will QoS/retain set without a will")
    if (flags >> 3) & 0x03 == 3:
        raise MalformedPacket("CONNECT will QoS 3")
    if flags & 0x40 and not flags & 0x80:
        raise MalformedPacket("CONNECT password flag without the user name flag")
    client_id, pos = _read_string(body, pos, "client id")
    if will:
        _, pos = _read_string(body, pos, "will topic")
        _, pos = _read_bytes(body, pos, "will message")
    username: str | None = None
    password: bytes | None = None
    if flags & 0x80:
        username, pos = _read_string(body, pos, "user name")
    if flags & 0x40:
        password, pos = _read_bytes(body, pos, "password")
    if pos != len(body):
        raise MalformedPacket(f"CONNECT has {len(body) - pos} bytes after its payload")
    return Connect(name, level, bool(flags & 0x02), keep_alive, client_id, username, password)


def connect(
    username: str | None, password: bytes | None, *, client_id: str = "", keep_alive: int = 45, clean: bool = True
) -> bytes:
    flags = (0x02 if clean else 0) | (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    body = _string(PROTOCOL_NAME) + bytes((LEVEL_3_1_1, flags)) + _U16.pack(keep_alive) + _string(client_id)
    if username is not None:
        body += _string(username)
    if password is not None:
        body += _string(password)
    return packet(0x10, body)


def connack(code: int, session_present: bool = False) -> bytes:
    return bytes((0x20, 2, 1 if session_present else 0, code))


def decode_connack(body: bytes) -> int:
    """The return code."""
    if len(body) != 2:
        raise MalformedPacket("CONNACK body is not 2 bytes")
    return body[1]


# --- PUBLISH and its acknowledgements --------------------------------------------------------------------
@dataclass(frozen=True)
class Publish:
    topic: str
    payload: bytes
    qos: int = 0
    packet_id: int | None = None
    retain: bool = False
    dup: bool = False


def decode_publish(first: int, body: bytes) -> Publish:
    qos = (first >> 1) & 0x03
    if qos == 3:
        raise MalformedPacket("PUBLISH with QoS 3")
    topic, pos = _read_string(body, 0, "topic name")
    packet_id: int | None = None
    if qos:
        if pos + 2 > len(body):
            raise MalformedPacket("PUBLISH packet id cut short")
        packet_id = (body[pos] << 8) | body[pos + 1]
        if packet_id == 0:
            raise MalformedPacket("PUBLISH packet id 0")
        pos += 2
    return Publish(topic, body[pos:], qos, packet_id, bool(first & 0x01), bool(first & 0x08))


def publish(
    topic: str, payload: bytes = b"", qos: int = 0, packet_id: int | None = None, retain: bool = False
) -> bytes:
    first = 0x30 | (qos << 1) | (1 if retain else 0)
    head = _string(topic)
    if qos:
        if not packet_id:
            raise ValueError("a QoS 1 or 2 PUBLISH needs a packet id 1..65535")
        head += _U16.pack(packet_id)
    return packet(first, head + payload)


def packet_id_of(body: bytes) -> int:
    """The packet id of a PUBACK, PUBREC, PUBREL, PUBCOMP or UNSUBACK body."""
    if len(body) != 2:
        raise MalformedPacket("acknowledgement body is not 2 bytes")
    return (body[0] << 8) | body[1]


def puback(packet_id: int) -> bytes:
    return b"\x40\x02" + _U16.pack(packet_id)


def pubrec(packet_id: int) -> bytes:
    return b"\x50\x02" + _U16.pack(packet_id)


def pubrel(packet_id: int) -> bytes:
    return b"\x62\x02" + _U16.pack(packet_id)


def pubcomp(packet_id: int) -> bytes:
    return b"\x70\x02" + _U16.pack(packet_id)


# --- SUBSCRIBE / UNSUBSCRIBE ------------------------------------------------------------------------------
def decode_subscribe(body: bytes) -> tuple[int, list[tuple[str, int]]]:
    """Packet id and (topic filter, requested QoS) pairs (the first byte, 0x82, was checked by the caller)."""
    if len(body) < 2:
        raise MalformedPacket("SUBSCRIBE packet id cut short")
    packet_id, pos = (body[0] << 8) | body[1], 2
    wanted: list[tuple[str, int]] = []
    while pos < len(body):
        topic_filter, pos = _read_string(body, pos, "topic filter")
        if pos >= len(body):
            raise MalformedPacket("SUBSCRIBE requested QoS cut short")
        qos = body[pos]
        if qos > 2:
            raise MalformedPacket(f"SUBSCRIBE requested QoS byte {qos:#04x}")
        wanted.append((topic_filter, qos))
        pos += 1
    if not wanted:
        raise MalformedPacket("SUBSCRIBE without a topic filter")
    return packet_id, wanted


def subscribe(packet_id: int, filters: list[tuple[str, int]]) -> bytes:
    return packet(0x82, _U16.pack(packet_id) + b"".join(_string(f) + bytes((q,)) for f, q in filters))


def suback(packet_id: int, codes: list[int]) -> bytes:
    return packet(0x90, _U16.pack(packet_id) + bytes(codes))


def decode_suback(body: bytes) -> tuple[int, list[int]]:
    if len(body) < 3:
        raise MalformedPacket("SUBACK cut short")
    return (body[0] << 8) | body[1], list(body[2:])


def decode_unsubscribe(body: bytes) -> tuple[int, list[str]]:
    if len(body) < 2:
        raise MalformedPacket("UNSUBSCRIBE packet id cut short")
    packet_id, pos = (body[0] << 8) | body[1], 2
    filters: list[str] = []
    while pos < len(body):
        topic_filter, pos = _read_string(body, pos, "topic filter")
        filters.append(topic_filter)
    if not filters:
        raise MalformedPacket("UNSUBSCRIBE without a topic filter")
    return packet_id, filters


def unsuback(packet_id: int) -> bytes:
    return b"\xb0\x02" + _U16.pack(packet_id)
