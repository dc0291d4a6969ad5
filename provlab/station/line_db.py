"""The line database: one row per test of a unit and one per measurement, in SQLite (default) or PostgreSQL.

A unit's row is written when its test starts (outcome empty) and completed when it ends, each in its own
committed transaction: a station that loses power loses no finished record, and the next start finds the units
that were under test (outcome still empty) and marks them ABORTED (`recover_interrupted`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provlab.station.record import UnitOutcome, UnitRecord

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS units (
        uid TEXT PRIMARY KEY, run_id TEXT NOT NULL, dut_id TEXT NOT NULL, mac TEXT, station_id TEXT NOT NULL,
        slot INTEGER NOT NULL, operator TEXT NOT NULL, plan_name TEXT NOT NULL, plan_version TEXT NOT NULL,
        firmware_sha256 TEXT, attempt INTEGER NOT NULL, start_ms BIGINT NOT NULL, end_ms BIGINT,
        cycle_s DOUBLE PRECISION,
        outcome TEXT, first_failure TEXT, device_id BIGINT, org_id BIGINT, org_name TEXT, evidence TEXT,
        record_json TEXT)""",
    """CREATE TABLE IF NOT EXISTS measurements (
        uid TEXT NOT NULL, phase TEXT NOT NULL, name TEXT NOT NULL, value TEXT, unit TEXT, validators TEXT,
        outcome TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS units_dut ON units (dut_id)",
)


class LineDatabaseError(RuntimeError):
    """The line database cannot be opened or written; says which and why."""


@dataclass(frozen=True)
class UnitRow:
    """What the line report and the retest rule read of a test."""

    uid: str
    dut_id: str
    attempt: int
    outcome: str | None
    first_failure: str | None
    start_ms: int
    end_ms: int | None
    cycle_s: float | None
    station_id: str
    slot: int
    record_json: str | None


ROW_COLUMNS = "uid, dut_id, attempt, outcome, first_failure, start_ms, end_ms, cycle_s, station_id, slot, record_json"


class LineDatabase(ABC):
    """The SQL both engines run; `?` placeholders (the PostgreSQL one rewrites them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def _transaction(self, statements: list[tuple[str, Sequence[Any]]]) -> None: ...

    @abstractmethod
    def describe(self) -> str: ...

    @abstractmethod
    def close(self) -> None: ...

    def _create(self) -> None:
        self._transaction([(sql, ()) for sql in SCHEMA])

    def unit_started(self, record: UnitRecord, record_json: str) -> None:
        sql = (
            "INSERT INTO units (uid, run_id, dut_id, mac, station_id, slot, operator, plan_name, plan_version, "
            "firmware_sha256, attempt, start_ms, record_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        )
        r = record
        params = (
            r.unit_uid,
            r.run_id,
            r.dut_id,
            r.mac,
            r.station_id,
            r.slot,
            r.operator,
            r.plan_name,
            r.plan_version,
            r.firmware_sha256,
            r.attempt,
            r.start_ms,
            record_json,
        )
        self._transaction([(sql, params)])

    def unit_finished(self, record: UnitRecord, record_json: str) -> None:
        assert record.outcome is not None, "a finished unit has an outcome"
        r, outcome = record, record.outcome
        statements: list[tuple[str, Sequence[Any]]] = [
            (
                "UPDATE units SET end_ms = ?, cycle_s = ?, outcome = ?, first_failure = ?, device_id = ?, org_id = ?, "
                "org_name = ?, evidence = ?, record_json = ? WHERE uid = ?",
                (
                    r.end_ms,
                    r.cycle_s,
                    outcome.value,
                    r.first_failure,
                    r.device_id,
                    r.org_id,
                    r.org_name,
                    r.evidence,
                    record_json,
                    r.unit_uid,
                ),
            ),
            ("DELETE FROM measurements WHERE uid = ?", (r.unit_uid,)),
        ]
        for phase, m in r.measurements():
            statements.append(
                (
                    "INSERT INTO measurements (uid, phase, name, value, unit, validators, outcome) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        r.unit_uid,
                        phase,
                        m.name,
                        json.dumps(m.value),
                        m.unit.suffix,
                        json.dumps(m.limits.validators()),
                        m.outcome.value,
                    ),
                )
            )
        self._transaction(statements)

    def interrupted(self, station_id: str) -> list[UnitRow]:
        """Tests of this station that started and never ended (the station stopped under them)."""
        sql = f"SELECT {ROW_COLUMNS} FROM units WHERE outcome IS NULL AND station_id = ? ORDER BY start_ms"
        return [UnitRow(*row) for row in self._execute(sql, (station_id,))]

    def mark_aborted(self, uid: str, end_ms: int, record_json: str, reason: str) -> None:
        self._transaction(
            [
                (
                    "UPDATE units SET outcome = ?, end_ms = ?, first_failure = ?, record_json = ? "
                    "WHERE uid = ? AND outcome IS NULL",
                    (UnitOutcome.ABORTED.value, end_ms, reason, record_json, uid),
                )
            ]
        )

    def tests_of(self, dut_id: str) -> list[UnitRow]:
        sql = f"SELECT {ROW_COLUMNS} FROM units WHERE dut_id = ? ORDER BY start_ms"
        return [UnitRow(*row) for row in self._execute(sql, (dut_id,))]

    def failed_tests(self, dut_id: str) -> int:
        """How many tests of `dut_id` ended FAIL: what the unit has used of the plan's `retest.max_attempts` (an
        ERROR or ABORTED test is the station's, not charged to the unit)."""
        return sum(1 for t in self.tests_of(dut_id) if t.outcome == UnitOutcome.FAIL.value)

    def all_units(self) -> list[UnitRow]:
        return [UnitRow(*row) for row in self._execute(f"SELECT {ROW_COLUMNS} FROM units ORDER BY start_ms")]

    def failing_measurements(self) -> list[tuple[str, str]]:
        """(phase, measurement) of every measurement out of limits, in every finished test."""
        rows = self._execute("SELECT phase, name FROM measurements WHERE outcome = 'FAIL'")
        return [(str(phase), str(name)) for phase, name in rows]


class SqliteLineDatabase(LineDatabase):
    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # a commit is on disk before the next unit starts
            self._create()
        except sqlite3.Error as exc:
            raise LineDatabaseError(f"cannot open the line database {self.path}: {exc}") from exc

    def describe(self) -> str:
        return f"sqlite:{self.path}"

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._db.execute(sql, tuple(params)).fetchall())

    def _transaction(self, statements: list[tuple[str, Sequence[Any]]]) -> None:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                for sql, params in statements:
                    self._db.execute(sql, tuple(params))
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK")
                raise LineDatabaseError(f"writing the line database {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_line_database(url: str) -> LineDatabase:
    """`postgresql://…` opens PostgreSQL (psycopg); anything else is a SQLite file path (`sqlite:` optional)."""
    if url.startswith(("postgresql://", "postgres://")):
        from provlab.station.line_db_postgres import PostgresLineDatabase

        return PostgresLineDatabase(url)
    return SqliteLineDatabase(url.removeprefix("sqlite:"))
