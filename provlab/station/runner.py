"""The acceptance station: runs a plan on every slot in parallel, one unit after another, and records each test.

Each slot is a thread of its own that drives the lab (a driver of the lab clock): it takes the next unit (a fresh
emulated board, or the board attached to it), runs the plan's phases, judges the measurements, writes the
unit's record (JSON, CSV line, database row) and, while the plan allows, retests a unit that failed. A
unit's failure or error stays in that unit's record: no slot waits for another, none stops the others.

Only a FAIL (a measurement out of limits: the unit is bad) is charged to the unit. An ERROR (the station's own
trouble: the cloud refusing it, a port that died) or an ABORTED test is not an attempt at the unit: it is recorded
under the attempt number it ran as, that number is not used up (the unit's next test runs under it again), it
does not count toward `retest.max_attempts`, and it never makes the unit a reject. The slot does not retest after
an ERROR (the station's trouble would most likely repeat); it tells the operator to test the unit again.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import json
import re
import shutil
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from provlab.drivers.capabilities import CapabilityMissing
from provlab.drivers.flashing import FirmwareFile
from provlab.drivers.serial_errors import SerialBoardError
from provlab.lab.config import LabConfig
from provlab.lab.lab import Lab
from provlab.lab.lab_board import LabBoard
from provlab.lab.lab_phone import LabPhone
from provlab.lab.phone import OAuthClient
from provlab.station.automation import AutomationClient, LineOrgs, set_up_line
from provlab.station.line_db import LineDatabase, UnitRow, open_line_database
from provlab.station.operator_view import OperatorView, PlainView
from provlab.station.outputs.csv_log import CsvLineLog
from provlab.station.outputs.junit import write_junit
from provlab.station.outputs.openhtf_json import dumps, write_atomically
from provlab.station.phases import PHASE_RUNNERS, UnitContext
from provlab.station.plan import AlreadyEnrolled, DutIdSource, MeasurementSpec, Plan
from provlab.station.record import (
    Limits,
    Measurement,
    MeasurementOutcome,
    PhaseError,
    PhaseOutcome,
    PhaseRecord,
    UnitOutcome,
    UnitRecord,
)
from provlab.station.scanner import CountedFeed, Job, ScannerFeed, SerialChecker

MAX_SLOTS = 16
MAC_S = 10.0
"""Seconds an attached board's console gets to answer `wifi show` (its MAC names the unit)."""
INTERRUPTED = "station stopped while the unit was under test"


class StationError(RuntimeError):
    """The station cannot start (bad slot count, no cloud); says what was expected."""


def _ms() -> int:
    return int(time.time() * 1000)


def _stamp(ms: int) -> str:
    return _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc).isoformat(timespec="milliseconds")


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


@dataclass
class StationResult:
    records: list[UnitRecord] = field(default_factory=list)
    aborted_on_start: list[str] = field(default_factory=list)
    """Units found interrupted by an earlier run and marked ABORTED before this one started."""
    out_of_retests: list[str] = field(default_factory=list)
    """Units that failed every test the plan allows (`retest.max_attempts`): rejects, tested no more."""
    station_errors: list[str] = field(default_factory=list)
    """Units whose last test ended in the station's own ERROR: not rejects, nothing charged; to be tested again."""
    junit: Path | None = None

    def count(self, outcome: UnitOutcome) -> int:
        return sum(1 for r in self.records if r.outcome is outcome)

    @property
    def ok(self) -> bool:
        """Every unit tested passed in the end (its last test) and none was a reject; True when none was tested."""
        last = {r.dut_id: r for r in self.records}
        return not self.out_of_retests and all(r.outcome is UnitOutcome.PASS for r in last.values())


class Station:
    """A station with `slots` emulated slots (and any attached boards, one slot each) running `plan`."""

    def __init__(
        self,
        plan: Plan,
        *,
        out: Path,
        lab_config: LabConfig | None = None,
        station_id: str = "station-1",
        operator: str = "operator",
        db_url: str | None = None,
        units: int | None = None,
        scanner: TextIO | None = None,
        view: OperatorView | None = None,
        before_phase: Callable[[int, str, LabBoard, Lab], None] | None = None,
    ) -> None:
        config = lab_config or LabConfig(boards=1)
        self.emulated_slots = config.boards
        self.slots = config.boards + len(config.attached)
        if not 1 <= self.slots <= MAX_SLOTS:
            raise StationError(f"a station has 1-{MAX_SLOTS} slots; --boards gives {self.slots}")
        self.plan = plan
        self.out = Path(out)
        overrides: dict[str, object] = {"boards": 0}  # each unit gets its own emulated board when it starts
        if plan.firmware_image is not None and config.clock == "auto":
            # esptool talks to the port in wall time, outside the lab clock: a station that flashes runs on the
            # wall clock (emulated parts in real time)
            overrides |= {"clock": "wall", "time_scale": 1.0}
        self.lab_config = config.with_overrides(**overrides)
        self.station_id = station_id
        self.operator = operator
        self.db_url = db_url or str(self.out / "line.sqlite")
        self.units = units if units is not None else self.slots
        self.scanner = scanner
        self.view = view or PlainView()
        self.before_phase = before_phase
        """Called with (slot, phase, board, lab) before each phase of a unit (a test gives one unit a fault)."""
        self.firmware = FirmwareFile.load(plan.firmware_image) if plan.firmware_image else None
        self.run_id = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
        self._board_numbers = itertools.count(1)
        self._lock = threading.Lock()
        self.result = StationResult()
        self.overhead_s: dict[str, float] = {}
        """Wall seconds each test spent in the station's own bookkeeping (records, database, evidence), by unit."""

    # --- the run -----------------------------------------------------------------------------------------
    def run(self) -> StationResult:
        db = open_line_database(self.db_url)
        try:
            self._board_numbers = itertools.count(len(db.all_units()) + 1)  # emulated MACs new to this line
            self.result.aborted_on_start = self._recover(db)
            csv = CsvLineLog(self.out / "line.csv")
            checker = SerialChecker(self.plan.serial_pattern, db, self.plan.max_attempts)
            with Lab(self.lab_config, artifacts=self.out / "runs" / self.run_id / "lab") as lab:
                robot = lab.oauth_client()  # the line's account made it for the station: no password here
                automation: AutomationClient | None = None
                try:
                    automation = AutomationClient(lab.endpoints.http_url, robot, lab.config.cloud_admin_email)
                    orgs = set_up_line(automation, lab.config.template_id, self.plan.org, self.plan.factory_org)
                    feed: ScannerFeed | CountedFeed
                    if self.plan.dut_id is DutIdSource.SCANNER and self.scanner is not None:
                        feed = ScannerFeed(self.scanner, checker, self.view.rejected)
                    else:
                        feed = CountedFeed(self.units if self.emulated_slots else 0)
                    attached = [board for board in lab.boards if board.attached is not None]  # the lab opened them
                    self.view.started(self.slots, self.plan, self.station_id)
                    self._run_slots(lab, feed, attached, orgs, automation, robot, db, csv, checker)
                finally:
                    if automation is not None:
                        automation.close()
                    self._revoke(lab, robot)
            self.result.junit = self.out / "runs" / self.run_id / "junit.xml"
            write_junit(self.result.junit, self.result.records, name=f"{self.plan.name} {self.plan.version}")
        finally:
            db.close()
            self.view.finished(self.result)
        return self.result

    def _revoke(self, lab: Lab, robot: OAuthClient) -> None:
        """The station's OAuth2 client ends with its run (its bearers with it): a cloud that outlives the run (a stub
        elsewhere, a real one) keeps no working credential per run. A refusal is told, not raised (the run's own
        outcome or error stays what the operator sees)."""
        try:
            lab.cloud_service.revoke_oauth_client(robot.client_id)
        except Exception as exc:
            self.view.message(
                f"could not revoke the station's OAuth2 client {robot.client_id} ({type(exc).__name__}: {exc}); "
                "revoke it in the cloud's console"
            )

    def _run_slots(
        self,
        lab: Lab,
        feed: ScannerFeed | CountedFeed,
        attached: list[LabBoard],
        orgs: LineOrgs,
        automation: AutomationClient,
        robot: OAuthClient,
        db: LineDatabase,
        csv: CsvLineLog,
        checker: SerialChecker,
    ) -> None:
        phones = [lab.phone(oauth_client=robot) for _ in range(self.slots)]
        for slot, phone in enumerate(phones, 1):
            phone.phone.name = f"phone-slot-{slot}"  # its steps name the slot (the unit's evidence picks them)
        ready = [threading.Event() for _ in range(self.slots)]

        def slot_body(slot: int) -> None:
            lab.clock.attach_driver()
            ready[slot - 1].set()
            try:
                given = attached[slot - 1 - self.emulated_slots] if slot > self.emulated_slots else None
                self._slot(slot, lab, feed, given, phones[slot - 1], orgs, automation, db, csv, checker)
            finally:
                lab.clock.detach_driver()

        threads = [
            threading.Thread(target=slot_body, args=(slot,), name=f"provlab-slot-{slot}", daemon=True)
            for slot in range(1, self.slots + 1)
        ]
        for thread in threads:
            thread.start()
        for event in ready:
            event.wait()
        lab.clock.detach_driver()  # the slots drive the lab now; this thread only waits for them
        try:
            for thread in threads:
                thread.join()
        finally:
            lab.clock.attach_driver()

    def _slot(
        self,
        slot: int,
        lab: Lab,
        feed: ScannerFeed | CountedFeed,
        given: LabBoard | None,
        phone: LabPhone,
        orgs: LineOrgs,
        automation: AutomationClient,
        db: LineDatabase,
        csv: CsvLineLog,
        checker: SerialChecker,
    ) -> None:
        """Units one after another on `slot` until the feed runs out (a given board: that one unit)."""
        while True:
            if given is not None:
                job: Job | None = Job(None)
            else:
                lab.clock.detach_driver()  # waiting for the operator's next scan: device time may pass
                try:
                    job = feed.next_job()
                finally:
                    lab.clock.attach_driver()
            if job is None:
                return
            board = given
            try:  # whatever happens from here, the scanned serial is released and the emulated board removed
                if board is None:
                    board = lab.add_emulated_board(self._next_board_number())
                mac = self._mac_of(board, slot)
                dut_id = job.serial or mac or board.info.name or board.name
                # a scanned unit, or a real board named by its own MAC, continues its history on the line; an
                # emulated unit is new to the line (its MAC is made for it: `_board_numbers`)
                known = job.serial is not None or (board.emulated is None and mac is not None)
                failed = db.failed_tests(dut_id) if known else 0
                if failed >= self.plan.max_attempts:
                    self._already_out_of_retests(slot, dut_id, failed)
                record: UnitRecord | None = None
                while failed < self.plan.max_attempts:
                    record = self._test_unit(
                        slot, lab, board, phone, orgs, automation, db, csv, dut_id, mac, failed + 1
                    )
                    if record.outcome is not UnitOutcome.FAIL:
                        break  # PASS: done; ERROR: the station's, not charged to the unit (see the module's doc)
                    failed += 1
                if record is not None and record.outcome is UnitOutcome.FAIL:
                    self._out_of_retests(slot, record)
                elif record is not None and record.outcome is UnitOutcome.ERROR:
                    self._station_error(slot, record)
            finally:
                if job.serial is not None:
                    checker.release(job.serial)
                if given is None and board is not None:
                    lab.remove_board(board)
            if given is not None:
                return

    def _out_of_retests(self, slot: int, last: UnitRecord) -> None:
        """The unit failed its last test the plan allows: it leaves the station as a reject."""
        with self._lock:
            self.result.out_of_retests.append(last.dut_id)
        self.view.message(
            f"slot {slot}: {last.dut_id} out of retests: test #{last.attempt} of {self.plan.max_attempts} the plan "
            f"allows ended {last.outcome.value if last.outcome else '?'} at {last.first_failure}"
        )

    def _already_out_of_retests(self, slot: int, dut_id: str, failed: int) -> None:
        """A real board that failed every test the plan allows in earlier runs: a reject, not tested again (a
        scanned one is refused at the scan)."""
        with self._lock:
            self.result.out_of_retests.append(dut_id)
        self.view.message(
            f"slot {slot}: {dut_id} out of retests: it failed {failed} test(s) in earlier runs, the plan allows "
            f"{self.plan.max_attempts}; not tested again"
        )

    def _station_error(self, slot: int, last: UnitRecord) -> None:
        """The station could not finish the unit's test: not the unit's fault, so not a reject; test it again."""
        with self._lock:
            self.result.station_errors.append(last.dut_id)
        self.view.message(
            f"slot {slot}: station error: test {last.dut_id} again (test #{last.attempt} ended ERROR at "
            f"{last.first_failure}; not counted against the {self.plan.max_attempts} test(s) the plan allows)"
        )

    def _next_board_number(self) -> int:
        with self._lock:
            return next(self._board_numbers)

    def _mac_of(self, board: LabBoard, slot: int) -> str | None:
        """The unit's station MAC: the emulated board's, or what an attached board's console says (`wifi show`);
        None, with a word to the operator, when the board cannot tell it (no console, no answer)."""
        try:
            return board.mac(timeout=MAC_S)
        except (SerialBoardError, AssertionError, CapabilityMissing) as exc:
            fallback = board.info.name or board.name
            self.view.message(f"slot {slot}: {board.name} did not tell its MAC ({exc}); the unit is named {fallback}")
            return None

    # --- one test of one unit ------------------------------------------------------------------------------
    def _test_unit(
        self,
        slot: int,
        lab: Lab,
        board: LabBoard,
        phone: LabPhone,
        orgs: LineOrgs,
        automation: AutomationClient,
        db: LineDatabase,
        csv: CsvLineLog,
        dut_id: str,
        mac: str | None,
        attempt: int,
    ) -> UnitRecord:
        plan = self.plan
        started = _ms()
        record = UnitRecord(
            dut_id=dut_id,
            mac=mac,
            station_id=self.station_id,
            slot=slot,
            operator=self.operator,
            plan_name=plan.name,
            plan_version=plan.version,
            firmware_sha256=self.firmware.image.sha256 if self.firmware else None,
            start_ms=started,
            attempt=attempt,
            plan_description=plan.description,
            plan_settings=plan.settings(),
            run_id=self.run_id,
            unit_uid=_safe(f"{dut_id}-{attempt}-{started}"),
        )
        booked = time.perf_counter()
        evidence = self.out / "evidence" / record.unit_uid
        evidence.mkdir(parents=True, exist_ok=True)
        record.evidence = str(evidence)
        db.unit_started(record, dumps(record))
        bookkeeping = time.perf_counter() - booked
        self.view.unit_started(slot, dut_id, attempt)
        ctx = UnitContext(lab, board, phone, automation, orgs, plan, evidence, firmware=self.firmware)
        wall_started = time.time()
        try:
            self._run_phases(ctx, record, slot)
        except BaseException as exc:  # an operator stop (^C) mid-phase: nothing is known about the unit
            record.outcome = UnitOutcome.ABORTED
            record.first_failure = record.first_failure or INTERRUPTED
            record.failure_detail = f"{type(exc).__name__}: {exc}"
            self._finish(record, ctx, lab, board, phone, wall_started, db, csv)
            raise
        booked = time.perf_counter()
        self._finish(record, ctx, lab, board, phone, wall_started, db, csv)
        with self._lock:
            self.overhead_s[record.unit_uid] = bookkeeping + time.perf_counter() - booked
        return record

    def _run_phases(self, ctx: UnitContext, record: UnitRecord, slot: int) -> None:
        stopped = False
        for phase_plan in self.plan.phases:
            phase = PhaseRecord(phase_plan.name, _ms(), device_start_s=ctx.lab.clock.now())
            record.phases.append(phase)
            if stopped:
                phase.outcome = PhaseOutcome.SKIP
                phase.end_ms, phase.device_end_s = phase.start_ms, phase.device_start_s
                continue
            self.view.phase(slot, phase_plan.name)
            values: dict[str, object] = {}
            try:
                if self.before_phase is not None:
                    self.before_phase(slot, phase_plan.name, ctx.board, ctx.lab)
                PHASE_RUNNERS[phase_plan.name](ctx, values)
            except Exception as exc:  # the station's own trouble (cloud refused it, a port died): ERROR
                phase.outcome = PhaseOutcome.ERROR
                phase.error = PhaseError.of(exc, traceback.format_exc(limit=4))
                record.outcome = UnitOutcome.ERROR
                record.first_failure = f"{phase_plan.name}: {type(exc).__name__}"
                record.failure_detail = f"{exc}\n{phase.error.traceback}"
                stopped = True
            for spec in phase_plan.measurements:
                measurement = Measurement(spec.name, spec.unit, self._limits(spec, ctx), spec.docstring)
                if spec.name in values:
                    measurement.measure(values[spec.name])
                phase.measurements.append(measurement)
                # a measurement the phase never set fails it, as in OpenHTF: nothing measured proves nothing
                if measurement.outcome is not MeasurementOutcome.PASS and not stopped:
                    phase.outcome = PhaseOutcome.FAIL
                    record.outcome = UnitOutcome.FAIL
                    record.first_failure = f"{phase_plan.name}.{spec.name}"
                    record.failure_detail = measurement.describe() + (f"; {ctx.detail}" if ctx.detail else "")
                    stopped = True
            phase.end_ms, phase.device_end_s = _ms(), ctx.lab.clock.now()
        if record.outcome is None:
            record.outcome = UnitOutcome.PASS

    def _limits(self, spec: MeasurementSpec, ctx: UnitContext) -> Limits:
        """The plan's limits, with the equalities only the run knows (org ids, the value written, the version)."""
        runtime = {
            "firmware_version": self.firmware.version if self.firmware else self.plan.firmware_version,
            "token_org": ctx.target_org,
            "device_org": ctx.orgs.customer_id,
            "pin_echo": ctx.expected.get("pin_echo"),
            "already_enrolled": False if self.plan.already_enrolled is AlreadyEnrolled.FAIL else None,
        }
        if spec.numeric or spec.limits.equals is not None or runtime.get(spec.name) is None:
            return spec.limits
        return Limits(equals=runtime[spec.name])

    def _finish(
        self,
        record: UnitRecord,
        ctx: UnitContext,
        lab: Lab,
        board: LabBoard,
        phone: LabPhone,
        wall_started: float,
        db: LineDatabase,
        csv: CsvLineLog,
    ) -> None:
        record.end_ms = _ms()
        record.device_id = ctx.device_id
        record.org_id = ctx.org_id
        if ctx.org_id is not None:
            names = {ctx.orgs.customer_id: ctx.orgs.customer_name, ctx.orgs.factory_id: ctx.orgs.factory_name}
            record.org_name = names.get(ctx.org_id)
        evidence = Path(record.evidence or "")
        if record.outcome is UnitOutcome.PASS:
            shutil.rmtree(evidence, ignore_errors=True)
            record.evidence = None
        else:
            self._keep_evidence(evidence, lab, board, phone, wall_started)
        text = dumps(record)
        if record.outcome is not UnitOutcome.PASS:
            write_atomically(evidence / "record.json", text)
        write_atomically(self.out / "records" / f"{record.unit_uid}.json", text)
        csv.write(record, _stamp(record.end_ms))
        db.unit_finished(record, text)
        with self._lock:
            self.result.records.append(record)
        self.view.unit_finished(record)

    @staticmethod
    def _keep_evidence(folder: Path, lab: Lab, board: LabBoard, phone: LabPhone, since: float) -> None:
        """The unit's own evidence: its serial log, its steps and its phone's (secrets masked as in the lab's)."""
        folder.mkdir(parents=True, exist_ok=True)
        log = board.serial.log_path
        if log is not None and Path(log).exists():
            shutil.copyfile(log, folder / "board.log")
        subjects = {board.name, phone.name}
        with (folder / "steps.jsonl").open("w", encoding="utf-8") as out:
            for step in list(lab.steps.steps):
                if step.subject in subjects and step.started >= since:
                    out.write(json.dumps(step.record(), default=str) + "\n")
        with (folder / "phone.jsonl").open("w", encoding="utf-8") as out:  # the slot's phone: its exchanges
            for entry in list(lab.phone_journal.records):
                if entry.get("phone") == phone.name and entry["ts"] >= since:
                    out.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")

    # --- a station that stopped under its units -----------------------------------------------------------
    def _recover(self, db: LineDatabase) -> list[str]:
        """Units an earlier run of this station left under test: ABORTED, with a record and a CSV line."""
        found = db.interrupted(self.station_id)
        if not found:
            return []
        csv = CsvLineLog(self.out / "line.csv")
        for row in found:
            record = _aborted_record(row)
            text = dumps(record)
            write_atomically(self.out / "records" / f"{record.unit_uid}.json", text)
            csv.write(record, _stamp(record.end_ms))
            db.mark_aborted(row.uid, record.end_ms, text, INTERRUPTED)
            self.view.message(f"unit {row.dut_id} (slot {row.slot}) was under test when the station stopped: ABORTED")
        return [row.uid for row in found]


def _aborted_record(row: UnitRow) -> UnitRecord:
    stored = json.loads(row.record_json or "{}")
    meta = stored.get("metadata", {})
    return UnitRecord(
        dut_id=row.dut_id,
        mac=meta.get("mac"),
        station_id=row.station_id,
        slot=row.slot,
        operator=str(meta.get("operator_name", "")),
        plan_name=str(meta.get("test_name", "")),
        plan_version=str(meta.get("test_version", "")),
        firmware_sha256=meta.get("firmware_sha256"),
        start_ms=row.start_ms,
        attempt=row.attempt,
        plan_description=str(meta.get("test_description", "")),
        plan_settings=dict(meta.get("config") or {}),
        end_ms=_ms(),
        outcome=UnitOutcome.ABORTED,
        first_failure=INTERRUPTED,
        failure_detail="found under test when the station started again (power cut or kill)",
        evidence=meta.get("evidence"),
        run_id=str(meta.get("run_id", "")),
        unit_uid=row.uid,
    )
