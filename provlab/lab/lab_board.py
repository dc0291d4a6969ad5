"""One board as a scenario sees it: its serial port, its wiring (reset, power, button) and its place on the air."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provlab.drivers.serial_board import SerialBoard
from provlab.drivers.sideband import Capability
from provlab.emulator.board import EmulatedBoard
from provlab.lab.board_specs import AttachedBoard
from provlab.lab.capabilities import BoardOutOfReach
from provlab.lab.steps import StepJournal, step
from provlab.protocol.states import EdgentState

if TYPE_CHECKING:
    from provlab.lab.lab import Lab


class LabBoard:
    """One board as a scenario sees it: its serial port plus a control sideband."""

    def __init__(
        self,
        lab: Lab,
        index: int,
        serial: SerialBoard,
        emulated: EmulatedBoard | None,
        *,
        attached: AttachedBoard | None = None,
        profile: str | None = None,
    ) -> None:
        self.lab = lab
        self.index = index
        self.serial = serial
        self.emulated = emulated
        self.attached = attached
        """Where a board that this lab does not emulate comes from (port, inventory entry, replay)."""
        self._profile = profile

    @property
    def on_air(self) -> bool:
        """Whether the lab's phones can reach this board's access point (only emulated boards, for now:
        real boards need a Wi-Fi backend that drives a real radio)."""
        return self.emulated is not None

    def require_on_air(self, step: str) -> None:
        if not self.on_air:
            raise BoardOutOfReach(
                f"{self.name} ({self.attached or self.serial.url}) is attached by serial; its access point is not "
                f"on this lab's {self.lab.config.wifi!r} air, so the phone cannot {step}. Phone steps on real boards "
                "need a lab host whose Wi-Fi backend drives a real radio."
            )

    @property
    def name(self) -> str:
        return self.serial.name

    @property
    def step_journal(self) -> StepJournal:
        return self.lab.steps

    @property
    def capabilities(self) -> frozenset[Capability]:
        """What the board's wiring allows beyond serial (reset, power, button), from its sideband."""
        return self.serial.capabilities

    @property
    def profile_name(self) -> str:
        """The firmware profile: the emulated board's, or an inventory entry's `profile` tag."""
        if self.emulated is not None:
            return self.emulated.profile.name
        return self._profile or "unknown"

    @property
    def ssid(self) -> str:
        """The board's SoftAP SSID: the emulated firmware's, or what a real board says in `devinfo`."""
        if self.emulated is not None:
            return self.emulated.ssid
        return self.serial.devinfo().name

    @property
    def state(self) -> EdgentState | None:
        return self.serial.state

    @step("expect_state")
    def expect_state(self, state: str | EdgentState, timeout: float = 60.0, since: int | None = None) -> None:
        self.serial.expect_state(state, timeout, since)

    @step("expect")
    def expect(self, pattern: str, timeout: float = 60.0, since: int | None = None) -> Any:
        return self.serial.expect(pattern, timeout, since)

    # control sideband: the same calls for emulated and real boards (CapabilityMissing when not wired)
    @step("power_on")
    def power_on(self) -> None:
        self.serial.power_on()

    @step("power_off")
    def power_off(self) -> None:
        self.serial.power_off()

    @step("reset")
    def reset(self) -> None:
        self.serial.reset()

    @step("press_button")
    def press_button(self) -> None:
        self.serial.press_button()

    @step("release_button")
    def release_button(self) -> None:
        self.serial.release_button()

    @step("hold_button")
    def hold_button(self, seconds: float) -> None:
        """Press, hold for `seconds` of device time, release."""
        self.serial.hold_button(seconds)

    @step("console")
    def console(self, line: str, timeout: float = 10.0) -> list[str]:
        """Type `line` on the serial console; the lines it printed before the next prompt."""
        return list(self.serial.command(line, timeout).lines)

    def __repr__(self) -> str:
        return f"<LabBoard {self.name} {self.serial.url}>"
