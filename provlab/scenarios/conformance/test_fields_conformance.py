"""Conformance, the rest of `/config` and the console's config mode (spec §2.3.1, §5.5, §1.4): the static IPv4
fields are used, and a bare console `config` enters config mode from RUNNING without erasing anything."""

from __future__ import annotations

import json

import pytest

from provlab.fixtures import Lab, LabBoard, LabPhone

from .support import CONFIG_TRYING, in_config_mode, send_config

pytestmark = pytest.mark.needs_edgent_log  # read from the Edgent firmware's own serial log

STATIC = {"ip": "192.168.1.77", "mask": "255.255.255.0", "gw": "192.168.1.1", "dns": "192.168.1.1"}


@pytest.mark.spec("2.3.1", "1.4", "5.3")
def test_static_ip_fields_are_used(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """`/config` with `ip`, `mask`, `gw`, `dns`: the board logs `Using Static IP: <ip>` (not a DHCP address)
    and logs in."""
    mark = in_config_mode(board)
    _, status, body = send_config(lab, board, phone, port_ssl=str(lab.cloud_port), **STATIC)
    assert (status, body) == (200, CONFIG_TRYING)
    board.expect_exact(f"Using Static IP: {STATIC['ip']}", timeout=60, since=mark, not_matching="Using Dynamic IP")
    board.expect_state("RUNNING", timeout=60, since=mark)


@pytest.mark.needs_reset
@pytest.mark.spec("3.1", "3.2", "1.3", "5.3")
def test_static_ip_is_kept_across_a_reset(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """The static IPv4 settings are part of the stored config (`CONFIG_FLAG_STATIC_IP`, `staticIP`…): once the
    board has logged in, a reset joins with `Using Static IP: <ip>` again, not DHCP."""
    mark = in_config_mode(board)
    _, status, body = send_config(lab, board, phone, port_ssl=str(lab.cloud_port), **STATIC)
    assert (status, body) == (200, CONFIG_TRYING)
    board.expect_state("RUNNING", timeout=120, since=mark)
    board.expect_exact("Configuration stored to flash", timeout=10, since=mark)
    booted = board.mark()
    board.reset()
    board.expect_exact("INIT => CONNECTING_NET", timeout=30, since=booted)
    board.expect_exact(f"Using Static IP: {STATIC['ip']}", timeout=60, since=booted, not_matching="Using Dynamic IP")
    board.expect_state("RUNNING", timeout=120, since=booted)


@pytest.mark.needs_reset
@pytest.mark.spec("5.5", "1.4", "3.2", "2.4")
@pytest.mark.needs_console
def test_console_config_enters_config_mode_and_keeps_the_config(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """A bare `config` on a RUNNING board: RUNNING => WAIT_CONFIG with the AP up and `last_error` 0; nothing is
    erased, so after a reset the board boots into CONNECTING_NET and logs in again."""
    phone.provision(board)
    board.expect_state("RUNNING", timeout=60)
    mark = board.mark()
    board.console("config")
    board.expect_exact("RUNNING => WAIT_CONFIG", timeout=10, since=mark)
    in_config_mode(board, since=mark)
    status, body = phone.board_get(board, "/board_info.json")
    assert status == 200 and json.loads(body)["last_error"] == 0
    booted = board.mark()
    board.reset()
    board.expect_exact("INIT => CONNECTING_NET", timeout=30, since=booted)
    board.expect_state("RUNNING", timeout=120, since=booted)
