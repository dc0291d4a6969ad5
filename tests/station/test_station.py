"""The acceptance station on emulated slots: units in parallel, their records, outputs, provisioning and retests."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import threading
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from provlab.lab.config import LabConfig
from provlab.lab.lab import Lab
from provlab.lab.lab_board import LabBoard
from provlab.lab.phone import AP_SEARCH_S
from provlab.station.line_db import SqliteLineDatabase
from provlab.station.line_report import report_for, write_html
from provlab.station.operator_view import PlainView
from provlab.station.phases import PHASE_RUNNERS, UnitContext
from provlab.station.plan import DEFAULT_PLAN, load_plan, parse_plan
from provlab.station.record import MeasurementOutcome, PhaseOutcome, UnitOutcome
from provlab.station.runner import Station, StationError, StationResult
from provlab.station.scanner import SerialChecker

PLAN_HEAD = "name: t\nversion: '2.1'\nfirmware: {version: 0.1.0}\n"


def run_station(out: Path, slots: int, units: int, plan_text: str | None = None, **kw: object) -> StationResult:
    plan = parse_plan(plan_text, "test-plan.yaml") if plan_text else load_plan(DEFAULT_PLAN)
    view = kw.pop("view", None) or PlainView(io.StringIO())
    station = Station(plan, out=out, lab_config=LabConfig(boards=slots), units=units, view=view, **kw)  # type: ignore[arg-type]
    return station.run()


def test_emulated_slots_test_every_unit_and_write_every_output(tmp_path: Path) -> None:
    result = run_station(tmp_path, slots=3, units=4, station_id="line1-st2", operator="ann")
    assert [r.outcome for r in result.records] == [UnitOutcome.PASS] * 4
    assert {r.slot for r in result.records} == {1, 2, 3}
    for unit in result.records:  # a passing unit passed every measurement of the shipped plan, each with a value
        measured = unit.measurements()
        assert len(measured) == 12
        assert [(p, m.name) for p, m in measured if m.outcome is not MeasurementOutcome.PASS or m.value is None] == []
    assert len({r.dut_id for r in result.records}) == 4  # each unit a board of its own, named by its MAC
    # one JSON record per unit, in OpenHTF's layout
    files = sorted((tmp_path / "records").glob("*.json"))
    assert len(files) == 4
    record = json.loads(files[0].read_text())
    assert record["outcome"] == "PASS" and record["station_id"] == "line1-st2"
    assert record["metadata"]["operator_name"] == "ann" and record["metadata"]["test_version"] == "1.0"
    assert [p["name"] for p in record["phases"]] == [
        "flash", "boot", "provision", "cloud_login", "data_round_trip", "factory_reset",
    ]  # fmt: skip
    rssi = record["phases"][2]["measurements"]["rssi_dbm"]
    assert rssi["units"]["suffix"] == "dBm" and rssi["validators"] == ["-85 <= x <= 0"] and rssi["outcome"] == "PASS"
    assert record["phases"][0]["measurements"]["firmware_version"]["measured_value"] == "0.1.0"
    assert record["start_time_millis"] <= record["end_time_millis"]
    assert record["metadata"]["org_name"] == "Acme Corp" and record["metadata"]["device_id"] is not None
    # the CSV line log, the line database, JUnit
    rows = list(csv.DictReader((tmp_path / "line.csv").open()))
    assert [row["outcome"] for row in rows] == ["PASS"] * 4
    db = sqlite3.connect(tmp_path / "line.sqlite")
    assert db.execute("SELECT count(*), count(DISTINCT device_id) FROM units WHERE outcome = 'PASS'").fetchone() == (
        4,
        4,
    )
    assert db.execute("SELECT count(*) FROM measurements").fetchone()[0] == 4 * 12
    db.close()
    assert result.junit is not None
    suite = ET.parse(result.junit).getroot()
    assert suite.get("tests") == "4" and suite.get("failures") == "0"
    # passing units keep no evidence folder
    assert all(r.evidence is None for r in result.records)
    assert list((tmp_path / "evidence").iterdir()) == []


def test_one_units_failure_does_not_stop_the_others_and_keeps_its_evidence(tmp_path: Path) -> None:
    """Slot 1's unit is heard weakly by the phone (-88 dBm, the plan wants -85 or better): it fails at its RSSI,
    the other slots' units pass; the failing one keeps its serial log, its steps and its record."""

    def weak_ap_on_slot_1(slot: int, phase: str, board: LabBoard, lab: Lab) -> None:
        if slot == 1 and phase == "provision":
            lab.faults.set_rssi(board.ssid, -88)

    plan = PLAN_HEAD + "retest: {max_attempts: 1}\nphases: [flash, boot, provision, cloud_login]\n"
    result = run_station(tmp_path, slots=3, units=3, plan_text=plan, before_phase=weak_ap_on_slot_1)
    by_slot = {r.slot: r for r in result.records}
    assert by_slot[2].outcome is UnitOutcome.PASS and by_slot[3].outcome is UnitOutcome.PASS
    failed = by_slot[1]
    assert failed.outcome is UnitOutcome.FAIL
    assert failed.first_failure == "provision.rssi_dbm"
    assert failed.failure_detail is not None and "rssi_dbm = -88 dBm" in failed.failure_detail
    assert [p.outcome.value for p in failed.phases] == ["PASS", "PASS", "FAIL", "SKIP"]
    evidence = Path(failed.evidence or "")
    assert {p.name for p in evidence.iterdir()} >= {"board.log", "steps.jsonl", "phone.jsonl", "record.json"}
    exchanges = [json.loads(line) for line in (evidence / "phone.jsonl").read_text().splitlines()]
    assert exchanges and {e["phone"] for e in exchanges} == {"phone-slot-1"}
    assert "AP URL:" in (evidence / "board.log").read_text()
    assert json.loads((evidence / "record.json").read_text())["outcome_details"][0]["code"] == "provision.rssi_dbm"
    suite = ET.parse(result.junit or "").getroot()
    assert suite.get("failures") == "1"
    assert not result.ok


def test_a_measurement_the_phase_never_set_fails_the_phase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A boot phase that forgets to time the access point (a phase's bug, or a board that printed nothing to time)
    leaves `time_to_ap_s` UNSET: as in OpenHTF, the phase fails and the unit with it; nothing measured proves
    nothing."""
    real_boot = PHASE_RUNNERS["boot"]

    def boot_without_ap_time(ctx: UnitContext, values: dict[str, object]) -> None:
        real_boot(ctx, values)
        del values["time_to_ap_s"]

    monkeypatch.setitem(PHASE_RUNNERS, "boot", boot_without_ap_time)
    plan = PLAN_HEAD + "retest: {max_attempts: 1}\nphases: [flash, boot, provision]\n"
    record = run_station(tmp_path, slots=1, units=1, plan_text=plan).records[0]
    assert record.outcome is UnitOutcome.FAIL
    assert record.first_failure == "boot.time_to_ap_s"
    assert [p.outcome for p in record.phases] == [PhaseOutcome.PASS, PhaseOutcome.FAIL, PhaseOutcome.SKIP]
    unset = record.phases[1].measurement("time_to_ap_s")
    assert unset.outcome is MeasurementOutcome.UNSET and unset.value is None
    assert record.failure_detail is not None
    assert record.failure_detail.startswith("time_to_ap_s was not measured (UNSET), expected 0 <= x <= 30")
    written = json.loads((tmp_path / "records" / f"{record.unit_uid}.json").read_text())
    assert written["phases"][1]["measurements"]["time_to_ap_s"] == {
        "name": "time_to_ap_s",
        "outcome": "UNSET",
        "validators": ["0 <= x <= 30"],
        "units": {"name": "second [unit of time]", "code": "SEC", "suffix": "s"},
        "docstring": "device seconds from power-on to WAIT_CONFIG (access point up)",
    }  # no measured_value: OpenHTF leaves it out of an unset measurement


def test_factory_org_then_transfer_records_where_the_unit_landed(tmp_path: Path) -> None:
    plan = (
        PLAN_HEAD
        + "provisioning: {org: Globex, workflow: via_factory_org, factory_org: Factory Floor}\n"
        + "phases: [boot, provision, cloud_login]\n"
    )
    result = run_station(tmp_path, slots=1, units=1, plan_text=plan)
    record = result.records[0]
    assert record.outcome is UnitOutcome.PASS, record.failure_detail
    token_org = record.phases[1].measurement("token_org")
    device_org = record.phases[2].measurement("device_org")
    assert token_org.value != device_org.value  # activated in the factory org, then moved
    assert record.org_name == "Globex" and record.org_id == device_org.value and record.device_id is not None


@pytest.mark.parametrize(("rule", "outcome"), [("fail", UnitOutcome.FAIL), ("reprovision", UnitOutcome.PASS)])
def test_an_enrolled_unit_is_handled_by_the_plans_rule(tmp_path: Path, rule: str, outcome: UnitOutcome) -> None:
    """A unit that comes to the station already provisioned (it boots into CONNECTING_NET)."""

    def enrolled_before(slot: int, phase: str, board: LabBoard, lab: Lab) -> None:
        if phase == "flash":
            board.expect_state("WAIT_CONFIG", timeout=30)
            lab.phone().provision(board)

    plan = PLAN_HEAD + f"provisioning: {{already_enrolled: {rule}}}\nretest: {{max_attempts: 1}}\n"
    plan += "phases: [flash, boot, provision, cloud_login]\n"
    record = run_station(tmp_path, slots=1, units=1, plan_text=plan, before_phase=enrolled_before).records[0]
    assert record.outcome is outcome, record.failure_detail
    assert record.phases[1].measurement("already_enrolled").value is True
    if outcome is UnitOutcome.FAIL:
        assert record.first_failure == "boot.already_enrolled"
        assert record.failure_detail is not None and "enrolled before" in record.failure_detail


def test_a_failed_unit_is_retested_and_the_line_report_tells_both_yields(tmp_path: Path) -> None:
    """Each unit's first test meets a weak AP; its retest passes: first-pass yield 0 %, final yield 100 %."""
    first_tests: set[str] = set()

    def weak_on_first_test(slot: int, phase: str, board: LabBoard, lab: Lab) -> None:
        if phase == "provision" and board.name not in first_tests:
            first_tests.add(board.name)
            lab.faults.set_rssi(board.ssid, -88)

    plan = PLAN_HEAD + "retest: {max_attempts: 3}\nphases: [flash, boot, provision]\n"
    result = run_station(tmp_path, slots=2, units=2, plan_text=plan, before_phase=weak_on_first_test)
    attempts = sorted((r.dut_id, r.attempt, r.outcome) for r in result.records)
    assert [(a, o) for _, a, o in attempts] == [(1, UnitOutcome.FAIL), (2, UnitOutcome.PASS)] * 2
    assert result.ok
    db = SqliteLineDatabase(tmp_path / "line.sqlite")
    try:
        report = report_for(db)
    finally:
        db.close()
    assert report.units == 2 and report.tests == 4
    assert report.first_pass_yield == 0.0 and report.final_yield == 1.0
    assert report.pareto == [("provision.rssi_dbm", 2)]
    assert len(report.cycle_times) == 4 and report.cycle(0.5) is not None
    page = write_html(report, tmp_path / "line.html").read_text()
    assert page.count("<svg") == 3 and "provision.rssi_dbm" in page


def test_a_unit_failing_every_test_gets_exactly_the_plans_tests_and_then_is_out_of_retests(tmp_path: Path) -> None:
    """`retest: {max_attempts: 3}` counts tests, the first included: a unit that fails each time is tested three
    times, gives three FAIL records, and leaves as a reject ("out of retests")."""

    def always_weak(slot: int, phase: str, board: LabBoard, lab: Lab) -> None:
        if phase == "provision":
            lab.faults.set_rssi(board.ssid, -88)

    plan = PLAN_HEAD + "retest: {max_attempts: 3}\nphases: [boot, provision]\n"
    shown = io.StringIO()
    station = Station(parse_plan(plan, "retest.yaml"), out=tmp_path, lab_config=LabConfig(boards=1), units=1,
                      view=PlainView(shown), before_phase=always_weak)  # fmt: skip
    result = station.run()
    (dut,) = {r.dut_id for r in result.records}
    assert [(r.attempt, r.outcome) for r in result.records] == [(n, UnitOutcome.FAIL) for n in (1, 2, 3)]
    assert result.out_of_retests == [dut] and not result.ok
    said = shown.getvalue()
    assert f"slot 1: {dut} out of retests: test #3 of 3 the plan allows ended FAIL at provision.rssi_dbm" in said
    assert f"out of retests (rejects): {dut}" in said  # the closing summary
    db = SqliteLineDatabase(tmp_path / "line.sqlite")
    try:
        assert [(t.attempt, t.outcome) for t in db.tests_of(dut)] == [(1, "FAIL"), (2, "FAIL"), (3, "FAIL")]
    finally:
        db.close()


def test_scanned_serials_name_the_units_and_garbage_or_duplicates_are_refused(tmp_path: Path) -> None:
    scans = io.StringIO("SN-000001\n\x1b[2~garbage\nab\nSN-000001\nSN-000002\n")
    plan = load_plan(DEFAULT_PLAN)
    shown = io.StringIO()
    station = Station(
        plan.__class__(**{**plan.__dict__, "dut_id": plan.dut_id.SCANNER}),
        out=tmp_path,
        lab_config=LabConfig(boards=1),
        scanner=scans,
        view=PlainView(shown),
    )
    result = station.run()
    assert sorted(r.dut_id for r in result.records) == ["SN-000001", "SN-000002"]
    assert all(r.outcome is UnitOutcome.PASS and r.mac for r in result.records)
    said = shown.getvalue()
    assert "holds control characters" in said
    assert "'ab' is not a serial number" in said
    assert "duplicate serial rejected: SN-000001" in said
    # a later run refuses the unit that already passed
    again = io.StringIO()
    Station(station.plan, out=tmp_path, lab_config=LabConfig(boards=1), scanner=io.StringIO("SN-000002\n"),
            view=PlainView(again)).run()  # fmt: skip
    assert "SN-000002 already passed" in again.getvalue()


def test_the_cloud_refusing_the_station_is_an_error_not_a_failed_unit(tmp_path: Path) -> None:
    def token_issue_down(slot: int, phase: str, board: LabBoard, lab: Lab) -> None:
        if phase == "provision":
            lab.cloud_faults.fail_token_issue(503)

    plan = PLAN_HEAD + "retest: {max_attempts: 1}\nphases: [boot, provision, cloud_login]\n"
    shown = io.StringIO()
    result = run_station(tmp_path, slots=1, units=1, plan_text=plan, before_phase=token_issue_down,
                         view=PlainView(shown))  # fmt: skip
    record = result.records[0]
    assert record.outcome is UnitOutcome.ERROR
    # the station's trouble: with one test allowed, the unit is still no reject; the operator tests it again
    assert result.out_of_retests == [] and result.station_errors == [record.dut_id]
    said = shown.getvalue()
    assert f"slot 1: station error: test {record.dut_id} again (test #1 ended ERROR at provision: " in said
    assert "out of retests" not in said
    assert record.first_failure == "provision: CloudRefusedStation"
    assert record.failure_detail is not None and "503" in record.failure_detail
    assert [p.outcome.value for p in record.phases] == ["PASS", "ERROR", "SKIP"]
    suite = ET.parse(result.junit or "").getroot()
    assert suite.get("errors") == "1" and suite.get("failures") == "0"
    # the JSON record says it as OpenHTF does for a phase that raised: the exception's type and message
    written = json.loads((tmp_path / "records" / f"{record.unit_uid}.json").read_text())
    (detail,) = written["outcome_details"]
    assert detail["code"] == "CloudRefusedStation" and "503" in detail["description"]
    raised = written["phases"][1]["result"]["phase_result"]
    assert raised["exc_type"] == "<class 'provlab.station.phases.CloudRefusedStation'>"
    assert raised["exc_val"] == detail["description"] and "Traceback" in raised["exc_tb"]


def test_a_station_error_is_not_charged_to_the_unit(tmp_path: Path) -> None:
    """`retest: {max_attempts: 2}` and a scanned unit: its test #1 fails (weak AP), its test #2 meets the cloud
    refusing the station (ERROR). The slot does not retest after a station error, the unit is no reject, and the
    ERROR did not use up test #2: the next run takes the same serial (the plan allows two tests, it has had one
    FAIL) and tests it as #2, which passes."""
    tests: list[str] = []

    def fail_then_station_error(slot: int, phase: str, board: LabBoard, lab: Lab) -> None:
        if phase == "provision":
            tests.append(board.name)
            if len(tests) == 1:
                lab.faults.set_rssi(board.ssid, -88)
            else:
                lab.faults.set_rssi(board.ssid, -40)
                lab.cloud_faults.fail_token_issue(503)

    plan = PLAN_HEAD + "dut_id: scanner\nretest: {max_attempts: 2}\nphases: [boot, provision, cloud_login]\n"
    shown = io.StringIO()
    first = run_station(tmp_path, slots=1, units=1, plan_text=plan, scanner=io.StringIO("SN-000042\n"),
                        before_phase=fail_then_station_error, view=PlainView(shown))  # fmt: skip
    assert [(r.attempt, r.outcome) for r in first.records] == [(1, UnitOutcome.FAIL), (2, UnitOutcome.ERROR)]
    assert len(tests) == 2  # no third test after the ERROR
    assert first.out_of_retests == [] and first.station_errors == ["SN-000042"]
    assert "station error: test SN-000042 again (test #2 ended ERROR" in shown.getvalue()
    again = io.StringIO()
    second = run_station(tmp_path, slots=1, units=1, plan_text=plan, scanner=io.StringIO("SN-000042\n"),
                         view=PlainView(again))  # fmt: skip
    assert "rejected" not in again.getvalue()
    assert [(r.dut_id, r.attempt, r.outcome) for r in second.records] == [("SN-000042", 2, UnitOutcome.PASS)]
    assert second.out_of_retests == [] and second.station_errors == [] and second.ok
    db = SqliteLineDatabase(tmp_path / "line.sqlite")
    try:
        assert [(t.attempt, t.outcome) for t in db.tests_of("SN-000042")] == [(1, "FAIL"), (2, "ERROR"), (2, "PASS")]
    finally:
        db.close()


def test_a_stalled_unit_delays_no_other_slot(tmp_path: Path) -> None:
    """Slot 1's unit has its access point gone when the phone looks for it: the phone searches for it for
    AP_SEARCH_S device seconds before the unit fails. Meanwhile slot 2 tests the other three units from start to
    end: on the lab clock they all end before the stalled phase does, and their records come first."""

    def ap_gone_on_slot_1(slot: int, phase: str, board: LabBoard, lab: Lab) -> None:
        if slot == 1 and phase == "provision":
            lab.faults.ap_down(board.ssid)

    plan = PLAN_HEAD + "retest: {max_attempts: 1}\nphases: [flash, boot, provision, cloud_login]\n"
    result = run_station(tmp_path, slots=2, units=4, plan_text=plan, before_phase=ap_gone_on_slot_1)
    assert [r.slot for r in result.records] == [2, 2, 2, 1]
    stalled = result.records[-1]
    assert stalled.outcome is UnitOutcome.FAIL and stalled.first_failure == "provision.rssi_dbm"
    stuck = stalled.phases[2]
    assert stuck.name == "provision" and stuck.device_end_s - stuck.device_start_s >= AP_SEARCH_S
    others = result.records[:3]
    assert [r.outcome for r in others] == [UnitOutcome.PASS] * 3
    for unit in others:  # each tested while slot 1 waited, on the lab clock
        assert unit.phases[-1].device_end_s <= stuck.device_end_s
    assert all(unit.phases[0].device_start_s >= stuck.device_start_s for unit in others[1:])


def test_a_station_takes_sixteen_slots_at_once(tmp_path: Path) -> None:
    plan = PLAN_HEAD + "retest: {max_attempts: 1}\nphases: [flash, boot]\n"
    result = run_station(tmp_path, slots=16, units=16, plan_text=plan)
    assert sorted(r.slot for r in result.records) == list(range(1, 17))
    assert [r.outcome for r in result.records] == [UnitOutcome.PASS] * 16, [r.failure_detail for r in result.records]


@pytest.mark.parametrize("slots", [0, 17])
def test_a_station_refuses_slots_outside_one_to_sixteen(tmp_path: Path, slots: int) -> None:
    with pytest.raises(StationError, match=f"a station has 1-16 slots; --boards gives {slots}$"):
        Station(load_plan(DEFAULT_PLAN), out=tmp_path, lab_config=LabConfig(boards=slots))
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_a_plan_with_an_image_flashes_each_unit_with_esptool_and_checks_its_version(tmp_path: Path) -> None:
    """The flash phase writes the plan's image over the unit's serial port (the emulated ROM downloader) and the
    banner must then report the image's version; the record carries the image's SHA-256."""
    from provlab.protocol.firmware_image import build_app_image, parse_app_image

    image = build_app_image("1.2.3", code_size=4096)
    (tmp_path / "fw.bin").write_bytes(image)
    text = "name: f\nversion: '1'\nfirmware: {image: fw.bin}\nretest: {max_attempts: 1}\nphases: [flash, boot]\n"
    plan = parse_plan(text, str(tmp_path / "plan.yaml"), base=tmp_path)
    result = Station(plan, out=tmp_path / "line", lab_config=LabConfig(boards=1), view=PlainView(io.StringIO())).run()
    record = result.records[0]
    assert record.outcome is UnitOutcome.PASS, record.failure_detail
    flashed = record.phases[0].measurement("firmware_version")
    assert flashed.value == "1.2.3" and flashed.limits.equals == "1.2.3"
    assert record.firmware_sha256 == parse_app_image(image).sha256
    assert record.phases[1].measurement("time_to_ap_s").value is not None


def test_a_unit_whose_mac_cannot_be_read_still_frees_its_serial_and_its_board(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error the station does not expect while it asks a unit its MAC (a port that dies under `wifi show`) ends
    that slot, but never with the scanned serial still claimed as under test or the emulated board left on the lab."""

    def port_died(board: LabBoard, timeout: float = 10.0) -> str:
        raise RuntimeError("port died")

    released: list[str] = []
    removed: list[str] = []
    release, remove = SerialChecker.release, Lab.remove_board

    def released_too(checker: SerialChecker, serial: str) -> None:
        released.append(serial)
        release(checker, serial)

    def removed_too(lab: Lab, board: LabBoard) -> None:
        removed.append(board.name)
        remove(lab, board)

    monkeypatch.setattr(LabBoard, "mac", port_died)
    monkeypatch.setattr(SerialChecker, "release", released_too)
    monkeypatch.setattr(Lab, "remove_board", removed_too)
    died: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda hook: died.append(hook.exc_value))
    plan = PLAN_HEAD + "dut_id: scanner\nretest: {max_attempts: 1}\nphases: [boot]\n"
    result = run_station(tmp_path, slots=1, units=1, plan_text=plan, scanner=io.StringIO("SN-000007\n"))
    assert result.records == []
    assert [str(exc) for exc in died] == ["port died"]  # the error still surfaces (the slot's thread)
    assert released == ["SN-000007"] and len(removed) == 1
