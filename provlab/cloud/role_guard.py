"""No lockout of the root (issue 13, point 3): changes that would leave an org with nobody able to manage
roles are refused with 409 before they are made.

A root org (which nobody above can rescue) keeps a role holding `EDIT_ROLES` and, when it has one now, an
active user whose role holds it; a sub-org is always manageable from above. Checked for matrix edits (also with
"overwrite sub-organizations") and for role changes, deletions and transfers of users of a root org.
"""

from __future__ import annotations

from provlab.cloud.records import User
from provlab.cloud.tenancy import OrgTree, Permission, Role, TenancyError

MANAGE = Permission.EDIT_ROLES


class RootLockout(TenancyError):
    """409: the change would leave an org without anyone able to manage roles."""

    def __init__(self, message: str) -> None:
        super().__init__(409, message)


def _managers(
    tree: OrgTree, org_id: int, matrix: dict[Role, frozenset[Permission]], gone: User | None, new_role: str | None
) -> list[str]:
    """Active users of `org_id` who hold EDIT_ROLES under `matrix`, with `gone` given `new_role` (None: the
    user leaves)."""
    out = []
    for user in tree.users_in([org_id]):
        role = user.role
        if gone is not None and user.id == gone.id:
            if new_role is None:
                continue
            role = new_role
        if user.active and role in {r.value for r, perms in matrix.items() if MANAGE in perms}:
            out.append(user.email)
    return out


def check_matrices(tree: OrgTree, matrices: dict[int, dict[Role, frozenset[Permission]]]) -> None:
    """Refuse new matrices that leave a root org without a role (or, when it has one now, a user) able to
    manage roles."""
    for org_id, matrix in matrices.items():
        org = tree.org_or_404(org_id)
        if org.parent_id is not None:
            continue  # a sub-org's roles stay manageable from above (SWITCH_TO_SUBORGS)
        if not any(MANAGE in perms for perms in matrix.values()):
            raise RootLockout(
                f"Refused: the root organization {org.name!r} would have no role holding {MANAGE.value}; nobody "
                "could manage its roles again. Keep EDIT_ROLES in at least one role."
            )
        if _managers(tree, org_id, tree.matrix(org_id), None, None) and not _managers(tree, org_id, matrix, None, None):
            raise RootLockout(
                f"Refused: no active user of the root organization {org.name!r} would hold {MANAGE.value}; the "
                "root could never manage roles again."
            )


def check_user_change(tree: OrgTree, user: User, new_role: str | None) -> None:
    """Refuse a role change (`new_role`) or removal (None: deleted or moved away) of a root org's user that
    leaves that root org without an active user able to manage roles."""
    org = tree.org_or_404(user.org_id)
    if org.parent_id is not None:
        return
    matrix = tree.matrix(org.id)
    if _managers(tree, org.id, matrix, None, None) and not _managers(tree, org.id, matrix, user, new_role):
        change = "removing" if new_role is None else f"making {new_role}"
        raise RootLockout(
            f"Refused: {change} {user.email} would leave the root organization {org.name!r} without an active "
            f"user holding {MANAGE.value}."
        )
