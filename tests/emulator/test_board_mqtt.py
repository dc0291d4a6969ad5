"""The MQTT build of the firmware (`edgent-esp32-mqtt`, spec §7) against real brokers on loopback.

Two brokers are used, both real: a plain amqtt broker behind a tiny Blynk-like front door (it reads each
CONNECT, refuses username `device` with an unknown password with CONNACK 4 as blynk.cloud does, and hands
everything else to amqtt), so a test-side subscriber sees the board's uplinks and can publish downlinks to
it; and the project's cloud stub, for interoperability, TLS and its scaled keep-alive watchdog.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from amqtt.adapters import ReaderAdapter, StreamWriterAdapter  # type: ignore[import-untyped]
from amqtt.broker import Broker  # type: ignore[import-untyped]
from amqtt.client import MQTTClient  # type: ignore[import-untyped]
from devrig import TOKEN, WAIT_S, FileServer, Rig, provision, run, start_rig

from provlab.cloud.stub import CloudStub
from provlab.emulator.cloud_client import BlynkClient
from provlab.emulator.defects import Defect
from provlab.emulator.mqtt_client import MqttClient, info_mcu_payload, parse_broker_url
from provlab.emulator.profile import PROFILES
from provlab.protocol.config_blob import ConfigBlob
from provlab.protocol.firmware_image import build_app_image, md5_hex
from provlab.protocol.states import EdgentState as S

OBSERVER_TOKEN = "O" * 32
TEMPLATE_ID = "TMPL0TEST01"  # what devrig builds its boards with
INFO_MCU = b'{"type":"TMPL0TEST01","ver":"0.1.0","build":"Nov 26 2026 03:29:17","tmpl":"TMPL0TEST01","rxbuff":1024}'
HOTSPOT = "Blynk Device-1W7R"
MESSAGE_WAIT_S = WAIT_S  # device-time ceiling for a message the test waits for (never an asserted duration)
SCALE = 1.0  # the stub counts in loop seconds, which on the virtual lab clock are device seconds
KEEPALIVE_SCALE = 1.0


# --- a real broker with a Blynk-like front door ------------------------------------------------------


@dataclass(frozen=True)
class Connect:
    """The fields of an MQTT 3.1.1 CONNECT the tests look at."""

    protocol: str
    level: int
    clean_session: bool
    keepalive: int
    client_id: str
    username: str | None
    password: str | None


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


def parse_connect(packet: bytes) -> Connect:
    """A CONNECT packet (fixed header included), parsed by the MQTT 3.1.1 spec, §3.1."""
    assert packet[0] == 0x10, f"first packet is not CONNECT: {packet[:8]!r}"
    _, at = _varint(packet, 1)

    def text(at: int) -> tuple[str, int]:
        size = int.from_bytes(packet[at : at + 2], "big")
        return packet[at + 2 : at + 2 + size].decode(), at + 2 + size

    protocol, at = text(at)
    level, flags = packet[at], packet[at + 1]
    keepalive = int.from_bytes(packet[at + 2 : at + 4], "big")
    client_id, at = text(at + 4)
    if flags & 0x04:  # will topic and message
        _, at = text(at)
        _, at = text(at)
    username = password = None
    if flags & 0x80:
        username, at = text(at)
    if flags & 0x40:
        password, at = text(at)
    return Connect(protocol, level, bool(flags & 0x02), keepalive, client_id, username, password)


class _Replay(ReaderAdapter):  # type: ignore[misc]
    """amqtt's reader for a socket whose CONNECT the front door already read: that first, then the socket."""

    def __init__(self, reader: asyncio.StreamReader, first: bytes) -> None:
        self._reader = reader
        self._first = bytearray(first)

    async def read(self, n: int = -1) -> bytes:
        if self._first:
            size = len(self._first) if n == -1 else min(n, len(self._first))
            data = bytes(self._first[:size])
            del self._first[:size]
            if n != -1 and size < n:
                data += await self._reader.readexactly(n - size)
            return data
        return await (self._reader.read(n) if n == -1 else self._reader.readexactly(n))

    def feed_eof(self) -> None:
        self._reader.feed_eof()


class FrontDoorBroker:
    """amqtt on loopback; CONNECTs with username `device` need a known token (else CONNACK 4)."""

    def __init__(self, tokens: set[str]) -> None:
        self.tokens = tokens | {OBSERVER_TOKEN}
        self.connects: list[Connect] = []
        self.refused = 0
        self.port = 0
        self._broker: Any = None
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self._broker = Broker(
            {
                "listeners": {"default": {"type": "external"}},
                "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
            }
        )
        await self._broker.start()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    def device_connects(self) -> list[Connect]:
        return [c for c in self.connects if c.password != OBSERVER_TOKEN]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        try:
            head = await reader.readexactly(1)
            length = bytearray()
            while not length or length[-1] & 0x80:
                length += await reader.readexactly(1)
            size, _ = _varint(bytes(length), 0)
            packet = head + bytes(length) + await reader.readexactly(size)
            connect = parse_connect(packet)
            self.connects.append(connect)
            if connect.username == "device" and connect.password not in self.tokens:
                self.refused += 1
                writer.write(b"\x20\x02\x00\x04")  # CONNACK, return code 4: bad user name or password
                await writer.drain()
                return
            await self._broker.external_connected(_Replay(reader, packet), StreamWriterAdapter(writer), "default")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._handlers.discard(task)
            self._writers.discard(writer)
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        # A board that lost power vanished without closing its connection (as on the air): the broker
        # still holds its session, so end the connections first, as the cloud stub does when it stops
        # (amqtt's shutdown can wait forever on a session whose socket stays open).
        for writer in list(self._writers):
            writer.transport.abort()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=5)
        if self._broker is not None:
            with contextlib.suppress(Exception):
                await self._broker.shutdown()
        for task in list(self._handlers):
            task.cancel()


class Observer:
    """A second MQTT client on the same broker: sees every uplink, publishes downlinks."""

    def __init__(self, client: Any) -> None:
        self.client = client

    @classmethod
    async def connect(cls, port: int) -> Observer:
        client = MQTTClient(config={"auto_reconnect": False})
        await client.connect(f"mqtt://device:{OBSERVER_TOKEN}@127.0.0.1:{port}/")
        await client.subscribe([("#", 1)])
        return cls(client)

    async def next(self, topic: str) -> bytes:
        """The payload of the next message on `topic` (other topics are skipped)."""

        async def wait() -> bytes:
            while True:
                message = await self.client.deliver_message()
                if message.topic == topic:
                    return bytes(message.data)

        return await asyncio.wait_for(wait(), MESSAGE_WAIT_S)

    async def publish(self, topic: str, payload: bytes = b"", qos: int = 1) -> None:
        await self.client.publish(topic, payload, qos=qos)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.disconnect()


@contextlib.asynccontextmanager
async def mqtt_world(
    tmp: Path, tokens: set[str] | None = None, **rig_kw: Any
) -> AsyncIterator[tuple[FrontDoorBroker, Observer, Rig]]:
    """A broker, an observer subscribed to everything, and an MQTT-build board on the air (not provisioned)."""
    broker = FrontDoorBroker({TOKEN} if tokens is None else tokens)
    await broker.start()
    observer = await Observer.connect(broker.port)
    rig = await start_rig(tmp, transport="mqtt", **rig_kw)
    try:
        yield broker, observer, rig
    finally:
        await rig.shutdown()
        await observer.close()
        await broker.stop()


async def online(broker: FrontDoorBroker, observer: Observer, rig: Rig) -> None:
    await provision(rig, broker.port)
    await rig.wait_state(S.RUNNING)
    assert await observer.next("info/mcu") == INFO_MCU


# --- the profile option -------------------------------------------------------------------------------


def test_the_profile_option_picks_the_cloud_client(tmp_path: Path) -> None:
    async def body() -> None:
        (tmp_path / "m").mkdir()
        (tmp_path / "b").mkdir()
        profile = PROFILES["edgent-esp32-mqtt"](template_id="TMPL0ABC", template_name="Heater")
        assert (profile.name, profile.transport, profile.template_id) == ("edgent-esp32-mqtt", "mqtt", "TMPL0ABC")
        assert PROFILES["edgent-esp32"]().transport == "binary"
        mqtt_rig = await start_rig(tmp_path / "m", power=False, transport="mqtt")
        binary_rig = await start_rig(tmp_path / "b", power=False)
        assert isinstance(mqtt_rig.board.client, MqttClient)
        assert isinstance(binary_rig.board.client, BlynkClient)

    run(body())


def test_info_mcu_and_redirect_urls() -> None:
    info = b"mcu\x000.5.0\x00fw-type\x00HEATER\x00build\x00Mar  5 2024 18:29:27\x00tmpl\x00TMPLabcd1234"
    assert info_mcu_payload(info, 1024) == (
        b'{"type":"HEATER","ver":"0.5.0","build":"Mar  5 2024 18:29:27","tmpl":"TMPLabcd1234","rxbuff":1024}'
    )
    assert parse_broker_url("mqtts://fra1.blynk.cloud:8883") == ("fra1.blynk.cloud", 8883)
    assert parse_broker_url("mqtt://ny3.blynk.cloud") == ("ny3.blynk.cloud", None)
    assert parse_broker_url("wss://sgp1.blynk.cloud:443/mqtt") == ("sgp1.blynk.cloud", 443)
    assert parse_broker_url("fra1.blynk.cloud:8883") is None
    assert parse_broker_url("mqtt://:8883") is None


# --- against a plain broker -----------------------------------------------------------------------------


def test_good_token_reaches_running_and_publishes_info_mcu_then_hotspot_name(tmp_path: Path) -> None:
    async def body() -> None:
        async with mqtt_world(tmp_path) as (broker, observer, rig):
            await provision(rig, broker.port)
            await rig.wait_state(S.RUNNING)
            assert await observer.next("info/mcu") == INFO_MCU
            assert await observer.next("meta/Hotspot Name") == HOTSPOT.encode()
            (connect,) = broker.device_connects()
            assert connect == Connect("MQTT", 4, True, 45, "", "device", TOKEN), "§7: 3.1.1, clean, 45 s"
            texts = rig.capture.log_texts()
            assert f"Connecting to blynk.cloud:{broker.port}" in texts
            assert any(t.startswith("Ready (ping: ") for t in texts)
            assert rig.board.config.is_valid and rig.board.config.last_error == 0
            assert texts.index("CONNECTING_CLOUD => RUNNING") < texts.index("Configuration stored to flash")

    run(body())


def test_uplinks_reach_a_subscriber(tmp_path: Path) -> None:
    async def body() -> None:
        async with mqtt_world(tmp_path) as (broker, observer, rig):
            await online(broker, observer, rig)
            client = rig.board.client
            client.virtual_write("Temperature", "21.5")
            assert await observer.next("ds/Temperature") == b"21.5"
            client.virtual_write("Location", "30.5", "50.4")
            assert await observer.next("ds/Location") == b"30.5\x0050.4"
            client.log_event("overheat", "too hot")
            assert await observer.next("event/overheat") == b"too hot"
            client.send_meta("Time Zone", "Europe/Kyiv")
            assert await observer.next("meta/Time Zone") == b"Europe/Kyiv"

    run(body())


def test_downlinks_reach_the_board(tmp_path: Path) -> None:
    async def body() -> None:
        async with mqtt_world(tmp_path) as (broker, observer, rig):
            await online(broker, observer, rig)
            written: list[tuple[str, list[str]]] = []
            rig.board.client.on_virtual_write = lambda name, values: written.append((name, values))
            await observer.publish("downlink/ds/Power", b"on")
            await observer.publish("downlink/ds/Colour", b"255\x00128\x000")
            await observer.publish("downlink/ping", b"", qos=1)
            await observer.publish("downlink/diag", b"hello from the cloud")
            await rig.wait_log("Server: hello from the cloud")
            assert written == [("Power", ["on"]), ("Colour", ["255", "128", "0"])]
            assert rig.board.client.pins == {"Power": ["on"], "Colour": ["255", "128", "0"]}
            assert rig.board.state is S.RUNNING and len(broker.device_connects()) == 1

    run(body())


def test_bad_password_goes_to_wait_config_with_703(tmp_path: Path) -> None:
    async def body() -> None:
        async with mqtt_world(tmp_path, tokens=set()) as (broker, _observer, rig):
            await provision(rig, broker.port)
            mark = rig.mark()
            await rig.wait_state(S.CONNECTING_CLOUD, after=0)
            await rig.wait_state(S.WAIT_CONFIG, after=mark)
            assert "Invalid auth token" in rig.capture.log_texts()
            assert rig.board.config.last_error == 703 and not rig.board.config.is_valid
            stored = rig.board.flash.read()
            assert stored is not None and ConfigBlob.unpack(stored).last_error == 703
            await rig.wait_ap()
            assert rig.board.board_info().last_error == 703
            assert broker.refused == 1, "no further attempt after CONNACK 4"

    run(body())


def test_reconfigure_downlink_enters_wait_config(tmp_path: Path) -> None:
    async def body() -> None:
        async with mqtt_world(tmp_path) as (broker, observer, rig):
            await online(broker, observer, rig)
            mark = rig.mark()
            await observer.publish("downlink/reconfigure")
            await rig.wait_state(S.WAIT_CONFIG, after=mark)
            await rig.wait_ap()
            assert rig.board.config.is_valid, "reconfigure keeps the stored config until a new /config"

    run(body())


def test_reboot_downlink_restarts_and_reconnects(tmp_path: Path) -> None:
    async def body() -> None:
        async with mqtt_world(tmp_path) as (broker, observer, rig):
            await online(broker, observer, rig)
            mark = rig.mark()
            await observer.publish("downlink/reboot")
            await rig.wait_state(S.RUNNING, after=mark)
            assert rig.board.boots == 2
            assert rig.states[mark:][:2] == [S.CONNECTING_NET, S.CONNECTING_CLOUD]
            assert await observer.next("info/mcu") == INFO_MCU
            assert len(broker.device_connects()) == 2

    run(body())


def test_ota_json_downlink_updates_the_firmware_and_reports_the_new_version(tmp_path: Path) -> None:
    async def body() -> None:
        image = build_app_image("0.3.0", {"mcu": "0.3.0", "build": "Dec  2 2026 11:00:00"}, code_size=9000)
        files = FileServer(200, image, {"Content-Length": str(len(image)), "x-MD5": md5_hex(image)})
        file_port = await files.start()
        try:
            async with mqtt_world(tmp_path) as (broker, observer, rig):
                await online(broker, observer, rig)
                ota = {"url": f"http://ota.example:{file_port}/fw.bin", "size": len(image), "type": TEMPLATE_ID}
                await observer.publish("downlink/ota/json", json.dumps(ota).encode())
                assert await observer.next("event/sys_ota") == b"OTA started"
                await rig.wait_log("=== Update successfully completed. Rebooting.")
                await rig.wait_state(S.RUNNING, after=rig.states.index(S.OTA_UPGRADE))
                assert await observer.next("info/mcu") == (
                    b'{"type":"TMPL0TEST01","ver":"0.3.0","build":"Dec  2 2026 11:00:00","tmpl":"TMPL0TEST01",'
                    b'"rxbuff":1024}'
                )
        finally:
            await files.stop()

    run(body())


def test_redirect_downlink_moves_the_board_to_another_broker(tmp_path: Path) -> None:
    async def body() -> None:
        other = FrontDoorBroker({TOKEN})
        other_port = await other.start()
        other_observer = await Observer.connect(other_port)
        try:
            async with mqtt_world(tmp_path) as (broker, observer, rig):
                await online(broker, observer, rig)
                await observer.publish("downlink/redirect", f"mqtt://127.0.0.1:{other_port}".encode())
                await rig.wait_log(f"Redirecting to 127.0.0.1:{other_port}")
                await rig.wait_log(f"Connecting to 127.0.0.1:{other_port}")
                assert await other_observer.next("info/mcu") == INFO_MCU
                await rig.wait_for(lambda: rig.board.client.connected, "the board online on the other broker")
                assert len(other.device_connects()) == 1
        finally:
            await other_observer.close()
            await other.stop()

    run(body())


class SilentBroker:
    """A raw MQTT server that accepts CONNECT and SUBSCRIBE and then never answers: it records, and sends
    what a test tells it to."""

    def __init__(self) -> None:
        self.packets: list[tuple[float, int]] = []  # (loop time, packet type) as received
        self.pubacks: list[int] = []  # packet ids the device acknowledged
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    def of(self, packet_type: int) -> list[float]:
        return [t for t, kind in self.packets if kind == packet_type]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readexactly(1)
                length = bytearray()
                while not length or length[-1] & 0x80:
                    length += await reader.readexactly(1)
                size, _ = _varint(bytes(length), 0)
                body = await reader.readexactly(size)
                kind = head[0] >> 4
                self.packets.append((asyncio.get_running_loop().time(), kind))
                if kind == PUBACK_TYPE:
                    self.pubacks.append(int.from_bytes(body[:2], "big"))
                if kind == CONNECT_TYPE:
                    writer.write(b"\x20\x02\x00\x00")  # CONNACK accepted
                elif kind == SUBSCRIBE_TYPE:
                    writer.write(b"\x90\x03" + body[:2] + b"\x01")  # SUBACK, QoS 1 granted
        writer.close()

    def publish_qos1(self, topic: str, payload: bytes, packet_id: int) -> None:
        """A PUBLISH with QoS 1 on the newest connection (MQTT 3.1.1 §3.3)."""
        name = topic.encode()
        rest = len(name).to_bytes(2, "big") + name + packet_id.to_bytes(2, "big") + payload
        assert len(rest) < 128
        self._writers[-1].write(bytes([0x32, len(rest)]) + rest)

    async def stop(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()


CONNECT_TYPE, PUBACK_TYPE, SUBSCRIBE_TYPE, PINGREQ_TYPE = 1, 4, 8, 12


@pytest.mark.parametrize(
    ("defects", "acked"),
    [((), [1, 2]), ((Defect.IGNORES_SERVER_PINGS,), [2])],
    ids=["faithful", "ignores-server-pings"],
)
def test_downlink_ping_is_acknowledged_with_qos1(tmp_path: Path, defects: tuple[Defect, ...], acked: list[int]) -> None:
    async def body() -> None:
        broker = SilentBroker()
        port = await broker.start()
        rig = await start_rig(tmp_path, transport="mqtt", defects=defects)
        try:
            await provision(rig, port)
            await rig.wait_state(S.RUNNING)
            broker.publish_qos1("downlink/ping", b"", 1)
            broker.publish_qos1("downlink/ds/Power", b"on", 2)
            await rig.wait_for(lambda: 2 in broker.pubacks, "the PUBACK of the datastream write")
            assert broker.pubacks == acked
            assert rig.board.client.pins == {"Power": ["on"]}
        finally:
            await rig.shutdown()
            await broker.stop()

    run(body())


def test_retries_forever_on_invalid_token_defect_keeps_connecting(tmp_path: Path) -> None:
    async def body() -> None:
        defects = (Defect.RETRIES_FOREVER_ON_INVALID_TOKEN,)
        async with mqtt_world(tmp_path, tokens=set(), defects=defects) as (broker, _observer, rig):
            await provision(rig, broker.port)
            await rig.wait_for(lambda: broker.refused >= 2, "a second CONNECT after CONNACK 4")
            assert rig.capture.count("Invalid auth token") >= 2
            assert rig.board.config.last_error != 703, "the defect never takes the 703 path"

    run(body())


def test_keepalive_pings_run_on_the_device_clock(tmp_path: Path) -> None:
    """PINGREQ after 45 device-seconds of silence; unanswered, the session ends and the board reconnects."""

    async def body() -> None:
        broker = SilentBroker()
        port = await broker.start()
        rig = await start_rig(tmp_path, transport="mqtt")
        try:
            await provision(rig, port)
            await rig.wait_state(S.RUNNING)
            await rig.wait_log("Heartbeat timeout")
            assert len(broker.of(PINGREQ_TYPE)) == 1, "one PINGREQ, then the unanswered ping ends the session"
            timeout = next(int(m) for m in re.findall(r"\[(\d+)\] Heartbeat timeout", rig.capture.text))
            ready = next(int(m) for m in re.findall(r"\[(\d+)\] Ready \(ping", rig.capture.text))
            assert timeout - ready >= 90_000, "45 s of silence to the ping, 45 s more without an answer"
            mark = rig.mark()
            await rig.wait_state(S.RUNNING, after=mark)  # RUNNING -> CONNECTING_CLOUD -> RUNNING
            assert len(broker.of(CONNECT_TYPE)) == 2
        finally:
            await rig.shutdown()
            await broker.stop()

    run(body())


# --- against the project's cloud stub -----------------------------------------------------------------


@contextlib.asynccontextmanager
async def stub_world(tmp: Path, scale: float = SCALE, *, tls: bool = True) -> AsyncIterator[tuple[CloudStub, Rig]]:
    """The cloud stub (MQTT plain and TLS ports) and an MQTT-build board trusting its CA, on one time scale."""
    stub = CloudStub(tmp / "cloud.db", time_scale=scale)
    stub.seed(templates={TEMPLATE_ID: "Device"})
    await stub.start(tls_port=None)
    rig = await start_rig(tmp, transport="mqtt", scale=scale, tls_ca=stub.certs.ca_file if tls else None)
    try:
        yield stub, rig
    finally:
        await rig.shutdown()
        await stub.stop()


def stub_port(stub: CloudStub, *, tls: bool = True) -> int:
    assert stub.endpoints is not None
    port = stub.endpoints.mqtts_port if tls else stub.endpoints.mqtt_port
    assert port is not None
    return port


def test_cloud_stub_over_tls_enrolls_the_board_and_sends_downlinks(tmp_path: Path) -> None:
    async def body() -> None:
        async with stub_world(tmp_path) as (stub, rig):
            token = stub.issue_token(TEMPLATE_ID).token
            await provision(rig, stub_port(stub), token=token)
            await rig.wait_state(S.RUNNING)
            device = await stub.wait_online(token, WAIT_S)
            assert device is not None
            assert "Certificate OK" in rig.capture.log_texts()
            await rig.wait_for(lambda: bool(stub.store.devices.meta(device.id)), "the Hotspot Name in the stub")
            assert stub.store.devices.meta(device.id) == {"Hotspot Name": HOTSPOT}
            stored = stub.store.devices.get(device.id)
            assert stored is not None and stored.info["fw"] == "0.1.0" and stored.info["tmpl"] == TEMPLATE_ID
            assert stub.write_pin(device.id, "V1", "42")
            await rig.wait_for(lambda: bool(rig.board.client.pins), "a datastream write from the stub")
            assert rig.board.client.pins == {"V1": ["42"]}
            mark = rig.mark()
            stub.reconfigure(device.id)
            await rig.wait_state(S.WAIT_CONFIG, after=mark)

    run(body())


def test_cloud_stub_keeps_the_session_thanks_to_device_clock_pings(tmp_path: Path) -> None:
    """The stub drops a session after keep-alive x 1.5 (67.5 device-s) without traffic; the pings keep it."""

    async def body() -> None:
        async with stub_world(tmp_path, KEEPALIVE_SCALE, tls=False) as (stub, rig):
            token = stub.issue_token(TEMPLATE_ID).token
            port = stub_port(stub, tls=False)
            await provision(rig, port, token=token)
            await rig.wait_state(S.RUNNING)
            device = await stub.wait_online(token, WAIT_S)
            assert device is not None
            online_at = rig.clock.now()
            await rig.wait_for(lambda: rig.clock.now() > online_at + 80, "80 device-seconds online")
            assert stub.presence.is_online(device.id) and rig.board.state is S.RUNNING
            assert rig.capture.count(f"Connecting to blynk.cloud:{port}") == 1
            assert stub.events("device_offline") == []

    run(body())


def test_cloud_stub_refuses_an_unknown_token_with_703(tmp_path: Path) -> None:
    async def body() -> None:
        async with stub_world(tmp_path) as (stub, rig):
            await provision(rig, stub_port(stub), token="Z" * 32)
            mark = rig.mark()
            await rig.wait_state(S.WAIT_CONFIG, after=mark)
            assert "Invalid auth token" in rig.capture.log_texts()
            assert rig.board.config.last_error == 703
            assert [e["reason"] for e in stub.events("login_failed")] == ["token ZZZZ… was never issued by this cloud"]

    run(body())
