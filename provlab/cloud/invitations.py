"""Invitations and OAuth2 clients: how people and automation get into the stub.

Invitation: an inactive user row plus a one-time link token, mailed to the invitee; accepting with a
password activates the account (the token is spent). People who already have an account are never
invited (they must be transferred). OAuth2 clients belong to an Admin; their bearers (`credentials.py`)
may act as any user the owner sees (`user` field), capped by the owner's current permissions.
"""

from __future__ import annotations

from provlab.cloud.access import Access
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
        self.access.require_no_way_up(actor, org_id, role)
        if "@" not in email or len(email) > 254:
            raise TenancyError(400, f"Not an e-mail address: {email!r}.")
        if self.store.users.by_email(email) is not None:
            raise TenancyError(409, f"{email} already has an account; transfer the user instead of inviting.")
        user_id, token = self.store.invitations.create(email, org_id, role.value, actor.id)
        self.store.events.add("user_invited", None, {"by": actor.email, "user": email, "org_id": org_id})
        user = self.store.users.get(user_id)
        assert user is not None
        return user, token

    def withdraw(self, token: str) -> None:
        """Undo an invitation whose mail could not be sent (the invitee row goes too)."""
        self.store.invitations.withdraw(token)

    def accept(self, token: str, password: str) -> User:
        """Set the invitee's password with the link token; the token works once."""
        if len(password) < 6:
            raise TenancyError(400, "Password must be at least 6 characters.")
        user_id = self.store.invitations.accept(token, password)
        if user_id is None:
            raise not_found("Invitation")
        user = self.store.users.get(user_id)
        assert user is not None
        self.store.events.add("invitation_accepted", None, {"user": user.email})
        return user

    # --- OAuth2 client credentials ----------------------------------------------------------------------
    def create_client(self, owner: User) -> tuple[str, str]:
        """A new (client_id, client_secret) acting for `owner` (an Admin)."""
        if owner.role != Role.ADMIN.value:
            raise TenancyError(403, "Only an Admin can create OAuth2 clients.")
        if owner.acting_for is not None:
            raise TenancyError(403, "OAuth2 clients are created with a password session, not with an OAuth2 bearer.")
        return self.store.invitations.create_client(owner.id)
