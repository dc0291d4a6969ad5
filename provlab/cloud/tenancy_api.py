"""The stub's tenancy REST API: orgs, roles, templates, users, invitations, transfers, OAuth2, OpenAPI.

Every route is declared once in `ROUTES` (method, path, handler, summary, permission); the router and the
OpenAPI document (`GET /api/v1/openapi.json`) are both built from it. Auth: `Authorization: Bearer <key>`
from `POST /api/v1/auth/login` (session) or `POST /oauth2/token` (client credentials, refresh token); keys expire and
end with `POST /api/v1/auth/logout`, `POST /oauth2/revoke` or a revoked client (`credentials.py`). Errors are
`{"error": {"message": …}}` with 400 (bad request / Blynk rule), 401, 403 (missing permission),
404 (unknown or out of sight), 409 (already has an account; a change that would leave the root org unable
to manage its roles), 429 (too many failed logins).
"""

from __future__ import annotations

import json
import smtplib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from provlab.cloud.access import Access
from provlab.cloud.credentials import CredentialRefused, Credentials
from provlab.cloud.device_api import GATEWAY_KEY, error_response
from provlab.cloud.ids import parse_id
from provlab.cloud.invitations import INVITE_PATH, Invitations
from provlab.cloud.mail import Mailer
from provlab.cloud.oauth_request import OAuthRequestError, read_oauth_request
from provlab.cloud.records import Device, Org, User
from provlab.cloud.store import StoreError
from provlab.cloud.tenancy import Permission, TenancyError, parse_permissions, parse_role

P = Permission


@dataclass
class TenancyServices:
    access: Access
    invitations: Invitations
    mailer: Mailer | None = None
    credentials: Credentials | None = None  # made from `access` with default limits when not given

    def auth(self) -> Credentials:
        if self.credentials is None:
            self.credentials = Credentials(self.access)
        return self.credentials


SERVICES_KEY = web.AppKey("tenancy", TenancyServices)
Handler = Callable[[web.Request, TenancyServices, User], Awaitable[Any]]


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(data), content_type="application/json")


def authenticated(request: web.Request) -> User:
    """The caller, or CredentialRefused (401: missing, unknown, expired or orphaned bearer key)."""
    return request.app[SERVICES_KEY].auth().user_for(request.headers.get("Authorization", ""))


def user_of(request: web.Request) -> User | None:
    try:
        return authenticated(request)
    except CredentialRefused:
        return None


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise TenancyError(400, "Request with incorrect parameters") from None
    if not isinstance(body, dict):
        raise TenancyError(400, "Request with incorrect parameters")
    return body


def _int(value: Any, name: str) -> int:
    return parse_id(value, name)


def _arg(request: web.Request, name: str) -> int:
    return _int(request.match_info[name], name)


def org_json(org: Org) -> dict[str, Any]:
    return {"id": org.id, "name": org.name, "parentId": org.parent_id, "canCreateSubOrgs": org.can_create_suborgs}


def user_json(user: User) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "orgId": user.org_id, "role": user.role, "active": user.active}


def device_json(device: Device) -> dict[str, Any]:
    return {
        "id": device.id,
        "name": device.name,
        "templateId": device.template_id,
        "orgId": device.org_id,
        "ownerId": device.owner_id,
    }


# --- handlers ---------------------------------------------------------------------------------------
async def me(request: web.Request, s: TenancyServices, user: User) -> Any:
    return {**user_json(user), "permissions": sorted(p.value for p in s.access.permissions(user))}


async def list_orgs(request: web.Request, s: TenancyServices, user: User) -> Any:
    tree = s.access.tree
    return [org_json(tree.org_or_404(o)) for o in sorted(s.access.visible_orgs(user))]


async def get_org(request: web.Request, s: TenancyServices, user: User) -> Any:
    return org_json(s.access.org_to_read(user, _arg(request, "org")))


async def create_org(request: web.Request, s: TenancyServices, user: User) -> Any:
    body = await _body(request)
    parent = _int(body.get("parentId", user.org_id), "parentId")
    s.access.org_to_act_in(user, parent, P.ACCESS_ORG_SETTINGS)
    org = s.access.tree.create_org(str(body.get("name", "")), parent, bool(body.get("canCreateSubOrgs", True)))
    return org_json(org)


async def edit_org(request: web.Request, s: TenancyServices, user: User) -> Any:
    org = s.access.org_to_act_in(user, _arg(request, "org"), P.ACCESS_ORG_SETTINGS)
    body = await _body(request)
    if "canCreateSubOrgs" in body:
        s.access.tree.set_can_create_suborgs(org.id, bool(body["canCreateSubOrgs"]))
    return org_json(s.access.tree.org_or_404(org.id))


async def transfer_org(request: web.Request, s: TenancyServices, user: User) -> Any:
    body = await _body(request)
    return org_json(s.access.transfer_org(user, _arg(request, "org"), _int(body.get("parentId"), "parentId")))


async def get_roles(request: web.Request, s: TenancyServices, user: User) -> Any:
    org = s.access.org_to_read(user, _arg(request, "org"), P.VIEW_ROLES)
    return {role.value: sorted(p.value for p in perms) for role, perms in s.access.tree.matrix(org.id).items()}


async def set_role(request: web.Request, s: TenancyServices, user: User) -> Any:
    org = s.access.org_to_act_in(user, _arg(request, "org"), P.EDIT_ROLES)
    role = parse_role(request.match_info["role"])
    body = await _body(request)
    permissions = parse_permissions(body.get("permissions", []))
    apply = body.get("applyToSubOrganizations", "none")
    if apply not in ("none", "overwrite"):
        raise TenancyError(400, "applyToSubOrganizations must be 'none' or 'overwrite'")
    changed = s.access.tree.set_permissions(org.id, role, permissions, overwrite_suborgs=apply == "overwrite")
    return {"role": role.value, "permissions": sorted(p.value for p in permissions), "orgs": changed}


async def org_templates(request: web.Request, s: TenancyServices, user: User) -> Any:
    org = s.access.org_to_read(user, _arg(request, "org"), P.VIEW_TEMPLATES)
    return [{"id": t.id, "name": t.name} for t in s.access.tree.templates_for(org.id)]


async def enable_template(request: web.Request, s: TenancyServices, user: User) -> Any:
    org = s.access.org_to_act_in(user, _arg(request, "org"), P.ACCESS_ORG_SETTINGS)
    s.access.tree.enable_template(org.id, request.match_info["template"])
    return {"orgId": org.id, "templateId": request.match_info["template"], "enabled": True}


async def create_template(request: web.Request, s: TenancyServices, user: User) -> Any:
    s.access.require(user, P.ACCESS_ORG_SETTINGS)
    if s.access.tree.org_or_404(user.org_id).parent_id is not None:
        raise TenancyError(403, "Templates are created only in the root organization.")
    body = await _body(request)
    try:
        template = s.access.store.templates.create(str(body["id"]), str(body["name"]), user.org_id)
    except KeyError:
        raise TenancyError(400, "Request with incorrect parameters") from None
    return {"id": template.id, "name": template.name, "orgId": template.org_id}


async def org_devices(request: web.Request, s: TenancyServices, user: User) -> Any:
    org = s.access.org_to_read(user, _arg(request, "org"))
    return [device_json(d) for d in s.access.visible_devices(user, org.id)]


async def org_users(request: web.Request, s: TenancyServices, user: User) -> Any:
    org = s.access.org_to_read(user, _arg(request, "org"), P.VIEW_USERS)
    return [user_json(u) for u in s.access.tree.users_in(s.access.tree.subtree(org.id))]


async def invite(request: web.Request, s: TenancyServices, user: User) -> Any:
    org_id = _arg(request, "org")
    body = await _body(request)
    role = parse_role(str(body.get("role", "User")))
    if s.mailer is None:
        raise TenancyError(503, "This cloud has no SMTP server configured; invitations cannot be sent.")
    invitee, token = s.invitations.invite(user, org_id, str(body.get("email", "")), role)
    link = f"{request.scheme}://{request.host}{INVITE_PATH}?token={token}"
    org = s.access.tree.org_or_404(org_id)
    try:
        await s.mailer.send(
            invitee.email,
            f"You are invited to {org.name}",
            f"{user.email} invited you to the organization {org.name} as {role.value}.\n\n"
            f"Set your password here: {link}\n\nThe link works once.\n",
        )
    except (OSError, smtplib.SMTPException) as exc:
        s.invitations.withdraw(token)
        raise TenancyError(502, f"The invitation mail to {invitee.email} could not be sent: {exc}") from None
    return _json(user_json(invitee), 201)


async def transfer_user(request: web.Request, s: TenancyServices, user: User) -> Any:
    body = await _body(request)
    moved = s.access.transfer_user(
        user, _arg(request, "user"), _int(body.get("orgId"), "orgId"), str(body.get("adminEmail", ""))
    )
    return user_json(moved)


async def edit_user(request: web.Request, s: TenancyServices, user: User) -> Any:
    body = await _body(request)
    return user_json(s.access.edit_user(user, _arg(request, "user"), parse_role(str(body.get("role", "")))))


async def delete_user(request: web.Request, s: TenancyServices, user: User) -> Any:
    return user_json(s.access.delete_user(user, _arg(request, "user")))


async def refresh_device_token(request: web.Request, s: TenancyServices, user: User) -> Any:
    device = s.access.device_to_edit_token(user, _arg(request, "device"))
    token = request.app[GATEWAY_KEY].refresh(device.id)
    return {"deviceId": device.id, "token": token}


async def list_devices(request: web.Request, s: TenancyServices, user: User) -> Any:
    return [device_json(d) for d in s.access.visible_devices(user)]


async def get_device(request: web.Request, s: TenancyServices, user: User) -> Any:
    return device_json(s.access.device(user, _arg(request, "device")))


async def transfer_device(request: web.Request, s: TenancyServices, user: User) -> Any:
    body = await _body(request)
    org_id = _int(body["orgId"], "orgId") if body.get("orgId") is not None else None
    user_id = _int(body["userId"], "userId") if body.get("userId") is not None else None
    if user_id is None and body.get("userEmail"):
        found = s.access.store.users.by_email(str(body["userEmail"]))
        if found is None:
            raise TenancyError(404, "User not found.")
        user_id = found.id
    return device_json(s.access.transfer_device(user, _arg(request, "device"), org_id=org_id, user_id=user_id))


async def create_oauth_client(request: web.Request, s: TenancyServices, user: User) -> Any:
    client_id, secret = s.invitations.create_client(user)
    return _json({"clientId": client_id, "clientSecret": secret}, 201)


async def revoke_oauth_client(request: web.Request, s: TenancyServices, user: User) -> Any:
    ended = s.auth().revoke_client(user, request.match_info["client"])
    return {"clientId": request.match_info["client"], "revoked": True, "bearersEnded": ended}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    permission: str = ""


ROUTES: tuple[Route, ...] = (
    Route("GET", "/api/v1/me", me, "The caller and their effective permissions"),
    Route("GET", "/api/v1/organizations", list_orgs, "Orgs the caller sees (own and below)"),
    Route(
        "POST",
        "/api/v1/organizations",
        create_org,
        "Create a sub-org {name, parentId, canCreateSubOrgs}",
        "ACCESS_ORG_SETTINGS",
    ),
    Route("GET", "/api/v1/organizations/{org}", get_org, "One org"),
    Route("PATCH", "/api/v1/organizations/{org}", edit_org, "Org settings {canCreateSubOrgs}", "ACCESS_ORG_SETTINGS"),
    Route("POST", "/api/v1/organizations/{org}/transfer", transfer_org, "Move a sub-org {parentId}", "TRANSFER_ORGS"),
    Route("GET", "/api/v1/organizations/{org}/roles", get_roles, "The org's permission matrix", "VIEW_ROLES"),
    Route(
        "PUT",
        "/api/v1/organizations/{org}/roles/{role}",
        set_role,
        "Set a role's permissions {permissions, applyToSubOrganizations: none|overwrite}",
        "EDIT_ROLES",
    ),
    Route(
        "GET", "/api/v1/organizations/{org}/templates", org_templates, "Templates usable in the org", "VIEW_TEMPLATES"
    ),
    Route(
        "PUT",
        "/api/v1/organizations/{org}/templates/{template}",
        enable_template,
        "Enable a root-org template in the org",
        "ACCESS_ORG_SETTINGS",
    ),
    Route(
        "GET",
        "/api/v1/organizations/{org}/devices",
        org_devices,
        "Devices of the org and below",
        "VIEW_ORG_DEVICES or VIEW_OWN_DEVICES",
    ),
    Route("GET", "/api/v1/organizations/{org}/users", org_users, "Users of the org and below", "VIEW_USERS"),
    Route("POST", "/api/v1/organizations/{org}/invitations", invite, "Invite by e-mail {email, role}", "INVITE_USERS"),
    Route("POST", "/api/v1/users/{user}/transfer", transfer_user, "Move a user {orgId, adminEmail}", "TRANSFER_USERS"),
    Route("PATCH", "/api/v1/users/{user}", edit_user, "Change a user's role {role}", "EDIT_USERS"),
    Route("DELETE", "/api/v1/users/{user}", delete_user, "Delete (deactivate) a user", "DELETE_USERS"),
    Route(
        "POST",
        "/api/v1/devices/{device}/token/refresh",
        refresh_device_token,
        "Replace the device's auth token now (its session is closed)",
        "EDIT_AUTH_TOKENS",
    ),
    Route(
        "POST",
        "/api/v1/templates",
        create_template,
        "Create a template in the root org {id, name}",
        "ACCESS_ORG_SETTINGS",
    ),
    Route("GET", "/api/v1/devices", list_devices, "Devices the caller sees"),
    Route("GET", "/api/v1/devices/{device}", get_device, "One device"),
    Route(
        "POST",
        "/api/v1/devices/{device}/transfer",
        transfer_device,
        "Transfer a device {userId | userEmail | orgId}",
        "TRANSFER_DEVICES",
    ),
    Route("POST", "/api/v1/oauth/clients", create_oauth_client, "New OAuth2 client (Admin)"),
    Route(
        "DELETE",
        "/api/v1/oauth/clients/{client}",
        revoke_oauth_client,
        "Revoke an OAuth2 client and end every bearer it minted (its owner, or who may manage the owner)",
    ),
)


def _wrap(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def run(request: web.Request) -> web.StreamResponse:
        try:
            user = authenticated(request)
            result = await handler(request, request.app[SERVICES_KEY], user)
        except TenancyError as exc:
            return error_response(exc.status, str(exc))
        except StoreError as exc:  # a store rule (unique id, no owner, …; the schema's own: StoreConflict)
            return error_response(400, str(exc))
        return result if isinstance(result, web.StreamResponse) else _json(result)

    return run


# --- unauthenticated routes ----------------------------------------------------------------------------
async def accept_invitation(request: web.Request) -> web.Response:
    try:
        body = await _body(request)
        user = request.app[SERVICES_KEY].invitations.accept(str(body.get("token", "")), str(body.get("password", "")))
    except TenancyError as exc:
        return error_response(exc.status, str(exc))
    return _json(user_json(user))


# RFC 6749 §5.2 error codes by the status a refusal carries (429, throttled: RFC 8628's registered `slow_down`)
OAUTH_ERRORS = {400: "invalid_request", 401: "invalid_client", 403: "unauthorized_client", 429: "slow_down"}


OAUTH_CODES = ("invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type")


def oauth_error(exc: TenancyError) -> web.Response:
    """A refusal at the OAuth2 endpoints as RFC 6749 words it: `{"error": code, "error_description": text}`
    (the code a message starts with, `invalid_grant: …`, or the one its status stands for)."""
    text = str(exc)
    code = next((c for c in OAUTH_CODES if text.startswith(c)), OAUTH_ERRORS.get(exc.status, "invalid_request"))
    description = text.removeprefix(f"{code}: ").removeprefix(code)
    return _oauth_json({"error": code, "error_description": description or DESCRIPTIONS.get(code, code)}, exc.status)


def _oauth_json(data: dict[str, Any], status: int = 200) -> web.Response:
    """RFC 6749 §5.1: token answers are never cached; a 401 names the Basic scheme the client may use."""
    response = _json(data, status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="provlab"'
    return response


DESCRIPTIONS = {"invalid_client": "client_id and client_secret do not name a client of this cloud"}
GRANT_TYPES = ("client_credentials", "refresh_token")


async def oauth_token(request: web.Request) -> web.Response:
    """`grant_type=client_credentials` (optional `user`, `expires_in`) or `grant_type=refresh_token` with
    `refresh_token`; the client in a Basic header, the query or the body (`oauth_request.py`)."""
    try:
        asked = await read_oauth_request(request)
    except OAuthRequestError as exc:
        return _oauth_json({"error": exc.code, "error_description": str(exc)}, 400)
    grant_type = asked.get("grant_type")
    if grant_type not in GRANT_TYPES:
        description = f"grant_type must be one of {', '.join(GRANT_TYPES)}"
        return _oauth_json({"error": "unsupported_grant_type", "error_description": description}, 400)
    auth = request.app[SERVICES_KEY].auth()
    source = request.remote or "?"
    try:
        given = asked.get("expires_in")
        expires_in = None if given is None else parse_id(given, "expires_in")
        if expires_in == 0:
            raise TenancyError(400, "expires_in must be at least 1 second")
        if grant_type == "refresh_token":
            grant = auth.refresh_bearer(
                asked.client_id, asked.client_secret, asked.get("refresh_token") or "", expires_in, source
            )
        else:
            grant = auth.mint_bearer(asked.client_id, asked.client_secret, asked.get("user"), expires_in, source)
    except TenancyError as exc:
        return oauth_error(exc)
    answer = {
        "access_token": grant.access_token,
        "token_type": "Bearer",
        "expires_in": int(grant.expires_in),
        "refresh_token": grant.refresh_token,
        "user": grant.user.email,
    }
    return _oauth_json(answer)


async def logout(request: web.Request) -> web.Response:
    """End the caller's bearer key (a session or an OAuth2 bearer); an expired key may be ended too."""
    auth = request.headers.get("Authorization", "")
    key = auth.removeprefix("Bearer ").strip()
    if not auth.startswith("Bearer ") or not request.app[SERVICES_KEY].auth().logout(key):
        return error_response(401, "Not authenticated: unknown bearer key (logged out, revoked or never issued).")
    return _json({"loggedOut": True})


async def oauth_revoke(request: web.Request) -> web.Response:
    """RFC 7009 token revocation: the client ends one of its bearers or refresh tokens (`token`); 200 also for an
    unknown one. The client authenticates as at `/oauth2/token`."""
    try:
        asked = await read_oauth_request(request)
    except OAuthRequestError as exc:
        return _oauth_json({"error": exc.code, "error_description": str(exc)}, 400)
    try:
        request.app[SERVICES_KEY].auth().revoke_bearer(
            asked.client_id, asked.client_secret, asked.get("token") or "", request.remote or "?"
        )
    except TenancyError as exc:
        return oauth_error(exc)
    return _oauth_json({})


async def openapi(request: web.Request) -> web.Response:
    return _json(openapi_document())


def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    for route in ROUTES:
        op: dict[str, Any] = {"summary": route.summary, "security": bearer, "responses": _RESPONSES}
        if route.permission:
            op["x-permission"] = route.permission
        params = [seg[1:-1] for seg in route.path.split("/") if seg.startswith("{")]
        if params:
            op["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params
            ]
        paths.setdefault(route.path, {})[route.method.lower()] = op
    paths["/api/v1/auth/login"] = {
        "post": {"summary": "Session login {email, password} -> {accessToken}", "responses": _RESPONSES}
    }
    paths["/api/v1/provisioning/tokens"] = {
        "post": {
            "summary": "Issue a dynamic token {templateId, orgId?}",
            "security": bearer,
            "x-permission": "PROVISION_DEVICES",
            "responses": _RESPONSES,
        }
    }
    paths["/api/v1/invitations/accept"] = {
        "post": {"summary": "Set the password with the link token {token, password}", "responses": _RESPONSES}
    }
    paths["/oauth2/token"] = {
        "post": {
            "summary": "OAuth2 bearer: grant_type=client_credentials (user?, expires_in?) or grant_type="
            "refresh_token (refresh_token); client in 'Authorization: Basic', the query or the body",
            "responses": _RESPONSES,
        }
    }
    paths["/oauth2/revoke"] = {
        "post": {
            "summary": "End one bearer or refresh token of the client (token; client as at /oauth2/token)",
            "responses": _RESPONSES,
        }
    }
    paths["/api/v1/auth/logout"] = {
        "post": {"summary": "End the caller's bearer key", "security": bearer, "responses": _RESPONSES}
    }
    return {
        "openapi": "3.0.3",
        "info": {"title": "provlab cloud stub", "version": "1"},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "oauth2": {
                    "type": "oauth2",
                    "flows": {"clientCredentials": {"tokenUrl": "/oauth2/token", "scopes": {}}},
                },
            }
        },
    }


_RESPONSES = {
    "200": {"description": "OK"},
    "400": {"description": "Bad request or a Blynk rule refused it"},
    "401": {"description": "Not authenticated"},
    "403": {"description": "Missing permission"},
    "404": {"description": "Unknown or out of sight"},
    "409": {"description": "Conflict: already has an account, or the change would lock the root out of its roles"},
    "429": {"description": "Too many failed logins (per account, per source address)"},
}


def add_routes(app: web.Application, services: TenancyServices) -> None:
    app[SERVICES_KEY] = services
    for route in ROUTES:
        app.router.add_route(route.method, route.path, _wrap(route.handler))
    app.router.add_post("/api/v1/invitations/accept", accept_invitation)
    app.router.add_post("/oauth2/token", oauth_token)
    app.router.add_post("/oauth2/revoke", oauth_revoke)
    app.router.add_post("/api/v1/auth/logout", logout)
    app.router.add_get("/api/v1/openapi.json", openapi)
