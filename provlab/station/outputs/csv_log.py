"""The line log: one CSV line per finished test, appended and flushed to disk as each unit ends."""

from __future__ import annotations

import csv
import io
import os
import threading
from pathlib import Path

from provlab.station.record import UnitRecord

COLUMNS = (
    "end_time",
    "dut_id",
    "mac",
    "station_id",
    "slot",
    "operator",
    "plan",
    "plan_version",
    "attempt",
    "outcome",
    "first_failure",
    "cycle_s",
    "device_id",
    "org_id",
    "firmware_sha256",
    "evidence",
)


class CsvLineLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.stat().st_size == 0:
            self._append(COLUMNS)

    def _append(self, row: tuple[object, ...]) -> None:
        text = io.StringIO()
        csv.writer(text).writerow(row)
        with self._lock, self.path.open("a", encoding="utf-8", newline="") as out:
            out.write(text.getvalue())
            out.flush()
            os.fsync(out.fileno())

    def write(self, r: UnitRecord, end_time: str) -> None:
        outcome = r.outcome.value if r.outcome else ""
        self._append(
            (
                end_time,
                r.dut_id,
                r.mac or "",
                r.station_id,
                r.slot,
                r.operator,
                r.plan_name,
                r.plan_version,
                r.attempt,
                outcome,
                r.first_failure or "",
                f"{r.cycle_s:.3f}",
                r.device_id or "",
                r.org_id or "",
                r.firmware_sha256 or "",
                r.evidence or "",
            )
        )
