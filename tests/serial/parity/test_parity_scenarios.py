"""One scenario module, two ways to drive the board: its direct API, and its pty as a SerialBoard (issue 7 §5).

Every test takes a `BoardDriver` and never asks which kind it has; conftest.py runs each one against both.
Capabilities are asked for with markers, as on real hardware.
"""

from __future__ import annotations

import pytest
from parityworld import ParityWorld

from provlab.drivers.driver import BoardDriver
from provlab.drivers.serial_errors import ConsoleCommandNotFound, ExpectTimeout
from provlab.protocol.serial_log import (
    ButtonHoldHint,
    ConfigStored,
    Ready,
    ResettingConfig,
    RestartingAfterError,
)


def test_boots_into_config_mode_and_says_who_it_is(board: BoardDriver) -> None:
    board.expect_state("WAIT_CONFIG", timeout=60)
    board.expect(r"AP URL: +blynk\.setup", timeout=60)
    info = board.info
    assert info.name is not None and info.name.startswith("Blynk Device-")
    assert (info.fw_ver, info.blynk_version, info.platform) == ("0.1.0", "1.4.0", "ESP32 @ 240MHz")
    assert board.boots == 1


def test_the_console_answers(board: BoardDriver) -> None:
    board.expect_state("WAIT_CONFIG", timeout=60)
    devinfo = board.console("devinfo")
    assert devinfo.name == board.info.name
    assert (devinfo.board, devinfo.tmpl_id, devinfo.fw_ver) == ("Device", "TMPL0PROVLAB", "0.1.0")
    assert board.console("connect tooshort ProvlabHome").status().msg == "invalid token size"
    with pytest.raises(ConsoleCommandNotFound):
        board.console("frobnicate")


@pytest.mark.needs_button
def test_holding_the_button_ten_seconds_resets_the_configuration(board: BoardDriver) -> None:
    board.expect_state("WAIT_CONFIG", timeout=60)
    mark = board.mark()
    board.hold_button(10.5)
    board.expect_event(ButtonHoldHint, timeout=60, since=mark)
    board.expect_state("RESET_CONFIG", timeout=60, since=mark)
    board.expect_event(ResettingConfig, timeout=60, since=mark)
    board.expect_state("WAIT_CONFIG", timeout=60, since=mark)


@pytest.mark.needs_button
def test_a_short_press_resets_nothing(board: BoardDriver) -> None:
    board.expect_state("WAIT_CONFIG", timeout=60)
    mark = board.mark()
    board.hold_button(1)
    board.expect_event(ButtonHoldHint, timeout=60, since=mark)
    with pytest.raises(ExpectTimeout):
        board.expect_state("RESET_CONFIG", timeout=15, since=mark)


def test_the_phone_provisions_it_and_it_comes_online_then_forgets(board: BoardDriver, world: ParityWorld) -> None:
    board.expect(r"AP URL: +blynk\.setup", timeout=60)
    mark = board.mark()
    enrollment = world.provision()
    assert enrollment.ok, enrollment.failure
    board.expect_state("RUNNING", timeout=60, since=mark)
    board.expect_event(Ready, timeout=60, since=mark)
    board.expect_event(ConfigStored, timeout=60, since=mark)

    mark = board.mark()
    board.console("config erase")
    board.expect_state("RESET_CONFIG", timeout=60, since=mark)
    board.expect_state("WAIT_CONFIG", timeout=60, since=mark)


def test_a_wrong_wifi_password_is_error_701_then_config_mode(board: BoardDriver, world: ParityWorld) -> None:
    board.expect(r"AP URL: +blynk\.setup", timeout=60)
    mark = board.mark()
    enrollment = world.provision(wifi_pass="not-the-password", online_timeout=10, check=False)
    assert not enrollment.ok
    board.expect_state("ERROR", timeout=200, since=mark)
    assert board.last_error == 701
    mark = board.mark()
    board.expect_event(RestartingAfterError, timeout=100, since=mark)
    board.expect_state("WAIT_CONFIG", timeout=300, since=mark)
    assert board.boots == 2


@pytest.mark.needs_reset
def test_a_reset_reboots_into_config_mode(board: BoardDriver) -> None:
    board.expect_state("WAIT_CONFIG", timeout=60)
    mark = board.mark()
    board.reset()
    board.expect(r"/___/ v1\.4\.0 on ESP32", timeout=60, since=mark)
    board.expect_state("WAIT_CONFIG", timeout=60, since=mark)
    assert board.boots == 2
    assert board.console("devinfo").name == board.info.name
