"""The phone's HTTP client for the cloud's REST API, on aiohttp.

The phone makes a handful of cloud calls per enrollment (token request, then polls until the device is online).
httpx spends about 0.8 ms of CPU on each in its own URL parsing, header models and cookie handling, against
0.2 ms for aiohttp's client (measured against one local aiohttp server, `benchmarks/bench_enrollment.py` shows
the effect on a whole enrollment). aiohttp already runs the stub, so this adds no dependency.

Answers are `provlab.wifi.http.HttpAnswer`, as the board's are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from provlab.lab.http_tls import default_tls
from provlab.wifi.http import HttpAnswer


class CloudHttpError(Exception):
    """The cloud could not be reached or did not answer (connection refused, reset, timeout)."""


class CloudHttp:
    """One keep-alive session to `base_url`; made on first use inside the running loop."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=default_tls()),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
    ) -> HttpAnswer:
        try:
            async with self._open().request(
                method, self.base_url + path, headers=headers, json=json, data=data
            ) as response:
                body = await response.read()
                return HttpAnswer(response.status, {k.lower(): v for k, v in response.headers.items()}, body)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise CloudHttpError(f"{exc.__class__.__name__}: {exc}") from exc

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
