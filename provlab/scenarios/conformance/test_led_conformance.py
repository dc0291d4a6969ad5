"""Conformance, the status LED (spec §4.2): the pattern of each state, and of a button hold over the state's.

The patterns are written out here as the spec's table has them (not taken from the emulator), and read through
the board's LED capability: the emulator's indicator, or on a real board an LED sensor's command in its
sideband (`led = "..."`, printing `beat BLUE {50,500}` and the like). Boards nothing can see the LED of are
skipped (`needs_led`). Phases are compared within 20 % (a sensor's accuracy); colours by name.
"""

from __future__ import annotations

import pytest

from provlab.fixtures import Lab, LabBoard, LabPhone

from .support import MISSING_NETWORK, closed_port, config_query

pytestmark = pytest.mark.needs_led

WAIT_CONFIG = "beat BLUE {50,500}"
CONNECTING_NET = "beat BLYNK {50,500}"
CONNECTING_CLOUD = "beat BLYNK {100,100}"
RUNNING = "wave BLYNK {5000}"
ERROR = "beat RED {80,100,80,1000}"
HOLD_PAST_3S = "wave WHITE {1000}"
HOLD_PAST_10S = "beat WHITE {100,100}"


@pytest.mark.spec("4.2", "4.1")
@pytest.mark.needs_button
def test_led_shows_config_mode_and_a_held_button(lab: Lab, board: LabBoard) -> None:
    """Config mode blinks blue {50,500}; a held button keeps it for 3 s, then breathes white, then past 10 s
    flashes white {100,100}; released (the configuration reset), the LED is back to config mode's blue."""
    board.expect_ap(timeout=60)
    board.expect_led(WAIT_CONFIG, timeout=5)
    board.press_button()
    try:
        lab.wait(1.5)
        board.expect_led(WAIT_CONFIG, timeout=0.5)  # a short hold shows nothing yet
        lab.wait(2.0)
        board.expect_led(HOLD_PAST_3S, timeout=2)
        lab.wait(7.0)
        board.expect_led(HOLD_PAST_10S, timeout=2)
    finally:
        board.release_button()
    board.expect_led(WAIT_CONFIG, timeout=15)


@pytest.mark.spec("4.2", "1.4")
def test_led_follows_a_failed_join_into_error_and_back(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """`/config` naming a network that is not there: CONNECTING_NET blinks Blynk green {50,500} for its 50 s,
    ERROR flashes red {80,100,80,1000} until the reboot, and config mode blinks blue again."""
    board.expect_ap(timeout=60)
    token = phone.request_token()
    status, _ = phone.board_get(board, "/config", config_query(lab, token, ssid=MISSING_NETWORK))
    assert status == 200
    board.expect_led(CONNECTING_NET, timeout=15)
    board.expect_led(ERROR, timeout=70)
    board.expect_led(WAIT_CONFIG, timeout=40)


@pytest.mark.spec("4.2", "1.4")
def test_led_shows_cloud_connecting_then_running(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """A cloud that does not answer: CONNECTING_CLOUD blinks Blynk green {100,100} while the board dials, and
    ERROR flashes red; provisioned for real, RUNNING breathes Blynk green over 5 s."""
    board.expect_ap(timeout=60)
    token = phone.request_token()
    query = config_query(lab, token, port_ssl=str(closed_port()))
    status, _ = phone.board_get(board, "/config", query)
    assert status == 200
    board.expect_led(CONNECTING_CLOUD, timeout=30)
    board.expect_led(ERROR, timeout=70)
    board.expect_led(WAIT_CONFIG, timeout=40)
    phone.provision(board)
    board.expect_led(RUNNING, timeout=60)
