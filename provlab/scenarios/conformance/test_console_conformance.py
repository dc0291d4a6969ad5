"""Conformance, console and button (spec §5.5, §4.1): exact console replies, the hold hint and the hold times."""

from __future__ import annotations

import json

import pytest

from provlab.fixtures import Lab, LabBoard, LabPhone

from .support import in_config_mode, stamps_of

pytestmark = pytest.mark.needs_edgent_log  # read from the Edgent firmware's own serial log

BAD_ARGS = '{"status":"error","msg":"invalid arguments. expected: <auth> <ssid> <pass>"}'
REBOOTING = '{"status":"OK","msg":"rebooting wifi module"}'
BAD_TOKEN = '{"status":"error","msg":"invalid token size"}'
CONNECT_OK = '{"status":"OK","msg":"trying to connect..."}'


@pytest.mark.spec("5.5", "5.1")
@pytest.mark.needs_console
def test_console_answers_exactly_and_refuses_a_bad_connect(lab: Lab, board: LabBoard) -> None:
    """`devinfo` is the §5.5 JSON in that key order; `connect` with one argument or a 31-character token is
    refused with the exact error JSON and the board stays in config mode; an unknown command says so; `reboot`
    answers its JSON and restarts."""
    mark = in_config_mode(board)
    reply = board.console("devinfo")
    assert len(reply) == 1 and list(json.loads(reply[0])) == ["name", "board", "tmpl_id", "fw_type", "fw_ver"]
    assert json.loads(reply[0])["name"] == board.ssid
    assert board.console("connect onlyone") == [BAD_ARGS]
    assert board.console(f"connect {'A' * 31} {lab.config.home.ssid} pass") == [BAD_TOKEN]
    with pytest.raises(Exception, match=r"Command not found\."):  # the driver names it ConsoleCommandNotFound
        board.console("frobnicate")
    lab.wait(3)
    assert not stamps_of(board, mark, "Switching to STA..."), "a refused `connect` left config mode"
    stamped = [r.line for r in board.lines(mark) if "=>" in r.line.text]
    assert all(line.raw.startswith(f"[{line.millis}] ") for line in stamped)
    rebooted = board.mark()
    assert REBOOTING in board.console("reboot", timeout=30)
    board.expect_exact("INIT => WAIT_CONFIG", timeout=30, since=rebooted)


@pytest.mark.needs_button
@pytest.mark.spec("4.1", "5.3", "1.4")
def test_button_hint_on_press_and_reset_only_after_10s(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """A press prints the hold hint; a 5 s hold resets nothing; a 10.5 s hold resets the configuration on release
    (RESET_CONFIG, `Resetting configuration!`, WAIT_CONFIG)."""
    mark = in_config_mode(board)
    board.hold_button(5)
    board.expect_exact("Hold the button for 10 seconds to reset configuration...", timeout=2, since=mark)
    lab.wait(2)
    assert not stamps_of(board, mark, "WAIT_CONFIG => RESET_CONFIG"), "a 5 s hold reset the configuration"
    held = board.mark()
    board.hold_button(10.5)
    board.expect_state("RESET_CONFIG", timeout=5, since=held)
    board.expect_exact("Resetting configuration!", timeout=5, since=held)
    board.expect_state("WAIT_CONFIG", timeout=10, since=held)


@pytest.mark.spec("5.5", "1.4", "3.2")
@pytest.mark.needs_console
@pytest.mark.needs_reset
def test_console_connect_joins_unsaved_and_commands_ignore_case(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """`help` lists the commands in the sketch's order; a command matches in any case (`DevInfo`); `connect
    <auth> <ssid> <pass>` answers its JSON, switches to STA and joins that network with the default cloud, and
    its config is not saved: after a reset the board is back in config mode."""
    mark = in_config_mode(board)
    shown = board.console("help")
    assert len(shown) == 1 and shown[0].startswith("Available commands: help, ?, reboot, config, devinfo"), shown
    assert board.console("DevInfo") == board.console("devinfo")
    token = phone.request_token()
    home = lab.config.home
    assert board.console(f"connect {token} {home.ssid} {home.passphrase}") == [CONNECT_OK]
    board.expect_state("SWITCH_TO_STA", timeout=10, since=mark)
    board.expect_exact(f"Connecting to WiFi: {home.ssid}", timeout=30, since=mark)
    board.expect(r"Using (?:Dynamic|Static) IP: ", timeout=60, since=mark)
    board.expect_state("CONNECTING_CLOUD", timeout=30, since=mark)
    reset = board.mark()
    board.reset()
    board.expect_exact("INIT => WAIT_CONFIG", timeout=30, since=reset)
