"""The stub's HTTP side: the user-facing REST API the phone uses, and the device HTTP API (§8)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from provlab.cloud.presence import PresenceRegistry
from provlab.cloud.store import Store, StoreError, User

STORE_KEY = web.AppKey("store", Store)
PRESENCE_KEY = web.AppKey("presence", PresenceRegistry)


def _error(status: int, message: str) -> web.Response:
    return web.Response(
        status=status, text=json.dumps({"error": {"message": message}}), content_type="application/json"
    )


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(data), content_type="application/json")


def _user(request: web.Request) -> User | None:
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer "):
        return None
    return request.app[STORE_KEY].user_for_session(auth.removeprefix("Bearer ").strip())


async def login(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        email, password = str(body["email"]), str(body["password"])
    except (ValueError, KeyError, TypeError):
        return _error(400, "Request with incorrect parameters")
    try:
        key = request.app[STORE_KEY].login(email, password)
    except StoreError as exc:
        return _error(401, str(exc))
    return _json({"accessToken": key})


async def issue_token(request: web.Request) -> web.Response:
    user = _user(request)
    if user is None:
        return _error(401, "Not authenticated.")
    try:
        body = await request.json()
        template_id = str(body["templateId"])
    except (ValueError, KeyError, TypeError):
        return _error(400, "Request with incorrect parameters")
    try:
        issued = request.app[STORE_KEY].issue_token(user, template_id)
    except StoreError as exc:
        return _error(404, str(exc))
    return _json(
        {"token": issued.token, "templateId": template_id, "expiresAt": int(issued.expires_at * 1000)}
    )


async def token_status(request: web.Request) -> web.Response:
    user = _user(request)
    if user is None:
        return _error(401, "Not authenticated.")
    store, presence = request.app[STORE_KEY], request.app[PRESENCE_KEY]
    issued = store.token(request.match_info["token"])
    if issued is None or issued.user_id != user.id:
        return _error(404, "Token not found.")
    device_id = issued.device_id
    return _json(
        {
            "activated": issued.activated,
            "deviceId": device_id,
            "online": device_id is not None and presence.is_online(device_id),
        }
    )


async def is_hardware_connected(request: web.Request) -> web.Response:
    token = request.query.get("token")
    if not token:
        return _error(400, "No token provided.")
    store = request.app[STORE_KEY]
    device = next((d for d in store.devices() if d.token == token), None)
    if device is None:
        return _error(400, "Invalid token.")
    online = request.app[PRESENCE_KEY].is_online(device.id)
    return web.Response(text="true" if online else "false", content_type="application/json")


def build_app(store: Store, presence: PresenceRegistry) -> web.Application:
    app = web.Application()
    app[STORE_KEY] = store
    app[PRESENCE_KEY] = presence
    app.router.add_post("/api/v1/auth/login", login)
    app.router.add_post("/api/v1/provisioning/tokens", issue_token)
    app.router.add_get("/api/v1/provisioning/tokens/{token}", token_status)
    app.router.add_get("/external/api/isHardwareConnected", is_hardware_connected)
    return app
