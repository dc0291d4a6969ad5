"""The board's SoftAP web server as phones and browsers meet it (P3, P6, P7, P8)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from provlab.fixtures import Lab, LabBoard, LabPhone

CONFIG_INVALID = '{"status":"error","msg":"Configuration invalid"}'


def test_browser_gets_the_form_and_404s(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """P6: `GET /` serves the built-in form; an unknown path is `404 Not found: <uri>`; no captive portal."""
    board.expect_ap(timeout=30)
    status, body = phone.board_get(board, "/")
    assert status == 200 and "<form" in body and 'name="blynk"' in body
    status, body = phone.board_get(board, "/generate_204")
    assert (status, body) == (404, "Not found: /generate_204")


@pytest.mark.needs_edgent_log
def test_token_of_wrong_length_is_refused_and_nothing_is_written(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """P7: a 31-char token gets 500 `Configuration invalid`; the board stays in config mode, flash untouched."""
    board.expect_ap(timeout=30)
    mark = board.mark()
    query = urlencode({"ssid": lab.config.home.ssid, "pass": "x" * 10, "blynk": "A" * 31, "port_ssl": "443"})
    status, body = phone.board_get(board, "/config", query)
    assert (status, body) == (500, CONFIG_INVALID)
    board.expect("Configuration invalid", timeout=10, since=mark)
    lab.wait(5)
    printed = [i.line.text for i in board.lines(mark)]
    assert "Configuration stored to flash" not in printed
    assert not any("SWITCH_TO_STA" in line for line in printed)


def test_empty_ssid_is_refused(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """P7: a valid token with an empty SSID is just as invalid."""
    board.expect_ap(timeout=30)
    token = phone.request_token()
    status, body = phone.board_get(board, "/config", urlencode({"ssid": "", "blynk": token}))
    assert (status, body) == (500, CONFIG_INVALID)


@pytest.mark.needs_edgent_log
def test_reboot_closes_without_reply_and_comes_back(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """P8: `/reboot` restarts at once, no HTTP reply; the board boots again into WAIT_CONFIG."""
    board.expect_ap(timeout=30)
    mark = board.mark()
    status, error = phone.board_get(board, "/reboot")
    assert status is None, f"/reboot answered {status}: {error}"
    board.expect_state("WAIT_CONFIG", timeout=30, since=mark)


@pytest.mark.needs_edgent_log
def test_board_info_reports_the_board(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    board.expect_ap(timeout=30)
    status, body = phone.board_get(board, "/board_info.json")
    info = json.loads(body)
    assert status == 200 and info["tmpl_id"] == lab.config.template_id and info["ssid"] == board.ssid
    assert info["last_error"] == 0 and info["wifi_scan"] is True
    board.expect_state("CONFIGURING", timeout=10)


def test_ap_goes_away_after_config_even_if_the_phone_stays(lab: Lab, board: LabBoard) -> None:
    """P3: an iOS-like phone stays on the board's AP after `/config`; the AP goes away anyway."""
    phone = lab.phone(profile="ios")
    enrollment = phone.provision(board)
    assert enrollment.ok
    board.expect_state("RUNNING", timeout=60)
    assert board.ssid not in {found.ssid for found in phone.discover()}


@pytest.mark.needs_edgent_log
def test_reset_between_configuring_and_switch_leaves_the_token_unused(
    lab: Lab, board: LabBoard, phone: LabPhone
) -> None:
    """P4: the phone got a token and the board was CONFIGURING when it lost power: back in WAIT_CONFIG,
    the token never logs in, and the cloud still shows it unused."""
    board.expect_ap(timeout=30)
    token = phone.request_token()
    status, _ = phone.board_get(board, "/board_info.json")
    assert status == 200
    board.expect_state("CONFIGURING", timeout=10)
    mark = board.mark()
    board.reset()
    board.expect_state("WAIT_CONFIG", timeout=60, since=mark)
    issued = lab.cloud_call(lambda cloud: cloud.store.tokens.get(token))
    assert issued is not None and not issued.activated
    assert lab.cloud_events("token_activated") == []
