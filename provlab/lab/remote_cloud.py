"""A cloud stub in another process (`provlab cloud serve`), used by a lab through its HTTP APIs.

The lab reads the stub's device ports and CA from `GET /api/v1/lab/info`, logs in as the stub's admin, and
reads what it needs through the lab API (`provlab.cloud.lab_api`): the journal (only the entries written
after this lab started: the stub is shared), devices, users, mail, seeding. What only an embedded stub
can do (run code on its loop, fault knobs, restarts) raises `NeedsEmbeddedCloud`, which the pytest plugin
reports as a skip with that reason.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from provlab.cloud.records import Device, User
from provlab.lab.capabilities import NeedsEmbeddedCloud
from provlab.lab.http_tls import default_tls

__all__ = ["NeedsEmbeddedCloud", "RemoteCloud", "RemoteCloudError", "check_cloud_url"]


class RemoteCloudError(RuntimeError):
    """The running stub did not answer as expected; says which call, what came back and where."""


def check_cloud_url(url: str) -> str | None:
    """None if `url` can name the lab's running stub, else why not (the lab talks only to loopback)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"expected http://HOST:PORT of `provlab cloud serve`, got {url!r}"
    host = parts.hostname
    if host == "localhost":
        return None
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        return f"{host!r} is not a loopback address; a lab sends traffic only to loopback (127.0.0.0/8, ::1)"
    return None


class RemoteCloud:
    """The lab's view of a stub it did not start."""

    def __init__(self, url: str, admin_email: str, admin_password: str, folder: Path) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=10.0, verify=default_tls())
        try:
            self.info = self._get("/api/v1/lab/info")
            response = self.http.post("/api/v1/auth/login", json={"email": admin_email, "password": admin_password})
            if response.status_code != 200:
                raise RemoteCloudError(
                    f"{self.url}: login as the stub's admin {admin_email} answered {response.status_code}: "
                    f"{response.text[:200]} (set cloud.admin_email / cloud.admin_password)"
                )
            self.http.headers["Authorization"] = f"Bearer {response.json()['accessToken']}"
            self.start_mark = int(self._get("/api/v1/lab/events", after=2**62)["last"])
        except BaseException:
            self.http.close()
            raise
        self.ca_file: Path | None = None
        if self.info.get("caPem"):
            self.ca_file = folder / "remote-cloud-ca.pem"
            self.ca_file.write_text(str(self.info["caPem"]))

    def _get(self, path: str, **params: Any) -> Any:
        try:
            response = self.http.get(path, params=params or None)
        except httpx.HTTPError as exc:
            raise RemoteCloudError(f"{self.url}{path}: {exc} (is `provlab cloud serve` running there?)") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise RemoteCloudError(f"{self.url}{path}: answered {response.status_code}: {response.text[:300]}")
        return response.json()

    def port(self, key: str) -> int | None:
        value = self.info.get(key)
        return int(value) if value is not None else None

    # --- what the lab reads -----------------------------------------------------------------------------
    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Journal entries written since this lab started, oldest first."""
        params: dict[str, Any] = {"after": self.start_mark}
        if kind is not None:
            params["kind"] = kind
        page = self._get("/api/v1/lab/events", **params)
        return [{k: v for k, v in event.items() if k != "id"} for event in page["events"]]

    def device_for_token(self, token: str) -> tuple[Device, bool] | None:
        """The device `token` activated and whether it is online (None before activation)."""
        found = self._get(f"/api/v1/lab/tokens/{token}/device")
        return _device(found) if found is not None else None

    def device(self, device_id: int) -> tuple[Device, bool] | None:
        found = self._get(f"/api/v1/lab/devices/{device_id}")
        return _device(found) if found is not None else None

    def user(self, email: str) -> User | None:
        found = self._get(f"/api/v1/lab/users/{email}")
        if found is None:
            return None
        return User(
            int(found["id"]), str(found["email"]), int(found["orgId"]), str(found["role"]), bool(found["active"])
        )

    def mail_bodies(self, recipient: str) -> list[str]:
        return [str(m["body"]) for m in self._get(f"/api/v1/lab/mail/{recipient}")["mail"]]

    def create_oauth_client(self) -> tuple[str, str]:
        """New OAuth2 client credentials owned by the stub's admin, made with the admin session this lab holds:
        (client_id, client_secret)."""
        response = self.http.post("/api/v1/oauth/clients")
        if response.status_code != 201:
            raise RemoteCloudError(
                f"{self.url}: creating an OAuth2 client answered {response.status_code}: {response.text[:300]}"
            )
        created = response.json()
        return str(created["clientId"]), str(created["clientSecret"])

    def revoke_oauth_client(self, client_id: str) -> None:
        """Revoke an OAuth2 client the stub's admin owns (its bearers end with it)."""
        try:
            response = self.http.delete(f"/api/v1/oauth/clients/{client_id}")
        except httpx.HTTPError as exc:
            raise RemoteCloudError(f"{self.url}: revoking the OAuth2 client {client_id}: {exc}") from exc
        if response.status_code != 200:
            raise RemoteCloudError(
                f"{self.url}: revoking the OAuth2 client {client_id} answered {response.status_code}: "
                f"{response.text[:300]}"
            )

    def seed(self, orgs: list[dict[str, Any]], users: list[dict[str, Any]]) -> None:
        response = self.http.post("/api/v1/lab/seed", json={"orgs": orgs, "users": users})
        if response.status_code != 200:
            raise RemoteCloudError(f"{self.url}: seeding answered {response.status_code}: {response.text[:300]}")

    def close(self) -> None:
        self.http.close()


def _device(found: dict[str, Any]) -> tuple[Device, bool]:
    device = Device(
        id=int(found["id"]),
        name=str(found["name"]),
        template_id=str(found["templateId"]),
        org_id=int(found["orgId"]),
        owner_id=found["ownerId"],
        token=found.get("token"),
        info=dict(found.get("info") or {}),
    )
    return device, bool(found.get("online"))
