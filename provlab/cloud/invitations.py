"""Invitations and OAuth2 clients: how people and automation get into the stub.

Invitation: an inactive user row plus a one-time link token, mailed to the invitee; accepting with a
password activates the account (the token is spent). People who already have an account are never
invited (they must be transferred). OAuth2 client credentials: a client belongs to a user; its token
request may name any user that user can see (`user` field), so automation (the phone) acts as that user.
"""

from __future__ import annotations

import secrets
import time

from provlab.cloud.access import Access
from provlab.cloud.passwords import check_password, hash_password
from provlab.cloud.records import User
from provlab.cloud.tenancy import Permission, Role, TenancyError, not_found

INVITE_PATH = "/invite"


class Invitations:
    def __init__(self, access: Access) -> None:
        self.access = access
        self.store = access.store

    def invite(self, actor: User, org_id: int, email: str, role: Role) -> tuple[User, str]:
        """Create the invitee (inactive) and its one-time link token."""
        self.access.org_to_act_in(actor, org_id, Permission.INVITE_USERS)
        if "@" not in email or len(email) > 254:
            raise TenancyError(400, f"Not an e-mail address: {email!r}.")
        if self.store.user_by_email(email) is not None:
            raise TenancyError(409, f"{email} already has an account; transfer the user instead of inviting.")
        token = secrets.token_urlsafe(24)
        now = time.time()
        with self.store.transaction() as db:
            cur = db.execute(
                "INSERT INTO users (email, password_hash, org_id, role, active) VALUES (?, ?, ?, ?, 0)",
                (email, hash_password(secrets.token_urlsafe(16)), org_id, role.value),
            )
            user_id = int(cur.lastrowid or 0)
            db.execute(
                "INSERT INTO invitations (token, user_id, invited_by, created_at) VALUES (?, ?, ?, ?)",
                (token, user_id, actor.id, now),
            )
        self.store.add_event("user_invited", None, {"by": actor.email, "user": email, "org_id": org_id})
        user = self.store.user(user_id)
        assert user is not None
        return user, token

    def withdraw(self, token: str) -> None:
        """Undo an invitation whose mail could not be sent (the invitee row goes too)."""
        rows = self.store.query("SELECT user_id FROM invitations WHERE token = ? AND used_at IS NULL", (token,))
        if not rows:
            return
        with self.store.transaction() as db:
            db.execute("DELETE FROM invitations WHERE token = ?", (token,))
            db.execute("DELETE FROM users WHERE id = ? AND active = 0", (rows[0]["user_id"],))

    def accept(self, token: str, password: str) -> User:
        """Set the invitee's password with the link token; the token works once."""
        if len(password) < 6:
            raise TenancyError(400, "Password must be at least 6 characters.")
        rows = self.store.query("SELECT user_id, used_at FROM invitations WHERE token = ?", (token,))
        if not rows or rows[0]["used_at"] is not None:
            raise not_found("Invitation")
        user_id = int(rows[0]["user_id"])
        with self.store.transaction() as db:
            db.execute("UPDATE invitations SET used_at = ? WHERE token = ?", (time.time(), token))
            db.execute(
                "UPDATE users SET password_hash = ?, active = 1 WHERE id = ?", (hash_password(password), user_id)
            )
        user = self.store.user(user_id)
        assert user is not None
        self.store.add_event("invitation_accepted", None, {"user": user.email})
        return user

    # --- OAuth2 client credentials ----------------------------------------------------------------------
    def create_client(self, owner: User) -> tuple[str, str]:
        """A new (client_id, client_secret) acting for `owner` (an Admin)."""
        if owner.role != Role.ADMIN.value:
            raise TenancyError(403, "Only an Admin can create OAuth2 clients.")
        client_id = "provlab-" + secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO oauth_clients (client_id, secret_hash, user_id, created_at) VALUES (?, ?, ?, ?)",
                (client_id, hash_password(secret), owner.id, time.time()),
            )
        return client_id, secret

    def client_token(self, client_id: str, secret: str, as_email: str | None = None) -> tuple[str, User]:
        """A bearer for the client's owner, or for `as_email` when the owner can see that user."""
        rows = self.store.query("SELECT secret_hash, user_id FROM oauth_clients WHERE client_id = ?", (client_id,))
        if not rows or not check_password(secret, rows[0]["secret_hash"]):
            raise TenancyError(401, "invalid_client")
        owner = self.store.user(int(rows[0]["user_id"]))
        if owner is None:
            raise TenancyError(401, "invalid_client")
        subject = owner
        if as_email is not None:
            found = self.store.user_by_email(as_email)
            if found is None or not self.access.sees_org(owner, found.org_id):
                raise TenancyError(400, "invalid_request: unknown user")
            if not found.active:
                raise TenancyError(400, "invalid_request: user is not active")
            subject = found
        self.store.add_event("oauth_token", None, {"client_id": client_id, "user": subject.email})
        return self.store.open_session(subject.id), subject
