"""The store's database seam: what the repositories need from a database, and which database a target names.

The repositories write one SQL dialect, the portable subset SQLite and PostgreSQL share: `?` placeholders,
`INSERT … RETURNING id` instead of `lastrowid`, `INSERT … ON CONFLICT … DO NOTHING/UPDATE` for upserts,
no PRAGMAs. What differs lives in a backend (`sqlite_backend.py`, `postgres_backend.py`): connecting,
opening a write transaction (`BEGIN IMMEDIATE` vs `BEGIN`), the schema version (`PRAGMA user_version` vs a
table), the migrations' type names, how long a write waits for another writer, which exceptions mean
"refused by a rule" (`StoreConflict`) and "cannot write now" (`StoreUnavailable`).

A target is a SQLite file (`cloud.db`, `sqlite:cloud.db`, `sqlite:///abs/cloud.db`) or a PostgreSQL URL
(`postgresql://user:pass@host:port/db`, optionally `?schema=name`). Adding a database is one module plus
one line in `BACKENDS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from importlib import import_module
from pathlib import Path
from typing import Any, Protocol


class Row(Protocol):
    """A result row, by column name or position (`sqlite3.Row` is one)."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> list[str]: ...


class Cursor(Protocol):
    """What a repository reads from an executed statement."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What a repository may do inside a transaction (`sqlite3.Connection` is one)."""

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor: ...

    def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]], /) -> Any: ...


class Backend(ABC):
    """One database behind the store: a connection, its transactions, its schema version and its errors."""

    integrity_errors: tuple[type[Exception], ...]
    """A statement refused by a rule of the schema (unique, foreign key, not null, bad value)."""
    unavailable_errors: tuple[type[Exception], ...]
    """The database cannot do it now (locked by another writer, lock timeout, disk full, connection lost)."""

    @property
    @abstractmethod
    def describe(self) -> str:
        """Where the data is, for messages: the file's path, or the URL without its password."""

    @property
    @abstractmethod
    def connection(self) -> Connection:
        """The connection (re-opened first if the database dropped it)."""

    @abstractmethod
    def begin(self) -> None:
        """Open a write transaction that no other writer can interleave with."""

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def rollback(self) -> None:
        """Undo the open transaction (nothing to undo on a connection the database dropped)."""

    @abstractmethod
    def schema_version(self) -> int: ...

    @abstractmethod
    def migrate(self, migrations: Sequence[str]) -> None:
        """Apply the migrations the database has not seen, each with its version bump, atomically; raise
        `StoreError` when the database is newer than `migrations`."""

    @abstractmethod
    def set_busy_timeout(self, seconds: float) -> None:
        """How long a write waits for another writer before it fails."""

    @abstractmethod
    def close(self) -> None: ...


def _sqlite(target: str) -> Backend:
    module = import_module("provlab.cloud.store.sqlite_backend")
    backend: Backend = module.SqliteBackend(target)
    return backend


def _postgres(target: str) -> Backend:
    try:
        module = import_module("provlab.cloud.store.postgres_backend")  # psycopg is optional: imported on use
    except ImportError as exc:
        from provlab.cloud.store.errors import StoreError

        raise StoreError(
            f"a PostgreSQL store needs psycopg ({exc}): python3 -m pip install 'provlab[postgres]'"
        ) from exc
    backend: Backend = module.PostgresBackend(target)
    return backend


BACKENDS: dict[str, Callable[[str], Backend]] = {
    "sqlite": _sqlite,
    "postgresql": _postgres,
    "postgres": _postgres,
}


def backend_name(target: str | Path) -> str:
    """`sqlite` or `postgresql` (the names in `BACKENDS`) for a target: a URL scheme we know, else a file."""
    text = str(target)
    scheme, colon, _ = text.partition(":")
    if colon and scheme.lower() in BACKENDS and not isinstance(target, Path):
        return "postgresql" if scheme.lower() == "postgres" else scheme.lower()
    return "sqlite"


def sqlite_path(target: str | Path) -> str:
    """The file a SQLite target names: `sqlite:PATH` and `sqlite:///abs` lose their prefix, a path stays."""
    text = str(target)
    if isinstance(target, Path) or not text.lower().startswith("sqlite:"):
        return text
    rest = text[len("sqlite:") :]
    return rest[2:] if rest.startswith("//") else rest


def open_backend(target: str | Path) -> Backend:
    """The backend for `target` (a SQLite file or `sqlite:` target, or a `postgresql://` URL), connected."""
    name = backend_name(target)
    return BACKENDS[name](sqlite_path(target) if name == "sqlite" else str(target))
