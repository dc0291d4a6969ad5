"""The `Edgent_Wio_Terminal` sketch (blynk-library 1.4.0) on Seeed's Wio Terminal (SAMD51 + RTL8720DN over rpc).

Differences from ESP32, each read from the sketch (`examples/Blynk.Edgent/Edgent_Wio_Terminal/`):
* banner: `Platform:  Seeed Wio Terminal @ 120MHz` (`F_CPU`) and ` WiFi FW:` (`rpc_system_version()`), nothing
  else (`BlynkEdgent.h`); `indicator_init()` is commented out, so the LED shows no state;
* SSID suffix from the 6-byte STA MAC (read once);
* config mode: the networks are scanned once before the AP starts (`Scanning networks...`,
  `Found networks: N` come before `AP URL:`) and `/wifi_scan.json` serves that string; security names
  `WEP`, `WPA/PSK`, `WPA2/PSK`, `WPA/WPA2/PSK`, `OPEN`, else `unknown`; `board_info.json` ends in
  `,"5ghz":true`; no `/update` page;
* config in the external SPI flash (SFUD) at offset 0: the sector is erased, then written in order; a blank
  chip reads 0xFF (`Using default config.`);
* console: `reboot`, `config`, `devinfo`, `connect` only;
* Blynk.Air (`OTA.h`): `https://` is rewritten to `http://`; ArduinoHttpClient GET; `HTTP status code: N`,
  `Content-Length not defined`, `Not enough space to store the update`, `Flashing...`, progress,
  `Interrupted at <w> / <n> bytes`; no MD5 or image check; `OTA_FATAL` restarts.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING

from provlab.emulator.families.arduino_ota import OtaFatal, connect, copy_body, parse_url, read_some
from provlab.emulator.family import Family, ScanStyle
from provlab.emulator.flash import WriteModel
from provlab.protocol import choices
from provlab.protocol.ssid import Chip
from provlab.wifi.backend import Link, Security

if TYPE_CHECKING:
    from provlab.emulator.family import OtaFirmware
    from provlab.emulator.profile import FirmwareProfile

PROFILE_FIELDS: dict[str, object] = {
    "device": "Seeed Wio Terminal",  # BLYNK_INFO_DEVICE for SEEED_WIO_TERMINAL
    "platform": "Seeed Wio Terminal @ 120MHz",  # F_CPU / 1000000
    "chip_model": "ATSAMD51P19A",
    "chip_rev": 0,
    "sdk": "",
    "wifi_fw": choices.WIO_WIFI_FW,  # rpc_system_version()
    "flash_kb": 512,
    "partition": "",
    "partition_kb": choices.WIO_OTA_SPACE_KB,  # InternalStorage.open() limit
    "app_size_kb": 176,
}
"""`FirmwareProfile` values of a Wio Terminal build."""

SECURITY_NAMES = {
    Security.WEP: "WEP",
    Security.WPA: "WPA/PSK",
    Security.WPA2: "WPA2/PSK",
    Security.WPA_WPA2: "WPA/WPA2/PSK",
    Security.OPEN: "OPEN",
}

RESPONSE_TIMEOUT_S = 30.0  # ArduinoHttpClient kHttpResponseTimeout
READ_TIMEOUT_S = 1.0  # Stream::readBytes default timeout
HTTP_ERROR_CONNECTION_FAILED = -1
HTTP_ERROR_TIMED_OUT = -3
HTTP_ERROR_INVALID_RESPONSE = -4
USER_AGENT = "Arduino/2.2.0"


def banner_rows(profile: FirmwareProfile) -> list[str]:
    return [f" Platform:  {profile.platform}", f" WiFi FW:   {profile.wifi_fw}"]


async def run_ota(firmware: OtaFirmware, link: Link | None, url: str) -> bytes | None:
    try:
        return await _download(firmware, link, url.replace("https://", "http://"))  # "Force HTTP update"
    except OtaFatal as fatal:
        firmware.log(str(fatal))
        return None


async def _download(firmware: OtaFirmware, link: Link | None, url: str) -> bytes:
    clock, log = firmware.clock, firmware.log
    log(f"OTA: {url}")
    target = parse_url(url)
    if target is None:
        raise OtaFatal("Cannot parse URL")
    log(f"Connecting to {target.host}:{target.port}")
    tls: ssl.SSLContext | None = None
    if target.protocol == "https":  # only an upper-case scheme escapes the rewrite, and that one is unsupported
        tls = firmware.tls or ssl.create_default_context()
    elif target.protocol != "http":
        raise OtaFatal(f"Unsupported protocol: {target.protocol}")
    try:
        reader, writer = await connect(link, target.host, target.port, clock, tls, RESPONSE_TIMEOUT_S)
    except OSError:
        raise OtaFatal(f"HTTP status code: {HTTP_ERROR_CONNECTION_FAILED}") from None
    try:
        host = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
        request = f"GET {target.uri} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\nConnection: close\r\n\r\n"
        writer.write(request.encode("latin-1"))
        head, body = await _read_head(reader, firmware)
        if head is None:
            raise OtaFatal(f"HTTP status code: {HTTP_ERROR_TIMED_OUT}")
        lines = head.decode("latin-1").split("\r\n")
        status = _status_code(lines[0])
        if status != 200:
            raise OtaFatal(f"HTTP status code: {status}")
        length = _content_length(lines[1:])
        if length is None:
            raise OtaFatal("Content-Length not defined")
        if length > firmware.profile.partition_kb * 1024:  # InternalStorage.open()
            raise OtaFatal("Not enough space to store the update")
        log("Flashing...")
        image = await copy_body(reader, body, length, clock, firmware.write_serial, READ_TIMEOUT_S, None)
    finally:
        writer.close()
    if len(image) != length:
        raise OtaFatal(f"Interrupted at {len(image)} / {length} bytes")
    return image


async def _read_head(reader: asyncio.StreamReader, firmware: OtaFirmware) -> tuple[bytes | None, bytes]:
    """The response head and the body bytes after it; None when no answer came in time."""
    data = bytearray()
    while True:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            return bytes(data[:end]), bytes(data[end + 4 :])
        more = await read_some(reader, firmware.clock, RESPONSE_TIMEOUT_S)
        if more is None:
            return None, b""
        if not more:
            return (bytes(data) or None), b""
        data += more


def _status_code(line: str) -> int:
    parts = line.split(" ")
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return HTTP_ERROR_INVALID_RESPONSE
    return int(parts[1])


def _content_length(lines: list[str]) -> int | None:
    for line in lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return int(value.strip()) if value.strip().isdigit() else 0
    return None


FAMILY = Family(
    name="wio-terminal",
    chip=Chip.WIO_TERMINAL,
    sketch="Edgent_Wio_Terminal",
    banner_rows=banner_rows,
    firmware_info_rows=None,
    status_rows=None,
    scan=ScanStyle(SECURITY_NAMES, before_ap=True),
    board_info_extra=(("5ghz", True),),
    ap_mode_delay_s=2.0,
    fresh_flash_read_fails=False,
    flash_model=WriteModel.EEPROM_SEQUENTIAL,
    console_commands=("help", "?", "reboot", "config", "devinfo", "connect"),
    builtin_update_page=False,
    ota=run_ota,
    ota_failure_restarts=True,
    led=False,
    features=frozenset(),
)
