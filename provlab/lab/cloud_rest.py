"""A user's view of the cloud's REST API (orgs, invitations, devices, transfers), synchronous, for scenarios."""

from __future__ import annotations

import re
from typing import Any

import httpx

from provlab.lab.http_tls import default_tls
from provlab.lab.phone import OAuthClient


class CloudRestError(AssertionError):
    """The cloud refused a call a scenario expected to succeed."""


class CloudRest:
    """One logged-in user's REST client against the lab's cloud stub."""

    def __init__(self, base_url: str, email: str, password: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=10, verify=default_tls())
        self.email = email
        response = self.http.post("/api/v1/auth/login", json={"email": email, "password": password})
        if response.status_code != 200:
            raise CloudRestError(f"login as {email}: {response.status_code} {response.text}")
        self.headers = {"Authorization": f"Bearer {response.json()['accessToken']}"}

    def call(self, method: str, path: str, json: Any = None) -> httpx.Response:
        return self.http.request(method, path, json=json, headers=self.headers)

    def ok(self, method: str, path: str, json: Any = None) -> Any:
        response = self.call(method, path, json)
        if response.status_code not in (200, 201):
            raise CloudRestError(f"{self.email}: {method} {path}: {response.status_code} {response.text}")
        return response.json()

    def create_org(self, name: str, template_id: str, parent: int | None = None) -> int:
        """A sub-organization with `template_id` enabled (what an admin does for every client)."""
        body: dict[str, Any] = {"name": name} if parent is None else {"name": name, "parentId": parent}
        org = int(self.ok("POST", "/api/v1/organizations", body)["id"])
        self.ok("PUT", f"/api/v1/organizations/{org}/templates/{template_id}")
        return org

    def invite(self, org: int, email: str, role: str = "Admin") -> None:
        self.ok("POST", f"/api/v1/organizations/{org}/invitations", {"email": email, "role": role})

    def accept_invitation(self, mail_body: str, password: str) -> None:
        match = re.search(r"/invite\?token=([\w-]+)", mail_body)
        if match is None:
            raise CloudRestError(f"no invitation link in the mail: {mail_body[:300]!r}")
        response = self.http.post("/api/v1/invitations/accept", json={"token": match.group(1), "password": password})
        if response.status_code != 200:
            raise CloudRestError(f"accepting the invitation: {response.status_code} {response.text}")

    def create_oauth_client(self) -> OAuthClient:
        """New OAuth2 client credentials owned by this user (an Admin): automation that acts as users."""
        created = self.ok("POST", "/api/v1/oauth/clients")
        return OAuthClient(str(created["clientId"]), str(created["clientSecret"]))

    def device_ids(self) -> set[int]:
        return {int(d["id"]) for d in self.ok("GET", "/api/v1/devices")}

    def close(self) -> None:
        self.http.close()
