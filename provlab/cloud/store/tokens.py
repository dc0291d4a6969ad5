"""Device tokens: issuing dynamic and re-provision tokens, refreshing and revoking them (C1, C3, C4).

A token is activated by the first login with it (`DeviceRepository.login`).
"""

from __future__ import annotations

import secrets
import time

from provlab.cloud.records import IssuedToken, TokenKind, User
from provlab.cloud.store.backend import Connection
from provlab.cloud.store.database import Database
from provlab.cloud.store.errors import StoreError
from provlab.cloud.store.events import EventRepository
from provlab.cloud.store.rows import issued_from_row, live_device_or_fail, revoke_in
from provlab.cloud.store.templates import TemplateRepository
from provlab.cloud.store.token_cache import TokenCache
from provlab.protocol.serial_log import mask_secret

TOKEN_BYTES = 24  # 24 random bytes -> 32 URL-safe characters, the length Edgent requires
DEFAULT_TOKEN_TTL_S = 7 * 24 * 3600  # legacy server: temporary tokens live 7 days (C1)


class TokenRepository:
    """Token rows: who a token is for, whether it was activated, revoked or has expired."""

    def __init__(
        self, database: Database, cache: TokenCache, templates: TemplateRepository, events: EventRepository
    ) -> None:
        self._database = database
        self._cache = cache
        self._templates = templates
        self._events = events

    def issue(
        self, user: User, template_id: str, ttl_s: float = DEFAULT_TOKEN_TTL_S, *, org_id: int | None = None
    ) -> IssuedToken:
        """A fresh dynamic token, unactivated, for a new device of `template_id` owned by `user`, in the
        user's org or in `org_id` (permission checks are the caller's: `access.Access`)."""
        org_id = user.org_id if org_id is None else org_id
        if self._templates.get(template_id) is None:
            raise StoreError(f"no template {template_id!r} in this cloud")
        now = time.time()
        # one commit per token: the buffered writes ride along, and the read-back comes before the event is
        # buffered (a read flushes the buffer first)
        with self._database.transaction(include_pending=True) as db:
            token = _new_token(db)
            db.execute(
                "INSERT INTO tokens (token, template_id, user_id, org_id, issued_at, expires_at, kind) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (token, template_id, user.id, org_id, now, now + ttl_s, TokenKind.DYNAMIC.value),
            )
        issued = self._get_or_fail(token)
        detail = {"token": token, "template_id": template_id, "user": user.email, "org_id": org_id}
        self._events.add("token_issued", None, {**detail, "client_id": user.via_client})  # None: a password session
        return issued

    def issue_reprovision(self, device_id: int, user: User, ttl_s: float = DEFAULT_TOKEN_TTL_S) -> IssuedToken:
        """A new token for an existing device: at its first login it replaces the device's token
        (keeping the device id and data) and the old token stops working."""
        device = live_device_or_fail(self._database, device_id)
        now = time.time()
        with self._database.transaction() as db:
            token = _new_token(db)
            db.execute(
                "INSERT INTO tokens (token, template_id, user_id, org_id, device_id, issued_at, expires_at, "
                "kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    token,
                    device.template_id,
                    user.id,
                    user.org_id,
                    device_id,
                    now,
                    now + ttl_s,
                    TokenKind.REPROVISION.value,
                ),
            )
        self._events.add("reprovision_token_issued", device_id, {"token": token, "user": user.email})
        return self._get_or_fail(token)

    def refresh(self, device_id: int) -> IssuedToken:
        """Replace the device's token now: the new one is active at once, the old one is revoked."""
        device = live_device_or_fail(self._database, device_id)
        if device.owner_id is None:
            raise StoreError(f"device {device_id} has no owner; a refreshed token needs one")
        now = time.time()
        with self._database.transaction() as db:
            token = _new_token(db)
            db.execute(
                "INSERT INTO tokens (token, template_id, user_id, org_id, device_id, issued_at, expires_at, "
                "activated_at, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    token,
                    device.template_id,
                    device.owner_id,
                    device.org_id,
                    device_id,
                    now,
                    now,
                    now,
                    TokenKind.REFRESH.value,
                ),
            )
            if device.token:
                revoke_in(db, device.token, "refreshed", now)
            db.execute("UPDATE devices SET token = ? WHERE id = ?", (token, device_id))
        with self._database.lock:
            self._cache.forget_device(device_id)
        self._events.add("token_refreshed", device_id, {"token": token, "old_token": mask_secret(device.token or "")})
        return self._get_or_fail(token)

    def revoke(self, token: str, reason: str = "revoked") -> int | None:
        """Stop `token` from logging in; returns the device that held it (now without a token), if any."""
        now = time.time()
        with self._database.transaction() as db:
            if not db.execute("SELECT 1 FROM tokens WHERE token = ?", (token,)).fetchone():
                raise StoreError(f"token {mask_secret(token)} was never issued by this cloud")
            revoke_in(db, token, reason, now)
            row = db.execute("SELECT id FROM devices WHERE token = ?", (token,)).fetchone()
            device_id = int(row["id"]) if row else None
            if device_id is not None:
                db.execute("UPDATE devices SET token = NULL WHERE id = ?", (device_id,))
        with self._database.lock:
            self._cache.forget_token(token)
        self._events.add("token_revoked", device_id, {"token": token, "reason": reason})
        return device_id

    def get(self, token: str) -> IssuedToken | None:
        rows = self._database.query("SELECT * FROM tokens WHERE token = ?", (token,))
        return issued_from_row(rows[0]) if rows else None

    def all(self) -> list[IssuedToken]:
        """Every token ever issued, oldest first (the console lists them, masked)."""
        return [issued_from_row(r) for r in self._database.query("SELECT * FROM tokens ORDER BY issued_at")]

    def for_device(self, device_id: int) -> list[IssuedToken]:
        """Every token that was issued for, or activated by, the device, oldest first."""
        rows = self._database.query("SELECT * FROM tokens WHERE device_id = ? ORDER BY issued_at", (device_id,))
        return [issued_from_row(r) for r in rows]

    def _get_or_fail(self, token: str) -> IssuedToken:
        found = self.get(token)
        if found is None:
            raise StoreError(f"token {mask_secret(token)} vanished right after it was written")
        return found


def _new_token(db: Connection) -> str:
    while True:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        if not db.execute("SELECT 1 FROM tokens WHERE token = ?", (token,)).fetchone():
            return token
