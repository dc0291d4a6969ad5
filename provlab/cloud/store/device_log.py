"""The devices' own event logs (EVENT_LOG, MQTT `event/<code>`, HTTP `logEvent`), one per device."""

from __future__ import annotations

import time
from typing import Any

from provlab.cloud.store.database import Database


class DeviceLogRepository:
    """Entries a device logged, buffered on `add`."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def add(self, device_id: int, code: str, description: str = "") -> None:
        with self._database.lock:
            self._database.pending.device_log.append((device_id, time.time(), code, description))
            self._database.maybe_flush()

    def entries(self, device_id: int) -> list[dict[str, Any]]:
        rows = self._database.query(
            "SELECT ts, code, description FROM device_log WHERE device_id = ? ORDER BY id", (device_id,)
        )
        return [dict(r) for r in rows]
