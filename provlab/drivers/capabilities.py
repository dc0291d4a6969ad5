"""What a board can be asked to do, one small protocol per capability: power, reset, button, LED, console, serial log.

Each kind of board implements the ones it has. An emulated board has all of them (the LED where its sketch
starts the indicator); a board on a serial port has the console and the serial log, plus what its sideband
wiring adds (a DTR/RTS circuit: reset and maybe the button; a relay command: power; an LED sensor's command:
the LED; an operator: what the station's person is able to do). `capability()` asks a
board (or a sideband) for one and gets the object that implements it, or None; `require()` gets it or raises
`CapabilityMissing`; `skip_reason()` is the one place a scenario's `needs_*` markers become a skip reason.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from enum import Enum
from typing import Literal, Protocol, overload, runtime_checkable

from provlab.drivers.expecting import NotMatching, Pattern
from provlab.drivers.line_stream import ReceivedLine
from provlab.drivers.serial_console import ConsoleReply
from provlab.protocol.led import LedPattern
from provlab.protocol.serial_log import LogLine


@runtime_checkable
class PowerProtocol(Protocol):
    """Cut and restore the board's power (a relay, a smart plug, the emulator's supply)."""

    def power_on(self) -> None: ...

    def power_off(self) -> None: ...

    def power_cycle(self, off_seconds: float = 1.0) -> None:
        """Off, `off_seconds` of device time, on."""
        ...


@runtime_checkable
class ResetProtocol(Protocol):
    """Restart the chip (an EN pulse, the reset button)."""

    def reset(self) -> None: ...


@runtime_checkable
class ButtonProtocol(Protocol):
    """Press and release the board's configuration button."""

    def press_button(self) -> None: ...

    def release_button(self) -> None: ...

    def hold_button(self, seconds: float) -> None:
        """Press, hold `seconds` of device time, release."""
        ...


@runtime_checkable
class LedProtocol(Protocol):
    """Watch the board's status LED (the emulator's indicator; a light sensor on a real board)."""

    def led(self) -> LedPattern:
        """The pattern the LED shows now (`off`, `beat BLUE {50,500}`, …, spec §4.2)."""
        ...


@runtime_checkable
class ConsoleProtocol(Protocol):
    """Type a command on the board's serial console and read its reply."""

    def command(self, command: str, timeout: float = 5.0) -> ConsoleReply: ...


@runtime_checkable
class SerialLogProtocol(Protocol):
    """What the board prints, and waiting for it (device-time timeouts, `since=` a `mark()`)."""

    def mark(self) -> int: ...

    def lines(self) -> list[ReceivedLine]: ...

    def expect(
        self, pattern: Pattern, timeout: float = ..., since: int | None = ..., *, not_matching: NotMatching = ...
    ) -> re.Match[str]: ...

    def expect_exact(
        self, text: str, timeout: float = ..., since: int | None = ..., *, not_matching: NotMatching = ...
    ) -> LogLine: ...


class Capability(Enum):
    """A capability by name, as inventories, markers and messages say it; `protocol` is what it can do."""

    RESET = "reset"
    """Restart the chip (EN pulse, reset button, or a power cycle): `ResetProtocol`."""
    POWER = "power"
    """Cut and restore the board's power: `PowerProtocol`."""
    BUTTON = "button"
    """Press and release the board's configuration button: `ButtonProtocol`."""
    LED = "LED"
    """See what the board's status LED shows (an LED sensor, the emulator's indicator): `LedProtocol`."""
    CONSOLE = "console"
    """Commands typed on the serial console: `ConsoleProtocol`."""
    SERIAL_LOG = "serial log"
    """What the board prints: `SerialLogProtocol`."""
    EDGENT_LOG = "Edgent log"
    """The provisioning firmware's own lines on this serial port (`AP URL:`, `Connecting to WiFi:`, `Last error
    code:`, its banner rows): `SerialLogProtocol`. A board whose provisioning runs on a network co-processor
    (Blynk.NCP) shows only its host sketch's lines."""

    @property
    def protocol(self) -> type:
        return PROTOCOLS[self]


PROTOCOLS: dict[Capability, type] = {
    Capability.RESET: ResetProtocol,
    Capability.POWER: PowerProtocol,
    Capability.BUTTON: ButtonProtocol,
    Capability.LED: LedProtocol,
    Capability.CONSOLE: ConsoleProtocol,
    Capability.SERIAL_LOG: SerialLogProtocol,
    Capability.EDGENT_LOG: SerialLogProtocol,
}

WIRED = frozenset({Capability.RESET, Capability.POWER, Capability.BUTTON})
"""What a control sideband (wiring beside the serial data lines) can do to a board."""
SENSED = frozenset({Capability.LED})
"""What a sideband can see on a board besides its serial port (a light sensor on the status LED)."""

MARKER_CAPABILITIES: dict[str, Capability] = {
    "needs_reset": Capability.RESET,
    "needs_power": Capability.POWER,
    "needs_button": Capability.BUTTON,
    "needs_led": Capability.LED,
    "needs_console": Capability.CONSOLE,
    "needs_edgent_log": Capability.EDGENT_LOG,
}
"""Scenario markers and the capability each one needs."""


class CapabilityMissing(NotImplementedError):
    """The board cannot do what was asked: nothing it has implements that capability."""

    def __init__(self, capability: Capability, wiring: str, action: str) -> None:
        super().__init__(
            f"cannot {action}: the board's control sideband ({wiring}) has no {capability.value} capability"
        )
        self.capability = capability


class ProvidesCapabilities(ABC):
    """A board or a sideband: something that implements some of the capability protocols."""

    @abstractmethod
    def implementation(self, capability: Capability) -> object | None:
        """What implements `capability` here (often `self`), or None when this has no such capability."""

    @abstractmethod
    def describe_wiring(self) -> str:
        """How the board is reached beyond its serial data, for messages: e.g. `DTR/RTS auto-reset circuit`."""

    @property
    def capabilities(self) -> frozenset[Capability]:
        """Every capability this has."""
        return frozenset(c for c in Capability if self.implementation(c) is not None)

    @overload
    def capability(self, wanted: Literal[Capability.POWER]) -> PowerProtocol | None: ...
    @overload
    def capability(self, wanted: Literal[Capability.RESET]) -> ResetProtocol | None: ...
    @overload
    def capability(self, wanted: Literal[Capability.BUTTON]) -> ButtonProtocol | None: ...
    @overload
    def capability(self, wanted: Literal[Capability.LED]) -> LedProtocol | None: ...
    @overload
    def capability(self, wanted: Literal[Capability.CONSOLE]) -> ConsoleProtocol | None: ...
    @overload
    def capability(self, wanted: Literal[Capability.SERIAL_LOG]) -> SerialLogProtocol | None: ...
    @overload
    def capability(self, wanted: Capability) -> object | None: ...

    def capability(self, wanted: Capability) -> object | None:
        """The object implementing `wanted`'s protocol, or None."""
        found = self.implementation(wanted)
        if found is not None and not isinstance(found, wanted.protocol):
            lacks = wanted.protocol.__name__
            raise TypeError(f"{found!r} is given as the {wanted.value} of {self!r} but does not implement {lacks}")
        return found

    @overload
    def require(self, wanted: Literal[Capability.POWER], action: str) -> PowerProtocol: ...
    @overload
    def require(self, wanted: Literal[Capability.RESET], action: str) -> ResetProtocol: ...
    @overload
    def require(self, wanted: Literal[Capability.BUTTON], action: str) -> ButtonProtocol: ...
    @overload
    def require(self, wanted: Literal[Capability.LED], action: str) -> LedProtocol: ...
    @overload
    def require(self, wanted: Literal[Capability.CONSOLE], action: str) -> ConsoleProtocol: ...
    @overload
    def require(self, wanted: Literal[Capability.SERIAL_LOG], action: str) -> SerialLogProtocol: ...
    @overload
    def require(self, wanted: Capability, action: str) -> object: ...

    def require(self, wanted: Capability, action: str) -> object:
        """The object implementing `wanted`; `CapabilityMissing` (saying `action` and the wiring) when none does."""
        found = self.capability(wanted)
        if found is None:
            raise CapabilityMissing(wanted, self.describe_wiring(), action)
        return found


# --- for the pytest plugin ------------------------------------------------------------------------------


class Capable(Protocol):
    """Anything that answers `capability()`: a `ProvidesCapabilities`, a `BoardDriver`, a `LabBoard`."""

    def capability(self, wanted: Capability) -> object | None: ...

    def describe_wiring(self) -> str: ...


def required_capabilities(marker_names: Iterable[str]) -> frozenset[Capability]:
    """The capabilities a scenario's markers ask for (unknown markers ask for nothing)."""
    return frozenset(MARKER_CAPABILITIES[name] for name in marker_names if name in MARKER_CAPABILITIES)


def skip_reason(board_name: str, board: Capable | None, marker_names: Iterable[str]) -> str | None:
    """Why a scenario with these markers cannot run on this board (or sideband), or None when it can.

    The pytest plugin calls this for each test and board and passes a non-None result to `pytest.skip`.
    """
    needed = required_capabilities(marker_names)
    missing = sorted((c for c in needed if board is None or board.capability(c) is None), key=lambda c: c.value)
    if not missing:
        return None
    wired = board.describe_wiring() if board is not None else "no control sideband"
    markers = ", ".join(name for name, cap in MARKER_CAPABILITIES.items() if cap in missing)
    what = ", ".join(c.value for c in missing)
    nouns: dict[tuple[Capability, ...], str] = {(Capability.CONSOLE,): "", (Capability.LED,): " to see"}
    noun = nouns.get(tuple(missing), " control")
    return f"{board_name} has no {what}{noun} ({wired}); the scenario is marked {markers}"
