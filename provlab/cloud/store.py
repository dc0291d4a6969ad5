"""The cloud stub's store: SQLite (WAL) with schema migrations kept in code."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TOKEN_BYTES = 24  # 24 random bytes -> 32 URL-safe characters, the length Edgent requires
DEFAULT_TOKEN_TTL_S = 7 * 24 * 3600  # legacy server: temporary tokens live 7 days (C1)

MIGRATIONS: tuple[str, ...] = (
    # 1: the foundation schema
    """
    CREATE TABLE orgs (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        parent_id INTEGER REFERENCES orgs(id)
    );
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        email TEXT NOT NULL UNIQUE COLLATE NOCASE,
        password_hash TEXT NOT NULL,
        org_id INTEGER NOT NULL REFERENCES orgs(id),
        role TEXT NOT NULL DEFAULT 'Admin'
    );
    CREATE TABLE sessions (
        key TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users(id),
        created_at REAL NOT NULL
    );
    CREATE TABLE templates (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        org_id INTEGER NOT NULL REFERENCES orgs(id)
    );
    CREATE TABLE devices (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        template_id TEXT NOT NULL REFERENCES templates(id),
        org_id INTEGER NOT NULL REFERENCES orgs(id),
        owner_id INTEGER REFERENCES users(id),
        token TEXT UNIQUE,
        created_at REAL NOT NULL,
        last_login_at REAL,
        info TEXT NOT NULL DEFAULT '{}',
        meta TEXT NOT NULL DEFAULT '{}'
    );
    CREATE TABLE tokens (
        token TEXT PRIMARY KEY,
        template_id TEXT NOT NULL REFERENCES templates(id),
        user_id INTEGER NOT NULL REFERENCES users(id),
        org_id INTEGER NOT NULL REFERENCES orgs(id),
        device_id INTEGER REFERENCES devices(id),
        issued_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        activated_at REAL,
        revoked_at REAL
    );
    CREATE TABLE pin_values (
        device_id INTEGER NOT NULL REFERENCES devices(id),
        pin TEXT NOT NULL,
        value TEXT NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (device_id, pin)
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        ts REAL NOT NULL,
        kind TEXT NOT NULL,
        device_id INTEGER,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    """,
)


class StoreError(Exception):
    """A request the store refuses (unknown template, bad credentials, …)."""


@dataclass(frozen=True)
class User:
    id: int
    email: str
    org_id: int
    role: str


@dataclass(frozen=True)
class Device:
    id: int
    name: str
    template_id: str
    org_id: int
    owner_id: int | None
    token: str | None
    info: dict[str, str]


@dataclass(frozen=True)
class IssuedToken:
    token: str
    template_id: str
    user_id: int
    org_id: int
    device_id: int | None
    issued_at: float
    expires_at: float
    activated_at: float | None
    revoked_at: float | None

    @property
    def activated(self) -> bool:
        return self.activated_at is not None


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**12, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    _, salt_hex, _ = stored.split("$")
    return hmac.compare_digest(hash_password(password, bytes.fromhex(salt_hex)), stored)


class Store:
    """All cloud state in one SQLite file; safe to use from several threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._db.execute(sql, args))

    def _migrate(self) -> None:
        with self._lock:
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                self._db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")

    @property
    def schema_version(self) -> int:
        return int(self._query("PRAGMA user_version")[0][0])

    # --- tenancy (the foundation keeps it flat; the tenancy issue grows it) ---------------------
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

    def create_template(self, template_id: str, name: str, org_id: int) -> None:
        if not template_id.startswith("TMPL"):
            raise StoreError(f"template id must start with 'TMPL', got {template_id!r}")
        with self._tx() as db:
            db.execute(
                "INSERT INTO templates (id, name, org_id) VALUES (?, ?, ?)", (template_id, name, org_id)
            )

    def template_name(self, template_id: str) -> str | None:
        rows = self._query("SELECT name FROM templates WHERE id = ?", (template_id,))
        return str(rows[0]["name"]) if rows else None

    def user_by_email(self, email: str) -> User | None:
        rows = self._query("SELECT id, email, org_id, role FROM users WHERE email = ?", (email,))
        return User(**dict(rows[0])) if rows else None

    def login(self, email: str, password: str) -> str:
        rows = self._query("SELECT id, password_hash FROM users WHERE email = ?", (email,))
        if not rows or not check_password(password, rows[0]["password_hash"]):
            raise StoreError("wrong e-mail or password")
        key = secrets.token_urlsafe(32)
        with self._tx() as db:
            db.execute(
                "INSERT INTO sessions (key, user_id, created_at) VALUES (?, ?, ?)",
                (key, rows[0]["id"], time.time()),
            )
        return key

    def user_for_session(self, key: str) -> User | None:
        rows = self._query(
            "SELECT u.id, u.email, u.org_id, u.role FROM sessions s JOIN users u ON u.id = s.user_id "
            "WHERE s.key = ?",
            (key,),
        )
        return User(**dict(rows[0])) if rows else None

    # --- tokens ----------------------------------------------------------------------------------
    def issue_token(self, user: User, template_id: str, ttl_s: float = DEFAULT_TOKEN_TTL_S) -> IssuedToken:
        """A fresh dynamic token, unactivated, for a device of `template_id` owned by `user`."""
        if self.template_name(template_id) is None:
            raise StoreError(f"no template {template_id!r} in this cloud")
        now = time.time()
        with self._tx() as db:
            while True:
                token = secrets.token_urlsafe(TOKEN_BYTES)
                if not db.execute("SELECT 1 FROM tokens WHERE token = ?", (token,)).fetchone():
                    break
            db.execute(
                "INSERT INTO tokens (token, template_id, user_id, org_id, issued_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (token, template_id, user.id, user.org_id, now, now + ttl_s),
            )
        self.add_event("token_issued", None, {"token": token, "template_id": template_id, "user": user.email})
        found = self.token(token)
        assert found is not None
        return found

    def token(self, token: str) -> IssuedToken | None:
        rows = self._query("SELECT * FROM tokens WHERE token = ?", (token,))
        return IssuedToken(**dict(rows[0])) if rows else None

    def authenticate_device(self, token: str) -> Device | None:
        """The device a login with `token` is for, activating a dynamic token on first use."""
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT * FROM devices WHERE token = ?", (token,)).fetchone()
            if row is not None:
                db.execute("UPDATE devices SET last_login_at = ? WHERE id = ?", (now, row["id"]))
                return _device(row)
            issued = db.execute("SELECT * FROM tokens WHERE token = ?", (token,)).fetchone()
            if issued is None or issued["revoked_at"] is not None:
                return None
            if issued["activated_at"] is None and issued["expires_at"] < now:
                return None
            name = db.execute("SELECT name FROM templates WHERE id = ?", (issued["template_id"],)).fetchone()
            cur = db.execute(
                "INSERT INTO devices (name, template_id, org_id, owner_id, token, created_at, last_login_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name["name"], issued["template_id"], issued["org_id"], issued["user_id"], token, now, now),
            )
            device_id = int(cur.lastrowid or 0)
            db.execute(
                "UPDATE tokens SET activated_at = ?, device_id = ? WHERE token = ?", (now, device_id, token)
            )
            row = db.execute("SELECT * FROM devices WHERE id = ?", (device_id,)).fetchone()
        self.add_event("token_activated", device_id, {"token": token})
        return _device(row)

    def device(self, device_id: int) -> Device | None:
        rows = self._query("SELECT * FROM devices WHERE id = ?", (device_id,))
        return _device(rows[0]) if rows else None

    def devices(self) -> list[Device]:
        return [_device(r) for r in self._query("SELECT * FROM devices ORDER BY id")]

    def set_device_info(self, device_id: int, info: dict[str, str]) -> None:
        with self._tx() as db:
            db.execute("UPDATE devices SET info = ? WHERE id = ?", (json.dumps(info), device_id))

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
        with self._tx() as db:
            db.execute(
                "INSERT INTO pin_values (device_id, pin, value, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (device_id, pin) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at",
                (device_id, pin, value, time.time()),
            )

    def read_pin(self, device_id: int, pin: str) -> str | None:
        rows = self._query("SELECT value FROM pin_values WHERE device_id = ? AND pin = ?", (device_id, pin))
        return str(rows[0]["value"]) if rows else None

    # --- events ----------------------------------------------------------------------------------
    def add_event(self, kind: str, device_id: int | None, detail: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO events (ts, kind, device_id, detail) VALUES (?, ?, ?, ?)",
                (time.time(), kind, device_id, json.dumps(detail)),
            )

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM events" + (" WHERE kind = ?" if kind else "") + " ORDER BY id"
        rows = self._query(sql, (kind,) if kind else ())
        return [
            {"ts": r["ts"], "kind": r["kind"], "device_id": r["device_id"], **json.loads(r["detail"])}
            for r in rows
        ]


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
