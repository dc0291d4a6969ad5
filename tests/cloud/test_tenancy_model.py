"""The tenancy model on the store: org tree limits and names, matrices (copy-on-create, overwrite), templates."""

from __future__ import annotations

import pytest
from store_backends import CloudDb, database_at_schema

from provlab.cloud.store import Store
from provlab.cloud.store.schema import MIGRATIONS
from provlab.cloud.tenancy import DEFAULT_MATRIX, OrgTree, Permission, Role, TenancyError

TEMPLATE = "TMPL0PROVLAB"


def tree_with_root(cloud_db: CloudDb) -> tuple[OrgTree, int]:
    store = Store(cloud_db)
    tree = OrgTree(store)
    root = tree.create_org("Lab Root", None)
    store.templates.create(TEMPLATE, "Device", root.id)
    return tree, root.id


def test_tree_is_at_most_four_levels_deep(cloud_db: CloudDb) -> None:
    tree, root = tree_with_root(cloud_db)
    two = tree.create_org("Level 2", root)
    three = tree.create_org("Level 3", two.id)
    four = tree.create_org("Level 4", three.id)
    assert tree.depth(four.id) == 4 and tree.chain(four.id) == [four.id, three.id, two.id, root]
    with pytest.raises(TenancyError, match="limited to 4 levels") as refused:
        tree.create_org("Level 5", four.id)
    assert refused.value.status == 400
    assert sorted(tree.subtree(two.id)) == sorted([two.id, three.id, four.id])


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "1..80"),
        ("x" * 81, "1..80"),
        ("Acme/Corp", "letters, digits"),
        ("Acme_Corp", "letters"),
        (" Acme", "1..80"),
    ],
)
def test_bad_org_names_are_refused(cloud_db: CloudDb, name: str, why: str) -> None:
    tree, root = tree_with_root(cloud_db)
    with pytest.raises(TenancyError, match=why):
        tree.create_org(name, root)


def test_org_names_are_unique_and_may_hold_dot_dash_apostrophe(cloud_db: CloudDb) -> None:
    tree, root = tree_with_root(cloud_db)
    tree.create_org("O'Neil Bros. - East 2", root)
    assert len("x" * 80) == 80 and tree.create_org("x" * 80, root)
    with pytest.raises(TenancyError, match="already taken"):
        tree.create_org("o'neil bros. - east 2", root)


def test_can_create_suborgs_flag(cloud_db: CloudDb) -> None:
    tree, root = tree_with_root(cloud_db)
    leaf = tree.create_org("Client", root, can_create_suborgs=False)
    with pytest.raises(TenancyError, match="cannot create sub-organizations"):
        tree.create_org("Client Branch", leaf.id)
    tree.set_can_create_suborgs(leaf.id, True)
    assert tree.create_org("Client Branch", leaf.id).parent_id == leaf.id


def test_new_suborg_copies_the_parents_matrix_at_creation_only(cloud_db: CloudDb) -> None:
    tree, root = tree_with_root(cloud_db)
    assert tree.matrix(root) == DEFAULT_MATRIX
    staff = DEFAULT_MATRIX[Role.STAFF] - {Permission.PROVISION_DEVICES}
    tree.set_permissions(root, Role.STAFF, staff)
    child = tree.create_org("Client", root)
    assert tree.permissions(child.id, "Staff") == staff  # copy-on-create
    tree.set_permissions(root, Role.STAFF, frozenset())  # no overwrite: the child keeps its copy
    assert tree.permissions(child.id, "Staff") == staff
    assert tree.permissions(root, "Staff") == frozenset()


def test_overwrite_replaces_every_matrix_below(cloud_db: CloudDb) -> None:
    tree, root = tree_with_root(cloud_db)
    a = tree.create_org("A", root)
    a1 = tree.create_org("A1", a.id)
    b = tree.create_org("B", root)
    tree.set_permissions(a1.id, Role.ADMIN, frozenset({Permission.VIEW_USERS}))
    tree.set_permissions(b.id, Role.USER, frozenset())
    only = frozenset({Permission.VIEW_OWN_DEVICES})
    changed = tree.set_permissions(a.id, Role.USER, only, overwrite_suborgs=True)
    assert sorted(changed) == sorted([a.id, a1.id])
    assert tree.permissions(a1.id, "User") == only and tree.permissions(a.id, "User") == only
    assert tree.permissions(a1.id, "Admin") == frozenset({Permission.VIEW_USERS})  # other roles untouched
    assert tree.permissions(b.id, "User") == frozenset()  # not below A
    assert tree.permissions(root, "User") == DEFAULT_MATRIX[Role.USER]


def test_templates_live_in_the_root_and_are_enabled_per_suborg(cloud_db: CloudDb) -> None:
    tree, root = tree_with_root(cloud_db)
    child = tree.create_org("Client", root)
    assert tree.template_enabled(root, TEMPLATE)
    assert not tree.template_enabled(child.id, TEMPLATE)
    tree.enable_template(child.id, TEMPLATE)
    assert tree.template_enabled(child.id, TEMPLATE)
    assert [t.id for t in tree.templates_for(child.id)] == [TEMPLATE]
    with pytest.raises(TenancyError, match="not found"):
        tree.enable_template(child.id, "TMPLnope")


def test_org_move_keeps_the_depth_limit_and_refuses_cycles(cloud_db: CloudDb) -> None:
    tree, root = tree_with_root(cloud_db)
    a = tree.create_org("A", root)
    a1 = tree.create_org("A1", a.id)
    tree.create_org("A11", a1.id)
    b = tree.create_org("B", root)
    b1 = tree.create_org("B1", b.id)
    with pytest.raises(TenancyError, match="limited to 4 levels"):
        tree.move_org(a.id, b1.id)  # A's 3 levels under level 3
    with pytest.raises(TenancyError, match="below itself"):
        tree.move_org(a.id, a1.id)
    assert tree.move_org(a1.id, b.id).parent_id == b.id
    assert tree.depth(a1.id) == 3


def test_a_schema_2_database_upgrades_and_its_orgs_use_the_default_matrix(cloud_db: CloudDb) -> None:
    database_at_schema(
        cloud_db,
        2,
        (
            "INSERT INTO orgs (name) VALUES ('Old Root')",
            "INSERT INTO users (email, password_hash, org_id) VALUES ('old@x.test', 'x', 1)",
        ),
    )
    store = Store(cloud_db)
    assert store.schema_version == len(MIGRATIONS)
    tree = OrgTree(store)
    assert tree.matrix(1) == DEFAULT_MATRIX
    old = store.users.by_email("old@x.test")
    assert old is not None and old.active and old.role == "Admin"
    child = tree.create_org("New Child", 1)
    assert tree.matrix(child.id) == DEFAULT_MATRIX and tree.org_or_404(1).can_create_suborgs
