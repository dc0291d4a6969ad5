"""Delivery workflows (issue 4 A and B) and permission-gated provisioning (C13, C14) with phone and board."""

from __future__ import annotations

from provlab.fixtures import FailureKind, Lab, LabBoard

PASSWORD = "client-pw-1"


def test_client_self_provisions_into_its_own_org(lab: Lab, board: LabBoard) -> None:
    """A: the client, invited by mail into its sub-org, provisions the board with its own phone."""
    admin = lab.rest()
    acme = admin.create_org("Acme Corp", lab.config.template_id)
    client = lab.invite_user(admin, acme, "owner@acme.test", PASSWORD)
    sibling = lab.invite_user(admin, admin.create_org("Other Corp", lab.config.template_id), "o@other.test", PASSWORD)
    enrollment = lab.phone("owner@acme.test", PASSWORD).provision(board)
    board.expect_state("RUNNING", timeout=60)
    device = lab.device_for(enrollment)
    assert device is not None and lab.is_online(device.id)
    assert (device.org_id, device.owner_id) == (acme, lab.user("owner@acme.test").id)
    assert device.id in client.device_ids() and device.id in admin.device_ids()
    assert device.id not in sibling.device_ids()
    assert sibling.call("GET", f"/api/v1/devices/{device.id}").status_code == 404


def test_provision_then_transfer_keeps_the_device_working(lab: Lab, board: LabBoard) -> None:
    """B (C13): the admin activates, then transfers the device to the client; it stays online, same token."""
    admin = lab.rest()
    enrollment = lab.phone().provision(board)
    board.expect_state("RUNNING", timeout=60)
    device = lab.device_for(enrollment)
    assert device is not None
    acme = admin.create_org("Acme Corp", lab.config.template_id)
    client = lab.invite_user(admin, acme, "owner@acme.test", PASSWORD, role="User")
    assert device.id not in client.device_ids()
    same = admin.call("POST", f"/api/v1/devices/{device.id}/transfer", {"userEmail": "admin@provlab.test"})
    assert same.status_code == 400 and "Can't transfer to the same owner" in same.text
    moved = admin.ok("POST", f"/api/v1/devices/{device.id}/transfer", {"userEmail": "owner@acme.test"})
    assert moved["orgId"] == acme
    after = lab.device_for(enrollment)
    assert after is not None and (after.id, after.token) == (device.id, device.token)
    assert lab.is_online(device.id) and not lab.cloud_events("device_offline")
    assert device.id in client.device_ids() and device.id in admin.device_ids()
    board.expect_state("RUNNING", timeout=5)


def test_user_without_provision_permission_gets_no_token(lab: Lab, board: LabBoard) -> None:
    """C14: a Staff/User role without PROVISION_DEVICES in its org's matrix cannot provision."""
    admin = lab.rest()
    acme = admin.create_org("Acme Corp", lab.config.template_id)
    lab.invite_user(admin, acme, "viewer@acme.test", PASSWORD, role="User")
    matrix = admin.ok("GET", f"/api/v1/organizations/{acme}/roles")  # {"Admin": [...], "User": [...]}
    remaining = [p for p in matrix["User"] if p != "PROVISION_DEVICES"]
    admin.ok("PUT", f"/api/v1/organizations/{acme}/roles/User", {"permissions": remaining})
    enrollment = lab.phone("viewer@acme.test", PASSWORD).provision(board, check=False)
    assert not enrollment.ok and enrollment.failure is FailureKind.CLOUD_API
    assert lab.cloud_events("token_issued") == []
