"""The SoftAP's web server, as arduino-esp32's `WebServer` serves it: any method, `Connection: close`.

Slow clients: like `WebServer` (`HTTP_MAX_DATA_WAIT`, `HTTP_MAX_POST_WAIT`: 5,000 ms each) a client gets
`HEADER_TIMEOUT_S` device seconds for its request line and headers and `BODY_TIMEOUT_S` more for the body,
then is closed without a reply. The deadlines are loop timers (device seconds x the board's time scale), and
unlike the real single-client `WebServer` other clients are served meanwhile.
A request that is not HTTP or whose target cannot be parsed (`GET http://[x/config`) gets 400.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import h11

from provlab.emulator.flash import PowerLost
from provlab.protocol.edgent_http import HttpReply
from provlab.wifi.backend import ApServer, HostedAccessPoint

log = logging.getLogger("provlab.emulator.http")

MAX_REQUEST_BYTES = 2 * 1024 * 1024  # room for a firmware upload to /update
HEADER_TIMEOUT_S = 5.0  # device seconds for the request head (WebServer's HTTP_MAX_DATA_WAIT)
BODY_TIMEOUT_S = 5.0  # device seconds for the body once the head is in (HTTP_MAX_POST_WAIT)
BAD_REQUEST = HttpReply(400, "text/plain", b"Bad Request")


class BadRequest(Exception):
    """The bytes are not an HTTP request this server can parse (answered 400)."""


class TooSlow(Exception):
    """The client did not send its head or body within the deadline (closed without a reply)."""


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    args: dict[str, str]
    """`server.arg()`: URL query and urlencoded form body merged (first value wins, like WebServer)."""
    body: bytes
    peer: str
    content_type: str
    http_version: str = "1.1"
    """The client's HTTP minor version as `1.x`; the status line echoes it (`WebServer::_prepareHeader`)."""
    query: str = ""
    """The URL's query string as sent."""

    @property
    def query_args(self) -> dict[str, str]:
        """The URL query's arguments only (first value wins), without a form body's."""
        args: dict[str, str] = {}
        for key, value in parse_qsl(self.query, keep_blank_values=True):
            args.setdefault(key, value)
        return args


class CloseWithoutReply:
    """Handler result: drop the connection without writing anything (what `/reboot` does)."""


CLOSE_WITHOUT_REPLY = CloseWithoutReply()


@dataclass(frozen=True)
class ReplyThen:
    """Handler result: send `reply`, then run `after` (the sketch changes state after `server.send`)."""

    reply: HttpReply
    after: Callable[[], None] = field(repr=False)


@dataclass(frozen=True)
class StreamedReply:
    """Handler result: a body sent in pieces with `CONTENT_LENGTH_UNKNOWN` (ESP8266WebServer): chunked
    (`Accept-Ranges: none`, `Transfer-Encoding: chunked`, one chunk per piece, then the empty chunk) to an
    HTTP/1.1 client; to an HTTP/1.0 client no length at all, the body ending with the connection."""

    status: int
    content_type: str
    pieces: tuple[bytes, ...]


HandlerResult = HttpReply | ReplyThen | CloseWithoutReply | StreamedReply
Handler = Callable[[HttpRequest], Awaitable[HandlerResult]]


class SoftApHttpServer:
    """Serves `handler` on port 80 of a board's SoftAP."""

    def __init__(self, handler: Handler, *, time_scale: float = 1.0) -> None:
        """`time_scale`: loop seconds per device second (1.0 on the virtual lab clock)."""
        self.handler = handler
        self.header_s = HEADER_TIMEOUT_S * time_scale
        self.body_s = BODY_TIMEOUT_S * time_scale
        self.cut = 0  # connections closed for being too slow
        self._server: ApServer | None = None

    async def start(self, ap: HostedAccessPoint, port: int = 80) -> None:
        self._server = await ap.serve(port, self._serve)

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        peer_ip = str(peer[0]) if isinstance(peer, tuple) else ""
        try:
            try:
                request = await self._read_request(reader, peer_ip)
            except BadRequest as exc:
                log.debug("softap http: %s: bad request: %s", peer_ip, exc)
                writer.write(render_response(BAD_REQUEST))
                await writer.drain()
                return
            except TooSlow as exc:
                self.cut += 1
                log.debug("softap http: %s: %s", peer_ip, exc)
                writer.transport.abort()
                return
            if request is None:
                return
            result = await self.handler(request)
            if isinstance(result, CloseWithoutReply):
                writer.transport.abort()
                return
            if isinstance(result, StreamedReply):
                writer.write(render_streamed(result, request.http_version))
                await writer.drain()
                return
            reply = result.reply if isinstance(result, ReplyThen) else result
            writer.write(render_response(reply, request.http_version))
            await writer.drain()
            if isinstance(result, ReplyThen):
                result.after()
        except PowerLost:
            writer.transport.abort()
        except (ConnectionError, asyncio.IncompleteReadError, h11.ProtocolError) as exc:
            log.debug("softap http: %s: %s", peer_ip, exc)
        finally:
            writer.close()

    async def _read_request(self, reader: asyncio.StreamReader, peer: str) -> HttpRequest | None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_BYTES)
        head: h11.Request | None = None
        body = bytearray()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.header_s
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise BadRequest(str(exc)) from None
            if event is h11.NEED_DATA:
                remaining = deadline - loop.time()
                try:
                    if remaining <= 0:
                        raise asyncio.TimeoutError
                    data = await asyncio.wait_for(reader.read(8192), remaining)
                except asyncio.TimeoutError:
                    raise TooSlow(f"no complete request {'body' if head else 'head'} in time") from None
                conn.receive_data(data)
                if not data and head is None:
                    return None
                continue
            if isinstance(event, h11.Request):
                head = event
                deadline = loop.time() + self.body_s
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_REQUEST_BYTES:
                    raise BadRequest("request body too large")
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
        if head is None:
            return None
        target = head.target.decode("latin-1")
        try:
            parts = urlsplit(target)
        except ValueError as exc:
            raise BadRequest(f"request target {target[:60]!r}: {exc}") from None
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in head.headers}
        content_type = headers.get("content-type", "")
        args: dict[str, str] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            args.setdefault(key, value)
        if content_type.startswith("application/x-www-form-urlencoded"):
            for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
                args.setdefault(key, value)
        version = head.http_version.decode("ascii", "replace")
        path = parts.path or "/"
        return HttpRequest(head.method.decode(), path, args, bytes(body), peer, content_type, version, parts.query)


REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}


def render_streamed(reply: StreamedReply, http_version: str = "1.1") -> bytes:
    """The bytes `setContentLength(CONTENT_LENGTH_UNKNOWN)`, `send()` and `sendContent()` write, then
    `_finalizeResponse()`'s empty chunk (ESP8266WebServer `_prepareHeader`, `sendContent`)."""
    version = "1.0" if http_version == "1.0" else "1.1"
    head = f"HTTP/{version} {reply.status} {REASONS.get(reply.status, '')}\r\nContent-Type: {reply.content_type}\r\n"
    if version == "1.0":
        return (head + "Connection: close\r\n\r\n").encode("latin-1") + b"".join(reply.pieces)
    head += "Accept-Ranges: none\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in reply.pieces if piece)
    return head.encode("latin-1") + chunks + b"0\r\n\r\n"


def render_response(reply: HttpReply, http_version: str = "1.1") -> bytes:
    """The bytes `WebServer::send()` writes: status line (`HTTP/1.0` to a 1.0 client), three headers, body."""
    reason = REASONS.get(reply.status, "")
    version = "1.0" if http_version == "1.0" else "1.1"
    head = (
        f"HTTP/{version} {reply.status} {reason}\r\n"
        f"Content-Type: {reply.content_type}\r\n"
        f"Content-Length: {len(reply.body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + reply.body
