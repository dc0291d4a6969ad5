"""What a request to an OAuth2 endpoint (`/oauth2/token`, `/oauth2/revoke`) says: its parameters and its client.

Blynk documents two ways to call `/oauth2/token` (docs.blynk.io, Platform API → Authentication), and RFC 6749
adds a third; all three are read here:
- client credentials in an `Authorization: Basic` header (RFC 6749 §2.3.1: `client_id:client_secret`, each
  form-urlencoded, then base64) with `grant_type` (and `refresh_token`) in the query, as in Blynk's
  `curl -X POST -u {clientId}:{clientSecret} https://…/oauth2/token?grant_type=client_credentials`;
- everything in the query (`client_id`, `client_secret` beside `grant_type`), Blynk's "query parameters" way;
- everything in an `application/x-www-form-urlencoded` body (RFC 6749 §4.4.2), or a JSON object body.
Query and body are merged; a parameter given in both with different values, or client credentials given both
in the header and as parameters (RFC 6749 §2.3: one method per request), is refused as `invalid_request`.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from aiohttp import web

CLIENT_PARAMS = ("client_id", "client_secret")


class OAuthRequestError(ValueError):
    """A request the OAuth2 endpoints cannot read: `code` is the RFC 6749 §5.2 error, the message its description."""

    def __init__(self, message: str, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class OAuthRequest:
    """The request's parameters (query and body, merged) and the client it authenticates as."""

    params: dict[str, str]
    client_id: str
    client_secret: str
    basic: bool  # credentials came in an `Authorization: Basic` header

    def get(self, name: str) -> str | None:
        value = self.params.get(name)
        return value if value else None


async def read_oauth_request(request: web.Request) -> OAuthRequest:
    """The parameters and client of `request`, or OAuthRequestError saying what is wrong with it."""
    params = dict(request.query)
    for name, value in (await _body(request)).items():
        if name in params and params[name] != value:
            raise OAuthRequestError(f"{name} is given twice, in the query and in the body, with different values")
        params[name] = value
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return OAuthRequest(params, params.get("client_id", ""), params.get("client_secret", ""), basic=False)
    client_id, secret = basic_credentials(header[6:])
    if params.get("client_secret") or params.get("client_id", client_id) != client_id:
        raise OAuthRequestError("client credentials are given both in the Authorization header and as parameters")
    return OAuthRequest(params, client_id, secret, basic=True)


def basic_credentials(encoded: str) -> tuple[str, str]:
    """`client_id` and `client_secret` of an `Authorization: Basic` value (RFC 6749 §2.3.1, RFC 7617)."""
    try:
        raw = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise OAuthRequestError("Authorization: Basic must carry base64 of 'client_id:client_secret' (UTF-8)") from None
    client_id, colon, secret = raw.partition(":")
    if not colon or not client_id:
        raise OAuthRequestError("Authorization: Basic must carry 'client_id:client_secret', with the colon")
    return unquote_plus(client_id), unquote_plus(secret)


async def _body(request: web.Request) -> dict[str, str]:
    """The body's parameters: a form, a JSON object of strings, or nothing."""
    try:
        if request.content_type == "application/json":
            body: Any = await request.json()
        else:
            body = dict(await request.post())
    except ValueError as exc:  # broken multipart or urlencoding, not JSON, not UTF-8 (bench_fuzz)
        raise OAuthRequestError(f"unreadable body: {exc}"[:200]) from None
    if not isinstance(body, dict):
        raise OAuthRequestError("expected a form or a JSON object as the body")
    params: dict[str, str] = {}
    for name, value in body.items():
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise OAuthRequestError(f"{name} must be a string")
        params[str(name)] = str(value)
    return params
