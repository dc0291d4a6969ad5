"""Invitations and OAuth2 clients as the store keeps them (the rules are `cloud/invitations.py`)."""

from __future__ import annotations

import secrets
import time

from provlab.cloud.passwords import check_password, hash_password
from provlab.cloud.store.database import Database

INVITATION_TOKEN_BYTES = 24


class InvitationRepository:
    """Invitation rows (an inactive user plus a one-time link token) and OAuth2 client rows."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def create(self, email: str, org_id: int, role: str, invited_by: int) -> tuple[int, str]:
        """An inactive user (with an unguessable password) and its link token: (user id, token)."""
        token = secrets.token_urlsafe(INVITATION_TOKEN_BYTES)
        now = time.time()
        with self._database.transaction() as db:
            cur = db.execute(
                "INSERT INTO users (email, password_hash, org_id, role, active) VALUES (?, ?, ?, ?, 0) RETURNING id",
                (email, hash_password(secrets.token_urlsafe(16)), org_id, role),
            )
            user_id = int(cur.fetchone()[0])
            db.execute(
                "INSERT INTO invitations (token, user_id, invited_by, created_at) VALUES (?, ?, ?, ?)",
                (token, user_id, invited_by, now),
            )
        return user_id, token

    def withdraw(self, token: str) -> None:
        """Forget an unused invitation and its (still inactive) user; nothing if there is none."""
        rows = self._database.query("SELECT user_id FROM invitations WHERE token = ? AND used_at IS NULL", (token,))
        if not rows:
            return
        with self._database.transaction() as db:
            db.execute("DELETE FROM invitations WHERE token = ?", (token,))
            db.execute("DELETE FROM users WHERE id = ? AND active = 0", (rows[0]["user_id"],))

    def accept(self, token: str, password: str) -> int | None:
        """Spend the link token: the invitee gets `password` and is active. Returns the user id, or None
        when the token was never issued or is spent."""
        rows = self._database.query("SELECT user_id, used_at FROM invitations WHERE token = ?", (token,))
        if not rows or rows[0]["used_at"] is not None:
            return None
        user_id = int(rows[0]["user_id"])
        with self._database.transaction() as db:
            db.execute("UPDATE invitations SET used_at = ? WHERE token = ?", (time.time(), token))
            db.execute(
                "UPDATE users SET password_hash = ?, active = 1 WHERE id = ?", (hash_password(password), user_id)
            )
        return user_id

    def create_client(self, owner_id: int) -> tuple[str, str]:
        """A new OAuth2 client acting for `owner_id`: (client_id, client_secret)."""
        client_id = "provlab-" + secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        with self._database.transaction() as db:
            db.execute(
                "INSERT INTO oauth_clients (client_id, secret_hash, user_id, created_at) VALUES (?, ?, ?, ?)",
                (client_id, hash_password(secret), owner_id, time.time()),
            )
        return client_id, secret

    def client_owner(self, client_id: str, secret: str) -> int | None:
        """The user a client acts for, or None when the id is unknown, the client revoked or the secret wrong."""
        rows = self._database.query(
            "SELECT secret_hash, user_id FROM oauth_clients WHERE client_id = ? AND revoked_at IS NULL", (client_id,)
        )
        if not rows or not check_password(secret, rows[0]["secret_hash"]):
            return None
        return int(rows[0]["user_id"])

    def client_owner_id(self, client_id: str) -> int | None:
        """The user a live (not revoked) client acts for, without its secret; None when unknown or revoked."""
        rows = self._database.query(
            "SELECT user_id FROM oauth_clients WHERE client_id = ? AND revoked_at IS NULL", (client_id,)
        )
        return int(rows[0]["user_id"]) if rows else None

    def revoke_client(self, client_id: str, now: float) -> None:
        """The client mints no more bearers (the ones it minted end in `store.sessions`)."""
        with self._database.transaction() as db:
            db.execute("UPDATE oauth_clients SET revoked_at = ? WHERE client_id = ?", (now, client_id))
