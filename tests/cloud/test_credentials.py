"""Credentials follow their owner and expire (issue 13, points 1 and 2).

The stub runs on a virtual lab clock here: a key's lifetime passes with `asyncio.sleep`, in device time,
without wall time.
"""

from __future__ import annotations

import asyncio
from typing import TypeVar

import httpx
from cloud_helpers import TEMPLATE_ID, running_cloud
from lab_time_helpers import run_virtual
from store_backends import CloudDb
from tenancy_helpers import Api, add_user, build_tree, login

from provlab.cloud.credentials import CredentialLimits
from provlab.cloud.stub import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD

T = TypeVar("T")
SHORT = CredentialLimits(session_ttl_s=60, bearer_ttl_s=600)


async def new_client(api: Api) -> dict[str, str]:
    creds: dict[str, str] = await api.ok("POST", "/api/v1/oauth/clients")
    return creds


async def mint(http: httpx.AsyncClient, creds: dict[str, str], **extra: str) -> httpx.Response:
    form = {"grant_type": "client_credentials", "client_id": creds["clientId"], "client_secret": creds["clientSecret"]}
    return await http.post("/oauth2/token", data={**form, **extra})


def bearer(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def message(response: httpx.Response) -> str:
    body = response.json()
    if isinstance(body.get("error"), dict):
        return str(body["error"]["message"])
    return f"{body['error']}: {body['error_description']}"  # OAuth2 endpoints answer as RFC 6749 §5.2


def test_a_deleted_admins_client_and_bearers_stop_working_at_once(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            gone = add_user(cloud, "gone@x.test", cloud.stub.admin().org_id)
            add_user(cloud, "other-admin@x.test", cloud.stub.admin().org_id)
            async with cloud.http() as http:
                root = await login(http, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
                creds = await new_client(await login(http, "gone@x.test"))
                as_owner = bearer(await mint(http, creds))
                as_other = bearer(await mint(http, creds, user="other-admin@x.test"))
                assert (await http.get("/api/v1/me", headers=as_other)).status_code == 200
                await root.ok("DELETE", f"/api/v1/users/{gone}")
                for headers in (as_owner, as_other):
                    me = await http.get("/api/v1/me", headers=headers)
                    assert me.status_code == 401, me.text
                    token = await http.post(
                        "/api/v1/provisioning/tokens", json={"templateId": TEMPLATE_ID}, headers=headers
                    )
                    assert token.status_code == 401
                again = await mint(http, creds, user="other-admin@x.test")
                assert again.status_code == 401 and "invalid_client" in message(again)

    run_virtual(body())


def test_a_demoted_admins_client_stops_and_the_admin_cannot_climb_back(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            root_org = cloud.stub.admin().org_id
            demoted = add_user(cloud, "demoted@x.test", root_org)
            add_user(cloud, "peer@x.test", root_org)
            async with cloud.http() as http:
                root = await login(http, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
                session = await login(http, "demoted@x.test")
                creds = await new_client(session)
                as_peer = bearer(await mint(http, creds, user="peer@x.test"))
                await root.ok("PATCH", f"/api/v1/users/{demoted}", {"role": "Staff"})
                # the bearer minted before the demotion is dead, and the client mints no new one
                climb = await http.patch(f"/api/v1/users/{demoted}", json={"role": "Admin"}, headers=as_peer)
                assert climb.status_code == 401, climb.text
                again = await mint(http, creds, user="peer@x.test")
                assert again.status_code == 401
                # the password session is a Staff's now: no role edits, no new client
                assert (await session.call("PATCH", f"/api/v1/users/{demoted}", {"role": "Admin"})).status_code in (
                    400,
                    403,
                )
                assert (await session.call("POST", "/api/v1/oauth/clients")).status_code == 403
                assert cloud.stub.store.users.get(demoted).role == "Staff"  # type: ignore[union-attr]

    run_virtual(body())


def test_a_bearer_acts_with_at_most_its_owners_current_permissions(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            tree = build_tree(cloud.stub)
            add_user(cloud, "a-admin@x.test", tree.a)
            add_user(cloud, "a1-admin@x.test", tree.a1)
            async with cloud.http() as http:
                root = await login(http, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
                a_admin = await login(http, "a-admin@x.test")
                a1_admin = await login(http, "a1-admin@x.test")
                as_a1 = bearer(await mint(http, await new_client(a_admin), user="a1-admin@x.test"))
                users_of_a1 = f"/api/v1/organizations/{tree.a1}/users"
                assert (await http.get(users_of_a1, headers=as_a1)).status_code == 200
                # the root takes VIEW_USERS from A's Admins (the owner's role), not from A1's
                everything = (await root.ok("GET", f"/api/v1/organizations/{tree.a}/roles"))["Admin"]
                reduced = [p for p in everything if p != "VIEW_USERS"]
                await root.ok("PUT", f"/api/v1/organizations/{tree.a}/roles/Admin", {"permissions": reduced})
                capped = await http.get(users_of_a1, headers=as_a1)
                assert capped.status_code == 403, capped.text
                me = (await http.get("/api/v1/me", headers=as_a1)).json()
                assert me["email"] == "a1-admin@x.test" and "VIEW_USERS" not in me["permissions"]
                assert (await a1_admin.call("GET", users_of_a1)).status_code == 200  # A1's own session keeps it
                # a bearer cannot create a client of its own (which would outlive its owner's rights)
                made = await http.post("/api/v1/oauth/clients", headers=as_a1)
                assert made.status_code == 403, made.text

    run_virtual(body())


def test_sessions_and_bearers_expire_on_the_lab_clock(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db, credential_limits=SHORT) as cloud, cloud.http() as http:
            answer = await http.post(
                "/api/v1/auth/login", json={"email": DEFAULT_ADMIN_EMAIL, "password": DEFAULT_ADMIN_PASSWORD}
            )
            assert answer.json()["expiresIn"] == 60
            session = {"Authorization": f"Bearer {answer.json()['accessToken']}"}
            creds = (await http.post("/api/v1/oauth/clients", headers=session)).json()
            short = await mint(http, creds, expires_in="30")
            assert short.json()["expires_in"] == 30
            capped = await mint(http, creds, expires_in="999999")
            assert capped.json()["expires_in"] == 600  # never longer than the configured lifetime
            for bad in ("0", "1e3", "-5", "+30", "٣٠"):
                refused = await mint(http, creds, expires_in=bad)
                assert refused.status_code == 400, (bad, refused.text)
            await asyncio.sleep(31)
            expired = await http.get("/api/v1/me", headers=bearer(short))
            assert expired.status_code == 401 and "OAuth2 bearer expired" in message(expired)
            assert (await http.get("/api/v1/me", headers=session)).status_code == 200
            await asyncio.sleep(30)
            gone = await http.get("/api/v1/me", headers=session)
            assert gone.status_code == 401 and "Session expired" in message(gone)
            assert "log in again" in message(gone)
            assert (await http.get("/api/v1/me", headers=bearer(capped))).status_code == 200

    run_virtual(body())


def test_without_configuration_a_session_lasts_7_days_and_a_bearer_24_hours(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud, cloud.http() as http:
            answer = await http.post(
                "/api/v1/auth/login", json={"email": DEFAULT_ADMIN_EMAIL, "password": DEFAULT_ADMIN_PASSWORD}
            )
            assert answer.json()["expiresIn"] == 7 * 86400
            session = {"Authorization": f"Bearer {answer.json()['accessToken']}"}
            creds = (await http.post("/api/v1/oauth/clients", headers=session)).json()
            assert (await mint(http, creds)).json()["expires_in"] == 86400

    run_virtual(body())


def test_logout_revoke_and_client_revocation_end_keys(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud, cloud.http() as http:
            root = await login(http, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
            creds = await new_client(root)
            first, second = bearer(await mint(http, creds)), bearer(await mint(http, creds))
            token = first["Authorization"].removeprefix("Bearer ")
            wrong = await http.post(
                "/oauth2/revoke", data={"token": token, "client_id": creds["clientId"], "client_secret": "x"}
            )
            assert wrong.status_code == 401
            revoked = await http.post(
                "/oauth2/revoke",
                data={"token": token, "client_id": creds["clientId"], "client_secret": creds["clientSecret"]},
            )
            assert revoked.status_code == 200
            assert (await http.get("/api/v1/me", headers=first)).status_code == 401
            assert (await http.get("/api/v1/me", headers=second)).status_code == 200
            ended = await root.ok("DELETE", f"/api/v1/oauth/clients/{creds['clientId']}")
            assert ended["bearersEnded"] == 1
            assert (await http.get("/api/v1/me", headers=second)).status_code == 401
            assert (await mint(http, creds)).status_code == 401
            out = await http.post("/api/v1/auth/logout", headers=root.headers)
            assert out.status_code == 200 and out.json() == {"loggedOut": True}
            after = await root.call("GET", "/api/v1/me")
            assert after.status_code == 401 and "unknown bearer key" in message(after)
            assert (await http.post("/api/v1/auth/logout", headers=root.headers)).status_code == 401

    run_virtual(body())


def test_oauth2_refusals_carry_rfc_6749_error_codes_and_a_description(cloud_db: CloudDb) -> None:
    async def body() -> None:
        limits = CredentialLimits(failures_per_account=2)
        async with running_cloud(cloud_db, credential_limits=limits) as cloud, cloud.http() as http:
            root = await login(http, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
            creds = await new_client(root)
            form = {"grant_type": "client_credentials", "client_id": creds["clientId"]}
            right = {**form, "client_secret": creds["clientSecret"]}
            cases = [
                ({**right, "grant_type": "password"}, 400, "unsupported_grant_type"),
                ({**right, "user": "nobody@x.test"}, 400, "invalid_request"),
                ({**right, "expires_in": "1e3"}, 400, "invalid_request"),
                ({**form, "client_secret": "wrong"}, 401, "invalid_client"),
                ({**form, "client_secret": "wrong"}, 401, "invalid_client"),
                ({**form, "client_secret": "wrong"}, 429, "slow_down"),  # throttled after 2 failures
            ]
            for data, status, code in cases:
                answer = await http.post("/oauth2/token", data=data)
                assert answer.status_code == status, (data, answer.text)
                error = answer.json()
                assert error["error"] == code and error["error_description"], (data, error)
                assert not error["error_description"].startswith(code), error
            revoke = await http.post("/oauth2/revoke", data={**form, "client_secret": "x", "token": "t"})
            assert revoke.json()["error"] in ("invalid_client", "slow_down") and revoke.json()["error_description"]

    run_virtual(body())
