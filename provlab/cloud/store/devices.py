"""Devices: logging in with a token (activating it the first time), info, metadata, transfer and delete.

The login is the store's hot path: a token the cache knows costs one dict lookup and a buffered login
time. A dynamic token's first login creates the device in the write-behind buffer (group commit, see
`write_behind.py`); a re-provision token's first login is committed at once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

from provlab.cloud.records import Device, IssuedToken, TokenKind
from provlab.cloud.store.database import Database
from provlab.cloud.store.errors import TokenRefusal, TokenRefused
from provlab.cloud.store.events import EventRepository
from provlab.cloud.store.rows import (
    device_from_row,
    issued_from_row,
    live_device,
    live_device_or_fail,
    revoke_in,
)
from provlab.cloud.store.templates import TemplateRepository
from provlab.cloud.store.token_cache import TokenCache
from provlab.cloud.store.write_behind import Activation

TOKEN_LENGTH = 32


class DeviceRepository:
    """Device rows (soft-deleted, so ids are never reused) and the logins that create them."""

    def __init__(
        self, database: Database, cache: TokenCache, templates: TemplateRepository, events: EventRepository
    ) -> None:
        self._database = database
        self._cache = cache
        self._templates = templates
        self._events = events

    # --- login -------------------------------------------------------------------------------------
    def login(self, token: str, *, commit: bool = True) -> Device:
        """The device a login with `token` is for; activates a dynamic or re-provision token on first use.

        Raises `TokenRefused` (unknown, revoked, expired). Hot path: a known token costs one dict lookup.
        With `commit=False` a dynamic token's activation stays in the buffer (`Store.uncommitted_activations`);
        the caller must not answer the device before the next `Store.flush` (the gateway's group commit).
        """
        now = time.time()
        with self._database.lock:
            cached = self._cache.device(token)
            if cached is not None:
                self._database.pending.logins[cached.id] = now
                self._database.maybe_flush()
                return cached
            device, activated = self._login_slow(token, now)
            self._cache.remember(token, device)
        if activated:
            self._events.add("token_activated", device.id, {"token": token, "org_id": device.org_id})
            if commit:
                self._database.flush()
        return device

    def _login_slow(self, token: str, now: float) -> tuple[Device, bool]:
        """Called with the lock held. Checks read committed rows: a buffered activation's token is in the
        token cache, so it never gets here. A dynamic token's activation is buffered (group commit); a
        re-provision token's is committed at once, in one transaction that also takes the buffered writes."""
        if len(token) != TOKEN_LENGTH:
            raise TokenRefused(token, TokenRefusal.UNKNOWN)
        found = self._database.committed_row("SELECT * FROM tokens WHERE token = ?", (token,))
        if found is None:
            raise TokenRefused(token, TokenRefusal.UNKNOWN)
        issued = issued_from_row(found)
        if issued.revoked:
            raise TokenRefused(token, TokenRefusal.REVOKED, issued.revoked_reason or "")
        if issued.activated:
            row = self._database.committed_row(
                "SELECT * FROM devices WHERE id = ? AND token = ? AND deleted_at IS NULL", (issued.device_id, token)
            )
            if row is None:  # activated, but no device holds it any more: superseded without a revoke record
                raise TokenRefused(token, TokenRefusal.REVOKED, "no device holds it any more")
            self._database.pending.logins[int(row["id"])] = now
            return device_from_row(row), False
        if issued.expired(now):
            expiry = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(issued.expires_at))
            raise TokenRefused(token, TokenRefusal.EXPIRED, expiry)
        if issued.kind is TokenKind.REPROVISION and issued.device_id is not None:
            return self._activate_reprovision(token, issued, issued.device_id, now), True
        return self._activate_dynamic(token, issued, now), True

    def _activate_dynamic(self, token: str, issued: IssuedToken, now: float) -> Device:
        """A new device for a dynamic token, buffered for the next group commit (lock held)."""
        template = self._templates.get(issued.template_id)
        device = Device(
            id=self._next_device_id(),
            name=template.name if template else issued.template_id,
            template_id=issued.template_id,
            org_id=issued.org_id,
            owner_id=issued.user_id,
            token=token,
        )
        self._database.pending.activations.append(
            Activation(device.id, device.name, device.template_id, device.org_id, device.owner_id, token, now)
        )
        return device

    def _next_device_id(self) -> int:
        """The id the next buffered activation gets (lock held). Ids are never reused: devices are
        soft-deleted, so the highest id written or buffered, plus one, is free."""
        buffered = self._database.pending.activations
        if buffered:
            return buffered[-1].device_id + 1
        row = self._database.committed_row("SELECT COALESCE(MAX(id), 0) + 1 FROM devices")
        assert row is not None
        return int(row[0])

    def _activate_reprovision(self, token: str, issued: IssuedToken, device_id: int, now: float) -> Device:
        """The existing device takes the re-provision token; its old token is revoked (lock held; rare, so
        committed at once)."""
        with self._database.transaction(include_pending=True) as db:
            old = db.execute("SELECT token FROM devices WHERE id = ?", (device_id,)).fetchone()
            if old is not None and old["token"]:
                revoke_in(db, old["token"], "reprovisioned", now)
                self._cache.forget_token(old["token"])
            db.execute(
                "UPDATE devices SET token = ?, owner_id = ?, org_id = ?, last_login_at = ?, "
                "deleted_at = NULL WHERE id = ?",
                (token, issued.user_id, issued.org_id, now, device_id),
            )
            db.execute("UPDATE tokens SET activated_at = ?, device_id = ? WHERE token = ?", (now, device_id, token))
            row = db.execute("SELECT * FROM devices WHERE id = ?", (device_id,)).fetchone()
        return device_from_row(row)

    # --- reading -----------------------------------------------------------------------------------
    def for_token(self, token: str) -> Device | None:
        """The live device whose current token is `token` (no activation)."""
        with self._database.lock:
            cached = self._cache.device(token)
        if cached is not None:
            return cached
        rows = self._database.query("SELECT * FROM devices WHERE token = ? AND deleted_at IS NULL", (token,))
        return device_from_row(rows[0]) if rows else None

    def get(self, device_id: int) -> Device | None:
        return live_device(self._database, device_id)

    def all(self) -> list[Device]:
        rows = self._database.query("SELECT * FROM devices WHERE deleted_at IS NULL ORDER BY id")
        return [device_from_row(r) for r in rows]

    def in_orgs(self, org_ids: Iterable[int]) -> list[Device]:
        ids = sorted(set(org_ids))
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self._database.query(
            f"SELECT * FROM devices WHERE deleted_at IS NULL AND org_id IN ({marks}) ORDER BY id", tuple(ids)
        )
        return [device_from_row(r) for r in rows]

    # --- changing ----------------------------------------------------------------------------------
    def delete(self, device_id: int) -> Device:
        """Delete the device (as the console does): its tokens stop working, its data goes."""
        device = live_device_or_fail(self._database, device_id)
        now = time.time()
        with self._database.transaction() as db:
            for row in db.execute("SELECT token FROM tokens WHERE device_id = ?", (device_id,)).fetchall():
                revoke_in(db, row["token"], "device deleted", now)
            if device.token:
                revoke_in(db, device.token, "device deleted", now)
            db.execute("UPDATE devices SET deleted_at = ?, token = NULL WHERE id = ?", (now, device_id))
            db.execute("DELETE FROM pin_values WHERE device_id = ?", (device_id,))
        with self._database.lock:
            self._cache.forget_device(device_id)
        self._events.add("device_deleted", device_id, {"token": device.token or ""})
        return device

    def transfer(self, device_id: int, org_id: int, owner_id: int | None) -> Device:
        """Give the device a new org and owner; its token, session and data stay (C13)."""
        live_device_or_fail(self._database, device_id)
        with self._database.transaction() as db:
            db.execute("UPDATE devices SET org_id = ?, owner_id = ? WHERE id = ?", (org_id, owner_id, device_id))
        moved = live_device_or_fail(self._database, device_id)
        with self._database.lock:
            self._cache.update(device_id, org_id=org_id, owner_id=owner_id)
        return moved

    def set_info(self, device_id: int, info: dict[str, str]) -> None:
        """What the device announced (binary INTERNAL info, MQTT `info/mcu`); buffered."""
        with self._database.lock:
            cached = self._cache.device_by_id(device_id)
            if cached is not None and cached.info == info and device_id not in self._database.pending.infos:
                return  # a reconnecting device announcing what it announced before
            self._database.pending.infos[device_id] = json.dumps(info)
            self._cache.update(device_id, info=dict(info))
            self._database.maybe_flush()

    def set_meta(self, device_id: int, field: str, value: str) -> None:
        with self._database.transaction() as db:
            row = db.execute("SELECT meta FROM devices WHERE id = ?", (device_id,)).fetchone()
            meta = json.loads(row["meta"]) if row else {}
            meta[field] = value
            db.execute("UPDATE devices SET meta = ? WHERE id = ?", (json.dumps(meta), device_id))

    def meta(self, device_id: int) -> dict[str, str]:
        rows = self._database.query("SELECT meta FROM devices WHERE id = ?", (device_id,))
        return dict(json.loads(rows[0]["meta"])) if rows else {}
