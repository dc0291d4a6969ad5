"""Our own fuzzer: generated bad input for every door of the stub and the board, and the verdict on each.

Used by the bounded hypothesis tests (`tests/cloud/test_fuzz_cloud.py`, `tests/emulator/test_fuzz_board.py`,
which draw a `random.Random` from hypothesis) and by the long run `benchmarks/bench_fuzz.py`.

Every probe sends one input over a real socket (or the board's UART) and then asks the same connection for
something well-formed (binary PING, MQTT PINGREQ, a fresh HTTP request), so each input ends in a `Verdict`:

* CRASH   - the server logged an error or an event-loop exception while handling it
* HANG    - no answer and no close within the probe's limit
* ERROR_5XX - an HTTP 5xx (the SoftAP's own 500 for an invalid `/config` is the firmware's answer, not one)
* DROP    - the connection closed where the protocol says it stays open (binary/MQTT session, HTTP w/o reply)
* NOT_JSON - an HTTP 4xx from the stub whose body is not a JSON error
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
import ssl
import struct
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from provlab.protocol.commands import Command, Status
from provlab.protocol.frames import FrameParser, encode_frame, next_msg_id
from provlab.protocol.internal import esp32_info

TEMPLATE_ID = "TMPL0PROVLAB"


class Verdict(Enum):
    OK = "ok"
    CRASH = "crash"
    HANG = "hang"
    ERROR_5XX = "5xx"
    DROP = "drop"
    NOT_JSON = "not-json"


@dataclass
class Tally:
    """Inputs per door and bad verdicts, with the first few examples of each."""

    inputs: Counter[str] = field(default_factory=Counter)
    bad: Counter[tuple[str, Verdict]] = field(default_factory=Counter)
    unhealthy: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    missing_diag: int = 0  # MQTT refusals whose downlink/diag never arrived

    def add(self, door: str, verdict: Verdict, what: object, n: int = 1) -> None:
        self.inputs[door] += n
        if verdict is not Verdict.OK:
            self.bad[door, verdict] += 1
            if self.bad[door, verdict] <= 2:  # the first two of each kind
                self.examples.append(f"{door} {verdict.value}: {str(what)[:300]}")

    def health(self, door: str, ok: bool) -> None:
        if not ok:
            self.unhealthy[door] += 1
            if len(self.examples) < 20:
                self.examples.append(f"{door}: health check failed")

    def count(self, verdict: Verdict) -> int:
        return sum(n for (_, v), n in self.bad.items() if v is verdict)

    @property
    def total(self) -> int:
        return sum(self.inputs.values())

    def clean(self) -> bool:
        return not self.bad and not self.unhealthy


class CrashWatch(logging.Handler):
    """Counts ERROR records (aiohttp's "Error handling request", asyncio's "Task exception …", the stub's own)
    and event-loop exceptions; `take()` returns and clears them."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()[:200]} {record.exc_text or ''}"[:400])

    def on_loop_exception(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.records.append(f"loop: {context.get('message')} {context.get('exception')!r}"[:400])

    @contextlib.contextmanager
    def watching(self) -> Iterator[CrashWatch]:
        root = logging.getLogger()
        root.addHandler(self)
        loop = asyncio.get_running_loop()
        old = loop.get_exception_handler()
        loop.set_exception_handler(self.on_loop_exception)
        try:
            yield self
        finally:
            loop.set_exception_handler(old)
            root.removeHandler(self)

    def take(self) -> list[str]:
        out, self.records = self.records, []
        return out


# --- generated values ------------------------------------------------------------------------------------
NUMBERS = [
    "0",
    "1",
    "2",
    "-1",
    "+1",
    " 1",
    "1_0",
    "01",
    "١٢",
    "²",
    "V²",
    "9" * 25,
    str(2**63),
    "1e999",
    "Infinity",
    "NaN",
    "-0",
    "0x10",
    "1.5",
    "",
    "\u0661",
    "\uff11",
    "9" * 5000,
]
TEXTS = [
    "",
    "x",
    "V1",
    "v1",
    "V²",
    "d1",
    "é",
    "\u202e",
    "\x00",
    "%00",
    "%ff",
    "..",
    "../../etc",
    "a" * 900,
    "'\"<>",
    "\ud7ff",
    "😀" * 50,
    "null",
    "true",
    "[]",
    "{}",
    "\\",
    "\r\n",
    " ",
]


def number(rng: random.Random) -> str:
    return rng.choice(NUMBERS) if rng.random() < 0.7 else str(rng.randrange(-(10**6), 10**30))


def text(rng: random.Random, limit: int = 200) -> str:
    roll = rng.random()
    if roll < 0.5:
        return rng.choice(TEXTS)[:limit]
    if roll < 0.7:
        return number(rng)[:limit]
    return "".join(
        chr(rng.choice((rng.randrange(32, 127), rng.randrange(0x80, 0x3000)))) for _ in range(rng.randrange(1, 30))
    )


def json_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.randrange(10)
    if depth > 3 or roll < 3:
        return text(rng)
    if roll < 5:
        return rng.choice([0, -1, 10**30, 2**63, 1.5, -0.0, True, False, None, 1e308])
    if roll < 7:
        return [json_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {text(rng, 20): json_value(rng, depth + 1) for _ in range(rng.randrange(4))}


FIELDS = [
    "email",
    "password",
    "templateId",
    "orgId",
    "parentId",
    "name",
    "role",
    "permissions",
    "userId",
    "adminEmail",
    "canCreateSubOrgs",
    "applyToSubOrganizations",
    "token",
    "grant_type",
    "client_id",
    "client_secret",
    "user",
    "description",
    "id",
    "expires_in",
    "orgs",
    "users",
    "parent",
]


def json_body(rng: random.Random) -> bytes:
    """Mostly shaped like what the APIs take, with the values wrong; sometimes not JSON or JSON at its limits."""
    roll = rng.randrange(12)
    if roll == 0:
        n = rng.choice([10, 1000, 5000])  # past the parser's recursion limit, small enough to be sent whole
        return (rng.choice(["[", '{"a":']) * n + "1" + rng.choice(["]", "}"]) * n).encode()
    if roll == 1:
        return rng.choice(
            [b"[]", b"{", b"}", b"null", b"1e999", b"-Infinity", b"NaN", b'"x"', b"", b"9" * 5000, b"[1,"]
        )
    if roll == 2:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    if roll == 3:
        return b'{"email": "\xff\xfe", "password": "\xc3\x28"}'
    body = {rng.choice(FIELDS): json_value(rng) for _ in range(rng.randrange(1, 5))}
    if rng.random() < 0.3:
        body[rng.choice(["orgId", "parentId", "userId"])] = rng.choice([10**30, 1e999, -1, "1", "١", True, [1], 2**63])
    return json.dumps(body, allow_nan=True).encode()


def multipart_body(rng: random.Random) -> tuple[str, bytes]:
    boundary = rng.choice(["X", "", "--", "a" * 80, "é"])
    parts = [
        b'--X\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\nclient_credentials\r\n--X--\r\n',
        b"--X\r\nContent-Disposition: form-data\r\n\r\nno name\r\n",
        b"--X\r\n\r\n",
        b"garbage without boundaries",
        b'--X\r\nContent-Disposition: form-data; name="f"; filename="a"\r\n\r\n' + bytes(range(256)) + b"\r\n--X--",
    ]
    content_type = "multipart/form-data" + (f"; boundary={boundary}" if rng.random() < 0.8 else "")
    return content_type, rng.choice(parts)


# --- the binary protocol ----------------------------------------------------------------------------------
HW_OPS = ["vw", "dw", "aw", "vr", "dr", "ar", "pm", "xx", ""]
INFO_KEYS = [
    "ver",
    "h-beat",
    "buff-in",
    "dev",
    "tmpl",
    "fw-type",
    "fw",
    "build",
    "con",
    "meta",
    "rtc",
    "utc",
    "acon",
    "ota",
    "dbg",
    "",
]


def binary_frame(rng: random.Random) -> tuple[int, bytes]:
    """A well-framed message a logged-in device might send, with a body that is anything from right to absurd."""
    command = rng.choice(
        [Command.HARDWARE] * 8
        + [Command.INTERNAL] * 4
        + [Command.HARDWARE_SYNC] * 2
        + [
            Command.EVENT_LOG,
            Command.PROPERTY,
            Command.HW_LOGIN,
            Command.LOGIN,
            Command.DEBUG_PRINT,
            Command.GROUP,
            Command.EVENT_CLEAR,
            Command.BRIDGE,
            Command.REDIRECT,
            Command.PING,
            rng.randrange(1, 256),
        ]
    )
    roll = rng.random()
    if roll < 0.15:
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200)))
    else:
        head = rng.choice(HW_OPS if command != Command.INTERNAL else INFO_KEYS)
        args = [head] + [rng.choice([number(rng), text(rng)]) for _ in range(rng.randrange(0, 6))]
        body = "\0".join(args).encode("utf-8", "surrogatepass")
    return int(command), body[:1000]


class BinaryProbe:
    """A logged-in device connection (plain or TLS) that sends generated frames, then a PING to see it lives."""

    def __init__(self, port: int, token: str, *, ssl_context: ssl.SSLContext | None = None, limit_s: float = 10.0):
        self.port, self.token, self.ssl_context, self.limit_s = port, token, ssl_context, limit_s
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.parser = FrameParser(max_body=65535)
        self.msg_id = 0

    def _next(self) -> int:
        self.msg_id = next_msg_id(self.msg_id)
        return self.msg_id

    async def open(self) -> bool:
        await self.close()
        self.reader, self.writer = await asyncio.open_connection(
            "127.0.0.1", self.port, ssl=self.ssl_context, server_hostname="localhost" if self.ssl_context else None
        )
        self.parser = FrameParser(max_body=65535)
        login = self._next()
        info = esp32_info("0.1.0", TEMPLATE_ID, "Jan  1 2026 00:00:00", heartbeat=600, tmpl=TEMPLATE_ID)
        self.writer.write(encode_frame(Command.HW_LOGIN, login, self.token.encode()))
        info_id = self._next()
        self.writer.write(encode_frame(Command.INTERNAL, info_id, info))
        return await self._status_of(info_id) == Status.SUCCESS

    async def _status_of(self, msg_id: int) -> int | None:
        """The status of the RESPONSE to `msg_id`; None when the peer closed (raises TimeoutError on a hang)."""
        assert self.reader is not None

        async def wait() -> int | None:
            assert self.reader is not None
            while True:
                data = await self.reader.read(65536)
                if not data:
                    return None
                for frame in self.parser.feed(data):
                    if frame.command == Command.RESPONSE and frame.msg_id == msg_id:
                        return frame.status

        try:
            return await asyncio.wait_for(wait(), self.limit_s)
        except (ConnectionError, OSError, ssl.SSLError):
            return None

    async def probe(self, frames: list[tuple[int, bytes]]) -> Verdict:
        """Send `frames` and a PING in one write; OK when the PING is answered on the same connection."""
        if self.writer is None or self.writer.is_closing():
            await self.open()
        assert self.writer is not None
        data = b"".join(encode_frame(c, self._next(), b) for c, b in frames)
        ping = self._next()
        try:
            self.writer.write(data + encode_frame(Command.PING, ping))
            status = await self._status_of(ping)
        except (ConnectionError, OSError):
            status = None
        except asyncio.TimeoutError:
            await self.close()
            return Verdict.HANG
        if status is None:
            await self.close()
            return Verdict.DROP
        return Verdict.OK

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def binary_garbage(
    port: int, data: bytes, ssl_context: ssl.SSLContext | None = None, wait_s: float = 1.0
) -> Verdict:
    """Raw bytes on a fresh connection: an answer, a close, or waiting for the rest of a frame (which the login
    timeout ends) are all fine; only a crash is not (see `CrashWatch`)."""
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=ssl_context, server_hostname="localhost" if ssl_context else None
        )
    except (ConnectionError, OSError, ssl.SSLError):
        return Verdict.DROP
    try:
        writer.write(data)
        with contextlib.suppress(ConnectionError, OSError, ssl.SSLError, asyncio.TimeoutError):
            while await asyncio.wait_for(reader.read(65536), wait_s):
                pass
        return Verdict.OK
    finally:
        writer.close()


# --- HTTP (the stub's REST, OAuth2 and device APIs) -----------------------------------------------------
DEVICE_PATHS = [
    "get",
    "getAll",
    "update",
    "batch/update",
    "update/property",
    "isHardwareConnected",
    "logEvent",
    "device/meta",
    "device/meta/update",
    "provision",
]
QUERY_KEYS = [
    "token",
    "V1",
    "v1",
    "V²",
    "V١",
    "V" + "9" * 30,
    "dataStreamId",
    "metaFieldId",
    "code",
    "description",
    "pin",
    "value",
    "templateId",
    "ver",
    "x",
]


# The stub's lab and console routes (not in the OpenAPI document, which describes Blynk's API): a fuzzer must
# reach them too, with their query parameters (`after`, `kind`; the phone's long poll takes `wait`).
LAB_ROUTES = [
    ("GET", "/api/v1/lab/info"),
    ("GET", "/api/v1/lab/events"),
    ("GET", "/api/v1/lab/devices/{device_id}"),
    ("GET", "/api/v1/lab/tokens/{token}/device"),
    ("GET", "/api/v1/lab/users/{email}"),
    ("GET", "/api/v1/lab/mail/{email}"),
    ("POST", "/api/v1/lab/seed"),
    ("GET", "/console"),
    ("GET", "/api/v1/lab/console/state"),
    ("GET", "/api/v1/lab/console/events"),
]
ROUTE_QUERY_KEYS = ["after", "kind", "wait", "token", "x", "grant_type", "refresh_token", "client_id", "user"]


def fuzz_routes(openapi: dict[str, Any]) -> list[tuple[str, str]]:
    """Every route a fuzzer aims at: those of the OpenAPI document, then the lab's and the console's."""
    return [(m.upper(), p) for p, ops in openapi["paths"].items() for m in ops] + LAB_ROUTES


def _quote(text_: str) -> str:
    from urllib.parse import quote

    return quote(text_.encode("utf-8", "surrogatepass"), safe="")


def http_request(rng: random.Random, routes: list[tuple[str, str]], bearer: str, device_token: str) -> bytes:
    """One HTTP/1.1 request (`Connection: close`) to a route of the OpenAPI document or the device API."""
    if rng.random() < 0.04:  # not HTTP at all / a broken request line
        junk = rng.choice(
            [
                bytes(rng.randrange(256) for _ in range(rng.randrange(1, 80))),
                b"GET http://[x/config HTTP/1.1",
                b"GET / HTTP/9.9",
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
                b"GET /" + b"a" * 9000 + b" HTTP/1.1",
            ]
        )
        return junk + b"\r\nHost: x\r\nConnection: close\r\n\r\n"
    if rng.random() < 0.35:
        path = f"/external/api/{rng.choice(DEVICE_PATHS)}"
        keys = rng.sample(QUERY_KEYS, rng.randrange(0, 4))
        query = [("token", device_token if rng.random() < 0.7 else text(rng))] + [(k, text(rng)) for k in keys]
        target = path + "?" + "&".join(f"{_quote(k)}={_quote(v)}" for k, v in query)
        method = rng.choice(["GET"] * 6 + ["POST", "PUT"])
    else:
        method, path = rng.choice(routes)
        if rng.random() < 0.2:
            method = rng.choice(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "FOO"])
        target = "/".join(
            _quote(number(rng) if rng.random() < 0.6 else text(rng, 40)) if s.startswith("{") else s
            for s in path.split("/")
        )
        if rng.random() < 0.3:
            query = [(k, number(rng) if rng.random() < 0.6 else text(rng, 40)) for k in rng.sample(ROUTE_QUERY_KEYS, 2)]
            target += "?" + "&".join(f"{_quote(k)}={_quote(v)}" for k, v in query)
    headers = [b"Host: 127.0.0.1", b"Connection: close"]
    roll = rng.random()
    if roll < 0.75:
        headers.append(b"Authorization: Bearer " + bearer.encode())
    elif roll < 0.85:
        headers.append(b"Authorization: " + rng.choice([b"Bearer \xff\xfe", b"Basic x", b"Bearer ", b"\xc3\x28"]))
    elif roll < 0.9:  # client authentication at the OAuth2 endpoints: base64 of junk, of `id:secret`, of no colon
        raw = rng.choice(
            [
                bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40))),
                f"{text(rng, 30)}:{text(rng, 30)}".encode("utf-8", "surrogatepass"),
                text(rng, 30).encode("utf-8", "surrogatepass"),
            ]
        )
        headers.append(b"Authorization: Basic " + base64.b64encode(raw))
    if rng.random() < 0.1:
        headers.append(rng.choice([b"X-Junk: \xff\xfe\xfd", b"X-\xff: 1", b"Accept: \xc3\x28"]))
    body = b""
    if method in ("POST", "PUT", "PATCH") or rng.random() < 0.1:
        roll = rng.random()
        if roll < 0.7:
            content_type, body = "application/json", json_body(rng)
        elif roll < 0.85:
            content_type, body = multipart_body(rng)
        else:
            content_type = rng.choice(["application/x-www-form-urlencoded", "text/plain", "\xe9/\xe9", ""])
            body = "&".join(f"{_quote(rng.choice(FIELDS))}={_quote(text(rng))}" for _ in range(3)).encode()
            if rng.random() < 0.3:
                body = bytes(rng.randrange(256) for _ in range(20))
        headers.append(b"Content-Type: " + content_type.encode("utf-8", "surrogatepass"))
        if rng.random() < 0.05:
            headers.append(b"Transfer-Encoding: chunked")
            body = rng.choice([b"zz\r\nab\r\n0\r\n\r\n", b"3\r\nabc\r\n0\r\n\r\n", b"-1\r\n\r\n"])
        else:
            headers.append(b"Content-Length: %d" % len(body))
    return f"{method} {target} HTTP/1.1\r\n".encode() + b"\r\n".join(headers) + b"\r\n\r\n" + body


@dataclass(frozen=True)
class HttpAnswer:
    status: int | None  # None: closed without a status line
    body: bytes


async def http_exchange(
    host: str, port: int, request: bytes, limit_s: float = 10.0, local_addr: tuple[str, int] | None = None
) -> HttpAnswer:
    reader, writer = await asyncio.open_connection(host, port, local_addr=local_addr)
    try:
        writer.write(request)
        raw = b""
        with contextlib.suppress(ConnectionError, OSError):
            raw = await asyncio.wait_for(reader.read(), limit_s)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    status = int(parts[1]) if head.startswith(b"HTTP/1.") and len(parts) > 1 and parts[1].isdigit() else None
    return HttpAnswer(status, body)


def stub_verdict(answer: HttpAnswer) -> Verdict:
    if answer.status is None:
        return Verdict.DROP
    if answer.status >= 500:
        return Verdict.ERROR_5XX
    if answer.status >= 400:
        try:
            error = json.loads(answer.body)
        except ValueError:
            return Verdict.NOT_JSON
        if not isinstance(error, dict) or "error" not in error:  # {"error": {"message"}} or OAuth2's {"error": code}
            return Verdict.NOT_JSON
    return Verdict.OK


async def probe_stub_http(port: int, request: bytes, limit_s: float = 10.0) -> Verdict:
    try:
        answer = await http_exchange("127.0.0.1", port, request, limit_s)
    except asyncio.TimeoutError:
        return Verdict.HANG
    return stub_verdict(answer)


async def stub_http_healthy(port: int, password: str, email: str = "admin@provlab.test") -> bool:
    body = json.dumps({"email": email, "password": password}).encode()
    request = (
        b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    ) + body
    answer = await http_exchange("127.0.0.1", port, request)
    return answer.status == 200 and "accessToken" in json.loads(answer.body)


# --- MQTT ---------------------------------------------------------------------------------------------------


# --- slow clients ------------------------------------------------------------------------------------------
async def dribble(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes, every_s: float
) -> tuple[int, bool]:
    """Send `data` one byte every `every_s` loop seconds on an open connection (a slowloris client); returns
    (bytes sent, closed by the server). The connection is closed at the end."""
    sent = 0
    try:
        for byte in data:
            writer.write(bytes([byte]))
            await writer.drain()
            sent += 1
            try:
                if await asyncio.wait_for(reader.read(1), every_s) == b"":
                    return sent, True
            except asyncio.TimeoutError:
                continue
        return sent, False
    except (ConnectionError, OSError):
        return sent, True
    finally:
        writer.close()


def _mqtt_str(value: bytes) -> bytes:
    return struct.pack(">H", len(value)) + value


def _mqtt_packet(first: int, body: bytes) -> bytes:
    length, encoded = len(body), bytearray()
    while True:
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            break
    return bytes([first]) + bytes(encoded) + body


def mqtt_connect(token: str, keepalive: int = 600) -> bytes:
    variable = _mqtt_str(b"MQTT") + bytes([4, 0xC2]) + struct.pack(">H", keepalive)
    return _mqtt_packet(0x10, variable + _mqtt_str(b"fuzz") + _mqtt_str(b"device") + _mqtt_str(token.encode()))


def mqtt_publish(topic: str, payload: bytes) -> bytes:
    return _mqtt_packet(0x30, _mqtt_str(topic.encode()) + payload)


UPLINK_TOPICS = [
    "ds/{}",
    "ds/{}/erase",
    "ds/{}/timestamped_batch",
    "ds/{}/prop/label",
    "batch_ds",
    "info/mcu",
    "event/{}",
    "meta/{}",
    "get/ds",
    "get/ds/all",
    "get/meta",
    "get/utc/all/json",
    "get/loc/all",
    "{}",
    "downlink/{}",
    "x/{}",
    "ds",
    "ds/",
]


def mqtt_uplink(rng: random.Random) -> tuple[str, bytes]:
    """A PUBLISH a logged-in device might send: topics of the spec with odd names, payloads of every kind."""
    name = rng.choice(["V1", "V2", "v1", "V²", "V١", "V256", "V" + "9" * 30, "", "é", "a b", text(rng, 30)])
    topic = rng.choice(UPLINK_TOPICS).format(name).replace("#", "").replace("+", "").replace("\0", "")
    topic = topic.encode("utf-8", "replace").decode("utf-8")[:200] or "x"
    roll = rng.random()
    if roll < 0.4:
        payload = json_body(rng)
    elif roll < 0.6:
        payload = json.dumps([[json_value(rng), json_value(rng)] for _ in range(rng.randrange(3))]).encode()
    else:
        payload = (
            text(rng).encode("utf-8", "surrogatepass")
            if rng.random() < 0.8
            else bytes(rng.randrange(256) for _ in range(20))
        )
    return topic, payload[: 1000 - len(topic.encode())]


class MqttProbe:
    """A logged-in MQTT device connection: PUBLISHes, then a PINGREQ whose PINGRESP shows the session lives.
    Counts the `downlink/diag` messages it receives."""

    def __init__(self, port: int, token: str, limit_s: float = 10.0) -> None:
        self.port, self.token, self.limit_s = port, token, limit_s
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.buffer = bytearray()
        self.diag = 0
        self.diag_texts: list[bytes] = []
        self.connects = 0

    async def open(self) -> bool:
        await self.close()
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.buffer.clear()
        self.writer.write(mqtt_connect(self.token))
        self.connects += 1
        packet = await asyncio.wait_for(self._packet(), self.limit_s)
        return packet is not None and packet[0] >> 4 == 2 and packet[1][1:2] == b"\x00"

    async def _packet(self) -> tuple[int, bytes] | None:
        assert self.reader is not None
        while True:
            parsed = self._parse()
            if parsed is not None:
                return parsed
            try:
                data = await self.reader.read(65536)
            except (ConnectionError, OSError):
                return None
            if not data:
                return None
            self.buffer += data

    def _parse(self) -> tuple[int, bytes] | None:
        if len(self.buffer) < 2:
            return None
        length, shift, i = 0, 0, 1
        while True:
            if i >= len(self.buffer):
                return None
            byte = self.buffer[i]
            length |= (byte & 0x7F) << shift
            shift += 7
            i += 1
            if not byte & 0x80:
                break
        if len(self.buffer) < i + length:
            return None
        first, body = self.buffer[0], bytes(self.buffer[i : i + length])
        del self.buffer[: i + length]
        if first >> 4 == 3:
            topic_len = struct.unpack(">H", body[:2])[0]
            if body[2 : 2 + topic_len] == b"downlink/diag":
                self.diag += 1
                self.diag_texts.append(body[2 + topic_len : 2 + topic_len + 120])
        return first, body

    async def probe(self, uplinks: list[tuple[str, bytes]]) -> Verdict:
        if self.writer is None or self.writer.is_closing():
            await self.open()
        assert self.writer is not None
        self.writer.write(b"".join(mqtt_publish(t, p) for t, p in uplinks) + b"\xc0\x00")

        async def pong() -> bool:
            while True:
                packet = await self._packet()
                if packet is None:
                    return False
                if packet[0] == 0xD0:
                    return True

        try:
            alive = await asyncio.wait_for(pong(), self.limit_s)
        except asyncio.TimeoutError:
            await self.close()
            return Verdict.HANG
        if not alive:
            await self.close()
            return Verdict.DROP
        return Verdict.OK

    async def settle(self, refused: Callable[[], int], limit_s: float = 30.0, steady: int = 5) -> None:
        """Ping until the diag count has matched `refused()` on `steady` checks in a row, or `limit_s` loop
        seconds pass (the stub answers a PINGREQ after the packets before it, but a device's reads may still
        lag behind what the stub wrote)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        matched = 0
        while matched < steady and loop.time() < deadline:
            await self.probe([])
            await asyncio.sleep(0.02)
            matched = matched + 1 if self.diag == refused() else 0

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None


# --- the board: SoftAP HTTP and the serial console ---------------------------------------------------------
SOFTAP_PATHS = [
    "/",
    "/board_info.json",
    "/wifi_scan.json",
    "/config",
    "/update",
    "/nope",
    "/config/",
    "//config",
    "/%00",
    "/..",
    "*",
]
CONFIG_KEYS = [
    "ssid",
    "ssidManual",
    "pass",
    "blynk",
    "host",
    "port",
    "port_ssl",
    "ip",
    "mask",
    "gw",
    "dns",
    "dns2",
    "save",
    "x",
]


def softap_request(rng: random.Random) -> bytes:
    """A request to the SoftAP that never reconfigures, reboots or erases the board (those end the AP)."""
    if rng.random() < 0.1:
        junk = rng.choice(
            [
                b"GET http://[x/config HTTP/1.1",
                bytes(rng.randrange(256) for _ in range(40)),
                b"GET / HTTP/1.1\r\nContent-Length: -1",
                b"GET /\x00 HTTP/1.1",
                b"\xff\xfe / HTTP/1.1",
            ]
        )
        return junk + b"\r\nHost: 192.168.4.1\r\nConnection: close\r\n\r\n"
    path = rng.choice(SOFTAP_PATHS)
    args = {k: text(rng, 60) for k in rng.sample(CONFIG_KEYS, rng.randrange(0, 6))}
    if len(args.get("blynk", "")) == 32:
        args["blynk"] += "x"  # never a token the firmware would take
    query = "&".join(f"{_quote(k)}={_quote(v)}" for k, v in args.items())
    method = rng.choice(["GET", "GET", "POST", "PUT", "DELETE", "OPTIONS"])
    if path == "/update" and method == "POST":
        method = "GET"  # an upload reboots the board
    target = path + ("?" + query if query and rng.random() < 0.7 else "")
    body = query.encode() if method == "POST" and rng.random() < 0.5 else b""
    head = f"{method} {target} HTTP/1.1\r\nHost: 192.168.4.1\r\nConnection: close\r\n"
    if body:
        head += f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def softap_verdict(request: bytes, answer: HttpAnswer) -> Verdict:
    if answer.status is None:
        return Verdict.DROP
    if answer.status >= 500 and b"/config" not in request.split(b"\r\n", 1)[0]:
        return Verdict.ERROR_5XX
    return Verdict.OK


STATEFUL_CONSOLE = ("reboot", "config", "connect")


def console_line(rng: random.Random, tokenize: Callable[[str], list[str]]) -> bytes:
    """A typed line (without its CR) that never reboots, reconfigures or reconnects the board."""
    while True:
        words = [
            rng.choice(
                [
                    "help",
                    "?",
                    "devinfo",
                    "wifi",
                    "firmware",
                    "status",
                    "show",
                    "scan",
                    "info",
                    "rollback",
                    '"',
                    "'",
                    "\\",
                    text(rng, 40),
                ]
            )
            for _ in range(rng.randrange(0, 5))
        ]
        raw = " ".join(words).encode("utf-8", "surrogatepass")
        if rng.random() < 0.2:
            raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60)))
        if rng.random() < 0.05:
            raw = b"x" * 5000
        raw = raw.replace(b"\r", b"").replace(b"\n", b"")
        first = tokenize(raw.decode("utf-8", "replace"))[:1]
        if not first or first[0].lower() not in STATEFUL_CONSOLE:
            return raw
