"""Conformance, config store (spec §3, §1.3, §5.2): what a board keeps across a reboot, seen from outside.

The blob itself (§3.1) is behind the chip's flash; what it holds shows in what the board does after a reset:
boots into CONNECTING_NET with the token's first 4 characters in the banner, joins with the stored password (the
longest WPA passphrase, all 63 characters of `wifiPass[64]`), and after a factory reset boots unconfigured.
"""

from __future__ import annotations

import pytest

from provlab.fixtures import HomeNetwork, Lab, LabBoard, LabPhone

from .support import in_config_mode, stamps_of

pytestmark = pytest.mark.needs_edgent_log  # read from the Edgent firmware's own serial log

LONGEST_PASSPHRASE = "Longest-WPA2-passphrase-is-63-characters-so-this-one-fills-them"


@pytest.mark.needs_reset
@pytest.mark.spec("3.1", "3.2", "1.3", "5.2", "1.4")
@pytest.mark.lab(home=HomeNetwork(ssid="ProvlabLongPass", passphrase=LONGEST_PASSPHRASE))
def test_provisioned_config_survives_a_reset(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """After the first login the config is VALID in flash: a reset boots `INIT => CONNECTING_NET`, the banner
    shows the token's first 4 characters, and the board joins with its 63-character password and logs in again."""
    assert len(LONGEST_PASSPHRASE) == 63
    enrollment = phone.provision(board)
    board.expect_state("RUNNING", timeout=60)
    token = enrollment.token
    assert token is not None
    mark = board.mark()
    board.reset()
    board.expect_exact("INIT => CONNECTING_NET", timeout=30, since=mark)
    banner = [r.line.raw for r in board.lines(mark) if r.line.raw.startswith(" Token:")]
    assert banner == [f" Token:     {token[:4]} - •••• - •••• - ••••"], banner
    board.expect_state("RUNNING", timeout=120, since=mark)
    assert len(lab.cloud_events("device_online")) == 2


@pytest.mark.needs_reset
@pytest.mark.spec("3.2", "5.5", "1.4", "5.2")
@pytest.mark.needs_console
def test_factory_reset_is_written_to_flash(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """Console `config erase` on a provisioned board: `Resetting configuration!`, WAIT_CONFIG; after a reset it
    boots `INIT => WAIT_CONFIG` with no token in the banner and reports `last_error` 0."""
    phone.provision(board)
    board.expect_state("RUNNING", timeout=60)
    mark = board.mark()
    board.console("config erase")
    board.expect_exact("Resetting configuration!", timeout=10, since=mark)
    board.expect_state("WAIT_CONFIG", timeout=10, since=mark)
    booted = board.mark()
    board.reset()
    board.expect_exact("INIT => WAIT_CONFIG", timeout=30, since=booted)
    assert not [r for r in board.lines(booted) if r.line.raw.startswith(" Token:")]
    in_config_mode(board, since=booted)
    assert not stamps_of(board, booted, "Connecting to WiFi:")
