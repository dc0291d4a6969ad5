"""The stub's MQTT device API in front of a real Mosquitto (`CloudStub(mqtt_broker=…)`, `--mqtt-broker`).

Each test starts its own `mosquitto` on a free loopback port (Debian's package; .ci/run installs it). Devices
log in at the stub with paho (token checked there); a second paho client, connected to Mosquitto only,
plays "another subscriber": it sees uplinks and presence and sends downlinks through the broker.
"""

from __future__ import annotations

import asyncio
import json
import queue
import signal
import socket
import subprocess
import sys
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner
from cloud_helpers import WAIT_S, PahoDevice, device_online, run, running_cloud, until

from provlab.cli import main
from provlab.cloud.mosquitto import Mosquitto, mosquitto_binary
from provlab.cloud.mqtt_bridge import MqttBridgeError
from provlab.cloud.stub import CloudStub

SERVE = "import sys; from provlab.cli import main; sys.argv[0] = 'provlab'; main()"
needs_mosquitto = pytest.mark.skipif(
    mosquitto_binary() is None, reason="mosquitto is not installed (Debian: apt-get install mosquitto; .ci/run does)"
)


class Observer:
    """A plain client of the broker (no token: Mosquitto alone), subscribed to everything under `provlab/`."""

    def __init__(self, port: int) -> None:
        self.messages: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="observer")
        subscribed: queue.Queue[bool] = queue.Queue()
        self.client.on_message = lambda c, u, m: self.messages.put((m.topic, bytes(m.payload), bool(m.retain)))
        self.client.on_subscribe = lambda c, u, mid, rcs, props: subscribed.put(True)
        self.client.connect("127.0.0.1", port, 30)
        self.client.loop_start()
        self.client.subscribe("provlab/#", qos=0)
        subscribed.get(timeout=WAIT_S)

    def next(self, topic: str) -> bytes:
        while True:
            got, payload, _ = self.messages.get(timeout=WAIT_S)
            if got == topic:
                return payload

    def send(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=0).wait_for_publish(WAIT_S)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@needs_mosquitto
def test_devices_log_in_at_the_stub_and_their_traffic_goes_through_mosquitto(tmp_path: Path) -> None:
    async def body() -> None:
        with Mosquitto() as broker:
            async with running_cloud(tmp_path / "cloud.db", mqtt_broker=broker.url) as cloud:
                assert cloud.endpoints.mqtt_broker == broker.url and cloud.endpoints.mqtt_port is not None
                observer = await asyncio.to_thread(Observer, broker.port)
                token = cloud.token()
                device = PahoDevice(cloud.endpoints.mqtt_port, token)
                assert await asyncio.to_thread(device.connect) == "Success"
                assert await asyncio.to_thread(device.subscribe, "downlink/#") == [1]
                device_id = await device_online(cloud, token)
                assert await asyncio.to_thread(observer.next, f"provlab/{device_id}/online") == b"1"

                await asyncio.to_thread(device.publish, "ds/V1", "21.5")
                assert await asyncio.to_thread(observer.next, f"provlab/{device_id}/up/ds/V1") == b"21.5"
                assert cloud.stub.store.pins.read(device_id, "v1") == "21.5"  # stored by the stub as well

                await asyncio.to_thread(observer.send, f"provlab/{device_id}/down/downlink/ds/V2", b"on")
                assert await asyncio.to_thread(device.next_message) == ("downlink/ds/V2", b"on")
                await asyncio.to_thread(observer.send, f"provlab/{device_id}/down/ds/V2", b"not a downlink")
                await asyncio.to_thread(device.publish, "get/ds", "V1")  # a round trip after the ignored one
                assert await asyncio.to_thread(device.next_message) == ("downlink/ds/V1", b"21.5")

                # A wrong token is refused by the stub; nothing of it reaches the broker.
                intruder = PahoDevice(cloud.endpoints.mqtt_port, "Z" * 32)
                assert await asyncio.to_thread(intruder.connect) == "Bad user name or password"
                intruder.close()

                await asyncio.to_thread(device.close)
                assert await cloud.stub.wait_offline(device_id, WAIT_S)
                assert await asyncio.to_thread(observer.next, f"provlab/{device_id}/online") == b"0"
                assert cloud.stub.bridge is not None and cloud.stub.bridge.dropped == 0
                assert cloud.stub.bridge.downlinks == 1
                await asyncio.to_thread(observer.close)

    run(body())


@needs_mosquitto
def test_the_stub_keeps_serving_while_mosquitto_is_away_and_relays_again_when_it_is_back(tmp_path: Path) -> None:
    async def body() -> None:
        broker = Mosquitto().start()
        try:
            async with running_cloud(tmp_path / "cloud.db", mqtt_broker=broker.url) as cloud:
                assert cloud.endpoints.mqtt_port is not None and cloud.stub.bridge is not None
                token = cloud.token()
                device = PahoDevice(cloud.endpoints.mqtt_port, token)
                assert await asyncio.to_thread(device.connect) == "Success"
                device_id = await device_online(cloud, token)
                await asyncio.to_thread(broker.stop)
                await until(lambda: bool(cloud.stub.events("mqtt_broker_lost")), "the stub notices the broker left")
                await asyncio.to_thread(device.publish, "ds/V3", "while away")
                assert cloud.stub.store.pins.read(device_id, "v3") == "while away"
                assert cloud.stub.bridge.dropped >= 1
                broker = Mosquitto(broker.port).start()
                await until(lambda: bool(cloud.stub.events("mqtt_broker_back")), "the stub reconnects")
                observer = await asyncio.to_thread(Observer, broker.port)
                # Presence is published again on reconnect (retained), so a late subscriber sees it.
                assert await asyncio.to_thread(observer.next, f"provlab/{device_id}/online") == b"1"
                await asyncio.to_thread(device.publish, "ds/V3", "back")
                assert await asyncio.to_thread(observer.next, f"provlab/{device_id}/up/ds/V3") == b"back"
                await asyncio.to_thread(device.close)
                await asyncio.to_thread(observer.close)
        finally:
            broker.stop()

    run(body())


def test_a_broker_that_is_not_there_or_not_on_loopback_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MqttBridgeError, match="not a loopback address"):
        CloudStub(tmp_path / "a.db", mqtt_broker="mqtt://192.0.2.1:1883")  # refused before any connection
    with pytest.raises(MqttBridgeError, match="expected mqtt://"):
        CloudStub(tmp_path / "b.db", mqtt_broker="http://127.0.0.1:1883")

    async def body() -> None:
        with socket.socket() as unused:  # a loopback port nobody listens on
            unused.bind(("127.0.0.1", 0))
            port = unused.getsockname()[1]
        stub = CloudStub(tmp_path / "c.db", mqtt_broker=f"mqtt://127.0.0.1:{port}")
        stub.seed()
        with pytest.raises(MqttBridgeError, match="cannot reach the MQTT broker"):
            await stub.start(tls_port=None, mqtts_port=None)
        await stub.stop()

    run(body())


@needs_mosquitto
def test_cloud_serve_fronts_the_broker_named_by_mqtt_broker(tmp_path: Path) -> None:
    ports = ["--binary-port", "0", "--http-port", "0", "--tls-port", "-1", "--mqtt-port", "0", "--mqtts-port", "-1"]
    with Mosquitto() as broker:
        options = [*ports, "--mqtt-broker", broker.url, "--json"]
        serve = subprocess.Popen(
            [sys.executable, "-c", SERVE, "cloud", "serve", "--db", str(tmp_path / "cloud.db"), *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert serve.stdout is not None
            endpoints = json.loads(serve.stdout.readline())
            assert endpoints["mqtt_broker"] == broker.url
            assert endpoints["mqtt_url"] == f"mqtt://127.0.0.1:{endpoints['mqtt_port']}"  # devices log in here
            issued = CliRunner().invoke(main, ["cloud", "token", "--db", str(tmp_path / "cloud.db")])
            assert issued.exit_code == 0, issued.output
            observer = Observer(broker.port)
            device = PahoDevice(endpoints["mqtt_port"], issued.output.strip())
            assert device.connect() == "Success"
            device.publish("ds/V7", "via the CLI")
            topic, payload, _ = observer.messages.get(timeout=WAIT_S)
            while not topic.endswith("/up/ds/V7"):
                topic, payload, _ = observer.messages.get(timeout=WAIT_S)
            assert payload == b"via the CLI"
            device.close()
            observer.close()
        finally:
            serve.send_signal(signal.SIGINT)
            serve.communicate(timeout=WAIT_S)


def test_cloud_serve_refuses_a_broker_url_off_loopback() -> None:
    result = CliRunner().invoke(main, ["cloud", "serve", "--mqtt-broker", "mqtt://192.0.2.1:1883"])
    assert result.exit_code == 2
    assert "--mqtt-broker" in result.output and "not a loopback address" in result.output
