"""Recovery from the network: a failed attempt explains itself, late routers and lost APs are survived."""

from __future__ import annotations

import pytest

from provlab.fixtures import FailureKind, Lab, LabBoard, LabPhone


def test_wrong_password_is_diagnosed_as_701_from_board_info(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """P1: the phone re-joins the AP after the board's error reboot and reads `last_error` 701."""
    enrollment = phone.provision(board, wifi_pass="not-the-password", online_timeout=80, check=False)
    assert not enrollment.ok
    assert enrollment.failure is FailureKind.NETWORK, enrollment.failure
    assert lab.cloud_events("token_activated") == []  # the issued token was never used


@pytest.mark.needs_edgent_log
def test_router_that_boots_late_is_joined_when_it_appears(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """P9: with save=1 the board keeps retrying (500 × 50 s) and comes online when the home AP appears."""
    home = lab.config.home.ssid
    lab.faults.ap_down(home)
    enrollment = phone.provision(board, save=True, online_timeout=5, check=False)
    assert not enrollment.ok
    board.expect("Connecting to WiFi: ", timeout=60)
    lab.faults.ap_up(home)
    board.expect_state("RUNNING", timeout=200)
    device = lab.device_for(enrollment)
    assert device is not None and lab.is_online(device.id)


def test_home_ap_lost_while_running_comes_back_with_the_same_token(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """P10: RUNNING → CONNECTING_NET once the session times out after the home AP goes; back to RUNNING with
    the same token."""
    enrollment = phone.provision(board)
    board.expect_state("RUNNING", timeout=60)
    mark = board.mark()
    lab.faults.ap_down(lab.config.home.ssid)
    # the sketch notices only when the session fails: `Heartbeat timeout`, up to 58 s after the last byte in
    board.expect_state("CONNECTING_NET", timeout=120, since=mark)
    lab.faults.ap_up(lab.config.home.ssid)
    board.expect_state("RUNNING", timeout=200, since=mark)
    assert len(lab.cloud_events("token_issued")) == 1
    device = lab.device_for(enrollment)
    assert device is not None and lab.is_online(device.id)


def test_tls_firmware_given_the_plain_port_ends_in_702(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    """C8: TLS firmware pointed at a plain-TCP port never connects; it records 702 and the phone reads it."""
    assert lab.cloud is not None and lab.cloud.endpoints is not None
    plain = lab.cloud.endpoints.binary_port
    enrollment = phone.provision(board, cloud_port=plain, online_timeout=80, check=False)
    assert not enrollment.ok
    assert enrollment.failure is FailureKind.CLOUD, enrollment.failure
