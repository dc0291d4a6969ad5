"""Users and their sessions as the store keeps them (who may see or change a user is `cloud/access.py`)."""

from __future__ import annotations

from collections.abc import Iterable

from provlab.cloud.passwords import check_password, hash_password
from provlab.cloud.records import User
from provlab.cloud.store.database import Database
from provlab.cloud.store.errors import StoreError
from provlab.cloud.store.rows import USER_COLUMNS, user_from_row


class UserRepository:
    """User rows, password logins and session keys (bearers)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def create(self, email: str, password: str, org_id: int, role: str = "Admin") -> User:
        with self._database.transaction() as db:
            cur = db.execute(
                "INSERT INTO users (email, password_hash, org_id, role) VALUES (?, ?, ?, ?) RETURNING id",
                (email, hash_password(password), org_id, role),
            )
            return User(int(cur.fetchone()[0]), email, org_id, role)

    def get(self, user_id: int) -> User | None:
        rows = self._database.query(f"SELECT {USER_COLUMNS} FROM users WHERE id = ?", (user_id,))
        return user_from_row(rows[0]) if rows else None

    def by_email(self, email: str) -> User | None:
        rows = self._database.query(f"SELECT {USER_COLUMNS} FROM users WHERE email = ?", (email,))
        return user_from_row(rows[0]) if rows else None

    def in_orgs(self, org_ids: Iterable[int]) -> list[User]:
        ids = sorted(set(org_ids))
        marks = ",".join("?" * len(ids)) or "NULL"
        rows = self._database.query(
            f"SELECT {USER_COLUMNS} FROM users WHERE org_id IN ({marks}) ORDER BY id", tuple(ids)
        )
        return [user_from_row(r) for r in rows]

    def move(self, user_id: int, org_id: int, role: str | None = None) -> None:
        """Put the user into `org_id`, with a new role when one is given."""
        with self._database.transaction() as db:
            if role is None:
                db.execute("UPDATE users SET org_id = ? WHERE id = ?", (org_id, user_id))
            else:
                db.execute("UPDATE users SET org_id = ?, role = ? WHERE id = ?", (org_id, role, user_id))

    def deactivate(self, user_id: int) -> None:
        """The user can no longer log in; their sessions and every bearer their OAuth2 clients minted end; the row
        (and the e-mail) stays."""
        with self._database.transaction() as db:
            db.execute("UPDATE users SET active = 0 WHERE id = ?", (user_id,))
            db.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
            # and every bearer the user's OAuth2 clients minted, for whomever
            db.execute(
                "DELETE FROM sessions WHERE client_id IN (SELECT client_id FROM oauth_clients WHERE user_id = ?)",
                (user_id,),
            )
            # and the refresh tokens: those for the user, and those of the user's clients
            db.execute(
                "DELETE FROM oauth_refresh_tokens WHERE user_id = ? "
                "OR client_id IN (SELECT client_id FROM oauth_clients WHERE user_id = ?)",
                (user_id, user_id),
            )

    def check_login(self, email: str, password: str) -> int:
        """The user id for a right e-mail and password, or StoreError on a wrong e-mail or password (or an
        invited user who has not set a password yet). Sessions are `store.sessions`."""
        rows = self._database.query("SELECT id, password_hash, active FROM users WHERE email = ?", (email,))
        if not rows or not check_password(password, rows[0]["password_hash"]):
            raise StoreError("wrong e-mail or password")
        if not rows[0]["active"]:
            raise StoreError("this account is not active (invitation not accepted)")
        return int(rows[0]["id"])
