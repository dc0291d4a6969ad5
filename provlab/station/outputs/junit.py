"""JUnit XML for a station run: one test case per tested unit (`slot-N.dut_id`), failures with the measurement."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

from provlab.station.record import UnitOutcome, UnitRecord


def write_junit(path: Path, records: list[UnitRecord], *, name: str) -> None:
    suite = ET.Element("testsuite", name=name, tests=str(len(records)))
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    for r in records:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"{r.station_id}.slot-{r.slot}",
            name=f"{r.dut_id}#{r.attempt}",
            time=f"{r.cycle_s:.3f}",
        )
        message = f"{r.first_failure or r.outcome}: {r.failure_detail or ''}".strip(": ")
        if r.outcome is UnitOutcome.FAIL:
            counts["failures"] += 1
            ET.SubElement(case, "failure", message=message).text = _measurements(r)
        elif r.outcome is UnitOutcome.ERROR:
            counts["errors"] += 1
            ET.SubElement(case, "error", message=message).text = r.failure_detail or ""
        elif r.outcome is UnitOutcome.ABORTED:
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message=message)
        ET.SubElement(case, "system-out").text = _measurements(r)
    for key, value in counts.items():
        suite.set(key, str(value))
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def _measurements(r: UnitRecord) -> str:
    return "\n".join(f"{phase}.{m.describe()}: {m.outcome.value}" for phase, m in r.measurements())
