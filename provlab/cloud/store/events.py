"""The stub's event journal: what happened in the cloud (tokens issued, logins, faults, …), oldest first."""

from __future__ import annotations

import json
import time
from typing import Any

from provlab.cloud.store.database import Database
from provlab.protocol.serial_log import mask_secret

SECRET_DETAIL_KEYS = frozenset({"token", "password", "pass", "auth"})


def _mask_detail(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: mask_secret(v) if k in SECRET_DETAIL_KEYS and isinstance(v, str) else v for k, v in detail.items()}


class EventRepository:
    """Journal entries: buffered on `add`, numbered in the order they were written."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def add(self, kind: str, device_id: int | None, detail: dict[str, Any]) -> None:
        """Journal an event; secrets under `token`/`password`/… keys are masked before they are kept."""
        with self._database.lock:
            self._database.pending.events.append((time.time(), kind, device_id, json.dumps(_mask_detail(detail))))
            self._database.maybe_flush()

    def entries(
        self, kind: str | None = None, device_id: int | None = None, *, after_id: int = 0
    ) -> list[dict[str, Any]]:
        """Journal entries, oldest first (only those after the entry numbered `after_id`)."""
        return [event for _, event in self.numbered(kind, device_id, after_id=after_id)]

    @property
    def last_id(self) -> int:
        """The number of the newest journal entry (0 when there is none)."""
        return int(self._database.query("SELECT COALESCE(MAX(id), 0) FROM events")[0][0])

    def numbered(
        self, kind: str | None = None, device_id: int | None = None, *, after_id: int = 0
    ) -> list[tuple[int, dict[str, Any]]]:
        """`entries` with each entry's number, for readers that page through the journal."""
        where: list[str] = ["id > ?"]
        args: list[Any] = [after_id]
        if kind is not None:
            where.append("kind = ?")
            args.append(kind)
        if device_id is not None:
            where.append("device_id = ?")
            args.append(device_id)
        sql = "SELECT * FROM events WHERE " + " AND ".join(where) + " ORDER BY id"
        rows = self._database.query(sql, tuple(args))
        return [
            (int(r["id"]), {"ts": r["ts"], "kind": r["kind"], "device_id": r["device_id"], **json.loads(r["detail"])})
            for r in rows
        ]
