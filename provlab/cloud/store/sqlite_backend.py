"""The store on SQLite: one file, WAL, `synchronous=NORMAL`, foreign keys on, schema version in `user_version`."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence

from provlab.cloud.store.backend import Backend, Connection
from provlab.cloud.store.errors import StoreError


def private_file(path: str) -> None:
    """Create `path` empty with mode 0600, or make an existing one 0600 (when it is ours to change)."""
    if path == ":memory:" or path.startswith("file:"):
        return
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(path, 0o600)
    except PermissionError:
        pass  # another user's file that we may still read and write: leave its mode alone


class SqliteBackend(Backend):
    """One SQLite connection in autocommit mode; transactions are explicit `BEGIN IMMEDIATE` … `COMMIT`."""

    integrity_errors = (sqlite3.IntegrityError,)
    unavailable_errors = (sqlite3.OperationalError,)

    def __init__(self, path: str) -> None:
        self.path = path
        private_file(path)  # users, password hashes, tokens: owner only (SQLite gives -wal/-shm the same)
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._connection.row_factory = sqlite3.Row
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=NORMAL")
        self._connection.execute("PRAGMA foreign_keys=ON")

    @property
    def describe(self) -> str:
        return self.path

    @property
    def connection(self) -> Connection:
        return self._connection

    def begin(self) -> None:
        self._connection.execute("BEGIN IMMEDIATE")  # takes the write lock now, not at the first write

    def commit(self) -> None:
        self._connection.execute("COMMIT")

    def rollback(self) -> None:
        if self._connection.in_transaction:  # a failed COMMIT may have ended it already
            self._connection.execute("ROLLBACK")

    def schema_version(self) -> int:
        return int(self._connection.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self, migrations: Sequence[str]) -> None:
        version = self.schema_version()
        if version > len(migrations):
            raise StoreError(
                f"{self.path} has schema version {version}; this provlab knows up to {len(migrations)} "
                "(the file was written by a newer provlab)"
            )
        for number, script in enumerate(migrations[version:], start=version + 1):
            self._connection.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")

    def set_busy_timeout(self, seconds: float) -> None:
        self._connection.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")

    def close(self) -> None:
        self._connection.close()
