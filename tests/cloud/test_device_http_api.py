"""The HTTP device API (`/external/api/…`) over real HTTP: answers and the exact error bodies of spec §8."""

from __future__ import annotations

import asyncio

import httpx
from cloud_helpers import RawDevice, device_online, run, running_cloud
from store_backends import CloudDb

from provlab.cloud.records import Datastream, DataType, MetaField
from provlab.protocol.commands import Command
from provlab.protocol.internal import hardware_vw


def error(message: str) -> dict[str, dict[str, str]]:
    return {"error": {"message": message}}


def assert_error(response: httpx.Response, message: str) -> None:
    assert (response.status_code, response.json()) == (400, error(message)), response.text


def test_token_errors(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud, cloud.http() as http:
            for path in ("get", "getAll", "update", "isHardwareConnected", "logEvent", "device/meta"):
                assert_error(await http.get(f"/external/api/{path}"), "No token provided.")
                assert_error(await http.get(f"/external/api/{path}", params={"token": "Q" * 32}), "Invalid token.")
            unused = cloud.token()  # issued but never logged in: not a device token yet
            assert_error(await http.get("/external/api/get", params={"token": unused, "v1": ""}), "Invalid token.")

    run(body())


def test_get_update_and_get_all_on_an_open_template(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud, cloud.http() as http:
            token = cloud.token()
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            await device.login_esp32(token)
            await device.send(Command.HARDWARE, hardware_vw(1, 100))
            await device_online(cloud, token)
            got = await http.get(f"/external/api/get?token={token}&v1")
            assert (got.status_code, got.text) == (200, "100")
            assert (await http.get("/external/api/update", params={"token": token, "V2": "hello"})).status_code == 200
            assert (
                await http.get(f"/external/api/update?token={token}&pin=V4&value=24.1&value=48.2")
            ).status_code == 200
            assert (await http.get(f"/external/api/update?token={token}&dataStreamId=3&value=x")).status_code == 200
            assert (await http.get(f"/external/api/get?token={token}&dataStreamId=3")).text == "x"
            both = await http.get(f"/external/api/get?token={token}&v1&v2")
            assert both.json() == {"v1": "100", "v2": "hello"}
            assert (await http.get(f"/external/api/get?token={token}&v4")).json() == ["24.1", "48.2"]
            assert (await http.get(f"/external/api/getAll?token={token}")).json() == {
                "v1": "100",
                "v2": "hello",
                "v3": "x",
                "v4": ["24.1", "48.2"],
            }
            batch = await http.get(f"/external/api/batch/update?token={token}&v5=1&v6=2")
            assert batch.status_code == 200
            assert (await http.get(f"/external/api/get?token={token}&v5&v6")).json() == {"v5": "1", "v6": "2"}
            posted = await http.post(
                f"/external/api/batch/update?token={token}&pin=v7", json=[[1, "a"], [3, "c"], [2, "b"]]
            )
            assert posted.status_code == 200
            assert (await http.get(f"/external/api/get?token={token}&v7")).text == "c"
            assert_error(await http.get(f"/external/api/get?token={token}&x1"), "Wrong pin format.")
            assert_error(await http.get(f"/external/api/get?token={token}&v999"), "Wrong pin format.")
            assert_error(
                await http.get(f"/external/api/get?token={token}&dataStreamId=abc"),
                "Wrong dataStreamId format.",
            )
            assert_error(await http.get(f"/external/api/get?token={token}"), "Request with incorrect parameters")
            pushed = [await device.next_frame(lambda f: f.command == Command.HARDWARE) for _ in range(6)]
            assert [f.args()[1] for f in pushed] == [b"2", b"4", b"3", b"5", b"6", b"7"]

    run(body())


def test_declared_datastreams_are_typed_and_checked(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud, cloud.http() as http:
            admin = cloud.stub.admin()
            streams = [
                Datastream(1, "v1", "Temperature", DataType.DOUBLE),
                Datastream(2, "v2", "Count", DataType.INTEGER),
                Datastream(3, "v3", "Label", DataType.STRING),
            ]
            cloud.stub.store.templates.create(
                "TMPLSENSOR",
                "Sensor",
                admin.org_id,
                datastreams=streams,
                event_codes=["overheat"],
                metafields=[MetaField(1, "Serial Number")],
            )
            token = cloud.stub.issue_token("TMPLSENSOR").token
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            assert await device.login(token) == 200
            base = f"/external/api/update?token={token}"
            assert (await http.get(f"{base}&v1=21.5")).status_code == 200
            assert (await http.get(f"{base}&v2=7")).status_code == 200
            assert_error(await http.get(f"{base}&v2=7.5"), "Value doesn't match the Datastream data type.")
            assert_error(await http.get(f"{base}&v1=warm"), "Value doesn't match the Datastream data type.")
            assert_error(await http.get(f"{base}&v9=1"), "No datastream setup for that pin.")
            assert_error(
                await http.get(f"{base}&dataStreamId=9&value=1"),
                "Requested dataStream doesn't exist in the product Sensor",
            )
            all_values = await http.get(f"/external/api/getAll?token={token}")
            assert all_values.json() == {"v1": 21.5, "v2": 7}
            log = f"/external/api/logEvent?token={token}"
            assert_error(await http.get(log), "Event code is not provided.")
            assert_error(await http.get(f"{log}&code=flood"), "Can't find Event with this code in Product template")
            assert (await http.get(f"{log}&code=overheat&description=hot")).status_code == 200
            meta = f"/external/api/device/meta?token={token}"
            assert_error(await http.get(f"{meta}&metaFieldId=x"), "Wrong metaField format.")
            assert_error(await http.get(f"{meta}&metaFieldId=5"), "MetaField doesn't exist.")
            update = f"/external/api/device/meta/update?token={token}&metaFieldId=1"
            assert_error(await http.get(update), "Wrong value")
            assert (await http.get(f"{update}&value=SN-001")).status_code == 200
            assert (await http.get(f"{meta}&metaFieldId=1")).text == "SN-001"

    run(body())


def test_is_hardware_connected_follows_presence(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud, cloud.http() as http:
            token = cloud.token()
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            await device.login_esp32(token)
            device_id = await device_online(cloud, token)
            assert (await http.get(f"/external/api/isHardwareConnected?token={token}")).text == "true"
            await device.close()
            assert await cloud.stub.wait_offline(device_id, 10)
            assert (await http.get(f"/external/api/isHardwareConnected?token={token}")).text == "false"

    run(body())


def test_provision_activates_a_dynamic_token_over_http(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud, cloud.http() as http:
            token = cloud.token()
            wrong = await http.get(f"/external/api/provision?token={token}&templateId=TMPLWRONG")
            assert_error(wrong, "Request with incorrect parameters")
            done = await http.get(f"/external/api/provision?token={token}&templateId=TMPL0PROVLAB&ver=0.3.0&type=MCU")
            assert done.status_code == 200
            device = cloud.stub.device_for_token(token)
            assert device is not None and device.info["fw"] == "0.3.0" and device.info["type"] == "MCU"
            assert device.owner_id == cloud.stub.admin().id
            assert (await http.get(f"/external/api/isHardwareConnected?token={token}")).text == "false"
            bad = await http.get("/external/api/provision?token=" + "R" * 32 + "&templateId=TMPL0PROVLAB")
            assert_error(bad, "Invalid token.")

    run(body())


def test_token_status_long_poll_answers_when_the_device_comes_online(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud, cloud.http() as http:
            login = await http.post(
                "/api/v1/auth/login", json={"email": "admin@provlab.test", "password": "provlab-admin"}
            )
            headers = {"Authorization": f"Bearer {login.json()['accessToken']}"}
            issued = await http.post(
                "/api/v1/provisioning/tokens", json={"templateId": "TMPL0PROVLAB"}, headers=headers
            )
            token = issued.json()["token"]
            for odd in ("soon", "nan", "1e999", "Infinity", "-1", "%D9%A3", "+3"):  # float() takes all but the first
                bad = await http.get(f"/api/v1/provisioning/tokens/{token}?wait={odd}", headers=headers)
                assert bad.status_code == 400, odd
            short = await http.get(f"/api/v1/provisioning/tokens/{token}?wait=0.05", headers=headers)
            assert short.json()["online"] is False and short.json()["activated"] is False
            waiting = asyncio.create_task(
                http.get(f"/api/v1/provisioning/tokens/{token}?wait=30", headers=headers, timeout=60)
            )
            while not cloud.stub.presence.waiting(token):  # the stub holds the request
                await asyncio.sleep(0.01)
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            await device.login_esp32(token)
            answer = (await waiting).json()
            assert answer["online"] is True and answer["activated"] is True
            assert answer["deviceId"] == await device_online(cloud, token)
            assert cloud.stub.presence.waiting(token) == 0

    run(body())


def test_phone_api_and_its_fault_knobs(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db, time_scale=0.05) as cloud, cloud.http() as http:
            login = await http.post(
                "/api/v1/auth/login", json={"email": "admin@provlab.test", "password": "provlab-admin"}
            )
            headers = {"Authorization": f"Bearer {login.json()['accessToken']}"}
            bad_login = await http.post("/api/v1/auth/login", json={"email": "admin@provlab.test", "password": "x"})
            assert bad_login.status_code == 401
            cloud.stub.faults.token_issue_status = 503
            failed = await http.post(
                "/api/v1/provisioning/tokens", json={"templateId": "TMPL0PROVLAB"}, headers=headers
            )
            assert failed.status_code == 503 and "fault knob" in failed.json()["error"]["message"]
            cloud.stub.faults.token_issue_status = None
            cloud.stub.faults.latency_s = 2.0  # device seconds, every HTTP answer
            issued = await http.post(
                "/api/v1/provisioning/tokens", json={"templateId": "TMPL0PROVLAB"}, headers=headers
            )
            token = issued.json()["token"]
            assert len(token) == 32 and issued.json()["templateId"] == "TMPL0PROVLAB"
            status = await http.get(f"/api/v1/provisioning/tokens/{token}", headers=headers)
            assert status.json() == {
                "activated": False,
                "deviceId": None,
                "online": False,
                "expired": False,
                "revoked": False,
            }
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            await device.login_esp32(token)
            device_id = await device_online(cloud, token)
            status = await http.get(f"/api/v1/provisioning/tokens/{token}", headers=headers)
            assert status.json()["deviceId"] == device_id and status.json()["online"] is True
            revoked = await http.delete(f"/api/v1/provisioning/tokens/{token}", headers=headers)
            assert revoked.json() == {"revoked": True}
            assert await device.closed_by_peer()
            assert (await http.get("/api/v1/provisioning/tokens/" + token)).status_code == 401

    run(body())
