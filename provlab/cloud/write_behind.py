"""The store's write-behind buffer: hot writes held in memory, then written in one SQLite transaction.

Device traffic (pin values, login times, info messages, the event journal) arrives thousands of times a
second; committing each one would make SQLite the bottleneck. The buffer keeps only the newest value of
each pin, and `Store` flushes it on a timer, when it grows large, before every read and on close, so
readers always see their own writes and a clean stop loses nothing.
"""

from __future__ import annotations

import sqlite3


class WriteBehind:
    """Pending writes, drained into a connection inside the caller's transaction."""

    __slots__ = ("device_log", "events", "infos", "logins", "pins")

    def __init__(self) -> None:
        self.pins: dict[tuple[int, str], tuple[str, float]] = {}
        self.events: list[tuple[float, str, int | None, str]] = []
        self.logins: dict[int, float] = {}
        self.infos: dict[int, str] = {}
        self.device_log: list[tuple[int, float, str, str]] = []

    def __len__(self) -> int:
        return len(self.pins) + len(self.events) + len(self.logins) + len(self.infos) + len(self.device_log)

    def drain_into(self, db: sqlite3.Connection) -> int:
        """Write everything pending with `db` (inside a transaction the caller holds); returns the count."""
        count = len(self)
        if self.pins:
            db.executemany(
                "INSERT INTO pin_values (device_id, pin, value, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (device_id, pin) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at",
                [(device_id, pin, value, ts) for (device_id, pin), (value, ts) in self.pins.items()],
            )
            self.pins.clear()
        if self.logins:
            db.executemany(
                "UPDATE devices SET last_login_at = ? WHERE id = ?",
                [(ts, device_id) for device_id, ts in self.logins.items()],
            )
            self.logins.clear()
        if self.infos:
            db.executemany(
                "UPDATE devices SET info = ? WHERE id = ?",
                [(info, device_id) for device_id, info in self.infos.items()],
            )
            self.infos.clear()
        if self.device_log:
            db.executemany(
                "INSERT INTO device_log (device_id, ts, code, description) VALUES (?, ?, ?, ?)",
                self.device_log,
            )
            self.device_log.clear()
        if self.events:
            db.executemany(
                "INSERT INTO events (ts, kind, device_id, detail) VALUES (?, ?, ?, ?)", self.events
            )
            self.events.clear()
        return count
