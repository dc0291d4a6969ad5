"""A unit record as OpenHTF's JSON output lays it out, so tooling that reads OpenHTF records reads ours.

Top level: `dut_id`, `station_id`, `start_time_millis`, `end_time_millis`, `outcome`, `outcome_details`,
`metadata`, `phases` (each with `name`, `start_time_millis`, `end_time_millis`, `outcome`, `result`,
`measurements` keyed by name with `name`, `outcome`, `measured_value`, `units`, `validators`, `docstring`),
`log_records`. What OpenHTF has no field for (slot, plan, firmware, device, org, attempt) is in `metadata`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from provlab.station.record import PhaseRecord, UnitOutcome, UnitRecord

PHASE_RESULT = {"PASS": "CONTINUE", "FAIL": "STOP", "ERROR": "STOP", "SKIP": "SKIP"}


def _phase(phase: PhaseRecord) -> dict[str, Any]:
    return {
        "name": phase.name,
        "descriptor_id": phase.name,
        "codeinfo": {"name": phase.name},
        "start_time_millis": phase.start_ms,
        "end_time_millis": phase.end_ms,
        "outcome": phase.outcome.value,
        "result": {"phase_result": PHASE_RESULT[phase.outcome.value]},
        "measurements": {
            m.name: {
                "name": m.name,
                "outcome": m.outcome.value,
                "measured_value": m.value,
                "units": m.unit.as_dict(),
                "validators": m.limits.validators(),
                "docstring": m.docstring,
                "dimensions": None,
            }
            for m in phase.measurements
        },
        "attachments": {},
        "options": {"device_start_s": phase.device_start_s, "device_end_s": phase.device_end_s},
        **({"error": phase.error} if phase.error else {}),
    }


def record_json(record: UnitRecord) -> dict[str, Any]:
    details = []
    if record.outcome is not None and record.outcome is not UnitOutcome.PASS:
        details.append(
            {"code": record.first_failure or record.outcome.value, "description": record.failure_detail or ""}
        )
    return {
        "dut_id": record.dut_id,
        "station_id": record.station_id,
        "start_time_millis": record.start_ms,
        "end_time_millis": record.end_ms or None,
        "outcome": record.outcome.value if record.outcome else None,
        "outcome_details": details,
        "marginal": False,
        "metadata": {
            "test_name": record.plan_name,
            "test_version": record.plan_version,
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
        "code_info": {},
        "phases": [_phase(p) for p in record.phases],
        "diagnoses": [],
        "log_records": [],
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
