"""provlab's own lab API on the stub: what a lab needs to use a stub that runs in another process.

A lab normally embeds its stub; with `cloud.url` it uses one started by `provlab cloud serve` (shared by
several CI jobs, or kept running between runs). These routes are provlab's, not Blynk's:

* `GET  /api/v1/lab/info` (no auth): the device ports and the lab CA a board must trust (public facts).
* `GET  /api/v1/lab/events?after=N&kind=K` -> `{"events": [{"id", "ts", "kind", "device_id", …}], "last": N}`:
  the journal (secrets already masked), paged by entry number so each lab reads only its own run.
* `GET  /api/v1/lab/devices/{id}` -> the device with its org, owner, info, current token and `online`.
* `GET  /api/v1/lab/tokens/{token}/device` -> the same for the device that token activated (404 before that).
* `GET  /api/v1/lab/users/{email}` -> the user.
* `GET  /api/v1/lab/mail/{email}` -> `{"mail": [{"subject", "body"}]}`: what the stub's mail sink received.
* `POST /api/v1/lab/seed` `{"orgs": [{name, parent?, templates?}], "users": [{email, password, org?, role?}]}`:
  idempotent seeding, as `CloudStub.seed_org` / `seed_user`.

All but `info` need the bearer of an Admin of the root org (the stub's admin): they see every tenant.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from aiohttp import web

from provlab.cloud.device_api import error_response
from provlab.cloud.records import Device, User
from provlab.cloud.store import Store, StoreError
from provlab.cloud.tenancy import TenancyError
from provlab.cloud.tenancy_api import device_json, user_json, user_of
from provlab.protocol.numbers import ascii_decimal


class LabSurface(Protocol):
    """What the lab API needs from the stub."""

    store: Store

    def lab_info(self) -> dict[str, Any]: ...

    def admin(self) -> User: ...

    def is_online(self, device_id: int) -> bool: ...

    def device_for_token(self, token: str) -> Device | None: ...

    def mailbox(self, recipient: str) -> list[Any]: ...

    def seed_org(self, name: str, parent: str | None = None, templates: tuple[str, ...] = ()) -> int: ...

    def seed_user(self, email: str, password: str, org: str | None = None, role: str = "Admin") -> User: ...


LAB_KEY = web.AppKey("lab", LabSurface)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(data), content_type="application/json")


def _root_admin(request: web.Request) -> LabSurface:
    """The stub, if the caller is an Admin of the root org; raises the HTTP error otherwise."""
    lab = request.app[LAB_KEY]
    user = user_of(request)
    if user is None:
        raise web.HTTPUnauthorized(text=_error("Login required."), content_type="application/json")
    if user.role != "Admin" or user.org_id != lab.admin().org_id:
        raise web.HTTPForbidden(
            text=_error("The lab API is for the root org's Admins."), content_type="application/json"
        )
    return lab


def _error(message: str) -> str:
    return json.dumps({"error": {"message": message}})


def lab_device_json(device: Device, online: bool) -> dict[str, Any]:
    return {**device_json(device), "token": device.token, "info": dict(device.info), "online": online}


async def info(request: web.Request) -> web.Response:
    return _json(request.app[LAB_KEY].lab_info())


async def events(request: web.Request) -> web.Response:
    lab = _root_admin(request)
    after = ascii_decimal(request.query.get("after", "0"))
    if after is None:
        return error_response(400, "after must be an event number (ASCII digits)")
    kind = request.query.get("kind") or None
    last = lab.store.events.last_id
    numbered = lab.store.events.numbered(kind, after_id=after)
    last = max([last, *(number for number, _ in numbered)])
    return _json({"events": [{"id": number, **event} for number, event in numbered], "last": last})


async def device(request: web.Request) -> web.Response:
    lab = _root_admin(request)
    device_id = ascii_decimal(request.match_info["device_id"])
    if device_id is None:
        return error_response(400, "device id must be a number (ASCII digits)")
    found = lab.store.devices.get(device_id)
    if found is None:
        return error_response(404, f"no device {device_id}")
    return _json(lab_device_json(found, lab.is_online(device_id)))


async def device_for_token(request: web.Request) -> web.Response:
    lab = _root_admin(request)
    found = lab.device_for_token(request.match_info["token"])
    if found is None:
        return error_response(404, "no device holds this token (not activated, or replaced)")
    return _json(lab_device_json(found, lab.is_online(found.id)))


async def mail(request: web.Request) -> web.Response:
    lab = _root_admin(request)
    messages = lab.mailbox(request.match_info["email"])
    return _json({"mail": [{"subject": m.subject, "body": m.body} for m in messages]})


async def user(request: web.Request) -> web.Response:
    lab = _root_admin(request)
    found = lab.store.users.by_email(request.match_info["email"])
    if found is None:
        return error_response(404, "User not found.")
    return _json(user_json(found))


async def seed(request: web.Request) -> web.Response:
    lab = _root_admin(request)
    try:
        body = await request.json()
    except ValueError:
        return error_response(400, "expected a JSON object with orgs and users")
    if not isinstance(body, dict):
        return error_response(400, "expected a JSON object with orgs and users")
    try:
        orgs = [
            lab.seed_org(str(o["name"]), o.get("parent"), tuple(o.get("templates") or ())) for o in body.get("orgs", [])
        ]
        users = [
            user_json(lab.seed_user(str(u["email"]), str(u["password"]), u.get("org"), str(u.get("role", "Admin"))))
            for u in body.get("users", [])
        ]
    except (KeyError, TypeError, AttributeError) as exc:
        return error_response(400, f"bad seed entry: {exc!r}")
    except (StoreError, TenancyError) as exc:
        return error_response(getattr(exc, "status", 400), str(exc))
    return _json({"orgs": orgs, "users": users})


def add_routes(app: web.Application, lab: LabSurface) -> None:
    app[LAB_KEY] = lab
    app.router.add_get("/api/v1/lab/info", info)
    app.router.add_get("/api/v1/lab/events", events)
    app.router.add_get("/api/v1/lab/devices/{device_id}", device)
    app.router.add_get("/api/v1/lab/tokens/{token}/device", device_for_token)
    app.router.add_get("/api/v1/lab/users/{email}", user)
    app.router.add_get("/api/v1/lab/mail/{email}", mail)
    app.router.add_post("/api/v1/lab/seed", seed)
