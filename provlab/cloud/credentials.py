"""Who a bearer key is, for how long, and for whom it acts: password sessions and OAuth2 bearers (issue 13).

- **Expiry.** A password session lives `session_ttl_s`, an OAuth2 bearer `bearer_ttl_s` (or less when the
  token request asks for a smaller `expires_in`). Time is the stub's lab time (`LabTime`): epoch seconds
  that move with the stub's event loop, so on the virtual lab clock a key expires when device time passes,
  without wall time. An expired key answers 401 with a body that says so.
- **Owner.** An OAuth2 bearer acts as its subject (the client's owner, or a user the owner sees), with at
  most the owner's *current* permissions (`User.acting_for`, applied in `Access.permissions`). The moment
  the owner is deleted, deactivated or no longer an Admin, the client mints nothing and its bearers answer
  401; so does a revoked client.
- **Refresh.** Every bearer comes with a refresh token (Blynk's `grant_type=refresh_token`): single use (a
  refresh answers a new bearer and a new refresh token, and the used one is gone), bound to its client and
  to the user the bearer acts as, valid `refresh_ttl_s` (30 days: Blynk does not say; `DECISIONS.md`). The
  same owner rules apply to a refresh as to a first grant, and revoking the client ends its refresh tokens.
- **Throttling.** Failed password logins (and failed client secrets) are counted per account and per
  source address like device logins (`rate_limits.FailedLoginLimiter`); over the limit a login answers 429
  (even with the right password) until the window refills.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from provlab.cloud.access import Access
from provlab.cloud.rate_limits import FailedLoginLimiter, LoginLimits
from provlab.cloud.records import User
from provlab.cloud.store import StoreError
from provlab.cloud.tenancy import Role, TenancyError

DEFAULT_SESSION_TTL_S = 7 * 86400.0
DEFAULT_BEARER_TTL_S = 86400.0
DEFAULT_REFRESH_TTL_S = 30 * 86400.0  # our choice: Blynk documents refresh tokens but not their lifetime
GC_GRACE_S = 86400.0  # expired keys are remembered this long (to answer "expired", not "unknown")
NOT_AUTHENTICATED = "Not authenticated: send 'Authorization: Bearer <key>' (POST /api/v1/auth/login or /oauth2/token)."


@dataclass(frozen=True)
class CredentialLimits:
    """Lifetimes of keys (lab seconds) and how many failed logins an account / a source address may have
    per `login_window_s`."""

    session_ttl_s: float = DEFAULT_SESSION_TTL_S
    bearer_ttl_s: float = DEFAULT_BEARER_TTL_S
    refresh_ttl_s: float = DEFAULT_REFRESH_TTL_S
    failures_per_account: int = 10
    failures_per_source: int = 30
    login_window_s: float = 60.0


class CredentialRefused(TenancyError):
    """A refused login or bearer key (401, 429 when throttled)."""


@dataclass(frozen=True)
class BearerGrant:
    """What `/oauth2/token` answers: a bearer, the user it acts as, its lifetime (s), and its refresh token."""

    access_token: str
    user: User
    expires_in: float
    refresh_token: str


class LabTime:
    """Epoch seconds that move with the running event loop's clock (the virtual lab clock's, when the stub
    runs on one): anchored to the wall clock the first time a loop asks, then loop time only."""

    def __init__(self) -> None:
        self._anchors: dict[int, tuple[float, float]] = {}

    def now(self) -> float:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return time.time()
        wall, at = self._anchors.setdefault(id(loop), (time.time(), loop.time()))
        return wall + (loop.time() - at)

    def monotonic(self) -> float:
        """Loop time (for the throttles, which count differences only)."""
        try:
            return asyncio.get_running_loop().time()
        except RuntimeError:
            return time.monotonic()


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Credentials:
    """Logins, OAuth2 bearers and the check of every bearer key the user APIs receive."""

    def __init__(self, access: Access, limits: CredentialLimits | None = None, clock: LabTime | None = None) -> None:
        self.access = access
        self.store = access.store
        self.limits = limits or CredentialLimits()
        self.clock = clock or LabTime()
        window = self.limits.login_window_s
        self._per_account = FailedLoginLimiter(LoginLimits(self.limits.failures_per_account, window), 1.0)
        self._per_source = FailedLoginLimiter(LoginLimits(self.limits.failures_per_source, window), 1.0)

    # --- throttling -----------------------------------------------------------------------------------
    def _check_throttle(self, account: str, source: str) -> None:
        now = self.clock.monotonic()
        if self._per_account.throttled(f"account:{account}", now):
            raise CredentialRefused(
                429,
                f"Too many failed logins for {account} (over {self.limits.failures_per_account} per "
                f"{self.limits.login_window_s:g} s); try again later.",
            )
        if self._per_source.throttled(f"source:{source}", now):
            raise CredentialRefused(
                429,
                f"Too many failed logins from {source} (over {self.limits.failures_per_source} per "
                f"{self.limits.login_window_s:g} s); try again later.",
            )

    def _failed(self, account: str, source: str, kind: str) -> None:
        now = self.clock.monotonic()
        self._per_account.record_failure(f"account:{account}", now)
        self._per_source.record_failure(f"source:{source}", now)
        self.store.events.add("login_failed", None, {"kind": kind, "account": account, "source": source})

    # --- password sessions ----------------------------------------------------------------------------
    def login(self, email: str, password: str, source: str) -> tuple[str, float]:
        """A new session key and its lifetime (s) for a right e-mail and password from `source`."""
        account = email.strip().lower()
        self._check_throttle(account, source)
        try:
            user_id = self.store.users.check_login(email, password)
        except StoreError as exc:
            self._failed(account, source, "password")
            raise CredentialRefused(401, str(exc)) from None
        return self._open(user_id, self.limits.session_ttl_s, None)

    def _open(self, user_id: int, ttl: float, client_id: str | None) -> tuple[str, float]:
        now = self.clock.now()
        self.store.sessions.end_expired(now - GC_GRACE_S)
        return self.store.sessions.open(user_id, now, now + ttl, client_id), ttl

    def logout(self, key: str) -> bool:
        return self.store.sessions.end(key)

    # --- OAuth2 client credentials --------------------------------------------------------------------
    def _live_owner(self, client_id: str) -> User | None:
        """The client's owner while the client is not revoked and the owner is an active Admin."""
        owner_id = self.store.invitations.client_owner_id(client_id)
        owner = self.store.users.get(owner_id) if owner_id is not None else None
        if owner is None or not owner.active or owner.role != Role.ADMIN.value:
            return None
        return owner

    def _authenticate(self, client_id: str, secret: str, source: str) -> None:
        """A right client id and secret from `source` (throttled like password logins); 401 `invalid_client`."""
        self._check_throttle(f"client:{client_id}", source)
        if self.store.invitations.client_owner(client_id, secret) is None:
            self._failed(f"client:{client_id}", source, "client_secret")
            raise CredentialRefused(401, "invalid_client")

    def _client(self, client_id: str, secret: str, source: str) -> User:
        """The client's live owner for a right id and secret from `source`; 401 `invalid_client` otherwise."""
        self._authenticate(client_id, secret, source)
        owner = self._live_owner(client_id)
        if owner is None:
            raise CredentialRefused(401, "invalid_client: the client's owner is no longer an active Admin")
        return owner

    def _grant(self, client_id: str, subject: User, expires_in: float | None) -> BearerGrant:
        ttl = self.limits.bearer_ttl_s if expires_in is None else min(expires_in, self.limits.bearer_ttl_s)
        key, ttl = self._open(subject.id, ttl, client_id)
        now = self.clock.now()
        self.store.refresh_tokens.end_expired(now - GC_GRACE_S)  # kept a day past expiry, as keys are: "expired"
        refresh = self.store.refresh_tokens.issue(client_id, subject.id, now, now + self.limits.refresh_ttl_s)
        self.store.events.add("oauth_token", None, {"client_id": client_id, "user": subject.email, "ttl": ttl})
        return BearerGrant(key, subject, ttl, refresh)

    def mint_bearer(
        self, client_id: str, secret: str, as_email: str | None, expires_in: float | None, source: str
    ) -> BearerGrant:
        """A bearer for the client's owner (or `as_email`, a user the owner sees), capped by the owner."""
        owner = self._client(client_id, secret, source)
        subject = owner
        if as_email is not None:
            found = self.store.users.by_email(as_email)
            if found is None or not self.access.sees_org(owner, found.org_id):
                raise TenancyError(400, "invalid_request: unknown user")
            if not found.active:
                raise TenancyError(400, "invalid_request: user is not active")
            subject = found
        return self._grant(client_id, subject, expires_in)

    def refresh_bearer(
        self, client_id: str, secret: str, refresh_token: str, expires_in: float | None, source: str
    ) -> BearerGrant:
        """A new bearer and refresh token for one of the client's refresh tokens, which is then used up; for the
        same user, while the client's owner still may (as at a first grant)."""
        owner = self._client(client_id, secret, source)
        row = self.store.refresh_tokens.take(refresh_token, client_id) if refresh_token else None
        if row is None:
            raise TenancyError(
                400, "invalid_grant: refresh_token unknown to this client (never issued, used once already, or revoked)"
            )
        if row.expires_at <= self.clock.now():
            raise TenancyError(400, f"invalid_grant: refresh_token expired at {_stamp(row.expires_at)} (lab time)")
        subject = self.store.users.get(row.user_id)
        if subject is None or not subject.active or not self.access.sees_org(owner, subject.org_id):
            raise TenancyError(
                400, "invalid_grant: the refresh token's user is no longer active or in the owner's sight"
            )
        self.store.events.add("oauth_refresh", None, {"client_id": client_id, "user": subject.email})
        return self._grant(client_id, subject, expires_in)

    def revoke_bearer(self, client_id: str, secret: str, key: str, source: str) -> None:
        """RFC 7009: the client ends one of its bearers or refresh tokens (an unknown token is not an error)."""
        self._authenticate(client_id, secret, source)
        if self.store.refresh_tokens.end(key, client_id):
            return
        row = self.store.sessions.get(key)
        if row is not None and row.client_id == client_id:
            self.store.sessions.end(key)

    def revoke_client(self, actor: User, client_id: str) -> int:
        """The owner (or an Admin who sees the owner) revokes a client; its bearers and refresh tokens end.
        Returns how many bearers ended."""
        owner_id = self.store.invitations.client_owner_id(client_id)
        owner = self.store.users.get(owner_id) if owner_id is not None else None
        if owner is None or not self.access.sees_org(actor, owner.org_id):
            raise TenancyError(404, f"OAuth2 client {client_id} not found.")
        if owner.id != actor.id and not self.access.can_manage(actor, owner):
            raise TenancyError(403, f"{actor.email} may not revoke the OAuth2 client of {owner.email}.")
        self.store.invitations.revoke_client(client_id, self.clock.now())
        ended = self.store.sessions.end_for_client(client_id)
        self.store.refresh_tokens.end_for_client(client_id)
        self.store.events.add("oauth_client_revoked", None, {"by": actor.email, "client_id": client_id})
        return ended

    # --- every request ----------------------------------------------------------------------------------
    def user_for(self, authorization: str) -> User:
        """The user a request's `Authorization` header stands for, or CredentialRefused (401)."""
        if not authorization.startswith("Bearer "):
            raise CredentialRefused(401, NOT_AUTHENTICATED)
        row = self.store.sessions.get(authorization.removeprefix("Bearer ").strip())
        if row is None:
            raise CredentialRefused(401, "Not authenticated: unknown bearer key (logged out, revoked or never issued).")
        what = "OAuth2 bearer" if row.client_id is not None else "Session"
        if row.expires_at is None or row.expires_at <= self.clock.now():
            when = "before expiries were kept" if row.expires_at is None else f"at {_stamp(row.expires_at)}"
            again = "request a new one at /oauth2/token" if row.client_id is not None else "log in again"
            raise CredentialRefused(401, f"{what} expired {when} (lab time); {again}.")
        if not row.user.active:
            raise CredentialRefused(401, f"Not authenticated: {row.user.email} is not active.")
        if row.client_id is None:
            return row.user
        owner = None if row.client_revoked else self._live_owner(row.client_id)
        if owner is None or owner.id != row.client_owner_id:
            raise CredentialRefused(
                401,
                "OAuth2 bearer no longer valid: its client was revoked or the client's owner is no longer an "
                "active Admin.",
            )
        if not self.access.sees_org(owner, row.user.org_id):
            raise CredentialRefused(
                401, "OAuth2 bearer no longer valid: its user moved out of the client owner's sight."
            )
        return replace(row.user, acting_for=owner.id, via_client=row.client_id)
