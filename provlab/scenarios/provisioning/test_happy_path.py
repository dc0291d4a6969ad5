"""happy_path: a factory-fresh board is provisioned by the phone and comes online in the user's org."""

from __future__ import annotations

import pytest

from provlab.fixtures import Lab, LabBoard, LabPhone


@pytest.mark.needs_edgent_log
def test_happy_path(lab: Lab, board: LabBoard, phone: LabPhone) -> None:
    board.expect_state("WAIT_CONFIG", timeout=30)
    board.expect_ap(timeout=30)

    enrollment = phone.provision(board)

    assert enrollment.ok, enrollment.failure
    assert [s.name for s in enrollment.steps][-6:] == [
        "board_info",
        "token",
        "wifi_scan",
        "config",
        "leave_ap",
        "wait_online",
    ]
    board.expect_state("RUNNING", timeout=60)
    board.expect("Ready \\(ping: \\d+ms\\)\\.", timeout=5)
    device = lab.device_for(enrollment)
    assert device is not None and device.id == enrollment.device_id
    assert lab.admin is not None
    assert device.owner_id == lab.admin.id and device.org_id == lab.admin.org_id
    assert device.template_id == lab.config.template_id
    assert lab.is_online(device.id)
