"""Isolation, proven: every role x org relation x action over real HTTP. What the model allows succeeds;
everything else is refused (403/404, never a 2xx or a 400 that would reveal the target) and no listing
shows anything out of sight."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from cloud_helpers import TEMPLATE_ID, Cloud, run, running_cloud
from store_backends import CloudDb
from tenancy_helpers import Api, Tree, add_user, build_tree, login

from provlab.cloud.tenancy import DEFAULT_MATRIX, Permission, Role

P = Permission
ROLES = (Role.ADMIN, Role.STAFF, Role.USER)
RELATIONS = ("own", "ancestor", "descendant", "sibling", "unrelated")  # as seen from org A


@dataclass(frozen=True)
class Action:
    name: str
    needs: tuple[Permission, ...]
    acts: bool  # acting below the own org also needs SWITCH_TO_SUBORGS
    call: Callable[[Api, Cloud, int, int], Awaitable[httpx.Response]]  # (api, cloud, target org, n)


def _device_in(cloud: Cloud, org: int) -> int:
    owner = cloud.stub.store.users.by_email(f"admin-{org}@x.test")
    assert owner is not None
    return cloud.stub.store.devices.login(cloud.stub.issue_token(TEMPLATE_ID, owner).token).id


async def _transfer_into(api: Api, cloud: Cloud, org: int, n: int) -> httpx.Response:
    actor = cloud.stub.store.users.by_email(api.email)
    assert actor is not None
    device = _device_in(cloud, actor.org_id)  # a fresh device of the actor's own org each time
    return await api.call("POST", f"/api/v1/devices/{device}/transfer", {"orgId": org})


ACTIONS = (
    Action("view org", (), False, lambda a, c, o, n: a.call("GET", f"/api/v1/organizations/{o}")),
    Action("view users", (P.VIEW_USERS,), False, lambda a, c, o, n: a.call("GET", f"/api/v1/organizations/{o}/users")),
    Action("view roles", (P.VIEW_ROLES,), False, lambda a, c, o, n: a.call("GET", f"/api/v1/organizations/{o}/roles")),
    Action(
        "view templates",
        (P.VIEW_TEMPLATES,),
        False,
        lambda a, c, o, n: a.call("GET", f"/api/v1/organizations/{o}/templates"),
    ),
    Action(
        "view org devices",
        (P.VIEW_ORG_DEVICES,),
        False,
        lambda a, c, o, n: a.call("GET", f"/api/v1/devices/{c.stub.store.devices.in_orgs([o])[0].id}"),
    ),
    Action(
        "provision",
        (P.PROVISION_DEVICES,),
        True,
        lambda a, c, o, n: a.call("POST", "/api/v1/provisioning/tokens", {"templateId": TEMPLATE_ID, "orgId": o}),
    ),
    Action(
        "invite",
        (P.INVITE_USERS,),
        True,
        lambda a, c, o, n: a.call("POST", f"/api/v1/organizations/{o}/invitations", {"email": f"inv{n}@x.test"}),
    ),
    Action(
        "create sub-org",
        (P.ACCESS_ORG_SETTINGS,),
        True,
        lambda a, c, o, n: a.call("POST", "/api/v1/organizations", {"name": f"New {n}", "parentId": o}),
    ),
    Action(
        "enable template",
        (P.ACCESS_ORG_SETTINGS,),
        True,
        lambda a, c, o, n: a.call("PUT", f"/api/v1/organizations/{o}/templates/{TEMPLATE_ID}"),
    ),
    Action(
        "edit roles",
        (P.EDIT_ROLES,),
        True,
        lambda a, c, o, n: a.call(
            "PUT",
            f"/api/v1/organizations/{o}/roles/User",
            {"permissions": sorted(p.value for p in DEFAULT_MATRIX[Role.USER])},  # unchanged: the matrix stays
        ),
    ),
    Action("transfer device into", (P.TRANSFER_DEVICES,), True, _transfer_into),
    Action(
        "edit user",
        (P.EDIT_USERS,),
        True,
        lambda a, c, o, n: a.call("PATCH", f"/api/v1/users/{_admin_of(c, o)}", {"role": "Admin"}),  # unchanged
    ),
    Action(
        "refresh device token",
        (P.EDIT_AUTH_TOKENS,),
        True,
        lambda a, c, o, n: a.call("POST", f"/api/v1/devices/{c.stub.store.devices.in_orgs([o])[0].id}/token/refresh"),
    ),
)


def _admin_of(cloud: Cloud, org: int) -> int:
    user = cloud.stub.store.users.by_email(f"admin-{org}@x.test")
    assert user is not None
    return user.id


def expected_allowed(role: Role, relation: str, action: Action) -> bool:
    have = DEFAULT_MATRIX[role]
    if relation not in ("own", "descendant") or not set(action.needs) <= have:
        return False
    return not (action.acts and relation == "descendant" and P.SWITCH_TO_SUBORGS not in have)


def targets(tree: Tree) -> dict[str, int]:
    return {"own": tree.a, "ancestor": tree.root, "descendant": tree.a1, "sibling": tree.b, "unrelated": tree.b1}


def test_every_role_relation_and_action(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db, smtp="sink") as cloud:
            tree = build_tree(cloud.stub)
            for org in (tree.root, tree.a, tree.a1, tree.b, tree.b1):
                add_user(cloud, f"admin-{org}@x.test", org)
                _device_in(cloud, org)
            for role in ROLES:
                add_user(cloud, f"{role.value.lower()}@a.test", tree.a, role.value)
            outcomes: list[str] = []
            succeeded = 0
            counter = itertools.count()
            async with cloud.http() as http:
                for role in ROLES:
                    api = await login(http, f"{role.value.lower()}@a.test")
                    for (relation, org), action in itertools.product(targets(tree).items(), ACTIONS):
                        response = await action.call(api, cloud, org, next(counter))
                        allowed = expected_allowed(role, relation, action)
                        ok = response.status_code in (200, 201) if allowed else response.status_code in (403, 404)
                        if (
                            relation in ("ancestor", "sibling", "unrelated")
                            and P.SWITCH_TO_SUBORGS in DEFAULT_MATRIX[role]
                        ):
                            ok = ok and (response.status_code == 404 or not set(action.needs) <= DEFAULT_MATRIX[role])
                        succeeded += response.status_code in (200, 201)
                        if not ok:
                            outcomes.append(
                                f"{role.value} {action.name} in {relation}: expected "
                                f"{'allowed' if allowed else 'refused'}, got {response.status_code} {response.text}"
                            )
            assert not outcomes, "\n".join(outcomes)
            assert next(counter) == len(ROLES) * len(RELATIONS) * len(ACTIONS)
            expected = sum(expected_allowed(r, rel, a) for r, rel, a in itertools.product(ROLES, RELATIONS, ACTIONS))
            assert succeeded == expected == 43  # Admin 26, Staff 14, User 3

    run(body())


def test_listings_never_show_what_is_out_of_sight(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            tree = build_tree(cloud.stub)
            for org in (tree.root, tree.a, tree.a1, tree.b, tree.b1):
                add_user(cloud, f"admin-{org}@x.test", org)
                _device_in(cloud, org)
            user_id = add_user(cloud, "user@a.test", tree.a, "User")
            own_device = cloud.stub.store.devices.login(
                cloud.stub.issue_token(TEMPLATE_ID, cloud.stub.store.users.get(user_id)).token
            )
            store = cloud.stub.store
            async with cloud.http() as http:
                for email, visible in [
                    (f"admin-{tree.a}@x.test", {tree.a, tree.a1}),
                    (f"admin-{tree.b1}@x.test", {tree.b1}),
                    (f"admin-{tree.root}@x.test", {tree.root, tree.a, tree.a1, tree.b, tree.b1}),
                ]:
                    api = await login(http, email)
                    orgs = {o["id"] for o in await api.ok("GET", "/api/v1/organizations")}
                    assert orgs == visible, email
                    devices = {d["id"] for d in await api.ok("GET", "/api/v1/devices")}
                    assert devices == {d.id for d in store.devices.in_orgs(visible)}, email
                    users = await api.ok("GET", f"/api/v1/organizations/{min(visible)}/users")
                    assert {u["orgId"] for u in users} <= visible
                user = await login(http, "user@a.test")
                assert [d["id"] for d in await user.ok("GET", "/api/v1/devices")] == [own_device.id]
                assert [d["id"] for d in await user.ok("GET", f"/api/v1/organizations/{tree.a}/devices")] == [
                    own_device.id
                ]

    run(body())
