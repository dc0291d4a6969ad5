"""The SoftAP's web pages (`ConfigMode.h`, spec §2.3): `/board_info.json`, `/wifi_scan.json`, `/config`,
`/reset`, `/reboot`, `/update`, `/` and 404, answered for any method, byte-exact, on behalf of one board."""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import TYPE_CHECKING

from provlab.emulator.http_update import UploadError, install_upload, parse_upload
from provlab.emulator.settings import HTTP_UPDATE_REBOOT_DELAY_S
from provlab.emulator.softap_http import CLOSE_WITHOUT_REPLY, CloseWithoutReply, HttpRequest, ReplyThen
from provlab.emulator.transitions import CONFIG_MODE, REBOOT, Trigger
from provlab.protocol import edgent_http as api
from provlab.protocol.config_blob import ConfigBlob, ConfigFlag
from provlab.protocol.ssid import format_mac
from provlab.protocol.states import EdgentState as S

if TYPE_CHECKING:
    from provlab.emulator.board import EmulatedBoard


class ConfigPortal:
    """The handlers `enterConfigMode()` registers on `WebServer server(80)`."""

    def __init__(self, board: EmulatedBoard) -> None:
        self.board = board

    def board_info(self) -> api.BoardInfo:
        board = self.board
        return api.BoardInfo(
            board=board.profile.template_name,
            tmpl_id=board.profile.template_id,
            fw_type=board.profile.firmware_type,
            fw_ver=board.profile.fw_version,
            ssid=board.ssid,
            bssid=format_mac(board.softap_mac),
            mac=format_mac(board.mac),
            last_error=board.config.last_error,
        )

    async def handle(self, request: HttpRequest) -> api.HttpReply | ReplyThen | CloseWithoutReply:
        board = self.board
        if board.state not in CONFIG_MODE or not board.powered or not board.serving:
            return CLOSE_WITHOUT_REPLY  # server.stop(): the loop that serviced it has ended
        path = request.path
        if path == "/board_info.json":
            if board.state is S.WAIT_CONFIG:
                board.transition(Trigger.BOARD_INFO_REQUESTED, S.CONFIGURING)
            board.log("Sending board info...")
            return api.HttpReply(200, api.JSON, self.board_info().render())
        if path == "/wifi_scan.json":
            return await self._wifi_scan()
        if path == "/config":
            return self._apply_config(request.args)
        if path == "/reset":
            board.serving = False
            board.transition(Trigger.HTTP_RESET, S.RESET_CONFIG)
            return api.reset_reply()
        if path == "/reboot":
            board.serving = False
            board.transition(Trigger.HTTP_REBOOT, REBOOT)
            return CLOSE_WITHOUT_REPLY
        if path == "/":
            return api.root_reply()
        if path == "/update" and request.method == "GET":
            return api.update_form_reply()
        if path == "/update" and request.method == "POST":
            return self._http_update(request)
        return api.not_found(path)

    async def _wifi_scan(self) -> api.HttpReply:
        board = self.board
        board.log("Scanning networks...")
        own = board.radio.ap
        seen = [ap for ap in await board.station.scan() if own is None or ap.bssid != own.bssid]
        board.log(f"Found networks: {len(seen)}")
        entries = [api.ScanEntry(ap.ssid, ap.bssid, ap.rssi, ap.security.value, ap.channel) for ap in seen]
        return api.wifi_scan_reply(entries)

    def _apply_config(self, raw_args: dict[str, str]) -> api.HttpReply | ReplyThen:
        board = self.board
        args = board.behaviour.config_args(raw_args)
        request = api.parse_config_args(args)
        ssid_text = args.get("ssidManual") or args.get("ssid", "")
        board.log("Applying configuration...")
        board.log(f"WiFi SSID: {ssid_text} Pass: {args.get('pass', '')}")
        board.log(f"Blynk cloud: {args.get('blynk', '')} @ {args.get('host', '')}:{args.get('port_ssl', '')}")
        config = ConfigBlob.defaults(board.profile.fw_version)
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
        board.behaviour.before_validation(board, config)
        valid = board.behaviour.token_acceptable(request.token) and bool(request.ssid)
        if not valid:
            board.log("Configuration invalid")
            return api.HttpReply(500, api.JSON, api.CONFIG_INVALID)
        board.serving = False  # one /config wins: the loop ends once it has replied (spec §1.4)
        board.config = config
        if request.save:
            board.config.flags |= ConfigFlag.VALID
            board.config_save()
        body = api.CONFIG_SAVED if request.save else api.CONFIG_TRYING

        def switch() -> None:  # after the reply is on the wire, as the sketch does it
            if board.state in CONFIG_MODE and board.powered:
                board.net_retries = board.cloud_retries = 1
                board.transition(Trigger.VALID_CONFIG, S.SWITCH_TO_STA)

        return ReplyThen(api.HttpReply(200, api.JSON, body), switch)

    def _http_update(self, request: HttpRequest) -> api.HttpReply | ReplyThen:
        board = self.board
        try:
            upload = parse_upload(request.content_type, request.body)
        except UploadError:
            return ReplyThen(api.update_result_reply(False), self._reboot_after_update)
        ok = install_upload(upload, board.write_serial, board.log)
        if ok:
            board.flash.write_app(upload.data)
        return ReplyThen(api.update_result_reply(ok), self._reboot_after_update)

    def _reboot_after_update(self) -> None:
        board = self.board

        def reboot() -> None:
            if board.state in CONFIG_MODE:
                board.transition(Trigger.HTTP_UPDATE, REBOOT)
            else:
                board.restart()

        board.later(HTTP_UPDATE_REBOOT_DELAY_S, reboot)
