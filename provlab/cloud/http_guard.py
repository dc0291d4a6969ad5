"""The stub's HTTP front door: JSON error bodies for every refusal, and header/body deadlines for slow clients.

aiohttp answers what it cannot parse (bad request line, non-UTF-8 or oversize headers, broken chunking) with
a text/plain 400 and has no deadline for a client that dribbles its headers. `GuardedAppRunner` serves the
app with `GuardedRequestHandler`, which

* answers every error aiohttp produces itself as `{"error": {"message": …}}` with the same status;
* cuts a connection whose request head is not complete `header_s` after the connection opened (or after the
  first byte of a later request on a kept-alive connection), one whose body is not complete `body_s` after its
  head — slowloris — and a kept-alive connection idle for `idle_s` after a response; the deadlines
  are timers on the event loop, so on the virtual lab clock they are lab seconds like the binary/MQTT cuts;
* `json_errors` (a middleware) turns aiohttp's own HTTPExceptions (404 no route, 405, 413) into JSON bodies.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

_log = logging.getLogger(__name__)

HEADER_TIMEOUT_S = 10.0
"""Device seconds for a request head (like the binary login timeout)."""
BODY_TIMEOUT_S = 30.0
"""Device seconds for a request body once its head is in."""
IDLE_TIMEOUT_S = 75.0
"""Device seconds a kept-alive connection may wait for its next request (nginx's keepalive_timeout)."""


@dataclass(frozen=True)
class HttpDeadlines:
    """Loop seconds (wall seconds x time_scale on a wall clock, lab seconds on the virtual one)."""

    header_s: float = HEADER_TIMEOUT_S
    body_s: float = BODY_TIMEOUT_S
    idle_s: float = IDLE_TIMEOUT_S

    def scaled(self, time_scale: float) -> HttpDeadlines:
        return HttpDeadlines(self.header_s * time_scale, self.body_s * time_scale, self.idle_s * time_scale)


class Phase(Enum):
    """What the connection waits for."""

    IDLE = "idle"  # a kept-alive connection between requests
    HEAD = "head"  # the next request line and headers
    BODY = "body"  # the rest of a request's body
    HANDLING = "handling"  # the app works on a request (no deadline: the app's own business)


OnCut = Callable[[Phase, str], None]


def json_error(status: int, message: str) -> web.Response:
    return web.Response(
        status=status, text=json.dumps({"error": {"message": message}}), content_type="application/json"
    )


class GuardedRequestHandler(RequestHandler):
    """aiohttp's connection handler with header/body deadlines and JSON error bodies."""

    def __init__(self, *args: Any, deadlines: HttpDeadlines, on_cut: OnCut | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._deadlines = deadlines
        self._on_cut = on_cut
        self._phase = Phase.HEAD
        self._deadline_at = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._body: Any = None  # the payload stream of the request whose body is still arriving

    # --- deadlines ------------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._enter(Phase.HEAD)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        before = self._request_count
        super().data_received(data)
        if self._request_count > before and self._messages:  # a head is complete (maybe with its body)
            payload = self._messages[-1][1]
            self._body = payload
            self._enter(Phase.HANDLING if payload.is_eof() else Phase.BODY)
        elif self._phase is Phase.BODY and self._body is not None and self._body.is_eof():
            self._enter(Phase.HANDLING)
        elif self._phase is Phase.IDLE and data:
            self._enter(Phase.HEAD)  # the next request has begun: its head has header_s from now

    async def _handle_request(self, request: BaseRequest, *args: Any, **kw: Any) -> tuple[StreamResponse, bool]:
        try:
            return await super()._handle_request(request, *args, **kw)
        finally:
            self._enter(Phase.IDLE)  # the response is written: wait for the next request

    def _enter(self, phase: Phase) -> None:
        self._stop_timer()
        self._phase = phase
        if phase is Phase.HANDLING or self.transport is None:
            return
        if phase in (Phase.HEAD, Phase.IDLE):
            self._body = None
        limits = {Phase.IDLE: self._deadlines.idle_s, Phase.HEAD: self._deadlines.header_s}
        limit = limits.get(phase, self._deadlines.body_s)
        self._deadline_at = self._loop.time() + limit
        self._timer = self._loop.call_at(self._deadline_at, self._expired)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self.transport is None:
            return
        if self._phase is Phase.BODY and (self._body is None or self._body.is_eof()):
            self._phase = Phase.HANDLING  # the body is in (the handler may still be reading it)
            return
        if self._phase in (Phase.HEAD, Phase.IDLE) and (self._request_in_progress or self._messages):
            self._phase = Phase.HANDLING  # a request is being served: not the client's delay
            return
        peer = self.transport.get_extra_info("peername")
        where = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "?"
        if self._on_cut is not None:
            self._on_cut(self._phase, where)
        self.force_close()

    # --- errors ---------------------------------------------------------------------------------------
    def handle_error(
        self, request: BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> StreamResponse:
        if status >= 500 and isinstance(exc, ConnectionError) and self.transport is None:
            _log.debug("HTTP request from %s: connection gone (%s)", request.remote, exc)  # e.g. a slow body cut
            text = "Connection lost."
        elif status >= 500:
            _log.error("HTTP %s from %s: %s", status, request.remote, exc, exc_info=exc)
            text = "Internal error in the cloud stub (a bug; see the stub's log)."
        else:
            text = message or (str(exc) if exc is not None else "") or "Bad request."
        response = json_error(status, text)
        response.force_close()
        return response


class GuardedServer(web.Server):
    """`web.Server` whose connections get `GuardedRequestHandler`."""

    def __init__(self, *args: Any, deadlines: HttpDeadlines, on_cut: OnCut | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._deadlines = deadlines
        self._on_cut = on_cut

    def __call__(self) -> RequestHandler:
        return GuardedRequestHandler(
            self, loop=self._loop, deadlines=self._deadlines, on_cut=self._on_cut, **self._kwargs
        )


class GuardedAppRunner(web.AppRunner):
    """`web.AppRunner` serving through `GuardedServer`."""

    def __init__(
        self, app: web.Application, *, deadlines: HttpDeadlines, on_cut: OnCut | None = None, **kw: Any
    ) -> None:
        super().__init__(app, **kw)
        self._deadlines = deadlines
        self._on_cut = on_cut

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        return GuardedServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=asyncio.get_running_loop(),
            deadlines=self._deadlines,
            on_cut=self._on_cut,
            **self._kwargs,
        )


def _not_utf8(request: web.Request) -> str | None:
    """What of the request head is not UTF-8 (aiohttp keeps such bytes as surrogates), or None."""
    for name, value in request.headers.items():
        for part in (name, value):
            try:
                part.encode("utf-8")
            except UnicodeEncodeError:
                return f"header {name.encode('utf-8', 'replace')[:40]!r}"
    try:
        request.path_qs.encode("utf-8")
    except UnicodeEncodeError:
        return "request target"
    return None


@web.middleware
async def json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Refuses heads that are not UTF-8 (400), and answers aiohttp's HTTPExceptions (no such route, method not
    allowed, body too large) and JSON nested deeper than the parser's recursion limit as JSON error bodies."""
    bad = _not_utf8(request)
    if bad is not None:
        return json_error(400, f"The {bad} is not UTF-8 text.")
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":  # a redirect, or the app's own JSON
            raise
        return json_error(exc.status, exc.reason)
    except RecursionError:  # json.loads of [[[[…]]]]; no handler recurses otherwise
        return json_error(400, "Request body: JSON nested too deeply.")
    return response
