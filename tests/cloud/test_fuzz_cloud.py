"""Bad input for the stub, generated and hand-picked: never a 500, never a dropped session, errors as JSON;
and slow HTTP clients are cut at the header/body deadline while others are served (issue 13, 6/7/9).

The hypothesis tests draw a `random.Random` and hand it to the generators of `tests/fuzzkit.py` (the same
ones `benchmarks/bench_fuzz.py` runs 100,000 times); each example ends with a well-formed request served
on the same connection, and the stub's log must stay free of errors.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import fuzzkit
from cloud_helpers import Cloud, RawDevice, device_online, running_cloud
from fuzzkit import CrashWatch, Verdict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provlab.clock.virtual import VirtualClock
from provlab.cloud.http_guard import HttpDeadlines
from provlab.cloud.rate_limits import QuotaLimits
from provlab.cloud.stub import DEFAULT_ADMIN_PASSWORD
from provlab.cloud.tenancy_api import openapi_document
from provlab.protocol.commands import Command, Status
from provlab.protocol.internal import hardware_vw

T = TypeVar("T")
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
ROUTES = fuzzkit.fuzz_routes(openapi_document())


class LoopRunner:
    """One event loop (wall or virtual clock) that a test and its hypothesis examples share."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def __call__(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(coro, 300))


def with_cloud(
    tmp_path: Path, test: Callable[[LoopRunner, Cloud, CrashWatch], None], *, virtual: bool = False, **kw: Any
) -> None:
    loop = VirtualClock().new_loop() if virtual else asyncio.new_event_loop()
    run = LoopRunner(loop)
    context = running_cloud(tmp_path / "cloud.db", **kw)
    cloud = run(context.__aenter__())
    watch = CrashWatch()

    async def install() -> Any:
        manager = watch.watching()
        manager.__enter__()
        return manager

    manager = run(install())
    try:
        test(run, cloud, watch)
        assert not watch.take(), "the stub logged errors"
    finally:
        manager.__exit__(None, None, None)
        run(context.__aexit__(None, None, None))
        loop.close()


# --- generated ----------------------------------------------------------------------------------------------
def test_generated_binary_frames_plain_and_tls_never_end_the_session(tmp_path: Path) -> None:
    def test(run: LoopRunner, cloud: Cloud, watch: CrashWatch) -> None:
        assert cloud.endpoints.tls_port is not None
        tls = ssl.create_default_context(cafile=str(cloud.stub.certs.ca_file))
        probes = [
            fuzzkit.BinaryProbe(cloud.endpoints.binary_port, cloud.token()),
            fuzzkit.BinaryProbe(cloud.endpoints.tls_port, cloud.token(), ssl_context=tls),
        ]
        assert all(run(p.open()) for p in probes)

        @FUZZ
        @given(rng=st.randoms(use_true_random=False), tls_side=st.booleans())
        def check(rng: random.Random, tls_side: bool) -> None:
            frames = [fuzzkit.binary_frame(rng) for _ in range(20)]
            assert run(probes[tls_side].probe(frames)) is Verdict.OK, frames
            assert not watch.take(), frames

        check()
        for probe in probes:
            run(probe.close())

    with_cloud(tmp_path, test, quota_limits=QuotaLimits(messages=1e9))


def test_generated_http_requests_get_json_4xx_never_5xx(tmp_path: Path) -> None:
    def test(run: LoopRunner, cloud: Cloud, watch: CrashWatch) -> None:
        port = cloud.endpoints.http_port
        admin = cloud.stub.admin()
        bearer = cloud.stub.store.sessions.open(admin.id, time.time(), time.time() + 86400)
        token = cloud.token()

        @FUZZ
        @given(rng=st.randoms(use_true_random=False))
        def check(rng: random.Random) -> None:
            request = fuzzkit.http_request(rng, ROUTES, bearer, token)
            assert run(fuzzkit.probe_stub_http(port, request)) is Verdict.OK, request[:400]
            assert not watch.take(), request[:400]

        check()
        assert run(fuzzkit.stub_http_healthy(port, DEFAULT_ADMIN_PASSWORD))

    with_cloud(tmp_path, test)


def test_generated_mqtt_uplinks_keep_the_session_and_every_refusal_gets_diag(tmp_path: Path) -> None:
    def test(run: LoopRunner, cloud: Cloud, watch: CrashWatch) -> None:
        assert cloud.endpoints.mqtt_port is not None
        probe = fuzzkit.MqttProbe(cloud.endpoints.mqtt_port, cloud.token())
        assert run(probe.open())

        @FUZZ
        @given(rng=st.randoms(use_true_random=False))
        def check(rng: random.Random) -> None:
            uplinks = [fuzzkit.mqtt_uplink(rng) for _ in range(10)]
            assert run(probe.probe(uplinks)) is Verdict.OK, uplinks
            assert not watch.take(), uplinks

        check()
        run(probe.settle(lambda: len(cloud.stub.events("bad_uplink"))))
        refused = len(cloud.stub.events("bad_uplink"))
        expected = [f"{e['topic']}: {e['error']}".encode()[:120] for e in cloud.stub.events("bad_uplink")]
        missing = [text for text in expected if text not in probe.diag_texts]
        assert refused > 0 and probe.diag == refused and probe.connects == 1, missing
        run(probe.close())

    with_cloud(tmp_path, test, quota_limits=QuotaLimits(messages=1e9))


def test_named_bad_mqtt_uplinks_each_get_their_downlink_diag(tmp_path: Path) -> None:
    cases = [
        ("batch_ds", b"[" * 400 + b"]" * 400, "batch_ds: expected a JSON dict, got list"),
        ("batch_ds", b"{", "batch_ds: payload is not JSON: '{'"),
        ("batch_ds", b'{"V\xc2\xb2": 1}', "batch_ds: no datastream named 'V\u00b2'"),
        ("ds/V1/timestamped_batch", b'[[1, 2], "x"]', "expected [[timestamp, value], …], got an item 'x'"),
        ("ds/V1/timestamped_batch", b"[[true, 1]]", "expected [[timestamp, value], …], got an item '[True, 1]'"),
        ("ds/V1/timestamped_batch", b"[[1, [2]]]", "expected [[timestamp, value], …], got an item '[1, [2]]'"),
        ("ds/V1/timestamped_batch", b"{}", "expected a JSON list, got dict"),
        ("info/mcu", b"\xff\xfe", "info/mcu: payload is not UTF-8 text"),
        ("info/mcu", b"[" * 400 + b"]" * 400, "info/mcu: expected a JSON dict, got list"),
        ("ds/V\u00b2", b"1", "ds/V\u00b2: no datastream named 'V\u00b2'"),
        ("get/loc/all", b"", "get/loc/all: the stub has no location for this device"),
        ("x/y", b"1", "x/y: unknown topic"),
    ]

    def test(run: LoopRunner, cloud: Cloud, watch: CrashWatch) -> None:
        assert cloud.endpoints.mqtt_port is not None
        probe = fuzzkit.MqttProbe(cloud.endpoints.mqtt_port, cloud.token())
        assert run(probe.open())
        for topic, payload, _ in cases:
            assert run(probe.probe([(topic, payload)])) is Verdict.OK, topic
        run(probe.settle(lambda: len(cloud.stub.events("bad_uplink"))))
        texts = [text.decode() for text in probe.diag_texts]
        assert len(texts) == len(cases), texts
        for (topic, _, expected), text in zip(cases, texts, strict=True):
            assert text.startswith(topic + ": ") and expected in text, (expected, text)
        assert probe.connects == 1 and not watch.take()
        run(probe.close())

    with_cloud(tmp_path, test, quota_limits=QuotaLimits(messages=1e9))


def test_generated_raw_bytes_on_the_binary_port_never_hang_or_crash(tmp_path: Path) -> None:
    def test(run: LoopRunner, cloud: Cloud, watch: CrashWatch) -> None:
        @FUZZ
        @given(data=st.binary(min_size=1, max_size=300))
        def check(data: bytes) -> None:
            assert run(fuzzkit.binary_garbage(cloud.endpoints.binary_port, data)) is Verdict.OK
            assert not watch.take(), data

        check()
        healthy = fuzzkit.BinaryProbe(cloud.endpoints.binary_port, cloud.token())
        assert run(healthy.open())
        run(healthy.close())

    with_cloud(tmp_path, test, virtual=True, smtp=None)  # waiting for the rest of a frame costs no wall time


# --- hand-picked: the cases the issue names -----------------------------------------------------------------
def _request(
    method: str,
    path: str,
    body: bytes = b"",
    headers: tuple[bytes, ...] = (),
    content_type: bytes = b"application/json",
) -> bytes:
    head = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1", b"Connection: close", *headers]
    if body or method in ("POST", "PUT", "PATCH"):
        head += [b"Content-Type: " + content_type, b"Content-Length: %d" % len(body)]
    return b"\r\n".join(head) + b"\r\n\r\n" + body


def test_named_bad_http_inputs_get_a_4xx_with_a_json_error(tmp_path: Path) -> None:
    def test(run: LoopRunner, cloud: Cloud, watch: CrashWatch) -> None:
        port = cloud.endpoints.http_port
        bearer = (
            b"Authorization: Bearer "
            + cloud.stub.store.sessions.open(cloud.stub.admin().id, time.time(), time.time() + 86400).encode()
        )
        token = cloud.token()
        deep = b"[" * 50_000 + b"]" * 50_000
        cases = {
            "deeply nested JSON": _request("POST", "/api/v1/organizations", deep, (bearer,)),
            "deeply nested login": _request("POST", "/api/v1/auth/login", b'{"a":' * 5000 + b"1" + b"}" * 5000),
            "non-UTF-8 body": _request("POST", "/api/v1/auth/login", b'{"email": "\xff\xfe"}'),
            "non-UTF-8 header": _request("GET", "/api/v1/me", headers=(b"Authorization: Bearer \xff\xfe",)),
            "non-UTF-8 header name": _request("GET", "/api/v1/me", headers=(bearer, b"X-\xff: 1")),
            "[] as a body": _request("POST", "/api/v1/provisioning/tokens", b"[]", (bearer,)),
            "{ as a body": _request("POST", "/api/v1/organizations", b"{", (bearer,)),
            "[] to OAuth2": _request("POST", "/oauth2/token", b"[]"),
            "broken multipart": _request("POST", "/oauth2/token", b"--X\r\n\r\n", content_type=b"multipart/form-data"),
            "multipart, no boundary": _request("POST", "/oauth2/token", b"--X--", content_type=b"multipart/form-data;"),
            "broken multipart revoke": _request(
                "POST", "/oauth2/revoke", b"garbage", content_type=b"multipart/form-data; boundary="
            ),
            "huge id in the path": _request("GET", "/api/v1/organizations/" + "9" * 40, headers=(bearer,)),
            "2^63 in the path": _request("DELETE", f"/api/v1/users/{2**63}", headers=(bearer,)),
            "1e999 as orgId": _request(
                "POST", "/api/v1/provisioning/tokens", b'{"templateId":"T","orgId":1e999}', (bearer,)
            ),
            "Infinity as parentId": _request(
                "POST", "/api/v1/organizations", b'{"name":"x","parentId":Infinity}', (bearer,)
            ),
            "Arabic-Indic digits": _request("GET", "/api/v1/organizations/%D9%A1", headers=(bearer,)),
            "V² on the device API": _request("GET", f"/external/api/get?token={token}&V%C2%B2"),
            "V² update": _request("GET", f"/external/api/update?token={token}&V%C2%B2=1"),
            "² as dataStreamId": _request("GET", f"/external/api/update?token={token}&dataStreamId=%C2%B2&value=1"),
            "a huge lab event number": _request("GET", "/api/v1/lab/events?after=" + "9" * 40, headers=(bearer,)),
            "a huge console event number": _request(
                "GET", "/api/v1/lab/console/events?after=" + "9" * 40, headers=(bearer,)
            ),
            "2^63 as a console event number": _request(
                "GET", f"/api/v1/lab/console/events?after={2**63}", headers=(bearer,)
            ),
            "Arabic-Indic console event number": _request(
                "GET", "/api/v1/lab/console/events?after=%D9%A1", headers=(bearer,)
            ),
            "no such route": _request("GET", "/nope"),
            "wrong method": _request("PUT", "/api/v1/auth/login", b"{}"),
            "not HTTP": b"\x16\x03\x01\x02\x00\x01\x00\r\n\r\n",
            "bad request line": b"GET http://[x/config HTTP/1.1\r\nHost: x\r\n\r\n",
        }
        for name, request in cases.items():
            answer = run(fuzzkit.http_exchange("127.0.0.1", port, request))
            assert answer.status is not None and 400 <= answer.status < 500, f"{name}: {answer}"
            error = json.loads(answer.body)
            assert "error" in error, f"{name}: {answer}"
            assert not watch.take(), name
        assert run(fuzzkit.stub_http_healthy(port, DEFAULT_ADMIN_PASSWORD))

    with_cloud(tmp_path, test)


def test_vw_with_pin_superscript_two_gets_illegal_command_body_and_the_session_goes_on(tmp_path: Path) -> None:
    def test(run: LoopRunner, cloud: Cloud, watch: CrashWatch) -> None:
        async def body() -> None:
            token = cloud.token()
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            await device.login_esp32(token)
            for pin in ("²", "١", "+1", " 1", "9" * 30, "-1"):
                assert await device.request(Command.HARDWARE, hardware_vw(pin, "x")) == Status.ILLEGAL_COMMAND_BODY
                for kind in ("dw", "aw"):  # the digital and analog writes read their pin the same way
                    body = "\0".join((kind, pin, "1")).encode()
                    assert await device.request(Command.HARDWARE, body) == Status.ILLEGAL_COMMAND_BODY, (kind, pin)
            for body in (b"vw\x001", b"vw", b"xx\x001\x002", b"vw\x00\xff\xfe\x001"):  # no value, no pin, no such op
                assert await device.request(Command.HARDWARE, body) == Status.ILLEGAL_COMMAND_BODY, body
            await device.send(Command.HARDWARE_SYNC, b"vr\x00\xc2\xb2\x00" + "١".encode())  # no such pins
            assert await device.request(Command.PING) == Status.SUCCESS
            device_id = await device_online(cloud, token)
            assert cloud.stub.store.pins.all(device_id) == {}
            await device.close()

        run(body())

    with_cloud(tmp_path, test)


def test_an_oversize_stored_value_is_skipped_by_hardware_sync(tmp_path: Path) -> None:
    def test(run: LoopRunner, cloud: Cloud, watch: CrashWatch) -> None:
        async def body() -> None:
            token = cloud.token()
            device = await RawDevice.connect(cloud.endpoints.binary_port)
            await device.login_esp32(token)  # buff-in 1024 until the info says otherwise
            device_id = await device_online(cloud, token)
            cloud.stub.store.pins.write(device_id, "v1", "x" * 70_000)
            cloud.stub.store.pins.write(device_id, "v2", "small")
            msg_id = await device.send(Command.HARDWARE_SYNC, b"")
            synced = await device.next_frame(lambda f: f.command == Command.HARDWARE and f.msg_id == msg_id)
            assert synced.body == hardware_vw(2, "small")
            assert await device.request(Command.PING) == Status.SUCCESS
            assert cloud.stub.events("sync_value_too_big")[0]["pin"] == "v1"
            await device.close()

        run(body())

    with_cloud(tmp_path, test)


# --- slow clients -----------------------------------------------------------------------------------------
async def _dribble(port: int, data: bytes, every_s: float) -> tuple[int, bool]:
    """Send `data` one byte every `every_s` loop seconds to the stub; (bytes sent, closed by the stub)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    return await fuzzkit.dribble(reader, writer, data, every_s)


def test_slowloris_headers_and_body_are_cut_at_their_deadline_while_others_are_served(tmp_path: Path) -> None:
    """On the virtual lab clock: a client dribbling one byte per lab second never completes its head (or body)
    and is closed once the deadline passes; a normal client in the meantime is served at once."""

    def test(run: LoopRunner, cloud: Cloud, watch: CrashWatch) -> None:
        deadlines = HttpDeadlines()
        port = cloud.endpoints.http_port
        head = b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 200 + b"\r\n\r\n"
        body_request = _request("POST", "/api/v1/auth/login", b'{"email":"a@b.c","password":"' + b"p" * 200 + b'"}')
        split = body_request.index(b"\r\n\r\n") + 4

        async def body() -> None:
            loop = asyncio.get_running_loop()
            order: list[str] = []
            started = loop.time()

            async def slow_head() -> None:
                sent, closed = await _dribble(port, head, 1.0)
                order.append("head cut")
                assert closed and sent < len(head)
                assert loop.time() - started >= deadlines.header_s - 1e-6  # lab seconds, not wall

            async def slow_body() -> None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(body_request[:split])
                await writer.drain()
                sent, closed = await fuzzkit.dribble(reader, writer, body_request[split:], 1.0)
                order.append("body cut")
                assert closed and sent < len(body_request) - split

            async def normal() -> None:
                await asyncio.sleep(2.0)
                assert await fuzzkit.stub_http_healthy(port, DEFAULT_ADMIN_PASSWORD)
                order.append("served")

            await asyncio.gather(slow_head(), slow_body(), normal())
            assert order == ["served", "head cut", "body cut"]
            waiting = sorted(str(e["waiting_for"]) for e in cloud.stub.events("http_timeout"))
            assert waiting == ["body", "head"]

        run(body())

    with_cloud(tmp_path, test, virtual=True, smtp=None)


def test_a_kept_alive_connection_is_closed_when_idle_and_its_next_head_has_its_own_deadline(tmp_path: Path) -> None:
    def test(run: LoopRunner, cloud: Cloud, watch: CrashWatch) -> None:
        deadlines = HttpDeadlines()
        request = b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n"  # keep-alive

        async def response(reader: asyncio.StreamReader) -> bytes:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            return head

        async def body() -> None:
            loop = asyncio.get_running_loop()
            reader, writer = await asyncio.open_connection("127.0.0.1", cloud.endpoints.http_port)
            writer.write(request)
            assert (await response(reader)).startswith(b"HTTP/1.1 200")
            await asyncio.sleep(deadlines.idle_s / 2)  # idle, but not for long enough
            writer.write(request[:10])  # a next request begins, and stalls
            began = loop.time()
            assert await reader.read(1) == b""  # closed at the header deadline, not the idle one
            assert deadlines.header_s - 1e-6 <= loop.time() - began < deadlines.idle_s / 2
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", cloud.endpoints.http_port)
            writer.write(request)
            assert (await response(reader)).startswith(b"HTTP/1.1 200")
            began = loop.time()
            assert await reader.read(1) == b""  # closed once idle for idle_s
            assert loop.time() - began >= deadlines.idle_s - 1e-6
            writer.close()
            assert [e["waiting_for"] for e in cloud.stub.events("http_timeout")] == ["head", "idle"]

        run(body())

    with_cloud(tmp_path, test, virtual=True, smtp=None)
