"""The store's write-behind buffer: hot writes held in memory, then written in one transaction.

Device traffic (pin values, login times, info messages, the event journal) arrives thousands of times a
second; committing each one would make the database the bottleneck. The buffer keeps only the newest value of
each pin, and `Store` flushes it on a timer, when it grows large, before every read and on close, so
readers always see their own writes and a clean stop loses nothing.

Token activations (a device's first login) are buffered too, but they are not write-behind: the stub
answers such a login only after the flush that commits it (group commit, see `DeviceGateway.after_commit`),
so a device never holds a login the store could lose. They are written first, since the other buffered
rows may refer to the devices they create.
"""

from __future__ import annotations

from dataclasses import dataclass

from provlab.cloud.store.backend import Connection


@dataclass(frozen=True, slots=True)
class Activation:
    """A dynamic token's first login: a new device row, and the token marked as activated by it."""

    device_id: int
    name: str
    template_id: str
    org_id: int
    owner_id: int | None
    token: str
    at: float


class WriteBehind:
    """Pending writes, drained into a connection inside the caller's transaction."""

    __slots__ = ("activations", "device_log", "events", "infos", "logins", "pins")

    def __init__(self) -> None:
        self.pins: dict[tuple[int, str], tuple[str, float]] = {}
        self.events: list[tuple[float, str, int | None, str]] = []
        self.logins: dict[int, float] = {}
        self.infos: dict[int, str] = {}
        self.device_log: list[tuple[int, float, str, str]] = []
        self.activations: list[Activation] = []

    def __len__(self) -> int:
        return (
            len(self.activations)
            + len(self.pins)
            + len(self.events)
            + len(self.logins)
            + len(self.infos)
            + len(self.device_log)
        )

    def clear(self) -> None:
        """Forget what was written; call it only after the transaction that wrote it committed."""
        self.activations.clear()
        self.pins.clear()
        self.logins.clear()
        self.infos.clear()
        self.device_log.clear()
        self.events.clear()

    def write_into(self, db: Connection) -> int:
        """Write everything pending with `db` (inside a transaction the caller holds) and keep it, so a
        rolled-back transaction loses nothing; returns the count."""
        count = len(self)
        if self.activations:
            db.executemany(
                "INSERT INTO devices (id, name, template_id, org_id, owner_id, token, created_at, last_login_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (a.device_id, a.name, a.template_id, a.org_id, a.owner_id, a.token, a.at, a.at)
                    for a in self.activations
                ],
            )
            db.executemany(
                "UPDATE tokens SET activated_at = ?, device_id = ? WHERE token = ?",
                [(a.at, a.device_id, a.token) for a in self.activations],
            )
        if self.pins:
            db.executemany(
                "INSERT INTO pin_values (device_id, pin, value, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (device_id, pin) DO UPDATE SET value = excluded.value, "
                "updated_at = excluded.updated_at",
                [(device_id, pin, value, ts) for (device_id, pin), (value, ts) in self.pins.items()],
            )
        if self.logins:
            db.executemany(
                "UPDATE devices SET last_login_at = ? WHERE id = ?",
                [(ts, device_id) for device_id, ts in self.logins.items()],
            )
        if self.infos:
            db.executemany(
                "UPDATE devices SET info = ? WHERE id = ?",
                [(info, device_id) for device_id, info in self.infos.items()],
            )
        if self.device_log:
            db.executemany(
                "INSERT INTO device_log (device_id, ts, code, description) VALUES (?, ?, ?, ?)",
                self.device_log,
            )
        if self.events:
            db.executemany("INSERT INTO events (ts, kind, device_id, detail) VALUES (?, ?, ?, ?)", self.events)
        return count
