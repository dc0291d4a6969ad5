"""The cloud store's databases for the tests: a SQLite file in the test's folder, or a fresh schema of the
PostgreSQL server `.ci/run` starts (PROVLAB_TEST_POSTGRES); and what a test does to a database from outside
the store (read committed rows, hold the write lock, set the schema version)."""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from provlab.cloud.store.backend import backend_name

POSTGRES_URL = os.environ.get("PROVLAB_TEST_POSTGRES", "")
NO_POSTGRES = "no PostgreSQL: PROVLAB_TEST_POSTGRES is unset (.ci/run sets it)"
BACKENDS = ("sqlite", "postgresql")

CloudDb = Path | str  # a SQLite file, or a postgresql:// URL with ?schema=


def on_postgres(db: CloudDb) -> bool:
    return backend_name(db) == "postgresql"


@contextlib.contextmanager
def fresh_database(kind: str, folder: Path) -> Iterator[CloudDb]:
    """An empty database of `kind`: `folder/cloud.db`, or a new schema (dropped afterwards, with all in it)."""
    if kind == "sqlite":
        yield folder / "cloud.db"
        return
    schema = f"provlab_test_{secrets.token_hex(6)}"
    yield f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}schema={schema}"
    with _postgres(None) as raw:
        raw.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextlib.contextmanager
def _postgres(db: str | None) -> Iterator[Any]:
    """A connection of our own to the test server, in `db`'s schema."""
    import psycopg

    from provlab.cloud.store.postgres_backend import split_schema

    url, schema = split_schema(db or POSTGRES_URL)
    with psycopg.connect(url, autocommit=True) as raw:
        if schema is not None:
            raw.execute(f'SET search_path TO "{schema}"')
        yield raw


@contextlib.contextmanager
def outside_connection(db: CloudDb) -> Iterator[Any]:
    """Another client of the database than the store (sqlite3 or psycopg), autocommit; `?` or `%s` per kind."""
    if on_postgres(db):
        with _postgres(str(db)) as raw:
            yield raw
        return
    other = sqlite3.connect(db, isolation_level=None)
    try:
        yield other
    finally:
        other.close()


def committed_rows(db: CloudDb, sql: str) -> list[tuple[Any, ...]]:
    """What another client sees: committed rows only."""
    with outside_connection(db) as other:
        return [tuple(row) for row in other.execute(sql).fetchall()]


@contextlib.contextmanager
def write_lock_held(db: CloudDb) -> Iterator[None]:
    """Another writer holds the database: SQLite's write lock, or exclusive locks on the tables the store's
    flush writes (PostgreSQL has no database-wide write lock)."""
    with outside_connection(db) as other:
        if on_postgres(db):
            other.execute("BEGIN")
            other.execute("LOCK TABLE devices, tokens, pin_values, events, device_log IN EXCLUSIVE MODE")
        else:
            other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")


def set_schema_version(db: CloudDb, version: int) -> None:
    """Mark the database as written at schema `version` (as a newer or older provlab would leave it)."""
    with outside_connection(db) as other:
        if on_postgres(db):
            other.execute("UPDATE provlab_schema SET version = %s", (version,))
        else:
            other.execute(f"PRAGMA user_version={version}")


def table_names(db: CloudDb) -> set[str]:
    sql = (
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        if on_postgres(db)
        else "SELECT name FROM sqlite_master WHERE type = 'table'"
    )
    return {row[0] for row in committed_rows(db, sql)}


def database_at_schema(db: CloudDb, version: int, statements: tuple[str, ...] = ()) -> None:
    """Leave `db` as an older provlab would: migrated up to `version` only, with `statements` run on it."""
    from provlab.cloud.store.backend import open_backend
    from provlab.cloud.store.schema import MIGRATIONS

    backend = open_backend(db)
    try:
        backend.migrate(MIGRATIONS[:version])
        for statement in statements:
            backend.connection.execute(statement)
    finally:
        backend.close()
