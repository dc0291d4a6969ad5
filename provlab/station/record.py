"""A unit's test record, OpenHTF-shaped: phases with measurements (value, unit, limits, pass/fail) and an outcome.

The layout follows OpenHTF's `core/test_record.py` and `core/measurements.py` (read to learn, not copied):
a record names the device under test, the station and the plan; each phase has a start and an end and its
measurements; each measurement has a value, a unit, validators and an outcome; the record's outcome is PASS,
FAIL, ERROR or ABORTED, and a failed record says which measurement failed first.
"""

from __future__ import annotations

import enum
import numbers
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
    """A unit of measure as OpenHTF's `util/units.py` writes it (`{"name", "code", "suffix"}`; UN/CEFACT codes)."""

    name: str
    code: str
    suffix: str

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "code": self.code, "suffix": self.suffix}


SECOND = Unit("second [unit of time]", "SEC", "s")
"""OpenHTF's SECOND_UNIT_OF_TIME."""
DBM = Unit("Decibel-milliwatts", "DBM", "dBm")
"""OpenHTF's DECIBEL_MILLIWATTS."""
NONE = Unit("None", "", "")
"""No unit (OpenHTF's NONE): a measurement without one has no `units` in the JSON record."""


@dataclass(frozen=True)
class Limits:
    """What a measured value must be: within [low, high], equal to `equals`, or a text `matches` matches whole."""

    low: float | None = None
    high: float | None = None
    equals: Any = None
    matches: str | None = None

    def check(self, value: Any) -> bool:
        if value is None:
            return False
        if self.equals is not None and value != self.equals:
            return False
        # the whole text (OpenHTF's RegexMatcher takes a prefix of `str(value)`: `0.1.0-bad` passed `0.1.0`)
        if self.matches is not None and (not isinstance(value, str) or re.fullmatch(self.matches, value) is None):
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
        """The limits as OpenHTF's validators print themselves (`str()` of `InRange`, of what `equals()` makes, of
        `RegexMatcher`): `-85 <= x <= 0`, `x <= 30`, `x == True`, `'x' matches /^0\\.1\\.0$/`."""
        out: list[str] = []
        if self.low is not None or self.high is not None:
            out.append(_in_range(self.low, self.high))
        if self.equals is not None:
            out.append(_equals(self.equals))
        if self.matches is not None:
            out.append(f"'x' matches /{self.matches}/")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in {"low": self.low, "high": self.high, "equals": self.equals, "matches": self.matches}.items()
            if v is not None
        }


def _in_range(low: float | None, high: float | None) -> str:
    """`InRange.__str__`: `x == v` when both bounds are one value, else `low <= x <= high`, `low <= x`, `x <= high`."""
    if low is not None and high is not None and low == high:
        return f"x == {low}"
    text = f"{low} <= x" if low is not None else "x"
    return text + (f" <= {high}" if high is not None else "")


def _equals(expected: Any) -> str:
    """What OpenHTF's `equals(expected)` builds, as it prints: `InRange(v, v)` for a number (a bool is one),
    `matches_regex('^escaped$')` for a text, else `Equals`."""
    if isinstance(expected, numbers.Number):
        return f"x == {expected}"
    if isinstance(expected, str):
        return f"'x' matches /^{re.escape(expected)}$/"
    return f"'x' is equal to '{expected}'"


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
        if self.outcome is MeasurementOutcome.UNSET:
            return f"{self.name} was not measured (UNSET), expected {limits}"
        suffix = f" {self.unit.suffix}" if self.unit.suffix and self.value is not None else ""
        return f"{self.name} = {self.value!r}{suffix}, expected {limits}"


@dataclass(frozen=True)
class PhaseError:
    """The exception that ended a phase in ERROR (the station's own trouble, not the unit's)."""

    type_name: str
    """`CloudRefusedStation`"""
    qualified_type: str
    """`provlab.station.phases.CloudRefusedStation`"""
    message: str
    traceback: str

    @classmethod
    def of(cls, exc: BaseException, traceback_text: str) -> PhaseError:
        kind = type(exc)
        return cls(kind.__name__, f"{kind.__module__}.{kind.__qualname__}", str(exc), traceback_text)

    def __str__(self) -> str:
        return f"{self.type_name}: {self.message}"


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
    error: PhaseError | None = None
    """What the phase raised when it ended in ERROR."""

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
    plan_description: str = ""
    plan_settings: dict[str, Any] = field(default_factory=dict)
    """The plan's settings the unit was tested with (its file, dut id source, firmware, provisioning, retests,
    phases and limits): OpenHTF's `metadata.config`."""
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
