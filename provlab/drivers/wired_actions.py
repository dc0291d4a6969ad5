"""Reset, power and button of a board, forwarded to whatever implements them: written once, for every driver.

A driver (`SerialBoard`, the emulator's `DirectBoard`) has its console and serial log itself and its reset,
power and button in its control sideband; `implementation()` says so once for all of them. The actions ask
for the capability and call it, or raise `CapabilityMissing` naming the action and the board's wiring.
"""

from __future__ import annotations

from dataclasses import dataclass

from provlab.drivers.capabilities import Capability, PowerProtocol, ProvidesCapabilities
from provlab.drivers.sideband.base import Sideband
from provlab.protocol.led import LedPattern


@dataclass(frozen=True)
class PowerCycleReset:
    """The reset of a board with power control but no reset line: off, a second, on."""

    power: PowerProtocol

    def reset(self) -> None:
        self.power.power_cycle()


class WiredActions(ProvidesCapabilities):
    """`reset`, `power_*` and `*_button` of a driver with a control sideband, each through its capability."""

    sideband: Sideband

    def implementation(self, capability: Capability) -> object | None:
        """The console and the serial log are the driver's own; reset, power, button and LED its sideband's (a
        sideband with power but no reset line resets by a power cycle)."""
        if capability in (Capability.CONSOLE, Capability.SERIAL_LOG, Capability.EDGENT_LOG):
            return self
        found = self.sideband.capability(capability)
        if found is None and capability is Capability.RESET:
            power = self.sideband.capability(Capability.POWER)
            return PowerCycleReset(power) if power is not None else None
        return found

    def describe_wiring(self) -> str:
        return self.sideband.describe()

    def reset(self) -> None:
        """Restart the chip (a board with power control but no reset line is power-cycled)."""
        self.require(Capability.RESET, "reset the board").reset()

    def power_off(self) -> None:
        self.require(Capability.POWER, "switch the board off").power_off()

    def power_on(self) -> None:
        self.require(Capability.POWER, "switch the board on").power_on()

    def power_cycle(self, off_seconds: float = 1.0) -> None:
        """Off, `off_seconds` of device time, on."""
        self.require(Capability.POWER, "power-cycle the board").power_cycle(off_seconds)

    def press_button(self) -> None:
        self.require(Capability.BUTTON, "press the button").press_button()

    def release_button(self) -> None:
        self.require(Capability.BUTTON, "release the button").release_button()

    def hold_button(self, seconds: float) -> None:
        """Press, hold for `seconds` of device time, release (10 s resets the configuration)."""
        self.require(Capability.BUTTON, "hold the button").hold_button(seconds)

    def led(self) -> LedPattern:
        """What the status LED shows now (an LED sensor in the sideband)."""
        return self.require(Capability.LED, "see the status LED").led()
