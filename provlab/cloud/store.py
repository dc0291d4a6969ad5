"""The cloud stub's store: one SQLite file (WAL), schema migrations in code, hot writes behind a buffer.

Everything the stub knows lives here and survives a restart: orgs, users, templates (with their
datastreams, event codes and metafields), dynamic tokens, devices, pin values, the device event log and
the stub's own event journal. Device traffic goes through a write-behind buffer (`write_behind.py`) and
an in-memory token → device cache; every method that changes a device or a token keeps that cache right,
so code built on the store should change devices and tokens only through `Store` methods.

Safe to use from several threads (one lock around the connection and the buffers).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Any

from provlab.cloud.passwords import check_password, hash_password
from provlab.cloud.records import (
    Datastream,
    DataType,
    Device,
    IssuedToken,
    MetaField,
    Template,
    TokenKind,
    User,
)
from provlab.cloud.schema import MIGRATIONS
from provlab.cloud.write_behind import Activation, WriteBehind
from provlab.protocol.serial_log import mask_secret

__all__ = [
    "DEFAULT_TOKEN_TTL_S",
    "Device",
    "IssuedToken",
    "Store",
    "StoreError",
    "TokenRefusal",
    "TokenRefused",
    "User",
]

TOKEN_BYTES = 24  # 24 random bytes -> 32 URL-safe characters, the length Edgent requires
TOKEN_LENGTH = 32
DEFAULT_TOKEN_TTL_S = 7 * 24 * 3600  # legacy server: temporary tokens live 7 days (C1)
FLUSH_THRESHOLD = 20_000  # pending writes that force a flush even before the timer
SECRET_DETAIL_KEYS = frozenset({"token", "password", "pass", "auth"})


class StoreError(Exception):
    """A request the store refuses (unknown template, bad credentials, unknown device, …)."""


class TokenRefusal(str, Enum):
    """Why a device token does not log in."""

    UNKNOWN = "unknown"
    REVOKED = "revoked"
    EXPIRED = "expired"


class TokenRefused(StoreError):
    """A device login with a token the store does not accept."""

    def __init__(self, token: str, reason: TokenRefusal, detail: str = "") -> None:
        text = {
            TokenRefusal.UNKNOWN: "was never issued by this cloud",
            TokenRefusal.REVOKED: f"was revoked ({detail or 'no reason given'})",
            TokenRefusal.EXPIRED: f"expired before its first login ({detail})",
        }[reason]
        super().__init__(f"token {mask_secret(token)} {text}")
        self.reason = reason
        self.detail = detail


def _mask_detail(detail: dict[str, Any]) -> dict[str, Any]:
    return {
        k: mask_secret(v) if k in SECRET_DETAIL_KEYS and isinstance(v, str) else v for k, v in detail.items()
    }


class Store:
    """All cloud state in one SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._pending = WriteBehind()
        self._device_by_token: dict[str, Device] = {}  # the token cache: current tokens of live devices
        self._token_by_device: dict[int, str] = {}
        self._templates: dict[str, Template] = {}
        self._next_device_id: int | None = None  # set only while activations are buffered (see _tx)
        self._closed = False
        self._migrate()

    # --- plumbing --------------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self.flush()
            self._closed = True
            self._db.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @contextmanager
    def _tx(self, include_pending: bool = False) -> Iterator[sqlite3.Connection]:
        """A write transaction. Buffered writes go first, in their own transaction so that a rollback
        here cannot take them along, or (`include_pending`, for bodies that only fail on I/O errors)
        inside this one, saving a commit."""
        with self._lock:
            if self._pending and not include_pending:
                self.flush()
            self._db.execute("BEGIN IMMEDIATE")
            took_pending = False
            try:
                if include_pending and self._pending:
                    self._pending.write_into(self._db)
                    took_pending = True
                self._next_device_id = None  # this transaction may insert devices itself
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            if took_pending:
                self._pending.clear()

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            if self._pending:
                self.flush()
            return list(self._db.execute(sql, args))

    def flush(self) -> int:
        """Write the buffered device traffic now; returns how many writes went out."""
        with self._lock:
            if not self._pending or self._closed:
                return 0
            self._db.execute("BEGIN IMMEDIATE")
            try:
                count = self._pending.write_into(self._db)
            except BaseException:
                self._db.execute("ROLLBACK")  # the buffer keeps everything for the next attempt
                raise
            self._db.execute("COMMIT")
            self._pending.clear()
            return count

    @property
    def pending_writes(self) -> int:
        return len(self._pending)

    @property
    def uncommitted_activations(self) -> int:
        """Token activations accepted in memory and not committed yet; a login that depends on one is
        answered only after the next `flush` (group commit)."""
        return len(self._pending.activations)

    def _maybe_flush(self) -> None:
        if len(self._pending) >= FLUSH_THRESHOLD:
            self.flush()

    def _migrate(self) -> None:
        with self._lock:
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"{self.path} has schema version {version}; this provlab knows up to {len(MIGRATIONS)} "
                    "(the file was written by a newer provlab)"
                )
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                self._db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction for store extensions (tenancy); never touch `devices`/`tokens` in it."""
        with self._tx() as db:
            yield db

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Read committed rows (the write-behind buffer is flushed first)."""
        return self._query(sql, args)

    @property
    def schema_version(self) -> int:
        return int(self._query("PRAGMA user_version")[0][0])

    # --- tenancy (kept flat here; the tenancy issue grows it) -------------------------------------
    def create_org(self, name: str, parent_id: int | None = None) -> int:
        with self._tx() as db:
            cur = db.execute("INSERT INTO orgs (name, parent_id) VALUES (?, ?)", (name, parent_id))
            return int(cur.lastrowid or 0)

    def create_user(self, email: str, password: str, org_id: int, role: str = "Admin") -> User:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO users (email, password_hash, org_id, role) VALUES (?, ?, ?, ?)",
                (email, hash_password(password), org_id, role),
            )
            return User(int(cur.lastrowid or 0), email, org_id, role)

    def user(self, user_id: int) -> User | None:
        rows = self._query(f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", (user_id,))
        return _user(rows[0]) if rows else None

    def user_by_email(self, email: str) -> User | None:
        rows = self._query(f"SELECT {USER_COLUMNS} FROM users WHERE email = ?", (email,))
        return _user(rows[0]) if rows else None

    def login(self, email: str, password: str) -> str:
        """A new session key for the user, or StoreError on a wrong e-mail or password (or an
        invited user who has not set a password yet)."""
        rows = self._query("SELECT id, password_hash, active FROM users WHERE email = ?", (email,))
        if not rows or not check_password(password, rows[0]["password_hash"]):
            raise StoreError("wrong e-mail or password")
        if not rows[0]["active"]:
            raise StoreError("this account is not active (invitation not accepted)")
        return self.open_session(int(rows[0]["id"]))

    def open_session(self, user_id: int) -> str:
        """A new session key (bearer) for the user."""
        key = secrets.token_urlsafe(32)
        with self._tx() as db:
            db.execute(
                "INSERT INTO sessions (key, user_id, created_at) VALUES (?, ?, ?)", (key, user_id, time.time())
            )
        return key

    def user_for_session(self, key: str) -> User | None:
        rows = self._query(
            "SELECT u.id, u.email, u.org_id, u.role, u.active FROM sessions s JOIN users u ON u.id = s.user_id "
            "WHERE s.key = ?",
            (key,),
        )
        return _user(rows[0]) if rows else None

    # --- templates -------------------------------------------------------------------------------
    def create_template(
        self,
        template_id: str,
        name: str,
        org_id: int,
        *,
        datastreams: Iterable[Datastream] = (),
        event_codes: Iterable[str] = (),
        metafields: Iterable[MetaField] = (),
    ) -> Template:
        if not template_id.startswith("TMPL"):
            raise StoreError(f"template id must start with 'TMPL', got {template_id!r}")
        with self._tx() as db:
            db.execute(
                "INSERT INTO templates (id, name, org_id) VALUES (?, ?, ?)", (template_id, name, org_id)
            )
            db.executemany(
                "INSERT INTO datastreams (template_id, id, pin, name, data_type) VALUES (?, ?, ?, ?, ?)",
                [(template_id, d.id, d.pin.lower(), d.name, d.data_type.value) for d in datastreams],
            )
            db.executemany(
                "INSERT INTO template_events (template_id, code) VALUES (?, ?)",
                [(template_id, code) for code in event_codes],
            )
            db.executemany(
                "INSERT INTO metafields (template_id, id, name) VALUES (?, ?, ?)",
                [(template_id, m.id, m.name) for m in metafields],
            )
        self._templates.pop(template_id, None)
        found = self.template(template_id)
        assert found is not None
        return found

    def template(self, template_id: str) -> Template | None:
        cached = self._templates.get(template_id)
        if cached is not None:
            return cached
        rows = self._query("SELECT id, name, org_id FROM templates WHERE id = ?", (template_id,))
        if not rows:
            return None
        streams = tuple(
            Datastream(r["id"], r["pin"], r["name"], DataType(r["data_type"]))
            for r in self._query(
                "SELECT id, pin, name, data_type FROM datastreams WHERE template_id = ? ORDER BY id",
                (template_id,),
            )
        )
        codes = tuple(
            r["code"]
            for r in self._query(
                "SELECT code FROM template_events WHERE template_id = ? ORDER BY code", (template_id,)
            )
        )
        fields = tuple(
            MetaField(r["id"], r["name"])
            for r in self._query(
                "SELECT id, name FROM metafields WHERE template_id = ? ORDER BY id", (template_id,)
            )
        )
        template = Template(rows[0]["id"], rows[0]["name"], rows[0]["org_id"], streams, codes, fields)
        with self._lock:
            self._templates[template_id] = template
        return template

    def template_name(self, template_id: str) -> str | None:
        template = self.template(template_id)
        return template.name if template else None

    def templates(self) -> list[Template]:
        ids = [r["id"] for r in self._query("SELECT id FROM templates ORDER BY id")]
        return [t for t in (self.template(i) for i in ids) if t is not None]

    # --- tokens ----------------------------------------------------------------------------------
    def _new_token(self, db: sqlite3.Connection) -> str:
        while True:
            token = secrets.token_urlsafe(TOKEN_BYTES)
            if not db.execute("SELECT 1 FROM tokens WHERE token = ?", (token,)).fetchone():
                return token

    def issue_token(
        self, user: User, template_id: str, ttl_s: float = DEFAULT_TOKEN_TTL_S, *, org_id: int | None = None
    ) -> IssuedToken:
        """A fresh dynamic token, unactivated, for a new device of `template_id` owned by `user`, in the
        user's org or in `org_id` (permission checks are the caller's: `tenancy.Tenancy`)."""
        org_id = user.org_id if org_id is None else org_id
        if self.template(template_id) is None:
            raise StoreError(f"no template {template_id!r} in this cloud")
        now = time.time()
        with self._tx() as db:
            token = self._new_token(db)
            db.execute(
                "INSERT INTO tokens (token, template_id, user_id, org_id, issued_at, expires_at, kind) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (token, template_id, user.id, org_id, now, now + ttl_s, TokenKind.DYNAMIC.value),
            )
        self.add_event(
            "token_issued", None, {"token": token, "template_id": template_id, "user": user.email, "org_id": org_id}
        )
        return self._token_or_fail(token)

    def issue_reprovision_token(
        self, device_id: int, user: User, ttl_s: float = DEFAULT_TOKEN_TTL_S
    ) -> IssuedToken:
        """A new token for an existing device: at its first login it replaces the device's token
        (keeping the device id and data) and the old token stops working."""
        device = self._device_or_fail(device_id)
        now = time.time()
        with self._tx() as db:
            token = self._new_token(db)
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
        self.add_event("reprovision_token_issued", device_id, {"token": token, "user": user.email})
        return self._token_or_fail(token)

    def refresh_token(self, device_id: int) -> IssuedToken:
        """Replace the device's token now: the new one is active at once, the old one is revoked."""
        device = self._device_or_fail(device_id)
        if device.owner_id is None:
            raise StoreError(f"device {device_id} has no owner; a refreshed token needs one")
        now = time.time()
        with self._tx() as db:
            token = self._new_token(db)
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
                self._revoke_in(db, device.token, "refreshed", now)
            db.execute("UPDATE devices SET token = ? WHERE id = ?", (token, device_id))
        self._forget_device(device_id)
        self.add_event(
            "token_refreshed", device_id, {"token": token, "old_token": mask_secret(device.token or "")}
        )
        return self._token_or_fail(token)

    def revoke_token(self, token: str, reason: str = "revoked") -> int | None:
        """Stop `token` from logging in; returns the device that held it (now without a token), if any."""
        now = time.time()
        with self._tx() as db:
            if not db.execute("SELECT 1 FROM tokens WHERE token = ?", (token,)).fetchone():
                raise StoreError(f"token {mask_secret(token)} was never issued by this cloud")
            self._revoke_in(db, token, reason, now)
            row = db.execute("SELECT id FROM devices WHERE token = ?", (token,)).fetchone()
            device_id = int(row["id"]) if row else None
            if device_id is not None:
                db.execute("UPDATE devices SET token = NULL WHERE id = ?", (device_id,))
        with self._lock:
            self._forget_token(token)
        self.add_event("token_revoked", device_id, {"token": token, "reason": reason})
        return device_id

    @staticmethod
    def _revoke_in(db: sqlite3.Connection, token: str, reason: str, now: float) -> None:
        db.execute(
            "UPDATE tokens SET revoked_at = ?, revoked_reason = ? WHERE token = ? AND revoked_at IS NULL",
            (now, reason, token),
        )

    def token(self, token: str) -> IssuedToken | None:
        rows = self._query("SELECT * FROM tokens WHERE token = ?", (token,))
        return _issued(rows[0]) if rows else None

    def tokens_for_device(self, device_id: int) -> list[IssuedToken]:
        rows = self._query("SELECT * FROM tokens WHERE device_id = ? ORDER BY issued_at", (device_id,))
        return [_issued(r) for r in rows]

    def _token_or_fail(self, token: str) -> IssuedToken:
        found = self.token(token)
        if found is None:
            raise StoreError(f"token {mask_secret(token)} vanished right after it was written")
        return found

    # --- device login ------------------------------------------------------------------------------
    def login_device(self, token: str, *, commit: bool = True) -> Device:
        """The device a login with `token` is for; activates a dynamic or re-provision token on first use.

        Raises `TokenRefused` (unknown, revoked, expired). Hot path: a known token costs one dict lookup.
        With `commit=False` a dynamic token's activation stays in the buffer (`uncommitted_activations`);
        the caller must not answer the device before the next `flush` (the gateway's group commit).
        """
        now = time.time()
        with self._lock:
            cached = self._device_by_token.get(token)
            if cached is not None:
                self._pending.logins[cached.id] = now
                self._maybe_flush()
                return cached
            device, activated = self._login_slow(token, now)
            self._remember(token, device)
        if activated:
            self.add_event("token_activated", device.id, {"token": token, "org_id": device.org_id})
            if commit:
                self.flush()
        return device

    def authenticate_device(self, token: str) -> Device | None:
        """`login_device` that answers None instead of raising."""
        try:
            return self.login_device(token)
        except TokenRefused:
            return None

    def _login_slow(self, token: str, now: float) -> tuple[Device, bool]:
        """Called with the lock held. Checks read committed rows: a buffered activation's token is in the
        token cache, so it never gets here. A dynamic token's activation is buffered (group commit); a
        re-provision token's is committed at once, in one transaction that also takes the buffered writes."""
        if len(token) != TOKEN_LENGTH:
            raise TokenRefused(token, TokenRefusal.UNKNOWN)
        db = self._db
        found = db.execute("SELECT * FROM tokens WHERE token = ?", (token,)).fetchone()
        if found is None:
            raise TokenRefused(token, TokenRefusal.UNKNOWN)
        issued = _issued(found)
        if issued.revoked:
            raise TokenRefused(token, TokenRefusal.REVOKED, issued.revoked_reason or "")
        if issued.activated:
            row = db.execute(
                "SELECT * FROM devices WHERE id = ? AND token = ? AND deleted_at IS NULL",
                (issued.device_id, token),
            ).fetchone()
            if row is None:  # activated, but no device holds it any more: superseded without a revoke record
                raise TokenRefused(token, TokenRefusal.REVOKED, "no device holds it any more")
            self._pending.logins[int(row["id"])] = now
            return _device(row), False
        if issued.expired(now):
            expiry = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(issued.expires_at))
            raise TokenRefused(token, TokenRefusal.EXPIRED, expiry)
        if issued.kind is TokenKind.REPROVISION and issued.device_id is not None:
            return self._activate_reprovision(token, issued, issued.device_id, now), True
        return self._activate_dynamic(token, issued, now), True

    def _activate_dynamic(self, token: str, issued: IssuedToken, now: float) -> Device:
        """A new device for a dynamic token, buffered for the next group commit (lock held)."""
        template = self.template(issued.template_id)
        if self._next_device_id is None:
            # Ids are never reused: devices are soft-deleted, so MAX(id) + 1 is free.
            self._next_device_id = int(self._db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM devices").fetchone()[0])
        device = Device(
            id=self._next_device_id,
            name=template.name if template else issued.template_id,
            template_id=issued.template_id,
            org_id=issued.org_id,
            owner_id=issued.user_id,
            token=token,
        )
        self._next_device_id += 1
        self._pending.activations.append(
            Activation(device.id, device.name, device.template_id, device.org_id, device.owner_id, token, now)
        )
        return device

    def _activate_reprovision(self, token: str, issued: IssuedToken, device_id: int, now: float) -> Device:
        """The existing device takes the re-provision token; its old token is revoked (lock held; rare, so
        committed at once)."""
        with self._tx(include_pending=True) as db:
            old = db.execute("SELECT token FROM devices WHERE id = ?", (device_id,)).fetchone()
            if old is not None and old["token"]:
                self._revoke_in(db, old["token"], "reprovisioned", now)
                self._forget_token(old["token"])
            db.execute(
                "UPDATE devices SET token = ?, owner_id = ?, org_id = ?, last_login_at = ?, "
                "deleted_at = NULL WHERE id = ?",
                (token, issued.user_id, issued.org_id, now, device_id),
            )
            db.execute(
                "UPDATE tokens SET activated_at = ?, device_id = ? WHERE token = ?", (now, device_id, token)
            )
            row = db.execute("SELECT * FROM devices WHERE id = ?", (device_id,)).fetchone()
        return _device(row)

    def device_for_token(self, token: str) -> Device | None:
        """The live device whose current token is `token` (no activation)."""
        with self._lock:
            cached = self._device_by_token.get(token)
        if cached is not None:
            return cached
        rows = self._query("SELECT * FROM devices WHERE token = ? AND deleted_at IS NULL", (token,))
        return _device(rows[0]) if rows else None

    # --- devices ---------------------------------------------------------------------------------
    def device(self, device_id: int) -> Device | None:
        rows = self._query("SELECT * FROM devices WHERE id = ? AND deleted_at IS NULL", (device_id,))
        return _device(rows[0]) if rows else None

    def devices(self) -> list[Device]:
        return [_device(r) for r in self._query("SELECT * FROM devices WHERE deleted_at IS NULL ORDER BY id")]

    def _device_or_fail(self, device_id: int) -> Device:
        device = self.device(device_id)
        if device is None:
            raise StoreError(f"no device {device_id} in this cloud (never created, or deleted)")
        return device

    def delete_device(self, device_id: int) -> Device:
        """Delete the device (as the console does): its tokens stop working, its data goes."""
        device = self._device_or_fail(device_id)
        now = time.time()
        with self._tx() as db:
            for row in db.execute("SELECT token FROM tokens WHERE device_id = ?", (device_id,)).fetchall():
                self._revoke_in(db, row["token"], "device deleted", now)
            if device.token:
                self._revoke_in(db, device.token, "device deleted", now)
            db.execute("UPDATE devices SET deleted_at = ?, token = NULL WHERE id = ?", (now, device_id))
            db.execute("DELETE FROM pin_values WHERE device_id = ?", (device_id,))
        self._forget_device(device_id)
        self.add_event("device_deleted", device_id, {"token": device.token or ""})
        return device

    def transfer_device(self, device_id: int, org_id: int, owner_id: int | None) -> Device:
        """Give the device a new org and owner; its token, session and data stay (C13)."""
        self._device_or_fail(device_id)
        with self._tx() as db:
            db.execute("UPDATE devices SET org_id = ?, owner_id = ? WHERE id = ?", (org_id, owner_id, device_id))
        moved = self._device_or_fail(device_id)
        with self._lock:
            token = self._token_by_device.get(device_id)
            cached = self._device_by_token.get(token) if token is not None else None
            if token is not None and cached is not None:
                self._device_by_token[token] = replace(cached, org_id=org_id, owner_id=owner_id)
        return moved

    def devices_in_orgs(self, org_ids: Iterable[int]) -> list[Device]:
        ids = sorted(set(org_ids))
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self._query(
            f"SELECT * FROM devices WHERE deleted_at IS NULL AND org_id IN ({marks}) ORDER BY id", tuple(ids)
        )
        return [_device(r) for r in rows]

    def _remember(self, token: str, device: Device) -> None:
        self._device_by_token[token] = device
        self._token_by_device[device.id] = token

    def _forget_token(self, token: str) -> None:
        device = self._device_by_token.pop(token, None)
        if device is not None and self._token_by_device.get(device.id) == token:
            del self._token_by_device[device.id]

    def _forget_device(self, device_id: int) -> None:
        with self._lock:
            token = self._token_by_device.pop(device_id, None)
            if token is not None:
                self._device_by_token.pop(token, None)

    def set_device_info(self, device_id: int, info: dict[str, str]) -> None:
        with self._lock:
            token = self._token_by_device.get(device_id)
            cached = self._device_by_token.get(token) if token is not None else None
            if cached is not None and cached.info == info and device_id not in self._pending.infos:
                return  # a reconnecting device announcing what it announced before
            self._pending.infos[device_id] = json.dumps(info)
            if token is not None and cached is not None:
                self._device_by_token[token] = replace(cached, info=dict(info))
            self._maybe_flush()

    def set_meta(self, device_id: int, field: str, value: str) -> None:
        with self._tx() as db:
            row = db.execute("SELECT meta FROM devices WHERE id = ?", (device_id,)).fetchone()
            meta = json.loads(row["meta"]) if row else {}
            meta[field] = value
            db.execute("UPDATE devices SET meta = ? WHERE id = ?", (json.dumps(meta), device_id))

    def meta(self, device_id: int) -> dict[str, str]:
        rows = self._query("SELECT meta FROM devices WHERE id = ?", (device_id,))
        return dict(json.loads(rows[0]["meta"])) if rows else {}

    # --- data ------------------------------------------------------------------------------------
    def write_pin(self, device_id: int, pin: str, value: str) -> None:
        """The newest value of a pin (`v1`, `d5`, `a0`); several values of one write joined by NUL."""
        with self._lock:
            self._pending.pins[(device_id, pin)] = (value, time.time())
            if len(self._pending.pins) >= FLUSH_THRESHOLD:
                self.flush()

    def erase_pin(self, device_id: int, pin: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM pin_values WHERE device_id = ? AND pin = ?", (device_id, pin))

    def read_pin(self, device_id: int, pin: str) -> str | None:
        with self._lock:
            pending = self._pending.pins.get((device_id, pin))
            if pending is not None:
                return pending[0]
        rows = self._query("SELECT value FROM pin_values WHERE device_id = ? AND pin = ?", (device_id, pin))
        return str(rows[0]["value"]) if rows else None

    def pins(self, device_id: int) -> dict[str, str]:
        """Every stored pin value of the device, `{"v1": "42", …}`."""
        rows = self._query("SELECT pin, value FROM pin_values WHERE device_id = ? ORDER BY pin", (device_id,))
        return {r["pin"]: r["value"] for r in rows}

    def log_device_event(self, device_id: int, code: str, description: str = "") -> None:
        """An entry of the device's event log (EVENT_LOG, `event/<code>`, `logEvent`)."""
        with self._lock:
            self._pending.device_log.append((device_id, time.time(), code, description))
            self._maybe_flush()

    def device_log(self, device_id: int) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT ts, code, description FROM device_log WHERE device_id = ? ORDER BY id", (device_id,)
        )
        return [dict(r) for r in rows]

    # --- the stub's event journal ------------------------------------------------------------------
    def add_event(self, kind: str, device_id: int | None, detail: dict[str, Any]) -> None:
        """Journal an event; secrets under `token`/`password`/… keys are masked before they are kept."""
        with self._lock:
            self._pending.events.append((time.time(), kind, device_id, json.dumps(_mask_detail(detail))))
            self._maybe_flush()

    def events(
        self, kind: str | None = None, device_id: int | None = None, *, after_id: int = 0
    ) -> list[dict[str, Any]]:
        """Journal entries, oldest first (only those after the entry numbered `after_id`)."""
        return [event for _, event in self.numbered_events(kind, device_id, after_id=after_id)]

    @property
    def last_event_id(self) -> int:
        """The number of the newest journal entry (0 when there is none)."""
        return int(self._query("SELECT COALESCE(MAX(id), 0) FROM events")[0][0])

    def numbered_events(
        self, kind: str | None = None, device_id: int | None = None, *, after_id: int = 0
    ) -> list[tuple[int, dict[str, Any]]]:
        """`events` with each entry's number, for readers that page through the journal."""
        where: list[str] = ["id > ?"]
        args: list[Any] = [after_id]
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if device_id is not None:
            where.append("device_id = ?")
            args.append(device_id)
        sql = "SELECT * FROM events WHERE " + " AND ".join(where) + " ORDER BY id"
        rows = self._query(sql, tuple(args))
        return [
            (int(r["id"]), {"ts": r["ts"], "kind": r["kind"], "device_id": r["device_id"], **json.loads(r["detail"])})
            for r in rows
        ]


USER_COLUMNS = "id, email, org_id, role, active"


def _user(row: sqlite3.Row) -> User:
    return User(row["id"], row["email"], row["org_id"], row["role"], bool(row["active"]))


def _device(row: sqlite3.Row) -> Device:
    return Device(
        id=row["id"],
        name=row["name"],
        template_id=row["template_id"],
        org_id=row["org_id"],
        owner_id=row["owner_id"],
        token=row["token"],
        info=json.loads(row["info"]),
    )


def _issued(row: sqlite3.Row) -> IssuedToken:
    return IssuedToken(
        token=row["token"],
        template_id=row["template_id"],
        user_id=row["user_id"],
        org_id=row["org_id"],
        device_id=row["device_id"],
        issued_at=row["issued_at"],
        expires_at=row["expires_at"],
        activated_at=row["activated_at"],
        revoked_at=row["revoked_at"],
        kind=TokenKind(row["kind"]),
        revoked_reason=row["revoked_reason"],
    )
