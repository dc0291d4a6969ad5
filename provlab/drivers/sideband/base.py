"""The control sideband: what the lab can do to a board besides talking to its console (reset, power, button).

A sideband implements the capability protocols its wiring allows (`PowerProtocol`, `ResetProtocol`,
`ButtonProtocol` of `provlab.drivers.capabilities`) and lists them in `capabilities`; a board driver hands
them out through its own `capability()`. Asking a sideband directly for an action it lacks raises
`CapabilityMissing` with the reason. Durations are device seconds on the sideband's lab clock, like every
lab timeout.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

from provlab.clock.base import LabClock
from provlab.clock.wall import WallClock
from provlab.drivers.capabilities import Capability, ProvidesCapabilities


class SidebandError(Exception):
    """A sideband action failed."""


class Sideband(ProvidesCapabilities):
    """What the lab can do to one board besides the console. A subclass has the methods of the capability
    protocols it may implement (`PowerSwitch`, `ButtonPress` help with two) and lists in `capabilities`
    the ones its wiring allows; the sideband itself is the implementation of each capability it lists."""

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

    def implementation(self, capability: Capability) -> object | None:
        return self if capability in self.capabilities else None

    def describe_wiring(self) -> str:
        return self.describe()

    def sleep(self, device_seconds: float) -> None:
        """Wait `device_seconds` of device time (on the lab clock)."""
        self.clock.sleep(max(0.0, device_seconds))

    def close(self) -> None:
        """Release whatever the sideband holds (GPIO lines, files)."""


class PowerSwitch(Sideband):
    """A sideband that switches the board's power (`PowerProtocol`): `power_cycle` from off, a pause, on."""

    @abstractmethod
    def power_off(self) -> None: ...

    @abstractmethod
    def power_on(self) -> None: ...

    def power_cycle(self, off_seconds: float = 1.0) -> None:
        """Off, `off_seconds` of device time, on."""
        self.require(Capability.POWER, "power-cycle the board")
        self.power_off()
        self.sleep(off_seconds)
        self.power_on()


class ButtonPress(Sideband):
    """A sideband that presses the board's button (`ButtonProtocol`): `hold_button` from press, a pause, release."""

    @abstractmethod
    def press_button(self) -> None: ...

    @abstractmethod
    def release_button(self) -> None: ...

    def hold_button(self, seconds: float) -> None:
        """Press, hold for `seconds` of device time, release (10 s resets the configuration)."""
        self.require(Capability.BUTTON, "hold the button")
        self.press_button()
        try:
            self.sleep(seconds)
        finally:
            self.release_button()


class NoSideband(Sideband):
    """A board with nothing wired but its serial lines' data pins."""

    @property
    def capabilities(self) -> frozenset[Capability]:
        return frozenset()

    def describe(self) -> str:
        return "none: serial data only"


class CombinedSideband(Sideband):
    """Several sidebands for one board; each capability is the first part's that has it.

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

    def implementation(self, capability: Capability) -> object | None:
        """The first part that has `capability`."""
        return next((found for part in self.parts if (found := part.capability(capability)) is not None), None)

    def close(self) -> None:
        for part in self.parts:
            part.close()
