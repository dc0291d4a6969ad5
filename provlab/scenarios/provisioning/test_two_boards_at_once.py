"""two_boards_at_once: two factory-fresh boards, provisioned at the same time by two phones, both come online
in the admin's org as two distinct devices."""

from __future__ import annotations

import pytest

from provlab.fixtures import Lab, LabBoard


@pytest.mark.lab(boards=2)
def test_two_boards_provisioned_at_once(lab: Lab, boards: list[LabBoard]) -> None:
    first, second = boards[0], boards[1]
    for board in (first, second):
        board.expect_state("WAIT_CONFIG", timeout=30)
    phones = [lab.phone(), lab.phone()]

    enrollments = lab.concurrently(lambda: phones[0].provision(first), lambda: phones[1].provision(second))

    for enrollment in enrollments:
        assert enrollment.ok, enrollment.failure
    for board in (first, second):
        board.expect_state("RUNNING", timeout=60)
    devices = [lab.device_for(enrollment) for enrollment in enrollments]
    assert lab.admin is not None
    ids = set()
    for device in devices:
        assert device is not None
        assert device.owner_id == lab.admin.id and device.org_id == lab.admin.org_id
        assert lab.is_online(device.id)
        ids.add(device.id)
    assert len(ids) == 2, f"two boards enrolled as one device: {ids}"
