"""Real client libraries log in unchanged, write a virtual pin, and the value reads back over HTTP (spec §10)."""

from __future__ import annotations

import asyncio
import contextlib
import io
from pathlib import Path
from typing import Any

from cloud_helpers import Cloud, PahoDevice, RawDevice, device_online, run, running_cloud, until

from provlab.protocol.commands import Command, Status
from provlab.protocol.internal import compile_stamp, esp32_info, hardware_vw


async def http_get(cloud: Cloud, token: str, pin: str) -> str:
    async with cloud.http() as http:
        answer = await http.get(f"/external/api/get?token={token}&{pin}")
        assert answer.status_code == 200, answer.text
        return answer.text


async def pin_reads(cloud: Cloud, token: str, pin: str, expected: str) -> None:
    """Wait until `/external/api/get` answers `expected` for `pin` (the device's write is in flight)."""
    for _ in range(500):
        if await http_get(cloud, token, pin) == expected:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(
        f"/external/api/get {pin} never answered {expected!r}; last {await http_get(cloud, token, pin)!r}"
    )


def blynklib_device(port: int, token: str, ssl_cert: str | None = None) -> Any:
    """PyPI blynklib 0.2.6, as its README uses it: LOGIN (2), then the INTERNAL info message."""
    import blynklib

    with contextlib.redirect_stdout(io.StringIO()):  # its logo
        blynk = blynklib.Blynk(token, server="127.0.0.1", port=port, heartbeat=10, ssl_cert=ssl_cert)
    if not blynk.connect(timeout=10):
        raise AssertionError("blynklib did not connect (it needs RESPONSE 200 to its login and to its info)")
    return blynk


def test_pypi_blynklib_logs_in_with_login_2_and_writes_a_pin(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_cloud(tmp_path / "cloud.db") as cloud:
            token = cloud.token()
            blynk = await asyncio.to_thread(blynklib_device, cloud.endpoints.binary_port, token)
            written: list[Any] = []

            @blynk.handle_event("write V5")  # type: ignore[misc]
            def on_v5(pin: int, values: list[str]) -> None:
                written.append((pin, values))

            device_id = await device_online(cloud, token)
            assert cloud.stub.store.devices.get(device_id).info["dev"] == "python"  # type: ignore[union-attr]
            await asyncio.to_thread(blynk.virtual_write, 1, 42)
            await pin_reads(cloud, token, "v1", "42")
            async with cloud.http() as http:
                assert (await http.get(f"/external/api/update?token={token}&v5=hello")).status_code == 200
            while not written:
                await asyncio.to_thread(blynk.read_response, 0.05)
            assert written == [(5, ["hello"])]
            assert cloud.stub.events("device_online")[0]["transport"] == "tcp"
            blynk._socket.close()

    run(body())


def test_pypi_blynklib_over_tls_with_the_lab_ca(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_cloud(tmp_path / "cloud.db") as cloud:
            token = cloud.token()
            assert cloud.endpoints.tls_port is not None
            ca = str(cloud.stub.certs.ca_file)
            blynk = await asyncio.to_thread(blynklib_device, cloud.endpoints.tls_port, token, ca)
            await asyncio.to_thread(blynk.virtual_write, 2, "over tls")
            await pin_reads(cloud, token, "v2", "over tls")
            blynk._socket.close()

    run(body())


def test_cpp_library_login_29_with_the_esp32_info_message(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_cloud(tmp_path / "cloud.db") as cloud:
            token = cloud.token()
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            # BlynkProtocol: HW_LOGIN id 1 with the token; on 200, sendInfo() with the next id.
            assert await device.request(Command.HW_LOGIN, token.encode()) == Status.SUCCESS
            import datetime as dt

            build = compile_stamp(dt.datetime(2026, 11, 6, 3, 29, 17))
            info = esp32_info("0.1.0", "TMPL0PROVLAB", build, "1.4.0", 40, 1024, "ESP32", tmpl="TMPL0PROVLAB")
            assert info.startswith(b"mcu\x000.1.0\x00fw-type\x00TMPL0PROVLAB\x00build\x00Nov  6 2026 03:29:17\x00")
            assert await device.request(Command.INTERNAL, info) == Status.SUCCESS
            await device.send(Command.HARDWARE, hardware_vw(3, 17.25))
            await pin_reads(cloud, token, "v3", "17.25")
            device_id = await device_online(cloud, token)
            stored = cloud.stub.store.devices.get(device_id)
            assert stored is not None
            assert {k: stored.info[k] for k in ("mcu", "blynk", "h-beat", "buff-in", "dev")} == {
                "mcu": "0.1.0",
                "blynk": "1.4.0",
                "h-beat": "40",
                "buff-in": "1024",
                "dev": "ESP32",
            }

    run(body())


def test_paho_mqtt_logs_in_and_writes_a_datastream(tmp_path: Path) -> None:
    async def body() -> None:
        async with running_cloud(tmp_path / "cloud.db") as cloud:
            token = cloud.token()
            assert cloud.endpoints.mqtt_port is not None
            paho = PahoDevice(cloud.endpoints.mqtt_port, token)
            assert await asyncio.to_thread(paho.connect) == "Success"
            await asyncio.to_thread(paho.subscribe, "downlink/#")
            await asyncio.to_thread(paho.publish, "ds/V4", "23")
            await pin_reads(cloud, token, "v4", "23")
            device_id = await device_online(cloud, token)
            await until(lambda: cloud.stub.presence.is_online(device_id), "paho is online")
            paho.close()

    run(body())
