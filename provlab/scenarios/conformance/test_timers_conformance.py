"""Conformance, state machine (spec §1.4, §3.3, §4.1, §6.4): each failure path's timer, error code and log lines.

Durations are read off the board's own `[millis]` stamps (its device time), within one boot, so they hold on a
real board as on an emulated one; each is checked to the spec's value within `TIMER_SLACK_MS`.
"""

from __future__ import annotations

import itertools
import json

import pytest

from provlab.fixtures import Lab, LabBoard, LabPhone

from .support import (
    CONFIG_TRYING,
    MISSING_NETWORK,
    TIMER_SLACK_MS,
    closed_port,
    in_config_mode,
    send_config,
    stamp,
    stamps_of,
)

pytestmark = pytest.mark.needs_edgent_log  # read from the Edgent firmware's own serial log

CONNECT_TIMEOUT_MS = 50_000  # WIFI_NET_CONNECT_TIMEOUT, WIFI_CLOUD_CONNECT_TIMEOUT
ERROR_REBOOT_MS = 10_000
RECONNECT_MS = 5_000  # BlynkProtocol: a connect attempt at most every 5000 ms
CONFIG_MODE_WAIT_S = 11 * 60  # past Edgent-Arduino 0.9's 10 min config timeout (spec §2.6)


def _last_error(board: LabBoard, phone: LabPhone) -> int:
    status, body = phone.board_get(board, "/board_info.json")
    assert status == 200, (status, body)
    return int(json.loads(body)["last_error"])


def _near(measured: int, expected: int, what: str) -> None:
    assert abs(measured - expected) <= TIMER_SLACK_MS, f"{what}: {measured} ms on the board's clock, spec {expected}"


@pytest.mark.spec("1.4", "3.3", "5.3", "2.4")
def test_unreachable_network_fails_after_50s_with_701_and_reboots_after_10s(
    lab: Lab, board: LabBoard, phone: LabPhone
) -> None:
    """`/config` naming a network that is not there: one 50 s CONNECTING_NET window (the retries are 1 after
    `/config`), `Last error code: 701`, ERROR, `Restarting after error.` 10 s later, back in WAIT_CONFIG with
    `last_error` 701 in `/board_info.json`."""
    mark = in_config_mode(board)
    _, status, body = send_config(lab, board, phone, ssid=MISSING_NETWORK)
    assert (status, body) == (200, CONFIG_TRYING)
    joining = stamp(board, f"Connecting to WiFi: {MISSING_NETWORK}", mark, timeout=30)
    failed = stamp(board, "CONNECTING_NET => ERROR", mark, timeout=120)
    _near(failed - joining, CONNECT_TIMEOUT_MS, "CONNECTING_NET timeout")
    assert stamp(board, "Last error code: 701", mark, timeout=1) <= failed
    restarting = stamp(board, "Restarting after error.", mark, timeout=30)
    _near(restarting - failed, ERROR_REBOOT_MS, "ERROR -> reboot")
    board.expect_exact("INIT => WAIT_CONFIG", timeout=30, since=mark)
    in_config_mode(board, since=mark)
    assert _last_error(board, phone) == 701


@pytest.mark.spec("1.4", "3.3", "5.4", "6.4")
def test_unreachable_cloud_is_retried_every_5s_then_fails_after_50s_with_702(
    lab: Lab, board: LabBoard, phone: LabPhone
) -> None:
    """`/config` with a cloud port nobody listens on: `Connecting to host:port` at most every 5 s, `Timeout`
    50 s after CONNECTING_CLOUD began, `Last error code: 702`, ERROR, reboot, `last_error` 702."""
    mark = in_config_mode(board)
    port = closed_port()
    _, status, body = send_config(lab, board, phone, port_ssl=str(port))
    assert (status, body) == (200, CONFIG_TRYING)
    began = stamp(board, "CONNECTING_NET => CONNECTING_CLOUD", mark, timeout=60)
    timeout = stamp(board, "Timeout", mark, timeout=120)
    _near(timeout - began, CONNECT_TIMEOUT_MS, "CONNECTING_CLOUD timeout")
    attempts = [t for t in stamps_of(board, mark, f"Connecting to {lab.config.cloud_host}:{port}") if t <= timeout]
    assert len(attempts) >= 3, attempts
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert min(gaps) >= RECONNECT_MS - 100, f"connect attempts closer than 5 s: {gaps} ms"
    assert len(attempts) <= CONNECT_TIMEOUT_MS // RECONNECT_MS + 1, attempts
    failed = stamp(board, "CONNECTING_CLOUD => ERROR", mark, timeout=10)
    assert stamp(board, "Last error code: 702", mark, timeout=1) <= failed
    restarting = stamp(board, "Restarting after error.", mark, timeout=30)
    _near(restarting - failed, ERROR_REBOOT_MS, "ERROR -> reboot")
    in_config_mode(board, since=mark)
    assert _last_error(board, phone) == 702


@pytest.mark.spec("1.4", "3.3", "6.3", "6.4", "5.4")
def test_rejected_token_goes_back_to_config_mode_with_703_and_stops_dialling(
    lab: Lab, board: LabBoard, phone: LabPhone
) -> None:
    """A token the cloud never issued: login answered with status 9, `Invalid auth token`, CONNECTING_CLOUD ->
    WAIT_CONFIG with `Last error code: 703`, and no further connection attempt."""
    mark = in_config_mode(board)
    status, body = phone.board_get(
        board,
        "/config",
        f"ssid={lab.config.home.ssid}&pass={lab.config.home.passphrase}&blynk={'Z' * 32}&port_ssl={lab.cloud_port}",
    )
    assert (status, body) == (200, CONFIG_TRYING)
    refused = stamp(board, "Invalid auth token", mark, timeout=120)
    back = stamp(board, "CONNECTING_CLOUD => WAIT_CONFIG", mark, timeout=60)
    assert back >= refused
    assert stamp(board, "Last error code: 703", mark, timeout=1) <= back
    after = board.mark()
    lab.wait(30)
    assert not stamps_of(board, after, "Connecting to "), "the board dialled the cloud again after status 9"
    assert _last_error(board, phone) == 703


@pytest.mark.needs_button
@pytest.mark.spec("4.1", "1.4", "5.3")
def test_error_does_not_reboot_while_the_button_is_held(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """In ERROR, a button held across the 10 s mark delays the reboot until it is released; a press prints the
    hold hint, and an 8 s hold (< 10 s) resets nothing."""
    mark = in_config_mode(board)
    send_config(lab, board, phone, ssid=MISSING_NETWORK)
    board.expect_state("ERROR", timeout=120, since=mark)
    lab.wait(5)
    pressed = board.mark()
    board.press_button()
    board.expect_exact("Hold the button for 10 seconds to reset configuration...", timeout=2, since=pressed)
    lab.wait(8)  # ERROR + 13 s: past the 10 s reboot, the button still held
    assert not stamps_of(board, mark, "Restarting after error."), "ERROR rebooted while the button was held"
    released = board.mark()
    board.release_button()
    board.expect_exact("Restarting after error.", timeout=5, since=released)
    assert not stamps_of(board, pressed, "ERROR => RESET_CONFIG"), "an 8 s hold reset the configuration"


@pytest.mark.spec("1.4", "2.3")
def test_config_mode_waits_for_its_installer_without_a_timeout(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """No legacy sketch has a config-mode timeout (spec §1.4 notes; Edgent-Arduino 0.9's is 10 min): a board
    left in WAIT_CONFIG for 11 minutes neither restarts nor changes state, and its web server still answers.
    (On a real board this scenario takes those 11 minutes.)"""
    mark = in_config_mode(board)
    boots = board.boots
    lab.wait(CONFIG_MODE_WAIT_S)
    changes = [r.line.text for r in board.lines(mark) if "=>" in r.line.text]
    assert changes == [] and board.boots == boots, f"config mode ended on its own: {changes}, boots {board.boots}"
    status, body = phone.board_get(board, "/board_info.json")
    assert status == 200, (status, body)


@pytest.mark.spec("1.4", "5.3")
def test_a_provisioned_board_keeps_retrying_its_network_every_50s(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """Once online, the retry counters are 500 again (spec §1.4): the home AP gone for three 50 s windows, the
    board re-enters CONNECTING_NET with `Connecting to WiFi:` every 50 s, never goes to ERROR nor restarts, and
    is RUNNING again once the AP is back."""
    phone.provision(board)
    board.expect_state("RUNNING", timeout=60)
    home = lab.config.home.ssid
    boots = board.boots
    mark = board.mark()
    lab.faults.ap_down(home)
    board.expect_state("CONNECTING_NET", timeout=120, since=mark)  # noticed through the session (heartbeat)
    lab.wait(3 * CONNECT_TIMEOUT_MS / 1000 + 10)
    gave_up = stamps_of(board, mark, "CONNECTING_NET => ERROR")
    assert not gave_up and board.boots == boots, f"it gave up: ERROR at {gave_up} ms, {board.boots - boots} reboots"
    joins = stamps_of(board, mark, f"Connecting to WiFi: {home}")
    assert len(joins) >= 3, f"`Connecting to WiFi:` at {joins} ms: the board stopped re-entering CONNECTING_NET"
    gaps = [b - a for a, b in itertools.pairwise(joins)]
    assert all(abs(gap - CONNECT_TIMEOUT_MS) <= TIMER_SLACK_MS for gap in gaps), f"re-entries {gaps} ms apart"
    lab.faults.ap_up(home)
    board.expect_state("RUNNING", timeout=120, since=mark)


@pytest.mark.spec("3.3", "1.4", "5.5", "2.4")
@pytest.mark.needs_console
def test_a_successful_login_clears_the_last_error(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """A failed attempt leaves `last_error` 701; the next `/config` that works ends the first login with
    `last_error` 0 (saved with the VALID config), so `/board_info.json` in config mode later reports 0."""
    mark = in_config_mode(board)
    send_config(lab, board, phone, ssid=MISSING_NETWORK)
    board.expect_exact("Last error code: 701", timeout=120, since=mark)
    in_config_mode(board, since=board.mark())
    assert _last_error(board, phone) == 701
    working = board.mark()
    _, status, body = send_config(lab, board, phone, port_ssl=str(lab.cloud_port))
    assert (status, body) == (200, CONFIG_TRYING)
    board.expect_state("RUNNING", timeout=120, since=working)
    entered = board.mark()
    board.console("config")
    in_config_mode(board, since=entered)
    assert _last_error(board, phone) == 0
