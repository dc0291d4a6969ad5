"""The stub's HTTP side: the user REST API the phone uses, plus the device HTTP API (`device_api.py`).

User API (Bearer session key from `POST /api/v1/auth/login`; keys expire, see `credentials.py`):
  `POST /api/v1/auth/login {email,password}` -> `{"accessToken","expiresIn"}` (429 when throttled)
  `POST /api/v1/provisioning/tokens {templateId, orgId?}` -> `{"token","templateId","expiresAt","orgId"}`
     (needs PROVISION_DEVICES; into a sub-org also SWITCH_TO_SUBORGS; the template enabled there: C14)
  `GET  /api/v1/provisioning/tokens/{token}` -> `{"activated","deviceId","online","expired","revoked"}`
     (`?wait=S`, a lab extension: when the device is not online yet, answer when it comes online or after S
     device seconds, at most `MAX_STATUS_WAIT_S`; a phone that long-polls so asks once instead of every 0.5 s.
     A cloud without it answers at once, and the phone's loop still paces itself)
  `DELETE /api/v1/provisioning/tokens/{token}` -> revoke (`{"revoked": true}`)
The tenancy API (orgs, roles, users, transfers, OAuth2, OpenAPI) is `tenancy_api.py`.
Blynk.Air downloads: `GET /static/ota/<id>.bin?token=<device token>` -> the pushed image (`ota.py`).
The fault knobs apply here: added latency for every answer, a forced status for token issue.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

from aiohttp import web

from provlab.cloud import device_api, tenancy_api
from provlab.cloud.access import Access
from provlab.cloud.credentials import CredentialRefused
from provlab.cloud.device_api import GATEWAY_KEY, error_response
from provlab.cloud.gateway import DeviceGateway
from provlab.cloud.http_guard import json_errors
from provlab.cloud.ids import BadId, parse_id
from provlab.cloud.invitations import Invitations
from provlab.cloud.ota import OTA_PATH_PREFIX, OtaRefused
from provlab.cloud.records import User
from provlab.cloud.store import StoreError
from provlab.cloud.tenancy import TenancyError

MAX_STATUS_WAIT_S = 30.0
WAIT_SECONDS = re.compile(r"[0-9]{1,9}(\.[0-9]{1,6})?", re.ASCII)
TOKEN_ISSUE_FAULT = "Token service unavailable (provlab fault knob)."


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(data), content_type="application/json")


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise TypeError(f"expected a JSON object, got {type(body).__name__}")
    return body


def _user(request: web.Request) -> User | web.Response:
    """The caller, or the 401 answer that says why not (missing, unknown, expired, orphaned key)."""
    try:
        return tenancy_api.authenticated(request)
    except CredentialRefused as exc:
        return error_response(exc.status, str(exc))


async def login(request: web.Request) -> web.Response:
    try:
        body = _object(await request.json())
        email, password = str(body["email"]), str(body["password"])
    except (ValueError, KeyError, TypeError):
        return error_response(400, "Request with incorrect parameters")
    try:
        key, ttl = request.app[tenancy_api.SERVICES_KEY].auth().login(email, password, request.remote or "?")
    except CredentialRefused as exc:
        return error_response(exc.status, str(exc))
    return _json({"accessToken": key, "expiresIn": int(ttl)})


async def issue_token(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY_KEY]
    user = _user(request)
    if isinstance(user, web.Response):
        return user
    forced = gateway.faults.token_issue_status
    if forced is not None:
        gateway.store.events.add("token_issue_failed", None, {"status": forced, "user": user.email})
        return error_response(forced, TOKEN_ISSUE_FAULT)
    try:
        body = _object(await request.json())
        template_id = str(body["templateId"])
        org_id = None if body.get("orgId") is None else parse_id(body["orgId"], "orgId")
    except BadId as exc:
        return error_response(400, str(exc))
    except (ValueError, KeyError, TypeError):
        return error_response(400, "Request with incorrect parameters")
    try:
        target = request.app[tenancy_api.SERVICES_KEY].access.provisioning_org(user, template_id, org_id)
        issued = gateway.store.tokens.issue(user, template_id, org_id=target)
    except TenancyError as exc:
        gateway.store.events.add(
            "token_issue_refused", None, {"user": user.email, "status": exc.status, "reason": str(exc)}
        )
        return error_response(exc.status, str(exc))
    except StoreError as exc:
        return error_response(404, str(exc))
    return _json(
        {
            "token": issued.token,
            "templateId": template_id,
            "expiresAt": int(issued.expires_at * 1000),
            "orgId": issued.org_id,
        }
    )


async def token_status(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY_KEY]
    user = _user(request)
    if isinstance(user, web.Response):
        return user
    token = request.match_info["token"]
    wait = request.query.get("wait", "0")
    if not WAIT_SECONDS.fullmatch(wait):  # float() takes "nan", "1e999" and "٣": plain decimal seconds only
        return error_response(400, "Request with incorrect parameters")
    wait_s = min(float(wait), MAX_STATUS_WAIT_S)
    issued = gateway.store.tokens.get(token)
    if issued is None or issued.user_id != user.id:
        return error_response(404, "Token not found.")
    activated = issued.activated
    device_id = issued.device_id if activated else None
    online = device_id is not None and gateway.presence.is_online(device_id)
    if wait_s > 0 and not online and not issued.revoked:
        keys: list[int | str] = [token] if device_id is None else [token, device_id]
        arrived = await gateway.presence.wait_arrival(keys, gateway.wall(wait_s))
        if arrived is not None:  # it logged in with this token (activating it) or is this token's device
            device_id, activated = arrived.device_id, True
            online = gateway.presence.is_online(device_id)
    return _json(
        {
            "activated": activated,
            "deviceId": device_id,
            "online": online,
            "expired": issued.expired(time.time()),
            "revoked": issued.revoked,
        }
    )


async def revoke_token(request: web.Request) -> web.Response:
    gateway = request.app[GATEWAY_KEY]
    user = _user(request)
    if isinstance(user, web.Response):
        return user
    token = request.match_info["token"]
    issued = gateway.store.tokens.get(token)
    if issued is None or issued.user_id != user.id:
        return error_response(404, "Token not found.")
    gateway.revoke(token, f"revoked by {user.email}")
    return _json({"revoked": True})


async def ota_download(request: web.Request) -> web.Response:
    """A device fetches the firmware image of an OTA pushed to it (spec §7 download headers)."""
    gateway = request.app[GATEWAY_KEY]
    peer = request.transport.get_extra_info("peername") if request.transport is not None else None
    where = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else (request.remote or "?")
    try:
        package = gateway.ota.download(request.match_info["name"], request.query.get("token", ""), where)
    except OtaRefused as exc:
        return error_response(exc.status, exc.message)
    return web.Response(body=package.served, headers=package.headers())


@web.middleware
async def added_latency(request: web.Request, handler: Any) -> web.StreamResponse:
    delay = request.app[GATEWAY_KEY].latency
    if delay > 0:
        await asyncio.sleep(delay)
    response: web.StreamResponse = await handler(request)
    return response


def build_app(gateway: DeviceGateway, services: tenancy_api.TenancyServices | None = None) -> web.Application:
    app = web.Application(middlewares=[json_errors, added_latency])
    app[GATEWAY_KEY] = gateway
    access = Access(gateway.store)
    tenancy_api.add_routes(app, services or tenancy_api.TenancyServices(access, Invitations(access)))
    app.router.add_post("/api/v1/auth/login", login)
    app.router.add_post("/api/v1/provisioning/tokens", issue_token)
    app.router.add_get("/api/v1/provisioning/tokens/{token}", token_status)
    app.router.add_delete("/api/v1/provisioning/tokens/{token}", revoke_token)
    device_api.add_routes(app)
    app.router.add_get(OTA_PATH_PREFIX + "{name}", ota_download)
    return app
