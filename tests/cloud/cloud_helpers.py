"""Helpers for the cloud stub's tests: a running stub on loopback and a raw binary-protocol device."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from store_backends import CloudDb, committed_rows, on_postgres

from provlab.cloud.stub import CloudStub, Endpoints
from provlab.protocol.commands import Command
from provlab.protocol.frames import Frame, FrameParser, encode_frame, next_msg_id
from provlab.protocol.internal import esp32_info

T = TypeVar("T")
WAIT_S = 10.0  # ceiling for anything a test waits for; never a duration that is asserted
TEMPLATE_ID = "TMPL0PROVLAB"


def run(coro: Awaitable[T]) -> T:
    """Run one test body on a fresh event loop."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, 60)

    return asyncio.run(bounded())


@dataclass
class Cloud:
    stub: CloudStub
    endpoints: Endpoints

    def token(self) -> str:
        return self.stub.issue_token(TEMPLATE_ID).token

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.endpoints.http_url, timeout=WAIT_S)


@contextlib.asynccontextmanager
async def running_cloud(db: CloudDb, **kw: Any) -> AsyncIterator[Cloud]:
    """A seeded stub on `db` (a SQLite file or a PostgreSQL URL; there the TLS folder is a temp folder)."""
    start_kw = {k: kw.pop(k) for k in ("tls_port", "mqtt_port", "mqtts_port") if k in kw}
    with contextlib.ExitStack() as cleanup:
        if on_postgres(db) and "certs" not in kw:
            kw["certs"] = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="provlab-certs-"))
        stub = CloudStub(db, **kw)
        stub.seed()
        endpoints = await stub.start(**start_kw)
        try:
            yield Cloud(stub, endpoints)
        finally:
            await stub.stop()


class RawDevice:
    """A device client written with provlab.protocol: frames in, frames out, nothing hidden."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = FrameParser(max_body=4096)
        self.inbox: list[Frame] = []
        self.msg_id = 0

    @classmethod
    async def connect(
        cls, port: int, *, ssl_context: ssl.SSLContext | None = None, server_hostname: str | None = None
    ) -> RawDevice:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=ssl_context, server_hostname=server_hostname if ssl_context else None
        )
        return cls(reader, writer)

    def next_id(self) -> int:
        self.msg_id = next_msg_id(self.msg_id)
        return self.msg_id

    async def send(self, command: int, body: bytes = b"", msg_id: int | None = None) -> int:
        msg_id = msg_id or self.next_id()
        self.writer.write(encode_frame(command, msg_id, body))
        await self.writer.drain()
        return msg_id

    async def send_raw(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def next_frame(self, predicate: Callable[[Frame], bool] = lambda f: True) -> Frame:
        """The next frame (already received or still to come) that satisfies `predicate`."""

        async def wait() -> Frame:
            while True:
                for index, frame in enumerate(self.inbox):
                    if predicate(frame):
                        del self.inbox[index]
                        return frame
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionResetError("the stub closed the connection")
                self.inbox += self.parser.feed(data)

        return await asyncio.wait_for(wait(), WAIT_S)

    async def response(self, msg_id: int) -> int:
        frame = await self.next_frame(lambda f: f.command == Command.RESPONSE and f.msg_id == msg_id)
        assert frame.status is not None
        return frame.status

    async def request(self, command: int, body: bytes = b"") -> int:
        """Send and wait for the RESPONSE with the same msg id; returns its status."""
        return await self.response(await self.send(command, body))

    async def login(self, token: str, command: int = Command.HW_LOGIN) -> int:
        return await self.request(command, token.encode())

    async def login_esp32(self, token: str, heartbeat: int = 40) -> None:
        """What the C++ library on an ESP32 does: HW_LOGIN, then the info message."""
        assert await self.login(token) == 200
        info = esp32_info("0.1.0", TEMPLATE_ID, "Jan  1 2026 00:00:00", heartbeat=heartbeat, tmpl=TEMPLATE_ID)
        assert await self.request(Command.INTERNAL, info) == 200

    async def closed_by_peer(self) -> bool:
        """Wait until the stub closes the connection (True), reading and keeping what arrives meanwhile."""

        async def wait() -> bool:
            while True:
                try:
                    data = await self.reader.read(65536)
                except (ConnectionError, OSError):
                    return True
                if not data:
                    return True
                with contextlib.suppress(Exception):
                    self.inbox += self.parser.feed(data)

        return await asyncio.wait_for(wait(), WAIT_S)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


async def device_online(cloud: Cloud, token: str) -> int:
    """Wait until the device holding `token` is online; its id."""
    device = await cloud.stub.wait_online(token, WAIT_S / cloud.stub.time_scale)
    assert device is not None, f"device never came online; events: {cloud.stub.events()}"
    return device.id


async def device_went_online(cloud: Cloud, token: str) -> int:
    """Wait until the device holding `token` has logged in (its `device_online` is journaled), online or not
    now: for sessions that may already be over (a keep-alive of a fraction of a wall second); its id."""
    ids: list[int] = []

    def logged_in() -> bool:
        device = cloud.stub.store.devices.for_token(token)
        if device is not None and cloud.stub.store.events.entries("device_online", device.id):
            ids.append(device.id)
        return bool(ids)

    await until(logged_in, f"the device of token {token[:4]}… logs in; events: {cloud.stub.events()}")
    return ids[0]


async def until(predicate: Callable[[], bool], what: str) -> None:
    """Poll `predicate` (for state with no waiter) until it holds; fail with `what` after WAIT_S."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.005)


def committed_device_tokens(db: CloudDb) -> set[str]:
    """The tokens devices hold in `db` as another client of the database sees them: committed rows only."""
    return {r[0] for r in committed_rows(db, "SELECT token FROM devices WHERE token IS NOT NULL")}


def frame_bytes(command: int, msg_id: int, body: bytes = b"") -> bytes:
    return Frame(command, msg_id, body).encode()


class PahoDevice:
    """paho-mqtt 2.x as a device uses it (username `device`, password = token), on its own network thread."""

    def __init__(
        self,
        port: int,
        token: str,
        *,
        username: str = "device",
        keepalive: int = 45,
        ca_file: str | None = None,
        client_id: str = "",
    ) -> None:
        import queue
        import threading

        import paho.mqtt.client as mqtt

        self.port = port
        self.keepalive = keepalive
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, reconnect_on_failure=False)
        self.client.username_pw_set(username, token)
        if ca_file is not None:
            self.client.tls_set(ca_certs=ca_file)
        self.connack: queue.Queue[str] = queue.Queue()
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.subacks: queue.Queue[list[int]] = queue.Queue()
        self.disconnected = threading.Event()
        self.client.on_connect = lambda c, u, flags, rc, props: self.connack.put(str(rc))
        self.client.on_message = lambda c, u, msg: self.messages.put((msg.topic, bytes(msg.payload)))
        self.client.on_subscribe = lambda c, u, mid, rcs, props: self.subacks.put([int(r.value) for r in rcs])
        self.client.on_disconnect = lambda c, u, flags, rc, props: self.disconnected.set()

    def connect(self) -> str:
        """Connect and return the CONNACK's reason (`Success`, `Bad user name or password`, …)."""
        self.client.connect("127.0.0.1", self.port, self.keepalive)
        self.client.loop_start()
        return self.connack.get(timeout=WAIT_S)

    def subscribe(self, topic: str) -> list[int]:
        self.client.subscribe(topic, qos=1)
        return self.subacks.get(timeout=WAIT_S)

    def publish(self, topic: str, payload: str | bytes, qos: int = 1) -> None:
        info = self.client.publish(topic, payload, qos=qos)
        if qos:
            info.wait_for_publish(WAIT_S)

    def next_message(self, topic: str | None = None) -> tuple[str, bytes]:
        while True:
            message = self.messages.get(timeout=WAIT_S)
            if topic is None or message[0] == topic:
                return message

    def was_disconnected(self) -> bool:
        return self.disconnected.wait(WAIT_S)

    def go_silent(self) -> None:
        """Stop paho's network thread without DISCONNECT: no more PINGREQs, the socket stays open."""
        self.client.loop_stop()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
