"""Frames of the Blynk hardware binary protocol: encoding and an incremental parser (spec §6.1)."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from provlab.protocol.commands import LOGIN_COMMANDS, Command, command_name, status_name

HEADER_SIZE = 5
# cmd u8, msg_id u16, length-or-status u16, network byte order. Public so a fault injector can craft
# headers this module refuses to encode (msg_id 0, a length that lies about the body).
HEADER = struct.Struct(">BHH")

MAX_MSG_ID = 0xFFFF
MAX_LENGTH = 0xFFFF

# BLYNK_MAX_READBYTES of the C++ library (spec §6.1): the largest body a device accepts.
MAX_BODY_ESP = 1024  # ESP32 / ESP8266 / SAMD / RP2040
MAX_BODY_LINUX = 4096
MAX_BODY_DEFAULT = 256

_RESPONSE = int(Command.RESPONSE)


class FrameError(ValueError):
    """A byte stream that is not valid Blynk framing; the connection must be closed.

    `frames_before` holds the frames that were complete in the same `feed` call before the fault,
    in order, so a server can still act on them before it closes the connection.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.frames_before: list[Frame] = []


class ZeroMsgIdError(FrameError):
    """A header with msg_id 0, which the protocol forbids (spec §6.1)."""

    def __init__(self, command: int) -> None:
        super().__init__(
            f"frame header has msg_id 0 (cmd {command} {command_name(command)}); expected a msg_id of 1..{MAX_MSG_ID}"
        )
        self.command = command


class FrameTooLargeError(FrameError):
    """A header announcing a body longer than the receiver accepts (`Packet too big: N`)."""

    def __init__(self, command: int, msg_id: int, length: int, limit: int) -> None:
        super().__init__(
            f"frame {command_name(command)} id={msg_id} announces a body of {length} bytes; expected at most {limit}"
        )
        self.command = command
        self.msg_id = msg_id
        self.length = length
        self.limit = limit


class FrameEncodeError(FrameError):
    """A value that does not fit the frame header (or a RESPONSE given a body)."""


@dataclass(frozen=True, slots=True, repr=False)
class Frame:
    """One protocol message. For RESPONSE the status travels in the length field and there is no body."""

    command: int
    msg_id: int
    body: bytes = b""
    status: int | None = None

    @classmethod
    def response(cls, msg_id: int, status: int) -> Frame:
        """A RESPONSE carrying `status` for the message `msg_id`."""
        return cls(_RESPONSE, msg_id, b"", int(status))

    @classmethod
    def of(cls, command: int, msg_id: int, *args: str | bytes | int) -> Frame:
        """A frame whose body is `args` joined by NUL (no trailing NUL); str as UTF-8, int as decimal."""
        return cls(int(command), msg_id, join_args(args))

    def args(self) -> list[bytes]:
        """The body split on NUL; an empty body has no arguments."""
        return self.body.split(b"\0") if self.body else []

    def str_args(self) -> list[str]:
        """`args()` decoded as UTF-8 (undecodable bytes replaced)."""
        return [a.decode("utf-8", "replace") for a in self.args()]

    def encode(self) -> bytes:
        """The frame's bytes on the wire."""
        if self.command == _RESPONSE:
            if self.body:
                raise FrameEncodeError(
                    f"RESPONSE id={self.msg_id} has a {len(self.body)}-byte body; expected none "
                    "(the status travels in the length field)"
                )
            if self.status is None:
                raise FrameEncodeError(f"RESPONSE id={self.msg_id} has no status; expected one")
            return encode_response(self.msg_id, self.status)
        if self.status is not None:
            raise FrameEncodeError(
                f"{self.command_name} id={self.msg_id} has status {self.status}; expected a status only on RESPONSE"
            )
        return encode_frame(self.command, self.msg_id, self.body)

    @property
    def command_name(self) -> str:
        """The command's spec name, or `UNKNOWN(n)`."""
        return command_name(self.command)

    def describe(self) -> str:
        """One line for logs and timelines, without the body: `HW_LOGIN id=1 len=32`."""
        if self.command == _RESPONSE and self.status is not None:
            return f"RESPONSE id={self.msg_id} status={self.status} {status_name(self.status)}"
        return f"{self.command_name} id={self.msg_id} len={len(self.body)}"

    def __repr__(self) -> str:
        # A login body is an auth token: keep it out of logs and assertion messages.
        body = f"<{len(self.body)} bytes masked>" if self.command in LOGIN_COMMANDS else repr(self.body)
        status = "" if self.status is None else f", status={self.status}"
        return f"Frame({self.command_name}, msg_id={self.msg_id}, body={body}{status})"


def join_args(args: Iterable[str | bytes | int]) -> bytes:
    """Arguments joined by NUL, no trailing NUL: str as UTF-8, int as decimal, bytes as they are."""
    parts: list[bytes] = []
    for arg in args:
        if isinstance(arg, bytes):
            parts.append(arg)
        elif isinstance(arg, str):
            parts.append(arg.encode("utf-8"))
        else:
            parts.append(str(int(arg)).encode("ascii"))
    return b"\0".join(parts)


def _check_header(command: int, msg_id: int, length: int, what: str) -> None:
    if not 0 <= command <= 0xFF:
        raise FrameEncodeError(f"command {command} does not fit the u8 cmd field; expected 0..255")
    if not 1 <= msg_id <= MAX_MSG_ID:
        raise FrameEncodeError(f"msg_id {msg_id} is out of range; expected 1..{MAX_MSG_ID} (0 is invalid)")
    if not 0 <= length <= MAX_LENGTH:
        raise FrameEncodeError(f"{what} {length} does not fit the u16 length field; expected 0..{MAX_LENGTH}")


def encode_frame(command: int, msg_id: int, body: bytes = b"") -> bytes:
    """Header plus body of a non-RESPONSE frame (use `encode_response` for RESPONSE)."""
    if command == _RESPONSE:
        raise FrameEncodeError("RESPONSE carries a status, not a body; expected encode_response()")
    _check_header(command, msg_id, len(body), "body length")
    return HEADER.pack(command, msg_id, len(body)) + body


def encode_response(msg_id: int, status: int) -> bytes:
    """A RESPONSE frame: 5 bytes, the status in the length field."""
    _check_header(_RESPONSE, msg_id, status, "status")
    return HEADER.pack(_RESPONSE, msg_id, status)


def next_msg_id(current: int) -> int:
    """The msg_id after `current`, wrapping 0xFFFF -> 1 (0 is never used)."""
    if not 0 <= current <= MAX_MSG_ID:
        raise FrameEncodeError(f"msg_id {current} is out of range; expected 0..{MAX_MSG_ID}")
    return 1 if current >= MAX_MSG_ID else current + 1


class FrameParser:
    """Incremental parser: bytes in any split in, complete frames out.

    A fault (msg_id 0, a body over `max_body`) is raised as soon as its header is complete, before
    the body arrives; from then on the parser is `broken` and the connection must be closed.
    Unknown command codes are not a fault here: the frame is yielded and the caller decides.
    """

    __slots__ = ("_buf", "_error", "_max_body")

    def __init__(self, max_body: int = MAX_BODY_ESP) -> None:
        if not 0 <= max_body <= MAX_LENGTH:
            raise ValueError(f"max_body {max_body} is out of range; expected 0..{MAX_LENGTH}")
        self._max_body = max_body
        self._buf = bytearray()
        self._error: FrameError | None = None

    @property
    def max_body(self) -> int:
        return self._max_body

    @property
    def broken(self) -> bool:
        """True once a fault was raised; every later `feed` raises."""
        return self._error is not None

    @property
    def buffered(self) -> int:
        """Bytes held, waiting for the rest of their frame."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Take the next bytes of the stream; return the frames they complete, in order."""
        if self._error is not None:
            raise FrameError(f"parser is broken since an earlier fault ({self._error}); close the connection")
        buf = self._buf
        if buf:
            buf += data
            src: bytes | bytearray = buf
        else:
            # Fast path: nothing pending, parse straight from the caller's bytes.
            src = data if type(data) is bytes else bytes(data)
        frames: list[Frame] = []
        pos = 0
        end = len(src)
        unpack = HEADER.unpack_from
        limit = self._max_body
        try:
            while end - pos >= HEADER_SIZE:
                command, msg_id, length = unpack(src, pos)
                if msg_id == 0:
                    raise ZeroMsgIdError(command)
                if command == _RESPONSE:
                    frames.append(Frame(_RESPONSE, msg_id, b"", length))
                    pos += HEADER_SIZE
                    continue
                if length > limit:
                    raise FrameTooLargeError(command, msg_id, length, limit)
                stop = pos + HEADER_SIZE + length
                if stop > end:
                    break
                frames.append(Frame(command, msg_id, bytes(src[pos + HEADER_SIZE : stop])))
                pos = stop
        except FrameError as error:
            error.frames_before = frames
            self._error = error
            buf.clear()
            raise
        # What is left is less than one frame, so keeping it costs O(max_body) per call at most.
        if src is buf:
            if pos:
                del buf[:pos]
        elif pos < end:
            buf += src[pos:]
        return frames
