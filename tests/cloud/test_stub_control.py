"""The lab-facing control API of the stub, and the cloud scenarios it referees (C1, C3, C9, C12)."""

from __future__ import annotations

import asyncio
import json

from cloud_helpers import WAIT_S, PahoDevice, RawDevice, device_online, run, running_cloud
from store_backends import CloudDb

from provlab.cloud.presence import Transport
from provlab.protocol.commands import Command, Status
from provlab.protocol.internal import hardware_vw

SCALE = 0.05  # lab-like time scale, with wall timeouts well above scheduling jitter


def test_issue_as_a_user_wait_online_and_see_who_is_online(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db, time_scale=SCALE) as cloud:
            store = cloud.stub.store
            org = store.orgs.create("Customer A")
            user = store.users.create("qa@customer.test", "pw", org, role="User")
            token = cloud.stub.issue_token("TMPL0PROVLAB", user).token
            assert await cloud.stub.wait_online(token, timeout_device_s=5) is None  # nobody logged in
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            await device.login_esp32(token)
            online = await cloud.stub.wait_online(token, timeout_device_s=WAIT_S / SCALE)
            assert online is not None and (online.owner_id, online.org_id) == (user.id, org)
            [who] = cloud.stub.online()
            assert (who.device_id, who.org_id, who.transport) == (online.id, org, Transport.TCP)
            assert who.since > 0 and who.peer.startswith("127.0.0.1:")
            kinds = [e["kind"] for e in cloud.stub.events()]
            assert kinds[:3] == ["token_issued", "token_activated", "device_online"]
            assert cloud.stub.stats()["logins"] == 1

    run(body())


def test_unused_token_expires(cloud_db: CloudDb) -> None:  # C1
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            token = cloud.stub.issue_token(ttl_s=-1).token
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            assert await device.login(token) == Status.INVALID_TOKEN
            assert "expired before its first login" in cloud.stub.events("login_failed")[0]["reason"]
            issued = cloud.stub.store.tokens.get(token)
            assert issued is not None and not issued.activated

    run(body())


def test_reprovision_keeps_the_device_and_retires_the_old_token(cloud_db: CloudDb) -> None:  # C3
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            old = cloud.token()
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            await device.login_esp32(old)
            device_id = await device_online(cloud, old)
            await device.send(Command.HARDWARE, hardware_vw(1, "kept"))
            assert await device.request(Command.PING) == 200
            new = cloud.stub.reprovision_token(device_id).token
            await device.close()
            again = await RawDevice.connect(cloud.endpoints.binary_port)
            await again.login_esp32(new)
            assert await device_online(cloud, new) == device_id
            assert cloud.stub.store.pins.read(device_id, "v1") == "kept"
            third = await RawDevice.connect(cloud.endpoints.binary_port)
            assert await third.login(old) == Status.INVALID_TOKEN

    run(body())


def test_two_clients_share_a_token_across_transports_newest_wins(cloud_db: CloudDb) -> None:  # C9
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            token = cloud.token()
            binary = await RawDevice.connect(cloud.endpoints.binary_port)
            await binary.login_esp32(token)
            device_id = await device_online(cloud, token)
            assert cloud.endpoints.mqtt_port is not None
            paho = PahoDevice(cloud.endpoints.mqtt_port, token)
            assert await asyncio.to_thread(paho.connect) == "Success"
            assert await binary.closed_by_peer()
            presence = cloud.stub.presence.get(device_id)
            assert presence is not None and presence.transport is Transport.MQTT
            replaced = cloud.stub.events("session_replaced")[0]
            assert (replaced["old_transport"], replaced["device_id"]) == ("tcp", device_id)
            paho.close()

    run(body())


def test_cloud_restart_mid_session(cloud_db: CloudDb) -> None:  # C12
    async def body() -> None:
        db = cloud_db
        async with running_cloud(db) as cloud:
            token = cloud.token()
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            await device.login_esp32(token)
            device_id = await device_online(cloud, token)
            await device.send(Command.HARDWARE, hardware_vw(8, "before"))
            assert await device.request(Command.PING) == 200
            owner = cloud.stub.store.devices.get(device_id)
        assert await device.closed_by_peer()  # the stub went away under the device
        async with running_cloud(db) as cloud:
            again = await RawDevice.connect(cloud.endpoints.binary_port)
            await again.login_esp32(token)  # the device reconnects with the same token
            assert await device_online(cloud, token) == device_id
            assert cloud.stub.store.devices.get(device_id) == owner
            assert cloud.stub.store.pins.read(device_id, "v8") == "before"
            offline = [e for e in cloud.stub.events("device_offline") if e["device_id"] == device_id]
            assert offline[-1]["reason"] == "cloud stub stopped"

    run(body())


def test_event_journal_is_json_and_masked(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            tokens = [cloud.token() for _ in range(3)]
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            for token in tokens:
                await device.login(token)
            await device.login("not-a-token-but-secret-anyway-xx")
            cloud.stub.faults.redirect(tokens[0], "x", 1)
            await device.login(tokens[0])
            dump = json.dumps(cloud.stub.events())
            for token in tokens:
                assert token not in dump
            assert "not-a-token-but-secret-anyway-xx" not in dump

    run(body())
