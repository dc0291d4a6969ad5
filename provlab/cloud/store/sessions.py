"""Sessions (bearer keys) as the store keeps them: password sessions and OAuth2 bearers, with their expiry,
and the OAuth2 refresh tokens that mint new bearers (the rules are `cloud/credentials.py`)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from provlab.cloud.records import User
from provlab.cloud.store.database import Database
from provlab.cloud.store.rows import user_from_row


@dataclass(frozen=True)
class SessionRow:
    """One bearer key: whose it is, until when (lab time, epoch s; None = a row from an older file), and the
    OAuth2 client and its owner when a client minted it."""

    user: User
    expires_at: float | None
    client_id: str | None
    client_owner_id: int | None
    client_revoked: bool


class SessionRepository:
    """Bearer keys: open, look up, end (one, all of a user, all of a client)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def open(self, user_id: int, now: float, expires_at: float, client_id: str | None = None) -> str:
        key = secrets.token_urlsafe(32)
        with self._database.transaction() as db:
            db.execute(
                "INSERT INTO sessions (key, user_id, created_at, expires_at, client_id) VALUES (?, ?, ?, ?, ?)",
                (key, user_id, now, expires_at, client_id),
            )
        return key

    def get(self, key: str) -> SessionRow | None:
        rows = self._database.query_unbuffered(
            "SELECT u.id, u.email, u.org_id, u.role, u.active, s.expires_at, s.client_id, "
            "c.user_id AS owner_id, c.revoked_at FROM sessions s JOIN users u ON u.id = s.user_id "
            "LEFT JOIN oauth_clients c ON c.client_id = s.client_id WHERE s.key = ?",
            (key,),
        )
        if not rows:
            return None
        row = rows[0]
        return SessionRow(
            user_from_row(row),
            row["expires_at"],
            row["client_id"],
            row["owner_id"],
            row["revoked_at"] is not None,
        )

    def by_client(self) -> dict[str | None, int]:
        """How many bearer keys each OAuth2 client holds now; under None, the password sessions."""
        rows = self._database.query_unbuffered("SELECT client_id, COUNT(*) AS n FROM sessions GROUP BY client_id")
        return {row["client_id"]: int(row["n"]) for row in rows}

    def end(self, key: str) -> bool:
        """Forget the key; True when it existed."""
        with self._database.transaction() as db:
            return db.execute("DELETE FROM sessions WHERE key = ?", (key,)).rowcount > 0

    def end_for_client(self, client_id: str) -> int:
        """Forget every bearer the client minted; how many there were."""
        with self._database.transaction() as db:
            return db.execute("DELETE FROM sessions WHERE client_id = ?", (client_id,)).rowcount

    def end_expired(self, now: float) -> int:
        """Forget the keys whose time is up (and rows without an expiry)."""
        with self._database.transaction() as db:
            return db.execute("DELETE FROM sessions WHERE expires_at IS NULL OR expires_at <= ?", (now,)).rowcount


@dataclass(frozen=True)
class RefreshRow:
    """A refresh token taken for use: the user its bearers act as, and until when it was good (epoch s)."""

    user_id: int
    expires_at: float


class RefreshTokenRepository:
    """OAuth2 refresh tokens: issue, take (once: a taken token is gone), end (one, all of a client)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def issue(self, client_id: str, user_id: int, now: float, expires_at: float) -> str:
        token = secrets.token_urlsafe(32)
        with self._database.transaction() as db:
            db.execute(
                "INSERT INTO oauth_refresh_tokens (token, client_id, user_id, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (token, client_id, user_id, now, expires_at),
            )
        return token

    def take(self, token: str, client_id: str) -> RefreshRow | None:
        """The token's row, deleted in the same transaction (single use); None when the client holds no such
        token (unknown, used, revoked, or another client's: that client keeps it)."""
        with self._database.transaction() as db:
            rows = db.execute(
                "SELECT user_id, expires_at FROM oauth_refresh_tokens WHERE token = ? AND client_id = ?",
                (token, client_id),
            ).fetchall()
            if not rows:
                return None
            db.execute("DELETE FROM oauth_refresh_tokens WHERE token = ?", (token,))
        return RefreshRow(int(rows[0]["user_id"]), float(rows[0]["expires_at"]))

    def end(self, token: str, client_id: str) -> bool:
        """Forget one of the client's refresh tokens; True when it existed."""
        with self._database.transaction() as db:
            sql = "DELETE FROM oauth_refresh_tokens WHERE token = ? AND client_id = ?"
            return db.execute(sql, (token, client_id)).rowcount > 0

    def end_for_client(self, client_id: str) -> int:
        """Forget every refresh token of the client; how many there were."""
        with self._database.transaction() as db:
            return db.execute("DELETE FROM oauth_refresh_tokens WHERE client_id = ?", (client_id,)).rowcount

    def end_expired(self, before: float) -> int:
        """Forget the refresh tokens that expired before `before`; how many there were."""
        with self._database.transaction() as db:
            return db.execute("DELETE FROM oauth_refresh_tokens WHERE expires_at <= ?", (before,)).rowcount
