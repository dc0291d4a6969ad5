"""A board family: what one legacy Edgent sketch does differently from the others (ESP32, ESP8266, Wio Terminal).

The legacy sketches in blynk-library (`examples/Blynk.Edgent/Edgent_<family>/`) share the state machine, the
`/config` handler and the config struct; they differ in the chip's facts and in a handful of places: the
banner's hardware rows, the bytes that feed the SSID suffix, extra `board_info.json` keys, how `/wifi_scan.json`
is produced and sent, how the config blob reaches flash, which console commands exist, what serves `/update`,
how Blynk.Air downloads, and what the secure client logs. `Family` holds those as data and small strategy
objects; the emulator asks the profile's family, never which family it is. The families themselves live in
`provlab/emulator/families/`, one module each.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Protocol

from provlab.emulator.flash import WriteModel
from provlab.protocol.edgent_http import ScanEntry
from provlab.protocol.ssid import Chip
from provlab.wifi.backend import AccessPoint, Link, Security

if TYPE_CHECKING:
    from provlab.emulator.clock import DeviceClock
    from provlab.emulator.profile import FirmwareProfile
    from provlab.emulator.softap_http import HandlerResult, HttpRequest
    from provlab.emulator.transitions import Trigger


class Feature(Enum):
    """What a family's firmware can do that another lacks; a scenario names the ones it needs
    (`@pytest.mark.needs_firmware("http_update")`) and is skipped, with the reason, on a family without them."""

    LED = "led"
    """State indication on the LED (`indicator_init()`; commented out in the Wio Terminal sketch)."""
    HTTP_UPDATE = "http_update"
    """A firmware upload page at `/update` on the SoftAP."""
    ATOMIC_CONFIG_WRITE = "atomic_config_write"
    """A power cut during a config write leaves the old blob (ESP32 NVS), not a torn one (EEPROM, SFUD)."""
    CONSOLE_WIFI = "console_wifi"
    """The `wifi` console command (`wifi show`, `wifi scan`)."""
    CONSOLE_FIRMWARE = "console_firmware"
    """The `firmware` console command (`firmware info`)."""
    CONSOLE_STATUS = "console_status"
    """The `status` console command."""
    FIRMWARE_ROLLBACK = "firmware_rollback"
    """`firmware rollback` on the console (ESP32's `Update.rollBack()`)."""
    OTA_ERROR_STATE = "ota_error_state"
    """A failed Blynk.Air update goes to ERROR and reboots 10 s later (ESP32); the others restart at once."""
    OTA_MD5_CHECK = "ota_md5_check"
    """The Blynk.Air download is checked against an `x-MD5` header (not on the Wio Terminal)."""
    SCAN_ON_REQUEST = "scan_on_request"
    """`/wifi_scan.json` scans when it is asked (the Wio Terminal serves the scan it made before its AP started)."""

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    Feature.LED: "LED state indication",
    Feature.HTTP_UPDATE: "a /update upload page",
    Feature.ATOMIC_CONFIG_WRITE: "power-cut-safe config writes",
    Feature.CONSOLE_WIFI: "the `wifi` console command",
    Feature.CONSOLE_FIRMWARE: "the `firmware` console command",
    Feature.CONSOLE_STATUS: "the `status` console command",
    Feature.FIRMWARE_ROLLBACK: "`firmware rollback`",
    Feature.OTA_ERROR_STATE: "OTA failures through ERROR",
    Feature.OTA_MD5_CHECK: "an MD5-checked OTA download",
    Feature.SCAN_ON_REQUEST: "a Wi-Fi scan on each /wifi_scan.json request",
}


@dataclass(frozen=True)
class ScanStyle:
    """How `/wifi_scan.json` is made: names of the security modes, extra keys, when the scan runs, how it is sent."""

    security_names: Mapping[Security, str]
    """`wifiSecToStr` (or the Wio's inline switch); a mode missing here prints `unknown`."""
    hidden_key: bool = False
    """Each item ends in `,"hidden":%d` (ESP8266)."""
    streamed: bool = False
    """Sent piece by piece with `CONTENT_LENGTH_UNKNOWN` (ESP8266: chunked to HTTP/1.1 clients)."""
    before_ap: bool = False
    """Scanned once in `enterConfigMode()` before the AP starts and served from that string (Wio)."""

    def entry(self, ap: AccessPoint) -> ScanEntry:
        sec = self.security_names.get(ap.security, "unknown")
        hidden = int(not ap.ssid) if self.hidden_key else None  # `WiFi.isHidden()`: a hidden AP's SSID is empty
        bssid = ap.bssid.upper()  # `WiFi.BSSIDstr(i)`: "%02X:…" in arduino-esp32, the ESP8266 core and rpcWiFi
        return ScanEntry(ap.ssid, bssid, ap.rssi, sec, ap.channel, hidden=hidden)


@dataclass(frozen=True)
class SecureClientLog:
    """What the library's secure client (`BlynkSimple<family>_SSL.h`) logs around a TLS connect."""

    ok: str | None = "Certificate OK"
    failed: str = "Secure connection failed"
    untrusted: str | None = None
    """The line when the server's certificate is not trusted (ESP8266: `SSL error: <BearSSL code>`); None: `failed`."""
    clock_line: Callable[[DeviceClock], str] | None = None
    """A line before each connect (ESP8266: `Current time: <asctime>` after the NTP sync)."""


class PortalRequestHandler(Protocol):
    """A page the family's sketch registers on the SoftAP's web server (here: `/update`)."""

    def __call__(self, firmware: UpdateFirmware, request: HttpRequest) -> HandlerResult: ...


class UpdateFirmware(Protocol):
    """What an `/update` page may do to the firmware serving it."""

    @property
    def profile(self) -> FirmwareProfile: ...

    def log(self, text: str) -> None: ...
    def write_serial(self, text: str) -> None: ...
    def install_app(self, image: bytes) -> None: ...
    def restart_after_update(self, trigger: Trigger, after_s: float) -> None: ...


class OtaFirmware(Protocol):
    """What a family's `enterOTA()` uses of the firmware."""

    @property
    def clock(self) -> DeviceClock: ...
    @property
    def profile(self) -> FirmwareProfile: ...
    @property
    def tls(self) -> ssl.SSLContext | None: ...

    def log(self, text: str) -> None: ...
    def write_serial(self, text: str) -> None: ...


class OtaRunner(Protocol):
    """A family's `enterOTA()`: the verified image, or None after logging the fatal line (`OTA_FATAL`)."""

    def __call__(self, firmware: OtaFirmware, link: Link | None, url: str) -> Awaitable[bytes | None]: ...


@dataclass(frozen=True)
class Family:
    """One legacy Edgent sketch's differences, as data and strategies (see the module docstring)."""

    name: str
    chip: Chip
    """What feeds the SSID suffix CRC (ESP32: the 8-byte efuse MAC; the others: the 6-byte STA MAC)."""
    sketch: str
    """The sketch folder in blynk-library, for messages."""
    banner_rows: Callable[[FirmwareProfile], list[str]]
    """`printDeviceBanner()`'s rows after `Firmware:` / `Token:`, up to the closing rule."""
    firmware_info_rows: Callable[[FirmwareProfile, int, str], list[str]] | None
    """`firmware info` from the profile, the app's size in KiB and its MD5 (None: no `firmware` command)."""
    status_rows: Callable[[FirmwareProfile, str, int], list[str]] | None
    """`status` from the profile, the uptime text (`<d>d <h>h <m>m <s>s`) and the boot count (None: none)."""
    scan: ScanStyle
    board_info_extra: tuple[tuple[str, object], ...] = ()
    """Keys the family's `/board_info.json` format string adds at its end (Wio: `"5ghz":true`)."""
    ap_mode_delay_s: float = 2.0
    """`WiFi.mode(WIFI_AP); delay(2000)` (ESP32, Wio); ESP8266 sets WIFI_AP_STA with no delay."""
    fresh_flash_read_fails: bool = True
    """The first boot of a blank chip logs `Config read failed` (ESP32 NVS, see choices) rather than
    `Using default config.` (EEPROM and SFUD read 0xFF bytes whose magic check fails)."""
    flash_model: WriteModel = WriteModel.NVS_ATOMIC
    console_commands: tuple[str, ...] | None = None
    """The console's commands in registration order; None: the ESP32 sketch's."""
    update_page: PortalRequestHandler | None = None
    """What answers `/update` instead of the ESP32 sketch's own upload handler."""
    builtin_update_page: bool = True
    """Without an `update_page`: True serves the ESP32 sketch's handler, False leaves `/update` unregistered."""
    ota: OtaRunner | None = None
    """The family's `enterOTA()`; None: the ESP32 sketch's (`provlab.emulator.ota`)."""
    ota_failure_restarts: bool = False
    """A failed update restarts at once (`OTA_FATAL`: log, `delay(1000)`, restart) instead of going to ERROR."""
    led: bool = True
    secure_log: SecureClientLog = field(default_factory=SecureClientLog)
    features: frozenset[Feature] = frozenset(Feature)

    def lacks(self, wanted: Feature) -> bool:
        return wanted not in self.features


OTA_FATAL_DELAY_S = 1.0
"""`OTA_FATAL(...)`: `BLYNK_LOG1(...); delay(1000); restartMCU();`."""


def asctime_line(epoch: float) -> Callable[[DeviceClock], str]:
    """`Current time: <asctime UTC>` for a device whose NTP time is `epoch` at boot plus its uptime."""

    def line(clock: DeviceClock) -> str:
        return "Current time: " + time.asctime(time.gmtime(epoch + clock.now()))

    return line
