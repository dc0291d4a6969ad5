"""The emulated board's control sideband: reset, power and button are API calls on the `EmulatedBoard`, and the
LED is its indicator's current pattern.

The board lives on an asyncio loop; `run` is how this sync sideband gets a coroutine executed there and waits
for it (the lab passes its loop thread's `run`). Nothing here imports the lab.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, Protocol, TypeVar

from provlab.drivers.capabilities import SENSED, WIRED, Capability
from provlab.drivers.sideband.base import ButtonPress, PowerSwitch
from provlab.emulator.board import EmulatedBoard
from provlab.protocol.led import LedPattern

T = TypeVar("T")
ALL = WIRED | SENSED


class LoopRunner(Protocol):
    """Runs a coroutine on the board's event loop and returns its result (e.g. `EventLoopThread.run`)."""

    def __call__(self, coro: Coroutine[Any, Any, T], /) -> T: ...


class EmulatedSideband(PowerSwitch, ButtonPress):
    """Reset, power and button of an emulated board, through its API.

    `capabilities` can be narrowed to model a board that lacks one (e.g. no button wired), so scenarios
    needing it are skipped exactly as they would be on such hardware. A family whose sketch never starts its
    indicator (the Wio Terminal's) has no LED to see.
    """

    def __init__(self, board: EmulatedBoard, run: LoopRunner, *, capabilities: frozenset[Capability] = ALL) -> None:
        super().__init__(clock=board.clock.lab_clock)
        self.board = board
        self._run = run
        shows_led = board.profile.family.led
        self._capabilities = frozenset(c for c in capabilities if c is not Capability.LED or shows_led)

    @property
    def capabilities(self) -> frozenset[Capability]:
        return self._capabilities

    def describe(self) -> str:
        unlit = "" if self.board.profile.family.led else f"; the {self.board.profile.name} sketch never starts its LED"
        return f"emulated {self.board.name}: API calls{unlit}"

    def led(self) -> LedPattern:
        """The indicator's pattern now (set on the board's loop; one attribute read, as a sensor samples)."""
        self.require(Capability.LED, "see the status LED")
        return self.board.led.current

    def reset(self) -> None:
        self.require(Capability.RESET, "reset the board")
        self._run(self._power_cycle(0.0))

    def power_off(self) -> None:
        self.require(Capability.POWER, "switch the board off")
        self._run(self.board.power_off())

    def power_on(self) -> None:
        self.require(Capability.POWER, "switch the board on")
        self._run(self.board.power_on())

    def power_cycle(self, off_seconds: float = 1.0) -> None:
        self.require(Capability.POWER, "power-cycle the board")
        self._run(self._power_cycle(off_seconds))

    async def _power_cycle(self, off_seconds: float) -> None:
        await self.board.power_off()
        await self.board.clock.sleep(off_seconds)
        await self.board.power_on()

    def press_button(self) -> None:
        self.require(Capability.BUTTON, "press the button")
        self._run(self._call(self.board.press_button))

    def release_button(self) -> None:
        self.require(Capability.BUTTON, "release the button")
        self._run(self._call(self.board.release_button))

    def hold_button(self, seconds: float) -> None:
        self.require(Capability.BUTTON, "hold the button")
        self._run(self._hold(seconds))

    async def _hold(self, seconds: float) -> None:
        self.board.press_button()
        try:
            await self.board.clock.sleep(seconds)
        finally:
            self.board.release_button()

    @staticmethod
    async def _call(action: Any) -> None:
        action()
