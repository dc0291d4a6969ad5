"""The board's reset button (`ResetButton.h`, spec §4.1): press, hold, release, and the 10 s reset."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from provlab.emulator.clock import DeviceClock
from provlab.emulator.defects import ResetTrigger
from provlab.emulator.settings import BUTTON_HOLD_TIME_ACTION_S, BUTTON_HOLD_TIME_INDICATION_S

HOLD_HINT = "Hold the button for 10 seconds to reset configuration..."


class ResetButton:
    """The button as the firmware's interrupt handler sees it.

    `on_press` / `on_release` run the sketch's ISR work; the LED is refreshed through `on_change` when
    the press starts, when the hold passes 3 s and 10 s, and when it ends (timers, no polling).
    """

    def __init__(
        self,
        clock: DeviceClock,
        *,
        log: Callable[[str], None],
        reset: Callable[[], None],
        trigger: Callable[[], ResetTrigger],
        on_change: Callable[[], None],
        hold_time_s: Callable[[], float] = lambda: BUTTON_HOLD_TIME_ACTION_S,
    ) -> None:
        self.clock = clock
        self._log = log
        self._reset = reset
        self._trigger = trigger
        self._on_change = on_change
        self._hold_time_s = hold_time_s
        self.pressed_at: float | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._fired = False

    @property
    def pressed(self) -> bool:
        return self.pressed_at is not None

    def hold_ms(self) -> int | None:
        """How long the button has been held, in device ms (None when released)."""
        if self.pressed_at is None:
            return None
        return int((self.clock.now() - self.pressed_at) * 1000)

    def press(self) -> None:
        if self.pressed_at is not None:
            return
        self.pressed_at = self.clock.now()
        self._fired = False
        self._log(HOLD_HINT)
        # The LED changes once the hold is past 3 s and past 10 s (a hair later, as `>` is strict).
        epsilon = 0.002
        self._timers = [
            self.clock.call_later(BUTTON_HOLD_TIME_INDICATION_S + epsilon, self._on_change),
            self.clock.call_later(self._hold_time_s() + epsilon, self._hold_reached),
        ]
        self._on_change()

    def _hold_reached(self) -> None:
        self._on_change()
        if self._trigger() is ResetTrigger.AT_HOLD_TIME and not self._fired:
            self._fired = True
            self._reset()

    def release(self) -> None:
        pressed, self.pressed_at = self.pressed_at, None
        self._cancel()
        if pressed is None:
            return
        held = self.clock.now() - pressed
        if held >= self._hold_time_s() and self._trigger() is ResetTrigger.ON_RELEASE and not self._fired:
            self._reset()
        # held >= 50 ms: the sketch's "User action" placeholder does nothing.
        self._on_change()

    def _cancel(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers = []

    def power_lost(self) -> None:
        """The firmware stopped: forget timers (the finger may still be on the button)."""
        self._cancel()
