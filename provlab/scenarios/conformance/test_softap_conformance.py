"""Conformance, SoftAP (spec §2): each route's answer byte for byte, each `/config` field used, and the log lines.

Every check goes through the phone (the board's AP and web server), the serial log and the console, so a real
board runs the same scenarios. A board speaking the Edgent-Arduino 0.9 API (§2.6) is skipped with that reason.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

import pytest

from provlab.fixtures import Air, Lab, LabBoard, LabPhone

from .support import (
    AP_URL_LINE,
    CONFIG_INVALID,
    CONFIG_SAVED,
    CONFIG_TRYING,
    RESET_OK,
    TIMER_SLACK_MS,
    config_query,
    expected_ssid_endings,
    in_config_mode,
    printed,
    send_config,
    stamp,
    stamps_of,
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


def _neighbour_bssid(index: int) -> str:
    """A locally administered BSSID, written in lower case as the lab gives it to the air."""
    return f"0a:5e:c0:aa:bb:{index:02x}"


def _neighbour_channel(index: int) -> int:
    return 1 + index % 11


def _board_info(board: LabBoard, phone: LabPhone) -> dict[str, str]:
    """`/board_info.json` read through the phone, checked against the §2.4 format string; its fields as text."""
    status, body = phone.board_get(board, "/board_info.json")
    assert status == 200, (status, body)
    _legacy_api(body)
    match = BOARD_INFO.fullmatch(body)
    assert match is not None, f"/board_info.json is not the §2.4 format: {body!r}"
    return match.groupdict()


def _legacy_api(body: str) -> None:
    if body.startswith("{") and '"ifs":' in body:
        pytest.skip("the board serves the Edgent-Arduino 0.9 board_info (spec §2.6); this checks the legacy §2.4")


@pytest.mark.spec("1.1", "2.1", "2.2", "2.4", "1.4", "5.3")
def test_board_info_is_byte_exact_and_describes_the_board(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """`/board_info.json` is the §2.4 format string exactly; its fields agree with the air and the SSID rule
    (§2.2); asking for it makes the board CONFIGURING, and the phone leaving makes it WAIT_CONFIG."""
    mark = in_config_mode(board)
    info = _board_info(board, phone)
    assert info["last_error"] == "0"
    board.expect_exact("Sending board info...", timeout=10, since=mark)
    board.expect_state("CONFIGURING", timeout=10, since=mark)
    board.expect_state("WAIT_CONFIG", timeout=10, since=mark)  # the phone left the AP after its GET
    assert info["ssid"] == board.ssid and info["tmpl_id"] == lab.config.template_id
    seen = {found.ssid: found.bssid.upper() for found in phone.discover()}
    assert seen.get(info["ssid"]) == info["bssid"], f"bssid {info['bssid']} is not the AP's ({seen})"
    endings = expected_ssid_endings(info["board"], info["mac"])
    assert any(info["ssid"].endswith(" " + ending) for ending in endings), (info["ssid"], endings)
    assert len(info["ssid"]) <= 31


@pytest.mark.spec("2.4", "5.5")
@pytest.mark.needs_console
@pytest.mark.needs_firmware("console_wifi")
def test_board_info_agrees_with_the_console(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """`/board_info.json`'s ssid, board, template, firmware and MAC are what `devinfo` and `wifi` say."""
    in_config_mode(board)
    info = _board_info(board, phone)
    devinfo = board.devinfo()
    assert (info["ssid"], info["board"], info["tmpl_id"]) == (devinfo.name, devinfo.board, devinfo.tmpl_id)
    assert (info["fw_type"], info["fw_ver"]) == (devinfo.fw_type, devinfo.fw_ver)
    wifi = " ".join(board.console("wifi"))
    assert f"mac:{info['mac']} " in wifi, f"mac {info['mac']} is not the console's `wifi` MAC: {wifi!r}"


@pytest.mark.spec("2.5", "5.3")
@pytest.mark.needs_reset
def test_wifi_scan_lists_the_15_strongest_networks_strongest_first(
    lab: Lab, board: LabBoard, phone: LabPhone, wifi: Air
) -> None:
    """`/wifi_scan.json`: `[\\n` + items (two spaces, the §2.5 format) joined by `,\\n` + `\\n]`, at most 15,
    the strongest first; logged as `Scanning networks...` and `Found networks: N`. The board restarts once the
    networks are on the air, so one that scans before its AP starts (the Wio Terminal) has seen them too."""
    strengths = [-71, -42, -88, -55, -63, -80, -47, -90, -58, -67, -76, -51, -84, -60, -45, -73, -66, -82]
    for index, rssi in enumerate(strengths):
        wifi.add_network(
            f"Neighbour-{index:02d}",
            bssid=_neighbour_bssid(index),
            passphrase="neighbour-pass",
            rssi=rssi,
            channel=_neighbour_channel(index),
        )
    mark = board.mark()
    board.reset()
    in_config_mode(board, since=mark)
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
    for item in items:  # each neighbour's BSSID as `WiFi.BSSIDstr()` prints it, and its channel
        if item["ssid"] in ours:
            index = int(item["ssid"][-2:])
            assert item["bssid"] == _neighbour_bssid(index).upper(), f"{item['ssid']}: bssid {item['bssid']}"
            assert int(item["ch"]) == _neighbour_channel(index), f"{item['ssid']}: ch {item['ch']}"
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


@pytest.mark.spec("2.3")
def test_pages_carry_their_content_type_and_close_the_connection(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """Every reply has `Connection: close` and a `Content-Length`; the JSON pages are `application/json`; an
    unregistered path is `404 text/html` `Not found: <path>` (not the form: no captive portal); `/` is the
    built-in `WiFi setup` form; any method is served (a POST of `/board_info.json` answers as a GET does)."""
    in_config_mode(board)
    info = phone.board_request(board, "/board_info.json")
    assert info.status == 200, info
    assert info.headers.get("content-type") == "application/json", info.headers
    assert info.headers.get("connection") == "close", info.headers
    assert int(info.headers.get("content-length", -1)) == len(info.body.encode("utf-8")), info.headers
    missing = phone.board_request(board, "/provlab-nowhere", query="x=1")
    assert (missing.status, missing.body) == (404, "Not found: /provlab-nowhere"), missing
    assert missing.headers.get("content-type") == "text/html", missing.headers
    form = phone.board_request(board, "/")
    assert form.status == 200 and form.headers.get("content-type") == "text/html", form.headers
    assert "<title>WiFi setup</title>" in form.body and 'name="blynk"' in form.body, form.body[:200]
    posted = phone.board_request(board, "/board_info.json", method="POST")
    assert posted.status == 200 and json.loads(posted.body)["ssid"] == board.ssid, posted


@pytest.mark.spec("2.3.1", "5.3")
def test_config_refuses_an_empty_ssid_and_reads_a_posted_form(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """`/config` with an empty `ssid` (the token fine), or a 33-character token: `500 {"status":"error","msg":
    "Configuration invalid"}`, logged, and the board stays in config mode. The same fields POSTed as a form
    are read as the query would be, and `save=true` is no save (`String::toInt()` of it is 0): `Trying to
    connect...`, then RUNNING."""
    mark = in_config_mode(board)
    token = phone.request_token()
    refused = phone.board_request(board, "/config", query=config_query(lab, token, ssid=""))
    assert (refused.status, refused.body) == (500, CONFIG_INVALID), refused
    assert refused.headers.get("content-type") == "application/json", refused.headers
    too_long = phone.board_request(board, "/config", query=config_query(lab, token + "X"))
    assert (too_long.status, too_long.body) == (500, CONFIG_INVALID), f"a 33-character token: {too_long}"
    board.expect_exact("Configuration invalid", timeout=10, since=mark)
    lab.wait(3)
    assert not stamps_of(board, mark, "Switching to STA..."), "an empty ssid left config mode"
    query = config_query(lab, token, port_ssl=str(lab.cloud_port), save="true")
    fields = dict(parse_qsl(query, keep_blank_values=True))
    posted = phone.board_request(board, "/config", method="POST", form=fields)
    assert (posted.status, posted.body) == (200, CONFIG_TRYING), posted
    board.expect_state("RUNNING", timeout=120, since=mark)
