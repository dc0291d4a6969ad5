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


def test_automation_provisions_for_a_client_through_oauth2(lab: Lab, board: LabBoard) -> None:
    """A by automation: the admin's OAuth2 client logs the phone in as the client (no password known) and
    provisions the board; it lands in the client's org under the client's account."""
    admin = lab.rest()
    acme = admin.create_org("Acme Corp", lab.config.template_id)
    client = lab.invite_user(admin, acme, "owner@acme.test", PASSWORD)
    sibling = lab.invite_user(admin, admin.create_org("Other Corp", lab.config.template_id), "o@other.test", PASSWORD)
    robot = admin.create_oauth_client()
    enrollment = lab.phone("owner@acme.test", oauth_client=robot).provision(board)
    board.expect_state("RUNNING", timeout=60)
    login = next(step for step in enrollment.steps if step.name == "cloud_login")
    assert login.args["via"] == f"oauth2 client {robot.client_id}"
    assert [e["user"] for e in lab.cloud_events("oauth_token")] == ["owner@acme.test"]
    device = lab.device_for(enrollment)
    assert device is not None and lab.is_online(device.id)
    assert (device.org_id, device.owner_id) == (acme, lab.user("owner@acme.test").id)
    assert device.id in client.device_ids() and device.id in admin.device_ids()
    assert device.id not in sibling.device_ids()


def test_admin_phone_provisions_straight_into_a_sub_org(lab: Lab, board: LabBoard) -> None:
    """B without the transfer: the admin's phone asks for the token with the client's `orgId`."""
    admin = lab.rest()
    acme = admin.create_org("Acme Corp", lab.config.template_id)
    client = lab.invite_user(admin, acme, "owner@acme.test", PASSWORD)  # an Admin there: sees the org's devices
    viewer = lab.invite_user(admin, acme, "viewer@acme.test", PASSWORD, role="User")  # sees only its own
    sibling = lab.invite_user(admin, admin.create_org("Other Corp", lab.config.template_id), "o@other.test", PASSWORD)
    enrollment = lab.phone(oauth_client=admin.create_oauth_client()).provision(board, org_id=acme)
    board.expect_state("RUNNING", timeout=60)
    device = lab.device_for(enrollment)
    assert device is not None and lab.is_online(device.id)
    assert (device.org_id, device.owner_id) == (acme, lab.user("admin@provlab.test").id)
    assert device.id in client.device_ids() and device.id in admin.device_ids()
    assert device.id not in sibling.device_ids() and device.id not in viewer.device_ids()


def test_a_client_admin_cannot_act_for_a_sibling_org_or_provision_into_it(lab: Lab, board: LabBoard) -> None:
    """Isolation for automation: a client admin's OAuth2 client cannot log in as a user of a sibling org,
    nor can the client admin's phone ask for a token into the sibling org."""
    admin = lab.rest()
    acme = admin.create_org("Acme Corp", lab.config.template_id)
    other = admin.create_org("Other Corp", lab.config.template_id)
    acme_admin = lab.invite_user(admin, acme, "owner@acme.test", PASSWORD)
    lab.invite_user(admin, other, "o@other.test", PASSWORD)
    robot = acme_admin.create_oauth_client()
    stranger = lab.phone("o@other.test", oauth_client=robot).provision(board, check=False)
    assert not stranger.ok and stranger.failure is FailureKind.CLOUD_API
    assert [s.name for s in stranger.steps] == ["cloud_login"]
    intruder = lab.phone("owner@acme.test", oauth_client=robot).provision(board, org_id=other, check=False)
    assert not intruder.ok and intruder.failure is FailureKind.CLOUD_API
    assert lab.cloud_events("token_issued") == [] and lab.cloud_events("token_activated") == []
    board.expect_state("WAIT_CONFIG", timeout=10)


def test_support_switches_in_moves_a_user_and_moves_the_org(lab: Lab, board: LabBoard) -> None:
    """C: support sees what the client sees, moves a user (with the destination admin's e-mail) and moves the
    client's whole sub-org under another one; the device keeps its org, owner and session throughout."""
    admin = lab.rest()
    acme = admin.create_org("Acme Corp", lab.config.template_id)
    client = lab.invite_user(admin, acme, "owner@acme.test", PASSWORD)
    enrollment = lab.phone("owner@acme.test", PASSWORD).provision(board)
    board.expect_state("RUNNING", timeout=60)
    device = lab.device_for(enrollment)
    assert device is not None
    # switch into the client's org: the admin sees exactly what the client sees
    assert admin.ok("GET", f"/api/v1/organizations/{acme}/devices") == client.ok("GET", "/api/v1/devices")
    assert admin.ok("GET", f"/api/v1/organizations/{acme}/users") == client.ok(
        "GET", f"/api/v1/organizations/{acme}/users"
    )
    # move a user: refused without the e-mail of an admin of the destination, done with it
    globex = admin.create_org("Globex", lab.config.template_id)
    lab.invite_user(admin, globex, "admin@globex.test", PASSWORD)
    staff = lab.invite_user(admin, acme, "staff@acme.test", PASSWORD, role="Staff")
    assert device.id in staff.device_ids()
    staff_id = lab.user("staff@acme.test").id
    wrong = admin.call("POST", f"/api/v1/users/{staff_id}/transfer", {"orgId": globex, "adminEmail": "x@y.test"})
    assert wrong.status_code == 404
    admin.ok("POST", f"/api/v1/users/{staff_id}/transfer", {"orgId": globex, "adminEmail": "admin@globex.test"})
    assert lab.user("staff@acme.test").org_id == globex
    assert device.id not in staff.device_ids()  # the moved user no longer sees Acme's devices
    # move the whole sub-org under Globex: Globex's admin now sees the device from above
    sibling = lab.invite_user(admin, admin.create_org("Initech", lab.config.template_id), "o@initech.test", PASSWORD)
    globex_admin = lab.rest("admin@globex.test", PASSWORD)
    assert device.id not in globex_admin.device_ids()
    admin.ok("POST", f"/api/v1/organizations/{acme}/transfer", {"parentId": globex})
    assert device.id in globex_admin.device_ids() and device.id in admin.device_ids()
    assert device.id in client.device_ids() and device.id not in sibling.device_ids()
    after = lab.device_for(enrollment)
    assert after is not None and (after.org_id, after.owner_id, after.token) == (acme, device.owner_id, device.token)
    assert lab.is_online(device.id) and not lab.cloud_events("device_offline")
