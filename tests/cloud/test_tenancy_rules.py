"""No lockout of the root, templates inherited downwards only, plain ASCII ids (issue 13, points 3 and 4)."""

from __future__ import annotations

import pytest
from cloud_helpers import TEMPLATE_ID, run, running_cloud
from store_backends import CloudDb
from tenancy_helpers import add_user, build_tree, login

from provlab.cloud.ids import BadId, parse_id
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
