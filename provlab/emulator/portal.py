"""The SoftAP's web pages (`ConfigMode.h`, spec §2.3): `/board_info.json`, `/wifi_scan.json`, `/config`,
`/reset`, `/reboot`, `/update`, `/` and 404, answered for any method, byte-exact, on behalf of one board."""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Protocol

from provlab.emulator.http_update import UpdateSession, UploadError, parse_uploads, run_upload
from provlab.emulator.settings import HTTP_UPDATE_REBOOT_DELAY_S
from provlab.emulator.softap_http import (
    CLOSE_WITHOUT_REPLY,
    CloseWithoutReply,
    HandlerResult,
    HttpRequest,
    ReplyThen,
    StreamedReply,
)
from provlab.emulator.transitions import CONFIG_MODE, Trigger
from provlab.protocol import edgent_http as api
from provlab.protocol.config_blob import ConfigBlob, ConfigFlag
from provlab.protocol.ssid import format_mac
from provlab.protocol.states import EdgentState as S

if TYPE_CHECKING:
    from provlab.emulator.defects import Behaviour
    from provlab.emulator.profile import FirmwareProfile
    from provlab.wifi.backend import AccessPoint


class PortalFirmware(Protocol):
    """Everything the SoftAP pages may read of, or ask of, the firmware that serves them (reads are read-only)."""

    @property
    def powered(self) -> bool: ...
    @property
    def state(self) -> S: ...
    @property
    def serving(self) -> bool: ...
    @property
    def profile(self) -> FirmwareProfile: ...
    @property
    def behaviour(self) -> Behaviour: ...
    @property
    def ssid(self) -> str: ...
    @property
    def mac(self) -> bytes: ...
    @property
    def softap_mac(self) -> bytes: ...
    @property
    def last_error(self) -> int: ...
    @property
    def cached_scan(self) -> bytes | None: ...

    def log(self, text: str) -> None: ...
    def write_serial(self, text: str) -> None: ...
    async def scan_networks(self) -> list[AccessPoint]: ...

    def start_configuring(self, trigger: Trigger) -> None: ...
    def stop_serving(self) -> None: ...
    def config_acceptable(self, config: ConfigBlob) -> bool: ...
    def apply_config(self, config: ConfigBlob, *, save: bool = False) -> None: ...
    def leave_config_mode(self, trigger: Trigger) -> None: ...
    def erase_config(self, trigger: Trigger) -> None: ...
    def request_restart(self, trigger: Trigger, after_s: float | None = None) -> None: ...
    def install_app(self, image: bytes) -> None: ...
    def restart_after_update(self, trigger: Trigger, after_s: float) -> None: ...


class ConfigPortal:
    """The handlers `enterConfigMode()` registers on `WebServer server(80)`."""

    def __init__(self, firmware: PortalFirmware) -> None:
        self.firmware = firmware

    def board_info(self) -> api.BoardInfo:
        fw = self.firmware
        info = api.BoardInfo(
            board=fw.profile.template_name,
            tmpl_id=fw.profile.template_id,
            fw_type=fw.profile.firmware_type,
            fw_ver=fw.profile.fw_version,
            ssid=fw.ssid,
            bssid=format_mac(fw.softap_mac),
            mac=format_mac(fw.mac),
            last_error=fw.last_error,
        )
        return fw.behaviour.board_info(info)

    async def handle(self, request: HttpRequest) -> HandlerResult:
        fw = self.firmware
        if fw.state not in CONFIG_MODE or not fw.powered or not fw.serving:
            return CLOSE_WITHOUT_REPLY  # server.stop(): the loop that serviced it has ended
        result = await self._route(request)
        return fw.behaviour.http_reply(result) if isinstance(result, api.HttpReply) else result

    async def _route(self, request: HttpRequest) -> HandlerResult:
        fw = self.firmware
        path = request.path
        if path == "/board_info.json":
            fw.start_configuring(Trigger.BOARD_INFO_REQUESTED)
            fw.log("Sending board info...")
            return api.HttpReply(200, api.JSON, self.board_info().render(fw.profile.family.board_info_extra))
        if path == "/wifi_scan.json":
            return await self._wifi_scan()
        if path == "/config":
            return self._apply_config(request.args if fw.behaviour.reads_form_body() else request.query_args)
        if path == "/reset":
            if fw.behaviour.http_reset_erases():
                fw.stop_serving()
                fw.erase_config(Trigger.HTTP_RESET)
            return api.reset_reply()
        if path == "/reboot":
            fw.stop_serving()
            fw.request_restart(Trigger.HTTP_REBOOT)
            return CLOSE_WITHOUT_REPLY
        if path == "/":
            return api.root_reply()
        family = fw.profile.family
        if path == "/update" and family.update_page is not None:
            return family.update_page(fw, request)
        if path == "/update" and not family.builtin_update_page:
            return api.not_found(path)
        if path == "/update" and request.method == "GET":
            return api.update_form_reply()
        if path == "/update" and request.method == "POST":
            return self._http_update(request)
        return api.not_found(path)

    async def _wifi_scan(self) -> api.HttpReply | StreamedReply:
        fw = self.firmware
        style = fw.profile.family.scan
        if style.before_ap:  # Wio: the string scanned when config mode began, no log lines now
            return api.HttpReply(200, api.JSON, fw.cached_scan if fw.cached_scan is not None else b"[]")
        pieces = await self._scan_pieces()
        if style.streamed and pieces != [b"[]"]:
            return StreamedReply(200, api.JSON, tuple(pieces))
        return api.HttpReply(200, api.JSON, b"".join(pieces))

    async def scan_for_page(self) -> bytes:
        """`scanNetworks()` as the Wio sketch runs it when config mode begins: logged, rendered, kept."""
        return b"".join(await self._scan_pieces())

    async def _scan_pieces(self) -> list[bytes]:
        fw = self.firmware
        fw.log("Scanning networks...")
        seen = await fw.scan_networks()
        fw.log(f"Found networks: {len(seen)}")
        return fw.behaviour.wifi_scan_pieces([fw.profile.family.scan.entry(ap) for ap in seen])

    def _apply_config(self, raw_args: dict[str, str]) -> api.HttpReply | ReplyThen:
        fw = self.firmware
        args = fw.behaviour.config_args(raw_args)
        request = api.parse_config_args(args)
        ssid_text = args.get("ssidManual") or args.get("ssid", "")
        fw.log("Applying configuration...")
        fw.log(f"WiFi SSID: {ssid_text} Pass: {args.get('pass', '')}")
        fw.log(f"Blynk cloud: {args.get('blynk', '')} @ {args.get('host', '')}:{args.get('port_ssl', '')}")
        config = ConfigBlob.defaults(fw.profile.fw_version)
        config.wifi_ssid = request.ssid
        config.wifi_pass = request.password
        config.cloud_token = request.token
        if request.host is not None:
            config.cloud_host = request.host
        if request.port_ssl is not None:
            config.cloud_port = request.port_ssl
        zero = IPv4Address(0)
        fields = request.ip_fields
        config.static_ip = fields.ip or zero
        config.static_mask = fields.mask or zero
        config.static_gw = fields.gw or zero
        config.static_dns = fields.dns or zero
        config.static_dns2 = fields.dns2 or zero
        if request.static_ip is not None:
            config.flags |= ConfigFlag.STATIC_IP
        if not fw.config_acceptable(config):
            fw.log("Configuration invalid")
            return api.HttpReply(500, api.JSON, api.CONFIG_INVALID)
        fw.stop_serving()  # one /config wins: the loop ends once it has replied (spec §1.4)
        fw.apply_config(config, save=request.save)
        body = api.CONFIG_SAVED if request.save else api.CONFIG_TRYING

        def switch() -> None:  # after the reply is on the wire, as the sketch does it
            fw.leave_config_mode(Trigger.VALID_CONFIG)

        return ReplyThen(api.HttpReply(200, api.JSON, body), switch)

    def _http_update(self, request: HttpRequest) -> api.HttpReply | ReplyThen | CloseWithoutReply:
        """POST `/update`: every file part goes through `Update`, whatever its field name; `OK` unless `Update`
        has an error (so also for a POST with no file part at all), then the reboot 1 s later."""
        fw = self.firmware
        try:
            uploads = parse_uploads(request.content_type, request.body)
        except UploadError:
            return CLOSE_WITHOUT_REPLY  # WebServer's `_parseForm()` failed: the request is dropped unanswered
        update = UpdateSession()
        for upload in uploads:
            image = run_upload(update, upload, fw.write_serial, fw.log)
            if image is not None:
                fw.install_app(image)
        return ReplyThen(api.update_result_reply(not update.error), self._reboot_after_update)

    def _reboot_after_update(self) -> None:
        self.firmware.restart_after_update(Trigger.HTTP_UPDATE, HTTP_UPDATE_REBOOT_DELAY_S)
