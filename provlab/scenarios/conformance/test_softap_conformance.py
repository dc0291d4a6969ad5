"""Conformance, SoftAP (spec §2): each route's answer byte for byte, each `/config` field used, and the log lines.

Every check goes through the phone (the board's AP and web server), the serial log and the console, so a real
board runs the same scenarios. A board speaking the Edgent-Arduino 0.9 API (§2.6) is skipped with that reason.
"""

from __future__ import annotations

import json
import re

import pytest

from provlab.fixtures import Air, Lab, LabBoard, LabPhone

from .support import (
    AP_URL_LINE,
    CONFIG_SAVED,
    CONFIG_TRYING,
    RESET_OK,
    TIMER_SLACK_MS,
    expected_ssid_endings,
    in_config_mode,
    printed,
    send_config,
    stamp,
)

pytestmark = pytest.mark.needs_edgent_log  # read from the Edgent firmware's own serial log

MAC = r"[0-9A-F]{2}(?::[0-9A-F]{2}){5}"
BOARD_INFO = re.compile(
    r'\{"board":"(?P<board>[^"]*)","tmpl_id":"(?P<tmpl_id>[^"]*)","fw_type":"(?P<fw_type>[^"]*)",'
    r'"fw_ver":"(?P<fw_ver>[^"]*)","ssid":"(?P<ssid>[^"]*)","bssid":"(?P<bssid>' + MAC + r')",'
    r'"mac":"(?P<mac>' + MAC + r')","last_error":(?P<last_error>-?\d+),"wifi_scan":true,"static_ip":true'
    r'(?:,"5ghz":true)?\}'
)
SCAN_ITEM = re.compile(
    r'  \{"ssid":"(?P<ssid>[^"]*)","bssid":"(?P<bssid>[^"]*)","rssi":(?P<rssi>-?\d+),"sec":"(?P<sec>[^"]*)",'
    r'"ch":(?P<ch>\d+)(?:,"hidden":[01])?\}'
)
SECURITIES = {"OPEN", "WEP", "WPA", "WPA2", "WPA+WPA2", "WPA2-EAP", "WPA3", "WPA2+WPA3", "WAPI", "unknown"}
SECURITIES |= {"WPA/PSK", "WPA2/PSK", "WPA/WPA2/PSK"}  # the Wio Terminal sketch's names (spec §2.5)
REGIONAL_HOST = "fra1.blynk.cloud"  # a name other than the default `blynk.cloud` (and on the lab CA's certificate)


def _legacy_api(body: str) -> None:
    if body.startswith("{") and '"ifs":' in body:
        pytest.skip("the board serves the Edgent-Arduino 0.9 board_info (spec §2.6); this checks the legacy §2.4")


@pytest.mark.spec("1.1", "2.1", "2.2", "2.4", "1.4", "5.3", "5.5")
@pytest.mark.needs_firmware("console_wifi")
def test_board_info_is_byte_exact_and_describes_the_board(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """`/board_info.json` is the §2.4 format string exactly; its fields agree with the console, the air and the
    SSID rule (§2.2); asking for it makes the board CONFIGURING, and the phone leaving makes it WAIT_CONFIG."""
    mark = in_config_mode(board)
    status, body = phone.board_get(board, "/board_info.json")
    assert status == 200, (status, body)
    _legacy_api(body)
    match = BOARD_INFO.fullmatch(body)
    assert match is not None, f"/board_info.json is not the §2.4 format: {body!r}"
    info = match.groupdict()
    assert json.loads(body)["last_error"] == 0
    board.expect_exact("Sending board info...", timeout=10, since=mark)
    board.expect_state("CONFIGURING", timeout=10, since=mark)
    board.expect_state("WAIT_CONFIG", timeout=10, since=mark)  # the phone left the AP after its GET
    devinfo = board.devinfo()
    assert (info["ssid"], info["board"], info["tmpl_id"]) == (devinfo.name, devinfo.board, devinfo.tmpl_id)
    assert (info["fw_type"], info["fw_ver"]) == (devinfo.fw_type, devinfo.fw_ver)
    assert info["ssid"] == board.ssid and info["tmpl_id"] == lab.config.template_id
    seen = {found.ssid: found.bssid.upper() for found in phone.discover()}
    assert seen.get(info["ssid"]) == info["bssid"], f"bssid {info['bssid']} is not the AP's ({seen})"
    wifi = " ".join(board.console("wifi"))
    assert f"mac:{info['mac']} " in wifi, f"mac {info['mac']} is not the console's `wifi` MAC: {wifi!r}"
    endings = expected_ssid_endings(info["board"], info["mac"])
    assert any(info["ssid"].endswith(" " + ending) for ending in endings), (info["ssid"], endings)
    assert len(info["ssid"]) <= 31


@pytest.mark.spec("2.5", "5.3")
@pytest.mark.needs_firmware("scan_on_request")
def test_wifi_scan_lists_the_15_strongest_networks_strongest_first(
    lab: Lab, board: LabBoard, phone: LabPhone, wifi: Air
) -> None:
    """`/wifi_scan.json`: `[\\n` + items (two spaces, the §2.5 format) joined by `,\\n` + `\\n]`, at most 15,
    the strongest first; logged as `Scanning networks...` and `Found networks: N`."""
    strengths = [-71, -42, -88, -55, -63, -80, -47, -90, -58, -67, -76, -51, -84, -60, -45, -73, -66, -82]
    for index, rssi in enumerate(strengths):
        wifi.add_network(f"Neighbour-{index:02d}", passphrase="neighbour-pass", rssi=rssi, channel=1 + index % 11)
    mark = in_config_mode(board)
    status, body = phone.board_get(board, "/wifi_scan.json")
    assert status == 200
    assert body.startswith("[\n") and body.endswith("\n]"), f"not the §2.5 framing: {body[:60]!r}…{body[-20:]!r}"
    lines = body[2:-2].split(",\n")
    items = []
    for line in lines:
        match = SCAN_ITEM.fullmatch(line)
        assert match is not None, f"scan item not in the §2.5 format: {line!r}"
        items.append(match)
    assert len(items) <= 15
    rssis = [int(item["rssi"]) for item in items]
    assert rssis == sorted(rssis, reverse=True), f"not strongest first: {rssis}"
    assert all(item["sec"] in SECURITIES for item in items)
    listed = {item["ssid"] for item in items}
    ours = {f"Neighbour-{i:02d}": rssi for i, rssi in enumerate(strengths)}
    left_out = [rssi for name, rssi in ours.items() if name not in listed]
    if len(items) == 15 and left_out:
        assert min(rssis) >= max(left_out), f"a stronger network was left out: listed {rssis}, left out {left_out}"
    board.expect_exact("Scanning networks...", timeout=30, since=mark)
    found = board.expect(r"Found networks: (\d+)$", timeout=30, since=mark)
    assert int(found.group(1)) >= len(items)


@pytest.mark.spec("2.3", "1.4", "3.2", "5.3")
def test_reset_route_answers_then_resets_the_configuration(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """`/reset`: `200 {"status":"ok","msg":"Configuration reset"}`, then RESET_CONFIG, `Resetting configuration!`,
    `Configuration stored to flash`, WAIT_CONFIG and the AP back up."""
    mark = in_config_mode(board)
    assert phone.board_get(board, "/reset") == (200, RESET_OK)
    board.expect_state("RESET_CONFIG", timeout=10, since=mark)
    reset = stamp(board, "Resetting configuration!", mark, timeout=10)
    assert stamp(board, "Configuration stored to flash", mark, timeout=10) >= reset
    board.expect_state("WAIT_CONFIG", timeout=10, since=mark)
    board.expect_exact(AP_URL_LINE, timeout=30, since=mark)


@pytest.mark.spec("2.3.1", "5.3", "5.4", "6.4", "6.8")
@pytest.mark.lab(cloud_host=REGIONAL_HOST)
def test_config_host_and_port_ssl_are_the_ones_dialled(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """`/config` with `host` (not the default) and `port_ssl` (the app's plain `port` differs and is ignored):
    the reply, the exact `/config` log lines, and the board dials exactly `host:port_ssl` and goes RUNNING."""
    mark = in_config_mode(board)
    home = lab.config.home
    port = lab.cloud_port
    token, status, body = send_config(lab, board, phone, host=REGIONAL_HOST, port_ssl=str(port), port="1")
    assert (status, body) == (200, CONFIG_TRYING)
    applying = stamp(board, "Applying configuration...", mark, timeout=10)
    switching = stamp(board, "Switching to STA...", mark, timeout=10)
    texts = printed(board, mark)  # every line before `Switching to STA...` has been read by now
    assert f"WiFi SSID: {home.ssid} Pass: {home.passphrase}" in texts
    assert f"Blynk cloud: {token} @ {REGIONAL_HOST}:{port}" in texts, [t for t in texts if "Blynk cloud" in t]
    assert switching >= applying
    switched = stamp(board, "SWITCH_TO_STA => CONNECTING_NET", mark, timeout=10)
    assert 1000 <= switched - switching <= 1000 + TIMER_SLACK_MS, f"SWITCH_TO_STA lasted {switched - switching} ms"
    board.expect_exact(f"Connecting to WiFi: {home.ssid}", timeout=30, since=mark)
    board.expect(r"Using Dynamic IP: \d+\.\d+\.\d+\.\d+$", timeout=60, since=mark)
    board.expect_exact(f"Connecting to {REGIONAL_HOST}:{port}", timeout=60, since=mark)
    board.expect(r"Ready \(ping: \d+ms\)\.$", timeout=60, since=mark)
    board.expect_state("RUNNING", timeout=60, since=mark)
    board.expect_exact("Configuration stored to flash", timeout=10, since=mark)
    online = lab.wait_cloud_event("device_online", timeout=30)
    assert online["device_id"] is not None


@pytest.mark.spec("2.3.1", "3.2", "1.4")
def test_config_with_save_is_stored_before_the_switch(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """`save=1`: `200 {"status":"ok","msg":"Configuration saved"}`, `Configuration stored to flash` before
    `Switching to STA...`, then RUNNING."""
    mark = in_config_mode(board)
    _, status, body = send_config(lab, board, phone, port_ssl=str(lab.cloud_port), save="1")
    assert (status, body) == (200, CONFIG_SAVED)
    switching = stamp(board, "Switching to STA...", mark, timeout=10)
    texts = printed(board, mark)
    assert "Configuration stored to flash" in texts[: texts.index("Switching to STA...")], texts
    assert switching >= 0
    board.expect_state("RUNNING", timeout=120, since=mark)
