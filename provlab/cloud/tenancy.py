"""Tenancy of the cloud stub: the organization tree, roles, per-org permission matrices, enabled templates.

The model (the public Blynk docs leave parts of it open; these are the stub's rules):

- **Org tree.** Orgs form a tree; a root org is level 1 and no org is deeper than `MAX_DEPTH` (4). Names
  are unique across the cloud (case-insensitive), 1..80 characters of letters, digits, space and `.-'`.
  An org may create sub-organizations only while its `can_create_suborgs` flag is set.
- **Users.** A user belongs to exactly one org and has one role of the tree-wide role set (`Role`).
- **Permission matrix per org.** Each org keeps its own role -> permissions matrix. An org without stored
  rows uses `DEFAULT_MATRIX`. *Copy-on-create*: a new sub-org starts with a copy of its parent's matrix as
  it is at that moment; later edits of the parent do not flow down, except an edit made with "apply to
  sub-organizations: overwrite", which replaces the matrices of every org below the edited one.
- **Whose matrix.** A user's permissions come from the matrix of the user's *own* org for the user's
  role, also while the user acts in an org below (the sub-org's matrix governs that sub-org's users).
- **Scope.** A user sees their org and every org below it; ancestors, siblings and unrelated orgs are
  invisible (404, never 403, so that nothing leaks). Reading (`VIEW_*`) covers the whole visible subtree;
  acting in an org below the user's own (provisioning into it, inviting into it, changing its settings
  or roles, moving things into it) needs `SWITCH_TO_SUBORGS` as well (C14). A missing permission is 403.
- **Devices.** `VIEW_ORG_DEVICES` shows every device of the visible orgs; with only `VIEW_OWN_DEVICES` a
  user sees the devices they own.
- **Templates** are created only in a root org. A template can be used (provisioning, transfers) in its
  root org and in a sub-org only after it was enabled there (C13); a sub-org can enable only a template
  its parent has (enablement is inherited downwards only).
- **Root lockout.** No change may leave an org without a role able to manage roles (`role_guard.py`, 409).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from provlab.cloud.records import Org, Template, User
from provlab.cloud.store import Store, StoreError

MAX_DEPTH = 4
MAX_NAME_LENGTH = 80
NAME_EXTRA_CHARACTERS = " .-'"


class Role(str, Enum):
    """The one role set of the whole tree."""

    ADMIN = "Admin"
    STAFF = "Staff"
    USER = "User"


class Permission(str, Enum):
    VIEW_USERS = "VIEW_USERS"
    INVITE_USERS = "INVITE_USERS"
    EDIT_USERS = "EDIT_USERS"
    DELETE_USERS = "DELETE_USERS"
    TRANSFER_USERS = "TRANSFER_USERS"
    VIEW_OWN_DEVICES = "VIEW_OWN_DEVICES"
    VIEW_ORG_DEVICES = "VIEW_ORG_DEVICES"
    PROVISION_DEVICES = "PROVISION_DEVICES"
    TRANSFER_DEVICES = "TRANSFER_DEVICES"
    EDIT_AUTH_TOKENS = "EDIT_AUTH_TOKENS"
    VIEW_TEMPLATES = "VIEW_TEMPLATES"
    ACCESS_ORG_SETTINGS = "ACCESS_ORG_SETTINGS"
    SWITCH_TO_SUBORGS = "SWITCH_TO_SUBORGS"
    TRANSFER_ORGS = "TRANSFER_ORGS"
    VIEW_ROLES = "VIEW_ROLES"
    EDIT_ROLES = "EDIT_ROLES"


P = Permission
DEFAULT_MATRIX: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.STAFF: frozenset(
        {
            P.VIEW_USERS,
            P.INVITE_USERS,
            P.VIEW_OWN_DEVICES,
            P.VIEW_ORG_DEVICES,
            P.PROVISION_DEVICES,
            P.VIEW_TEMPLATES,
            P.SWITCH_TO_SUBORGS,
            P.VIEW_ROLES,
        }
    ),
    Role.USER: frozenset({P.VIEW_OWN_DEVICES, P.PROVISION_DEVICES}),
}


class TenancyError(StoreError):
    """A refused tenancy request, with the HTTP status the REST API answers."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def not_found(what: str) -> TenancyError:
    return TenancyError(404, f"{what} not found.")


def check_org_name(name: str) -> None:
    if not 1 <= len(name) <= MAX_NAME_LENGTH or name.strip() != name:
        raise TenancyError(400, f"Organization name must be 1..{MAX_NAME_LENGTH} characters, got {len(name)}.")
    bad = sorted({c for c in name if not (c.isalnum() or c in NAME_EXTRA_CHARACTERS)})
    if bad:
        raise TenancyError(400, f"Organization name may hold letters, digits, space and .-' only; got {bad}.")


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        raise TenancyError(400, f"Unknown role {text!r}; roles are {[r.value for r in Role]}.") from None


def parse_permissions(texts: Iterable[str]) -> frozenset[Permission]:
    try:
        return frozenset(Permission(t) for t in texts)
    except ValueError as exc:
        raise TenancyError(400, f"Unknown permission: {exc}.") from None


class OrgTree:
    """Orgs, their matrices and enabled templates, on top of the store (no permission checks here)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # --- orgs ---------------------------------------------------------------------------------------
    def org(self, org_id: int) -> Org | None:
        return self.store.orgs.get(org_id)

    def org_or_404(self, org_id: int) -> Org:
        org = self.org(org_id)
        if org is None:
            raise not_found(f"Organization {org_id}")
        return org

    def org_by_name(self, name: str) -> Org | None:
        return self.store.orgs.by_name(name)

    def parents(self) -> dict[int, int | None]:
        return self.store.orgs.parents()

    def chain(self, org_id: int) -> list[int]:
        """The org and its ancestors, the org first, the root last."""
        parents = self.parents()
        out = [org_id]
        while (parent := parents.get(out[-1])) is not None:
            out.append(parent)
        return out

    def depth(self, org_id: int) -> int:
        return len(self.chain(org_id))

    def root_of(self, org_id: int) -> int:
        return self.chain(org_id)[-1]

    def subtree(self, org_id: int) -> list[int]:
        """The org and every org below it."""
        children: dict[int, list[int]] = {}
        for child, parent in self.parents().items():
            if parent is not None:
                children.setdefault(parent, []).append(child)
        out, todo = [], [org_id]
        while todo:
            current = todo.pop()
            out.append(current)
            todo += children.get(current, [])
        return out

    def subtree_height(self, org_id: int) -> int:
        """Levels in the subtree rooted at `org_id` (1 for a leaf)."""
        return max(self.depth(o) for o in self.subtree(org_id)) - self.depth(org_id) + 1

    def create_org(self, name: str, parent_id: int | None, can_create_suborgs: bool = True) -> Org:
        check_org_name(name)
        if self.org_by_name(name) is not None:
            raise TenancyError(400, f"Organization name {name!r} is already taken.")
        matrix: dict[Role, frozenset[Permission]] = dict(DEFAULT_MATRIX)
        if parent_id is not None:
            parent = self.org_or_404(parent_id)
            if not parent.can_create_suborgs:
                raise TenancyError(400, f"Organization {parent.name!r} cannot create sub-organizations.")
            if self.depth(parent_id) + 1 > MAX_DEPTH:
                raise TenancyError(
                    400,
                    f"Organization tree is limited to {MAX_DEPTH} levels; {parent.name!r} is at level "
                    f"{self.depth(parent_id)}.",
                )
            matrix = self.matrix(parent_id)
        org_id = self.store.orgs.create(
            name, parent_id, can_create_suborgs=can_create_suborgs, matrix=_matrix_rows(matrix)
        )
        self.store.events.add("org_created", None, {"org_id": org_id, "name": name, "parent_id": parent_id})
        return self.org_or_404(org_id)

    def set_can_create_suborgs(self, org_id: int, value: bool) -> None:
        self.store.orgs.set_can_create_suborgs(org_id, value)

    def move_org(self, org_id: int, parent_id: int) -> Org:
        org = self.org_or_404(org_id)
        if org.parent_id is None:
            raise TenancyError(400, "A root organization cannot be moved.")
        if parent_id in self.subtree(org_id):
            raise TenancyError(400, "An organization cannot move below itself.")
        if org.parent_id == parent_id:
            raise TenancyError(400, "Can't transfer to the same owner")
        if self.depth(parent_id) + self.subtree_height(org_id) > MAX_DEPTH:
            raise TenancyError(400, f"Organization tree is limited to {MAX_DEPTH} levels.")
        self.store.orgs.move(org_id, parent_id)
        self.store.events.add("org_transferred", None, {"org_id": org_id, "from": org.parent_id, "to": parent_id})
        return self.org_or_404(org_id)

    # --- permission matrices -----------------------------------------------------------------------
    def matrix(self, org_id: int) -> dict[Role, frozenset[Permission]]:
        stored = self.store.orgs.matrix(org_id)
        if not stored:
            return dict(DEFAULT_MATRIX)
        return {role: frozenset(Permission(p) for p in stored.get(role.value, ())) for role in Role}

    def permissions(self, org_id: int, role: str) -> frozenset[Permission]:
        try:
            return self.matrix(org_id)[Role(role)]
        except ValueError:
            return frozenset()

    def set_permissions(
        self, org_id: int, role: Role, permissions: frozenset[Permission], *, overwrite_suborgs: bool = False
    ) -> list[int]:
        """Set one role's permissions in the org (and, with `overwrite_suborgs`, in every org below);
        returns the orgs changed."""
        targets = self.subtree(org_id) if overwrite_suborgs else [org_id]
        matrices = {o: self.matrix(o) for o in targets}
        for matrix in matrices.values():
            matrix[role] = permissions
        from provlab.cloud.role_guard import check_matrices  # role_guard builds on this module

        check_matrices(self, matrices)
        self.store.orgs.replace_matrices({target: _matrix_rows(matrix) for target, matrix in matrices.items()})
        self.store.events.add(
            "permissions_changed",
            None,
            {
                "org_id": org_id,
                "role": role.value,
                "permissions": sorted(p.value for p in permissions),
                "orgs": targets,
            },
        )
        return targets

    # --- templates -----------------------------------------------------------------------------------
    def enable_template(self, org_id: int, template_id: str) -> None:
        """Enable a template of the org's root in the org; a sub-org only when its parent has it (enablement
        is inherited downwards only)."""
        template = self.store.templates.get(template_id)
        if template is None or template.org_id != self.root_of(org_id):
            raise not_found(f"Template {template_id}")
        parent = self.org_or_404(org_id).parent_id
        if parent is not None and not self.template_enabled(parent, template_id):
            raise TenancyError(
                403,
                f"Template {template_id} is not enabled in the parent organization {parent}; a sub-organization "
                "can enable only templates its parent has.",
            )
        self.store.orgs.enable_template(org_id, template_id)
        self.store.events.add("template_enabled", None, {"org_id": org_id, "template_id": template_id})

    def template_enabled(self, org_id: int, template_id: str) -> bool:
        template = self.store.templates.get(template_id)
        if template is None:
            return False
        if template.org_id == org_id:
            return True
        return self.store.orgs.template_enabled(org_id, template_id)

    def templates_for(self, org_id: int) -> list[Template]:
        return [t for t in self.store.templates.all() if self.template_enabled(org_id, t.id)]

    # --- users ----------------------------------------------------------------------------------------
    def users_in(self, org_ids: Iterable[int]) -> list[User]:
        return self.store.users.in_orgs(org_ids)

    def move_user(self, user_id: int, org_id: int, role: Role | None = None) -> User:
        self.store.users.move(user_id, org_id, role.value if role is not None else None)
        user = self.store.users.get(user_id)
        assert user is not None
        return user


def _matrix_rows(matrix: dict[Role, frozenset[Permission]]) -> dict[str, list[str]]:
    """A matrix as the store keeps it: role name -> permission names."""
    return {role.value: [p.value for p in permissions] for role, permissions in matrix.items()}
