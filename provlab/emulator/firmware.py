"""The emulated Edgent firmware: the legacy Edgent_ESP32 sketch's main loop, run on a `BoardHardware`.

The firmware is one asyncio task per boot running `Edgent::run()`'s dispatch (spec §1.2). Every wait is
a timer or an event (a state change, the button, the cloud client), so an idle board costs no CPU; only
CONFIGURING (is the phone still joined?) and the connected states (is the Wi-Fi link still up?) look at
the radio on a timer, as the firmware does. State changes go through `transition()`, which checks them
against the spec's table (`transitions.py`).

The console (`console.py`) and the SoftAP pages (`portal.py`) are the sketch's `Console.h` and
`ConfigMode.h`; they act on the firmware only through the commands in "what the console and the portal
may ask" below, each named in their own `Protocol`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import ssl
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from provlab.emulator.banner import device_banner, logo_text
from provlab.emulator.button import ResetButton
from provlab.emulator.console import EdgentConsole
from provlab.emulator.defects import Behaviour
from provlab.emulator.family import OTA_FATAL_DELAY_S
from provlab.emulator.flash import PowerLost
from provlab.emulator.hardware import BoardHardware
from provlab.emulator.indicator import LED_OFF
from provlab.emulator.mqtt_client import CloudClient
from provlab.emulator.ota import OtaFailed, download_update
from provlab.emulator.portal import ConfigPortal
from provlab.emulator.profile import FirmwareProfile
from provlab.emulator.rom_loader import esp32_app_boot_text
from provlab.emulator.settings import (
    AP_MODE_OFF_DELAY_S,
    AP_START_DELAY_S,
    CONFIG_AP_URL,
    CONFIG_MODE_POLL_S,
    LINK_CHECK_S,
    OTA_START_DELAY_S,
    SETUP_SERIAL_DELAY_S,
    STA_MODE_DELAY_S,
    SWITCH_TO_STA_DELAY_S,
    WIFI_CLOUD_MAX_RETRIES,
    WIFI_JOIN_RETRY_S,
)
from provlab.emulator.softap_http import SoftApHttpServer
from provlab.emulator.transitions import CONFIG_MODE, REBOOT, Target, Trigger, check
from provlab.emulator.transports import cloud_client_for
from provlab.protocol import choices
from provlab.protocol import console as console_proto
from provlab.protocol.config_blob import ConfigBlob, ConfigBlobError, ConfigFlag
from provlab.protocol.firmware_image import app_version, md5_hex, read_info
from provlab.protocol.internal import INTERNAL_DBG, INTERNAL_OTA, arduino_atol, as_uint16, esp32_info, internal_op
from provlab.protocol.serial_log import format_log_line
from provlab.protocol.ssid import Chip, format_mac, softap_ssid
from provlab.protocol.states import EdgentState, ProvError
from provlab.wifi.backend import AccessPoint, Link, WifiError

log = logging.getLogger("provlab.emulator.firmware")

S = EdgentState
MIN_POLL_WALL_S = 0.002  # on a wall clock, a timed look at the radio never spins faster than this
HISTORY = 256  # transitions kept per board


@dataclass(frozen=True)
class TransitionRecord:
    """One state change the firmware made: device `millis()`, from, why, to."""

    millis: int
    source: EdgentState
    trigger: Trigger
    target: Target


class EdgentFirmware:
    """The sketch's state, config store and main loop; implements the hardware's `Program`."""

    def __init__(
        self,
        hardware: BoardHardware,
        profile: FirmwareProfile,
        *,
        behaviour: Behaviour,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.hw = hardware
        # the peripherals the sketch talks to, by their Arduino names' meaning
        self.clock = hardware.clock
        self.flash = hardware.flash
        self.radio = hardware.radio
        self.station = hardware.station
        self.factory_profile = profile
        self.profile = profile
        self.behaviour = behaviour
        self.tls = tls
        self.ssid = softap_ssid(profile.template_name, hardware.mac, profile.chip, profile.vendor_prefix)
        self.client: CloudClient = cloud_client_for(  # binary protocol or MQTT, by profile
            profile, self.clock, self.log, behaviour=behaviour, tls=tls, on_change=self._poke
        )
        self.client.on_internal = self._on_internal
        self.console = EdgentConsole(self)
        self.portal = ConfigPortal(self)
        hardware.serial.on_receive = self.console.receive  # the UART's receive interrupt
        self.button = ResetButton(
            self.clock,
            log=self.log,
            reset=lambda: self.from_anywhere(Trigger.BUTTON_HELD_10S, S.RESET_CONFIG),
            trigger=behaviour.reset_trigger,
            on_change=self._refresh_led,
            hold_time_s=behaviour.hold_time_action_s,
        )
        self.config = ConfigBlob.defaults(profile.fw_version)
        self.state = S.INIT
        self.history: deque[TransitionRecord] = deque(maxlen=HISTORY)
        self.listeners: list[Callable[[EdgentState, EdgentState], None]] = []
        self.net_retries = WIFI_CLOUD_MAX_RETRIES
        self.cloud_retries = WIFI_CLOUD_MAX_RETRIES
        self.boots = 0
        self._wake = asyncio.Event()
        self.http: SoftApHttpServer | None = None  # the SoftAP web server while config mode runs it
        self._link: Link | None = None
        self._link_rssi = 0
        self._ota_url: str | None = None
        self.cached_scan: bytes | None = None  # the Wio's `networks` string, scanned before its AP started
        self.serving = False  # the config-mode loop still services the web server

    # --- what the firmware reads of the hardware ---------------------------------------------------
    @property
    def powered(self) -> bool:
        return self.hw.powered

    @property
    def mac(self) -> bytes:
        return self.hw.mac

    @property
    def softap_mac(self) -> bytes:
        return self.hw.softap_mac

    @property
    def mac_text(self) -> str:
        return self.hw.mac_text

    @property
    def sta_link(self) -> Link | None:
        link = self._link
        return link if link is not None and link.is_up else None

    @property
    def last_error(self) -> int:
        return self.config.last_error

    def write_serial(self, text: str) -> None:
        self.hw.write_serial(text)

    def write_uart(self, data: bytes) -> None:
        """Raw bytes on the UART (the console's echo of what was typed)."""
        self.hw.serial.write(data)

    def log(self, text: str) -> None:
        """`BLYNK_LOG`: `[millis] text` + CRLF on the UART."""
        shown = self.behaviour.log_text(text)
        if shown is not None:
            self.hw.serial.write(format_log_line(self.clock.millis(), shown))

    def _poke(self) -> None:
        self._wake.set()

    def _refresh_led(self) -> None:
        shows = self.powered and self.profile.family.led  # the Wio sketch never starts its indicator
        pattern = self.behaviour.led_pattern(self.state, self.button.hold_ms()) if shows else LED_OFF
        self.hw.show_led(pattern)

    # --- what the hardware calls (`Program`) ------------------------------------------------------
    def main(self) -> Coroutine[Any, Any, None]:
        return self._lifetime()

    def on_button(self, pressed: bool) -> None:
        if pressed:
            self.button.press()
        else:
            self.button.release()
            self._poke()

    def halted(self) -> None:
        self.button.power_lost()
        self.button.pressed_at = None

    async def discard(self) -> None:
        self.client.reset()
        await self._wifi_off()
        self._refresh_led()

    # --- state ----------------------------------------------------------------------------------
    def set_state(self, new: EdgentState) -> None:
        """`BlynkState::set`: log `OLD => NEW` only on a real change (unchecked: for tests and tools)."""
        if new is self.state:
            return
        old, self.state = self.state, new
        self._refresh_led()  # before the line: whoever reads `NEW` on the UART then sees NEW's pattern too
        if new is not S.INIT:
            self.log(f"{old.value} => {new.value}")
        for listener in list(self.listeners):
            listener(old, new)
        self._wake.set()

    def transition(self, trigger: Trigger, target: Target) -> None:
        """Take the table's row for `trigger` from the current state (IllegalTransition if none)."""
        check(self.state, trigger, target)
        self.history.append(TransitionRecord(self.clock.millis(), self.state, trigger, target))
        if isinstance(target, EdgentState):
            self.set_state(target)
        else:
            self.hw.restart()

    def from_anywhere(self, trigger: Trigger, target: Target) -> None:
        """A transition the table allows from any state (button, console), ignored while booting."""
        if self.powered and self.state is not S.INIT:
            self.transition(trigger, target)

    async def _wait(self, device_s: float | None) -> None:
        """Sleep until something wakes the firmware, or `device_s` of device time (None: no limit)."""
        self._wake.clear()
        if device_s is None:
            await self._wake.wait()
        else:
            wall = self.clock.lab_clock.loop_seconds(device_s, MIN_POLL_WALL_S)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wall)
        if not self.hw.is_main_task():
            raise asyncio.CancelledError  # powered off (Python < 3.12 `wait_for` can lose a cancel)

    # --- what the console and the portal may ask ----------------------------------------------------
    def apply_config(self, config: ConfigBlob, *, save: bool = False) -> None:
        """`configStore = config`; with `save`, marked VALID and written to flash (PowerLost on a cut)."""
        self.config = config
        if save:
            self.config.flags |= ConfigFlag.VALID
            self.config_save()

    def config_acceptable(self, config: ConfigBlob) -> bool:
        """The `/config` handler's check of a received config (after the defect hook that may run first)."""
        self.behaviour.before_validation(self, config)
        return self.behaviour.token_acceptable(config.cloud_token) and self.behaviour.ssid_acceptable(config.wifi_ssid)

    def stop_serving(self) -> None:
        """The config-mode loop stops servicing the web server once the current reply is out."""
        self.serving = False

    def start_configuring(self, trigger: Trigger) -> None:
        """A phone has shown up (WAIT_CONFIG -> CONFIGURING); nothing changes in any other state."""
        if self.state is S.WAIT_CONFIG:
            self.transition(trigger, S.CONFIGURING)

    def enter_config_mode(self, trigger: Trigger) -> None:
        self.from_anywhere(trigger, S.WAIT_CONFIG)

    def erase_config(self, trigger: Trigger) -> None:
        """Back to factory config (RESET_CONFIG), from any state but INIT."""
        self.from_anywhere(trigger, S.RESET_CONFIG)

    def switch_to_sta(self, trigger: Trigger) -> None:
        """Join the configured network (SWITCH_TO_STA), from any state but INIT."""
        self.from_anywhere(trigger, S.SWITCH_TO_STA)

    def leave_config_mode(self, trigger: Trigger) -> None:
        """After `/config` replied: still in config mode, try the new config once (one net, one cloud attempt)."""
        if self.state in CONFIG_MODE and self.powered:
            self.net_retries = self.cloud_retries = self.behaviour.retries_after_config()
            self.transition(trigger, S.SWITCH_TO_STA)

    def request_restart(self, trigger: Trigger, after_s: float | None = None) -> None:
        """Reboot through the table, now or after `after_s` device seconds (ignored while booting)."""
        if after_s is None:
            self.from_anywhere(trigger, REBOOT)
        else:
            self.hw.later(after_s, lambda: self.from_anywhere(trigger, REBOOT))

    def restart_after_update(self, trigger: Trigger, after_s: float) -> None:
        """After an `/update` upload: reboot through the table in config mode, else `ESP.restart()`."""

        def reboot() -> None:
            if self.state in CONFIG_MODE:
                self.transition(trigger, REBOOT)
            else:
                self.hw.restart()

        self.hw.later(after_s, reboot)

    def install_app(self, image: bytes) -> None:
        """Write an uploaded app image; it runs from the next boot on."""
        self.flash.write_app(image)

    async def scan_networks(self) -> list[AccessPoint]:
        return await self.hw.scan()

    # --- config store ---------------------------------------------------------------------------
    def config_load(self) -> None:
        blob = self.flash.read()
        defaults = ConfigBlob.defaults(self.profile.fw_version)
        if blob is None:
            read_fails = self.profile.family.fresh_flash_read_fails and choices.FRESH_FLASH_LOGS_CONFIG_READ_FAILED
            fresh = "Config read failed" if read_fails else "Using default config."
            self.log(fresh)
            self.config = defaults
            return
        try:
            self.config = ConfigBlob.unpack(blob)
        except ConfigBlobError:
            self.log("Using default config.")
            self.config = defaults

    def config_save(self, config: ConfigBlob | None = None) -> None:
        """`config_save()`: write the blob (raises PowerLost when a cut was armed and strikes)."""
        try:
            self.flash.write(self.behaviour.stored_config(config or self.config).pack())
        except PowerLost:
            self.hw.cut_power()
            raise
        except OSError:
            self.log("Config write failed")
            return
        self.log("Configuration stored to flash")

    def config_set_last_error(self, error: ProvError) -> None:
        """Recorded only while the config is not valid: back to defaults with the error kept."""
        if self.config.is_valid or not self.behaviour.records_last_error():
            return
        error = self.behaviour.error_code(error)
        self.config = ConfigBlob.defaults(self.profile.fw_version)
        self.config.last_error = int(error)
        self.log(f"Last error code: {int(error)}")
        self.config_save()

    def _load_app(self) -> None:
        """Boot the installed app image: a Blynk.Air or `/update` image brings its own `fw_ver`."""
        image = self.flash.read_app()
        info = (read_info(image) if image is not None else None) or {}
        version = info.get("mcu") or (app_version(image) if image is not None else None)  # else esp_app_desc_t
        if version is None and not info:
            self.profile = self.factory_profile
            return
        self.profile = dataclasses.replace(
            self.factory_profile,
            fw_version=version or self.factory_profile.fw_version,
            build=info.get("build", self.factory_profile.build),
        )

    def _info_body(self) -> bytes:
        return self.behaviour.info_body(self._faithful_info_body())

    def _faithful_info_body(self) -> bytes:
        p = self.profile
        return esp32_info(
            fw_ver=p.fw_version,
            fw_type=p.firmware_type,
            build=p.build,
            blynk_ver=p.blynk_version,
            heartbeat=p.heartbeat_s,
            buff_in=p.buff_in,
            dev=p.device,
            tmpl=p.template_id,
        )

    # --- the main loop --------------------------------------------------------------------------
    async def _lifetime(self) -> None:
        try:
            await self._boot()
            while self.hw.running:
                await self._run_state()
        except asyncio.CancelledError:
            raise
        except PowerLost:
            return
        except Exception:
            log.exception("%s: firmware crashed", self.hw.name)
            self.write_serial("\r\nGuru Meditation Error: emulated firmware raised an exception\r\n")
            raise

    def rom_boot_text(self) -> bytes:
        """What the chip's ROM and bootloader print before this app starts (audit #10); a family whose serial
        port shows another chip (an NCP board's host) or another ROM overrides it."""
        if self.profile.chip is not Chip.ESP32:
            return b""
        return esp32_app_boot_text(self.hw.reset_cause)

    async def _boot(self) -> None:
        self.boots += 1
        self.write_uart(self.rom_boot_text())
        self.clock.reboot()
        while self.clock.now() < SETUP_SERIAL_DELAY_S:  # setup(): Serial.begin(115200); delay(100)
            await self.clock.sleep(SETUP_SERIAL_DELAY_S - self.clock.now())  # (a loop timer may fire a hair early)
        self.state = S.INIT
        self._refresh_led()
        self.client.reset()
        self.console.reboot()
        self._load_app()
        self.client.info_body = self._info_body()
        self.config_load()
        self.log(logo_text(self.profile))
        token = self.config.cloud_token if self.config.is_valid else None
        self.write_serial(device_banner(self.profile, self.ssid, token))
        self.write_serial(console_proto.BOOT_PROMPT)
        self.enter_first_state()
        if not self.profile.template_ok:
            self.log("Invalid configuration of TEMPLATE_ID / TEMPLATE_NAME")
            await asyncio.Event().wait()  # while (true) delay(100);

    def enter_first_state(self) -> None:
        """`BlynkEdgent.begin()` after the config is read: stored config (or a patched `blnkopt`) connects,
        nothing configured waits for the phone; the retry budgets start full."""
        self.net_retries = self.cloud_retries = WIFI_CLOUD_MAX_RETRIES
        if self.config.is_valid:
            self.transition(Trigger.BOOT_CONFIGURED, S.CONNECTING_NET)
        elif self._load_blnkopt():
            self.log("Firmware is preprovisioned")
            self.transition(Trigger.BOOT_CONFIGURED, S.CONNECTING_NET)
        else:
            self.transition(Trigger.BOOT_UNCONFIGURED, S.WAIT_CONFIG)

    def _load_blnkopt(self) -> bool:
        """`config_load_blnkopt()`: a patched tag with both `ssid` and `auth` configures the board."""
        if self.profile.blnkopt is None:
            return False
        values = dict(self.profile.blnkopt)
        if "ssid" not in values or "auth" not in values:
            return False
        config = ConfigBlob.defaults(self.profile.fw_version)
        config.wifi_ssid, config.wifi_pass = values["ssid"], values.get("pass", "")
        config.cloud_token = values["auth"]
        # present keys are copied as they are (an empty host stays empty) and the port read by `asInt()`
        # (0 for junk) into a uint16_t (audit #27)
        if "host" in values:
            config.cloud_host = values["host"]
        if "port" in values:
            config.cloud_port = as_uint16(arduino_atol(values["port"]))
        self.config = config
        return True

    async def _run_state(self) -> None:
        state = self.state
        if state in CONFIG_MODE:
            await self._config_mode()
        elif state is S.SWITCH_TO_STA:
            await self._switch_to_sta()
        elif state is S.CONNECTING_NET:
            await self._connect_net()
        elif state is S.CONNECTING_CLOUD:
            await self._connect_cloud()
        elif state is S.RUNNING:
            await self._running()
        elif state is S.OTA_UPGRADE:
            await self._ota_upgrade()
        elif state is S.RESET_CONFIG:
            self._reset_config()
        else:
            await self._error()

    async def _wifi_off(self) -> None:
        """`WiFi.mode(WIFI_OFF)`: the AP, the station link and every socket on them go away. The radio
        goes first: `enterConfigMode()` (spec §2.1) calls no `Blynk.disconnect()`, so the cloud hears no
        goodbye from a board that leaves RUNNING for config mode and times the session out itself, and the
        serial log shows no `Disconnected` (audit #4): the socket just dies with the radio."""
        await self._stop_http()
        await self.radio.stop_ap()
        await self.station.leave()
        self.client.reset()
        self._link = None

    async def _stop_http(self) -> None:
        self.serving = False
        http, self.http = self.http, None
        if http is not None:
            await http.stop()

    async def _config_mode(self) -> None:
        family = self.profile.family
        if family.scan.before_ap:  # Wio: `networks = scanNetworks();` before the radio goes off
            self.cached_scan = await self.portal.scan_for_page()
        await self._wifi_off()
        await self.clock.sleep(AP_MODE_OFF_DELAY_S)
        await self.clock.sleep(family.ap_mode_delay_s)  # WIFI_AP + delay(2000); ESP8266: WIFI_AP_STA, none
        ap = await self.radio.start_ap(self.ssid, format_mac(self.softap_mac), channel=choices.SOFTAP_CHANNEL)
        await self.clock.sleep(AP_START_DELAY_S)
        self.log(f"AP URL:  {CONFIG_AP_URL}")
        http = SoftApHttpServer(self.portal.handle, time_scale=self.clock.time_scale)
        await http.start(ap, 80)
        self.http = http
        self.serving = True
        limit = self.behaviour.config_mode_timeout_s()  # None: config mode waits for ever (spec §1.4 notes)
        give_up = None if limit is None else self.clock.now() + limit
        while self.state in CONFIG_MODE:
            if give_up is not None and self.clock.now() >= give_up:
                self.hw.restart()  # `ESP.restart()`; the power-off ends this task
                await self._wait(None)
            if self.state is S.CONFIGURING and self.behaviour.notices_phone_leaving():
                if ap.station_count == 0:
                    self.transition(Trigger.LAST_STATION_LEFT, S.WAIT_CONFIG)
                    continue
                await self._wait(CONFIG_MODE_POLL_S)  # a phone is on: look at the AP each 10 ms
            else:  # idle: nothing happens until a request or a command
                await self._wait(None if give_up is None else max(0.0, give_up - self.clock.now()))
        await self._stop_http()

    async def _switch_to_sta(self) -> None:
        self.log("Switching to STA...")
        await self.clock.sleep(SWITCH_TO_STA_DELAY_S)
        if self.behaviour.stops_ap_on_switch():
            await self._wifi_off()
        else:
            await self._stop_http()
        await self.clock.sleep(STA_MODE_DELAY_S)
        if self.state is S.SWITCH_TO_STA:
            self.transition(Trigger.AP_OFF, S.CONNECTING_NET)

    async def _connect_net(self) -> None:
        config = self.config
        self.log(f"Connecting to WiFi: {config.wifi_ssid}")
        if self.behaviour.stops_ap_on_switch():
            await self.radio.stop_ap()  # WiFi.mode(WIFI_STA)
        if config.has_static_ip and not self.behaviour.static_ip_configurable(config):
            self.log("Failed to configure Static IP")
            self.config_set_last_error(ProvError.CONFIG)
            self.transition(Trigger.STATIC_IP_FAILED, S.ERROR)
            return
        deadline = self.clock.now() + self.behaviour.net_connect_timeout_s()
        link: Link | None = None
        while self.state is S.CONNECTING_NET:
            try:
                link = await self.station.join(config.wifi_ssid, config.wifi_pass or None)
                break
            except WifiError:
                pass
            remaining = deadline - self.clock.now()
            if remaining <= 0:
                break
            await self._wait(min(WIFI_JOIN_RETRY_S, remaining))
        if self.state is not S.CONNECTING_NET:
            await self.station.leave()
            return
        if link is not None:
            self._link = link
            self._link_rssi = next((ap.rssi for ap in await self.station.scan() if ap.bssid == link.bssid), 0)
            if config.has_static_ip:
                self.log(f"Using Static IP: {config.static_ip}")
            else:
                self.log(f"Using Dynamic IP: {link.ip}")
            if self.behaviour.restores_retries():
                self.net_retries = WIFI_CLOUD_MAX_RETRIES
            self.transition(Trigger.NET_CONNECTED, S.CONNECTING_CLOUD)
            return
        self.net_retries -= 1
        if self.net_retries <= 0:
            self.config_set_last_error(ProvError.NETWORK)
            self.transition(Trigger.NET_TIMEOUT_EXHAUSTED, S.ERROR)
        else:
            self.transition(Trigger.NET_TIMEOUT_RETRY, S.CONNECTING_NET)

    async def _connect_cloud(self) -> None:
        link = self._link
        if link is None or not link.is_up:
            self.transition(Trigger.NET_LOST_CONNECTING, S.CONNECTING_NET)
            return
        client = self.client
        client.begin(link, self.config.cloud_host, self.config.cloud_port, self.config.cloud_token)
        deadline = self.clock.now() + self.behaviour.cloud_connect_timeout_s()
        timed_out = False
        while not (client.connected or client.token_invalid):
            if self.state is not S.CONNECTING_CLOUD:
                await client.disconnect()
                return
            if not link.is_up:
                client.reset()
                self.transition(Trigger.NET_LOST_CONNECTING, S.CONNECTING_NET)
                return
            remaining = deadline - self.clock.now()
            if remaining <= 0:
                timed_out = True
                break
            await self._wait(min(LINK_CHECK_S, remaining))
        if self.state is not S.CONNECTING_CLOUD:
            # the sketch checks the state after each pass's app_loop() (the console, the button), before it looks
            # at Blynk.connected(): a `config erase` in the same pass as the login answer wins, and the session
            # is dropped (`enterConnectCloud()`: `Blynk.disconnect(); return;`)
            await client.disconnect()
            return
        if timed_out:
            self.log("Timeout")
        if client.token_invalid:
            self.config_set_last_error(ProvError.TOKEN)
            self.transition(Trigger.TOKEN_INVALID, S.WAIT_CONFIG)
        elif client.connected:
            self.transition(Trigger.CLOUD_CONNECTED, S.RUNNING)
            if self.behaviour.restores_retries():
                self.cloud_retries = WIFI_CLOUD_MAX_RETRIES
            if not self.config.is_valid:
                self.config.last_error = int(ProvError.NONE)
                self.config.flags |= ConfigFlag.VALID
                if self.behaviour.persists_valid_flag():
                    self.config_save()
                if self.behaviour.sends_hotspot_meta():
                    client.send_meta("Hotspot Name", self.ssid)
        else:
            self.cloud_retries -= 1
            if self.cloud_retries <= 0:
                client.reset()  # Blynk.run() is no longer called: the connection attempts stop
                self.config_set_last_error(ProvError.CLOUD)
                self.transition(Trigger.CLOUD_TIMEOUT_EXHAUSTED, S.ERROR)
            else:
                self.transition(Trigger.CLOUD_TIMEOUT_RETRY, S.CONNECTING_CLOUD)

    async def _running(self) -> None:
        """`runBlynkWithChecks()`: the sketch never looks at Wi-Fi while RUNNING (audit #6). Only when the
        session ends (the socket fails, or `Heartbeat timeout` on a link that fell silent) does it pick
        CONNECTING_NET or CONNECTING_CLOUD from `WiFi.status()`."""
        while self.state is S.RUNNING:
            if not self.client.connected:
                if self._link is not None and self._link.is_up:
                    self.transition(Trigger.CLOUD_LOST, S.CONNECTING_CLOUD)
                else:
                    self.client.reset()
                    self.transition(Trigger.NET_LOST_RUNNING, S.CONNECTING_NET)
                return
            await self._wait(None)  # woken by the client's state changes and by commands

    async def _ota_upgrade(self) -> None:
        url, self._ota_url = self._ota_url or "", None
        link = self.sta_link
        if self.profile.family.ota is not None:
            await self._family_ota(url, link)
            return
        try:
            if link is None:  # `http.GET()` fails without a network: the same line as a refused connection
                self.log(f"Firmware update URL: {url}")
                self.log("HTTP response should be 200")
                raise OtaFailed("no Wi-Fi link")
            image = await download_update(link, url, self.clock, self.log)
        except OtaFailed:
            self.transition(Trigger.OTA_FAILED, S.ERROR)
            return
        self.flash.write_app(image)
        self.log("=== Update successfully completed. Rebooting.")
        self.transition(Trigger.OTA_SUCCEEDED, REBOOT)

    async def _family_ota(self, url: str, link: Link | None) -> None:
        """The family's `enterOTA()` (ESP8266, Wio): success reboots into the image; a failure was logged by
        `OTA_FATAL`, which waits 1 s and restarts (no ERROR state)."""
        family = self.profile.family
        assert family.ota is not None
        image = await family.ota(self, link, url)
        if self.state is not S.OTA_UPGRADE:
            return
        if image is None:
            await self.clock.sleep(OTA_FATAL_DELAY_S)
            self.transition(Trigger.OTA_FATAL, REBOOT)
            return
        self.flash.write_app(image)
        self.log("=== Update successfully completed. Rebooting.")
        self.transition(Trigger.OTA_SUCCEEDED, REBOOT)

    def _reset_config(self) -> None:
        self.log("Resetting configuration!")
        self.config = ConfigBlob.defaults(self.profile.fw_version)
        if self.behaviour.reset_writes_flash():
            self.config_save()
        self.transition(Trigger.CONFIG_RESET_DONE, S.WAIT_CONFIG)

    async def _error(self) -> None:
        self.client.reset()
        deadline = self.clock.now() + self.behaviour.error_reboot_delay_s()
        while self.state is S.ERROR:
            remaining = deadline - self.clock.now()
            held = self.button.pressed and self.behaviour.error_waits_for_button()
            if remaining <= 0 and not held:
                break
            await self._wait(None if held or remaining <= 0 else remaining)
        if self.state is not S.ERROR:
            return
        if not self.behaviour.restarts_after_error():
            while self.state is S.ERROR:
                await self._wait(None)
            return
        self.log("Restarting after error.")
        self.transition(Trigger.ERROR_TIMEOUT, REBOOT)

    # --- cloud-side commands --------------------------------------------------------------------
    def _on_internal(self, args: list[bytes]) -> None:
        op = internal_op(args)
        value = args[1].decode("utf-8", "replace") if len(args) > 1 else ""
        if op == INTERNAL_OTA:
            self.hw.later(OTA_START_DELAY_S, lambda: self._start_ota(value))
        elif op == INTERNAL_DBG:
            self.console.run_remote(value)

    def _start_ota(self, url: str) -> None:
        """The 2 s `edgentTimer` callback of `BLYNK_WRITE(InternalPinOTA)` (`OTA.h:13-20`): `logEvent`, then
        `Blynk.disconnect()` (its `Disconnected` comes before the state line), then OTA_UPGRADE, from whatever
        state the timer fires in (audit #13: every state's loop runs `app_loop()`). `enterOTA()` blocks the
        loop, so a timer due while an update runs is not emulated: it is dropped."""
        if not self.powered or self.state in (S.INIT, S.OTA_UPGRADE):
            return
        self._ota_url = url
        self.client.log_event("sys_ota", "OTA started")
        self.client.disconnect_now()
        self.transition(Trigger.OTA_REQUESTED, S.OTA_UPGRADE)

    # --- what the console shows -----------------------------------------------------------------
    def rssi_of(self, bssid: str) -> int:
        return self._link_rssi

    def rollback_app(self) -> bool:
        return self.flash.rollback_app()

    async def scan_rows(self) -> list[str]:
        """`wifi scan`: one row per network in the radio's order (the sketch does not sort), hidden networks
        left out (`scanNetworks()` default), `*` on every row whose SSID is the joined one's, BSSID lower case."""
        current = self.sta_link
        rows = []
        for ap in await self.hw.scan():
            if not ap.ssid:
                continue
            joined = current is not None and current.ssid == ap.ssid
            rows.append(
                console_proto.render_wifi_scan_row(
                    joined, ap.ssid, ap.bssid.lower(), ap.security.value, ap.channel, ap.rssi
                )
            )
        return rows

    def firmware_info_lines(self) -> list[str]:
        p = self.profile
        rows = p.family.firmware_info_rows
        if rows is None:
            return []
        image = self.flash.read_app()
        size_kb = len(image) // 1024 if image is not None else p.app_size_kb
        md5 = (
            md5_hex(image)
            if image is not None
            else hashlib.md5(f"{p.name} {p.fw_version} {p.build}".encode()).hexdigest()
        )
        return rows(p, size_kb, md5)

    def status_lines(self) -> list[str]:
        rows = self.profile.family.status_rows
        if rows is None:
            return []
        seconds = int(self.clock.now())
        days, rest = divmod(seconds, 86_400)
        hours, rest = divmod(rest, 3_600)
        minutes, secs = divmod(rest, 60)
        return rows(self.profile, f"{days}d {hours}h {minutes}m {secs}s", self.boots)
