"""Golden tests of the board families (issue #16): edgent-esp8266 and edgent-wio-terminal against their sketches.

Expected bytes and lines are written out from `examples/Blynk.Edgent/Edgent_ESP8266/*` and
`Edgent_Wio_Terminal/*` (blynk-library 1.4.0) and the spec's §2.2–§5, not computed by the code under test.
Everything runs through the board's real interfaces: HTTP over loopback sockets, the flash file, the serial.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import h11
import pytest
from devrig import (
    HOME_PASS,
    HOME_SSID,
    MAC,
    TOKEN,
    FileServer,
    MiniCloud,
    Rig,
    http,
    join_ap,
    provision,
    run,
    start_rig,
)

from provlab.emulator.banner import device_banner, logo_text
from provlab.emulator.families import esp8266, wio_terminal
from provlab.emulator.family import Feature
from provlab.emulator.flash import WriteModel
from provlab.emulator.indicator import LED_OFF
from provlab.emulator.profile import PROFILES
from provlab.emulator.serial_port import MemorySerial
from provlab.emulator.softap_http import StreamedReply, render_streamed
from provlab.protocol.config_blob import ConfigBlob, ConfigFlag
from provlab.protocol.edgent_http import BoardInfo, wifi_scan_pieces
from provlab.protocol.firmware_image import build_image, md5_hex
from provlab.protocol.frames import Frame
from provlab.protocol.internal import ota_body
from provlab.protocol.ssid import softap_ssid
from provlab.protocol.states import EdgentState as S
from provlab.wifi.backend import AccessPoint, Security

ESP8266 = "edgent-esp8266"
WIO = "edgent-wio-terminal"
RULE = "-" * 52


def type_line(rig: Rig, line: str) -> None:
    serial = rig.board.serial
    assert isinstance(serial, MemorySerial)
    serial.inject(line.encode() + b"\r")


# --- banner and SSID ----------------------------------------------------------------------------------


def test_esp8266_banner_has_boot_ver_and_esp_core_rows() -> None:
    profile = PROFILES[ESP8266]()
    assert logo_text(profile).split("\r\n")[5] == "        /___/ v1.4.0 on ESP8266"
    assert device_banner(profile, "Blynk Device-W8FH", None) == "\r\n".join(
        [
            RULE,
            " Device:    Blynk Device-W8FH",
            " Firmware:  0.1.0 (build Nov 26 2026 03:29:17)",
            " Platform:  ESP8266 @ 80MHz",
            " Boot ver:  31",
            " SDK:       2.2.2-dev(38a443e)",
            " ESP Core:  3.1.2",
            " Flash:     4096K",
            " Free mem:  51496",
            RULE,
            "",
        ]
    )


def test_wio_banner_has_only_platform_and_wifi_fw() -> None:
    profile = PROFILES[WIO]()
    assert logo_text(profile).split("\r\n")[5] == "        /___/ v1.4.0 on Seeed Wio Terminal"
    banner = device_banner(profile, "Blynk Device-W8FH", TOKEN)
    assert banner.split("\r\n") == [
        RULE,
        " Device:    Blynk Device-W8FH",
        " Firmware:  0.1.0 (build Nov 26 2026 03:29:17)",
        " Token:     AAAA - •••• - •••• - ••••",
        " Platform:  Seeed Wio Terminal @ 120MHz",
        " WiFi FW:   2.1.2",
        RULE,
        "",
    ]


@pytest.mark.parametrize("name", [ESP8266, WIO])
def test_ssid_suffix_comes_from_the_six_byte_mac(name: str) -> None:
    """Spec §2.2: `unique32(mac)` of 24:6F:28:AA:BB:CC is 0x940152f1 -> `W8FH` (ESP32's 8-byte input gives 1W7R)."""
    profile = PROFILES[name]()
    assert softap_ssid(profile.template_name, MAC, profile.chip, profile.vendor_prefix) == "Blynk Device-W8FH"
    assert softap_ssid("Device", MAC, PROFILES["edgent-esp32"]().chip) == "Blynk Device-1W7R"


# --- /board_info.json and /wifi_scan.json ---------------------------------------------------------------

ESP8266_BOARD_INFO = (
    b'{"board":"Device","tmpl_id":"TMPL0TEST01","fw_type":"TMPL0TEST01","fw_ver":"0.1.0",'
    b'"ssid":"Blynk Device-W8FH","bssid":"24:6F:28:AA:BB:CD","mac":"24:6F:28:AA:BB:CC","last_error":0,'
    b'"wifi_scan":true,"static_ip":true}'
)
WIO_BOARD_INFO = ESP8266_BOARD_INFO[:-1] + b',"5ghz":true}'


@pytest.mark.parametrize(("name", "expected"), [(ESP8266, ESP8266_BOARD_INFO), (WIO, WIO_BOARD_INFO)])
def test_board_info_bytes_served_by_the_board(tmp_path: Path, name: str, expected: bytes) -> None:
    async def body() -> None:
        rig = await start_rig(tmp_path, firmware=name)
        await rig.wait_ap()
        _, link = await join_ap(rig)
        reply = await http(link, "GET", "/board_info.json")
        assert reply is not None and reply.status == 200
        assert reply.body == expected
        assert BoardInfo.parse(reply.body, strict=True).extra == ({"5ghz": True} if name == WIO else {})
        await rig.shutdown()

    run(body())


NETWORKS = [
    AccessPoint("Cafe", "02:00:00:00:00:0A", 11, -71, Security.WPA_WPA2),
    AccessPoint("Home", "02:00:00:00:00:0B", 6, -40, Security.WPA2),
    AccessPoint("", "02:00:00:00:00:0C", 1, -60, Security.WPA3),
]


def test_esp8266_scan_items_have_hidden_and_enc_type_names() -> None:
    pieces = wifi_scan_pieces(esp8266.FAMILY.scan.entry(ap) for ap in NETWORKS)
    assert pieces == [
        b"[\n",
        b'  {"ssid":"Home","bssid":"02:00:00:00:00:0B","rssi":-40,"sec":"WPA2","ch":6,"hidden":0}',
        b",\n",
        b'  {"ssid":"","bssid":"02:00:00:00:00:0C","rssi":-60,"sec":"unknown","ch":1,"hidden":1}',
        b",\n",
        b'  {"ssid":"Cafe","bssid":"02:00:00:00:00:0A","rssi":-71,"sec":"WPA+WPA2","ch":11,"hidden":0}',
        b"\n]",
    ]


def test_esp8266_scan_is_chunked_to_http_11_and_unframed_to_http_10() -> None:
    reply = StreamedReply(200, "application/json", (b"[\n", b'  {"a":1}', b"\n]"))
    assert render_streamed(reply, "1.1") == (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nAccept-Ranges: none\r\n"
        b'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n[\n\r\n9\r\n  {"a":1}\r\n2\r\n\n]\r\n0\r\n\r\n'
    )
    assert render_streamed(reply, "1.0") == (
        b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n[\n  {"a":1}\n]'
    )


def test_wio_scan_names() -> None:
    entries = [wio_terminal.FAMILY.scan.entry(ap) for ap in NETWORKS]
    assert [e.sec for e in entries] == ["WPA/WPA2/PSK", "WPA2/PSK", "unknown"]
    assert all(e.hidden is None for e in entries)


def _dechunk(raw: bytes) -> tuple[h11.Response, bytes]:
    conn = h11.Connection(h11.CLIENT)
    conn.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
    conn.receive_data(raw)
    conn.receive_data(b"")
    response, body = None, b""
    while True:
        event = conn.next_event()
        if isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            body += event.data
        elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)) or event is h11.NEED_DATA:
            break
    assert response is not None
    return response, body


def test_esp8266_board_streams_its_scan(tmp_path: Path) -> None:
    """A real request: the chunked body an HTTP client reads is the sketch's `[`, items, `]`, with `hidden`."""

    async def body() -> None:
        rig = await start_rig(tmp_path, firmware=ESP8266)
        await rig.wait_ap()
        _, link = await join_ap(rig)
        reply = await http(link, "GET", "/wifi_scan.json")
        assert reply is not None
        assert reply.headers["transfer-encoding"] == "chunked" and "content-length" not in reply.headers
        response, payload = _dechunk(reply.raw)
        assert response.status_code == 200
        assert payload.startswith(b'[\n  {"ssid":"Home",') and b'"sec":"WPA2","ch":6,"hidden":0}' in payload
        assert rig.capture.log_texts()[-2:] == ["Scanning networks...", "Found networks: 1"]
        await rig.shutdown()

    run(body())


def test_wio_scans_once_before_its_ap_and_serves_that(tmp_path: Path) -> None:
    async def body() -> None:
        rig = await start_rig(tmp_path, firmware=WIO)
        await rig.wait_ap()
        texts = rig.capture.log_texts()
        start = texts.index("INIT => WAIT_CONFIG")
        assert texts[start + 1 : start + 4] == ["Scanning networks...", "Found networks: 1", "AP URL:  blynk.setup"]
        rig.air.add_network("Later", passphrase="12345678")  # appears after the scan: not served
        _, link = await join_ap(rig)
        reply = await http(link, "GET", "/wifi_scan.json")
        assert reply is not None and reply.headers["content-length"] == str(len(reply.body))
        assert reply.body.startswith(b'[\n  {"ssid":"Home",') and b'"sec":"WPA2/PSK","ch":6}\n]' in reply.body
        assert b"Later" not in reply.body
        assert rig.capture.log_texts().count("Scanning networks...") == 1
        await rig.shutdown()

    run(body())


# --- config store -----------------------------------------------------------------------------------------


def test_esp8266_first_boot_reads_erased_eeprom_as_default_config(tmp_path: Path) -> None:
    async def body() -> None:
        rig = await start_rig(tmp_path, firmware=ESP8266)
        await rig.wait_log("INIT => WAIT_CONFIG")
        assert rig.capture.log_texts()[0] == "Using default config."
        assert rig.board.flash.model is WriteModel.EEPROM_SEQUENTIAL
        await rig.shutdown()

    run(body())


def test_esp8266_saved_config_bytes_and_a_torn_write(tmp_path: Path) -> None:
    """`/config?save=1` writes the 212-byte struct at EEPROM offset 0; a cut at byte 100 of the next write
    leaves 100 new bytes and 0xFF after them (the sector was erased), not the old blob."""

    async def body() -> None:
        cloud = MiniCloud()
        port = await cloud.start()
        rig = await start_rig(tmp_path, firmware=ESP8266)
        reply = await provision(rig, port, save=True)
        assert reply.body == b'{"status":"ok","msg":"Configuration saved"}'
        stored = (tmp_path / "board.nvs").read_bytes()
        expected = ConfigBlob.defaults("0.1.0")
        expected.flags = ConfigFlag.VALID
        expected.wifi_ssid, expected.wifi_pass, expected.cloud_token = HOME_SSID, HOME_PASS, TOKEN
        expected.cloud_port = port
        assert len(stored) == 212 and stored[:4] == bytes.fromhex("6B6E6C62")
        assert stored == expected.pack()
        await rig.wait_state(S.RUNNING)
        rig.board.flash.cut_power_at(100)
        type_line(rig, "config erase")  # RESET_CONFIG writes the defaults
        await rig.wait_for(lambda: not rig.board.powered, "the power cut")
        torn = (tmp_path / "board.nvs").read_bytes()
        assert torn == ConfigBlob.defaults("0.1.0").pack()[:100] + b"\xff" * 112
        await rig.shutdown()
        await cloud.stop()

    run(body())


# --- console ----------------------------------------------------------------------------------------------


def test_wio_console_has_four_commands(tmp_path: Path) -> None:
    async def body() -> None:
        rig = await start_rig(tmp_path, firmware=WIO)
        await rig.wait_log("INIT => WAIT_CONFIG")
        type_line(rig, "help")
        await rig.wait_for(lambda: "Available commands" in rig.capture.text, "help")
        type_line(rig, "status")
        await rig.wait_for(lambda: "Command not found." in rig.capture.text, "status refused")
        text = rig.capture.text
        assert "Available commands: help, ?, reboot, config, devinfo, connect\r\n" in text
        assert " Uptime:" not in text
        await rig.shutdown()

    run(body())


def test_esp8266_status_and_firmware_info(tmp_path: Path) -> None:
    async def body() -> None:
        rig = await start_rig(tmp_path, firmware=ESP8266)
        await rig.wait_log("INIT => WAIT_CONFIG")
        type_line(rig, "status")
        await rig.wait_for(lambda: "max alloc" in rig.capture.text, "status")
        type_line(rig, "firmware")
        await rig.wait_for(lambda: "App MD5" in rig.capture.text, "firmware info")
        type_line(rig, "firmware rollback")  # not registered on ESP8266: prints nothing
        type_line(rig, "devinfo")
        await rig.wait_for(lambda: '"name":' in rig.capture.text, "devinfo")
        lines = rig.capture.text.split("\n")
        assert " Reset reason:    Power On" in lines
        assert "      fragment:   4" in lines
        assert " Heap free:       51496 / 44792" in lines
        assert " Platform:  ESP8266" in lines and " ESP Core:  3.1.2" in lines
        assert not any(line.startswith(" Partition:") or line.startswith(" Chip:") for line in lines)
        assert '{"status":"error"}' not in rig.capture.text
        await rig.shutdown()

    run(body())


# --- /update ----------------------------------------------------------------------------------------------


def _multipart(field: str, data: bytes) -> tuple[bytes, dict[str, str]]:
    boundary = "XyZ"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="fw.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_esp8266_update_server_answers(tmp_path: Path) -> None:
    async def body() -> None:
        rig = await start_rig(tmp_path, firmware=ESP8266)
        await rig.wait_ap()
        _, link = await join_ap(rig)
        form = await http(link, "GET", "/update")
        assert form is not None and form.status == 200 and b"name='firmware'" in form.body
        bad, headers = _multipart("firmware", b"\x00not an image")
        refused = await http(link, "POST", "/update", bad, headers)
        assert refused is not None
        assert (refused.status, refused.body) == (200, b"Update error: ERROR[10]: Magic byte is not 0xE9\n")
        image = build_image({"mcu": "0.4.0"})
        good, headers = _multipart("firmware", image)
        accepted = await http(link, "POST", "/update", good, headers)
        assert accepted is not None and accepted.status == 200
        assert accepted.body == b'<META http-equiv="refresh" content="15;URL=/">Update Success! Rebooting...'
        await rig.wait_log("INIT => WAIT_CONFIG", count=2)
        assert rig.board.profile.fw_version == "0.4.0"
        assert "Update: fw.bin" not in rig.capture.log_texts()  # ESP8266HTTPUpdateServer prints nothing
        await rig.shutdown()

    run(body())


def test_wio_has_no_update_page(tmp_path: Path) -> None:
    async def body() -> None:
        rig = await start_rig(tmp_path, firmware=WIO)
        await rig.wait_ap()
        _, link = await join_ap(rig)
        reply = await http(link, "GET", "/update")
        assert reply is not None and (reply.status, reply.body) == (404, b"Not found: /update")
        await rig.shutdown()

    run(body())


# --- Blynk.Air --------------------------------------------------------------------------------------------


async def _ota_rig(tmp: Path, firmware: str, server: FileServer, scheme: str = "http") -> Rig:
    url_port = await server.start()
    pushed: list[bool] = []

    async def push(cloud: MiniCloud, conn: object) -> None:
        if not pushed:
            pushed.append(True)
            conn.send(Frame(17, 77, ota_body(f"{scheme}://ota.example:{url_port}/fw.bin")))  # type: ignore[attr-defined]

    cloud = MiniCloud(on_login=push)
    port = await cloud.start()
    rig = await start_rig(tmp, firmware=firmware)
    await provision(rig, port)
    await rig.wait_state(S.OTA_UPGRADE)
    return rig


def test_esp8266_ota_success_lines_and_request(tmp_path: Path) -> None:
    image = build_image({"mcu": "0.3.0"}, 2560)  # ten 256-byte reads: 10% … 100%

    async def body() -> None:
        server = FileServer(200, image, {"Content-Length": str(len(image)), "x-MD5": md5_hex(image)})
        rig = await _ota_rig(tmp_path, ESP8266, server)
        await rig.wait_log("INIT => CONNECTING_NET")
        port = server.port
        texts = [t for t in rig.capture.log_texts() if t != "Disconnected"]  # Blynk.disconnect() runs alongside
        start = texts.index("RUNNING => OTA_UPGRADE")
        assert texts[start + 1 : start + 6] == [
            f"OTA: http://ota.example:{port}/fw.bin",
            f"Connecting to ota.example:{port}",
            f"Expected MD5: {md5_hex(image)}",
            "Flashing...",
            "=== Update successfully completed. Rebooting.",
        ]
        assert "\r 10%\r 20%\r 30%\r 40%\r 50%\r 60%\r 70%\r 80%\r 90%\r 100%\r\n" in rig.capture.text
        assert server.requests == [b"GET /fw.bin HTTP/1.0\r\nHost: ota.example\r\nConnection: keep-alive\r\n\r\n"]
        await rig.wait_state(S.RUNNING, after=rig.states.index(S.OTA_UPGRADE))
        assert rig.board.profile.fw_version == "0.3.0"
        await rig.shutdown()

    run(body())


def test_esp8266_ota_md5_mismatch_prints_the_updater_error_and_restarts(tmp_path: Path) -> None:
    image = build_image({"mcu": "0.3.0"}, 1024)
    wrong = "0" * 32

    async def body() -> None:
        server = FileServer(200, image, {"Content-Length": str(len(image)), "x-MD5": wrong})
        rig = await _ota_rig(tmp_path, ESP8266, server)
        await rig.wait_log("Update not ended")
        await rig.wait_log("INIT => CONNECTING_NET")
        text = rig.capture.text
        assert f"ERROR[7]: MD5 verification failed: expected: {wrong}, calculated: {md5_hex(image)}\n" in text
        assert S.ERROR not in rig.states and rig.board.profile.fw_version == "0.1.0"
        assert "Restarting after error." not in rig.capture.log_texts()
        await rig.shutdown()

    run(body())


def test_wio_ota_forces_http_and_reports_the_status_code(tmp_path: Path) -> None:
    async def body() -> None:
        server = FileServer(404, b"nope")
        rig = await _ota_rig(tmp_path, WIO, server, scheme="https")
        await rig.wait_log(f"OTA: http://ota.example:{server.port}/fw.bin")
        await rig.wait_log("HTTP status code: 404")
        await rig.wait_log("INIT => CONNECTING_NET")
        assert server.requests == [
            f"GET /fw.bin HTTP/1.1\r\nHost: ota.example:{server.port}\r\nUser-Agent: Arduino/2.2.0\r\n"
            "Connection: close\r\n\r\n".encode()
        ]
        assert S.ERROR not in rig.states
        await rig.shutdown()

    run(body())


def test_wio_ota_installs_without_checks(tmp_path: Path) -> None:
    image = build_image({"mcu": "0.5.0"}, 1000)

    async def body() -> None:
        rig = await _ota_rig(tmp_path, WIO, FileServer(200, image))
        await rig.wait_log("=== Update successfully completed. Rebooting.")
        await rig.wait_state(S.RUNNING, after=rig.states.index(S.OTA_UPGRADE))
        assert rig.board.profile.fw_version == "0.5.0"
        assert not any(t.startswith("Expected MD5") for t in rig.capture.log_texts())
        assert rig.board.led.current == LED_OFF  # the Wio sketch never starts its indicator
        await rig.shutdown()

    run(body())


def test_families_declare_what_they_lack() -> None:
    assert Feature.ATOMIC_CONFIG_WRITE not in esp8266.FAMILY.features
    assert PROFILES["edgent-esp32"]().family.features == frozenset(Feature)
    assert wio_terminal.FAMILY.features == frozenset()
    assert asyncio.iscoroutinefunction(esp8266.FAMILY.ota)
