"""Blynk.Air OTA as the ESP32 sketch's `OTA.h` runs it: download the URL, check it, install, reboot.

The download is a real HTTP(S) GET through the board's Wi-Fi link (h11 over a socket). HTTPS is not verified:
`HTTPClient::begin(url)` with no CA is `setInsecure()` in core 2.x (audit #12). The image is checked like
arduino-esp32 2.x's `Update` (audit #1-#3), and the log lines are `OTA.h`'s, each only where it prints it:

- no connection, TLS failure, or a status other than 200: `HTTP response should be 200`;
- a first byte other than 0xE9: `Update.writeStream()` peeks it and writes nothing, so
  `OTA written 0 / <n> bytes` (core 2.x; `choices.OTA_BAD_MAGIC_WRITES_NOTHING`);
- a body shorter than `Content-Length`: `OTA written <w> / <n> bytes`;
- `Update.end()` failing: `Error #7` (MD5 mismatch), `Error #9` (`esp_ota_set_boot_partition()` rejects the
  image: header, segments, checksum or appended SHA-256);
- success: no `OTA written` line; the caller logs `=== Update successfully completed. Rebooting.`.

`Update failed.` (`Update.end()` succeeded but `!isFinished()`) cannot happen here: a short write never
reaches `end()`.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11

from provlab.emulator.clock import DeviceClock
from provlab.emulator.settings import OTA_HTTP_TIMEOUT_S
from provlab.protocol import choices
from provlab.protocol.firmware_image import ESP_IMAGE_MAGIC, verify_app_image
from provlab.wifi.backend import Link, WifiError

APP_PARTITION_BYTES = 1_310_720  # app0 of the default 4 MB partition table (1280K)
UPDATE_ERROR_MD5 = 7  # arduino-esp32 Update.h: UPDATE_ERROR_MD5
UPDATE_ERROR_MAGIC_BYTE = 8  # UPDATE_ERROR_MAGIC_BYTE
UPDATE_ERROR_ACTIVATE = 9  # UPDATE_ERROR_ACTIVATE: esp_ota_set_boot_partition() refused the image
UPDATE_ERROR_STRINGS = {
    UPDATE_ERROR_MD5: "MD5 Check Failed",
    UPDATE_ERROR_MAGIC_BYTE: "Wrong Magic Byte",
    UPDATE_ERROR_ACTIVATE: "Could Not Activate The Firmware",
}


class OtaFailed(Exception):
    """The update failed; `str()` is the line the firmware logged before going to ERROR."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def check_image(image: bytes, expected_md5: str | None) -> int:
    """0 when `Update` would accept `image` (written whole), else its `UPDATE_ERROR_*` code: the magic byte
    (checked on the first write), then in `Update.end()` the MD5 (when one was set), then activation."""
    if not image or image[0] != ESP_IMAGE_MAGIC:
        return UPDATE_ERROR_MAGIC_BYTE
    if expected_md5 is not None and hashlib.md5(image).hexdigest() != expected_md5:
        return UPDATE_ERROR_MD5
    if verify_app_image(image) is not None:
        return UPDATE_ERROR_ACTIVATE
    return 0


async def http_get(link: Link, url: str, clock: DeviceClock, tls: ssl.SSLContext | None = None) -> HttpResponse:
    """GET `url` through `link` (http, or https with the certificate unchecked, as `HTTPClient::begin(url)` without
    a CA does; `tls` overrides that for a caller that wants a check); raises OSError/WifiError on failure."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OSError(f"cannot fetch {url!r}: expected an http:// or https:// URL")
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = host if _is_ip(host) else link.resolve(host)
    target = link.endpoint(address, port)
    context: ssl.SSLContext | None = None
    if parts.scheme == "https":
        context = tls or _insecure_context()
    timeout = clock.to_wall(OTA_HTTP_TIMEOUT_S)
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(
            target[0],
            target[1],
            local_addr=(link.local_address, 0),
            ssl=context,
            server_hostname=host if context else None,
        ),
        timeout,
    )
    try:
        conn = h11.Connection(h11.CLIENT)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        request = h11.Request(
            method="GET",
            target=path,
            headers=[("Host", parts.netloc), ("User-Agent", "ESP32HTTPClient"), ("Connection", "close")],
        )
        writer.write(conn.send(request) + conn.send(h11.EndOfMessage()))
        status, headers, body = 0, {}, bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                try:
                    data = await asyncio.wait_for(reader.read(65536), timeout)
                except (OSError, asyncio.TimeoutError):
                    if status:  # `Update.writeStream()` stops at a stalled or broken stream: what came so far
                        break
                    raise
                if not data and status:  # closed before Content-Length bytes: a short write
                    break
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                headers = {k.decode().lower(): v.decode("latin-1") for k, v in event.headers}
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
        return HttpResponse(status, headers, bytes(body))
    except h11.ProtocolError as exc:
        raise OSError(f"bad HTTP response from {url}: {exc}") from exc
    finally:
        writer.close()


async def download_update(
    link: Link,
    url: str,
    clock: DeviceClock,
    log: Callable[[str], None],
) -> bytes:
    """`enterOTA()` up to `Update.end()`: the verified image, or OtaFailed with the line it logged."""
    log(f"Firmware update URL: {url}")
    try:
        response = await http_get(link, url, clock)
    except (OSError, WifiError, asyncio.TimeoutError, ssl.SSLError) as exc:
        raise _fail(log, "HTTP response should be 200") from exc  # http.GET() < 0: a connection error
    if response.status != 200:
        raise _fail(log, "HTTP response should be 200")
    length_text = response.headers.get("content-length")
    if length_text is None or not length_text.isdigit() or int(length_text) <= 0:
        raise _fail(log, "Content-Length not defined")
    length = int(length_text)
    if length > APP_PARTITION_BYTES:
        raise _fail(log, "Not enough space to begin OTA")
    md5 = response.headers.get("x-md5")
    expected: str | None = None
    if md5 is not None and len(md5) == 32:
        expected = md5.lower()
        log(f"Expected MD5: {expected}")
    image = response.body[:length]
    written = len(image)
    if image and image[0] != ESP_IMAGE_MAGIC and choices.OTA_BAD_MAGIC_WRITES_NOTHING:
        written = 0
    if written != length:
        raise _fail(log, f"OTA written {written} / {length} bytes")
    error = check_image(image, expected)
    if error:
        raise _fail(log, f"Error #{error}")
    return image


def _fail(log: Callable[[str], None], line: str) -> OtaFailed:
    log(line)
    return OtaFailed(line)


def _insecure_context() -> ssl.SSLContext:
    """`WiFiClientSecure::setInsecure()`: TLS with no certificate or host name check."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _is_ip(host: str) -> bool:
    parts = host.split(".")
    return len(parts) == 4 and all(p.isdigit() for p in parts)
