"""Access control of the cloud stub: what a user may see and do in the org tree, and transfers.

Every user-facing API call goes through `Access`: it applies the model of `tenancy.py` (scope = own org
and below; `SWITCH_TO_SUBORGS` to act below; 403 for a missing permission, 404 for anything out of
sight) and carries out transfers with Blynk's rules and errors (C13).
"""

from __future__ import annotations

from collections.abc import Callable

from provlab.cloud import role_guard
from provlab.cloud.records import Device, Org, User
from provlab.cloud.store import Store
from provlab.cloud.tenancy import OrgTree, Permission, Role, TenancyError, not_found

SAME_OWNER = "Can't transfer to the same owner"


class Access:
    """Permission and scope checks, and the actions that need them."""

    def __init__(self, store: Store, tree: OrgTree | None = None) -> None:
        self.store = store
        self.tree = tree or OrgTree(store)
        self.on_device_moved: Callable[[Device], None] | None = None  # the stub updates live sessions

    # --- checks -----------------------------------------------------------------------------------
    def permissions(self, user: User) -> frozenset[Permission]:
        """The user's role in their org's matrix; for an OAuth2 bearer (`acting_for`), at most what the
        client's owner holds now (nothing once the owner is gone or no longer an Admin)."""
        have = self.tree.permissions(user.org_id, user.role)
        if user.acting_for is None:
            return have
        owner = self.store.users.get(user.acting_for)
        if owner is None or not owner.active or owner.role != Role.ADMIN.value:
            return frozenset()
        return have & self.tree.permissions(owner.org_id, owner.role)

    def can_manage(self, actor: User, user: User) -> bool:
        """The actor may change `user` (edit or delete in their org) and holds every permission `user` has."""
        if not (self.can(actor, Permission.EDIT_USERS) or self.can(actor, Permission.DELETE_USERS)):
            return False
        if user.org_id != actor.org_id and not self.can(actor, Permission.SWITCH_TO_SUBORGS):
            return False
        return self.tree.permissions(user.org_id, user.role) <= self.permissions(actor)

    def require_no_way_up(self, actor: User, org_id: int, role: Role | None, user: User | None = None) -> None:
        """403 unless the actor holds every permission of `role` in `org_id` (and of `user`'s current role):
        nobody grants, or takes from someone, more than they have themselves."""
        have = self.permissions(actor)
        wanted = self.tree.permissions(org_id, role.value) if role is not None else frozenset()
        if user is not None:
            wanted |= self.tree.permissions(user.org_id, user.role)
        beyond = sorted(p.value for p in wanted - have)
        if beyond:
            raise TenancyError(
                403,
                f"{actor.email} lacks {', '.join(beyond)}, which that role change or deletion would grant or "
                "take away; nobody grants or takes more than they hold.",
            )

    def can(self, user: User, permission: Permission) -> bool:
        return permission in self.permissions(user)

    def require(self, user: User, *permissions: Permission) -> None:
        have = self.permissions(user)
        missing = [p.value for p in permissions if p not in have]
        if missing:
            raise TenancyError(403, f"{user.email} ({user.role}) lacks {', '.join(missing)}.")

    def visible_orgs(self, user: User) -> list[int]:
        return self.tree.subtree(user.org_id)

    def sees_org(self, user: User, org_id: int) -> bool:
        return org_id in self.visible_orgs(user)

    def org_to_read(self, user: User, org_id: int, *permissions: Permission) -> Org:
        """The org, when it is in the user's subtree and the user has `permissions`."""
        if not self.sees_org(user, org_id):
            raise not_found(f"Organization {org_id}")
        self.require(user, *permissions)
        return self.tree.org_or_404(org_id)

    def org_to_act_in(self, user: User, org_id: int, *permissions: Permission) -> Org:
        """`org_to_read`, plus SWITCH_TO_SUBORGS when the org is below the user's own."""
        org = self.org_to_read(user, org_id, *permissions)
        if org_id != user.org_id:
            self.require(user, Permission.SWITCH_TO_SUBORGS)
        return org

    def visible_devices(self, user: User, org_id: int | None = None) -> list[Device]:
        orgs = self.visible_orgs(user) if org_id is None else self.tree.subtree(org_id)
        if self.can(user, Permission.VIEW_ORG_DEVICES):
            return self.store.devices.in_orgs(orgs)
        if self.can(user, Permission.VIEW_OWN_DEVICES):
            return [d for d in self.store.devices.in_orgs(orgs) if d.owner_id == user.id]
        raise TenancyError(403, f"{user.email} ({user.role}) lacks VIEW_OWN_DEVICES.")

    def device(self, user: User, device_id: int) -> Device:
        device = self.store.devices.get(device_id)
        if device is None or device.org_id not in self.visible_orgs(user):
            raise not_found(f"Device {device_id}")
        if device.owner_id == user.id and self.can(user, Permission.VIEW_OWN_DEVICES):
            return device
        if not self.can(user, Permission.VIEW_ORG_DEVICES):
            raise not_found(f"Device {device_id}")
        return device

    def user_in_sight(self, actor: User, user_id: int) -> User:
        user = self.store.users.get(user_id)
        if user is None or not self.sees_org(actor, user.org_id):
            raise not_found(f"User {user_id}")
        return user

    # --- provisioning (C14) ------------------------------------------------------------------------
    def provisioning_org(self, user: User, template_id: str, org_id: int | None) -> int:
        """Where a token issued by `user` puts the device; refuses what C14 refuses."""
        target = user.org_id if org_id is None else org_id
        self.org_to_act_in(user, target, Permission.PROVISION_DEVICES)
        if self.store.templates.get(template_id) is None:
            raise not_found(f"Template {template_id}")
        if not self.tree.template_enabled(target, template_id):
            raise TenancyError(400, f"Template {template_id} is not enabled in organization {target}.")
        return target

    # --- transfers (C13) ---------------------------------------------------------------------------
    def transfer_device(
        self, actor: User, device_id: int, *, org_id: int | None = None, user_id: int | None = None
    ) -> Device:
        """Move a device to a user (into that user's org) or to an org (no owner). Its token and live
        session stay."""
        self.require(actor, Permission.TRANSFER_DEVICES)
        device = self.device(actor, device_id)
        if user_id is not None:
            owner = self.user_in_sight(actor, user_id)
            target, owner_id = owner.org_id, owner.id
            if owner.id == device.owner_id:
                raise TenancyError(400, SAME_OWNER)
            if not owner.active:
                raise TenancyError(400, f"User {owner.email} is not active.")
        elif org_id is not None:
            if not self.sees_org(actor, org_id):
                raise not_found(f"Organization {org_id}")
            target, owner_id = org_id, None
            if org_id == device.org_id and device.owner_id is None:
                raise TenancyError(400, SAME_OWNER)
        else:
            raise TenancyError(400, "Request with incorrect parameters")
        self.org_to_act_in(actor, target)
        if not self.tree.template_enabled(target, device.template_id):
            raise TenancyError(400, f"Template {device.template_id} is not enabled in organization {target}.")
        moved = self.store.devices.transfer(device_id, target, owner_id)
        if self.on_device_moved is not None:
            self.on_device_moved(moved)
        self.store.events.add(
            "device_transferred",
            device_id,
            {"by": actor.email, "from_org": device.org_id, "to_org": target, "owner_id": owner_id},
        )
        return moved

    def transfer_user(self, actor: User, user_id: int, org_id: int, admin_email: str) -> User:
        """Move a user to another org; the caller names an admin of the destination (Blynk asks for it)."""
        self.require(actor, Permission.TRANSFER_USERS)
        user = self.user_in_sight(actor, user_id)
        if user.id == actor.id:
            raise TenancyError(400, "You can't transfer yourself.")
        self.org_to_act_in(actor, org_id)
        if user.org_id == org_id:
            raise TenancyError(400, SAME_OWNER)
        role_guard.check_user_change(self.tree, user, None)
        admin = self.store.users.by_email(admin_email)
        if admin is None or admin.org_id != org_id or admin.role != Role.ADMIN.value:
            raise not_found(f"Admin {admin_email} of organization {org_id}")
        moved = self.tree.move_user(user_id, org_id)
        self.store.events.add(
            "user_transferred", None, {"by": actor.email, "user": user.email, "from_org": user.org_id, "to_org": org_id}
        )
        return moved

    def transfer_org(self, actor: User, org_id: int, parent_id: int) -> Org:
        """Move a sub-org (with everything below it) under another org in the actor's sight."""
        self.require(actor, Permission.TRANSFER_ORGS)
        if org_id == actor.org_id or not self.sees_org(actor, org_id):
            raise not_found(f"Organization {org_id}")
        self.org_to_act_in(actor, org_id)
        self.org_to_act_in(actor, parent_id)
        return self.tree.move_org(org_id, parent_id)

    # --- users and tokens ---------------------------------------------------------------------------
    def edit_user(self, actor: User, user_id: int, role: Role) -> User:
        """Change a user's role (EDIT_USERS; below the own org also SWITCH_TO_SUBORGS)."""
        user = self.user_in_sight(actor, user_id)
        self.org_to_act_in(actor, user.org_id, Permission.EDIT_USERS)
        if user.id == actor.id:
            raise TenancyError(400, "You can't change your own role.")
        self.require_no_way_up(actor, user.org_id, role, user)
        role_guard.check_user_change(self.tree, user, role.value)
        moved = self.tree.move_user(user.id, user.org_id, role)
        self.store.events.add("user_edited", None, {"by": actor.email, "user": user.email, "role": role.value})
        return moved

    def delete_user(self, actor: User, user_id: int) -> User:
        """Delete = deactivate: the account can no longer log in, its sessions end; devices and tokens
        keep their owner reference (an inactive owner cannot receive transfers)."""
        user = self.user_in_sight(actor, user_id)
        self.org_to_act_in(actor, user.org_id, Permission.DELETE_USERS)
        if user.id == actor.id:
            raise TenancyError(400, "You can't delete yourself.")
        self.require_no_way_up(actor, user.org_id, None, user)
        role_guard.check_user_change(self.tree, user, None)
        self.store.users.deactivate(user.id)
        self.store.events.add("user_deleted", None, {"by": actor.email, "user": user.email})
        found = self.store.users.get(user.id)
        assert found is not None
        return found

    def device_to_edit_token(self, actor: User, device_id: int) -> Device:
        """The device, when the actor may replace its auth token (EDIT_AUTH_TOKENS)."""
        device = self.device(actor, device_id)
        self.org_to_act_in(actor, device.org_id, Permission.EDIT_AUTH_TOKENS)
        return device
