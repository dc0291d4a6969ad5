"""Blynk.Air as the ESP8266 and Wio Terminal sketches' `OTA.h` run it: their own URL parser, a hand-made GET,
a 256-byte copy loop with `\\r N%` progress, and `OTA_FATAL` (log, 1 s, restart) on every failure.

Each family's module supplies the request, the header handling and the checks; this module holds what both do.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from provlab.emulator.clock import DeviceClock
from provlab.protocol.internal import arduino_atol
from provlab.wifi.backend import Link, WifiError

COPY_BUFFER = 256  # `uint8_t buff[256]` of the copy loop


class OtaFatal(Exception):
    """`OTA_FATAL(text)`: the line was logged; the board restarts after `delay(1000)`."""


@dataclass(frozen=True)
class OtaUrl:
    protocol: str
    host: str
    port: int
    uri: str


def parse_url(url: str) -> OtaUrl | None:
    """The sketches' `parseURL()`: None when there is no `:`; a port after the host's `:` read by `toInt()`,
    else 80 for http, 443 for https, 0 for anything else (the sketch leaves it uninitialised)."""
    index = url.find(":")
    if index < 0:
        return None
    protocol, rest = url[:index], url[index + 3 :]
    slash = rest.find("/")
    server, uri = (rest, "") if slash < 0 else (rest[:slash], rest[slash:])
    colon = server.find(":")
    if colon >= 0:
        host, port = server[:colon], arduino_atol(server[colon + 1 :])
    else:
        host, port = server, {"http": 80, "https": 443}.get(protocol, 0)
    return OtaUrl(protocol, host, port, uri or "/")


async def connect(
    link: Link | None, host: str, port: int, clock: DeviceClock, tls: ssl.SSLContext | None, timeout_s: float
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """`client->connect(host, port)` through the board's link; OSError when it fails."""
    if link is None or not link.is_up:
        raise OSError("no Wi-Fi link")
    try:
        address = host if _is_ip(host) else await link.lookup(host)
        return await link.open_connection(
            address, port, clock.to_wall(timeout_s), ssl=tls, server_hostname=host if tls is not None else None
        )
    except (WifiError, asyncio.TimeoutError) as exc:
        raise OSError(str(exc)) from exc


async def read_some(reader: asyncio.StreamReader, clock: DeviceClock, timeout_s: float) -> bytes | None:
    """Bytes when some arrive within `timeout_s` device seconds; b"" when the peer closed; None on timeout."""
    try:
        return await asyncio.wait_for(reader.read(65536), clock.to_wall(timeout_s))
    except asyncio.TimeoutError:
        return None
    except (ConnectionError, ssl.SSLError):
        return b""


class Progress:
    """`BLYNK_PRINT.print("\\r " + progress + "%")` each time it moved 10 points, or reached 100."""

    def __init__(self, total: int, write: Callable[[str], None]) -> None:
        self.total = total
        self.write = write
        self.previous = 0

    def advance(self, written: int) -> None:
        progress = written * 100 // self.total
        if progress - self.previous >= 10 or progress == 100:
            self.write(f"\r {progress}%")
            self.previous = progress


async def copy_body(
    reader: asyncio.StreamReader,
    already: bytes,
    length: int,
    clock: DeviceClock,
    write: Callable[[str], None],
    wait_s: float,
    on_timeout: str | None,
) -> bytes:
    """The copy loop: 256 bytes at a time while the peer is connected and fewer than `length` came.

    `on_timeout`: the fatal line when no byte arrives for `wait_s` (ESP8266 `Timeout`); None: keep waiting
    for the peer to close (Wio's `readBytes` just returns 0 and the loop goes on)."""
    image = bytearray()
    pending = bytearray(already)
    progress = Progress(length, write)
    connected = True
    while len(image) < length:
        if not pending:
            if not connected:
                break
            data = await read_some(reader, clock, wait_s)
            if data is None:
                if on_timeout is not None:
                    raise OtaFatal(on_timeout)
                continue
            if not data:
                connected = False
                continue
            pending += data
        piece = bytes(pending[:COPY_BUFFER])
        del pending[:COPY_BUFFER]
        image += piece
        progress.advance(len(image))
    write("\r\n")  # BLYNK_PRINT.println()
    return bytes(image)


def _is_ip(host: str) -> bool:
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() for p in parts)
