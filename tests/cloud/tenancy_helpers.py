"""Helpers for the tenancy tests: a small org tree in a running stub, and users that talk REST to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from cloud_helpers import TEMPLATE_ID, Cloud

from provlab.cloud.stub import CloudStub

PASSWORD = "secret-pw"


@dataclass
class Api:
    """One logged-in user's REST client."""

    http: httpx.AsyncClient
    email: str
    headers: dict[str, str] = field(default_factory=dict)

    async def call(self, method: str, path: str, json: Any = None) -> httpx.Response:
        return await self.http.request(method, path, json=json, headers=self.headers)

    async def ok(self, method: str, path: str, json: Any = None) -> Any:
        response = await self.call(method, path, json)
        assert response.status_code in (200, 201), f"{method} {path} as {self.email}: {response.text}"
        return response.json()


async def login(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> Api:
    response = await http.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return Api(http, email, {"Authorization": f"Bearer {response.json()['accessToken']}"})


@dataclass
class Tree:
    """Root -> A -> A1, Root -> B -> B1; the template enabled everywhere."""

    root: int
    a: int
    a1: int
    b: int
    b1: int


def build_tree(stub: CloudStub, *, enable: bool = True) -> Tree:
    root = stub.admin().org_id
    tree = stub.tree
    a = tree.create_org("Org A", root).id
    a1 = tree.create_org("Org A1", a).id
    b = tree.create_org("Org B", root).id
    b1 = tree.create_org("Org B1", b).id
    if enable:
        for org in (a, a1, b, b1):
            tree.enable_template(org, TEMPLATE_ID)
    return Tree(root, a, a1, b, b1)


def add_user(cloud: Cloud, email: str, org: int, role: str = "Admin") -> int:
    return cloud.stub.store.users.create(email, PASSWORD, org, role=role).id
