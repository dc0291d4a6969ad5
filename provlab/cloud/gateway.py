"""The device gateway: what a device login, uplink or downlink means, whichever transport carried it.

The binary-protocol server, the MQTT broker hookup and the HTTP device API are thin adapters over this
class. It applies the fault knobs and rate limits, activates tokens, keeps one live session per device
(newest wins), stores what devices send, pushes API writes down to them and journals what happened.
Not thread-safe: call it on the stub's event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from provlab.cloud import datastreams
from provlab.cloud.faults import FaultKnobs, Redirect
from provlab.cloud.ota import OtaShelf
from provlab.cloud.presence import CloseReason, DeviceLink, Presence, PresenceRegistry, Transport
from provlab.cloud.rate_limits import FailedLoginLimiter, LoginLimits, MessageQuota, QuotaLimits
from provlab.cloud.records import Device, Template
from provlab.cloud.store import Store, StoreError, TokenRefused
from provlab.protocol import choices
from provlab.protocol.commands import Status
from provlab.protocol.internal import DeviceInfo

DEFAULT_HEARTBEAT_S = 45.0  # what the stub assumes until a device announces its `h-beat` (cloud docs)
HEARTBEAT_GRACE = 1.5  # offline after h-beat x 1.5 without traffic (cloud docs, C11)
LOGIN_TIMEOUT_S = 10.0  # device seconds a connection may take to log in


class LoginVerdict(Enum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    THROTTLED = "throttled"
    REDIRECTED = "redirected"


@dataclass(frozen=True)
class LoginOutcome:
    """The gateway's answer to a login; `status` is what the binary protocol answers with."""

    verdict: LoginVerdict
    status: int
    device: Device | None = None
    reason: str = ""
    redirect: Redirect | None = None
    uncommitted: bool = False  # accepted, but its token activation is not committed yet: see after_commit


class DeviceOffline(StoreError):
    """A downlink for a device that has no live session."""


class DeviceGateway:
    """Device-facing logic shared by every transport."""

    def __init__(
        self,
        store: Store,
        presence: PresenceRegistry,
        faults: FaultKnobs,
        *,
        time_scale: float = 1.0,
        login_limits: LoginLimits | None = None,
        quota_limits: QuotaLimits | None = None,
    ) -> None:
        self.store = store
        self.presence = presence
        self.faults = faults
        self.time_scale = time_scale
        self.limiter = FailedLoginLimiter(login_limits or LoginLimits(), time_scale)
        self.quota_limits = quota_limits or QuotaLimits()
        self.counters: dict[str, int] = {
            "logins": 0,
            "login_failures": 0,
            "pin_writes": 0,
            "throttled": 0,
            "group_commits": 0,
        }
        self._commit_waiters: list[Callable[[bool], None]] = []
        self.ota = OtaShelf(store)  # Blynk.Air packages offered to devices (`CloudStub.push_ota`)

    # --- time -------------------------------------------------------------------------------------
    def wall(self, device_s: float) -> float:
        """Device seconds as wall seconds at this stub's time scale."""
        return device_s * self.time_scale

    @property
    def login_timeout(self) -> float:
        return self.wall(LOGIN_TIMEOUT_S)

    def idle_timeout(self, heartbeat_s: float | None) -> float:
        """Wall seconds without traffic after which a session is offline."""
        return self.wall((heartbeat_s or DEFAULT_HEARTBEAT_S) * HEARTBEAT_GRACE)

    @property
    def latency(self) -> float:
        return self.wall(self.faults.latency_s)

    def new_quota(self, now: float) -> MessageQuota:
        return MessageQuota(self.quota_limits, self.time_scale, now)

    # --- login ------------------------------------------------------------------------------------
    def login(self, token: str | None, source: str, peer: str, transport: Transport) -> LoginOutcome:
        """Check a device login from `source` (its address; `peer` adds the port).

        `token` None means the login body was not UTF-8 text.
        """
        now = _loop_time()
        limiter = self.limiter
        if limiter.counting and (
            limiter.throttled(f"source:{source}", now) or (token and limiter.throttled(f"token:{token}", now))
        ):
            self.counters["throttled"] += 1
            return LoginOutcome(
                LoginVerdict.THROTTLED,
                choices.THROTTLED_LOGIN_STATUS,
                reason=f"too many failed logins (over {self.limiter.limits.failures} per "
                f"{self.limiter.limits.window_s:g} device s)",
            )
        if self.faults.refuse_logins is not None:
            self._journal_failure(token, peer, transport, "refused by fault knob")
            return LoginOutcome(LoginVerdict.REFUSED, self.faults.refuse_logins, reason="refused by fault knob")
        redirect = self.faults.redirect_for(token) if token else None
        if redirect is not None:
            self.store.events.add(
                "login_redirected",
                None,
                {
                    "peer": peer,
                    "token": token or "",
                    "transport": transport.value,
                    "to": f"{redirect.host}:{redirect.port}",
                },
            )
            return LoginOutcome(LoginVerdict.REDIRECTED, Status.SUCCESS, redirect=redirect)
        if token is None:
            return self.refuse(token, source, peer, transport, "login body is not UTF-8 text")
        try:
            device = self.store.devices.login(token, commit=False)
        except TokenRefused as exc:
            return self.refuse(token, source, peer, transport, str(exc))
        self.counters["logins"] += 1
        uncommitted = self.store.uncommitted_activations > 0
        return LoginOutcome(LoginVerdict.ACCEPTED, Status.SUCCESS, device=device, uncommitted=uncommitted)

    # --- group commit -----------------------------------------------------------------------------
    def after_commit(self, callback: Callable[[bool], None]) -> None:
        """Call `callback(True)` once what the store holds in memory is committed (`callback(False)` if
        that commit failed). Every caller in one turn of the event loop shares one commit: first logins
        arriving together cost one SQLite transaction, and none is answered before its device is stored."""
        self._commit_waiters.append(callback)
        if len(self._commit_waiters) == 1:
            asyncio.get_running_loop().call_soon(self._commit)

    async def committed(self) -> bool:
        """Wait for the next group commit; False if it failed (the store logged why)."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def resolve(ok: bool) -> None:
            if not done.done():
                done.set_result(ok)

        self.after_commit(resolve)
        return await done

    def _commit(self) -> None:
        waiters, self._commit_waiters = self._commit_waiters, []
        self.counters["group_commits"] += 1
        try:
            self.store.flush()
            ok = True
        except Exception as exc:  # disk full, I/O error: the logins waiting on it are refused, not lost silently
            ok = False
            self.store.events.add("commit_failed", None, {"error": f"{type(exc).__name__}: {exc}"})
        for callback in waiters:
            callback(ok)

    def refuse(self, token: str | None, source: str, peer: str, transport: Transport, reason: str) -> LoginOutcome:
        """Count and journal a failed login (it counts against the source's and the token's allowance)."""
        now = _loop_time()
        self.counters["login_failures"] += 1
        for key in [f"source:{source}"] + ([f"token:{token}"] if token else []):
            if self.limiter.record_failure(key, now):
                self.store.events.add(
                    "login_throttled", None, {"key": key.split(":", 1)[0], "peer": peer, "token": token or ""}
                )
        self._journal_failure(token, peer, transport, reason)
        return LoginOutcome(LoginVerdict.REFUSED, Status.INVALID_TOKEN, reason=reason)

    def _journal_failure(self, token: str | None, peer: str, transport: Transport, reason: str) -> None:
        self.store.events.add(
            "login_failed",
            None,
            {"peer": peer, "token": token or "", "transport": transport.value, "reason": reason},
        )

    # --- sessions ---------------------------------------------------------------------------------
    def open_session(
        self,
        device: Device,
        transport: Transport,
        peer: str,
        link: DeviceLink,
        session: Mapping[str, object] | None = None,
    ) -> Presence:
        """The device is online through `link`; an older session of the same device is closed. `session`: what
        the transport's handshake said (MQTT: keep-alive, clean session), journaled with `device_online`."""
        presence = Presence(device, transport, peer, link)
        old = self.presence.connect(presence)
        if old is not None:
            self.store.events.add(
                "session_replaced",
                device.id,
                {"old_peer": old.peer, "old_transport": old.transport.value, "peer": peer},
            )
            old.link.close(CloseReason.REPLACED)
        online = {"peer": peer, "transport": transport.value, "org_id": device.org_id, **(session or {})}
        self.store.events.add("device_online", device.id, online)
        return presence

    def close_session(self, presence: Presence, reason: CloseReason) -> None:
        """The session's connection ended; the device is offline unless a newer session replaced it."""
        if self.presence.disconnect(presence):
            self.store.events.add(
                "device_offline",
                presence.device_id,
                {"peer": presence.peer, "transport": presence.transport.value, "reason": reason.value},
            )

    def kick(self, device_id: int, reason: CloseReason) -> bool:
        """Close the device's live session, if it has one."""
        presence = self.presence.get(device_id)
        if presence is None:
            return False
        presence.link.close(reason)
        return True

    def drop_all(self, reason: CloseReason = CloseReason.DROPPED) -> int:
        """Close every live device session; returns how many."""
        sessions = self.presence.sessions()
        for presence in sessions:
            presence.link.close(reason)
        return len(sessions)

    # --- uplink -----------------------------------------------------------------------------------
    def template(self, device: Device) -> Template | None:
        return self.store.templates.get(device.template_id)

    def device_info(self, presence: Presence, info: DeviceInfo) -> None:
        self.info_from_device(presence.device_id, info.raw)

    def info_from_device(self, device_id: int, raw: dict[str, str]) -> None:
        """A device announced its info (binary INTERNAL info, MQTT `info/mcu`): stored, and an OTA it
        downloaded is confirmed or found failed by the version it now runs."""
        self.store.devices.set_info(device_id, raw)
        self.ota.info_announced(device_id, DeviceInfo.from_pairs(raw).fw_ver)

    def pin_from_device(self, device_id: int, pin: str, values: Sequence[str]) -> None:
        """A device wrote a pin (`vw`, `dw`, `aw`, `ds/<name>`)."""
        self.counters["pin_writes"] += 1
        self.store.pins.write(device_id, pin, "\0".join(values))

    def meta_from_device(self, device_id: int, field: str, value: str) -> None:
        self.store.devices.set_meta(device_id, field, value)
        self.store.events.add("meta_set", device_id, {"field": field})

    def event_from_device(self, device_id: int, code: str, description: str) -> None:
        self.store.device_log.add(device_id, code, description)
        self.store.events.add("device_event", device_id, {"code": code})

    # --- downlink ---------------------------------------------------------------------------------
    def write_to_device(self, device: Device, pin: str, values: Sequence[str]) -> bool:
        """Store an API write and push it to the device when it is online; True when pushed."""
        self.store.pins.write(device.id, pin, "\0".join(values))
        presence = self.presence.get(device.id)
        if presence is None:
            return False
        template = self.template(device)
        stream = datastreams.by_pin(template, pin) if template else None
        presence.link.push_pin(pin, stream.name if stream else pin.upper(), values)
        return True

    def revoke(self, token: str, reason: str = "revoked") -> int | None:
        """Revoke `token` and close the live session that used it (C4)."""
        device_id = self.store.tokens.revoke(token, reason)
        if device_id is not None:
            self.kick(device_id, CloseReason.TOKEN_REVOKED)
        return device_id

    def refresh(self, device_id: int) -> str:
        """Give the device a new token now; its live session is closed (C4). Returns the new token."""
        issued = self.store.tokens.refresh(device_id)
        self.kick(device_id, CloseReason.TOKEN_REVOKED)
        return issued.token

    def delete_device(self, device_id: int) -> None:
        """Delete the device; its session is closed and its token answers INVALID_TOKEN from now on (C2)."""
        self.store.devices.delete(device_id)
        self.kick(device_id, CloseReason.TOKEN_REVOKED)


def _loop_time() -> float:
    """The stub's loop time (the lab clock's, on a virtual clock); the monotonic clock outside a loop."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()
