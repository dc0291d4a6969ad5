"""Bad input over real sockets: each gets the spec's answer or a close, and everyone else is still served."""

from __future__ import annotations

import asyncio
import random
import struct

from cloud_helpers import Cloud, RawDevice, device_online, run, running_cloud, until
from store_backends import CloudDb

from provlab.protocol.commands import Command, Status
from provlab.protocol.frames import HEADER, encode_frame
from provlab.protocol.internal import hardware_vw


async def assert_still_serving(cloud: Cloud) -> None:
    """A well-behaved device logs in, writes a pin and gets a PING answered."""
    token = cloud.token()
    device = await RawDevice.connect(cloud.endpoints.binary_port)
    await device.login_esp32(token)
    await device.send(Command.HARDWARE, hardware_vw(1, "ok"))
    assert await device.request(Command.PING) == Status.SUCCESS
    device_id = await device_online(cloud, token)
    assert cloud.stub.store.pins.read(device_id, "v1") == "ok"
    await device.close()


def test_truncated_frame_then_close(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            await device.send_raw(encode_frame(Command.HW_LOGIN, 1, cloud.token().encode())[:20])
            await device.close()
            await until(lambda: bool(cloud.stub.events("truncated_frame")), "the truncated frame is journaled")
            assert cloud.stub.events("truncated_frame")[0]["buffered"] == 20
            await assert_still_serving(cloud)

    run(body())


def test_header_split_across_segments_is_reassembled(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            data = encode_frame(Command.HW_LOGIN, 1, cloud.token().encode())
            for part in (
                data[:2],
                data[2:5],
                data[5:9],
                data[9:],
            ):  # like a Linux client: header and body apart
                await device.send_raw(part)
                await asyncio.sleep(0.01)
            assert await device.response(1) == Status.SUCCESS

    run(body())


def test_oversize_length_closes_before_the_body_arrives(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            for logged_in in (False, True):
                device = await RawDevice.connect(cloud.endpoints.binary_port)
                if logged_in:
                    assert await device.login(cloud.token()) == Status.SUCCESS
                await device.send_raw(HEADER.pack(Command.HARDWARE, 2, 60000))  # announces 60000 bytes
                assert await device.closed_by_peer()
            errors = [e["error"] for e in cloud.stub.events("bad_frame")]
            assert len(errors) == 2 and all("announces a body of 60000 bytes" in e for e in errors)
            await assert_still_serving(cloud)

    run(body())


def test_msg_id_zero_closes_the_connection(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            assert await device.login(cloud.token()) == Status.SUCCESS
            await device.send_raw(HEADER.pack(Command.PING, 0, 0))
            assert await device.closed_by_peer()
            assert "msg_id 0" in cloud.stub.events("bad_frame")[0]["error"]
            await assert_still_serving(cloud)

    run(body())


def test_frames_before_a_fault_in_the_same_segment_are_still_handled(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            token = cloud.token()
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            assert await device.login(token) == Status.SUCCESS
            device_id = await device_online(cloud, token)
            await device.send_raw(encode_frame(Command.HARDWARE, 2, hardware_vw(9, "last")) + HEADER.pack(6, 0, 0))
            assert await device.closed_by_peer()
            assert cloud.stub.store.pins.read(device_id, "v9") == "last"

    run(body())


def test_unknown_commands_get_illegal_command_and_the_session_goes_on(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            stranger = await RawDevice.connect(cloud.endpoints.binary_port)
            await stranger.send(99, b"x")  # before login: not a Blynk client, closed
            assert await stranger.closed_by_peer()
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            assert await device.login(cloud.token()) == Status.SUCCESS
            for command in (99, 255, Command.BRIDGE, Command.NOTIFY):
                msg_id = await device.send(command, b"\xff\x00junk")
                assert await device.response(msg_id) == Status.ILLEGAL_COMMAND
            assert await device.request(Command.PING) == Status.SUCCESS
            assert {e["command"] for e in cloud.stub.events("illegal_command")} == {
                "UNKNOWN(99)",
                "UNKNOWN(255)",
                "BRIDGE",
                "NOTIFY",
            }
            await assert_still_serving(cloud)

    run(body())


def test_non_utf8_bodies(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            assert await device.request(Command.HW_LOGIN, b"\xff\xfe" * 16) == Status.INVALID_TOKEN
            assert cloud.stub.events("login_failed")[0]["reason"] == "login body is not UTF-8 text"
            token = cloud.token()
            assert await device.login(token) == Status.SUCCESS
            for command in (Command.HARDWARE, Command.INTERNAL, Command.EVENT_LOG):
                msg_id = await device.send(command, b"vw\x001\x00\xc3\x28")
                assert await device.response(msg_id) == Status.ILLEGAL_COMMAND_BODY
            assert await device.request(Command.HARDWARE, b"vw\x00notapin\x001") == Status.ILLEGAL_COMMAND_BODY
            assert await device.request(Command.HARDWARE, b"vw") == Status.ILLEGAL_COMMAND_BODY
            assert await device.request(Command.INTERNAL, b"acon") == Status.ILLEGAL_COMMAND_BODY
            assert await device.request(Command.PING) == Status.SUCCESS
            device_id = await device_online(cloud, token)
            assert cloud.stub.store.pins.all(device_id) == {}
            await assert_still_serving(cloud)

    run(body())


def test_slow_client_one_byte_at_a_time_still_logs_in_while_others_are_served(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            slow = await RawDevice.connect(cloud.endpoints.binary_port)
            data = encode_frame(Command.HW_LOGIN, 1, cloud.token().encode())

            async def drip() -> None:
                for byte in data:
                    await slow.send_raw(bytes([byte]))
                    await asyncio.sleep(0.005)

            dripping = asyncio.create_task(drip())
            for _ in range(5):
                await assert_still_serving(cloud)
            await dripping
            assert await slow.response(1) == Status.SUCCESS

    run(body())


def test_slow_client_one_byte_a_device_second_is_closed_at_the_login_timeout(cloud_db: CloudDb) -> None:
    async def body() -> None:
        # time_scale 0.05: 50 ms wall = 1 device second; the login timeout is 10 device seconds (0.5 s).
        async with running_cloud(cloud_db, time_scale=0.05) as cloud:
            slow = await RawDevice.connect(cloud.endpoints.binary_port)
            data = encode_frame(Command.HW_LOGIN, 1, cloud.token().encode())

            async def drip() -> None:
                for byte in data:
                    await slow.send_raw(bytes([byte]))
                    await asyncio.sleep(0.05)

            dripping = asyncio.create_task(drip())
            assert await slow.closed_by_peer()
            dripping.cancel()
            assert cloud.stub.events("login_timeout")
            await assert_still_serving(cloud)

    run(body())


def test_random_garbage_is_closed(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            rng = random.Random(1234)
            for _ in range(20):
                device = await RawDevice.connect(cloud.endpoints.binary_port)
                await device.send_raw(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))))
                await device.close()
            await assert_still_serving(cloud)

    run(body())


async def mqtt_garbage(port: int, data: bytes) -> bool:
    """Send `data` to the MQTT port; True when the stub closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        received = await asyncio.wait_for(reader.read(1024), 10)
        while received:
            received = await asyncio.wait_for(reader.read(1024), 10)
    except (ConnectionError, OSError):
        pass
    writer.close()
    return True


def _connect_packet(protocol: bytes, level: int, client_id: bytes = b"") -> bytes:
    variable = struct.pack(">H", len(protocol)) + protocol + bytes([level, 0x02]) + struct.pack(">H", 45)
    payload = struct.pack(">H", len(client_id)) + client_id
    body = variable + payload
    return bytes([0x10, len(body)]) + body


def test_mqtt_garbage_is_closed_and_the_broker_keeps_serving(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db, time_scale=0.05) as cloud:  # CONNECT timeout 0.5 s
            port = cloud.endpoints.mqtt_port
            assert port is not None
            cases = [
                random.Random(99).randbytes(64),
                b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                b"\x30\x05hello",  # PUBLISH before CONNECT
                b"\x10\xff\xff\xff\x7f" + b"x" * 100,  # CONNECT announcing 268 MB
                _connect_packet(b"MQXX", 4),  # wrong protocol name
                b"\x10",  # a lone byte, then nothing
            ]
            for data in cases:
                assert await mqtt_garbage(port, data)
            # MQTT 5: refused with CONNACK 1 (unacceptable protocol version), then closed.
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(_connect_packet(b"MQTT", 5))
            assert await asyncio.wait_for(reader.read(4), 10) == b"\x20\x02\x00\x01"
            writer.close()
            refused = cloud.stub.events("bad_connect") + cloud.stub.events("login_timeout")
            assert len(refused) == len(cases) + 1  # each connection closed, each one journaled
            await assert_still_serving(cloud)

    run(body())
