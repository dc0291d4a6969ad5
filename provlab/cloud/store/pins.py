"""Pin values: the newest value of each pin a device or the HTTP API wrote (`v1`, `d5`, `a0`), no history.

Values are stored for any pin, with or without a datastream; several values of one write are joined by NUL.
"""

from __future__ import annotations

import time

from provlab.cloud.store.database import FLUSH_THRESHOLD, Database


class PinRepository:
    """Pin values per device; writes are buffered (only the newest value of a pin is kept)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def write(self, device_id: int, pin: str, value: str) -> None:
        with self._database.lock:
            self._database.pending.pins[(device_id, pin)] = (value, time.time())
            if len(self._database.pending.pins) >= FLUSH_THRESHOLD:
                self._database.flush()

    def erase(self, device_id: int, pin: str) -> None:
        with self._database.transaction() as db:
            db.execute("DELETE FROM pin_values WHERE device_id = ? AND pin = ?", (device_id, pin))

    def read(self, device_id: int, pin: str) -> str | None:
        with self._database.lock:
            pending = self._database.pending.pins.get((device_id, pin))
            if pending is not None:
                return pending[0]
        rows = self._database.query("SELECT value FROM pin_values WHERE device_id = ? AND pin = ?", (device_id, pin))
        return str(rows[0]["value"]) if rows else None

    def all(self, device_id: int) -> dict[str, str]:
        """Every stored pin value of the device, `{"v1": "42", …}`."""
        rows = self._database.query("SELECT pin, value FROM pin_values WHERE device_id = ? ORDER BY pin", (device_id,))
        return {r["pin"]: r["value"] for r in rows}
