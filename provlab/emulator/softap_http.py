"""The SoftAP's web server, as arduino-esp32's `WebServer` serves it: any method, `Connection: close`."""

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


class CloseWithoutReply:
    """Handler result: drop the connection without writing anything (what `/reboot` does)."""


CLOSE_WITHOUT_REPLY = CloseWithoutReply()


@dataclass(frozen=True)
class ReplyThen:
    """Handler result: send `reply`, then run `after` (the sketch changes state after `server.send`)."""

    reply: HttpReply
    after: Callable[[], None] = field(repr=False)


HandlerResult = HttpReply | ReplyThen | CloseWithoutReply
Handler = Callable[[HttpRequest], Awaitable[HandlerResult]]


class SoftApHttpServer:
    """Serves `handler` on port 80 of a board's SoftAP."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
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
            request = await self._read_request(reader, peer_ip)
            if request is None:
                return
            result = await self.handler(request)
            if isinstance(result, CloseWithoutReply):
                writer.transport.abort()
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
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(8192)
                conn.receive_data(data)
                if not data and head is None:
                    return None
                continue
            if isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_REQUEST_BYTES:
                    raise h11.RemoteProtocolError("request body too large")
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
        if head is None:
            return None
        target = head.target.decode("latin-1")
        parts = urlsplit(target)
        headers = {k.decode().lower(): v.decode("latin-1") for k, v in head.headers}
        content_type = headers.get("content-type", "")
        args: dict[str, str] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            args.setdefault(key, value)
        if content_type.startswith("application/x-www-form-urlencoded"):
            for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
                args.setdefault(key, value)
        version = head.http_version.decode("ascii", "replace")
        return HttpRequest(head.method.decode(), parts.path or "/", args, bytes(body), peer, content_type, version)


def render_response(reply: HttpReply, http_version: str = "1.1") -> bytes:
    """The bytes `WebServer::send()` writes: status line (`HTTP/1.0` to a 1.0 client), three headers, body."""
    reason = {200: "OK", 404: "Not Found", 500: "Internal Server Error"}.get(reply.status, "")
    version = "1.0" if http_version == "1.0" else "1.1"
    head = (
        f"HTTP/{version} {reply.status} {reason}\r\n"
        f"Content-Type: {reply.content_type}\r\n"
        f"Content-Length: {len(reply.body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + reply.body
