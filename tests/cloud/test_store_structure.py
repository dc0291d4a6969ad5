"""The store stays split by aggregate: `Store` keeps the file's lifecycle and write-behind buffer, every
aggregate is a small repository reached as an attribute, so the one wide class cannot grow back."""

from __future__ import annotations

import inspect
import pkgutil
from importlib import import_module
from pathlib import Path

import provlab.cloud.store as store_package
from provlab.cloud.store import Store

# What `Store` itself may offer: the file, its buffer and its lifecycle; nothing about an aggregate.
STORE_MEMBERS = {
    "path",
    "close",
    "closed",
    "flush",
    "pending_writes",
    "uncommitted_activations",
    "schema_version",
    "set_busy_timeout",
}
MAX_REPOSITORY_MEMBERS = 12  # a repository that needs more holds two aggregates: split it, do not raise this


def _public_members(cls: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(cls) if not name.startswith("_")}


def _repository_classes() -> dict[str, type]:
    found: dict[str, type] = {}
    for module_info in pkgutil.iter_modules(store_package.__path__):
        module = import_module(f"{store_package.__name__}.{module_info.name}")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if name.endswith("Repository") and cls.__module__ == module.__name__:
                found[name] = cls
    return found


def test_store_itself_offers_only_the_file_its_buffer_and_its_lifecycle() -> None:
    assert _public_members(Store) == STORE_MEMBERS


def test_every_repository_is_reached_as_a_store_attribute_and_stays_small(tmp_path: Path) -> None:
    store = Store(tmp_path / "cloud.db")
    try:
        attributes = {name: value for name, value in vars(store).items() if not name.startswith("_")}
        reached = {type(value).__name__: name for name, value in attributes.items()}
        repositories = _repository_classes()
        assert len(repositories) >= 7  # orgs, users, templates, tokens, devices, pins, events at least
        assert set(reached) == set(repositories), "every public Store attribute is a repository, and vice versa"
        too_wide = {
            name: sorted(_public_members(cls))
            for name, cls in repositories.items()
            if len(_public_members(cls)) > MAX_REPOSITORY_MEMBERS
        }
        assert too_wide == {}
    finally:
        store.close()


def test_repositories_depend_on_the_database_never_on_the_store() -> None:
    """A repository that took the whole `Store` could reach every other aggregate through it."""
    for name, cls in _repository_classes().items():
        parameters = inspect.signature(cls.__init__).parameters.values()
        annotations = [str(p.annotation) for p in parameters if p.name != "self"]
        assert annotations[0] == "Database", f"{name} is built on {annotations[0]}"
        assert "Store" not in annotations, f"{name} takes the whole Store"
