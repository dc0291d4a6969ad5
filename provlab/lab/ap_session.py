"""The phone's association with one board's AP during a run: join, lose it, join again, ask, leave.

Requests to the board go through the joined link only (`link_get`). The link can drop under
the phone: an Android-like OS drops a network without internet (`PhoneProfile`), the AP kicks the
phone, the AP restarts. Then the session joins again, "bound" (the app asked for that network
explicitly, so the OS keeps it), and repeats the request, a bounded number of times.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from provlab.lab.enrollment import Enrollment, FailureKind
from provlab.lab.journal import Journal
from provlab.lab.phone_profiles import CONNECTIVITY_CHECK_HOST, PhoneProfile
from provlab.wifi.backend import Link, LinkDown, NetworkNotFound, WifiBackend, WifiError
from provlab.wifi.http import HttpAnswer, LinkHttpError, link_get

HTTP_TIMEOUT_S = 5.0  # device seconds for one request to the board
AP_RESCAN_S = 1.0
BOARD_HTTP_TRIES = 5  # like the app (and blynk-tools): retry a failed request, 1 s apart
BOARD_HTTP_RETRY_S = 1.0
REJOIN_LIMIT = 3
REJOIN_SEARCH_S = 10.0  # looking for the AP again after the link dropped
MIN_RETRY_WALL_S = 0.02
"""Never retry faster than this in wall time: at a small time_scale, building an AP in namespaces
(a few `ip` calls) takes longer than the firmware's 0.5 device s between AP up and web server up."""

log = logging.getLogger("provlab.lab.ap_session")


class StepFailed(Exception):
    """A provisioning step failed; `kind` says how, in the terms of `FailureKind`."""

    def __init__(self, kind: FailureKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


def response_body(response: HttpAnswer) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:2000]


class ApSession:
    """One run's link to `enrollment.board_ssid`, on `radio`, behaving as `profile` says."""

    def __init__(
        self,
        radio: WifiBackend,
        enrollment: Enrollment,
        profile: PhoneProfile,
        journal: Journal,
        *,
        phone: str,
        time_scale: float,
    ) -> None:
        self.radio = radio
        self.enrollment = enrollment
        self.profile = profile
        self.journal = journal
        self.phone = phone
        self.time_scale = time_scale
        self.link: Link | None = None
        self._drop_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def ssid(self) -> str:
        return self.enrollment.board_ssid

    async def _sleep(self, device_s: float) -> None:
        await asyncio.sleep(max(device_s * self.time_scale, 0.001))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def join(self, search_s: float, *, bound: bool, lost: bool = False) -> Link:
        """Join the board's open AP, scanning again while it is not on the air (the app waits too).

        `bound`: the app asked for this network explicitly, so the OS keeps it even without internet.
        """
        deadline = asyncio.get_running_loop().time() + search_s * self.time_scale
        while True:
            try:
                link = await self.radio.join(self.ssid)
                break
            except (NetworkNotFound, LinkDown) as exc:  # not on the air, or no address yet: look again
                if asyncio.get_running_loop().time() >= deadline:
                    kind = FailureKind.AP_LOST if lost else FailureKind.AP_NOT_FOUND
                    raise StepFailed(kind, f"{exc} (searched for {search_s:g} s, device time)") from None
                await self._sleep(AP_RESCAN_S)
        self.link = link
        self.journal.write("joined", phone=self.phone, ssid=self.ssid, ip=link.ip, bound=bound)
        if not bound and self.profile.drops_no_internet_after_s is not None:
            await self._arm_os_drop(link, self.profile.drops_no_internet_after_s)
        return link

    async def _arm_os_drop(self, link: Link, after_s: float) -> None:
        """Android: the network fails validation (no internet), so the OS drops it a little later."""
        try:
            await link.lookup(CONNECTIVITY_CHECK_HOST)
            return
        except (WifiError, OSError):
            pass
        self.journal.write("no_internet", phone=self.phone, ssid=link.ssid, drop_after_s=after_s)
        loop = asyncio.get_running_loop()
        self._drop_timer = loop.call_later(
            max(after_s * self.time_scale, 0.0), lambda: self._spawn(self._os_drop(link))
        )  # the coroutine is made when the timer fires: a cancelled drop leaves none un-awaited

    async def _os_drop(self, link: Link) -> None:
        if self.link is link and link.is_up:
            self.journal.write("os_dropped_network", phone=self.phone, ssid=link.ssid, reason="no internet")
            await self.radio.leave()

    async def current(self) -> Link:
        """The joined link, joining the AP again (bound) if it dropped."""
        if self.link is not None and self.link.is_up:
            return self.link
        if self.enrollment.rejoins >= REJOIN_LIMIT:
            raise StepFailed(FailureKind.AP_LOST, f"lost {self.ssid!r} {self.enrollment.rejoins} times")
        self.enrollment.rejoins += 1
        self.journal.write("rejoin", phone=self.phone, ssid=self.ssid, attempt=self.enrollment.rejoins)
        return await self.join(REJOIN_SEARCH_S, bound=True, lost=True)

    async def get(self, path: str, query: str = "") -> HttpAnswer:
        """GET from the board's web server through the joined link; retry, re-joining if the link dropped."""
        last: Exception | None = None
        for attempt in range(1, BOARD_HTTP_TRIES + 1):
            link = await self.current()
            target = path + (f"?{query}" if query else "")
            try:
                response = await link_get(link, target, max(HTTP_TIMEOUT_S * self.time_scale, 0.5))
            except LinkHttpError as exc:
                last = exc
                self.journal.write("board_http_retry", phone=self.phone, path=path, attempt=attempt, error=str(exc))
                if link.is_up:
                    await asyncio.sleep(max(BOARD_HTTP_RETRY_S * self.time_scale, MIN_RETRY_WALL_S))
                continue
            self.journal.write(
                "board_http",
                phone=self.phone,
                path=path,
                query=query,
                status=response.status_code,
                response=response_body(response),
            )
            return response
        raise StepFailed(FailureKind.AP_LOST, f"GET {path} failed {BOARD_HTTP_TRIES} times: {last}")

    async def wait_gone(self, wait_s: float) -> bool:
        """Stay joined until the AP goes away (P3); True when it did within `wait_s` device seconds."""
        link = self.link
        deadline = asyncio.get_running_loop().time() + wait_s * self.time_scale
        while link is not None and link.is_up and asyncio.get_running_loop().time() < deadline:
            await self._sleep(0.05)
        return link is None or not link.is_up

    async def leave(self) -> None:
        if self._drop_timer is not None:
            self._drop_timer.cancel()
            self._drop_timer = None
        self.link = None
        await self.radio.leave()

    async def close(self) -> None:
        if self._drop_timer is not None:
            self._drop_timer.cancel()
        if self.link is not None:
            with contextlib.suppress(WifiError, OSError):
                await self.leave()
        for outcome in await asyncio.gather(*self._tasks, return_exceptions=True):
            if isinstance(outcome, Exception):  # a drop or watch that failed: its failure is in the log
                log.warning("%s: background step of the AP session failed: %r", self.phone, outcome)
