"""Workflows A, B and C of the tenancy issue, end to end: the REST API for the people, the phone and an
emulated board for the device; each asserts final owner, org, visibility from above and invisibility from
a sibling org."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from provlab.cloud.stub import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD, CloudStub
from provlab.lab.config import LabConfig
from provlab.lab.lab import Lab

PASSWORD = "client-pw-1"
TEMPLATE = LabConfig().template_id


@dataclass
class Rest:
    """One logged-in user's synchronous REST client against the lab's cloud."""

    http: httpx.Client
    headers: dict[str, str]

    def call(self, method: str, path: str, json: Any = None) -> httpx.Response:
        return self.http.request(method, path, json=json, headers=self.headers)

    def ok(self, method: str, path: str, json: Any = None) -> Any:
        response = self.call(method, path, json)
        assert response.status_code in (200, 201), f"{method} {path}: {response.status_code} {response.text}"
        return response.json()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    with Lab(LabConfig(boards=1, time_scale=0.01), artifacts=tmp_path) as lab:
        yield lab


@pytest.fixture
def http(lab: Lab) -> Iterator[httpx.Client]:
    assert lab.cloud is not None and lab.cloud.endpoints is not None
    with httpx.Client(base_url=lab.cloud.endpoints.http_url, timeout=10) as client:
        yield client


def login(http: httpx.Client, email: str, password: str = PASSWORD) -> Rest:
    response = http.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return Rest(http, {"Authorization": f"Bearer {response.json()['accessToken']}"})


def client_org(admin: Rest, name: str, parent: int | None = None) -> int:
    """A sub-org with the lab's template enabled (what the admin does for every client)."""
    body = {"name": name} if parent is None else {"name": name, "parentId": parent}
    org = admin.ok("POST", "/api/v1/organizations", body)["id"]
    admin.ok("PUT", f"/api/v1/organizations/{org}/templates/{TEMPLATE}")
    return int(org)


def invite_and_accept(lab: Lab, http: httpx.Client, admin: Rest, org: int, email: str, role: str = "Admin") -> Rest:
    """Invite by e-mail, read the mail from the stub's sink, follow the link, set the password, log in."""
    admin.ok("POST", f"/api/v1/organizations/{org}/invitations", {"email": email, "role": role})

    def mails(cloud: CloudStub) -> list[str]:
        return [m.body for m in cloud.mailbox(email)]

    [body] = lab.cloud_call(mails)
    match = re.search(r"/invite\?token=([\w-]+)", body)
    assert match is not None, body
    accepted = http.post("/api/v1/invitations/accept", json={"token": match.group(1), "password": PASSWORD})
    assert accepted.status_code == 200, accepted.text
    return login(http, email)


def sees(rest: Rest, device_id: int) -> bool:
    return device_id in {d["id"] for d in rest.ok("GET", "/api/v1/devices")}


def test_workflow_a_client_self_provisions(lab: Lab, http: httpx.Client) -> None:
    admin = login(http, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
    acme = client_org(admin, "Acme Corp")
    client = invite_and_accept(lab, http, admin, acme, "owner@acme.test")
    other = client_org(admin, "Other Corp")
    sibling = invite_and_accept(lab, http, admin, other, "owner@other.test")
    board = lab.boards[0]
    enrollment = lab.phone("owner@acme.test", PASSWORD).provision(board)
    board.expect_state("RUNNING", timeout=60)
    device = lab.device_for(enrollment)
    assert device is not None and lab.is_online(device.id)
    assert (device.org_id, device.owner_id) == (acme, lab.user("owner@acme.test").id)
    assert sees(client, device.id) and sees(admin, device.id)
    assert not sees(sibling, device.id)
    assert sibling.call("GET", f"/api/v1/devices/{device.id}").status_code == 404


def test_workflow_b_provision_then_transfer(lab: Lab, http: httpx.Client) -> None:
    admin = login(http, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
    board = lab.boards[0]
    enrollment = lab.phone().provision(board)  # the admin's phone: the device lands in the root org
    board.expect_state("RUNNING", timeout=60)
    device = lab.device_for(enrollment)
    assert device is not None and device.org_id == lab.user(DEFAULT_ADMIN_EMAIL).org_id
    acme = client_org(admin, "Acme Corp")
    client = invite_and_accept(lab, http, admin, acme, "owner@acme.test", role="User")
    sibling = invite_and_accept(lab, http, admin, client_org(admin, "Other Corp"), "owner@other.test")
    assert not sees(client, device.id)
    client_id = lab.user("owner@acme.test").id
    moved = admin.ok("POST", f"/api/v1/devices/{device.id}/transfer", {"userEmail": "owner@acme.test"})
    assert (moved["orgId"], moved["ownerId"]) == (acme, client_id)
    # it keeps working: same session, same token, still RUNNING
    after = lab.device_for(enrollment)
    assert after is not None and (after.id, after.token, after.org_id) == (device.id, device.token, acme)
    assert lab.is_online(device.id)
    assert lab.cloud_call(lambda cloud: cloud.write_pin(device.id, "V1", "after transfer"))  # pushed live
    assert lab.wait_cloud_event("device_transferred")["to_org"] == acme
    assert not lab.cloud_events("device_offline")
    assert sees(client, device.id) and sees(admin, device.id) and not sees(sibling, device.id)


def test_workflow_c_support(lab: Lab, http: httpx.Client) -> None:
    admin = login(http, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
    acme = client_org(admin, "Acme Corp")
    client = invite_and_accept(lab, http, admin, acme, "owner@acme.test")
    board = lab.boards[0]
    enrollment = lab.phone("owner@acme.test", PASSWORD).provision(board)
    board.expect_state("RUNNING", timeout=60)
    device = lab.device_for(enrollment)
    assert device is not None
    # switch into the client's org: the admin sees what the client sees
    mine = client.ok("GET", "/api/v1/devices")
    assert (
        admin.ok("GET", f"/api/v1/organizations/{acme}/devices")
        == mine
        == [{"id": device.id, "name": device.name, "templateId": TEMPLATE, "orgId": acme, "ownerId": device.owner_id}]
    )
    assert admin.ok("GET", f"/api/v1/organizations/{acme}/users") == client.ok(
        "GET", f"/api/v1/organizations/{acme}/users"
    )
    # move a user to another org: needs the e-mail of an admin of the destination
    globex = client_org(admin, "Globex")
    invite_and_accept(lab, http, admin, globex, "admin@globex.test")
    staff = invite_and_accept(lab, http, admin, acme, "staff@acme.test", role="Staff")
    staff_id = lab.user("staff@acme.test").id
    no_admin = admin.call("POST", f"/api/v1/users/{staff_id}/transfer", {"orgId": globex, "adminEmail": "x@y.test"})
    assert no_admin.status_code == 404
    admin.ok("POST", f"/api/v1/users/{staff_id}/transfer", {"orgId": globex, "adminEmail": "admin@globex.test"})
    assert lab.user("staff@acme.test").org_id == globex
    assert not sees(staff, device.id)  # the moved user no longer sees Acme's devices
    # move a whole sub-org under another: Acme (with its device) goes under Globex
    admin.ok("POST", f"/api/v1/organizations/{acme}/transfer", {"parentId": globex})
    globex_admin = login(http, "admin@globex.test")
    assert sees(globex_admin, device.id) and sees(admin, device.id) and sees(client, device.id)
    assert lab.is_online(device.id)
    after = lab.device_for(enrollment)
    assert after is not None and (after.org_id, after.owner_id) == (acme, device.owner_id)
