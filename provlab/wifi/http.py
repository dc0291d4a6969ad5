"""HTTP over one Wi-Fi link: requests leave through the joined interface only.

`link_get()` is the phone's own client for the board's web server (one GET per connection, straight h11: the
phone makes a few per enrollment, and httpx's client machinery around them cost more than the exchange);
`LinkTransport` is the same exchange as an httpx transport, for code that wants an httpx client.

httpx would open its sockets on the default route; this transport opens every connection with
`Link.open_connection`, which binds to the link (its address, its namespace, its interface), so a
request to `http://192.168.4.1/board_info.json` reaches the board the phone is joined to and nothing
else. One request per connection, as the Edgent web server (`Connection: close`) wants it anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any

import h11
import httpx

from provlab.wifi.backend import Link, WifiError

MAX_RESPONSE_BYTES = 1 << 20


class LinkHttpError(WifiError):
    """The request did not get an answer: no connection through the link, a timeout, or a broken reply."""


@dataclass(frozen=True)
class HttpAnswer:
    """An HTTP answer as the phone reads it: status, headers (lower-case names), body; the board's through the
    link, and the cloud's (`provlab.lab.cloud_http`)."""

    status_code: int
    headers: dict[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


async def link_get(link: Link, target: str, timeout: float, port: int = 80) -> HttpAnswer:
    """`GET target` (path and query) from the link's gateway; `LinkHttpError` when no answer comes."""
    host = link.gateway
    try:
        reader, writer = await link.open_connection(host, port, timeout)
    except asyncio.TimeoutError:
        raise LinkHttpError(f"{host}:{port} via {link.ssid!r}: connect timed out") from None
    except (OSError, WifiError) as exc:
        raise LinkHttpError(f"{host}:{port} via {link.ssid!r}: {exc}") from exc
    try:
        head, content = await asyncio.wait_for(
            _exchange(reader, writer, b"GET", target.encode(), [(b"Host", host.encode())], b""), timeout
        )
    except asyncio.TimeoutError:
        raise LinkHttpError(f"{host}:{port} via {link.ssid!r}: no answer") from None
    except (OSError, h11.ProtocolError) as exc:
        raise LinkHttpError(f"{host}:{port}: {exc}") from exc
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    if head is None:
        raise LinkHttpError(f"{host}:{port}: the server closed the connection without a response")
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in head.headers}
    return HttpAnswer(head.status_code, headers, content)


async def _exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    method: bytes,
    target: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
) -> tuple[h11.Response | None, bytes]:
    """One request and its answer over a fresh connection (`Connection: close`), at most 1 MiB of body."""
    conn = h11.Connection(h11.CLIENT)
    headers = [(k, v) for k, v in headers if k.lower() != b"connection"]
    headers.append((b"Connection", b"close"))
    data = conn.send(h11.Request(method=method, target=target, headers=headers))
    if body:
        data += conn.send(h11.Data(data=body)) or b""
    data += conn.send(h11.EndOfMessage()) or b""
    writer.write(data)
    await writer.drain()
    head: h11.Response | None = None
    content = bytearray()
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(65536))
            continue
        if isinstance(event, h11.Response):
            head = event
        elif isinstance(event, h11.Data):
            content += event.data
            if len(content) > MAX_RESPONSE_BYTES:
                raise h11.RemoteProtocolError("response larger than 1 MiB")
        elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            break
    return head, bytes(content)


class LinkTransport(httpx.AsyncBaseTransport):
    """`httpx.AsyncClient(transport=LinkTransport(link))`: plain HTTP/1.1 through `link`."""

    def __init__(self, link: Link, timeout: float = 5.0) -> None:
        self.link = link
        self.timeout = timeout

    def _timeouts(self, request: httpx.Request) -> tuple[float, float]:
        given = request.extensions.get("timeout", {})
        connect = given.get("connect") or self.timeout
        read = given.get("read") or self.timeout
        return float(connect), float(read)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"{request.url.scheme!r}: a Wi-Fi link speaks plain HTTP here")
        connect_timeout, read_timeout = self._timeouts(request)
        host, port = request.url.host, request.url.port or 80
        try:
            reader, writer = await self.link.open_connection(host, port, connect_timeout)
        except asyncio.TimeoutError:
            raise httpx.ConnectTimeout(f"{host}:{port} via {self.link.ssid!r}: connect timed out") from None
        except (OSError, WifiError) as exc:
            raise httpx.ConnectError(f"{host}:{port} via {self.link.ssid!r}: {exc}", request=request) from exc
        try:
            return await asyncio.wait_for(self._exchange(request, reader, writer), read_timeout)
        except asyncio.TimeoutError:
            raise httpx.ReadTimeout(f"{host}:{port} via {self.link.ssid!r}: no answer", request=request) from None
        except (OSError, h11.ProtocolError) as exc:
            raise httpx.RemoteProtocolError(f"{host}:{port}: {exc}", request=request) from exc
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _exchange(
        self, request: httpx.Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> httpx.Response:
        headers = list(request.headers.raw)
        head, content = await _exchange(
            reader, writer, request.method.encode(), request.url.raw_path, headers, await request.aread()
        )
        if head is None:
            raise httpx.RemoteProtocolError("the server closed the connection without a response", request=request)
        return httpx.Response(
            head.status_code,
            headers=[(k, v) for k, v in head.headers],
            content=bytes(content),
            request=request,
            extensions={"http_version": b"HTTP/" + head.http_version},
        )
