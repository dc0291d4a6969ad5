"""Where a unit's id comes from: serial numbers a barcode scanner types on stdin, checked before a slot takes them.

A scan is one line. Garbage (control characters, not the plan's serial pattern) and duplicates (a unit under
test now, a unit that already passed, a unit out of retests) are refused with a message for the operator; the
scanner then waits for the next line.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from provlab.station.line_db import LineDatabase
from provlab.station.record import UnitOutcome


class ScanRejected(ValueError):
    """A scan the station does not take; the message is for the operator."""


@dataclass(frozen=True)
class Job:
    """A unit for a slot to test: its serial number when scanned (None: the slot names it by MAC)."""

    serial: str | None


class SerialChecker:
    """Checks a scanned serial number against the plan's pattern, the units under test and the line database."""

    def __init__(self, pattern: str, db: LineDatabase, max_attempts: int) -> None:
        self.pattern = re.compile(pattern)
        self.db = db
        self.max_attempts = max_attempts
        self._under_test: set[str] = set()
        self._lock = threading.Lock()

    def claim(self, scanned: str) -> str:
        """The serial number of `scanned`, now counted as under test; `ScanRejected` with the reason."""
        serial = scanned.strip()
        if not serial:
            raise ScanRejected("empty scan ignored")
        if any(not ch.isprintable() for ch in serial):
            raise ScanRejected(f"scan rejected: {serial!r} holds control characters (a misread barcode?)")
        if not self.pattern.fullmatch(serial):
            raise ScanRejected(f"scan rejected: {serial!r} is not a serial number (expected {self.pattern.pattern})")
        with self._lock:
            if serial in self._under_test:
                raise ScanRejected(f"duplicate serial rejected: {serial} is under test on another slot now")
            tests = self.db.tests_of(serial)
            passed = [t for t in tests if t.outcome == UnitOutcome.PASS.value]
            if passed:
                raise ScanRejected(f"duplicate serial rejected: {serial} already passed (test {passed[-1].uid})")
            failed = sum(1 for t in tests if t.outcome == UnitOutcome.FAIL.value)  # station errors are not charged
            if failed >= self.max_attempts:
                raise ScanRejected(
                    f"serial rejected: {serial} is out of retests: it failed {failed} test(s), the plan allows "
                    f"{self.max_attempts}"
                )
            self._under_test.add(serial)
        return serial

    def release(self, serial: str) -> None:
        with self._lock:
            self._under_test.discard(serial)


class ScannerFeed:
    """Reads scans from `stream` on a thread of its own and hands accepted ones to the slots, in order."""

    def __init__(self, stream: TextIO, checker: SerialChecker, on_rejected: Callable[[str], None]) -> None:
        self.stream = stream
        self.checker = checker
        self.on_rejected = on_rejected
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, name="provlab-scanner", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for line in self.stream:
                try:
                    serial = self.checker.claim(line)
                except ScanRejected as rejected:
                    self.on_rejected(str(rejected))
                    continue
                self._jobs.put(Job(serial))
        finally:
            self._jobs.put(None)  # end of the scans: every slot finishes its unit and stops

    def next_job(self) -> Job | None:
        job = self._jobs.get()
        if job is None:
            self._jobs.put(None)  # for the other slots
        return job


class CountedFeed:
    """`count` units named by their MAC (emulated slots: a fresh board per unit)."""

    def __init__(self, count: int) -> None:
        self._left = count
        self._lock = threading.Lock()

    def next_job(self) -> Job | None:
        with self._lock:
            if self._left <= 0:
                return None
            self._left -= 1
            return Job(None)
