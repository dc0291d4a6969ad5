"""The station's automation client: OAuth2 client credentials, as factory automation talks to Blynk's REST API.

The line's cloud account (an Admin) creates one OAuth2 client for the station in the cloud's console; the
station's phones log in with it, and the station sets up the line's orgs, reads and transfers devices with its
bearer token, acting as that account: no one's password is used on the station.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from provlab.lab.phone import OAuthClient


class AutomationError(RuntimeError):
    """The cloud refused the station's automation client; says the call and the answer."""


@dataclass(frozen=True)
class LineOrgs:
    """Where units go: the customer org of the plan and the factory org (for the transfer workflow)."""

    customer_id: int
    customer_name: str
    factory_id: int
    factory_name: str


def set_up_line(automation: AutomationClient, template_id: str, customer: str, factory: str) -> LineOrgs:
    """The orgs the plan names (created below the account's org when missing, the template enabled)."""
    existing = {str(o["name"]): int(o["id"]) for o in automation.organizations()}
    ids = {}
    for name in (customer, factory):
        ids[name] = existing[name] if name in existing else automation.create_org(name, template_id)
    return LineOrgs(ids[customer], customer, ids[factory], factory)


class AutomationClient:
    """REST calls as the OAuth2 client, acting as `user` (the line's cloud account)."""

    def __init__(self, base_url: str, client: OAuthClient, user: str) -> None:
        self.client = client
        self.user = user
        self.http = httpx.Client(base_url=base_url, timeout=10)
        try:
            self._headers = {"Authorization": f"Bearer {self._token()}"}
        except BaseException:
            self.http.close()  # no one else can: the caller never gets this object
            raise

    def _token(self) -> str:
        """A bearer for the client acting as the user, or `AutomationError` with the cloud's answer. Asked as
        Blynk documents it: the client in an `Authorization: Basic` header, `grant_type` in the query."""
        answer = self.http.post(
            "/oauth2/token",
            params={"grant_type": "client_credentials", "user": self.user},
            auth=(self.client.client_id, self.client.client_secret),
        )
        if answer.status_code != 200:
            raise AutomationError(
                f"OAuth2 client {self.client.client_id} acting as {self.user}: expected a token, got "
                f"{answer.status_code} {answer.text[:200]}"
            )
        return str(answer.json()["access_token"])

    def _ok(self, method: str, path: str, json: Any = None) -> Any:
        answer = self.http.request(method, path, json=json, headers=self._headers)
        if answer.status_code not in (200, 201):
            raise AutomationError(
                f"{method} {path} as OAuth2 client {self.client.client_id}: expected 200, got "
                f"{answer.status_code} {answer.text[:200]}"
            )
        return answer.json()

    def organizations(self) -> list[dict[str, Any]]:
        """The orgs the account sees (its own and those below)."""
        found: list[dict[str, Any]] = self._ok("GET", "/api/v1/organizations")
        return found

    def create_org(self, name: str, template_id: str) -> int:
        """A sub-organization of the account's org with `template_id` enabled."""
        org = int(self._ok("POST", "/api/v1/organizations", {"name": name})["id"])
        self._ok("PUT", f"/api/v1/organizations/{org}/templates/{template_id}")
        return org

    def device(self, device_id: int) -> dict[str, Any]:
        found: dict[str, Any] = self._ok("GET", f"/api/v1/devices/{device_id}")
        return found

    def transfer(self, device_id: int, org_id: int) -> dict[str, Any]:
        moved: dict[str, Any] = self._ok("POST", f"/api/v1/devices/{device_id}/transfer", {"orgId": org_id})
        return moved

    def close(self) -> None:
        self.http.close()
