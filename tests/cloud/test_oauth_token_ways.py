"""`/oauth2/token` as Blynk documents it (docs.blynk.io, Platform API → Authentication): the client in an
`Authorization: Basic` header or in the query, `grant_type` in the query, and single-use refresh tokens
(`grant_type=refresh_token`); plus RFC 6749's form body. Real HTTP over loopback, a virtual lab clock.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import httpx
from cloud_helpers import running_cloud
from lab_time_helpers import run_virtual
from store_backends import CloudDb
from tenancy_helpers import add_user, login

from provlab.cloud.credentials import CredentialLimits
from provlab.cloud.stub import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD

TOKEN_KEYS = {"access_token", "token_type", "expires_in", "refresh_token", "user"}


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def as_bearer(answer: httpx.Response) -> dict[str, str]:
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def refused(answer: httpx.Response, status: int, code: str) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["error"] == code and body["error_description"], body
    return str(body["error_description"])


async def new_client(http: httpx.AsyncClient, email: str = DEFAULT_ADMIN_EMAIL) -> tuple[str, str]:
    session = (
        await login(http, email, DEFAULT_ADMIN_PASSWORD) if email == DEFAULT_ADMIN_EMAIL else await login(http, email)
    )
    creds = await session.ok("POST", "/api/v1/oauth/clients")
    return creds["clientId"], creds["clientSecret"]


async def refresh(http: httpx.AsyncClient, client: tuple[str, str], token: str) -> httpx.Response:
    """Blynk's documented refresh: Basic header, `grant_type` and `refresh_token` in the query."""
    params = {"grant_type": "refresh_token", "refresh_token": token}
    return await http.post("/oauth2/token", params=params, headers=basic(*client))


def test_every_documented_way_to_ask_gives_a_bearer_and_a_refresh_token(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud, cloud.http() as http:
            client_id, secret = await new_client(http)
            grant = {"grant_type": "client_credentials"}
            everything = {**grant, "client_id": client_id, "client_secret": secret}
            ways = {
                "Basic + query": http.post("/oauth2/token", params=grant, headers=basic(client_id, secret)),
                "query": http.post("/oauth2/token", params=everything),
                "form": http.post("/oauth2/token", data=everything),
                "JSON": http.post("/oauth2/token", json=everything),
                "Basic + form": http.post("/oauth2/token", data=grant, headers=basic(client_id, secret)),
            }
            seen: set[str] = set()
            for way, call in ways.items():
                answer = await call
                assert answer.status_code == 200, (way, answer.text)
                body = answer.json()
                assert set(body) == TOKEN_KEYS and body["token_type"] == "Bearer", (way, body)
                assert answer.headers["Cache-Control"] == "no-store", way
                me = await http.get("/api/v1/me", headers=as_bearer(answer))
                assert me.status_code == 200 and me.json()["email"] == DEFAULT_ADMIN_EMAIL, (way, me.text)
                seen |= {body["access_token"], body["refresh_token"]}
            assert len(seen) == 2 * len(ways)  # every answer's keys are fresh

    run_virtual(body())


def test_a_refresh_token_works_once_for_its_own_client_and_user(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            add_user(cloud, "staffer@x.test", cloud.stub.admin().org_id, role="Staff")
            async with cloud.http() as http:
                mine, other = await new_client(http), await new_client(http)
                params = {"grant_type": "client_credentials", "user": "staffer@x.test", "expires_in": "60"}
                first = (await http.post("/oauth2/token", params=params, headers=basic(*mine))).json()
                assert first["user"] == "staffer@x.test" and first["expires_in"] == 60

                # another client cannot use it, and trying does not use it up
                text = refused(await refresh(http, other, first["refresh_token"]), 400, "invalid_grant")
                assert "unknown to this client" in text
                renewed = await refresh(http, mine, first["refresh_token"])
                body = renewed.json()
                assert set(body) == TOKEN_KEYS and body["user"] == "staffer@x.test", body  # the same user again
                assert body["expires_in"] == 86400  # a refresh asks anew: the default lifetime unless it says
                assert body["refresh_token"] != first["refresh_token"]
                me = await http.get("/api/v1/me", headers=as_bearer(renewed))
                assert me.json()["email"] == "staffer@x.test"

                # used once: a second use is refused, the new one works
                refused(await refresh(http, mine, first["refresh_token"]), 400, "invalid_grant")
                assert (await refresh(http, mine, body["refresh_token"])).status_code == 200
                refused(await refresh(http, mine, ""), 400, "invalid_grant")
                refused(await refresh(http, (mine[0], "wrong"), body["refresh_token"]), 401, "invalid_client")

    run_virtual(body())


def test_refresh_tokens_end_with_revocation_and_with_their_clients_owner(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            owner = add_user(cloud, "owner@x.test", cloud.stub.admin().org_id)
            async with cloud.http() as http:
                root = await login(http, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
                client = await new_client(http)
                grant = {"grant_type": "client_credentials"}
                tokens = [
                    (await http.post("/oauth2/token", params=grant, headers=basic(*client))).json()["refresh_token"]
                    for _ in range(3)
                ]
                # RFC 7009 revoke takes a refresh token too (the client in a Basic header here)
                revoked = await http.post("/oauth2/revoke", data={"token": tokens[0]}, headers=basic(*client))
                assert revoked.status_code == 200, revoked.text
                refused(await refresh(http, client, tokens[0]), 400, "invalid_grant")
                assert (await refresh(http, client, tokens[1])).status_code == 200
                # revoking the client ends its refresh tokens
                await root.ok("DELETE", f"/api/v1/oauth/clients/{client[0]}")
                refused(await refresh(http, client, tokens[2]), 401, "invalid_client")
                assert cloud.stub.store.refresh_tokens.take(tokens[2], client[0]) is None

                # a demoted owner's client refreshes nothing
                owned = await new_client(http, "owner@x.test")
                token = (await http.post("/oauth2/token", params=grant, headers=basic(*owned))).json()["refresh_token"]
                await root.ok("PATCH", f"/api/v1/users/{owner}", {"role": "Staff"})
                text = refused(await refresh(http, owned, token), 401, "invalid_client")
                assert "no longer an active Admin" in text

    run_virtual(body())


def test_a_refresh_token_expires_on_the_lab_clock(cloud_db: CloudDb) -> None:
    async def body() -> None:
        limits = CredentialLimits(bearer_ttl_s=60, refresh_ttl_s=600)
        async with running_cloud(cloud_db, credential_limits=limits) as cloud, cloud.http() as http:
            client = await new_client(http)
            grant = {"grant_type": "client_credentials"}
            early = (await http.post("/oauth2/token", params=grant, headers=basic(*client))).json()
            late = (await http.post("/oauth2/token", params=grant, headers=basic(*client))).json()
            await asyncio.sleep(120)  # device time: the bearers are gone, their refresh tokens are not
            assert (
                await http.get("/api/v1/me", headers={"Authorization": f"Bearer {early['access_token']}"})
            ).status_code == 401
            assert (await refresh(http, client, early["refresh_token"])).status_code == 200
            await asyncio.sleep(600)
            assert (await http.post("/oauth2/token", params=grant, headers=basic(*client))).status_code == 200
            # a grant since (it clears old rows) still leaves the expired token to say it expired, not "unknown"
            text = refused(await refresh(http, client, late["refresh_token"]), 400, "invalid_grant")
            assert "expired at" in text and "(lab time)" in text

    run_virtual(body())


def test_a_request_that_names_its_client_badly_is_a_clear_400(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud, cloud.http() as http:
            client_id, secret = await new_client(http)
            grant = {"grant_type": "client_credentials"}
            cases = [
                ({"Authorization": "Basic ???"}, grant, None, "base64"),
                ({"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}, grant, None, "the colon"),
                ({"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:x").decode()}, grant, None, "UTF-8"),
                (basic(client_id, secret), {**grant, "client_secret": secret}, None, "both in the Authorization"),
                (basic(client_id, secret), {**grant, "client_id": "someone-else"}, None, "both in the Authorization"),
                ({}, grant, {"grant_type": "refresh_token"}, "given twice"),
                ({}, None, {"grant_type": ["client_credentials"]}, "must be a string"),
            ]
            for headers, params, json_body, says in cases:
                answer = await http.post("/oauth2/token", params=params, headers=headers, json=json_body)
                assert says in refused(answer, 400, "invalid_request"), (headers, params, json_body, answer.text)
            wrong = await http.post("/oauth2/token", params=grant, headers=basic(client_id, "wrong"))
            refused(wrong, 401, "invalid_client")
            assert wrong.headers["WWW-Authenticate"].startswith("Basic")
            refused(await http.post("/oauth2/token", params={"grant_type": "password"}), 400, "unsupported_grant_type")
            # the same parameter twice with the same value is just said twice
            same = await http.post("/oauth2/token", params=grant, data=grant, headers=basic(client_id, secret))
            assert same.status_code == 200, same.text

    run_virtual(body())


def test_a_refresh_token_outlives_a_restart_of_the_stub(tmp_path: Path) -> None:
    db = tmp_path / "cloud.db"

    async def body() -> None:
        async with running_cloud(db) as cloud, cloud.http() as http:
            client = await new_client(http)
            grant = {"grant_type": "client_credentials"}
            token = (await http.post("/oauth2/token", params=grant, headers=basic(*client))).json()["refresh_token"]
        async with running_cloud(db) as cloud, cloud.http() as http:
            assert (await refresh(http, client, token)).status_code == 200

    run_virtual(body())
