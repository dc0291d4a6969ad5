"""The isolation matrix, generated from the stub's OpenAPI document: every secured route x the target's org as
seen from the actor's (own / child / parent / sibling) x every role x both credentials (a session from
`/api/v1/auth/login`, and an OAuth2 client-credentials bearer of an Admin's client acting as that user).
A leak is a 2xx for a parent or sibling target, or any answer that shows a name or e-mail of an org out of
sight. There must be none (issue 13, point 9).

Routes that name no org (`/me`, listings, creating a template or an OAuth2 client) are called for every
relation too; for them only the second kind of leak applies.
A route added to the document is in the matrix at once (with `{}` as its body until `BODIES` knows better).
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cloud_helpers import TEMPLATE_ID, Cloud, run, running_cloud
from tenancy_helpers import PASSWORD, Tree, add_user, build_tree

from provlab.cloud.tenancy import DEFAULT_MATRIX, Role
from provlab.cloud.tenancy_api import openapi_document

ROLES = (Role.ADMIN, Role.STAFF, Role.USER)
RELATIONS = ("own", "child", "parent", "sibling")
OUT_OF_SIGHT = ("parent", "sibling")
IN_SIGHT = ("own", "child")


@dataclass(frozen=True)
class Target:
    relation: str
    org: int
    own: int  # the actor's org
    n: int  # a fresh number for names


Body = Callable[[Target], Any]
BODIES: dict[tuple[str, str], Body] = {
    ("POST", "/api/v1/organizations"): lambda t: {"name": f"New {t.n}", "parentId": t.org},
    ("PATCH", "/api/v1/organizations/{org}"): lambda t: {"canCreateSubOrgs": True},
    ("POST", "/api/v1/organizations/{org}/transfer"): lambda t: {"parentId": t.own},
    ("PUT", "/api/v1/organizations/{org}/roles/{role}"): lambda t: {
        "permissions": sorted(p.value for p in DEFAULT_MATRIX[Role.USER])
    },
    ("POST", "/api/v1/organizations/{org}/invitations"): lambda t: {"email": f"inv{t.n}@x.test"},
    ("POST", "/api/v1/users/{user}/transfer"): lambda t: {"orgId": t.own, "adminEmail": f"admin-{t.own}@x.test"},
    ("PATCH", "/api/v1/users/{user}"): lambda t: {"role": "Admin"},
    ("POST", "/api/v1/templates"): lambda t: {"id": f"TMPLISO{t.n}", "name": "x"},  # always the actor's org
    ("POST", "/api/v1/devices/{device}/transfer"): lambda t: {"orgId": t.own},
    ("POST", "/api/v1/provisioning/tokens"): lambda t: {"templateId": TEMPLATE_ID, "orgId": t.org},
}


def secured_routes() -> list[tuple[str, str]]:
    """Every secured route of the OpenAPI document; logout last, since it ends the key the others are called with."""
    routes = [
        (method.upper(), path)
        for path, operations in openapi_document()["paths"].items()
        for method, operation in operations.items()
        if operation.get("security")
    ]
    return sorted(routes, key=lambda route: route[1] == "/api/v1/auth/logout")


def _device_in(cloud: Cloud, org: int) -> int:
    owner = cloud.stub.store.users.by_email(f"admin-{org}@x.test")
    assert owner is not None
    return cloud.stub.store.devices.login(cloud.stub.issue_token(TEMPLATE_ID, owner).token).id


def _fill(cloud: Cloud, method: str, path: str, target: Target) -> str:
    """The route's path with each parameter naming an object of the target org (fresh ones where it acts)."""
    values = {"{org}": str(target.org), "{role}": "User", "{template}": TEMPLATE_ID}
    if "{user}" in path:
        if method == "DELETE":
            values["{user}"] = str(add_user(cloud, f"victim{target.n}@x.test", target.org, "User"))
        else:
            owner = cloud.stub.store.users.by_email(f"admin-{target.org}@x.test")
            assert owner is not None
            values["{user}"] = str(owner.id)
    if "{device}" in path:
        values["{device}"] = str(_device_in(cloud, target.org))
    if "{client}" in path:  # an OAuth2 client of the target org's admin (a fresh one: DELETE revokes it)
        owner = cloud.stub.store.users.by_email(f"admin-{target.org}@x.test")
        assert owner is not None
        values["{client}"] = cloud.stub.store.invitations.create_client(owner.id)[0]
    filled = path
    for name, value in values.items():
        filled = filled.replace(name, value)
    assert "{" not in filled, f"no value for a parameter of {path}: add it to _fill"
    return filled


def _secrets(cloud: Cloud, tree: Tree) -> list[str]:
    """Names and e-mails of the orgs out of sight of org A (its parent and its sibling subtree)."""
    out = [cloud.stub.admin().email]
    for org in (tree.root, tree.b, tree.b1):
        out += [cloud.stub.tree.org_or_404(org).name, f"admin-{org}@x.test"]
    return out


async def _session(http: httpx.AsyncClient, email: str) -> dict[str, str]:
    login = await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['accessToken']}"}


async def _oauth2(http: httpx.AsyncClient, client: dict[str, str], email: str | None) -> dict[str, str]:
    """A client-credentials bearer of the Admin's `client`, acting as `email` (None: the Admin)."""
    form = {
        "grant_type": "client_credentials",
        "client_id": client["clientId"],
        "client_secret": client["clientSecret"],
    }
    grant = await http.post("/oauth2/token", data=form | ({"user": email} if email else {}))
    assert grant.status_code == 200, grant.text
    return {"Authorization": f"Bearer {grant.json()['access_token']}"}


def test_every_route_relation_role_and_credential_leaks_nothing(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_cloud(tmp_path / "cloud.db", smtp="sink") as cloud:
            tree = build_tree(cloud.stub)
            for org in (tree.root, tree.a, tree.a1, tree.b, tree.b1):
                if org != tree.root:
                    add_user(cloud, f"admin-{org}@x.test", org)
            add_user(cloud, f"admin-{tree.root}@x.test", tree.root)
            actors = {role: f"{role.value.lower()}@a.test" for role in ROLES}
            for role, email in actors.items():
                add_user(cloud, email, tree.a, role.value)
            orgs = {"own": tree.a, "child": tree.a1, "parent": tree.root, "sibling": tree.b}
            secrets = _secrets(cloud, tree)
            routes = secured_routes()
            assert len(routes) >= 20
            leaks: list[str] = []
            calls = 0
            served: collections.Counter[tuple[Role, str]] = collections.Counter()  # 2xx on orgs in sight
            counter = itertools.count()
            async with cloud.http() as http:
                made = await http.post("/api/v1/oauth/clients", headers=await _session(http, actors[Role.ADMIN]))
                assert made.status_code == 201, made.text
                for role, email in actors.items():
                    credentials = {
                        "session": await _session(http, email),
                        "oauth2": await _oauth2(http, made.json(), None if role is Role.ADMIN else email),
                    }
                    for credential, headers in credentials.items():
                        for (method, path), relation in itertools.product(routes, RELATIONS):
                            target = Target(relation, orgs[relation], tree.a, next(counter))
                            url = _fill(cloud, method, path, target)
                            payload = BODIES.get((method, path), lambda t: {})(target)
                            response = await http.request(method, url, json=payload, headers=headers)
                            calls += 1
                            what = f"{role.value} {credential} {method} {path} on {relation}"
                            assert response.status_code < 500, f"{what}: {response.status_code} {response.text}"
                            if relation in IN_SIGHT and 200 <= response.status_code < 300:
                                served[role, credential] += 1
                            names_target = "{" in path or target.org in dict(payload).values()
                            if names_target and relation in OUT_OF_SIGHT and 200 <= response.status_code < 300:
                                leaks.append(f"{what}: {response.status_code} {response.text[:200]}")
                            shown = [s for s in secrets if s in response.text]
                            if shown:
                                leaks.append(f"{what}: shows {shown}: {response.text[:200]}")
            assert calls == len(routes) * len(RELATIONS) * len(ROLES) * 2
            assert leaks == [], "\n".join(leaks)
            # leaks mean something only where calls in sight are served: a credential refused everywhere (a
            # bearer check broken into 401s) would leak nothing; these floors are a little under today's counts
            floors = {Role.ADMIN: 35, Role.STAFF: 18, Role.USER: 8}
            short = {key: n for key, n in served.items() if n < floors[key[0]]}
            assert len(served) == len(ROLES) * 2 and not short, f"too few calls in sight served: {dict(served)}"

    run(body())
