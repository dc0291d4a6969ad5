"""The board's status LED (`Indicator.h`, spec §4.2): the pattern per state and during a button hold."""

from __future__ import annotations

from dataclasses import dataclass

from provlab.protocol.led import LED_OFF, LedColor, LedEffect, LedPattern
from provlab.protocol.states import EdgentState

__all__ = ["LED_OFF", "LedChange", "LedColor", "LedEffect", "LedPattern", "StatusLed", "pattern_for"]

HOLD_PAST_ACTION = LedPattern(LedEffect.BEAT, LedColor.WHITE, (100, 100))
HOLD_PAST_INDICATION = LedPattern(LedEffect.WAVE, LedColor.WHITE, (1000,))
_DEFAULT = LedPattern(LedEffect.BEAT, LedColor.RED, (80, 100, 80, 1000))
STATE_PATTERNS: dict[EdgentState, LedPattern] = {
    EdgentState.RESET_CONFIG: LedPattern(LedEffect.BEAT, LedColor.BLUE, (50, 500)),
    EdgentState.WAIT_CONFIG: LedPattern(LedEffect.BEAT, LedColor.BLUE, (50, 500)),
    EdgentState.CONFIGURING: LedPattern(LedEffect.BEAT, LedColor.BLUE, (200, 200)),
    EdgentState.CONNECTING_NET: LedPattern(LedEffect.BEAT, LedColor.BLYNK, (50, 500)),
    EdgentState.CONNECTING_CLOUD: LedPattern(LedEffect.BEAT, LedColor.BLYNK, (100, 100)),
    EdgentState.RUNNING: LedPattern(LedEffect.WAVE, LedColor.BLYNK, (5000,)),
    EdgentState.OTA_UPGRADE: LedPattern(LedEffect.BEAT, LedColor.MAGENTA, (50, 50)),
    EdgentState.SWITCH_TO_STA: _DEFAULT,
    EdgentState.ERROR: _DEFAULT,
    EdgentState.INIT: _DEFAULT,
}


def pattern_for(state: EdgentState, hold_ms: int | None) -> LedPattern:
    """`getPattern()`: a button hold past 10 s / 3 s wins over the state (priority order of §4.2)."""
    if hold_ms is not None and hold_ms > 10_000:
        return HOLD_PAST_ACTION
    if hold_ms is not None and hold_ms > 3_000:
        return HOLD_PAST_INDICATION
    return STATE_PATTERNS[state]


@dataclass(frozen=True)
class LedChange:
    """One entry of the LED history: device `millis()` and wall time of the change, and the new pattern."""

    millis: int
    wall_time: float
    pattern: LedPattern


class StatusLed:
    """The LED's current pattern plus the history of every change, stamped in device time."""

    __slots__ = ("current", "history", "max_history")

    def __init__(self, max_history: int = 256) -> None:
        self.current = LED_OFF
        self.history: list[LedChange] = []
        self.max_history = max_history

    def show(self, pattern: LedPattern, millis: int, wall_time: float) -> None:
        if pattern == self.current:
            return
        self.current = pattern
        self.history.append(LedChange(millis, wall_time, pattern))
        if len(self.history) > self.max_history:
            del self.history[: len(self.history) - self.max_history]
