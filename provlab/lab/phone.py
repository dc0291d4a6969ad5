"""The phone: plays the Blynk app's part in AP provisioning (spec §9), step by step, on the record."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from provlab.lab.enrollment import Enrollment, FailureKind, Outcome, ProvisioningFailed, Step
from provlab.lab.journal import Journal
from provlab.protocol import choices
from provlab.protocol.edgent_http import BoardInfo, build_config_query, parse_wifi_scan
from provlab.protocol.ssid import parse_softap_ssid
from provlab.wifi.backend import Link, NetworkNotFound, WifiBackend, WifiError

SOFTAP_HOST = "192.168.4.1"
HTTP_TIMEOUT_S = 5.0  # device seconds for one request to the board
AP_SEARCH_S = 30.0  # how long the phone looks for the board's AP before giving up (device seconds)
AP_RESCAN_S = 1.0
BOARD_HTTP_TRIES = 5  # like the app (and blynk-tools): retry a refused request, 1 s apart
BOARD_HTTP_RETRY_S = 1.0


class _StepFailed(Exception):
    def __init__(self, kind: FailureKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


@dataclass(frozen=True)
class DiscoveredBoard:
    ssid: str
    bssid: str
    template_name: str
    suffix: str
    rssi: int


class Phone:
    """A phone logged in to the cloud as one user, with one Wi-Fi radio."""

    def __init__(
        self,
        radio: WifiBackend,
        cloud_url: str,
        *,
        email: str,
        password: str,
        time_scale: float = 1.0,
        journal: Journal | None = None,
        name: str = "phone",
    ) -> None:
        self.radio = radio
        self.cloud_url = cloud_url
        self.email = email
        self.password = password
        self.time_scale = time_scale
        self.journal = journal or Journal(None)
        self.name = name
        self._access_token: str | None = None
        self._cloud_http: httpx.AsyncClient | None = None
        self._board_http: tuple[Link, httpx.AsyncClient] | None = None

    def _wall(self, device_s: float) -> float:
        return max(device_s * self.time_scale, 0.5)

    # --- discovery ------------------------------------------------------------------------------
    async def discover(self) -> list[DiscoveredBoard]:
        """Access points whose SSID has the Edgent shape, strongest first."""
        found = []
        for ap in await self.radio.scan():
            parsed = parse_softap_ssid(ap.ssid)
            if parsed is not None:
                found.append(DiscoveredBoard(ap.ssid, ap.bssid, parsed.template_name, parsed.suffix, ap.rssi))
        self.journal.write("discover", boards=[b.ssid for b in found])
        return sorted(found, key=lambda b: -b.rssi)

    # --- cloud ----------------------------------------------------------------------------------
    def _board_client(self, link: Link) -> httpx.AsyncClient:
        """One HTTP client per link, bound to the link's address so traffic leaves through it only."""
        if self._board_http is None or self._board_http[0] is not link:
            transport = httpx.AsyncHTTPTransport(local_address=link.local_address, retries=0)
            client = httpx.AsyncClient(transport=transport, timeout=self._wall(HTTP_TIMEOUT_S))
            self._board_http = (link, client)
        return self._board_http[1]

    def _cloud_client(self) -> httpx.AsyncClient:
        if self._cloud_http is None:
            self._cloud_http = httpx.AsyncClient(base_url=self.cloud_url, timeout=10.0)
        return self._cloud_http

    async def close(self) -> None:
        for client in (self._cloud_http, self._board_http[1] if self._board_http else None):
            if client is not None:
                await client.aclose()
        self._cloud_http = self._board_http = None

    async def _cloud(self, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self._access_token}"} if self._access_token else {}
        response = await self._cloud_client().request(method, path, headers=headers, **kw)
        self.journal.write(
            "cloud_http",
            method=method,
            path=path,
            request=kw.get("json"),
            status=response.status_code,
            response=_body(response),
        )
        return response

    async def login(self) -> None:
        response = await self._cloud(
            "POST", "/api/v1/auth/login", json={"email": self.email, "password": self.password}
        )
        if response.status_code != 200:
            raise _StepFailed(
                FailureKind.CLOUD_API, f"cloud login as {self.email} answered {response.status_code}"
            )
        self._access_token = str(response.json()["accessToken"])

    async def request_token(self, template_id: str) -> str:
        response = await self._cloud("POST", "/api/v1/provisioning/tokens", json={"templateId": template_id})
        if response.status_code != 200:
            raise _StepFailed(
                FailureKind.CLOUD_API,
                f"token request for {template_id} as {self.email} answered "
                f"{response.status_code}: {response.text}",
            )
        return str(response.json()["token"])

    # --- board ----------------------------------------------------------------------------------
    async def _board_get(self, link: Link, path: str, query: str = "") -> httpx.Response:
        """GET from the board's web server through `link`, retrying while nothing listens yet."""
        for attempt in range(1, BOARD_HTTP_TRIES + 1):
            try:
                return await self._board_get_once(link, path, query)
            except (ConnectionRefusedError, httpx.ConnectError) as exc:
                self.journal.write("board_http_retry", path=path, attempt=attempt, error=str(exc))
                if attempt == BOARD_HTTP_TRIES or not link.is_up:
                    raise
                await asyncio.sleep(BOARD_HTTP_RETRY_S * self.time_scale)
        raise AssertionError("unreachable")

    async def _board_get_once(self, link: Link, path: str, query: str) -> httpx.Response:
        host, port = link.endpoint(link.gateway, 80)
        url = f"http://{host}:{port}{path}" + (f"?{query}" if query else "")
        client = self._board_client(link)
        response = await client.get(url, headers={"Host": link.gateway})
        self.journal.write(
            "board_http", path=path, query=query, status=response.status_code, response=_body(response)
        )
        return response

    async def _join(self, ssid: str) -> Link:
        """Join the board's open AP, scanning again while it is not on the air yet (the app waits too)."""
        deadline = time.monotonic() + AP_SEARCH_S * self.time_scale
        while True:
            try:
                return await self.radio.join(ssid)
            except NetworkNotFound as exc:
                if time.monotonic() >= deadline:
                    raise _StepFailed(
                        FailureKind.AP_NOT_FOUND, f"{exc} (searched for {AP_SEARCH_S:g} s, device time)"
                    ) from None
                await asyncio.sleep(max(AP_RESCAN_S * self.time_scale, 0.001))

    @asynccontextmanager
    async def _step(self, enrollment: Enrollment, name: str, **request: Any) -> AsyncIterator[Step]:
        step = Step(name, time.time(), request=request)
        enrollment.steps.append(step)
        self.journal.write("step_start", step=name, request=request)
        try:
            yield step
        except _StepFailed as exc:
            step.outcome, step.error = Outcome.FAILED, str(exc)
            enrollment.failure = exc.kind
            raise
        except (httpx.HTTPError, WifiError, OSError) as exc:
            step.outcome, step.error = Outcome.FAILED, f"{type(exc).__name__}: {exc}"
            enrollment.failure = FailureKind.AP_LOST
            raise _StepFailed(FailureKind.AP_LOST, step.error) from exc
        finally:
            step.ended = time.time()
            self.journal.write(
                "step_end",
                step=name,
                outcome=step.outcome.value,
                duration_s=round(step.duration, 4),
                response=step.response,
                error=step.error,
            )

    async def provision(
        self,
        board_ssid: str,
        wifi_ssid: str,
        wifi_pass: str,
        *,
        cloud_host: str = choices.PHONE_DEFAULT_CLOUD_HOST,
        cloud_port: int = 443,
        save: bool = False,
        ssid_manual: str | None = None,
        online_timeout: float = 120.0,
        evidence: str | None = None,
        check: bool = True,
    ) -> Enrollment:
        """Join the board's AP, get a token as this user, push `/config`, follow it until online."""
        enrollment = Enrollment(board_ssid=board_ssid, user=self.email, evidence=evidence)
        try:
            await self._provision(
                enrollment, wifi_ssid, wifi_pass, cloud_host, cloud_port, save, ssid_manual, online_timeout
            )
        except _StepFailed as exc:
            self.journal.write("provision_failed", board=board_ssid, failure=exc.kind.name, detail=str(exc))
            if check:
                raise ProvisioningFailed(enrollment, exc.kind, str(exc)) from None
        else:
            self.journal.write("provision_ok", board=board_ssid, device_id=enrollment.device_id)
        return enrollment

    async def _provision(
        self,
        enrollment: Enrollment,
        wifi_ssid: str,
        wifi_pass: str,
        cloud_host: str,
        cloud_port: int,
        save: bool,
        ssid_manual: str | None,
        online_timeout: float,
    ) -> None:
        if self._access_token is None:
            async with self._step(enrollment, "cloud_login", user=self.email):
                await self.login()
        async with self._step(enrollment, "join_ap", ssid=enrollment.board_ssid) as step:
            link = await self._join(enrollment.board_ssid)
            step.response = {"ip": link.ip, "gateway": link.gateway, "bssid": link.bssid}
        async with self._step(enrollment, "board_info") as step:
            response = await self._board_get(link, "/board_info.json")
            step.response = {"status": response.status_code, "body": response.text}
            if response.status_code != 200:
                raise _StepFailed(FailureKind.AP_LOST, f"board_info.json answered {response.status_code}")
            info = BoardInfo.parse(response.content)
            enrollment.template_id = info.tmpl_id
        async with self._step(enrollment, "token", template_id=info.tmpl_id) as step:
            enrollment.token = await self.request_token(info.tmpl_id)
            step.response = {"token": enrollment.token}
        async with self._step(enrollment, "wifi_scan") as step:
            response = await self._board_get(link, "/wifi_scan.json")
            networks = parse_wifi_scan(response.content) if response.status_code == 200 else []
            step.response = {"status": response.status_code, "networks": [n.ssid for n in networks]}
        query = build_config_query(
            ssid=wifi_ssid,
            password=wifi_pass,
            token=enrollment.token,
            host=cloud_host,
            port=cloud_port if choices.PHONE_SENDS_PORT_AND_PORT_SSL else None,
            port_ssl=cloud_port,
            save=save,
            ssid_manual=ssid_manual,
        )
        async with self._step(enrollment, "config", ssid=wifi_ssid, host=cloud_host, port=cloud_port) as step:
            response = await self._board_get(link, "/config", query)
            step.response = {"status": response.status_code, "body": response.text}
            if response.status_code != 200:
                raise _StepFailed(
                    FailureKind.BAD_CONFIG, f"/config answered {response.status_code} {response.text}"
                )
        async with self._step(enrollment, "leave_ap"):
            await self.radio.leave()
        async with self._step(enrollment, "wait_online", timeout_s=online_timeout) as step:
            status = await self._wait_online(enrollment.token, online_timeout)
            step.response = status
            enrollment.device_id = status.get("deviceId")
            enrollment.online = bool(status.get("online"))
            if not enrollment.online:
                raise _StepFailed(
                    FailureKind.TIMEOUT,
                    f"the device did not come online within {online_timeout:g} s (device time)",
                )

    async def _wait_online(self, token: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout * self.time_scale
        status: dict[str, Any] = {}
        while True:
            response = await self._cloud("GET", f"/api/v1/provisioning/tokens/{token}")
            if response.status_code == 200:
                status = dict(response.json())
                if status.get("online"):
                    return status
            if time.monotonic() >= deadline:
                return status
            await asyncio.sleep(max(0.5 * self.time_scale, 0.01))


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:2000]
