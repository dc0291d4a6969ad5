"""Table-driven: every row of the spec's §1.3–§1.4 state table, driven through the board's real interfaces."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from devrig import (
    CLOUD_HOST,
    HOME_PASS,
    HOME_SSID,
    TOKEN,
    Connection,
    FileServer,
    MiniCloud,
    Rig,
    http,
    join_ap,
    provision,
    run,
    start_rig,
)

from provlab.emulator.defects import Behaviour
from provlab.emulator.serial_port import MemorySerial
from provlab.emulator.transitions import TRANSITIONS, IllegalTransition, Transition, Trigger, check
from provlab.protocol.commands import Command, Status
from provlab.protocol.config_blob import ConfigBlob, ConfigFlag
from provlab.protocol.edgent_http import BoardInfo
from provlab.protocol.firmware_image import build_app_image, md5_hex
from provlab.protocol.frames import Frame
from provlab.protocol.internal import ota_body
from provlab.protocol.states import EdgentState as S

Scenario = Callable[[Path], Awaitable[Rig]]


def type_line(rig: Rig, line: str) -> None:
    serial = rig.board.serial
    assert isinstance(serial, MemorySerial)
    serial.inject(line.encode() + b"\r")


def store_valid_config(tmp: Path, port: int, *, ssid: str = HOME_SSID, token: str = TOKEN) -> None:
    config = ConfigBlob.defaults("0.1.0")
    config.flags |= ConfigFlag.VALID
    config.wifi_ssid, config.wifi_pass, config.cloud_token = ssid, HOME_PASS, token
    config.cloud_host, config.cloud_port = CLOUD_HOST, port
    (tmp / "board.nvs").write_bytes(config.pack())


async def running_rig(tmp: Path, cloud: MiniCloud, firmware: str = "edgent-esp32") -> Rig:
    port = await cloud.start()
    rig = await start_rig(tmp, firmware=firmware)
    await provision(rig, port)
    await rig.wait_state(S.RUNNING)
    return rig


async def board_info(rig: Rig) -> BoardInfo:
    await rig.wait_ap()
    station, link = await join_ap(rig, "reader")
    reply = await http(link, "GET", "/board_info.json")
    await station.leave()
    assert reply is not None
    return BoardInfo.parse(reply.body, strict=True)


# --- one scenario per trigger -----------------------------------------------------------------------


async def boot_unconfigured(tmp: Path) -> Rig:
    rig = await start_rig(tmp)
    await rig.wait_log("INIT => WAIT_CONFIG")
    return rig


async def boot_configured(tmp: Path) -> Rig:
    store_valid_config(tmp, 1)
    rig = await start_rig(tmp)
    await rig.wait_log("INIT => CONNECTING_NET")
    assert "Token:     AAAA - •••• - •••• - ••••" in rig.capture.text
    return rig


async def board_info_requested(tmp: Path) -> Rig:
    rig = await start_rig(tmp)
    await rig.wait_ap()
    _, link = await join_ap(rig)
    reply = await http(link, "GET", "/board_info.json")
    assert reply is not None and reply.status == 200
    assert rig.board.state is S.CONFIGURING
    await rig.wait_log("Sending board info...")
    return rig


async def last_station_left(tmp: Path) -> Rig:
    rig = await board_info_requested(tmp)
    mark = rig.mark()
    await rig.stations["phone"].leave()
    await rig.wait_state(S.WAIT_CONFIG, after=mark)
    return rig


async def valid_config(tmp: Path) -> Rig:
    cloud = MiniCloud(login_status=None)
    port = await cloud.start()
    rig = await start_rig(tmp)
    reply = await provision(rig, port)
    assert (reply.status, reply.body) == (200, b'{"status":"ok","msg":"Trying to connect..."}')
    await rig.wait_state(S.SWITCH_TO_STA)
    assert (rig.board.net_retries, rig.board.cloud_retries) == (1, 1)
    await rig.shutdown()
    await cloud.stop()
    return rig


async def http_reset(tmp: Path) -> Rig:
    rig = await start_rig(tmp)
    await rig.wait_ap()
    _, link = await join_ap(rig)
    reply = await http(link, "POST", "/reset")
    assert reply is not None
    assert (reply.status, reply.body) == (200, b'{"status":"ok","msg":"Configuration reset"}')
    await rig.wait_log("Resetting configuration!")
    return rig


async def http_reboot(tmp: Path) -> Rig:
    rig = await start_rig(tmp)
    await rig.wait_ap()
    _, link = await join_ap(rig)
    assert await http(link, "GET", "/reboot") is None  # the connection closes without a reply
    await rig.wait_log("INIT => WAIT_CONFIG", count=2)
    assert rig.board.boots == 2
    return rig


async def http_update(tmp: Path) -> Rig:
    rig = await start_rig(tmp)
    await rig.wait_ap()
    _, link = await join_ap(rig)
    info = {"mcu": "0.2.0", "fw-type": "TMPL0TEST01", "build": "Dec  1 2026 10:00:00"}
    image = build_app_image("0.2.0", info, code_size=5000)
    boundary = "XyZ"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="update"; filename="fw.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    reply = await http(link, "POST", "/update", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert reply is not None and (reply.status, reply.body) == (200, b"OK")
    assert reply.headers["content-type"] == "text/plain"
    await rig.wait_log("Update: fw.bin")
    await rig.wait_log("INIT => WAIT_CONFIG", count=2)
    assert "\r\n....\r\n" in rig.capture.text  # one dot per 1436-byte chunk
    assert (await board_info(rig)).fw_ver == "0.2.0"
    return rig


async def button_held(tmp: Path) -> Rig:
    store_valid_config(tmp, 1, ssid="Nowhere")
    rig = await start_rig(tmp)
    await rig.wait_state(S.CONNECTING_NET)
    await rig.board.hold_button(10.5)
    await rig.wait_state(S.RESET_CONFIG)
    await rig.wait_log("Resetting configuration!")
    assert not ConfigBlob.unpack((tmp / "board.nvs").read_bytes()).is_valid
    return rig


async def console_config(tmp: Path) -> Rig:
    store_valid_config(tmp, 1, ssid="Nowhere")
    rig = await start_rig(tmp)
    await rig.wait_state(S.CONNECTING_NET)
    type_line(rig, "config start")
    await rig.wait_state(S.WAIT_CONFIG)
    await rig.wait_ap()
    return rig


async def console_config_erase(tmp: Path) -> Rig:
    store_valid_config(tmp, 1, ssid="Nowhere")
    rig = await start_rig(tmp)
    await rig.wait_state(S.CONNECTING_NET)
    type_line(rig, "config erase")
    await rig.wait_state(S.RESET_CONFIG)
    await rig.wait_state(S.WAIT_CONFIG)
    return rig


async def console_connect(tmp: Path) -> Rig:
    rig = await start_rig(tmp)
    await rig.wait_state(S.WAIT_CONFIG)
    type_line(rig, f"connect {TOKEN} {HOME_SSID} {HOME_PASS}")
    await rig.wait_state(S.SWITCH_TO_STA)
    assert '{"status":"OK","msg":"trying to connect..."}\n' in rig.capture.text
    assert rig.board.net_retries == 500
    return rig


async def console_reboot(tmp: Path) -> Rig:
    rig = await start_rig(tmp)
    await rig.wait_state(S.WAIT_CONFIG)
    type_line(rig, "reboot")
    await rig.wait_log("INIT => WAIT_CONFIG", count=2)
    assert '{"status":"OK","msg":"rebooting wifi module"}\n' in rig.capture.text
    return rig


async def ap_off(tmp: Path) -> Rig:
    rig = await start_rig(tmp)
    await provision(rig, 1)
    await rig.wait_state(S.SWITCH_TO_STA)
    assert rig.air.find(rig.board.ssid) is not None  # the AP is still there for ~1.1 s
    await rig.wait_state(S.CONNECTING_NET)
    assert rig.air.find(rig.board.ssid) is None
    await rig.wait_log("Switching to STA...")
    return rig


class RefusesStaticIp(Behaviour):
    """An esp_netif call failing inside `WiFi.config()`: nothing the faithful firmware's inputs provoke."""

    def static_ip_configurable(self, config: ConfigBlob) -> bool:
        return False


async def static_ip_failed(tmp: Path) -> Rig:
    cloud = MiniCloud()
    port = await cloud.start()
    rig = await start_rig(tmp)
    rig.board.firmware.behaviour = RefusesStaticIp()
    await provision(rig, port, ip="192.168.1.50", mask="255.0.255.0", gw="192.168.1.1")
    await rig.wait_log("Failed to configure Static IP")
    await rig.wait_log("Last error code: 700")
    await rig.wait_state(S.ERROR)
    return rig


async def net_connected(tmp: Path) -> Rig:
    cloud = MiniCloud()
    rig = await running_rig(tmp, cloud)
    assert "Using Dynamic IP: 192.168.1." in rig.capture.text
    assert rig.board.net_retries == 500
    return rig


async def net_timeout_retry(tmp: Path) -> Rig:
    rig = await start_rig(tmp)
    await rig.wait_state(S.WAIT_CONFIG)
    type_line(rig, f"connect {TOKEN} Nowhere secret")
    await rig.wait_log("Connecting to WiFi: Nowhere", count=2)
    assert rig.board.state is S.CONNECTING_NET and rig.board.net_retries < 500
    return rig


async def net_timeout_exhausted(tmp: Path) -> Rig:
    cloud = MiniCloud()
    port = await cloud.start()
    rig = await start_rig(tmp)
    reply = await provision(rig, port, token=TOKEN, ssidManual="Nowhere")
    assert reply.status == 200
    await rig.wait_log("Last error code: 701")
    await rig.wait_state(S.ERROR)
    assert cloud.logins == 0  # the issued token is never used
    return rig


async def cloud_connected(tmp: Path) -> Rig:
    cloud = MiniCloud()
    rig = await running_rig(tmp, cloud)
    await rig.wait_log("Configuration stored to flash")
    await cloud.wait(lambda: any(f.body.startswith(b"meta\0set\0Hotspot Name\0") for f in cloud.frames))
    assert ConfigBlob.unpack((tmp / "board.nvs").read_bytes()).is_valid
    return rig


async def token_invalid(tmp: Path) -> Rig:
    cloud = MiniCloud(login_status=Status.INVALID_TOKEN)
    port = await cloud.start()
    rig = await start_rig(tmp)
    await provision(rig, port)
    await rig.wait_log("Invalid auth token")
    await rig.wait_log("Last error code: 703")
    await rig.wait_state(S.WAIT_CONFIG, after=3)
    assert (await board_info(rig)).last_error == 703
    return rig


async def net_lost_connecting(tmp: Path) -> Rig:
    cloud = MiniCloud(login_status=None)  # a silent cloud keeps the board in CONNECTING_CLOUD
    port = await cloud.start()
    rig = await start_rig(tmp)
    await provision(rig, port)
    await rig.wait_state(S.CONNECTING_CLOUD)
    mark = rig.mark()
    rig.air.remove_network(rig.home)
    await rig.wait_state(S.CONNECTING_NET, after=mark)
    return rig


async def cloud_timeout_retry(tmp: Path) -> Rig:
    rig = await start_rig(tmp)
    await rig.wait_state(S.WAIT_CONFIG)
    # `connect` keeps the default blynk.cloud:443, where nothing listens: every attempt is refused.
    type_line(rig, f"connect {TOKEN} {HOME_SSID} {HOME_PASS}")
    await rig.wait_log("Timeout", count=2)
    assert rig.board.state is S.CONNECTING_CLOUD and rig.board.cloud_retries <= 498
    return rig


async def cloud_timeout_exhausted(tmp: Path) -> Rig:
    cloud = MiniCloud(login_status=None)
    port = await cloud.start()
    rig = await start_rig(tmp)
    await provision(rig, port)
    await rig.wait_log("Timeout")
    await rig.wait_log("Last error code: 702")
    await rig.wait_state(S.ERROR)
    return rig


async def cloud_lost(tmp: Path) -> Rig:
    cloud = MiniCloud()
    rig = await running_rig(tmp, cloud)
    mark = rig.mark()
    current = cloud.current
    assert current is not None
    current.writer.close()
    await rig.wait_state(S.CONNECTING_CLOUD, after=mark)
    await rig.wait_state(S.RUNNING, after=mark)
    return rig


async def net_lost_running(tmp: Path) -> Rig:
    cloud = MiniCloud()
    rig = await running_rig(tmp, cloud)
    mark = rig.mark()
    rig.air.remove_network(rig.home)
    await rig.wait_state(S.CONNECTING_NET, after=mark)
    return rig


async def _ota(tmp: Path, server: FileServer, firmware: str = "edgent-esp32") -> Rig:
    url_port = await server.start()
    pushed: list[bool] = []

    async def push_ota(cloud: MiniCloud, conn: Connection) -> None:
        if not pushed:
            pushed.append(True)
            conn.send(Frame(Command.INTERNAL, 77, ota_body(f"http://ota.example:{url_port}/fw.bin")))

    cloud = MiniCloud(on_login=push_ota)
    rig = await running_rig(tmp, cloud, firmware)
    await rig.wait_state(S.OTA_UPGRADE)
    await cloud.wait(lambda: any(f.body == b"sys_ota\0OTA started" for f in cloud.of(Command.EVENT_LOG)))
    await rig.wait_log("Disconnected")
    return rig


async def ota_requested(tmp: Path) -> Rig:
    image = build_app_image("0.3.0")
    return await _ota(tmp, FileServer(200, image))


async def ota_succeeded(tmp: Path) -> Rig:
    image = build_app_image("0.3.0", {"mcu": "0.3.0", "build": "Dec  2 2026 11:00:00"}, code_size=9000)
    headers = {"Content-Length": str(len(image)), "x-MD5": md5_hex(image)}
    rig = await _ota(tmp, FileServer(200, image, headers))
    await rig.wait_log("=== Update successfully completed. Rebooting.")
    await rig.wait_log("INIT => CONNECTING_NET")
    texts = rig.capture.log_texts()
    start = texts.index("RUNNING => OTA_UPGRADE")
    url = next(t for t in texts[start:] if t.startswith("Firmware update URL: "))
    assert url.startswith("Firmware update URL: http://ota.example:")
    assert texts[start - 1 : start + 4] == [  # OTA.h: the timer disconnects before the state changes
        "Disconnected",
        "RUNNING => OTA_UPGRADE",
        url,
        f"Expected MD5: {md5_hex(image)}",
        "=== Update successfully completed. Rebooting.",
    ]
    await rig.wait_state(S.RUNNING, after=rig.states.index(S.OTA_UPGRADE))
    assert rig.board.profile.fw_version == "0.3.0"
    assert b"mcu\x000.3.0\x00" in rig.board.client.info_body
    return rig


async def ota_failed(tmp: Path) -> Rig:
    rig = await _ota(tmp, FileServer(404, b"nope"))
    await rig.wait_log("HTTP response should be 200")
    await rig.wait_state(S.ERROR)
    return rig


async def ota_fatal(tmp: Path) -> Rig:
    """ESP8266 (and Wio): `OTA_FATAL` logs, waits a second and restarts; no ERROR state in between."""
    rig = await _ota(tmp, FileServer(200, b"", {}), firmware="edgent-esp8266")
    await rig.wait_log("Content-Length not defined")
    await rig.wait_log("INIT => CONNECTING_NET")
    assert S.ERROR not in rig.states
    return rig


async def config_reset_done(tmp: Path) -> Rig:
    rig = await http_reset(tmp)
    await rig.wait_state(S.WAIT_CONFIG, after=rig.states.index(S.RESET_CONFIG))
    assert ConfigBlob.unpack((tmp / "board.nvs").read_bytes()) == ConfigBlob.defaults("0.1.0")
    return rig


async def error_timeout(tmp: Path) -> Rig:
    rig = await net_timeout_exhausted(tmp)
    await rig.wait_log("Restarting after error.")
    await rig.wait_log("INIT => WAIT_CONFIG", count=2)
    assert (await board_info(rig)).last_error == 701
    return rig


SCENARIOS: dict[Trigger, Scenario] = {
    Trigger.BOOT_UNCONFIGURED: boot_unconfigured,
    Trigger.BOOT_CONFIGURED: boot_configured,
    Trigger.BOARD_INFO_REQUESTED: board_info_requested,
    Trigger.LAST_STATION_LEFT: last_station_left,
    Trigger.VALID_CONFIG: valid_config,
    Trigger.HTTP_RESET: http_reset,
    Trigger.HTTP_REBOOT: http_reboot,
    Trigger.HTTP_UPDATE: http_update,
    Trigger.BUTTON_HELD_10S: button_held,
    Trigger.CONSOLE_CONFIG: console_config,
    Trigger.CONSOLE_CONFIG_ERASE: console_config_erase,
    Trigger.CONSOLE_CONNECT: console_connect,
    Trigger.CONSOLE_REBOOT: console_reboot,
    Trigger.AP_OFF: ap_off,
    Trigger.STATIC_IP_FAILED: static_ip_failed,
    Trigger.NET_CONNECTED: net_connected,
    Trigger.NET_TIMEOUT_RETRY: net_timeout_retry,
    Trigger.NET_TIMEOUT_EXHAUSTED: net_timeout_exhausted,
    Trigger.CLOUD_CONNECTED: cloud_connected,
    Trigger.TOKEN_INVALID: token_invalid,
    Trigger.NET_LOST_CONNECTING: net_lost_connecting,
    Trigger.CLOUD_TIMEOUT_RETRY: cloud_timeout_retry,
    Trigger.CLOUD_TIMEOUT_EXHAUSTED: cloud_timeout_exhausted,
    Trigger.CLOUD_LOST: cloud_lost,
    Trigger.NET_LOST_RUNNING: net_lost_running,
    Trigger.OTA_REQUESTED: ota_requested,
    Trigger.OTA_SUCCEEDED: ota_succeeded,
    Trigger.OTA_FAILED: ota_failed,
    Trigger.OTA_FATAL: ota_fatal,
    Trigger.CONFIG_RESET_DONE: config_reset_done,
    Trigger.ERROR_TIMEOUT: error_timeout,
}


def test_every_row_of_the_table_has_a_scenario() -> None:
    assert set(SCENARIOS) == {row.trigger for row in TRANSITIONS}


@pytest.mark.parametrize("row", TRANSITIONS, ids=lambda row: row.trigger.name)
def test_transition(row: Transition, tmp_path: Path) -> None:
    async def body() -> None:
        rig = await SCENARIOS[row.trigger](tmp_path)
        try:
            taken = [r for r in rig.board.history if r.trigger is row.trigger]
            assert taken, f"{row} was never taken; history: {list(rig.board.history)}"
            assert all(r.source in row.sources and r.target == row.target for r in taken)
            if isinstance(row.target, S) and row.target not in row.sources:
                assert f"{taken[0].source.value} => {row.target.value}" in rig.capture.log_texts()
        finally:
            await rig.shutdown()

    run(body())


def test_a_transition_outside_the_table_is_refused() -> None:
    with pytest.raises(IllegalTransition, match=re.escape("RUNNING --[GET /board_info.json]--> CONFIGURING")):
        check(S.RUNNING, Trigger.BOARD_INFO_REQUESTED, S.CONFIGURING)
