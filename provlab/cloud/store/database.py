"""The store's SQLite file: one connection (WAL), schema migrations, transactions and the write-behind buffer.

Every repository of the store works through one `Database`: it holds the lock that makes the store safe
to use from several threads, flushes the buffer before every read and every write transaction (so
readers see their own writes), and flushes it when it grows large.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from provlab.cloud.store.errors import StoreError
from provlab.cloud.store.schema import MIGRATIONS
from provlab.cloud.store.write_behind import WriteBehind


def private_file(path: str) -> None:
    """Create `path` empty with mode 0600, or make an existing one 0600 (when it is ours to change)."""
    if path == ":memory:" or path.startswith("file:"):
        return
    try:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(path, 0o600)
    except PermissionError:
        pass  # another user's file that we may still read and write: leave its mode alone


FLUSH_THRESHOLD = 20_000  # pending writes that force a flush even before the timer


class Database:
    """One SQLite connection with its lock and write-behind buffer; repositories share it."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        private_file(self.path)  # users, password hashes, tokens: owner only (SQLite gives -wal/-shm the same)
        self._connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        self._connection.row_factory = sqlite3.Row
        self.lock = threading.RLock()
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=NORMAL")
        self._connection.execute("PRAGMA foreign_keys=ON")
        self.pending = WriteBehind()
        self._closed = False
        self._migrate()

    def _migrate(self) -> None:
        with self.lock:
            version = int(self._connection.execute("PRAGMA user_version").fetchone()[0])
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"{self.path} has schema version {version}; this provlab knows up to {len(MIGRATIONS)} "
                    "(the file was written by a newer provlab)"
                )
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                self._connection.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")

    def close(self) -> None:
        with self.lock:
            if self._closed:
                return
            self.flush()
            self._closed = True
            self._connection.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def set_busy_timeout(self, seconds: float) -> None:
        """How long a write waits for another writer of the file before it fails (30 s unless set)."""
        with self.lock:
            self._connection.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")

    @contextmanager
    def transaction(self, include_pending: bool = False) -> Iterator[sqlite3.Connection]:
        """A write transaction. Buffered writes go first, in their own transaction so that a rollback
        here cannot take them along, or (`include_pending`, for bodies that only fail on I/O errors)
        inside this one, saving a commit."""
        with self.lock:
            if self.pending and not include_pending:
                self.flush()
            self._connection.execute("BEGIN IMMEDIATE")
            took_pending = False
            try:
                if include_pending and self.pending:
                    self.pending.write_into(self._connection)
                    took_pending = True
                yield self._connection
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")
            if took_pending:
                self.pending.clear()

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Read committed rows (the write-behind buffer is flushed first)."""
        with self.lock:
            if self.pending:
                self.flush()
            return list(self._connection.execute(sql, args))

    def committed_row(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        """One committed row, read *without* flushing the buffer (the login hot path; the caller holds
        `lock` and knows the buffer holds nothing it needs)."""
        row: sqlite3.Row | None = self._connection.execute(sql, args).fetchone()
        return row

    def flush(self) -> int:
        """Write the buffered writes now; returns how many went out. A failed flush keeps them all."""
        with self.lock:
            if not self.pending or self._closed:
                return 0
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                count = self.pending.write_into(self._connection)
            except BaseException:
                self._connection.execute("ROLLBACK")  # the buffer keeps everything for the next attempt
                raise
            self._connection.execute("COMMIT")
            self.pending.clear()
            return count

    def maybe_flush(self) -> None:
        """Flush when the buffer reached `FLUSH_THRESHOLD` (callers hold `lock`)."""
        if len(self.pending) >= FLUSH_THRESHOLD:
            self.flush()
