"""An acceptance plan: the YAML file a station runs on every unit, checked before any unit is tested.

```yaml
name: edgent-factory-acceptance
version: "1.0"
description: Edgent boards of line 3   # optional: the records' test_description
dut_id: mac                 # mac, or scanner (a serial number per unit, read on stdin)
serial_pattern: '^[A-Z0-9][A-Z0-9-]{5,31}$'
firmware: {version: 0.1.0}  # the version the banner must report; `image: FILE` also writes that image
provisioning:
  org: Acme Corp            # the customer org units land in
  workflow: direct          # direct (into `org`), or via_factory_org (into `factory_org`, then transferred)
  factory_org: Factory
  already_enrolled: reprovision   # or fail
retest: {max_attempts: 2}   # FAIL tests a unit may have, the first included (a station ERROR is not counted)
phases:
  - flash
  - boot: {time_to_ap_s: {max: 30}}
  - provision: {rssi_dbm: {min: -85}, time_to_online_s: {max: 90}}
  - cloud_login
  - data_round_trip
  - factory_reset
```

A phase is a name, or a one-key mapping of its name to limits for its measurements (`{min, max}` for numbers,
`{equals}` for the rest). An unknown key, phase or measurement, or a limit of the wrong type is a `PlanError`
that says `file:line`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from provlab.station.record import DBM, NONE, SECOND, Limits, Unit

DEFAULT_PLAN = Path(__file__).parent / "default_plan.yaml"


class PlanError(ValueError):
    """The plan cannot be run; the message starts with `file:line`."""


@dataclass(frozen=True)
class MeasurementSpec:
    name: str
    unit: Unit
    numeric: bool
    limits: Limits
    docstring: str


def _num(name: str, unit: Unit, doc: str, low: float | None = None, high: float | None = None) -> MeasurementSpec:
    return MeasurementSpec(name, unit, True, Limits(low=low, high=high), doc)


def _eq(name: str, doc: str, equals: Any = None) -> MeasurementSpec:
    return MeasurementSpec(name, NONE, False, Limits(equals=equals), doc)


PHASES: dict[str, tuple[MeasurementSpec, ...]] = {
    "flash": (_eq("firmware_version", "the banner's firmware version equals the plan's"),),
    "boot": (
        _eq("already_enrolled", "the unit came with a configuration (must be False when the rule is `fail`)"),
        _eq("boot_state", "the state the unit boots into", "WAIT_CONFIG"),
        _num("time_to_ap_s", SECOND, "device seconds from power-on to WAIT_CONFIG (access point up)", 0, 30),
    ),
    "provision": (
        _num("rssi_dbm", DBM, "the unit's access point as the phone hears it", -85, 0),
        _num("time_to_online_s", SECOND, "device seconds from the phone's first step to the device online", 0, 90),
        _eq("token_org", "the org the provisioning token was issued for is the plan's"),
    ),
    "cloud_login": (
        _eq("device_online", "the cloud sees the device online", True),
        _eq("device_org", "the device landed in the plan's org"),
    ),
    "data_round_trip": (_eq("pin_echo", "a value written to V0 through the cloud reaches the device"),),
    "factory_reset": (
        _eq("back_in_config_mode", "after a factory reset the unit waits for configuration", True),
        _num("time_to_config_mode_s", SECOND, "device seconds from the reset to WAIT_CONFIG", 0, 30),
    ),
}
"""Every phase a plan can name, in the order a unit goes through them, with its measurements and default limits."""


class DutIdSource(str, enum.Enum):
    MAC = "mac"
    SCANNER = "scanner"


class Workflow(str, enum.Enum):
    DIRECT = "direct"
    """Provisioned straight into the customer org (the token is issued for it)."""
    VIA_FACTORY_ORG = "via_factory_org"
    """Provisioned into the factory org, then transferred to the customer org."""


class AlreadyEnrolled(str, enum.Enum):
    REPROVISION = "reprovision"
    """Erase its configuration and provision it again."""
    FAIL = "fail"


@dataclass(frozen=True)
class PhasePlan:
    name: str
    measurements: tuple[MeasurementSpec, ...]
    line: int


@dataclass(frozen=True)
class Plan:
    name: str
    version: str
    source: str
    phases: tuple[PhasePlan, ...]
    dut_id: DutIdSource = DutIdSource.MAC
    serial_pattern: str = r"^[A-Z0-9][A-Z0-9-]{5,31}$"
    firmware_version: str | None = None
    firmware_image: Path | None = None
    org: str = "Acme Corp"
    workflow: Workflow = Workflow.DIRECT
    factory_org: str = "Factory"
    already_enrolled: AlreadyEnrolled = AlreadyEnrolled.REPROVISION
    max_attempts: int = 1
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def phase(self, name: str) -> PhasePlan | None:
        return next((p for p in self.phases if p.name == name), None)

    def settings(self) -> dict[str, Any]:
        """What the plan sets, as plain JSON values (a record's `metadata.config`): the run's facts, not its
        outcome."""
        return {
            "source": self.source,
            "dut_id": self.dut_id.value,
            "serial_pattern": self.serial_pattern,
            "firmware": {
                "version": self.firmware_version,
                "image": str(self.firmware_image) if self.firmware_image is not None else None,
            },
            "provisioning": {
                "org": self.org,
                "workflow": self.workflow.value,
                "factory_org": self.factory_org,
                "already_enrolled": self.already_enrolled.value,
            },
            "retest": {"max_attempts": self.max_attempts},
            "phases": {p.name: {m.name: m.limits.as_dict() for m in p.measurements} for p in self.phases},
        }


# --- loading with line numbers --------------------------------------------------------------------------------
class _Node:
    """A YAML value with the line it starts on (1-based)."""

    def __init__(self, value: Any, line: int) -> None:
        self.value = value
        self.line = line


def _compose(text: str, source: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise PlanError(f"{source}:{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from None


def _tree(node: yaml.Node) -> _Node:
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        return _Node({str(k.value): (_tree(v), k.start_mark.line + 1) for k, v in node.value}, line)
    if isinstance(node, yaml.SequenceNode):
        return _Node([_tree(item) for item in node.value], line)
    value = yaml.SafeLoader("").construct_object(node)  # scalars: ints, floats, bools, strings as YAML types them
    return _Node(value, line)


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, line: int, problem: str) -> PlanError:
        return PlanError(f"{self.source}:{line}: {problem}")

    def mapping(self, node: _Node, what: str, allowed: tuple[str, ...]) -> dict[str, tuple[_Node, int]]:
        if not isinstance(node.value, dict):
            raise self.fail(node.line, f"{what} must be a mapping, got {_kind(node.value)}")
        for key, (_, line) in node.value.items():
            if key not in allowed:
                raise self.fail(line, f"unknown key {key!r} in {what}; expected one of {', '.join(allowed)}")
        return dict(node.value)

    def text(self, node: _Node, what: str) -> str:
        if isinstance(node.value, (dict, list)) or node.value is None:
            raise self.fail(node.line, f"{what} must be a text, got {_kind(node.value)}")
        return str(node.value)

    def choice(self, node: _Node, what: str, kind: type[enum.Enum]) -> Any:
        text = self.text(node, what)
        try:
            return kind(text)
        except ValueError:
            known = ", ".join(str(k.value) for k in kind)
            raise self.fail(node.line, f"{what} {text!r} is not one of {known}") from None


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", type(None): "nothing"}.get(
        type(value), f"{type(value).__name__} {value!r}"
    )


TOP_KEYS = (
    "name", "version", "description", "dut_id", "serial_pattern", "firmware", "provisioning", "retest", "phases",
)  # fmt: skip


def load_plan(path: str | Path) -> Plan:
    """Read and check the plan at `path`; `PlanError` (`file:line: problem`) when it cannot run."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanError(f"{path}:1: cannot read the plan: {exc}") from None
    return parse_plan(text, str(path), base=path.parent)


def parse_plan(text: str, source: str = "plan", base: Path | None = None) -> Plan:
    composed = _compose(text, source)
    if composed is None:
        raise PlanError(f"{source}:1: the plan is empty")
    read = _Reader(source)
    top = read.mapping(_tree(composed), "the plan", TOP_KEYS)
    for required in ("name", "version", "phases"):
        if required not in top:
            raise read.fail(1, f"the plan has no {required!r}")
    kw: dict[str, Any] = {
        "name": read.text(top["name"][0], "name"),
        "version": read.text(top["version"][0], "version"),
        "source": source,
    }
    if "description" in top:
        kw["description"] = read.text(top["description"][0], "description")
    if "dut_id" in top:
        kw["dut_id"] = read.choice(top["dut_id"][0], "dut_id", DutIdSource)
    if "serial_pattern" in top:
        node = top["serial_pattern"][0]
        pattern = read.text(node, "serial_pattern")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise read.fail(node.line, f"serial_pattern is not a regular expression: {exc}") from None
        kw["serial_pattern"] = pattern
    if "firmware" in top:
        firmware = read.mapping(top["firmware"][0], "firmware", ("version", "image"))
        if "version" in firmware:
            kw["firmware_version"] = read.text(firmware["version"][0], "firmware.version")
        if "image" in firmware:
            image = Path(read.text(firmware["image"][0], "firmware.image"))
            kw["firmware_image"] = image if image.is_absolute() or base is None else base / image
    if "provisioning" in top:
        prov = read.mapping(
            top["provisioning"][0], "provisioning", ("org", "workflow", "factory_org", "already_enrolled")
        )
        if "org" in prov:
            kw["org"] = read.text(prov["org"][0], "provisioning.org")
        if "factory_org" in prov:
            kw["factory_org"] = read.text(prov["factory_org"][0], "provisioning.factory_org")
        if "workflow" in prov:
            kw["workflow"] = read.choice(prov["workflow"][0], "provisioning.workflow", Workflow)
        if "already_enrolled" in prov:
            node = prov["already_enrolled"][0]
            kw["already_enrolled"] = read.choice(node, "provisioning.already_enrolled", AlreadyEnrolled)
    if "retest" in top:
        retest = read.mapping(top["retest"][0], "retest", ("max_attempts",))
        if "max_attempts" in retest:
            node = retest["max_attempts"][0]
            if isinstance(node.value, bool) or not isinstance(node.value, int) or not 1 <= node.value <= 10:
                raise read.fail(node.line, f"retest.max_attempts must be a whole number 1-10, got {_kind(node.value)}")
            kw["max_attempts"] = node.value
    kw["phases"] = _phases(read, top["phases"][0])
    return Plan(**kw)


def _phases(read: _Reader, node: _Node) -> tuple[PhasePlan, ...]:
    if not isinstance(node.value, list) or not node.value:
        raise read.fail(node.line, f"phases must be a non-empty list of phase names, got {_kind(node.value)}")
    order = list(PHASES)
    phases: list[PhasePlan] = []
    for item in node.value:
        if isinstance(item.value, dict):
            if len(item.value) != 1:
                raise read.fail(item.line, "a phase is a name or a one-key mapping {name: {measurement: limits}}")
            name, (limits_node, line) = next(iter(item.value.items()))
        else:
            name, limits_node, line = read.text(item, "a phase"), None, item.line
        if name not in PHASES:
            raise read.fail(line, f"unknown phase {name!r}; expected one of {', '.join(order)}")
        if any(p.name == name for p in phases):
            raise read.fail(line, f"phase {name!r} is listed twice")
        if phases and order.index(name) < order.index(phases[-1].name):
            raise read.fail(line, f"phase {name!r} cannot come after {phases[-1].name!r}; the order is {order}")
        specs = {spec.name: spec for spec in PHASES[name]}
        if limits_node is not None and limits_node.value is not None:
            entries = read.mapping(limits_node, f"phase {name}", tuple(specs))
            for measurement, (limit, _) in entries.items():
                specs[measurement] = _limited(read, specs[measurement], limit, f"{name}.{measurement}")
        phases.append(PhasePlan(name, tuple(specs.values()), line))
    return tuple(phases)


def _limited(read: _Reader, spec: MeasurementSpec, node: _Node, what: str) -> MeasurementSpec:
    if spec.numeric:
        entries = read.mapping(node, f"the limits of {what}", ("min", "max"))
        bounds: dict[str, float | None] = {"min": spec.limits.low, "max": spec.limits.high}  # as written: 30 stays 30
        for key, (value, _) in entries.items():
            if isinstance(value.value, bool) or not isinstance(value.value, (int, float)):
                raise read.fail(
                    value.line, f"limit {what}.{key} must be a number ({spec.unit.suffix}), got {_kind(value.value)}"
                )
            bounds[key] = value.value
        low, high = bounds["min"], bounds["max"]
        if low is not None and high is not None and low > high:
            raise read.fail(node.line, f"limits of {what}: min {low:g} is above max {high:g}")
        return MeasurementSpec(spec.name, spec.unit, True, Limits(low=low, high=high), spec.docstring)
    entries = read.mapping(node, f"the limits of {what}", ("equals",))
    if "equals" not in entries:
        return spec
    value = entries["equals"][0]
    expected = spec.limits.equals
    if expected is not None and type(value.value) is not type(expected):
        raise read.fail(value.line, f"limit {what}.equals must be {type(expected).__name__}, got {_kind(value.value)}")
    if isinstance(value.value, (dict, list)):
        raise read.fail(value.line, f"limit {what}.equals must be a single value, got {_kind(value.value)}")
    return MeasurementSpec(spec.name, spec.unit, False, Limits(equals=value.value), spec.docstring)
