"""The acceptance phases a unit goes through: flash/verify, boot, provision, cloud login, data round trip,
factory reset. Each fills its measurements; a unit that misbehaves gives a measurement out of limits (FAIL), an
exception that is the station's own trouble ends the unit as ERROR.

Measured times (time to AP, time to online, time back in config mode) are device seconds on the lab clock.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from provlab.drivers.capabilities import Capability
from provlab.drivers.flashing import BANNER_FIRMWARE, FirmwareFile, FlashError, flash_board
from provlab.drivers.serial_errors import ExpectTimeout
from provlab.lab.enrollment import Enrollment, FailureKind
from provlab.lab.lab import Lab
from provlab.lab.lab_board import LabBoard
from provlab.lab.lab_phone import LabPhone
from provlab.protocol.serial_log import StateChange
from provlab.protocol.states import EdgentState
from provlab.station.automation import AutomationClient, LineOrgs
from provlab.station.plan import AlreadyEnrolled, Plan, Workflow

BOOT_S = 30.0
"""Device seconds a unit gets from power-on to its first state after INIT (beyond the plan's limits)."""
ONLINE_S = 120.0
DATA_S = 10.0
AP_UP = r"AP URL:"
"""The line the firmware prints once its access point serves the portal (spec: `AP URL:  blynk.setup`)."""
FIRST_STATES = frozenset(
    {
        EdgentState.WAIT_CONFIG,
        EdgentState.CONNECTING_NET,
        EdgentState.CONNECTING_CLOUD,
        EdgentState.RUNNING,
        EdgentState.ERROR,
    }
)


class CloudRefusedStation(RuntimeError):
    """The cloud refused the station itself (its login, a token request): the station's trouble, so the unit's test
    ends as ERROR, not FAIL."""


@dataclass
class UnitContext:
    """Everything the phases of one unit share."""

    lab: Lab
    board: LabBoard
    phone: LabPhone
    automation: AutomationClient
    orgs: LineOrgs
    plan: Plan
    evidence: Path
    firmware: FirmwareFile | None = None
    expected: dict[str, Any] = field(default_factory=dict)
    """Equality limits known only while the unit runs (the org ids, the value written to V0)."""
    boot_mark: int | None = None
    boot_started: float | None = None
    enrollment: Enrollment | None = None
    device_id: int | None = None
    org_id: int | None = None
    detail: str | None = None
    """Why the first failing measurement failed, in words (the step or the board's last lines)."""

    @property
    def target_org(self) -> int:
        via_factory = self.plan.workflow is Workflow.VIA_FACTORY_ORG
        return self.orgs.factory_id if via_factory else self.orgs.customer_id


Phase = Callable[[UnitContext, dict[str, Any]], None]
"""A phase fills `values` (measurement name -> value); the runner judges them against the plan's limits."""


def _now(ctx: UnitContext) -> float:
    return ctx.lab.clock.now()


def _power_up(ctx: UnitContext) -> None:
    """Power-cycle the unit (or reset it) and note where its boot starts, on the lab clock."""
    board = ctx.board
    ctx.boot_mark = board.mark()
    ctx.boot_started = _now(ctx)
    if board.capability(Capability.POWER) is not None:
        board.power_cycle(0.5)
    elif board.capability(Capability.RESET) is not None:
        board.reset()


def flash(ctx: UnitContext, values: dict[str, Any]) -> None:
    """Write the plan's image (then the banner must report its version), or verify the firmware the unit has."""
    board = ctx.board
    if ctx.firmware is not None:
        before = board.mark()  # the download mode prints no state change: the app's boot is the first after this
        try:
            record = flash_board(board.serial, ctx.firmware, log_dir=ctx.evidence)
        except FlashError as exc:
            ctx.detail = str(exc)
            values["firmware_version"] = None
            return
        ctx.boot_mark = before
        ctx.boot_started = _now(ctx)  # the app's banner came: its boot is timed from here
        values["firmware_version"] = record.banner_version
        return
    _power_up(ctx)
    try:
        found = board.expect(BANNER_FIRMWARE, timeout=BOOT_S, since=ctx.boot_mark)
    except ExpectTimeout as exc:
        ctx.detail = str(exc)
        values["firmware_version"] = None
        return
    values["firmware_version"] = found[1]


def boot(ctx: UnitContext, values: dict[str, Any]) -> None:
    """From power-on to the first state after INIT; an enrolled unit is handled by the plan's rule."""
    board = ctx.board
    if ctx.boot_mark is None:
        _power_up(ctx)
    assert ctx.boot_mark is not None and ctx.boot_started is not None
    try:
        first = board.expect_event(
            StateChange, timeout=BOOT_S, since=ctx.boot_mark, where=lambda e: e.new in FIRST_STATES
        )
    except ExpectTimeout as exc:
        ctx.detail = str(exc)
        values["boot_state"] = None
        values["time_to_ap_s"] = None
        return
    enrolled = first.new in (EdgentState.CONNECTING_NET, EdgentState.CONNECTING_CLOUD, EdgentState.RUNNING)
    values["already_enrolled"] = enrolled
    if enrolled and ctx.plan.already_enrolled is AlreadyEnrolled.REPROVISION:
        mark = board.mark()
        board.console("config erase")
        board.expect_state(EdgentState.WAIT_CONFIG, timeout=BOOT_S, since=mark)
        values["boot_state"] = EdgentState.WAIT_CONFIG.value
        values["time_to_ap_s"] = _ap_up(ctx, mark)
        return
    if enrolled:
        ctx.detail = f"the unit booted into {first.new.value}: it holds a configuration (enrolled before)"
    values["boot_state"] = first.new.value
    if not enrolled:  # an enrolled unit never brings its access point up: nothing to time
        values["time_to_ap_s"] = _ap_up(ctx, ctx.boot_mark) if first.new is EdgentState.WAIT_CONFIG else None


def _ap_up(ctx: UnitContext, since: int) -> float | None:
    """Device seconds from the boot's start to the firmware's `AP URL:` line (its access point is up)."""
    assert ctx.boot_started is not None
    try:
        ctx.board.expect(AP_UP, timeout=BOOT_S, since=since)
    except ExpectTimeout as exc:
        ctx.detail = str(exc)
        return None
    return round(_now(ctx) - ctx.boot_started, 3)


def provision(ctx: UnitContext, values: dict[str, Any]) -> None:
    """The station's phone (logged in by the automation client) provisions the unit into the plan's org."""
    board, phone = ctx.board, ctx.phone
    seen = {found.ssid: found.rssi for found in phone.discover()}
    values["rssi_dbm"] = seen.get(board.ssid)
    started = _now(ctx)
    enrollment = phone.provision(board, org_id=ctx.target_org, check=False, evidence=str(ctx.evidence))
    ctx.enrollment = enrollment
    if enrollment.failure is FailureKind.CLOUD_API:
        refused = enrollment.steps[-1] if enrollment.steps else None
        raise CloudRefusedStation(
            f"the cloud refused the station's {refused.name if refused else 'first'} step while provisioning "
            f"{board.ssid}: {refused.error if refused else ''} (evidence: {ctx.evidence})"
        )
    if not enrollment.ok:
        failure = enrollment.failure.name if enrollment.failure else "unknown"
        last = enrollment.steps[-1].name if enrollment.steps else "start"
        ctx.detail = f"provisioning failed at step {last!r} ({failure}); {enrollment.diagnosis or ''}".strip("; ")
        values["time_to_online_s"] = None
        values["token_org"] = None
        return
    values["time_to_online_s"] = round(_now(ctx) - started, 3)
    ctx.device_id = enrollment.device_id
    device = ctx.lab.device_for(enrollment)
    values["token_org"] = device.org_id if device is not None else None
    ctx.org_id = values["token_org"]
    if ctx.plan.workflow is Workflow.VIA_FACTORY_ORG and ctx.device_id is not None:
        moved = ctx.automation.transfer(ctx.device_id, ctx.orgs.customer_id)
        ctx.org_id = int(moved["orgId"])


def cloud_login(ctx: UnitContext, values: dict[str, Any]) -> None:
    """The cloud sees the device online, in the customer org (read with the automation client)."""
    if ctx.device_id is None:
        ctx.detail = ctx.detail or "no device: the unit was not provisioned"
        values["device_online"] = None
        values["device_org"] = None
        return
    lab = ctx.lab
    deadline = lab.clock.deadline(ONLINE_S, 2.0)
    while not lab.is_online(ctx.device_id) and not deadline.expired():
        lab.clock.sleep(0.2)
    values["device_online"] = lab.is_online(ctx.device_id)
    found = ctx.automation.device(ctx.device_id)
    ctx.org_id = int(found["orgId"])
    values["device_org"] = ctx.org_id


def data_round_trip(ctx: UnitContext, values: dict[str, Any]) -> None:
    """A value written to V0 through the cloud's HTTP API reaches the device (the emulated board's pins; on a real
    board the value the cloud holds for it, read back)."""
    enrollment = ctx.enrollment
    if enrollment is None or enrollment.token is None:
        values["pin_echo"] = None
        return
    sent = secrets.token_hex(4)
    ctx.expected["pin_echo"] = sent
    lab = ctx.lab
    with httpx.Client(base_url=lab.endpoints.http_url, timeout=10) as http:
        answer = http.get("/external/api/update", params={"token": enrollment.token, "V0": sent})
        if answer.status_code != 200:
            ctx.detail = f"the cloud refused the write to V0: {answer.status_code} {answer.text[:200]}"
            values["pin_echo"] = None
            return
        emulated = ctx.board.emulated
        if emulated is None:
            values["pin_echo"] = http.get("/external/api/get", params={"token": enrollment.token, "V0": ""}).text
            return
    deadline = lab.clock.deadline(DATA_S, 2.0)
    while True:
        got = lab.loop.call(lambda: list(emulated.client.pins.get("0") or []), 10)
        if got or deadline.expired():
            break
        lab.clock.sleep(0.1)
    values["pin_echo"] = got[0] if got else None


def factory_reset(ctx: UnitContext, values: dict[str, Any]) -> None:
    """The unit leaves the line in config mode: the console's `config erase`, else a 10 s button hold."""
    board = ctx.board
    mark = board.mark()
    started = _now(ctx)
    if board.capability(Capability.CONSOLE) is not None:
        board.console("config erase")
    else:
        board.hold_button(11.0)
    try:
        board.expect_state(EdgentState.WAIT_CONFIG, timeout=BOOT_S, since=mark)
    except ExpectTimeout as exc:
        ctx.detail = str(exc)
        values["back_in_config_mode"] = False
        values["time_to_config_mode_s"] = None
        return
    values["back_in_config_mode"] = True
    values["time_to_config_mode_s"] = round(_now(ctx) - started, 3)


PHASE_RUNNERS: dict[str, Phase] = {
    "flash": flash,
    "boot": boot,
    "provision": provision,
    "cloud_login": cloud_login,
    "data_round_trip": data_round_trip,
    "factory_reset": factory_reset,
}
