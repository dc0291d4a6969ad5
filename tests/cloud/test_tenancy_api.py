"""The tenancy REST API over real HTTP: permission-gated provisioning (C14), transfers (C13), user and org
moves, OAuth2 client credentials, invitations by real mail, the OpenAPI document."""

from __future__ import annotations

import re
from pathlib import Path

from cloud_helpers import TEMPLATE_ID, WAIT_S, Cloud, RawDevice, run, running_cloud
from store_backends import CloudDb
from tenancy_helpers import PASSWORD, add_user, build_tree, login

from provlab.cloud.mail import MailSink
from provlab.cloud.stub import DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD
from provlab.protocol.commands import Command


def test_permission_gated_provisioning(cloud_db: CloudDb) -> None:  # C14
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            tree = build_tree(cloud.stub)
            add_user(cloud, "a-user@x.test", tree.a, "User")
            add_user(cloud, "a-admin@x.test", tree.a, "Admin")
            add_user(cloud, "a-staff@x.test", tree.a, "Staff")
            async with cloud.http() as http:
                user = await login(http, "a-user@x.test")
                admin = await login(http, "a-admin@x.test")
                staff = await login(http, "a-staff@x.test")
                own = await user.ok("POST", "/api/v1/provisioning/tokens", {"templateId": TEMPLATE_ID})
                assert own["orgId"] == tree.a
                # no PROVISION_DEVICES -> no token
                await admin.ok("PUT", f"/api/v1/organizations/{tree.a}/roles/User", {"permissions": []})
                refused = await user.call("POST", "/api/v1/provisioning/tokens", {"templateId": TEMPLATE_ID})
                assert refused.status_code == 403 and "PROVISION_DEVICES" in refused.text
                # sibling org B: out of sight, even for an admin
                for who in (admin, staff):
                    sibling = await who.call(
                        "POST", "/api/v1/provisioning/tokens", {"templateId": TEMPLATE_ID, "orgId": tree.b}
                    )
                    assert sibling.status_code == 404
                # below: with "switch to sub-organizations" it works, without it does not
                into_a1 = await staff.ok(
                    "POST", "/api/v1/provisioning/tokens", {"templateId": TEMPLATE_ID, "orgId": tree.a1}
                )
                token = cloud.stub.store.tokens.get(into_a1["token"])
                assert token is not None and token.org_id == tree.a1
                no_switch = ["VIEW_OWN_DEVICES", "PROVISION_DEVICES"]
                await admin.ok("PUT", f"/api/v1/organizations/{tree.a}/roles/Staff", {"permissions": no_switch})
                denied = await staff.call(
                    "POST", "/api/v1/provisioning/tokens", {"templateId": TEMPLATE_ID, "orgId": tree.a1}
                )
                assert denied.status_code == 403 and "SWITCH_TO_SUBORGS" in denied.text
                # the root admin provisions into any org below, when the template is enabled there
                root = await login(http, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
                await root.ok("POST", "/api/v1/provisioning/tokens", {"templateId": TEMPLATE_ID, "orgId": tree.b1})
                new_org = await root.ok("POST", "/api/v1/organizations", {"name": "Fresh", "parentId": tree.root})
                not_enabled = await root.call(
                    "POST", "/api/v1/provisioning/tokens", {"templateId": TEMPLATE_ID, "orgId": new_org["id"]}
                )
                assert not_enabled.status_code == 400 and "not enabled" in not_enabled.text
            assert [e["status"] for e in cloud.stub.events("token_issue_refused")] == [403, 404, 404, 403, 400]

    run(body())


def test_device_transfer_rules_and_errors(cloud_db: CloudDb) -> None:  # C13
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            tree = build_tree(cloud.stub)
            client = add_user(cloud, "client@x.test", tree.a, "User")
            async with cloud.http() as http:
                root = await login(http, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
                token = (await root.ok("POST", "/api/v1/provisioning/tokens", {"templateId": TEMPLATE_ID}))["token"]
                device = await RawDevice.connect(cloud.endpoints.binary_port)
                await device.login_esp32(token)
                online = await cloud.stub.wait_online(token, timeout_device_s=WAIT_S)
                assert online is not None
                path = f"/api/v1/devices/{online.id}/transfer"
                same = await root.call("POST", path, {"userId": cloud.stub.admin().id})
                assert (same.status_code, same.json()["error"]["message"]) == (400, "Can't transfer to the same owner")
                assert (await root.call("POST", path, {"orgId": 9999})).status_code == 404
                assert (await root.call("POST", path, {"userEmail": "nobody@x.test"})).status_code == 404
                # inactive new owner (invited, never accepted)
                await root.ok("POST", f"/api/v1/organizations/{tree.a}/invitations", {"email": "new@x.test"})
                invited = cloud.stub.store.users.by_email("new@x.test")
                assert invited is not None and not invited.active
                inactive = await root.call("POST", path, {"userId": invited.id})
                assert inactive.status_code == 400 and "not active" in inactive.text
                # template not enabled in the destination
                fresh = await root.ok("POST", "/api/v1/organizations", {"name": "Fresh", "parentId": tree.root})
                disabled = await root.call("POST", path, {"orgId": fresh["id"]})
                assert disabled.status_code == 400 and "not enabled" in disabled.text
                # to a user of org A: the device keeps its session and token
                moved = await root.ok("POST", path, {"userId": client})
                assert (moved["orgId"], moved["ownerId"]) == (tree.a, client)
                assert cloud.stub.presence.is_online(online.id)
                assert [o.org_id for o in cloud.stub.online()] == [tree.a]
                assert await device.request(Command.PING) == 200
                assert cloud.stub.store.devices.for_token(token) is not None
                assert cloud.stub.store.devices.login(token).org_id == tree.a
                # the client sees it, the admin still sees it from above, sibling B does not
                mine = await login(http, "client@x.test")
                assert [d["id"] for d in await mine.ok("GET", "/api/v1/devices")] == [online.id]
                assert (await root.ok("GET", f"/api/v1/devices/{online.id}"))["ownerId"] == client
                add_user(cloud, "b-admin@x.test", tree.b)
                b_admin = await login(http, "b-admin@x.test")
                assert (await b_admin.call("GET", f"/api/v1/devices/{online.id}")).status_code == 404
                assert (await b_admin.call("POST", path, {"orgId": tree.b})).status_code == 404
                # the client (User role) cannot transfer it
                assert (await mine.call("POST", path, {"orgId": tree.a1})).status_code == 403
                # to an org: no owner
                to_org = await root.ok("POST", path, {"orgId": tree.a1})
                assert (to_org["orgId"], to_org["ownerId"]) == (tree.a1, None)
            assert [e["to_org"] for e in cloud.stub.events("device_transferred")] == [tree.a, tree.a1]

    run(body())


def test_user_and_org_transfers(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            tree = build_tree(cloud.stub)
            moved_id = add_user(cloud, "mover@x.test", tree.a, "Staff")
            add_user(cloud, "b-admin@x.test", tree.b, "Admin")
            add_user(cloud, "b-user@x.test", tree.b, "User")
            async with cloud.http() as http:
                root = await login(http, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
                path = f"/api/v1/users/{moved_id}/transfer"
                wrong = await root.call("POST", path, {"orgId": tree.b, "adminEmail": "b-user@x.test"})
                assert wrong.status_code == 404  # not an admin of the destination
                same = await root.call("POST", path, {"orgId": tree.a, "adminEmail": "b-admin@x.test"})
                assert same.status_code == 400
                moved = await root.ok("POST", path, {"orgId": tree.b, "adminEmail": "b-admin@x.test"})
                assert moved["orgId"] == tree.b
                b_admin = await login(http, "b-admin@x.test")
                assert "mover@x.test" in [
                    u["email"] for u in await b_admin.ok("GET", f"/api/v1/organizations/{tree.b}/users")
                ]
                # sub-org transfer: A1 moves under B; B's admin now sees it, A's admin no longer does
                add_user(cloud, "a-admin@x.test", tree.a)
                a_admin = await login(http, "a-admin@x.test")
                assert (await a_admin.ok("GET", f"/api/v1/organizations/{tree.a1}"))["parentId"] == tree.a
                assert (
                    await a_admin.call("POST", f"/api/v1/organizations/{tree.a1}/transfer", {"parentId": tree.b})
                ).status_code == 404
                result = await root.ok("POST", f"/api/v1/organizations/{tree.a1}/transfer", {"parentId": tree.b})
                assert result["parentId"] == tree.b
                assert (await a_admin.call("GET", f"/api/v1/organizations/{tree.a1}")).status_code == 404
                assert (await b_admin.ok("GET", f"/api/v1/organizations/{tree.a1}"))["parentId"] == tree.b

    run(body())


def test_oauth2_client_credentials_act_as_any_visible_user(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            tree = build_tree(cloud.stub)
            add_user(cloud, "client@x.test", tree.a, "User")
            async with cloud.http() as http:
                root = await login(http, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
                creds = await root.ok("POST", "/api/v1/oauth/clients")
                form = {"grant_type": "client_credentials", "client_id": creds["clientId"]}
                bad = await http.post("/oauth2/token", data={**form, "client_secret": "nope"})
                assert bad.status_code == 401
                response = await http.post(
                    "/oauth2/token", data={**form, "client_secret": creds["clientSecret"], "user": "client@x.test"}
                )
                assert response.status_code == 200 and response.json()["token_type"] == "Bearer"
                headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
                me = (await http.get("/api/v1/me", headers=headers)).json()
                assert (me["email"], me["orgId"]) == ("client@x.test", tree.a)
                issued = await http.post(
                    "/api/v1/provisioning/tokens", json={"templateId": TEMPLATE_ID}, headers=headers
                )
                assert issued.status_code == 200 and issued.json()["orgId"] == tree.a
                # a client of A's admin cannot act as a user it cannot see
                add_user(cloud, "a-admin@x.test", tree.a)
                add_user(cloud, "b-user@x.test", tree.b, "User")
                a_admin = await login(http, "a-admin@x.test")
                a_creds = await a_admin.ok("POST", "/api/v1/oauth/clients")
                out_of_sight = await http.post(
                    "/oauth2/token",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": a_creds["clientId"],
                        "client_secret": a_creds["clientSecret"],
                        "user": "b-user@x.test",
                    },
                )
                assert out_of_sight.status_code == 400

    run(body())


def test_invitation_by_mail_sets_a_password_once(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            tree = build_tree(cloud.stub)
            sink = cloud.stub.mail_sink
            assert sink is not None and cloud.endpoints.smtp_url == sink.url
            async with cloud.http() as http:
                root = await login(http, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
                invited = await root.ok(
                    "POST", f"/api/v1/organizations/{tree.a}/invitations", {"email": "guest@x.test", "role": "Staff"}
                )
                assert (invited["orgId"], invited["role"], invited["active"]) == (tree.a, "Staff", False)
                mail = await sink.wait_for("guest@x.test", WAIT_S)
                assert "Org A" in mail.subject
                match = re.search(r"/invite\?token=([\w-]+)", mail.body)
                assert match is not None
                token = match.group(1)
                not_yet = await http.post("/api/v1/auth/login", json={"email": "guest@x.test", "password": PASSWORD})
                assert not_yet.status_code == 401
                accepted = await http.post("/api/v1/invitations/accept", json={"token": token, "password": PASSWORD})
                assert accepted.status_code == 200 and accepted.json()["active"] is True
                again = await http.post("/api/v1/invitations/accept", json={"token": token, "password": "other-pw"})
                assert again.status_code == 404
                guest = await login(http, "guest@x.test")
                assert (await guest.ok("GET", "/api/v1/me"))["orgId"] == tree.a
                # existing users cannot be invited, wherever they are
                for email in ("guest@x.test", DEFAULT_ADMIN_EMAIL):
                    dup = await root.call("POST", f"/api/v1/organizations/{tree.b}/invitations", {"email": email})
                    assert dup.status_code == 409 and "transfer" in dup.text
                assert len(sink.messages) == 1

    run(body())


def test_openapi_document_lists_every_route(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud, cloud.http() as http:
            doc = (await http.get("/api/v1/openapi.json")).json()
            assert doc["openapi"].startswith("3.")
            paths = doc["paths"]
            for path, method in [
                ("/api/v1/devices/{device}/transfer", "post"),
                ("/api/v1/users/{user}/transfer", "post"),
                ("/api/v1/organizations/{org}/transfer", "post"),
                ("/api/v1/organizations/{org}/roles/{role}", "put"),
                ("/api/v1/organizations/{org}/invitations", "post"),
                ("/api/v1/provisioning/tokens", "post"),
                ("/oauth2/token", "post"),
            ]:
                assert method in paths[path], path
            assert "clientCredentials" in doc["components"]["securitySchemes"]["oauth2"]["flows"]

    run(body())


def test_edit_delete_users_and_refresh_tokens_need_their_permissions(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            tree = build_tree(cloud.stub)
            staff_id = add_user(cloud, "staff@x.test", tree.a, "Staff")
            user_id = add_user(cloud, "user@x.test", tree.a, "User")
            add_user(cloud, "b-user@x.test", tree.b, "User")
            async with cloud.http() as http:
                root = await login(http, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
                staff = await login(http, "staff@x.test")
                user = await login(http, "user@x.test")
                assert (await staff.call("PATCH", f"/api/v1/users/{user_id}", {"role": "Staff"})).status_code == 403
                assert (await root.ok("PATCH", f"/api/v1/users/{user_id}", {"role": "Staff"}))["role"] == "Staff"
                assert (await staff.call("DELETE", f"/api/v1/users/{user_id}")).status_code == 403
                deleted = await root.ok("DELETE", f"/api/v1/users/{user_id}")
                assert deleted["active"] is False
                assert (await user.call("GET", "/api/v1/me")).status_code == 401  # sessions ended
                gone = await http.post("/api/v1/auth/login", json={"email": "user@x.test", "password": PASSWORD})
                assert gone.status_code == 401
                # a device of org A; staff may not replace its token, the admin may
                issued = await staff.ok("POST", "/api/v1/provisioning/tokens", {"templateId": TEMPLATE_ID})
                device = cloud.stub.store.devices.login(issued["token"])
                path = f"/api/v1/devices/{device.id}/token/refresh"
                assert (await staff.call("POST", path)).status_code == 403
                b_user = await login(http, "b-user@x.test")
                assert (await b_user.call("POST", path)).status_code == 404
                fresh = await root.ok("POST", path)
                assert fresh["token"] != issued["token"] and cloud.stub.store.devices.for_token(fresh["token"])
                assert staff_id

    run(body())


def test_invitations_through_a_configured_smtp_server_or_none(tmp_path: Path, cloud_db: CloudDb) -> None:
    async def body() -> None:
        external = MailSink()
        await external.start()
        try:
            async with running_cloud(cloud_db, smtp=external.url) as cloud:
                assert cloud.stub.mail_sink is None and cloud.endpoints.smtp_url == external.url
                async with cloud.http() as http:
                    root = await login(http, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
                    await root.ok("POST", f"/api/v1/organizations/{root_org(cloud)}/invitations", {"email": "e@x.test"})
                    mail = await external.wait_for("e@x.test", WAIT_S)
                    assert "/invite?token=" in mail.body
        finally:
            await external.stop()
        async with running_cloud(tmp_path / "other.db", smtp=None) as cloud, cloud.http() as http:
            root = await login(http, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
            refused = await root.call(
                "POST", f"/api/v1/organizations/{root_org(cloud)}/invitations", {"email": "e@x.test"}
            )
            assert refused.status_code == 503 and cloud.stub.store.users.by_email("e@x.test") is None
        dead = MailSink()
        await dead.start()
        await dead.stop()  # nobody listens on its port any more
        async with running_cloud(tmp_path / "third.db", smtp=dead.url) as cloud, cloud.http() as http:
            root = await login(http, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
            failed = await root.call(
                "POST", f"/api/v1/organizations/{root_org(cloud)}/invitations", {"email": "e@x.test"}
            )
            assert failed.status_code == 502 and cloud.stub.store.users.by_email("e@x.test") is None

    run(body())


def test_rest_refuses_a_fifth_level_and_bad_names(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud, cloud.http() as http:
            root = await login(http, DEFAULT_ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD)
            parent = root_org(cloud)
            for level in (2, 3, 4):
                parent = (await root.ok("POST", "/api/v1/organizations", {"name": f"L{level}", "parentId": parent}))[
                    "id"
                ]
            deep = await root.call("POST", "/api/v1/organizations", {"name": "L5", "parentId": parent})
            assert deep.status_code == 400 and "limited to 4 levels" in deep.text
            bad = await root.call("POST", "/api/v1/organizations", {"name": "Bad<Name>"})
            assert bad.status_code == 400 and "letters, digits" in bad.text
            # the "can create sub-organizations" flag
            flat = await root.ok("POST", "/api/v1/organizations", {"name": "Flat", "canCreateSubOrgs": False})
            under = await root.call("POST", "/api/v1/organizations", {"name": "Under", "parentId": flat["id"]})
            assert under.status_code == 400 and "cannot create sub-organizations" in under.text
            edited = await root.ok("PATCH", f"/api/v1/organizations/{flat['id']}", {"canCreateSubOrgs": True})
            assert edited["canCreateSubOrgs"] is True
            await root.ok("POST", "/api/v1/organizations", {"name": "Under", "parentId": flat["id"]})
            taken = await root.call("POST", "/api/v1/organizations", {"name": "under"})
            assert taken.status_code == 400 and "already taken" in taken.text
            # templates: created in the root org only, ids unique
            made = await root.ok("POST", "/api/v1/templates", {"id": "TMPL0SECOND", "name": "Second"})
            assert made["orgId"] == root_org(cloud)
            dup = await root.call("POST", "/api/v1/templates", {"id": "TMPL0SECOND", "name": "Again"})
            assert dup.status_code == 400
            add_user(cloud, "deep-admin@x.test", parent)
            deep_admin = await login(http, "deep-admin@x.test")
            not_root = await deep_admin.call("POST", "/api/v1/templates", {"id": "TMPL0THIRD", "name": "Third"})
            assert not_root.status_code == 403 and "root organization" in not_root.text

    run(body())


def root_org(cloud: Cloud) -> int:
    return cloud.stub.admin().org_id
