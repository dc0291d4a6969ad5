"""The cloud stub's store: one SQLite file (WAL) or a PostgreSQL database, schema migrations in code, hot writes
behind a buffer.

Everything the stub knows lives here and survives a restart: orgs, users, templates (with their
datastreams, event codes and metafields), dynamic tokens, devices, pin values, the device event log and
the stub's own event journal. `Store` owns the connection, the schema and the write-behind buffer
(`database.py`, `write_behind.py`; which database is `backend.py`: a file path or `sqlite:PATH` opens SQLite,
a `postgresql://` URL PostgreSQL); each aggregate has a repository of its own, reached as an attribute,
so a caller says what it touches: `store.orgs`, `store.users`, `store.sessions`, `store.refresh_tokens`,
`store.invitations`, `store.templates`, `store.tokens`, `store.devices`, `store.pins`, `store.device_log`,
`store.events`. All SQL lives in this package: code built on the store (the org tree, access checks,
invitations) keeps the rules and asks the repositories for rows.

Devices and tokens have an in-memory token → device cache (`token_cache.py`) that `store.devices` and
`store.tokens` keep right.

Safe to use from several threads (one lock around the connection and the buffer).
"""

from __future__ import annotations

from pathlib import Path

from provlab.cloud.store.database import Database
from provlab.cloud.store.device_log import DeviceLogRepository
from provlab.cloud.store.devices import DeviceRepository
from provlab.cloud.store.errors import StoreConflict, StoreError, StoreUnavailable, TokenRefusal, TokenRefused
from provlab.cloud.store.events import EventRepository
from provlab.cloud.store.invitations import InvitationRepository
from provlab.cloud.store.orgs import OrgRepository
from provlab.cloud.store.pins import PinRepository
from provlab.cloud.store.sessions import RefreshRow, RefreshTokenRepository, SessionRepository, SessionRow
from provlab.cloud.store.templates import TemplateRepository
from provlab.cloud.store.token_cache import TokenCache
from provlab.cloud.store.tokens import DEFAULT_TOKEN_TTL_S, TokenRepository
from provlab.cloud.store.users import UserRepository

__all__ = [
    "DEFAULT_TOKEN_TTL_S",
    "RefreshRow",
    "SessionRow",
    "Store",
    "StoreConflict",
    "StoreError",
    "StoreUnavailable",
    "TokenRefusal",
    "TokenRefused",
]


class Store:
    """All cloud state in one database: its lifecycle and buffer here, the aggregates in the repositories."""

    def __init__(self, path: str | Path) -> None:
        """`path`: a SQLite file (or `sqlite:PATH`), or a `postgresql://user:pass@host:port/db[?schema=name]` URL."""
        self._database = Database(path)
        cache = TokenCache()
        self.events = EventRepository(self._database)
        self.orgs = OrgRepository(self._database)
        self.users = UserRepository(self._database)
        self.sessions = SessionRepository(self._database)
        self.refresh_tokens = RefreshTokenRepository(self._database)
        self.invitations = InvitationRepository(self._database)
        self.templates = TemplateRepository(self._database)
        self.tokens = TokenRepository(self._database, cache, self.templates, self.events)
        self.devices = DeviceRepository(self._database, cache, self.templates, self.events)
        self.pins = PinRepository(self._database)
        self.device_log = DeviceLogRepository(self._database)

    @property
    def path(self) -> str:
        """Where the data is: the SQLite file, or the PostgreSQL URL without its password."""
        return self._database.path

    def close(self) -> None:
        """Write what is buffered and close the database (a second call does nothing)."""
        self._database.close()

    @property
    def closed(self) -> bool:
        return self._database.closed

    def flush(self) -> int:
        """Write the buffered device traffic now; returns how many writes went out. A failed flush keeps
        the buffer for the next try."""
        return self._database.flush()

    @property
    def pending_writes(self) -> int:
        return len(self._database.pending)

    @property
    def uncommitted_activations(self) -> int:
        """Token activations accepted in memory and not committed yet; a login that depends on one is
        answered only after the next `flush` (group commit)."""
        return len(self._database.pending.activations)

    @property
    def schema_version(self) -> int:
        return self._database.schema_version

    def set_busy_timeout(self, seconds: float) -> None:
        """How long a write waits for another writer of the database before it fails (30 s unless set)."""
        self._database.set_busy_timeout(seconds)
