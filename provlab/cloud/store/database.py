"""The store's database: one connection (SQLite or PostgreSQL), schema migrations, transactions and the
write-behind buffer.

Every repository of the store works through one `Database`: it holds the lock that makes the store safe
to use from several threads, flushes the buffer before every read and every write transaction (so
readers see their own writes), and flushes it when it grows large. Which database it talks to is the
backend's business (`backend.py`); the database's exceptions come out as `StoreConflict` (a rule of the
schema refused the write) or `StoreUnavailable` (cannot write now), whichever database it is.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from provlab.cloud.store.backend import Connection, Row, open_backend
from provlab.cloud.store.errors import StoreConflict, StoreUnavailable
from provlab.cloud.store.schema import MIGRATIONS
from provlab.cloud.store.write_behind import WriteBehind

FLUSH_THRESHOLD = 20_000  # pending writes that force a flush even before the timer


class Database:
    """One database connection with its lock and write-behind buffer; repositories share it."""

    def __init__(self, target: str | Path) -> None:
        self._backend = open_backend(target)
        self.path = self._backend.describe  # a file's path, or a URL without its password
        self.lock = threading.RLock()
        self.pending = WriteBehind()
        self._closed = False
        try:
            with self.lock, self._translated():
                self._backend.migrate(MIGRATIONS)
        except BaseException:
            self._backend.close()
            raise

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """The backend's exceptions as the store's own (the database's words kept as the message)."""
        try:
            yield
        except self._backend.integrity_errors as exc:
            raise StoreConflict(str(exc).strip()) from exc
        except self._backend.unavailable_errors as exc:
            raise StoreUnavailable(str(exc).strip()) from exc

    @property
    def _connection(self) -> Connection:
        return self._backend.connection

    def close(self) -> None:
        with self.lock:
            if self._closed:
                return
            try:
                self.flush()
            finally:
                self._closed = True
                self._backend.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def schema_version(self) -> int:
        with self.lock, self._translated():
            return self._backend.schema_version()

    def set_busy_timeout(self, seconds: float) -> None:
        """How long a write waits for another writer of the database before it fails (30 s unless set)."""
        with self.lock, self._translated():
            self._backend.set_busy_timeout(seconds)

    @contextmanager
    def transaction(self, include_pending: bool = False) -> Iterator[Connection]:
        """A write transaction. Buffered writes go first, in their own transaction so that a rollback
        here cannot take them along, or (`include_pending`, for bodies that only fail on I/O errors)
        inside this one, saving a commit."""
        with self.lock:
            if self.pending and not include_pending:
                self.flush()
            with self._translated():
                self._backend.begin()
                took_pending = False
                try:
                    connection = self._connection
                    if include_pending and self.pending:
                        self.pending.write_into(connection)
                        took_pending = True
                    yield connection
                    self._backend.commit()
                except BaseException:
                    self._backend.rollback()
                    raise
            if took_pending:
                self.pending.clear()

    def query(self, sql: str, args: tuple[Any, ...] = ()) -> list[Row]:
        """Read committed rows (the write-behind buffer is flushed first)."""
        with self.lock:
            if self.pending:
                self.flush()
            with self._translated():
                return list(self._connection.execute(sql, args))

    def query_unbuffered(self, sql: str, args: tuple[Any, ...] = ()) -> list[Row]:
        """Read rows of tables the write-behind buffer never writes (sessions, users, OAuth clients) without
        flushing it first: a bearer check on every phone request then does not end the group commit early."""
        with self.lock, self._translated():
            return list(self._connection.execute(sql, args))

    def committed_row(self, sql: str, args: tuple[Any, ...] = ()) -> Row | None:
        """One committed row, read *without* flushing the buffer (the login hot path; the caller holds
        `lock` and knows the buffer holds nothing it needs)."""
        with self._translated():
            row: Row | None = self._connection.execute(sql, args).fetchone()
        return row

    def flush(self) -> int:
        """Write the buffered writes now; returns how many went out. A failed flush keeps them all."""
        with self.lock:
            if not self.pending or self._closed:
                return 0
            with self._translated():
                self._backend.begin()
                try:
                    count = self.pending.write_into(self._connection)
                    self._backend.commit()
                except BaseException:
                    self._backend.rollback()  # the buffer keeps everything for the next attempt
                    raise
            self.pending.clear()
            return count

    def maybe_flush(self) -> None:
        """Flush when the buffer reached `FLUSH_THRESHOLD` (callers hold `lock`)."""
        if len(self.pending) >= FLUSH_THRESHOLD:
            self.flush()
