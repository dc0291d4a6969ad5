"""The line database on PostgreSQL (`--db postgresql://user@host/db`), through psycopg; same tables as SQLite."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from provlab.station.line_db import LineDatabase, LineDatabaseError


def _masked(url: str) -> str:
    """The URL without its password (it goes into messages and the operator's screen)."""
    head, at, tail = url.rpartition("@")
    if not at or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, _, credentials = head.partition("//")
    return f"{scheme}//{credentials.split(':', 1)[0]}:***@{tail}"


class PostgresLineDatabase(LineDatabase):
    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = _masked(url)
        try:
            import psycopg
        except ImportError as exc:
            raise LineDatabaseError(f"--db {self.url} needs psycopg: python3 -m pip install 'psycopg[binary]'") from exc
        self._errors: type[Exception] = psycopg.Error
        try:
            self._db: Any = psycopg.connect(url, autocommit=True)
            self._create()
        except psycopg.Error as exc:
            raise LineDatabaseError(f"cannot open the line database {self.url}: {exc}") from exc

    def describe(self) -> str:
        return self.url

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s")

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock, self._db.cursor() as cursor:
            cursor.execute(self._sql(sql), tuple(params))
            return list(cursor.fetchall()) if cursor.description else []

    def _transaction(self, statements: list[tuple[str, Sequence[Any]]]) -> None:
        with self._lock:
            try:
                with self._db.transaction(), self._db.cursor() as cursor:
                    for sql, params in statements:
                        cursor.execute(self._sql(sql), tuple(params))
            except self._errors as exc:
                raise LineDatabaseError(f"writing the line database {self.url}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()
