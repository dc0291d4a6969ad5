"""A unit record as OpenHTF's JSON output lays it out, so tooling that reads OpenHTF records reads ours.

The layout is that of OpenHTF's `OutputToJSON` (`TestRecord.as_base_types()`, read in `core/test_record.py`):

- top level: `dut_id`, `station_id`, `start_time_millis`, `end_time_millis`, `outcome`, `outcome_details`
  (`{code, description}`), `marginal`, `metadata` (`test_name`, `test_version`, `test_description`, `config`,
  `operator_name`, ...), `phases`, `subtests`, `branches`, `diagnosers`, `diagnoses`, `log_records`, `code_info`;
- a phase: `descriptor_id`, `name`, `codeinfo`, `measurements`, `options` (OpenHTF's `PhaseOptions`),
  `diagnosers`, `subtest_name`, `start_time_millis`, `end_time_millis`, `attachments`, `diagnosis_results`,
  `failure_diagnosis_results`, `result` (`{phase_result}`: `CONTINUE`, or the exception as `exc_type`, `exc_val`,
  `exc_tb`), `outcome`, `marginal`;
- a measurement: `name`, `outcome`, and only when they are set `validators` (as OpenHTF's validators print),
  `units`, `docstring`, `measured_value` (left out while the measurement is UNSET).

An ERROR record's `outcome_details` is what OpenHTF writes for a phase that raised: the exception's type name as
`code`, its message as `description`.

Where provlab deviates, and why (everything else is OpenHTF's):

- each phase has a `provlab` key with `device_start_s` / `device_end_s`: lab-clock seconds (device time, on
  which the phase's measured times are taken), which OpenHTF has no field for;
- phases a stopped test never ran are listed with outcome `SKIP` (result `SKIP`); OpenHTF leaves them out;
- `descriptor_id` is the phase's position in the plan (OpenHTF: the Python `id()` of its phase descriptor);
- `code_info` / `codeinfo` name the plan file and the phase, with no source code;
- `metadata` also holds what OpenHTF has no field for: slot, attempt, MAC, firmware SHA-256, the device and
  org the unit landed in, the first failure, the evidence folder, run and unit ids, cycle time;
- a FAIL record has one `outcome_details` entry, `{code: "phase.measurement", description}` of its first failing
  measurement, and an ABORTED one says why it was interrupted (OpenHTF adds none for a failed measurement);
- `attachments` and `log_records` are empty: a failing unit's evidence (serial log, steps, phone exchanges) is
  files in the folder `metadata.evidence` names, not inline base64 or Python log records;
- the outcome TIMEOUT is never written: a phase's waits are its measurements' own device-time limits (a wait that
  runs out is a FAIL of that measurement);
- no `checkpoints` key: OpenHTF's TestRecord has the attribute, but its JSON output leaves it out too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from provlab.station.record import (
    NONE,
    Measurement,
    MeasurementOutcome,
    PhaseOutcome,
    PhaseRecord,
    UnitOutcome,
    UnitRecord,
)

PHASE_RESULT = {
    PhaseOutcome.PASS: "CONTINUE",
    PhaseOutcome.FAIL: "CONTINUE",  # the phase returned; its failed measurement is what stops the test
    PhaseOutcome.SKIP: "SKIP",
}


def _options(phase: PhaseRecord) -> dict[str, Any]:
    """OpenHTF's `PhaseOptions` of the phase: no phase-wide timeout (each wait has its own), no repeats, and a
    failed measurement stops the test, as the station does."""
    return {
        "name": phase.name,
        "timeout_s": None,
        "run_if": None,
        "requires_state": False,
        "force_repeat": False,
        "repeat_on_measurement_fail": False,
        "repeat_on_timeout": False,
        "repeat_limit": None,
        "run_under_pdb": False,
        "phase_name_case": "KEEP",
        "stop_on_measurement_fail": True,
    }


def _result(phase: PhaseRecord) -> dict[str, Any]:
    if phase.error is not None:
        exc_type = f"<class '{phase.error.qualified_type}'>"
        return {"phase_result": {"exc_type": exc_type, "exc_val": phase.error.message, "exc_tb": phase.error.traceback}}
    return {"phase_result": PHASE_RESULT.get(phase.outcome, "STOP")}


def _measurement(m: Measurement) -> dict[str, Any]:
    out: dict[str, Any] = {"name": m.name, "outcome": m.outcome.value}
    validators = m.limits.validators()
    if validators:
        out["validators"] = validators
    if m.unit is not NONE:
        out["units"] = m.unit.as_dict()
    if m.docstring:
        out["docstring"] = m.docstring
    if m.outcome is not MeasurementOutcome.UNSET:
        out["measured_value"] = m.value
    return out


def _phase(position: int, phase: PhaseRecord) -> dict[str, Any]:
    return {
        "descriptor_id": position,
        "name": phase.name,
        "codeinfo": {"name": phase.name, "docstring": None, "sourcecode": ""},
        "measurements": {m.name: _measurement(m) for m in phase.measurements},
        "options": _options(phase),
        "diagnosers": [],
        "subtest_name": None,
        "start_time_millis": phase.start_ms,
        "end_time_millis": phase.end_ms,
        "attachments": {},
        "diagnosis_results": [],
        "failure_diagnosis_results": [],
        "result": _result(phase),
        "outcome": phase.outcome.value,
        "marginal": False,
        "provlab": {"device_start_s": phase.device_start_s, "device_end_s": phase.device_end_s},
    }


def _outcome_details(record: UnitRecord) -> list[dict[str, str]]:
    if record.outcome is None or record.outcome is UnitOutcome.PASS:
        return []
    raised = next((p.error for p in record.phases if p.error is not None), None)
    if record.outcome is UnitOutcome.ERROR and raised is not None:
        return [{"code": raised.type_name, "description": raised.message}]
    return [{"code": record.first_failure or record.outcome.value, "description": record.failure_detail or ""}]


def record_json(record: UnitRecord) -> dict[str, Any]:
    source = str(record.plan_settings.get("source", ""))
    return {
        "dut_id": record.dut_id,
        "station_id": record.station_id,
        "start_time_millis": record.start_ms,
        "end_time_millis": record.end_ms or None,
        "outcome": record.outcome.value if record.outcome else None,
        "outcome_details": _outcome_details(record),
        "marginal": False,
        "metadata": {
            "test_name": record.plan_name,
            "test_version": record.plan_version,
            "test_description": record.plan_description,
            "config": record.plan_settings,
            "operator_name": record.operator,
            "slot": record.slot,
            "attempt": record.attempt,
            "mac": record.mac,
            "firmware_sha256": record.firmware_sha256,
            "device_id": record.device_id,
            "org_id": record.org_id,
            "org_name": record.org_name,
            "first_failure": record.first_failure,
            "evidence": record.evidence,
            "run_id": record.run_id,
            "unit_uid": record.unit_uid,
            "cycle_time_s": record.cycle_s if record.end_ms else None,
        },
        "phases": [_phase(position, p) for position, p in enumerate(record.phases, 1)],
        "subtests": [],
        "branches": [],
        "diagnosers": [],
        "diagnoses": [],
        "log_records": [],
        "code_info": {"name": Path(source).name, "docstring": record.plan_description or None, "sourcecode": ""},
    }


def dumps(record: UnitRecord) -> str:
    return json.dumps(record_json(record), indent=2, default=str)


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` so that a power cut leaves either the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)
