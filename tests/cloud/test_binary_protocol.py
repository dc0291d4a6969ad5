"""The binary-protocol server over real TCP sockets: login, info, ping, pins, meta, events, sessions."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import pytest
from cloud_helpers import WAIT_S, RawDevice, committed_device_tokens, device_online, run, running_cloud, until
from store_backends import CloudDb, write_lock_held

from provlab.cloud.rate_limits import LoginLimits, QuotaLimits
from provlab.protocol import choices
from provlab.protocol.commands import Command, Status
from provlab.protocol.frames import encode_frame, encode_response
from provlab.protocol.internal import hardware_vw, meta_set_body, parse_redirect, render_info

SCALE = 0.05  # lab-like time scale, with wall timeouts well above scheduling jitter


def test_hw_login_and_legacy_login_answer_200_with_the_same_msg_id(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            for command in (Command.HW_LOGIN, Command.LOGIN):
                token = cloud.token()
                device = await RawDevice.connect(cloud.endpoints.binary_port)
                msg_id = await device.send(command, token.encode(), msg_id=7)
                assert await device.response(msg_id) == Status.SUCCESS
                assert cloud.stub.presence.is_online(await device_online(cloud, token))
                await device.close()

    run(body())


def test_bad_token_gets_invalid_token_and_the_connection_stays_open(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            assert await device.login("X" * 32) == Status.INVALID_TOKEN
            # Still open: the same connection can log in with a good token.
            token = cloud.token()
            assert await device.login(token) == Status.SUCCESS
            failed = cloud.stub.events("login_failed")
            assert failed[0]["reason"] == "token XXXX… was never issued by this cloud"
            assert failed[0]["transport"] == "tcp"

    run(body())


def test_info_message_is_answered_and_parsed_into_metadata(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            token = cloud.token()
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            await device.login_esp32(token, heartbeat=40)
            device_id = await device_online(cloud, token)
            stored = cloud.stub.store.devices.get(device_id)
            assert stored is not None
            assert stored.info["mcu"] == "0.1.0" and stored.info["h-beat"] == "40"
            assert stored.info["tmpl"] == "TMPL0PROVLAB" and stored.info["dev"] == "ESP32"
            linux = render_info([("ver", "1.4.0"), ("h-beat", "40"), ("fw", "0.2.0"), ("build", "Nov 26 2026")])
            assert await device.request(Command.INTERNAL, linux + b"\0") == Status.SUCCESS  # trailing NUL
            assert cloud.stub.store.devices.get(device_id).info["fw"] == "0.2.0"  # type: ignore[union-attr]

    run(body())


def test_template_mismatch_in_the_info_message_is_journaled(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            assert await device.login(cloud.token()) == 200
            info = render_info([("mcu", "1.0"), ("tmpl", "TMPLOTHER")])
            assert await device.request(Command.INTERNAL, info) == 200
            await until(lambda: bool(cloud.stub.events("template_mismatch")), "template_mismatch is journaled")
            assert cloud.stub.events("template_mismatch")[0]["announced"] == "TMPLOTHER"

    run(body())


def test_ping_rtc_and_utc_are_answered(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            assert await device.login(cloud.token()) == 200
            assert await device.request(Command.PING) == Status.SUCCESS
            rtc_id = await device.send(Command.INTERNAL, b"rtc\0sync")
            rtc = await device.next_frame(lambda f: f.msg_id == rtc_id)
            assert rtc.command == Command.INTERNAL and rtc.str_args()[0] == "rtc" and int(rtc.str_args()[1]) > 0
            utc_id = await device.send(Command.INTERNAL, b"utc\0tz_name")
            utc = await device.next_frame(lambda f: f.msg_id == utc_id)
            assert utc.str_args() == ["utc", "tz_name", "UTC"]

    run(body())


def test_anything_but_login_before_login_is_not_authenticated(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            assert await device.request(Command.PING) == Status.NOT_AUTHENTICATED
            assert await device.request(Command.HARDWARE, hardware_vw(1, 5)) == Status.NOT_AUTHENTICATED
            assert cloud.stub.store.pins.all(1) == {}

    run(body())


def test_virtual_pin_writes_are_stored_and_api_writes_go_down(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            token = cloud.token()
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            await device.login_esp32(token)
            device_id = await device_online(cloud, token)
            await device.send(Command.HARDWARE, hardware_vw(3, 21.5))
            await device.send(Command.HARDWARE, hardware_vw(4, "lon", "lat"))
            await device.send(Command.HARDWARE, b"dw\x005\x001")
            store = cloud.stub.store
            await until(lambda: store.pins.read(device_id, "d5") == "1", "the digital pin is stored")
            assert store.pins.read(device_id, "v3") == "21.5" and store.pins.read(device_id, "v4") == "lon\0lat"
            async with cloud.http() as http:
                answer = await http.get("/external/api/update", params={"token": token, "V7": "on"})
                assert answer.status_code == 200
            pushed = await device.next_frame(lambda f: f.command == Command.HARDWARE)
            assert pushed.args() == [b"vw", b"7", b"on"] and pushed.msg_id != 0
            assert store.pins.read(device_id, "v7") == "on"

    run(body())


def test_hardware_sync_sends_stored_values_back(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            token = cloud.token()
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            await device.login_esp32(token)
            await device.send(Command.HARDWARE, hardware_vw(2, 9))
            sync_id = await device.send(Command.HARDWARE_SYNC, b"vr\x002")
            frame = await device.next_frame(lambda f: f.msg_id == sync_id)
            assert frame.command == Command.HARDWARE and frame.args() == [b"vw", b"2", b"9"]

    run(body())


def test_meta_set_and_event_log_are_stored(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            token = cloud.token()
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            await device.login_esp32(token)
            device_id = await device_online(cloud, token)
            meta = meta_set_body("Hotspot Name", "Blynk Device-1A2B")
            assert await device.request(Command.INTERNAL, meta) == Status.SUCCESS
            assert cloud.stub.store.devices.meta(device_id) == {"Hotspot Name": "Blynk Device-1A2B"}
            await device.send(Command.EVENT_LOG, b"overheat\0too hot")
            await device.send(Command.EVENT_LOG, b"reboot")
            store = cloud.stub.store
            await until(lambda: len(store.device_log.entries(device_id)) == 2, "two device events are logged")
            log = store.device_log.entries(device_id)
            assert [(e["code"], e["description"]) for e in log] == [("overheat", "too hot"), ("reboot", "")]
            assert await device.request(Command.EVENT_LOG, b"") == Status.ILLEGAL_COMMAND_BODY

    run(body())


def test_newest_connection_for_a_token_wins_and_the_old_one_is_closed(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            token = cloud.token()
            first = await RawDevice.connect(cloud.endpoints.binary_port)
            await first.login_esp32(token)
            device_id = await device_online(cloud, token)
            second = await RawDevice.connect(cloud.endpoints.binary_port)
            await second.login_esp32(token)
            assert await first.closed_by_peer()
            presence = cloud.stub.presence.get(device_id)
            assert presence is not None and presence.link is not None
            assert presence.peer.endswith(str(second.writer.get_extra_info("sockname")[1]))
            assert await second.request(Command.PING) == Status.SUCCESS
            replaced = cloud.stub.events("session_replaced")
            assert len(replaced) == 1 and not cloud.stub.events("device_offline")

    run(body())


def test_heartbeat_x_1_5_without_traffic_means_offline(cloud_db: CloudDb) -> None:
    async def body() -> None:
        # h-beat 10 device s x 1.5 = 15 device s = 0.75 wall s at this scale; the device goes silent.
        async with running_cloud(cloud_db, time_scale=SCALE) as cloud:
            token = cloud.token()
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            await device.login_esp32(token, heartbeat=10)
            device_id = await device_online(cloud, token)
            assert await cloud.stub.wait_offline(device_id, WAIT_S / SCALE)
            assert await device.closed_by_peer()
            offline = cloud.stub.events("device_offline")
            assert offline[-1]["reason"] == "no traffic for heartbeat x 1.5"

    run(body())


def test_a_connection_that_never_logs_in_is_closed(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db, time_scale=SCALE) as cloud:
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            assert await device.closed_by_peer()
            assert cloud.stub.events("login_timeout")

    run(body())


def test_failed_logins_are_rate_limited_per_source(cloud_db: CloudDb) -> None:
    async def body() -> None:
        limits = LoginLimits(failures=3, window_s=3600)
        async with running_cloud(cloud_db, login_limits=limits) as cloud:
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            statuses = [await device.login(f"{n:032d}") for n in range(3)]
            assert statuses == [Status.INVALID_TOKEN] * 3
            # Over the allowance: even a good token from this source is turned away, and the store not asked.
            assert await device.login(cloud.token()) == choices.THROTTLED_LOGIN_STATUS
            assert await device.closed_by_peer()
            again = await RawDevice.connect(cloud.endpoints.binary_port)
            assert await again.login(cloud.token()) == choices.THROTTLED_LOGIN_STATUS
            assert len(cloud.stub.events("login_failed")) == 3 and cloud.stub.events("login_throttled")

    run(body())


def test_flooding_device_gets_quota_limit_once_and_is_throttled(cloud_db: CloudDb) -> None:
    async def body() -> None:
        quota = QuotaLimits(messages=20, notice_s=3600)
        async with running_cloud(cloud_db, quota_limits=quota) as cloud:
            token = cloud.token()
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            assert await device.login(token) == 200
            device_id = await device_online(cloud, token)
            flood = b"".join(encode_frame(Command.HARDWARE, n, hardware_vw(1, n)) for n in range(1, 201))
            await device.send_raw(flood)
            assert await device.request(Command.PING) == Status.SUCCESS  # still served
            notices = [f for f in device.inbox if f.status == Status.QUOTA_LIMIT_EXCEPTION]
            assert len(notices) == 1  # at most once per notice period
            stored = int(cloud.stub.store.pins.read(device_id, "v1") or 0)
            assert stored < 200  # the flood's tail was dropped, not stored
            assert cloud.stub.events("quota_exceeded")

    run(body())


def test_redirect_replaces_the_login_answer(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            token = cloud.token()
            cloud.stub.faults.redirect(token, "fra1.blynk.cloud", 8080)
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            login_id = await device.send(Command.HW_LOGIN, token.encode())
            frame = await device.next_frame()
            assert frame.command == Command.REDIRECT and frame.msg_id == login_id
            assert parse_redirect(frame.body) == ("fra1.blynk.cloud", 8080)
            cloud.stub.faults.clear_redirect(token)
            assert await device.login(token) == Status.SUCCESS

    run(body())


def test_redirect_after_login_variant(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            token = cloud.token()
            cloud.stub.faults.redirect(token, "127.0.0.1", 9999, replaces_login_answer=False)
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            assert await device.login(token) == Status.SUCCESS
            frame = await device.next_frame(lambda f: f.command == Command.REDIRECT)
            assert parse_redirect(frame.body) == ("127.0.0.1", 9999)

    run(body())


def test_live_redirect_and_ping_to_an_online_device(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            token = cloud.token()
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            await device.login_esp32(token)
            device_id = await device_online(cloud, token)
            cloud.stub.ping_device(device_id)
            ping = await device.next_frame(lambda f: f.command == Command.PING)
            cloud.stub.redirect_device(device_id, "lon1.blynk.cloud", 443)
            frame = await device.next_frame(lambda f: f.command == Command.REDIRECT)
            assert parse_redirect(frame.body) == ("lon1.blynk.cloud", 443) and frame.msg_id != ping.msg_id

    run(body())


def test_latency_knob_delays_the_login_answer_but_keeps_order(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db, time_scale=SCALE) as cloud:
            cloud.stub.faults.latency_s = 5.0  # device seconds
            token = cloud.token()
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            login_id = await device.send(Command.HW_LOGIN, token.encode())
            ping_id = await device.send(Command.PING)  # sent before the answer: read after it
            assert await device.response(login_id) == Status.SUCCESS
            assert await device.response(ping_id) == Status.SUCCESS

    run(body())


def test_refuse_logins_knob(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            cloud.stub.faults.refuse_logins = Status.SERVER_EXCEPTION
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            assert await device.login(cloud.token()) == Status.SERVER_EXCEPTION
            cloud.stub.faults.reset()
            assert await device.login(cloud.token()) == Status.SUCCESS

    run(body())


def test_drop_connections_knob_takes_every_device_offline(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            devices = []
            for _ in range(3):
                token = cloud.token()
                device = await RawDevice.connect(cloud.endpoints.binary_port)
                await device.login_esp32(token)
                await device_online(cloud, token)
                devices.append(device)
            assert cloud.stub.drop_connections() == 3
            for device in devices:
                assert await device.closed_by_peer()
            await until(lambda: not cloud.stub.online(), "everyone is offline")
            reasons = {e["reason"] for e in cloud.stub.events("device_offline")}
            assert reasons == {"dropped by the lab (fault knob)"}

    run(body())


def test_revoke_and_delete_kick_the_live_session(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            token = cloud.token()
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            await device.login_esp32(token)
            device_id = await device_online(cloud, token)
            new_token = cloud.stub.refresh_token(device_id)  # C4
            assert await device.closed_by_peer()
            again = await RawDevice.connect(cloud.endpoints.binary_port)
            assert await again.login(token) == Status.INVALID_TOKEN
            assert await again.login(new_token) == Status.SUCCESS
            cloud.stub.delete_device(device_id)  # C2
            assert await again.closed_by_peer()
            third = await RawDevice.connect(cloud.endpoints.binary_port)
            assert await third.login(new_token) == Status.INVALID_TOKEN

    run(body())


def test_many_devices_at_once(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            tokens = [cloud.token() for _ in range(50)]

            async def one(index: int, token: str) -> None:
                device = await RawDevice.connect(cloud.endpoints.binary_port)
                await device.login_esp32(token)
                await device.send(Command.HARDWARE, hardware_vw(0, index))
                assert await device.request(Command.PING) == 200
                await device.close()

            await asyncio.gather(*(one(i, t) for i, t in enumerate(tokens)))
            values = sorted(int(cloud.stub.store.pins.read(d.id, "v0") or -1) for d in cloud.stub.store.devices.all())
            assert values == list(range(50))

    run(body())


def test_a_first_login_is_answered_only_after_its_device_is_committed(cloud_db: CloudDb) -> None:
    # Group commit: first logins are buffered and committed together, but never answered before that.
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            for _ in range(5):
                token = cloud.token()
                device = await RawDevice.connect(cloud.endpoints.binary_port)
                assert await device.login(token) == Status.SUCCESS
                assert token in committed_device_tokens(cloud_db)
                await device.close()

    run(body())


def test_frames_sent_behind_a_first_login_are_answered_after_it_in_order(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            token = cloud.token()
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            info = render_info([("mcu", "0.1.0"), ("h-beat", "40")])
            await device.send_raw(
                encode_frame(Command.HW_LOGIN, 1, token.encode())
                + encode_frame(Command.INTERNAL, 2, info)
                + encode_frame(Command.PING, 3)
            )
            answers = [await device.next_frame() for _ in range(3)]
            assert [(f.command, f.msg_id, f.status) for f in answers] == [
                (Command.RESPONSE, 1, Status.SUCCESS),
                (Command.RESPONSE, 2, Status.SUCCESS),
                (Command.RESPONSE, 3, Status.SUCCESS),
            ]
            device_id = await device_online(cloud, token)
            assert cloud.stub.store.devices.get(device_id).info["h-beat"] == "40"  # type: ignore[union-attr]

    run(body())


def test_a_first_login_whose_commit_fails_is_closed_unanswered_and_succeeds_once_the_store_recovers(
    cloud_db: CloudDb,
) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            token = cloud.token()
            cloud.stub.store.set_busy_timeout(0.01)
            with write_lock_held(cloud_db):  # another writer holds the database: commits fail
                device = await RawDevice.connect(cloud.endpoints.binary_port)
                await device.send(Command.HW_LOGIN, token.encode(), msg_id=1)
                assert await device.closed_by_peer()
                assert not [f for f in device.inbox if f.command == Command.RESPONSE]  # never told "200"
                assert not cloud.stub.online()
            again = await RawDevice.connect(cloud.endpoints.binary_port)  # the device retries 5 s later
            assert await again.login(token) == Status.SUCCESS
            assert token in committed_device_tokens(cloud_db)
            assert [e["reason"] for e in cloud.stub.events("login_not_committed")] == [
                "the store could not commit the token activation"
            ]
            assert cloud.stub.events("commit_failed")[0]["error"].startswith("StoreUnavailable: ")

    run(body())


def test_a_delayed_login_answer_leaves_once_the_device_is_online(
    cloud_db: CloudDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the latency knob a later login is answered from a timer, outside any read: its answer, too, waits
    until the session is open. The loop is held inside `open_session`; an answer written before it would reach
    the device (reading on a thread of its own) meanwhile."""
    seen_before_online: list[bool] = []

    async def body() -> None:
        async with running_cloud(cloud_db, time_scale=SCALE) as cloud:
            token = cloud.token()
            first = await RawDevice.connect(cloud.endpoints.binary_port)
            assert await first.login(token) == Status.SUCCESS  # activates the token: the next login is a later one
            await first.close()
            cloud.stub.faults.latency_s = 1.0  # device seconds
            gateway = cloud.stub.gateway
            real_open = gateway.open_session
            device = socket.create_connection(("127.0.0.1", cloud.endpoints.binary_port), timeout=WAIT_S)
            answered = threading.Event()

            def read_answer() -> bytes:
                answer = device.recv(5)
                answered.set()
                return answer

            def held_open(*args: Any, **kwargs: Any) -> Any:
                answered.wait(0.5)  # the loop stands still; the device's thread does not
                seen_before_online.append(answered.is_set())
                return real_open(*args, **kwargs)

            monkeypatch.setattr(gateway, "open_session", held_open)
            device.sendall(encode_frame(Command.HW_LOGIN, 1, token.encode()))
            answer = await asyncio.to_thread(read_answer)
            device.close()
            assert answer == encode_response(1, Status.SUCCESS)

    run(body())
    assert seen_before_online == [False]
