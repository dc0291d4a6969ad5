"""An HTTP client transport bound to one Wi-Fi link: requests leave through the joined interface only.

httpx would open its sockets on the default route; this transport opens every connection with
`Link.open_connection`, which binds to the link (its address, its namespace, its interface), so a
request to `http://192.168.4.1/board_info.json` reaches the board the phone is joined to and nothing
else. One request per connection, as the Edgent web server (`Connection: close`) wants it anyway.
"""

from __future__ import annotations

import asyncio
import contextlib

import h11
import httpx

from provlab.wifi.backend import Link, WifiError

MAX_RESPONSE_BYTES = 1 << 20


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
        conn = h11.Connection(h11.CLIENT)
        headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"connection"]
        headers.append((b"Connection", b"close"))
        body = await request.aread()
        target = request.url.raw_path
        data = conn.send(h11.Request(method=request.method, target=target, headers=headers))
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
                chunk = await reader.read(65536)
                conn.receive_data(chunk)
                continue
            if isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                content += event.data
                if len(content) > MAX_RESPONSE_BYTES:
                    raise h11.RemoteProtocolError("response larger than 1 MiB")
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
        if head is None:
            raise httpx.RemoteProtocolError("the server closed the connection without a response", request=request)
        return httpx.Response(
            head.status_code,
            headers=[(k, v) for k, v in head.headers],
            content=bytes(content),
            request=request,
            extensions={"http_version": b"HTTP/" + head.http_version},
        )
