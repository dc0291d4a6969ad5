"""The MQTT device API through the embedded broker, driven by paho-mqtt over real sockets."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from pathlib import Path
from typing import Any

import pytest
from cloud_helpers import (
    WAIT_S,
    PahoDevice,
    committed_device_tokens,
    device_online,
    device_went_online,
    run,
    running_cloud,
    until,
)

from provlab.cloud.presence import DownlinkNotSupported, Transport
from provlab.cloud.records import Datastream, DataType

BAD_CREDENTIALS = "Bad user name or password"


SCALE = 0.05  # lab-like time scale, with wall timeouts well above scheduling jitter


def test_bad_password_and_bad_username_get_bad_user_name_or_password(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_cloud(tmp_path / "cloud.db") as cloud:
            port = cloud.endpoints.mqtt_port
            assert port is not None
            wrong_token = PahoDevice(port, "Z" * 32)
            assert await asyncio.to_thread(wrong_token.connect) == BAD_CREDENTIALS
            wrong_user = PahoDevice(port, cloud.token(), username="admin")
            assert await asyncio.to_thread(wrong_user.connect) == BAD_CREDENTIALS
            for paho in (wrong_token, wrong_user):
                paho.close()
            reasons = [e["reason"] for e in cloud.stub.events("login_failed")]
            assert reasons == ["token ZZZZ… was never issued by this cloud", "username must be 'device'"]
            assert not cloud.stub.online()

    run(body())


def test_device_connects_publishes_and_is_online(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_cloud(tmp_path / "cloud.db") as cloud:
            token = cloud.token()
            assert cloud.endpoints.mqtt_port is not None
            paho = PahoDevice(cloud.endpoints.mqtt_port, token)
            assert await asyncio.to_thread(paho.connect) == "Success"
            device_id = await device_online(cloud, token)
            assert cloud.stub.online()[0].transport is Transport.MQTT
            info = {
                "type": "TMPL0PROVLAB",
                "ver": "0.1.2",
                "build": "Jan 19 2024",
                "tmpl": "TMPL0PROVLAB",
                "rxbuff": 1024,
            }
            await asyncio.to_thread(paho.publish, "info/mcu", json.dumps(info))
            await asyncio.to_thread(paho.publish, "ds/V1", "21.5")
            await asyncio.to_thread(paho.publish, "batch_ds", json.dumps({"V2": 7, "V3": [1.5, 2.5]}))
            await asyncio.to_thread(paho.publish, "event/overheat", "too hot")
            await asyncio.to_thread(paho.publish, "meta/Hotspot Name", "Blynk Device-1234")
            store = cloud.stub.store
            await until(lambda: bool(store.devices.meta(device_id)), "the metadata arrives")
            assert store.pins.all(device_id) == {"v1": "21.5", "v2": "7", "v3": "1.5\x002.5"}
            stored = store.devices.get(device_id)
            assert stored is not None and stored.info["fw"] == "0.1.2" and stored.info["buff-in"] == "1024"
            assert store.device_log.entries(device_id)[0]["code"] == "overheat"
            assert store.devices.meta(device_id) == {"Hotspot Name": "Blynk Device-1234"}
            await asyncio.to_thread(paho.close)
            assert await cloud.stub.wait_offline(device_id, WAIT_S)

    run(body())


def test_downlinks_reach_only_their_device(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_cloud(tmp_path / "cloud.db") as cloud:
            port = cloud.endpoints.mqtt_port
            assert port is not None
            token_a, token_b = cloud.token(), cloud.token()
            a, b = PahoDevice(port, token_a), PahoDevice(port, token_b)
            for paho in (a, b):
                assert await asyncio.to_thread(paho.connect) == "Success"
                assert await asyncio.to_thread(paho.subscribe, "downlink/#") == [1]
            id_a = await device_online(cloud, token_a)
            async with cloud.http() as http:
                answer = await http.get("/external/api/update", params={"token": token_a, "V5": "on"})
                assert answer.status_code == 200
            assert await asyncio.to_thread(a.next_message) == ("downlink/ds/V5", b"on")
            await asyncio.to_thread(b.publish, "ds/V5", "from b")  # must not reach a
            await asyncio.to_thread(a.publish, "get/ds", "V5")
            assert await asyncio.to_thread(a.next_message) == ("downlink/ds/V5", b"on")
            cloud.stub.reconfigure(id_a)
            assert await asyncio.to_thread(a.next_message) == ("downlink/reconfigure", b"")
            cloud.stub.ping_device(id_a)
            assert await asyncio.to_thread(a.next_message) == ("downlink/ping", b"")
            cloud.stub.redirect_device(id_a, "fra1.blynk.cloud", 1883)
            assert await asyncio.to_thread(a.next_message) == (
                "downlink/redirect",
                b"mqtt://fra1.blynk.cloud:1883",
            )
            assert b.messages.empty()
            for paho in (a, b):
                paho.close()

    run(body())


def test_subscriptions_only_under_downlink_with_a_trailing_hash(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_cloud(tmp_path / "cloud.db") as cloud:
            assert cloud.endpoints.mqtt_port is not None
            paho = PahoDevice(cloud.endpoints.mqtt_port, cloud.token())
            assert await asyncio.to_thread(paho.connect) == "Success"
            for refused in ("ds/#", "#", "downlink/+/x", "+/ds/V1"):
                assert await asyncio.to_thread(paho.subscribe, refused) == [0x80], refused
            assert await asyncio.to_thread(paho.subscribe, "downlink/ds/V1") == [1]
            paho.close()

    run(body())


def test_one_connection_per_token_newest_wins(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_cloud(tmp_path / "cloud.db") as cloud:
            port = cloud.endpoints.mqtt_port
            assert port is not None
            token = cloud.token()
            first, second = (
                PahoDevice(port, token, client_id="same"),
                PahoDevice(port, token, client_id="same"),
            )
            assert await asyncio.to_thread(first.connect) == "Success"
            device_id = await device_online(cloud, token)
            assert await asyncio.to_thread(second.connect) == "Success"
            assert await asyncio.to_thread(first.was_disconnected)
            assert cloud.stub.presence.is_online(device_id)
            assert await asyncio.to_thread(second.subscribe, "downlink/#") == [1]
            cloud.stub.write_pin(device_id, "V1", "still here")
            assert await asyncio.to_thread(second.next_message) == ("downlink/ds/V1", b"still here")
            assert len(cloud.stub.events("session_replaced")) == 1
            second.close()
            first.client.loop_stop()

    run(body())


@pytest.mark.parametrize("keepalive", [10, 2])  # idle deadline after / before the login timeout (10 device s)
def test_silent_client_is_offline_after_keepalive_x_1_5(tmp_path: Path, keepalive: int) -> None:
    async def body() -> None:
        async with running_cloud(tmp_path / "cloud.db", time_scale=SCALE) as cloud:
            token = cloud.token()
            assert cloud.endpoints.mqtt_port is not None
            paho = PahoDevice(cloud.endpoints.mqtt_port, token, keepalive=keepalive)
            assert await asyncio.to_thread(paho.connect) == "Success"
            device_id = await device_went_online(cloud, token)  # keep-alive 2: offline 0.15 wall s after CONNECT
            paho.go_silent()
            assert await cloud.stub.wait_offline(device_id, WAIT_S / SCALE)
            assert cloud.stub.events("device_offline")[-1]["reason"] == "no traffic for heartbeat x 1.5"

    run(body())


def test_typed_datastreams_and_bad_uplinks_answer_on_diag(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_cloud(tmp_path / "cloud.db") as cloud:
            admin = cloud.stub.admin()
            streams = [Datastream(1, "v1", "Temperature", DataType.DOUBLE)]
            cloud.stub.store.templates.create("TMPLSENSOR", "Sensor", admin.org_id, datastreams=streams)
            token = cloud.stub.issue_token("TMPLSENSOR").token
            assert cloud.endpoints.mqtt_port is not None
            paho = PahoDevice(cloud.endpoints.mqtt_port, token)
            assert await asyncio.to_thread(paho.connect) == "Success"
            device_id = await device_online(cloud, token)
            await asyncio.to_thread(paho.publish, "ds/Temperature", "hot")
            _, diag = await asyncio.to_thread(paho.next_message, "downlink/diag")  # always delivered
            assert b"does not match datastream 'Temperature' (double)" in diag
            await asyncio.to_thread(paho.publish, "ds/Humidity", "40")
            _, diag = await asyncio.to_thread(paho.next_message, "downlink/diag")
            assert b"no datastream named 'Humidity'" in diag
            await asyncio.to_thread(paho.publish, "ds/Temperature", "21.25")
            await until(lambda: cloud.stub.store.pins.read(device_id, "v1") == "21.25", "the good value is stored")
            paho.close()

    run(body())


def test_over_1024_bytes_closes_the_connection(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_cloud(tmp_path / "cloud.db") as cloud:
            assert cloud.endpoints.mqtt_port is not None
            paho = PahoDevice(cloud.endpoints.mqtt_port, cloud.token())
            assert await asyncio.to_thread(paho.connect) == "Success"
            await asyncio.to_thread(paho.publish, "ds/V1", "x" * 2000, 0)
            assert await asyncio.to_thread(paho.was_disconnected)
            assert cloud.stub.events("bad_uplink")[0]["error"] == "message over 1024 bytes"
            paho.client.loop_stop()

    run(body())


def test_redirect_knob_answers_connect_with_downlink_redirect(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_cloud(tmp_path / "cloud.db") as cloud:
            token = cloud.token()
            cloud.stub.faults.redirect(token, "ny3.blynk.cloud", 8883)
            assert cloud.endpoints.mqtt_port is not None
            paho = PahoDevice(cloud.endpoints.mqtt_port, token)
            assert await asyncio.to_thread(paho.connect) == "Success"
            assert await asyncio.to_thread(paho.next_message) == (
                "downlink/redirect",
                b"mqtt://ny3.blynk.cloud:8883",
            )
            assert await asyncio.to_thread(paho.was_disconnected)
            assert not cloud.stub.online()
            paho.client.loop_stop()

    run(body())


def test_reconfigure_is_mqtt_only_and_needs_an_online_device(tmp_path: Path) -> None:
    async def body() -> None:
        from cloud_helpers import RawDevice

        from provlab.cloud.gateway import DeviceOffline

        async with running_cloud(tmp_path / "cloud.db") as cloud:
            token = cloud.token()
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            await device.login_esp32(token)
            device_id = await device_online(cloud, token)
            try:
                cloud.stub.reconfigure(device_id)
            except DownlinkNotSupported as exc:
                assert "binary protocol" in str(exc)
            else:
                raise AssertionError("reconfigure over the binary protocol should be refused")
            await device.close()
            assert await cloud.stub.wait_offline(device_id, WAIT_S)
            try:
                cloud.stub.reconfigure(device_id)
            except DeviceOffline as exc:  # C3: reconfigure of an offline device reports it offline
                assert f"device {device_id} is offline" in str(exc)
            else:
                raise AssertionError("reconfigure of an offline device should say it is offline")

    run(body())


def test_latency_and_refuse_knobs_apply_to_connack(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_cloud(tmp_path / "cloud.db", time_scale=SCALE) as cloud:
            assert cloud.endpoints.mqtt_port is not None
            cloud.stub.faults.latency_s = 2.0  # device seconds before the CONNACK
            slow = PahoDevice(cloud.endpoints.mqtt_port, cloud.token())
            assert await asyncio.to_thread(slow.connect) == "Success"
            slow.close()
            cloud.stub.faults.refuse_logins = 19  # SERVER_EXCEPTION -> CONNACK 3
            refused = PahoDevice(cloud.endpoints.mqtt_port, cloud.token())
            assert await asyncio.to_thread(refused.connect) == "Server unavailable"
            refused.close()

    run(body())


def test_connack_to_a_first_login_comes_after_the_device_is_committed(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_cloud(tmp_path / "cloud.db") as cloud:
            assert cloud.endpoints.mqtt_port is not None
            for _ in range(3):
                token = cloud.token()
                paho = PahoDevice(cloud.endpoints.mqtt_port, token)
                assert await asyncio.to_thread(paho.connect) == "Success"
                assert token in committed_device_tokens(tmp_path / "cloud.db")
                await asyncio.to_thread(paho.close)

    run(body())


def test_a_device_that_never_reads_is_not_read_either(tmp_path: Path) -> None:
    """PINGREQs from a device that reads none of the PINGRESPs: once the stub's send buffer for it is full the
    stub stops reading that socket (the answers do not pile up in its memory); other devices are served."""

    async def body() -> None:
        from provlab.protocol import mqtt_packets as mp

        async with running_cloud(tmp_path / "cloud.db") as cloud:
            port = cloud.endpoints.mqtt_port
            assert port is not None and cloud.stub.mqtt is not None
            token = cloud.token()
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", port))
            reader, writer = await asyncio.open_connection(sock=sock)
            writer.write(mp.connect("device", token.encode(), keep_alive=600))
            assert await asyncio.wait_for(reader.readexactly(4), WAIT_S) == mp.connack(mp.ACCEPTED)
            device_id = await device_online(cloud, token)
            conn = cloud.stub.mqtt.connection(device_id)
            assert conn is not None and conn.transport is not None
            transport = conn.transport
            # Small kernel buffers on both ends, so a little data reaches the stub's own buffer limit.
            transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            writer.write(mp.PINGREQ_PACKET * 1_000_000)  # 2 MB of PINGREQs, never a read
            await until(lambda: not transport.is_reading(), "the stub stops reading the device")
            assert transport.get_write_buffer_size() < 1_000_000
            other = PahoDevice(port, cloud.token())
            assert await asyncio.to_thread(other.connect) == "Success"
            other.close()
            writer.transport.abort()

    run(body())


def test_the_journal_shows_the_handshake_keep_alives_subscriptions_and_ping_acks(tmp_path: Path) -> None:
    """What a conformance scenario reads about an MQTT board (spec §7): `device_online` carries the CONNECT's
    keep-alive and clean-session flag, each SUBSCRIBE is `mqtt_subscribe`, each PINGREQ of a logged-in client is
    `device_ping`, and the PUBACK of `downlink/ping` is `ping_answered` (a PUBACK of anything else is not)."""
    from provlab.protocol import mqtt_packets as mp

    async def body() -> None:
        async with running_cloud(tmp_path / "cloud.db") as cloud:
            port = cloud.endpoints.mqtt_port
            assert port is not None
            token = cloud.token()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(mp.connect("device", token.encode(), keep_alive=30))
            assert await reader.readexactly(4) == mp.connack(mp.ACCEPTED)
            device_id = await device_online(cloud, token)
            writer.write(mp.subscribe(1, [("downlink/#", 1)]))
            assert await reader.readexactly(5) == mp.suback(1, [1])
            writer.write(mp.PINGREQ_PACKET)
            assert await reader.readexactly(2) == mp.PINGRESP_PACKET
            cloud.stub.ping_device(device_id)
            ping = mp.publish("downlink/ping", b"", 1, 1)
            assert await reader.readexactly(len(ping)) == ping
            writer.write(mp.puback(7) + mp.puback(1))  # 7 was never sent: not a ping answer
            writer.write(mp.PINGREQ_PACKET)
            assert await reader.readexactly(2) == mp.PINGRESP_PACKET  # both PUBACKs were handled before this

            def events(kind: str) -> list[dict[str, object]]:
                return cloud.stub.store.events.entries(kind)

            online = events("device_online")[-1]
            assert (online["keep_alive"], online["clean_session"]) == (30, True)
            assert [e["filters"] for e in events("mqtt_subscribe")] == [["downlink/#"]]
            assert len(events("device_ping")) == 2
            assert [e["packet_id"] for e in events("ping_answered")] == [1]
            writer.close()
            await writer.wait_closed()

    run(body())


def test_a_client_told_accepted_finds_its_device_online(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CONNACK of a first login leaves once the session is open: a board that prints RUNNING on it finds
    the stub saying it is online. The stub's loop is held inside `open_session` for a moment; a CONNACK written
    before it would reach paho meanwhile."""
    seen_before_online: list[bool] = []

    async def body() -> None:
        async with running_cloud(tmp_path / "cloud.db") as cloud:
            assert cloud.endpoints.mqtt_port is not None
            paho = PahoDevice(cloud.endpoints.mqtt_port, cloud.token())
            connacked = threading.Event()
            told = paho.client.on_connect
            paho.client.on_connect = lambda *args: (connacked.set(), told(*args))
            gateway = cloud.stub.gateway
            real_open = gateway.open_session

            def held_open(*args: Any, **kwargs: Any) -> Any:
                connacked.wait(0.5)  # the loop stands still; paho's thread does not
                seen_before_online.append(connacked.is_set())
                return real_open(*args, **kwargs)

            monkeypatch.setattr(gateway, "open_session", held_open)
            assert await asyncio.to_thread(paho.connect) == "Success"
            await asyncio.to_thread(paho.close)

    run(body())
    assert seen_before_online == [False]
