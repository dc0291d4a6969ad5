"""The control sideband: what the lab can do to a board besides talking to its console (reset, power, button).

A sideband declares its capabilities. Asking for one it lacks raises `CapabilityMissing` with the reason; a
scenario that needs one (marker `needs_button`, `needs_power`, `needs_reset`) is skipped on such a board with
`skip_reason()`. Durations are device seconds on the sideband's lab clock, like every lab timeout.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from enum import Enum

from provlab.clock.base import LabClock
from provlab.clock.wall import WallClock


class Capability(Enum):
    """Something a sideband can do to a board."""

    RESET = "reset"
    """Restart the chip (EN pulse, reset button, or a power cycle)."""
    POWER = "power"
    """Cut and restore the board's power."""
    BUTTON = "button"
    """Press and release the board's configuration button."""


MARKER_CAPABILITIES: dict[str, Capability] = {
    "needs_reset": Capability.RESET,
    "needs_power": Capability.POWER,
    "needs_button": Capability.BUTTON,
}
"""Scenario markers and the capability each one needs."""


class SidebandError(Exception):
    """A sideband action failed."""


class CapabilityMissing(SidebandError, NotImplementedError):
    """The board's sideband cannot do what was asked."""

    def __init__(self, capability: Capability, sideband: str, action: str) -> None:
        super().__init__(
            f"cannot {action}: the board's control sideband ({sideband}) has no {capability.value} capability"
        )
        self.capability = capability


class Sideband(ABC):
    """What the lab can do to one board besides the console. Subclasses override what they can do."""

    def __init__(self, *, time_scale: float = 1.0, clock: LabClock | None = None) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale}")
        self.clock: LabClock = clock or WallClock(time_scale)
        """The lab clock a hold or an off-time is counted on."""
        self.time_scale = self.clock.scale

    @property
    @abstractmethod
    def capabilities(self) -> frozenset[Capability]:
        """What this sideband can do."""

    @abstractmethod
    def describe(self) -> str:
        """One line for messages, e.g. `DTR/RTS auto-reset circuit`."""

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def require(self, capability: Capability, action: str) -> None:
        if capability not in self.capabilities:
            raise CapabilityMissing(capability, self.describe(), action)

    def sleep(self, device_seconds: float) -> None:
        """Wait `device_seconds` of device time (on the lab clock)."""
        self.clock.sleep(max(0.0, device_seconds))

    # --- actions (override the ones the hardware supports) ---------------------------------------------
    def reset(self) -> None:
        """Restart the chip; without a reset line, a power cycle does it."""
        if Capability.POWER in self.capabilities:
            self.power_cycle()
            return
        self.require(Capability.RESET, "reset the board")

    def power_off(self) -> None:
        self.require(Capability.POWER, "switch the board off")

    def power_on(self) -> None:
        self.require(Capability.POWER, "switch the board on")

    def power_cycle(self, off_seconds: float = 1.0) -> None:
        self.require(Capability.POWER, "power-cycle the board")
        self.power_off()
        self.sleep(off_seconds)
        self.power_on()

    def press_button(self) -> None:
        self.require(Capability.BUTTON, "press the button")

    def release_button(self) -> None:
        self.require(Capability.BUTTON, "release the button")

    def hold_button(self, seconds: float) -> None:
        """Press, hold for `seconds` of device time, release (10 s resets the configuration)."""
        self.require(Capability.BUTTON, "hold the button")
        self.press_button()
        try:
            self.sleep(seconds)
        finally:
            self.release_button()

    def close(self) -> None:  # noqa: B027 - optional hook, most sidebands hold nothing
        """Release whatever the sideband holds (GPIO lines, files)."""


class NoSideband(Sideband):
    """A board with nothing wired but its serial lines' data pins."""

    @property
    def capabilities(self) -> frozenset[Capability]:
        return frozenset()

    def describe(self) -> str:
        return "none: serial data only"


class CombinedSideband(Sideband):
    """Several sidebands for one board; each action goes to the first part that can do it.

    E.g. DTR/RTS for reset and button, a USB relay command for power, an operator for the rest.
    """

    def __init__(self, parts: Sequence[Sideband], *, time_scale: float = 1.0) -> None:
        super().__init__(time_scale=time_scale)
        if not parts:
            raise ValueError("a combined sideband needs at least one part")
        self.parts = list(parts)

    @property
    def capabilities(self) -> frozenset[Capability]:
        return frozenset().union(*(part.capabilities for part in self.parts))

    def describe(self) -> str:
        return " + ".join(part.describe() for part in self.parts)

    def _part(self, capability: Capability, action: str) -> Sideband:
        for part in self.parts:
            if capability in part.capabilities:
                return part
        raise CapabilityMissing(capability, self.describe(), action)

    def reset(self) -> None:
        for part in self.parts:
            if Capability.RESET in part.capabilities:
                part.reset()
                return
        self._part(Capability.POWER, "reset the board").power_cycle()

    def power_off(self) -> None:
        self._part(Capability.POWER, "switch the board off").power_off()

    def power_on(self) -> None:
        self._part(Capability.POWER, "switch the board on").power_on()

    def power_cycle(self, off_seconds: float = 1.0) -> None:
        self._part(Capability.POWER, "power-cycle the board").power_cycle(off_seconds)

    def press_button(self) -> None:
        self._part(Capability.BUTTON, "press the button").press_button()

    def release_button(self) -> None:
        self._part(Capability.BUTTON, "release the button").release_button()

    def hold_button(self, seconds: float) -> None:
        self._part(Capability.BUTTON, "hold the button").hold_button(seconds)

    def close(self) -> None:
        for part in self.parts:
            part.close()


# --- for the pytest plugin ------------------------------------------------------------------------------


def required_capabilities(marker_names: Iterable[str]) -> frozenset[Capability]:
    """The capabilities a scenario's markers ask for (unknown markers ask for nothing)."""
    return frozenset(MARKER_CAPABILITIES[name] for name in marker_names if name in MARKER_CAPABILITIES)


def skip_reason(board_name: str, sideband: Sideband | None, marker_names: Iterable[str]) -> str | None:
    """Why a scenario with these markers cannot run on this board, or None when it can.

    The plugin calls this for each test and board and passes a non-None result to `pytest.skip`.
    """
    needed = required_capabilities(marker_names)
    have = sideband.capabilities if sideband is not None else frozenset()
    missing = sorted(needed - have, key=lambda c: c.value)
    if not missing:
        return None
    wired = sideband.describe() if sideband is not None else "no control sideband"
    markers = ", ".join(name for name, cap in MARKER_CAPABILITIES.items() if cap in missing)
    what = ", ".join(c.value for c in missing)
    return f"{board_name} has no {what} control ({wired}); the scenario is marked {markers}"
