"""The phone: plays the Blynk app's part in AP provisioning (spec §9), step by step, on the record.

join the board's AP → `board_info.json` → token from the cloud (as the phone's user, for the
board's `tmpl_id`) → `wifi_scan.json` → `/config` → leave → wait until the cloud sees the device.
The AP side (joined link only, re-joins when the link drops) is `ApSession`. When the device does
not come online, the phone follows the board's AP: if it comes back, the phone joins it and reads
`last_error` to say why (`diagnosis.classify`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from provlab.lab.ap_session import REJOIN_SEARCH_S, ApSession, StepFailed, response_body
from provlab.lab.cloud_http import CloudHttp, CloudHttpError
from provlab.lab.diagnosis import ApWatch, classify
from provlab.lab.enrollment import Enrollment, FailureKind, ProvisioningFailed
from provlab.lab.journal import Journal
from provlab.lab.phone_profiles import PhoneProfile, profile_named
from provlab.lab.steps import Step, StepJournal
from provlab.protocol import choices
from provlab.protocol.edgent_http import BoardInfo, BoardInfoError, StaticIp, build_config_query, parse_wifi_scan
from provlab.protocol.ssid import parse_softap_ssid
from provlab.wifi.backend import WifiBackend, WifiError
from provlab.wifi.http import HttpAnswer

AP_SEARCH_S = 30.0  # how long the phone looks for the board's AP before giving up (device seconds)
DIAGNOSE_SEARCH_S = 5.0  # looking for the AP once more when the device never came online
ONLINE_POLL_S = 0.5
AP_WATCH_S = 1.0
LONG_POLL_S = 5.0  # device seconds one long poll of the token's status may wait (`Phone.long_poll`)
LONG_POLL_WALL_S = 5.0  # and wall seconds: well inside the cloud client's 10 s timeout


@dataclass(frozen=True)
class OAuthClient:
    """OAuth2 client credentials an Admin created (`POST /api/v1/oauth/clients`): automation that logs
    the phone in without anyone's password, as the client's owner or as any user the owner can see."""

    client_id: str
    client_secret: str = field(repr=False)  # never printed


@dataclass(frozen=True)
class DiscoveredBoard:
    ssid: str
    bssid: str
    template_name: str
    suffix: str
    rssi: int


@dataclass(frozen=True)
class _ConfigFields:
    """What the user typed for `/config`; the token joins them once the cloud issued it."""

    wifi_ssid: str
    wifi_pass: str
    cloud_host: str
    cloud_port: int
    save: bool
    ssid_manual: str | None
    static_ip: StaticIp | None

    def query(self, token: str) -> str:
        return build_config_query(
            ssid=self.wifi_ssid,
            password=self.wifi_pass,
            token=token,
            host=self.cloud_host,
            port=self.cloud_port if choices.PHONE_SENDS_PORT_AND_PORT_SSL else None,
            port_ssl=self.cloud_port,
            save=self.save,
            ssid_manual=self.ssid_manual,
            static_ip=self.static_ip,
        )


class Phone:
    """A phone logged in to the cloud as one user, with one Wi-Fi radio and an OS `profile`.

    It logs in as `email` with `password`, or, given `oauth_client`, with the OAuth2 client-credentials
    grant acting as `email` (no password needed: what factory automation does). `long_poll`: see the attribute.
    """

    def __init__(
        self,
        radio: WifiBackend,
        cloud_url: str,
        *,
        email: str,
        password: str = "",
        oauth_client: OAuthClient | None = None,
        time_scale: float = 1.0,
        journal: Journal | None = None,
        steps: StepJournal | None = None,
        name: str = "phone",
        profile: PhoneProfile | str = "generic",
        long_poll: bool = False,
    ) -> None:
        self.radio = radio
        self.cloud_url = cloud_url
        self.email = email
        self.password = password
        self.oauth_client = oauth_client
        self.time_scale = time_scale
        self.journal = journal or Journal(None)
        """The exchange log (`phone.jsonl`): every HTTP request and answer, discovery, the run's verdict."""
        self.steps = steps or StepJournal(None)
        """The step journal the phone's steps go to (the lab's `steps.jsonl`)."""
        self.name = name
        self.profile = profile_named(profile)
        self.long_poll = long_poll
        """Wait for the device online with the stub's long poll (`GET …/tokens/{token}?wait=S`, a lab extension)
        instead of asking every ONLINE_POLL_S like the app: a fleet's phones and stub then spend no CPU on
        waiting. The AP is still watched every AP_WATCH_S. A cloud without the extension answers at once; the
        phone then asks every ONLINE_POLL_S, as without it."""
        self._access_token: str | None = None
        self._cloud_http: CloudHttp | None = None

    async def _sleep(self, device_s: float) -> None:
        await asyncio.sleep(max(device_s * self.time_scale, 0.001))

    # --- discovery ------------------------------------------------------------------------------
    async def discover(self) -> list[DiscoveredBoard]:
        """Access points whose SSID has the Edgent shape, strongest first."""
        found = []
        for ap in await self.radio.scan():
            parsed = parse_softap_ssid(ap.ssid)
            if parsed is not None:
                found.append(DiscoveredBoard(ap.ssid, ap.bssid, parsed.template_name, parsed.suffix, ap.rssi))
        self.journal.write("discover", phone=self.name, boards=[b.ssid for b in found])
        return sorted(found, key=lambda b: -b.rssi)

    # --- cloud ----------------------------------------------------------------------------------
    def _cloud_client(self) -> CloudHttp:
        if self._cloud_http is None:
            self._cloud_http = CloudHttp(self.cloud_url, timeout=10.0)
        return self._cloud_http

    async def close(self) -> None:
        client, self._cloud_http = self._cloud_http, None
        if client is not None:
            await client.aclose()

    async def _cloud(self, method: str, path: str, *, journaled: Any = None, **kw: Any) -> HttpAnswer:
        """One cloud call, journaled (`journaled` replaces the JSON body in the journal, e.g. for a form)."""
        headers = {"Authorization": f"Bearer {self._access_token}"} if self._access_token else {}
        try:
            response = await self._cloud_client().request(method, path, headers=headers, **kw)
        except CloudHttpError as exc:
            raise StepFailed(FailureKind.CLOUD_API, f"cloud {method} {path}: {exc}") from exc
        self.journal.write(
            "cloud_http",
            phone=self.name,
            method=method,
            path=path,
            request=journaled if journaled is not None else kw.get("json"),
            status=response.status_code,
            response=response_body(response),
        )
        return response

    @property
    def logged_in(self) -> bool:
        return self._access_token is not None

    async def login(self) -> None:
        if self.oauth_client is not None:
            await self._login_with_client_credentials(self.oauth_client)
            return
        response = await self._cloud(
            "POST", "/api/v1/auth/login", json={"email": self.email, "password": self.password}
        )
        if response.status_code != 200:
            raise StepFailed(FailureKind.CLOUD_API, f"cloud login as {self.email} answered {response.status_code}")
        self._access_token = str(response.json()["accessToken"])

    async def _login_with_client_credentials(self, client: OAuthClient) -> None:
        form = {
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "user": self.email,
        }
        response = await self._cloud("POST", "/oauth2/token", data=form, journaled=form)
        if response.status_code != 200:
            raise StepFailed(
                FailureKind.CLOUD_API,
                f"OAuth2 client credentials of {client.client_id} acting as {self.email} answered "
                f"{response.status_code}: {response.text}",
            )
        body = response.json()
        if body.get("user") != self.email:
            raise StepFailed(
                FailureKind.CLOUD_API,
                f"OAuth2 token for {client.client_id} was issued for {body.get('user')!r}, not {self.email!r}",
            )
        self._access_token = str(body["access_token"])

    async def request_token(self, template_id: str, org_id: int | None = None) -> str:
        """A fresh dynamic token for `template_id`, for a device of this user's org or of `org_id` (an org
        below it, with the template enabled there)."""
        body: dict[str, Any] = {"templateId": template_id}
        if org_id is not None:
            body["orgId"] = org_id
        response = await self._cloud("POST", "/api/v1/provisioning/tokens", json=body)
        if response.status_code != 200:
            into = "" if org_id is None else f" into org {org_id}"
            raise StepFailed(
                FailureKind.CLOUD_API,
                f"token request for {template_id}{into} as {self.email} answered {response.status_code}: "
                f"{response.text}",
            )
        return str(response.json()["token"])

    @asynccontextmanager
    async def _step(self, enrollment: Enrollment, name: str, **request: Any) -> AsyncIterator[Step]:
        """One step of a provisioning run, on the lab's step journal and in `enrollment.steps`; an error of
        the link or the board's web server becomes `StepFailed(AP_LOST)`."""
        with self.steps.step(name, self.name, **request) as step:
            enrollment.steps.append(step)
            try:
                yield step
            except StepFailed as exc:
                enrollment.failure = exc.kind
                raise
            except (WifiError, OSError, BoardInfoError) as exc:  # LinkHttpError is a WifiError
                enrollment.failure = FailureKind.AP_LOST
                raise StepFailed(FailureKind.AP_LOST, f"{type(exc).__name__}: {exc}") from exc

    # --- the whole run --------------------------------------------------------------------------
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
        static_ip: StaticIp | None = None,
        online_timeout: float = 120.0,
        diagnose: bool = True,
        evidence: str | None = None,
        check: bool = True,
        org_id: int | None = None,
        token: str | None = None,
    ) -> Enrollment:
        """Join the board's AP, get a token as this user, push `/config`, follow it until online.

        `org_id` asks for the device to land in that org (below the user's; `orgId` of the token request).
        `token` skips the token request and delivers a token the caller already holds (a re-provision
        token for an existing device, C3, or one issued elsewhere)."""
        enrollment = Enrollment(board_ssid=board_ssid, user=self.email, evidence=evidence, profile=self.profile.name)
        session = ApSession(
            self.radio, enrollment, self.profile, self.journal, phone=self.name, time_scale=self.time_scale
        )
        config = _ConfigFields(wifi_ssid, wifi_pass, cloud_host, cloud_port, save, ssid_manual, static_ip)
        try:
            await self._provision(session, config, online_timeout, diagnose, org_id=org_id, token=token)
        except StepFailed as exc:
            enrollment.failure = exc.kind
            self.journal.write(
                "provision_failed", phone=self.name, board=board_ssid, failure=exc.kind.name, detail=str(exc)
            )
            if check:
                raise ProvisioningFailed(enrollment, exc.kind, str(exc)) from None
        else:
            self.journal.write("provision_ok", phone=self.name, board=board_ssid, device_id=enrollment.device_id)
        finally:
            await session.close()
        return enrollment

    async def _provision(
        self,
        session: ApSession,
        config: _ConfigFields,
        online_timeout: float,
        diagnose: bool,
        *,
        org_id: int | None,
        token: str | None,
    ) -> None:
        enrollment = session.enrollment
        if not self.logged_in:
            via = "password" if self.oauth_client is None else f"oauth2 client {self.oauth_client.client_id}"
            async with self._step(enrollment, "cloud_login", user=self.email, via=via):
                await self.login()
        async with self._step(enrollment, "join_ap", ssid=enrollment.board_ssid, profile=self.profile.name) as step:
            link = await session.join(AP_SEARCH_S, bound=False)
            step.response = {"ip": link.ip, "gateway": link.gateway, "bssid": link.bssid}
        async with self._step(enrollment, "board_info") as step:
            response = await session.get("/board_info.json")
            step.response = {"status": response.status_code, "body": response.text}
            if response.status_code != 200:
                raise StepFailed(FailureKind.AP_LOST, f"board_info.json answered {response.status_code}")
            info = BoardInfo.parse(response.content)
            enrollment.template_id = info.tmpl_id
            enrollment.last_error = info.last_error
        if token is not None:
            async with self._step(enrollment, "token", template_id=info.tmpl_id, given=True) as step:
                enrollment.token = token
                step.response = {"token": token}
        else:
            request = {"template_id": info.tmpl_id} | ({} if org_id is None else {"org_id": org_id})
            async with self._step(enrollment, "token", **request) as step:
                enrollment.token = await self.request_token(info.tmpl_id, org_id)
                step.response = {"token": enrollment.token}
        async with self._step(enrollment, "wifi_scan") as step:
            response = await session.get("/wifi_scan.json")
            networks = parse_wifi_scan(response.content) if response.status_code == 200 else []
            step.response = {"status": response.status_code, "networks": [n.ssid for n in networks]}
        await self._config_step(session, config, enrollment.token)
        watch = await self._leave_step(session)
        try:
            async with self._step(enrollment, "wait_online", timeout_s=online_timeout) as step:
                status, watch = await self._wait_online(session, enrollment.token, online_timeout, watch)
                step.response = {**status, "ap": watch.value}
                enrollment.device_id = status.get("deviceId")
                enrollment.online = bool(status.get("online"))
                if not enrollment.online:
                    raise StepFailed(
                        FailureKind.TIMEOUT, f"the device did not come online within {online_timeout:g} s (device time)"
                    )
        except StepFailed as waited:
            if not diagnose or waited.kind is not FailureKind.TIMEOUT:
                raise
            kind, why = await self._diagnose(session, watch, config.save)
            raise StepFailed(kind, f"{waited}; {why}") from None

    async def _config_step(self, session: ApSession, config: _ConfigFields, token: str) -> None:
        query = config.query(token)
        request = {"ssid": config.wifi_ssid, "host": config.cloud_host, "port": config.cloud_port, "save": config.save}
        async with self._step(session.enrollment, "config", **request) as step:
            try:
                response = await session.get("/config", query)
            except StepFailed as exc:
                if exc.kind is not FailureKind.AP_LOST or session.enrollment.rejoins == 0:
                    raise
                # the request went out, then the AP went away: the board most likely took it (P3)
                step.response = {"status": None, "note": f"reply lost, the AP went away: {exc}"}
                return
            step.response = {"status": response.status_code, "body": response.text}
            if response.status_code != 200:
                raise StepFailed(FailureKind.BAD_CONFIG, f"/config answered {response.status_code} {response.text}")

    async def _leave_step(self, session: ApSession) -> ApWatch:
        """Leave the AP (or, on a phone that stays, wait for the AP to go away: P3)."""
        async with self._step(session.enrollment, "leave_ap", profile=self.profile.name) as step:
            if self.profile.leaves_ap_after_config:
                await session.leave()
                step.response = {"left": "phone"}
                return ApWatch.EXPECT_GONE
            gone = await session.wait_gone(self.profile.ap_teardown_wait_s)
            step.response = {"left": "ap_went_away" if gone else "still_joined"}
            await session.leave()
            return ApWatch.GONE if gone else ApWatch.EXPECT_GONE

    async def _wait_online(
        self, session: ApSession, token: str | None, timeout: float, watch: ApWatch
    ) -> tuple[dict[str, Any], ApWatch]:
        """Poll the cloud until the device is online; meanwhile follow the board's AP (it returns on failure)."""
        if self.long_poll:
            return await self._wait_online_long(session, token, timeout, watch)
        deadline = asyncio.get_running_loop().time() + timeout * self.time_scale
        next_scan = 0.0
        status: dict[str, Any] = {}
        while True:
            response = await self._cloud("GET", f"/api/v1/provisioning/tokens/{token}")
            if response.status_code == 200:
                status = dict(response.json())
                if status.get("online"):
                    return status, watch
            now = asyncio.get_running_loop().time()
            if now >= next_scan:
                watch = await self._look_for_ap(session, watch)
                if watch is ApWatch.RETURNED:
                    return status, watch
                next_scan = now + AP_WATCH_S * self.time_scale
            if now >= deadline:
                return status, watch
            await self._sleep(ONLINE_POLL_S)

    async def _look_for_ap(self, session: ApSession, watch: ApWatch) -> ApWatch:
        ssid = session.enrollment.board_ssid
        visible = any(ap.ssid == ssid for ap in await self.radio.scan())
        seen = watch.seen(visible)
        if seen is not watch:
            self.journal.write("ap_watch", phone=self.name, ssid=ssid, state=seen.value)
        return seen

    async def _wait_online_long(
        self, session: ApSession, token: str | None, timeout: float, watch: ApWatch
    ) -> tuple[dict[str, Any], ApWatch]:
        """`_wait_online` with the stub's long poll: one request waits for the device (up to LONG_POLL_S), while
        the AP is watched every AP_WATCH_S beside it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout * self.time_scale
        status: dict[str, Any] = {}
        seen = [watch]

        async def follow_ap() -> None:  # returns when the board's AP came back
            while True:
                seen[0] = await self._look_for_ap(session, seen[0])
                if seen[0] is ApWatch.RETURNED:
                    return
                await self._sleep(AP_WATCH_S)

        watcher = loop.create_task(follow_ap())
        try:
            while True:
                asked = loop.time()
                scale = max(self.time_scale, 1e-9)
                wait_s = min(LONG_POLL_S, LONG_POLL_WALL_S / scale, max((deadline - asked) / scale, 0.0))
                poll = loop.create_task(self._cloud("GET", f"/api/v1/provisioning/tokens/{token}?wait={wait_s:.3f}"))
                await asyncio.wait((poll, watcher), return_when=asyncio.FIRST_COMPLETED)
                if not poll.done():  # the AP came back (or following it failed): stop waiting for the cloud
                    poll.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StepFailed):
                        await poll
                    watcher.result()
                    return status, seen[0]
                response = poll.result()
                if response.status_code == 200:
                    status = dict(response.json())
                    if status.get("online"):
                        return status, seen[0]
                if loop.time() >= deadline:
                    return status, seen[0]
                if (rest := ONLINE_POLL_S * self.time_scale - (loop.time() - asked)) > 0:
                    await asyncio.sleep(rest)  # a cloud that does not wait answered at once: no faster than the app
        finally:
            if not watcher.done():
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher

    async def _diagnose(self, session: ApSession, watch: ApWatch, save: bool) -> tuple[FailureKind, str]:
        """Re-join the board's AP and read `last_error` (spec §9): why the device did not come online."""
        enrollment = session.enrollment
        async with self._step(enrollment, "diagnose", ap=watch.value) as step:
            last_error: int | None = None
            search = REJOIN_SEARCH_S if watch is ApWatch.RETURNED else DIAGNOSE_SEARCH_S
            try:
                await session.join(search, bound=True, lost=True)
                response = await session.get("/board_info.json")
                if response.status_code == 200:
                    last_error = BoardInfo.parse(response.content).last_error
                    watch = watch.seen(True) if watch is ApWatch.GONE else watch
            except (StepFailed, BoardInfoError) as exc:
                step.response = {"rejoin": f"failed: {exc}"}
            finally:
                with contextlib.suppress(WifiError, OSError):
                    await session.leave()
            kind, why = classify(watch, last_error)
            if save and kind is FailureKind.TIMEOUT:
                why += "; with save=1 the board retries instead of returning to config mode"
            enrollment.last_error, enrollment.diagnosis = last_error, why
            step.response = {**step.response, "last_error": last_error, "failure": kind.name, "why": why}
            self.journal.write("diagnosis", phone=self.name, board=enrollment.board_ssid, failure=kind.name, why=why)
            return kind, why
