"""Orgs as the store keeps them: the tree, each org's role -> permissions matrix and its enabled templates.

Rows only: the rules (names, depth, copy-on-create, who may do what) are `cloud/tenancy.py` and
`cloud/access.py`. Roles and permissions are kept as their names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from provlab.cloud.records import Org
from provlab.cloud.store.backend import Connection
from provlab.cloud.store.database import Database

Matrix = Mapping[str, Iterable[str]]  # role name -> permission names


class OrgRepository:
    """Org rows, permission-matrix rows and enabled-template rows."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def create(
        self, name: str, parent_id: int | None = None, *, can_create_suborgs: bool = True, matrix: Matrix | None = None
    ) -> int:
        """A new org, with `matrix` stored as its own (none: the org uses the default matrix)."""
        with self._database.transaction() as db:
            cur = db.execute(
                "INSERT INTO orgs (name, parent_id, can_create_suborgs) VALUES (?, ?, ?) RETURNING id",
                (name, parent_id, int(can_create_suborgs)),
            )
            org_id = int(cur.fetchone()[0])
            if matrix is not None:
                _write_matrix(db, org_id, matrix)
            return org_id

    def get(self, org_id: int) -> Org | None:
        rows = self._database.query("SELECT id, name, parent_id, can_create_suborgs FROM orgs WHERE id = ?", (org_id,))
        if not rows:
            return None
        r = rows[0]
        return Org(r["id"], r["name"], r["parent_id"], bool(r["can_create_suborgs"]))

    def by_name(self, name: str) -> Org | None:
        """The org named `name`, ignoring case (names are unique that way)."""
        rows = self._database.query("SELECT id FROM orgs WHERE lower(name) = lower(?)", (name,))
        return self.get(int(rows[0]["id"])) if rows else None

    def parents(self) -> dict[int, int | None]:
        """Every org and its parent (None for a root)."""
        return {int(r["id"]): r["parent_id"] for r in self._database.query("SELECT id, parent_id FROM orgs")}

    def set_can_create_suborgs(self, org_id: int, value: bool) -> None:
        with self._database.transaction() as db:
            db.execute("UPDATE orgs SET can_create_suborgs = ? WHERE id = ?", (int(value), org_id))

    def move(self, org_id: int, parent_id: int) -> None:
        with self._database.transaction() as db:
            db.execute("UPDATE orgs SET parent_id = ? WHERE id = ?", (parent_id, org_id))

    def matrix(self, org_id: int) -> dict[str, set[str]]:
        """The org's own matrix, role name -> permission names; empty when it has none stored."""
        out: dict[str, set[str]] = {}
        rows = self._database.query("SELECT role, permission FROM role_permissions WHERE org_id = ?", (org_id,))
        for r in rows:
            out.setdefault(r["role"], set()).add(r["permission"])
        return out

    def replace_matrices(self, matrices: Mapping[int, Matrix]) -> None:
        """Store each org's whole matrix in place of the one it had, in one transaction."""
        with self._database.transaction() as db:
            for org_id, matrix in matrices.items():
                db.execute("DELETE FROM role_permissions WHERE org_id = ?", (org_id,))
                _write_matrix(db, org_id, matrix)

    def enable_template(self, org_id: int, template_id: str) -> None:
        with self._database.transaction() as db:
            db.execute(
                "INSERT INTO org_templates (org_id, template_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (org_id, template_id),
            )

    def template_enabled(self, org_id: int, template_id: str) -> bool:
        """Whether the template was enabled in the org (its own root org needs no row)."""
        return bool(
            self._database.query(
                "SELECT 1 FROM org_templates WHERE org_id = ? AND template_id = ?", (org_id, template_id)
            )
        )


def _write_matrix(db: Connection, org_id: int, matrix: Matrix) -> None:
    db.executemany(
        "INSERT INTO role_permissions (org_id, role, permission) VALUES (?, ?, ?)",
        [(org_id, role, permission) for role, permissions in matrix.items() for permission in sorted(permissions)],
    )
