"""No lockout of the root, templates inherited downwards only, plain ASCII ids (issue 13, points 3 and 4)."""

from __future__ import annotations

import pytest
from cloud_helpers import TEMPLATE_ID, Cloud, run, running_cloud
from store_backends import CloudDb
from tenancy_helpers import add_user, build_tree, login

from provlab.cloud.ids import BadId, parse_id
from provlab.cloud.records import User
from provlab.cloud.stub import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD

BAD_IDS = ["+1", " 1", "1 ", "1_0", "١", "٠١", "²", "-1", str(2**63), "1e999", "Infinity", "NaN", "0x1", "1.0", ""]


def test_emptying_the_root_admin_role_is_refused_with_409_and_a_reason(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            root_org = cloud.stub.admin().org_id
            tree = build_tree(cloud.stub)
            async with cloud.http() as http:
                root = await login(http, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
                before = await root.ok("GET", f"/api/v1/organizations/{root_org}/roles")
                admin_role = f"/api/v1/organizations/{root_org}/roles/Admin"
                for change in (
                    {"permissions": []},
                    {"permissions": ["VIEW_USERS"]},
                    {"permissions": [], "applyToSubOrganizations": "overwrite"},
                ):
                    refused = await root.call("PUT", admin_role, change)
                    assert refused.status_code == 409, refused.text
                    assert "EDIT_ROLES" in refused.json()["error"]["message"]
                assert await root.ok("GET", f"/api/v1/organizations/{root_org}/roles") == before
                # a sub-org stays manageable from above: emptying its Admin role is allowed
                emptied = await root.call("PUT", f"/api/v1/organizations/{tree.a}/roles/Admin", {"permissions": []})
                assert emptied.status_code == 200, emptied.text
                # Staff holding EDIT_ROLES is not enough while no active Staff user exists
                staff = sorted({*before["Staff"], "EDIT_ROLES", "VIEW_ROLES"})
                await root.ok("PUT", f"/api/v1/organizations/{root_org}/roles/Staff", {"permissions": staff})
                no_one = await root.call("PUT", admin_role, {"permissions": ["VIEW_USERS"]})
                assert no_one.status_code == 409 and "no active user" in no_one.json()["error"]["message"]
                add_user(cloud, "staff@x.test", root_org, "Staff")
                assert (await root.call("PUT", admin_role, {"permissions": ["VIEW_USERS"]})).status_code == 200
                assert (await root.call("GET", f"/api/v1/organizations/{root_org}/roles")).status_code == 403

    run(body())


def test_a_suborg_enables_only_templates_its_parent_has(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            tree = build_tree(cloud.stub, enable=False)
            async with cloud.http() as http:
                root = await login(http, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
                skip = await root.call("PUT", f"/api/v1/organizations/{tree.a1}/templates/{TEMPLATE_ID}")
                assert skip.status_code == 403 and "parent organization" in skip.json()["error"]["message"]
                assert not cloud.stub.tree.template_enabled(tree.a1, TEMPLATE_ID)
                await root.ok("PUT", f"/api/v1/organizations/{tree.a}/templates/{TEMPLATE_ID}")
                await root.ok("PUT", f"/api/v1/organizations/{tree.a1}/templates/{TEMPLATE_ID}")
                assert cloud.stub.tree.template_enabled(tree.a1, TEMPLATE_ID)

    run(body())


@pytest.mark.parametrize("text", BAD_IDS)
def test_ids_are_plain_ascii_decimal(text: str) -> None:
    with pytest.raises(BadId):
        parse_id(text, "orgId")


@pytest.mark.parametrize("value", [True, 1.0, 1.5, float("inf"), 2**63, -1, None, [1], {"id": 1}])
def test_json_ids_are_integers_in_range(value: object) -> None:
    with pytest.raises(BadId):
        parse_id(value, "orgId")


def test_good_ids_parse() -> None:
    assert [parse_id(v, "id") for v in ("0", "7", "0012", str(2**63 - 1), 5)] == [0, 7, 12, 2**63 - 1, 5]


def test_no_odd_id_names_another_object_or_fails_with_500(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            tree = build_tree(cloud.stub)
            async with cloud.http() as http:
                root = await login(http, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
                for text in BAD_IDS:
                    if not text.strip():
                        continue  # an empty or blank segment is another route
                    for method, path in (
                        ("GET", f"/api/v1/organizations/{text}"),
                        ("GET", f"/api/v1/devices/{text}"),
                        ("PATCH", f"/api/v1/users/{text}"),
                    ):
                        answer = await root.call(method, path, {"role": "Staff"})
                        assert answer.status_code in (400, 404), (method, path, answer.status_code, answer.text)
                raw_bodies = [b"1e999", b"Infinity", b"-Infinity", b"NaN", b'"+1"', b'"\\u0661"', b"1.0", b"true"]
                raw_bodies.append(str(2**63).encode())
                for raw in raw_bodies:
                    for path, field in (
                        ("/api/v1/organizations", "parentId"),
                        (f"/api/v1/organizations/{tree.a1}/transfer", "parentId"),
                        ("/api/v1/provisioning/tokens", "orgId"),
                    ):
                        extra = b', "templateId": "' + TEMPLATE_ID.encode() + b'", "name": "X"'
                        content = b'{"' + field.encode() + b'": ' + raw + extra + b"}"
                        answer = await http.post(
                            path, content=content, headers={**root.headers, "Content-Type": "application/json"}
                        )
                        assert answer.status_code in (400, 404), (path, raw, answer.status_code, answer.text)

    run(body())


def _user(cloud: Cloud, user_id: int) -> User:
    found = cloud.stub.store.users.get(user_id)
    assert found is not None, user_id
    return found


def test_moving_away_the_last_user_who_manages_the_roots_roles_is_refused_with_409(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            root_org = cloud.stub.admin().org_id
            tree = build_tree(cloud.stub)
            add_user(cloud, "admin-a@x.test", tree.a, "Admin")
            staff_id = add_user(cloud, "keeper@x.test", root_org, "Staff")
            async with cloud.http() as http:
                root = await login(http, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
                roles = await root.ok("GET", f"/api/v1/organizations/{root_org}/roles")
                staff = sorted({*roles["Staff"], "EDIT_ROLES"})
                await root.ok("PUT", f"/api/v1/organizations/{root_org}/roles/Staff", {"permissions": staff})
                admin = sorted(set(roles["Admin"]) - {"EDIT_ROLES"})  # the keeper is now the only manager
                await root.ok("PUT", f"/api/v1/organizations/{root_org}/roles/Admin", {"permissions": admin})
                moved = await root.call(
                    "POST", f"/api/v1/users/{staff_id}/transfer", {"orgId": tree.a, "adminEmail": "admin-a@x.test"}
                )
                assert moved.status_code == 409, moved.text
                message = moved.json()["error"]["message"]
                assert "keeper@x.test" in message and "EDIT_ROLES" in message
                assert _user(cloud, staff_id).org_id == root_org
                # with a second manager the same move is allowed
                add_user(cloud, "keeper-2@x.test", root_org, "Staff")
                await root.ok(
                    "POST", f"/api/v1/users/{staff_id}/transfer", {"orgId": tree.a, "adminEmail": "admin-a@x.test"}
                )

    run(body())


def test_nobody_grants_or_takes_away_more_than_they_hold(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            root_org = cloud.stub.admin().org_id
            add_user(cloud, "lead@x.test", root_org, "Staff")
            user_id = add_user(cloud, "plain@x.test", root_org, "User")
            admin_id = add_user(cloud, "other-admin@x.test", root_org, "Admin")
            async with cloud.http() as http:
                root = await login(http, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
                roles = await root.ok("GET", f"/api/v1/organizations/{root_org}/roles")
                lead_perms = sorted({*roles["Staff"], "EDIT_USERS", "DELETE_USERS"})
                await root.ok("PUT", f"/api/v1/organizations/{root_org}/roles/Staff", {"permissions": lead_perms})
                lead = await login(http, "lead@x.test")
                for method, path, change in (
                    ("PATCH", f"/api/v1/users/{user_id}", {"role": "Admin"}),  # grant what the lead lacks
                    ("PATCH", f"/api/v1/users/{admin_id}", {"role": "User"}),  # take away what the lead lacks
                    ("DELETE", f"/api/v1/users/{admin_id}", None),
                ):
                    refused = await lead.call(method, path, change)
                    assert refused.status_code == 403, (method, path, refused.text)
                    assert "lacks" in refused.json()["error"]["message"], refused.text
                assert _user(cloud, user_id).role == "User"
                assert _user(cloud, admin_id).role == "Admin"
                assert _user(cloud, admin_id).active
                # within what the lead holds, the same kind of change goes through
                await lead.ok("PATCH", f"/api/v1/users/{user_id}", {"role": "Staff"})
                assert _user(cloud, user_id).role == "Staff"

    run(body())
