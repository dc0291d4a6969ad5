"""A unit's test record, OpenHTF-shaped: phases with measurements (value, unit, limits, pass/fail) and an outcome.

The layout follows OpenHTF's `core/test_record.py` and `core/measurements.py` (read to learn, not copied):
a record names the device under test, the station and the plan; each phase has a start and an end and its
measurements; each measurement has a value, a unit, validators and an outcome; the record's outcome is PASS,
FAIL, ERROR or ABORTED, and a failed record says which measurement failed first.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any


class UnitOutcome(str, enum.Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    """A measurement was outside its limits: the unit is bad."""
    ERROR = "ERROR"
    """The station could not finish the test (its own fault, not the unit's)."""
    ABORTED = "ABORTED"
    """The test was interrupted (operator stop, station power cut): nothing is known about the unit."""


class PhaseOutcome(str, enum.Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    ERROR = "ERROR"
    SKIP = "SKIP"


class MeasurementOutcome(str, enum.Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    UNSET = "UNSET"


@dataclass(frozen=True)
class Unit:
    """A unit of measure as OpenHTF writes it (`{"name", "code", "suffix"}`; UN/CEFACT codes)."""

    name: str
    code: str
    suffix: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "code": self.code, "suffix": self.suffix}


SECOND = Unit("second [unit of time]", "SEC", "s")
DBM = Unit("decibel-milliwatt", "2Q", "dBm")  # closest recommendation-20 code on offer: bel-based
NONE = Unit("none", "NONE", "")


@dataclass(frozen=True)
class Limits:
    """What a measured value must be: within [low, high], equal to `equals`, or matching `matches`."""

    low: float | None = None
    high: float | None = None
    equals: Any = None
    matches: str | None = None

    def check(self, value: Any) -> bool:
        if value is None:
            return False
        if self.equals is not None and value != self.equals:
            return False
        if self.matches is not None and not (isinstance(value, str) and re.fullmatch(self.matches, value)):
            return False
        if self.low is not None or self.high is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return False
            if self.low is not None and value < self.low:
                return False
            if self.high is not None and value > self.high:
                return False
        return True

    def validators(self) -> list[str]:
        """The limits as OpenHTF prints its validators (`0 <= x <= 15`, `x == 'ok'`, `'re' matches x`)."""
        out: list[str] = []
        if self.low is not None and self.high is not None:
            out.append(f"{self.low:g} <= x <= {self.high:g}")
        elif self.low is not None:
            out.append(f"x >= {self.low:g}")
        elif self.high is not None:
            out.append(f"x <= {self.high:g}")
        if self.equals is not None:
            out.append(f"x == {self.equals!r}")
        if self.matches is not None:
            out.append(f"'{self.matches}' matches x")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in {"low": self.low, "high": self.high, "equals": self.equals, "matches": self.matches}.items()
            if v is not None
        }


@dataclass
class Measurement:
    name: str
    unit: Unit
    limits: Limits
    docstring: str = ""
    value: Any = None
    outcome: MeasurementOutcome = MeasurementOutcome.UNSET

    def measure(self, value: Any) -> bool:
        """Set the value and judge it against the limits; True when it passes."""
        self.value = value
        self.outcome = MeasurementOutcome.PASS if self.limits.check(value) else MeasurementOutcome.FAIL
        return self.outcome is MeasurementOutcome.PASS

    def describe(self) -> str:
        limits = " and ".join(self.limits.validators()) or "any value"
        suffix = f" {self.unit.suffix}" if self.unit.suffix and self.value is not None else ""
        return f"{self.name} = {self.value!r}{suffix}, expected {limits}"


@dataclass
class PhaseRecord:
    name: str
    start_ms: int
    end_ms: int = 0
    device_start_s: float = 0.0
    """Lab-clock seconds at the start (device time; the phase's own measured times are on this clock)."""
    device_end_s: float = 0.0
    measurements: list[Measurement] = field(default_factory=list)
    outcome: PhaseOutcome = PhaseOutcome.PASS
    error: str | None = None

    def measurement(self, name: str) -> Measurement:
        for measurement in self.measurements:
            if measurement.name == name:
                return measurement
        raise KeyError(f"phase {self.name} has no measurement {name!r}")


@dataclass
class UnitRecord:
    """One test of one unit on one slot of the station."""

    dut_id: str
    mac: str | None
    station_id: str
    slot: int
    operator: str
    plan_name: str
    plan_version: str
    firmware_sha256: str | None
    start_ms: int
    attempt: int = 1
    end_ms: int = 0
    phases: list[PhaseRecord] = field(default_factory=list)
    outcome: UnitOutcome | None = None
    """None while the unit is under test."""
    first_failure: str | None = None
    """`phase.measurement` of the first measurement out of limits, or `phase: error` for ERROR/ABORTED."""
    failure_detail: str | None = None
    device_id: int | None = None
    org_id: int | None = None
    org_name: str | None = None
    evidence: str | None = None
    run_id: str = ""
    unit_uid: str = ""
    """Unique id of this test of this unit (dut id, attempt, start): names its files and its database row."""

    @property
    def cycle_s(self) -> float:
        """Wall seconds on the station (the line's throughput; not device time)."""
        return max(0, self.end_ms - self.start_ms) / 1000.0

    def measurements(self) -> list[tuple[str, Measurement]]:
        return [(phase.name, m) for phase in self.phases for m in phase.measurements]
