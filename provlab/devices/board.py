"""The emulated Edgent board: the legacy Edgent_ESP32 sketch's main loop on simulated hardware."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from provlab.devices.banner import device_banner, logo_text
from provlab.devices.clock import DeviceClock
from provlab.devices.cloud_client import BlynkClient
from provlab.devices.console import EdgentConsole
from provlab.devices.flash import Flash
from provlab.devices.profile import FirmwareProfile
from provlab.devices.serial_port import BoardSerial
from provlab.devices.softap_http import CLOSE_WITHOUT_REPLY, CloseWithoutReply, HttpRequest, SoftApHttpServer
from provlab.protocol import edgent_http as api
from provlab.protocol.config_blob import ConfigBlob, ConfigBlobError, ConfigFlag
from provlab.protocol.internal import esp32_info
from provlab.protocol.serial_log import format_log_line
from provlab.protocol.ssid import format_mac, softap_ssid
from provlab.protocol.states import EdgentState, ProvError
from provlab.wifi.backend import BoardRadio, HostedAccessPoint, Link, WifiError

log = logging.getLogger("provlab.devices.board")

# Settings.h (legacy ESP32, HEAD)
WIFI_CLOUD_MAX_RETRIES = 500
WIFI_NET_CONNECT_TIMEOUT_S = 50.0
WIFI_CLOUD_CONNECT_TIMEOUT_S = 50.0
BUTTON_HOLD_TIME_ACTION_S = 10.0
ERROR_REBOOT_DELAY_S = 10.0
CONFIG_AP_URL = "blynk.setup"
POLL_S = 0.01  # the firmware's delay(10) loops
MIN_POLL_WALL_S = 0.002  # never spin faster than this in wall time, whatever the time scale


class EmulatedBoard:
    """One board: flash, serial, radio, button and the firmware running on them."""

    def __init__(
        self,
        profile: FirmwareProfile,
        mac: bytes,
        radio: BoardRadio,
        flash_path: str | Path,
        serial: BoardSerial,
        *,
        clock: DeviceClock,
        name: str = "board",
    ) -> None:
        self.profile = profile
        self.mac = mac
        self.softap_mac = mac[:5] + bytes([(mac[5] + 1) & 0xFF])
        self.radio = radio
        self.flash = Flash(flash_path)
        self.serial = serial
        self.clock = clock
        self.name = name
        self.ssid = softap_ssid(profile.template_name, mac, profile.chip, profile.vendor_prefix)
        self.station = radio.station
        self.client = BlynkClient(
            clock,
            self.log,
            esp32_info(
                fw_ver=profile.fw_version,
                fw_type=profile.firmware_type,
                build=profile.build,
                blynk_ver=profile.blynk_version,
                heartbeat=profile.heartbeat_s,
                buff_in=profile.buff_in,
                dev=profile.device,
                tmpl=profile.template_id,
            ),
            heartbeat_s=profile.heartbeat_s,
            max_body=profile.buff_in,
        )
        self.console = EdgentConsole(self)
        self.serial.on_receive = self.console.receive
        self.config = ConfigBlob.defaults(profile.fw_version)
        self.state = EdgentState.INIT
        self.listeners: list[Callable[[EdgentState, EdgentState], None]] = []
        self.button_pressed_at: float | None = None
        self.net_retries = WIFI_CLOUD_MAX_RETRIES
        self.cloud_retries = WIFI_CLOUD_MAX_RETRIES
        self.boots = 0
        self._wake = asyncio.Event()
        self._main: asyncio.Task[None] | None = None
        self._http: SoftApHttpServer | None = None
        self._link: Link | None = None
        self.powered = False

    # --- hardware -----------------------------------------------------------------------------
    @property
    def mac_text(self) -> str:
        return format_mac(self.mac)

    @property
    def softap(self) -> HostedAccessPoint | None:
        return self.radio.ap

    @property
    def button_pressed(self) -> bool:
        return self.button_pressed_at is not None

    def write_serial(self, text: str) -> None:
        self.serial.write(text.encode("utf-8"))

    def log(self, text: str) -> None:
        """`BLYNK_LOG`: `[millis] text` + CRLF on the UART."""
        self.serial.write(format_log_line(self.clock.millis(), text))

    async def power_on(self) -> None:
        if self.powered:
            return
        self.powered = True
        self._main = asyncio.create_task(self._lifetime(), name=f"{self.name}-firmware")

    async def power_off(self) -> None:
        self.powered = False
        main, self._main = self._main, None
        if main is not None:
            main.cancel()
            with contextlib.suppress(BaseException):
                await main
        await self._radio_off()

    def restart(self) -> None:
        """`ESP.restart()`: from anywhere (HTTP handler, console, timer)."""
        asyncio.get_running_loop().create_task(self._restart())

    async def _restart(self) -> None:
        await self.power_off()
        await self.power_on()

    def press_button(self) -> None:
        if self.button_pressed_at is None:
            self.button_pressed_at = self.clock.now()
            self.log("Hold the button for 10 seconds to reset configuration...")

    def release_button(self) -> None:
        pressed, self.button_pressed_at = self.button_pressed_at, None
        if pressed is not None and self.clock.now() - pressed >= BUTTON_HOLD_TIME_ACTION_S:
            self.set_state(EdgentState.RESET_CONFIG)

    # --- state ----------------------------------------------------------------------------------
    def set_state(self, new: EdgentState) -> None:
        """`BlynkState::set`: log `OLD => NEW` only on a real change."""
        if new is self.state:
            return
        old, self.state = self.state, new
        if new is not EdgentState.INIT:
            self.log(f"{old.value} => {new.value}")
        for listener in list(self.listeners):
            listener(old, new)
        self._wake.set()

    async def _tick(self, device_s: float = POLL_S) -> None:
        """Wait `device_s` of device time, or less if something wakes the firmware."""
        self._wake.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), max(self.clock.to_wall(device_s), MIN_POLL_WALL_S))

    # --- config store ---------------------------------------------------------------------------
    def config_load(self) -> None:
        blob = self.flash.read()
        if blob is None:
            self.log("Config read failed")
            self.config = ConfigBlob.defaults(self.profile.fw_version)
            return
        try:
            self.config = ConfigBlob.unpack(blob)
        except ConfigBlobError:
            self.log("Using default config.")
            self.config = ConfigBlob.defaults(self.profile.fw_version)

    def config_save(self) -> None:
        self.flash.write(self.config.pack())
        self.log("Configuration stored to flash")

    def config_set_last_error(self, error: ProvError) -> None:
        """Recorded only while the config is not valid: back to defaults with the error kept."""
        if self.config.is_valid:
            return
        self.config = ConfigBlob.defaults(self.profile.fw_version)
        self.config.last_error = int(error)
        self.log(f"Last error code: {int(error)}")
        self.config_save()

    # --- the main loop --------------------------------------------------------------------------
    async def _lifetime(self) -> None:
        self.boots += 1
        self.clock.reboot()
        self.state = EdgentState.INIT
        self.client.reset()
        self.config_load()
        self.log(logo_text(self.profile))
        token = self.config.cloud_token if self.config.is_valid else None
        self.write_serial(device_banner(self.profile, self.ssid, token))
        self.write_serial("\r\n>")
        self.net_retries = self.cloud_retries = WIFI_CLOUD_MAX_RETRIES
        self.set_state(EdgentState.CONNECTING_NET if self.config.is_valid else EdgentState.WAIT_CONFIG)
        try:
            while True:
                state = self.state
                if state in (EdgentState.WAIT_CONFIG, EdgentState.CONFIGURING):
                    await self._config_mode()
                elif state is EdgentState.SWITCH_TO_STA:
                    await self._switch_to_sta()
                elif state is EdgentState.CONNECTING_NET:
                    await self._connect_net()
                elif state is EdgentState.CONNECTING_CLOUD:
                    await self._connect_cloud()
                elif state is EdgentState.RUNNING:
                    await self._running()
                elif state is EdgentState.RESET_CONFIG:
                    self._reset_config()
                else:
                    await self._error()
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: firmware crashed", self.name)
            self.write_serial("\r\nGuru Meditation Error: emulated firmware raised an exception\r\n")
            raise

    async def _wifi_off(self) -> None:
        await self._stop_http()
        await self.radio.stop_ap()
        await self.station.leave()
        self._link = None

    async def _radio_off(self) -> None:
        await self.client.disconnect()
        await self._wifi_off()

    async def _stop_http(self) -> None:
        http, self._http = self._http, None
        if http is not None:
            await http.stop()

    async def _config_mode(self) -> None:
        await self._wifi_off()
        await self.clock.sleep(0.1)  # WiFi.mode(WIFI_OFF); delay(100)
        await self.clock.sleep(2.0)  # WiFi.mode(WIFI_AP); delay(2000)
        ap = await self.radio.start_ap(self.ssid, format_mac(self.softap_mac), channel=1)
        await self.clock.sleep(0.5)
        self.log(f"AP URL:  {CONFIG_AP_URL}")
        self._http = SoftApHttpServer(self._handle_http)
        await self._http.start(ap, 80)
        while self.state in (EdgentState.WAIT_CONFIG, EdgentState.CONFIGURING):
            if self.state is EdgentState.CONFIGURING and ap.station_count == 0:
                self.set_state(EdgentState.WAIT_CONFIG)
            await self._tick()
        await self._stop_http()

    async def _switch_to_sta(self) -> None:
        self.log("Switching to STA...")
        await self.clock.sleep(1.0)
        await self._wifi_off()
        await self.clock.sleep(0.1)
        self.set_state(EdgentState.CONNECTING_NET)

    async def _connect_net(self) -> None:
        ssid, password = self.config.wifi_ssid, self.config.wifi_pass
        self.log(f"Connecting to WiFi: {ssid}")
        deadline = self.clock.now() + WIFI_NET_CONNECT_TIMEOUT_S
        link: Link | None = None
        while self.clock.now() < deadline and self.state is EdgentState.CONNECTING_NET:
            try:
                link = await self.station.join(ssid, password or None)
                break
            except WifiError:
                await self._tick(1.0)
        if self.state is not EdgentState.CONNECTING_NET:
            return
        if link is not None:
            self._link = link
            self.log(f"Using Dynamic IP: {link.ip}")
            self.set_state(EdgentState.CONNECTING_CLOUD)
            self.net_retries = WIFI_CLOUD_MAX_RETRIES
            return
        self.net_retries -= 1
        if self.net_retries <= 0:
            self.config_set_last_error(ProvError.NETWORK)
            self.set_state(EdgentState.ERROR)

    async def _connect_cloud(self) -> None:
        link = self._link
        if link is None or not link.is_up:
            self.set_state(EdgentState.CONNECTING_NET)
            return
        self.client.reset()
        token, host, port = self.config.cloud_token, self.config.cloud_host, self.config.cloud_port
        deadline = self.clock.now() + WIFI_CLOUD_CONNECT_TIMEOUT_S
        while (
            self.clock.now() < deadline
            and not self.client.token_invalid
            and not self.client.connected
            and self.state is EdgentState.CONNECTING_CLOUD
        ):
            if not link.is_up:
                await self.client.disconnect()
                self.set_state(EdgentState.CONNECTING_NET)
                return
            if self.client.due_for_attempt():
                await self.client.connect(link, host, port, token)
            else:
                await self._tick(0.1)
        if self.state is not EdgentState.CONNECTING_CLOUD:
            await self.client.disconnect()
            return
        if self.clock.now() >= deadline:
            self.log("Timeout")
        if self.client.token_invalid:
            self.config_set_last_error(ProvError.TOKEN)
            self.set_state(EdgentState.WAIT_CONFIG)
        elif self.client.connected:
            self.set_state(EdgentState.RUNNING)
            self.cloud_retries = WIFI_CLOUD_MAX_RETRIES
            if not self.config.is_valid:
                self.config.last_error = int(ProvError.NONE)
                self.config.flags |= ConfigFlag.VALID
                self.config_save()
                self.client.send_meta("Hotspot Name", self.ssid)
        else:
            self.cloud_retries -= 1
            if self.cloud_retries <= 0:
                self.config_set_last_error(ProvError.CLOUD)
                self.set_state(EdgentState.ERROR)

    async def _running(self) -> None:
        while self.state is EdgentState.RUNNING:
            if not self.client.connected:
                up = self._link is not None and self._link.is_up
                self.set_state(EdgentState.CONNECTING_CLOUD if up else EdgentState.CONNECTING_NET)
                return
            if self._link is None or not self._link.is_up:
                await self.client.disconnect()
                self.set_state(EdgentState.CONNECTING_NET)
                return
            await self._tick(0.1)

    def _reset_config(self) -> None:
        self.log("Resetting configuration!")
        self.config = ConfigBlob.defaults(self.profile.fw_version)
        self.config_save()
        self.set_state(EdgentState.WAIT_CONFIG)

    async def _error(self) -> None:
        deadline = self.clock.now() + ERROR_REBOOT_DELAY_S
        while self.clock.now() < deadline or self.button_pressed:
            await self._tick(0.1)
            if self.state is not EdgentState.ERROR:
                return
        self.log("Restarting after error.")
        await self.clock.sleep(0.01)
        self.restart()

    # --- SoftAP web server ----------------------------------------------------------------------
    def board_info(self) -> api.BoardInfo:
        return api.BoardInfo(
            board=self.profile.template_name,
            tmpl_id=self.profile.template_id,
            fw_type=self.profile.firmware_type,
            fw_ver=self.profile.fw_version,
            ssid=self.ssid,
            bssid=format_mac(self.softap_mac),
            mac=format_mac(self.mac),
            last_error=self.config.last_error,
        )

    async def _handle_http(self, request: HttpRequest) -> api.HttpReply | CloseWithoutReply:
        path = request.path
        if path == "/board_info.json":
            self.log("Sending board info...")
            self.set_state(EdgentState.CONFIGURING)
            return api.HttpReply(200, "application/json", self.board_info().render())
        if path == "/wifi_scan.json":
            return await self._wifi_scan()
        if path == "/config":
            return self._apply_config(request.args)
        if path == "/reset":
            self.set_state(EdgentState.RESET_CONFIG)
            return api.HttpReply(200, "application/json", api.RESET_OK)
        if path == "/reboot":
            self.restart()
            return CLOSE_WITHOUT_REPLY
        if path == "/":
            return api.HttpReply(200, "text/html", api.config_form_html())
        if path == "/update" and request.method == "GET":
            return api.HttpReply(200, "text/html", api.update_form_html())
        return api.not_found(path)

    async def _wifi_scan(self) -> api.HttpReply:
        self.log("Scanning networks...")
        own = self.radio.ap
        seen = [ap for ap in await self.station.scan() if own is None or ap.bssid != own.bssid]
        self.log(f"Found networks: {len(seen)}")
        entries = [api.ScanEntry(ap.ssid, ap.bssid, ap.rssi, ap.security.value, ap.channel) for ap in seen]
        return api.HttpReply(200, "application/json", api.render_wifi_scan(entries))

    def _apply_config(self, args: dict[str, str]) -> api.HttpReply:
        request = api.parse_config_args(args)
        self.log("Applying configuration...")
        self.log(f"WiFi SSID: {request.ssid} Pass: {request.password}")
        self.log(f"Blynk cloud: {request.token} @ {args.get('host', '')}:{args.get('port_ssl', '')}")
        reply = api.config_reply(request)
        if not request.valid:
            self.log("Configuration invalid")
            return reply
        config = ConfigBlob.defaults(self.profile.fw_version)
        config.wifi_ssid = request.ssid
        config.wifi_pass = request.password
        config.cloud_token = request.token
        if request.host is not None:
            config.cloud_host = request.host
        if request.port_ssl is not None:
            config.cloud_port = request.port_ssl
        if request.static_ip is not None:
            config.flags |= ConfigFlag.STATIC_IP
            ip = request.static_ip
            config.static_ip = ip.ip or config.static_ip
            config.static_mask = ip.mask or config.static_mask
            config.static_gw = ip.gw or config.static_gw
            config.static_dns = ip.dns or config.static_dns
            config.static_dns2 = ip.dns2 or config.static_dns2
        self.config = config
        if request.save:
            self.config.flags |= ConfigFlag.VALID
            self.config_save()

        def switch() -> None:  # after the reply is on the wire, as the sketch does it
            self.net_retries = self.cloud_retries = 1
            self.set_state(EdgentState.SWITCH_TO_STA)

        asyncio.get_running_loop().call_soon(switch)
        return reply
