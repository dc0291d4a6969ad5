"""The `Edgent_ESP8266` sketch (blynk-library 1.4.0) and the ESP8266 Arduino core under it, as family facts.

Differences from ESP32, each read from the sketch (`examples/Blynk.Edgent/Edgent_ESP8266/`):
* banner: `Boot ver:` instead of `Chip rev:`, and ` ESP Core:` after `SDK:` (`BlynkEdgent.h`);
* SSID suffix from the 6-byte STA MAC (`ConfigMode.h` `getWiFiName`);
* config mode: `WIFI_AP_STA` with no 2 s delay; `/wifi_scan.json` items end in `,"hidden":%d`, names from
  `ENC_TYPE_*`, sent with `CONTENT_LENGTH_UNKNOWN` (chunked); `/update` is `ESP8266HTTPUpdateServer`;
* config in `EEPROM` at offset 0, `EEPROM.commit()` rewriting the sector in order; a blank chip reads 0xFF,
  so the first boot logs `Using default config.` (`ConfigStore.h`);
* console: no `firmware rollback`; `status` with `Reset reason:` and the heap's `fragment:` (`Console.h`);
* Blynk.Air (`OTA.h`): `OTA: <url>`, `Connecting to <host>:<port>`, a hand-made HTTP/1.0 GET, `Flashing...`,
  `\\r N%` progress, and `OTA_FATAL` (log, 1 s, restart) on any failure, `Update.printError` lines first;
* the secure client (`BlynkSimpleEsp8266_SSL.h`) logs `Current time: …` after its NTP sync, and
  `Connection failed` (no `Certificate OK`) when the connect fails.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from email.parser import BytesParser
from email.policy import HTTP
from typing import TYPE_CHECKING

from provlab.emulator.families.arduino_ota import OtaFatal, connect, copy_body, parse_url, read_some
from provlab.emulator.family import Family, Feature, ScanStyle, SecureClientLog, asctime_line
from provlab.emulator.flash import WriteModel
from provlab.emulator.transitions import Trigger
from provlab.protocol import choices
from provlab.protocol.edgent_http import HTML, HttpReply
from provlab.protocol.firmware_image import ESP_IMAGE_MAGIC
from provlab.protocol.internal import arduino_atol
from provlab.protocol.ssid import Chip
from provlab.wifi.backend import Link, Security

if TYPE_CHECKING:
    from provlab.emulator.family import OtaFirmware, UpdateFirmware
    from provlab.emulator.profile import FirmwareProfile
    from provlab.emulator.softap_http import HandlerResult, HttpRequest

PROFILE_FIELDS: dict[str, object] = {
    "device": "ESP8266",  # BLYNK_INFO_DEVICE for ARDUINO_ARCH_ESP8266
    "platform": "ESP8266 @ 80MHz",
    "chip_model": "ESP8266EX",
    "chip_rev": 31,  # ESP.getBootVersion()
    "sdk": "2.2.2-dev(38a443e)",  # ESP.getSdkVersion() of core 3.1.2
    "core_version": "3.1.2",  # ESP.getCoreVersion()
    "flash_kb": 4096,
    "free_mem": 51_496,
    "heap_size": 44_792,  # ESP.getHeapStats(): heap_max, the largest free block
    "max_alloc": 44_792,
    "min_free": 4,  # heap fragmentation %, shown as `fragment:`
    "stack_unused": 3_808,
    "partition": "",
    "partition_kb": choices.ESP8266_OTA_SPACE_KB,
    "app_size_kb": 412,
}
"""`FirmwareProfile` values of an ESP8266 build (NodeMCU/Wemos D1, 4 MB flash, core 3.1.2)."""

# `wifiSecToStr(WiFi.encryptionType(i))`: the core maps AUTH_* to ENC_TYPE_*, anything else to -1 (`unknown`)
SECURITY_NAMES = {
    Security.OPEN: "OPEN",
    Security.WEP: "WEP",
    Security.WPA: "WPA",  # ENC_TYPE_TKIP
    Security.WPA2: "WPA2",  # ENC_TYPE_CCMP
    Security.WPA_WPA2: "WPA+WPA2",  # ENC_TYPE_AUTO
}

UPDATE_ERROR_NO_ERROR = 0
UPDATE_ERROR_SPACE = 4
UPDATE_ERROR_MD5 = 7
UPDATE_ERROR_MAGIC_BYTE = 10
UPDATE_ERROR_NO_DATA = 13
RESPONSE_TIMEOUT_S = 10.0  # OTA.h: `millis() - timeout > 10000L`, for the first byte and for each read
UPDATE_SERVER_REBOOT_S = 0.1  # ESP8266HTTPUpdateServer: `delay(100)` after the success page, then restart
SUCCESS_PAGE = b'<META http-equiv="refresh" content="15;URL=/">Update Success! Rebooting...'


def banner_rows(profile: FirmwareProfile) -> list[str]:
    return [
        f" Platform:  {profile.platform}",
        f" Boot ver:  {profile.chip_rev}",
        f" SDK:       {profile.sdk}",
        f" ESP Core:  {profile.core_version}",
        f" Flash:     {profile.flash_kb}K",
        f" Free mem:  {profile.free_mem}",
    ]


def firmware_info_rows(profile: FirmwareProfile, size_kb: int, md5: str) -> list[str]:
    """`firmware info` (no `Partition:` row; `%` of sketch size + free sketch space)."""
    percent = size_kb * 100 // (size_kb + profile.partition_kb)
    return [
        f" Version:   {profile.fw_version} (build {profile.build})",
        f" Type:      {profile.firmware_type}",
        f" Platform:  {profile.device}",
        f" SDK:       {profile.sdk}",
        f" ESP Core:  {profile.core_version}",
        f" App size:  {size_kb}K ({percent}%)",
        f" App MD5:   {md5}",
    ]


def status_rows(profile: FirmwareProfile, uptime: str, boots: int) -> list[str]:
    reason = "Power On" if boots <= 1 else "Software/System restart"  # ESP.getResetReason()
    return [
        f" Uptime:          {uptime}",
        f" Reset reason:    {reason}",
        f" Flash:           {profile.flash_kb}K",
        f" Stack unused:    {profile.stack_unused}",
        f" Heap free:       {profile.free_mem} / {profile.heap_size}",
        f"      fragment:   {profile.min_free}",
        f"      max alloc:  {profile.max_alloc}",
    ]


def update_error(code: int, **facts: str) -> str:
    """`Update.printError()`: `ERROR[<n>]: <getErrorString()>` and a newline (core 3.x `Updater.cpp`)."""
    text = {
        UPDATE_ERROR_NO_ERROR: "No Error",
        UPDATE_ERROR_SPACE: "Not Enough Space",
        UPDATE_ERROR_MAGIC_BYTE: "Magic byte is not 0xE9",
        UPDATE_ERROR_NO_DATA: "No data supplied",
    }.get(code)
    if code == UPDATE_ERROR_MD5:
        text = f"MD5 verification failed: expected: {facts['expected']}, calculated: {facts['calculated']}"
    return f"ERROR[{code}]: {text or 'UNKNOWN'}\n"


def _end_error(image: bytes, expected_md5: str | None) -> str | None:
    """`Update.end()`: the printed error, or None when the image is accepted (MD5 first, then the magic byte)."""
    if not image:
        return update_error(UPDATE_ERROR_NO_DATA)
    calculated = hashlib.md5(image).hexdigest()
    if expected_md5 is not None and expected_md5.lower() != calculated:
        return update_error(UPDATE_ERROR_MD5, expected=expected_md5, calculated=calculated)
    if image[0] != ESP_IMAGE_MAGIC and image[:2] != b"\x1f\x8b":
        return update_error(UPDATE_ERROR_MAGIC_BYTE)
    return None


async def run_ota(firmware: OtaFirmware, link: Link | None, url: str) -> bytes | None:
    """`enterOTA()`: the image to install, or None once the fatal line is logged."""
    try:
        return await _download(firmware, link, url)
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
    if target.protocol == "http":
        tls: ssl.SSLContext | None = None
        failed = "Client not connected"
    elif target.protocol == "https":
        tls, failed = firmware.tls or ssl.create_default_context(), "Connection failed"
    else:
        raise OtaFatal(f"Unsupported protocol: {target.protocol}")
    try:
        reader, writer = await connect(link, target.host, target.port, clock, tls, RESPONSE_TIMEOUT_S)
    except OSError:
        raise OtaFatal(failed) from None
    try:
        request = f"GET {target.uri} HTTP/1.0\r\nHost: {target.host}\r\nConnection: keep-alive\r\n\r\n"
        writer.write(request.encode("latin-1"))
        first = await read_some(reader, clock, RESPONSE_TIMEOUT_S)
        if first is None:
            raise OtaFatal("Response timeout")
        head, body = await _read_head(reader, first, firmware)
        length, md5 = 0, None
        for raw in head.split(b"\n"):
            line = raw.decode("latin-1").strip().lower()
            if line.startswith("content-length:"):
                length = arduino_atol(line[line.rfind(":") + 1 :])
            elif line.startswith("x-md5:"):
                md5 = line[line.rfind(":") + 1 :].strip()
        if length <= 0:
            raise OtaFatal("Content-Length not defined")
        if length > firmware.profile.partition_kb * 1024:  # Update.begin(): it must fit beside the running sketch
            firmware.write_serial(update_error(UPDATE_ERROR_SPACE))
            raise OtaFatal("OTA begin failed")
        if md5:
            log(f"Expected MD5: {md5}")
            if len(md5) != 32:
                raise OtaFatal("Cannot set MD5")
        log("Flashing...")
        image = await copy_body(reader, body, length, clock, firmware.write_serial, RESPONSE_TIMEOUT_S, "Timeout")
    finally:
        writer.close()
    if len(image) != length:
        firmware.write_serial(update_error(UPDATE_ERROR_NO_ERROR))
        raise OtaFatal(f"Write failed. Written {len(image)} / {length} bytes")
    error = _end_error(image, md5 or None)
    if error is not None:
        firmware.write_serial(error)
        raise OtaFatal("Update not ended")
    return image


async def _read_head(reader: asyncio.StreamReader, first: bytes, firmware: OtaFirmware) -> tuple[bytes, bytes]:
    """The response head up to its empty line, and the body bytes already received after it."""
    data = bytearray(first)
    while True:
        for separator in (b"\r\n\r\n", b"\n\n"):
            end = data.find(separator)
            if end >= 0:
                return bytes(data[:end]), bytes(data[end + len(separator) :])
        more = await read_some(reader, firmware.clock, RESPONSE_TIMEOUT_S)
        if not more:
            return bytes(data), b""
        data += more


# --- ESP8266HTTPUpdateServer at /update ----------------------------------------------------------------

UPDATE_FORM = (
    b"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'></head><body>"
    b"<form method='POST' action='' enctype='multipart/form-data'>Firmware:<br>"
    b"<input type='file' accept='.bin,.bin.gz' name='firmware'><input type='submit' value='Update Firmware'></form>"
    b"<form method='POST' action='' enctype='multipart/form-data'>FileSystem:<br>"
    b"<input type='file' accept='.bin,.bin.gz' name='filesystem'><input type='submit' value='Update FileSystem'>"
    b"</form></body></html>"
)


def update_page(firmware: UpdateFirmware, request: HttpRequest) -> HandlerResult:
    """`httpUpdater.setup(&server, "/update")` without a user or serial debug: GET the form (any other
    method but POST is not registered: 404), POST an upload; 200 either way, `Update error: …` on failure."""
    from provlab.emulator.softap_http import ReplyThen

    if request.method == "GET":
        return HttpReply(200, HTML, UPDATE_FORM)
    if request.method != "POST":
        return HttpReply(404, HTML, b"Not found: /update")
    part = _uploaded_file(request.content_type, request.body)
    if part is not None:
        name, data = part
        if len(data) > firmware.profile.partition_kb * 1024:
            error: str | None = update_error(UPDATE_ERROR_SPACE)
        else:
            error = None if name == "filesystem" else _end_error(data, None)
        if error is not None:
            return HttpReply(200, HTML, b"Update error: " + error.encode())
        if name != "filesystem":
            firmware.install_app(data)

    def restart() -> None:
        firmware.restart_after_update(Trigger.HTTP_UPDATE, UPDATE_SERVER_REBOOT_S)

    return ReplyThen(HttpReply(200, HTML, SUCCESS_PAGE), restart)


def _uploaded_file(content_type: str, body: bytes) -> tuple[str, bytes] | None:
    """The first file part of a multipart body (its field name and bytes), or None (no upload ran)."""
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    head = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        return None
    for part in message.iter_parts():
        if part.get_filename() is not None:
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            return (name if isinstance(name, str) else ""), (payload if isinstance(payload, bytes) else b"")
    return None


FAMILY = Family(
    name="esp8266",
    chip=Chip.ESP8266,
    sketch="Edgent_ESP8266",
    banner_rows=banner_rows,
    firmware_info_rows=firmware_info_rows,
    status_rows=status_rows,
    scan=ScanStyle(SECURITY_NAMES, hidden_key=True, streamed=True),
    ap_mode_delay_s=0.0,
    fresh_flash_read_fails=False,
    flash_model=WriteModel.EEPROM_SEQUENTIAL,
    console_commands=("help", "?", "reboot", "config", "devinfo", "connect", "wifi", "firmware", "status"),
    update_page=update_page,
    builtin_update_page=False,
    ota=run_ota,
    ota_failure_restarts=True,
    secure_log=SecureClientLog(
        ok=None,
        failed="Connection failed",
        untrusted=f"SSL error: {choices.ESP8266_UNTRUSTED_SSL_ERROR}",
        clock_line=asctime_line(choices.NTP_EPOCH),
    ),
    features=frozenset(Feature) - {Feature.ATOMIC_CONFIG_WRITE, Feature.FIRMWARE_ROLLBACK, Feature.OTA_ERROR_STATE},
)
