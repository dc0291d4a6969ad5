"""Blynk.Air from the stub (D6): push over the binary protocol and MQTT, the download and its headers,
the corrupt-image knob, refusals, the offline error, and the follow-up by the device's next info message."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
from urllib.parse import urlsplit

import httpx
import pytest
from cloud_helpers import TEMPLATE_ID, WAIT_S, Cloud, PahoDevice, RawDevice, device_online, run, running_cloud, until
from store_backends import CloudDb

from provlab.cloud.gateway import DeviceOffline
from provlab.cloud.ota import OtaPush, OtaStatus
from provlab.cloud.presence import DownlinkNotSupported
from provlab.cloud.store import StoreError
from provlab.protocol.commands import Command
from provlab.protocol.firmware_image import ESP_IMAGE_MAGIC, build_image, md5_hex, read_info
from provlab.protocol.internal import esp32_info


async def fetch(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=WAIT_S) as client:
        return await client.get(url)


def assert_headers_describe(response: httpx.Response, push: OtaPush, image: bytes) -> None:
    """The download headers of spec §7, as the board's OTA client reads them (lower-cased)."""
    headers = response.headers
    assert headers["content-length"] == str(len(image)) == str(push.size)
    assert headers["content-type"] == "application/octet-stream"
    assert headers["x-md5"] == md5_hex(image) == push.md5 and len(push.md5) == 32
    assert headers["x-sha256"] == base64.b64encode(hashlib.sha256(image).digest()).decode() == push.sha256
    assert headers["x-fw-type"] == push.fw_type
    assert headers["x-fw-ver"] == push.version
    assert headers["x-fw-build"] == push.build


async def esp32_online(cloud: Cloud, *, buff_in: int = 1024) -> tuple[RawDevice, str, int]:
    token = cloud.token()
    device = await RawDevice.connect(cloud.endpoints.binary_port)
    assert await device.login(token) == 200
    info = esp32_info("0.1.0", TEMPLATE_ID, "Jan  1 2026 00:00:00", buff_in=buff_in, tmpl=TEMPLATE_ID)
    assert await device.request(Command.INTERNAL, info) == 200
    return device, token, await device_online(cloud, token)


def test_push_over_the_binary_protocol_serves_the_image_and_follows_the_update(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            device, token, device_id = await esp32_online(cloud)
            push = cloud.stub.push_ota(device_id, version="0.2.0", build="Mar  5 2026 18:29:27")
            assert (push.device_id, push.version, push.transport) == (device_id, "0.2.0", "tcp")
            assert push.fw_type == TEMPLATE_ID  # BLYNK_FIRMWARE_TYPE is the template id in Edgent
            assert push.previous_version == "0.1.0" and not push.corrupt
            frame = await device.next_frame(lambda f: f.command == Command.INTERNAL)
            op, url = frame.body.split(b"\0", 1)
            assert op == b"ota" and url.decode() == push.url  # `ota\0<url>`, spec §6.5
            parts = urlsplit(push.url)
            assert (parts.scheme, parts.hostname, parts.port) == ("http", "127.0.0.1", cloud.endpoints.http_port)
            assert parts.path == f"/static/ota/{push.id}.bin" and parts.query == f"token={token}"
            assert cloud.stub.ota_status(push.id) is OtaStatus.PUSHED
            pushed = cloud.stub.events("ota_pushed")[-1]
            assert (pushed["device_id"], pushed["push"], pushed["version"]) == (device_id, push.id, "0.2.0")

            response = await fetch(push.url)
            assert response.status_code == 200
            image = response.content
            assert image[0] == ESP_IMAGE_MAGIC and read_info(image) == {
                "mcu": "0.2.0",
                "fw-type": TEMPLATE_ID,
                "build": "Mar  5 2026 18:29:27",
                "tmpl": TEMPLATE_ID,
            }
            assert_headers_describe(response, push, image)
            downloaded = cloud.stub.events("ota_downloaded")[-1]
            assert (downloaded["push"], downloaded["bytes"], downloaded["corrupt"]) == (push.id, len(image), False)
            assert downloaded["peer"].startswith("127.0.0.1:")
            assert cloud.stub.ota_status(push.id) is OtaStatus.DOWNLOADED

            await device.close()  # the board reboots into the new image and logs in again
            again = await RawDevice.connect(cloud.endpoints.binary_port)
            assert await again.login(token) == 200
            info = esp32_info("0.2.0", TEMPLATE_ID, "Mar  5 2026 18:29:27", tmpl=TEMPLATE_ID)
            assert await again.request(Command.INTERNAL, info) == 200
            assert cloud.stub.ota_status(push.id) is OtaStatus.SUCCEEDED
            assert cloud.stub.firmware_version(device_id) == "0.2.0"
            succeeded = cloud.stub.events("ota_succeeded")[-1]
            assert (succeeded["push"], succeeded["announced"], succeeded["previous_version"]) == (
                push.id,
                "0.2.0",
                "0.1.0",
            )
            assert "token" not in json.dumps(cloud.stub.events("ota_pushed"))  # the URL's token is not journaled
            await again.close()

    run(body())


def test_push_over_mqtt_sends_the_ota_json_and_a_failed_update_is_reported(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            token = cloud.token()
            assert cloud.endpoints.mqtt_port is not None
            paho = PahoDevice(cloud.endpoints.mqtt_port, token)
            assert await asyncio.to_thread(paho.connect) == "Success"  # no subscription: OTA comes anyway
            device_id = await device_online(cloud, token)
            mcu = {"type": TEMPLATE_ID, "ver": "0.1.2", "build": "Jan 19 2024 12:25:30", "tmpl": TEMPLATE_ID}
            await asyncio.to_thread(paho.publish, "info/mcu", json.dumps(mcu))
            await until(lambda: cloud.stub.firmware_version(device_id) == "0.1.2", "the info arrives")
            image = build_image({"mcu": "0.5.0", "build": "Mar 05 2024 18:29:27"}, 20082)
            push = cloud.stub.push_ota(device_id, image, host="blynk.cloud", corrupt=True)
            assert (push.version, push.transport, push.corrupt) == ("0.5.0", "mqtt", True)
            assert re.fullmatch(r"[A-Z][a-z]{2} [ 0-9]\d \d{4} \d\d:\d\d:\d\d", push.build)  # __DATE__ __TIME__
            _, payload = await asyncio.to_thread(paho.next_message, "downlink/ota/json")
            document = json.loads(payload)
            assert list(document) == ["url", "size", "type", "ver", "build"]  # spec §7, in that order
            assert document == {
                "url": push.url,
                "size": 20082,
                "type": TEMPLATE_ID,
                "ver": "0.5.0",
                "build": push.build,
            }
            assert push.url.startswith(f"http://blynk.cloud:{cloud.endpoints.http_port}/static/ota/")

            local = push.url.replace("blynk.cloud", "127.0.0.1", 1)  # what the lab's DNS answers for the name
            response = await fetch(local)
            assert response.status_code == 200
            assert_headers_describe(response, push, image)
            served = response.content
            assert len(served) == len(image) and served != image and served[0] == ESP_IMAGE_MAGIC
            assert md5_hex(served) != response.headers["x-md5"]  # the MD5 check of the firmware fails
            assert cloud.stub.events("ota_downloaded")[-1]["corrupt"] is True

            # the board fails, reboots after ERROR and comes back announcing the old version
            await asyncio.to_thread(paho.publish, "info/mcu", json.dumps(mcu))
            await until(lambda: cloud.stub.ota_status(push.id) is OtaStatus.FAILED, "the failure is seen")
            failed = cloud.stub.events("ota_failed")[-1]
            assert (failed["push"], failed["version"], failed["announced"]) == (push.id, "0.5.0", "0.1.2")
            assert cloud.stub.firmware_version(device_id) == "0.1.2"
            await asyncio.to_thread(paho.close)

    run(body())


def test_download_needs_the_device_token_and_a_known_file(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            device, token, device_id = await esp32_online(cloud)
            other, _, _ = await esp32_online(cloud)
            push = cloud.stub.push_ota(device_id, version="0.3.0")
            base = push.url.split("?")[0]
            second = cloud.stub.store.devices.all()[1].token
            assert second is not None and second != token
            answers = [await fetch(url) for url in (base, f"{base}?token={second}", base.replace(push.id, "nope"))]
            assert [a.status_code for a in answers] == [400, 400, 404]
            assert [a.json()["error"]["message"] for a in answers] == [
                "No token provided.",
                "Invalid token.",
                "File not found.",
            ]
            refused = cloud.stub.events("ota_download_refused")
            assert [e["status"] for e in refused] == [400, 400, 404]
            assert not cloud.stub.events("ota_downloaded")
            assert cloud.stub.ota_status(push.id) is OtaStatus.PUSHED
            fetched = await fetch(push.url)
            assert fetched.status_code == 200 and len(fetched.content) == push.size
            await device.close()
            await other.close()

    run(body())


def test_push_to_an_offline_or_unknown_device_is_refused(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            device, _, device_id = await esp32_online(cloud)
            await device.close()
            assert await cloud.stub.wait_offline(device_id, WAIT_S)
            with pytest.raises(DeviceOffline, match=f"device {device_id} is offline"):
                cloud.stub.push_ota(device_id, version="0.2.0")
            with pytest.raises(StoreError, match="no device 999"):
                cloud.stub.push_ota(999, version="0.2.0")
            assert not cloud.stub.events("ota_pushed")
            with pytest.raises(StoreError, match="no OTA push"):
                cloud.stub.ota_status("1-abc")

    run(body())


def test_bad_images_and_a_url_over_buff_in_are_refused_before_sending(cloud_db: CloudDb) -> None:
    async def body() -> None:
        async with running_cloud(cloud_db) as cloud:
            device, _, device_id = await esp32_online(cloud, buff_in=64)
            with pytest.raises(ValueError, match="not an ESP app image"):
                cloud.stub.push_ota(device_id, b"PK\x03\x04 a zip", version="0.2.0")
            with pytest.raises(ValueError, match="no blnkinf version tag"):
                cloud.stub.push_ota(device_id, bytes([ESP_IMAGE_MAGIC]) + b"\0" * 100)
            with pytest.raises(ValueError, match="needs an image or a version"):
                cloud.stub.push_ota(device_id)
            with pytest.raises(DownlinkNotSupported, match="receives at most 64"):
                cloud.stub.push_ota(device_id, version="0.2.0")
            assert not cloud.stub.events("ota_pushed")
            assert cloud.stub.presence.is_online(device_id)
            await device.close()

    run(body())
