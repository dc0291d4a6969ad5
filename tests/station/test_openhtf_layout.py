"""The unit record as OpenHTF lays out its JSON output: the keys of each level, the units and the validators as
OpenHTF prints them (read in OpenHTF's `core/test_record.py`, `core/phase_descriptor.py`, `util/units.py` and
`util/validators.py`), and the few documented provlab additions."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from provlab.lab.config import LabConfig
from provlab.lab.lab import Lab
from provlab.lab.lab_board import LabBoard
from provlab.station.operator_view import PlainView
from provlab.station.plan import parse_plan
from provlab.station.record import Limits
from provlab.station.runner import Station

# TestRecord.as_base_types(): what OpenHTF's OutputToJSON writes at the top level
OPENHTF_TOP = {
    "dut_id", "station_id", "start_time_millis", "end_time_millis", "outcome", "outcome_details", "marginal",
    "metadata", "phases", "subtests", "branches", "diagnosers", "diagnoses", "log_records", "code_info",
}  # fmt: skip
# PhaseRecord.as_base_types(): every attribute of the attrs class
OPENHTF_PHASE = {
    "descriptor_id", "name", "codeinfo", "measurements", "options", "diagnosers", "subtest_name",
    "start_time_millis", "end_time_millis", "attachments", "diagnosis_results", "failure_diagnosis_results",
    "result", "outcome", "marginal",
}  # fmt: skip
PROVLAB_PHASE = {"provlab"}  # device (lab-clock) start and end: the one documented addition to a phase
# PhaseOptions' attributes
OPENHTF_OPTIONS = {
    "name", "timeout_s", "run_if", "requires_state", "force_repeat", "repeat_on_measurement_fail",
    "repeat_on_timeout", "repeat_limit", "run_under_pdb", "phase_name_case", "stop_on_measurement_fail",
}  # fmt: skip
# Measurement.as_base_types(): name and outcome always, the rest only when set
OPENHTF_MEASUREMENT_ALWAYS = {"name", "outcome"}
OPENHTF_MEASUREMENT_OPTIONAL = {"validators", "conditional_validators", "dimensions", "units", "docstring",
                                "measured_value"}  # fmt: skip
CODE_INFO = {"name", "docstring", "sourcecode"}
UNITS = {"name", "code", "suffix"}

PLAN = """name: layout
version: '3'
description: the layout check
firmware: {version: 0.1.0}
retest: {max_attempts: 1}
phases: [flash, boot, provision, cloud_login, data_round_trip, factory_reset]
"""


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """One PASS and one FAIL record (slot 1's unit is heard at -88 dBm, below the plan's -85), as written."""

    def weak_ap_on_slot_1(slot: int, phase: str, board: LabBoard, lab: Lab) -> None:
        if slot == 1 and phase == "provision":
            lab.faults.set_rssi(board.ssid, -88)

    out = tmp_path_factory.mktemp("layout")
    station = Station(parse_plan(PLAN, "layout.yaml"), out=out, lab_config=LabConfig(boards=2), units=2,
                      view=PlainView(io.StringIO()), before_phase=weak_ap_on_slot_1)  # fmt: skip
    station.run()
    written = [json.loads(path.read_text()) for path in sorted((out / "records").glob("*.json"))]
    return {record["outcome"]: record for record in written}


@pytest.mark.parametrize("outcome", ["PASS", "FAIL"])
def test_each_level_has_openhtfs_keys(records: dict[str, dict[str, Any]], outcome: str) -> None:
    record = records[outcome]
    assert set(record) == OPENHTF_TOP
    assert set(record["code_info"]) == CODE_INFO and record["code_info"]["name"] == "layout.yaml"
    assert record["subtests"] == record["branches"] == record["diagnosers"] == record["diagnoses"] == []
    assert record["marginal"] is False
    meta = record["metadata"]
    assert meta["test_name"] == "layout" and meta["test_version"] == "3"
    assert meta["test_description"] == "the layout check"
    assert meta["config"]["retest"] == {"max_attempts": 1} and meta["config"]["source"] == "layout.yaml"
    assert meta["config"]["phases"]["provision"]["rssi_dbm"] == {"low": -85, "high": 0}
    for detail in record["outcome_details"]:
        assert set(detail) == {"code", "description"}
    for position, phase in enumerate(record["phases"], 1):
        assert set(phase) == OPENHTF_PHASE | PROVLAB_PHASE, phase["name"]
        assert phase["descriptor_id"] == position
        assert set(phase["codeinfo"]) == CODE_INFO
        assert set(phase["options"]) == OPENHTF_OPTIONS and phase["options"]["stop_on_measurement_fail"] is True
        assert set(phase["result"]) == {"phase_result"}
        assert phase["diagnosers"] == phase["diagnosis_results"] == phase["failure_diagnosis_results"] == []
        assert phase["subtest_name"] is None and phase["marginal"] is False
        assert set(phase["provlab"]) == {"device_start_s", "device_end_s"}
        assert phase["provlab"]["device_start_s"] <= phase["provlab"]["device_end_s"]
        for name, measurement in phase["measurements"].items():
            assert measurement["name"] == name
            keys = set(measurement)
            assert OPENHTF_MEASUREMENT_ALWAYS <= keys <= OPENHTF_MEASUREMENT_ALWAYS | OPENHTF_MEASUREMENT_OPTIONAL
            if "units" in measurement:
                assert set(measurement["units"]) == UNITS
            assert ("measured_value" in measurement) is (measurement["outcome"] != "UNSET")


def test_a_passing_record_has_openhtfs_units_and_validator_texts(records: dict[str, dict[str, Any]]) -> None:
    record = records["PASS"]
    assert record["outcome_details"] == []
    phases = {phase["name"]: phase for phase in record["phases"]}
    for phase in phases.values():
        assert phase["outcome"] == "PASS" and phase["result"] == {"phase_result": "CONTINUE"}
    rssi = phases["provision"]["measurements"]["rssi_dbm"]
    assert rssi["units"] == {"name": "Decibel-milliwatts", "code": "DBM", "suffix": "dBm"}
    assert rssi["validators"] == ["-85 <= x <= 0"]
    time_to_ap = phases["boot"]["measurements"]["time_to_ap_s"]
    assert time_to_ap["units"] == {"name": "second [unit of time]", "code": "SEC", "suffix": "s"}
    assert time_to_ap["validators"] == ["0 <= x <= 30"]
    version = phases["flash"]["measurements"]["firmware_version"]
    assert version["validators"] == ["'x' matches /^0\\.1\\.0$/"] and "units" not in version
    assert phases["cloud_login"]["measurements"]["device_online"]["validators"] == ["x == True"]
    assert phases["boot"]["measurements"]["boot_state"]["validators"] == ["'x' matches /^WAIT_CONFIG$/"]


def test_a_failing_record_stops_after_the_failed_measurement(records: dict[str, dict[str, Any]]) -> None:
    record = records["FAIL"]
    assert [p["outcome"] for p in record["phases"]] == ["PASS", "PASS", "FAIL", "SKIP", "SKIP", "SKIP"]
    failed = record["phases"][2]
    assert failed["result"] == {"phase_result": "CONTINUE"}  # the phase returned; its measurement stopped the test
    assert failed["measurements"]["rssi_dbm"]["outcome"] == "FAIL"
    assert failed["measurements"]["rssi_dbm"]["measured_value"] == -88
    assert record["phases"][3]["result"] == {"phase_result": "SKIP"}
    assert record["outcome_details"][0]["code"] == "provision.rssi_dbm"


@pytest.mark.parametrize(
    ("limits", "printed"),
    [
        (Limits(low=-85, high=0), ["-85 <= x <= 0"]),
        (Limits(low=5), ["5 <= x"]),
        (Limits(high=2.5), ["x <= 2.5"]),
        (Limits(low=3, high=3), ["x == 3"]),
        (Limits(equals=True), ["x == True"]),  # OpenHTF's equals(): a bool is a number, so InRange(v, v)
        (Limits(equals=7), ["x == 7"]),
        (Limits(equals="a.b"), ["'x' matches /^a\\.b$/"]),  # a text: matches_regex('^' + re.escape(v) + '$')
        (Limits(equals=("a", 1)), ["'x' is equal to '('a', 1)'"]),  # anything else: Equals
        (Limits(matches="^SN-"), ["'x' matches /^SN-/"]),
        (Limits(), []),
    ],
)
def test_limits_print_as_openhtfs_validators(limits: Limits, printed: list[str]) -> None:
    assert limits.validators() == printed


@pytest.mark.parametrize(
    ("limits", "value", "passes"),
    [
        (Limits(matches=r"^0\.1\.0$"), "0.1.0", True),
        (Limits(matches=r"0\.1\.0"), "0.1.0", True),
        (Limits(matches=r"0\.1\.0"), "0.1.0-bad", False),  # a prefix is not the version
        (Limits(matches=r"^0\.1\.0$"), "0.1.0-bad", False),
        (Limits(matches=r"^0\.1\.0$"), "0.1.0\n", False),  # `$` also matches before a last newline
        (Limits(matches=r"1"), 1, False),  # not text: a number is no version string
        (Limits(matches=r"True"), True, False),
    ],
)
def test_a_matches_limit_takes_the_whole_value_and_only_text(limits: Limits, value: object, passes: bool) -> None:
    """The check is `re.fullmatch` on a text value: the printed validator stays OpenHTF's `'x' matches /…/`, but a
    value that only starts with the pattern (`0.1.0-bad` for `0.1.0`) or a value that is not text fails."""
    assert limits.check(value) is passes
